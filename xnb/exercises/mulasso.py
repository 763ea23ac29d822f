"""The exercises of notebook ``03_mu_lasso`` (mulasso): solutions computed from :mod:`xnb.mulasso` itself."""
from __future__ import annotations

import numbers

from ..mulasso import MuLasso, channel_responses, stride_one_size
from ._core import Exercise


def _ex_fit_data():
    from .. import data

    return data.flowers(240, variant="single", seed=3)


def _ex1():
    from .. import models

    m = models.load("flowers-single")
    d = _ex_fit_data()
    X, idx = channel_responses(m, d)
    return MuLasso(mu=5.0).fit(X, d.labels, idx).n_selected_


def _ex2():
    from .. import models

    return stride_one_size(models.load("flowers-single"), "pool1")


def _ex3():
    from .. import models

    return stride_one_size(models.load("flowers-single"), "conv3")


def _same_size(a, b):
    if isinstance(a, numbers.Integral):
        a = (int(a), int(a))
    return tuple(int(v) for v in a) == tuple(b)



EXERCISES = {
    "mulasso.1": Exercise(
        "With µ = 5, how many features (layer, channel pairs) does µ-Lasso select, for any class, on the "
        "flowers-single model with data.flowers(240, variant='single', seed=3)?", _ex1,
        "channel_responses(model, data) then MuLasso(mu=5).fit(X, data.labels, index).n_selected_",
        lambda a, b: int(a) == int(b)),
    "mulasso.2": Exercise(
        "By eq. (3) with S = 1, to what size (H, W) does the stride fix resize the backward signal "
        "before back-projecting through pool1 of flowers-single (64×64 input)?", _ex2,
        "A + 2·O − M + 1 with A = pool1's input size, O its padding, M its kernel size.", _same_size),
    "mulasso.3": Exercise(
        "And before conv3 (stride 2, 3×3 kernel, padding 1)? (H, W)", _ex3,
        "conv3's input is pool2's output; A + 2·O − M + 1.", _same_size),
}
