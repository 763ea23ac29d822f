"""The exercises of notebook ``03_mu_lasso`` (mulasso): solutions computed from :mod:`xnb.mulasso` itself."""
from __future__ import annotations

import numbers

from ..mulasso import MuLasso, channel_responses, explain, stride_one_size
from ._core import Exercise, Integer


def _ex_fit_data():
    from .. import data

    return data.flowers(240, variant="single", seed=3)


_EX_CACHE: dict = {}


def _ex_selector():
    """(model, MuLasso(mu=5) fitted on the exercise data): fitted once, shared by exercises 1 and 4."""
    if "sel" not in _EX_CACHE:
        from .. import models

        m = models.load("flowers-single")
        d = _ex_fit_data()
        X, idx = channel_responses(m, d)
        _EX_CACHE["sel"] = (m, MuLasso(mu=5.0).fit(X, d.labels, idx))
    return _EX_CACHE["sel"]


def _ex1():
    return _ex_selector()[1].n_selected_


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


def _ex4():
    """Images whose µ-Lasso explanation peaks on the discriminative part."""
    import torch

    from .. import data

    m, sel = _ex_selector()
    d = data.flowers(20, seed=14)
    heat = explain(m, d.images, sel, top_k=3, target=d.labels).heatmap
    top = torch.as_tensor(heat).flatten(1).argmax(1)
    return int(d.masks.flatten(1)[torch.arange(len(top)), top].sum())


EXERCISES["mulasso.4"] = Exercise(
    "Interpret: fit MuLasso(mu=5) on the features of data.flowers(240, variant='single', seed=3) (as in exercise "
    "1), then explain data.flowers(20, seed=14) for their true classes with explain(model, images, selector, "
    "top_k=3, target=labels). On how many of the 20 images does the combined heatmap's maximum lie on the "
    "discriminative part (d.masks)?", _ex4,
    "Explanation.heatmap is the combined map; compare its argmax per image with d.masks.", Integer(),
    mistakes=[(20, "not all: the top features also respond to petals and distractors in some images"),
              (0, "not none: look at a few maps — most peak on the centre disc")])
