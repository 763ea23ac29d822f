"""The exercises of notebook ``05_sevec`` (sevec): solutions computed from :mod:`xnb.sevec` itself."""
from __future__ import annotations

import numpy as np
import torch

from ..sevec import SeVec, features
from ._core import Exercise, Integer


def _ex1():
    """The SeVec of 'red center' on flowers-single relu6: its most associated unit."""
    return _ex_sevec().associated_neuron("red center")


_EX_CACHE: dict = {}


def _ex_sevec():
    if "sv" not in _EX_CACHE:
        from .. import data, models

        d = data.flowers(300, seed=7)
        m = models.load("flowers-single")
        _EX_CACHE["sv"] = SeVec().fit(features(m, "relu6", d, progress=False), d.labels, d.class_names)
    return _EX_CACHE["sv"]


def _ex2():
    sv = _ex_sevec()
    r = sv.relevance_matrix().clone()
    r.fill_diagonal_(-1)
    i, j = divmod(int(torch.argmax(r)), r.shape[1])
    return {sv.concept_names_[i], sv.concept_names_[j]}


def _ex3():
    from .._pointing import generalized_pointing_game

    h = np.zeros((8, 8))
    h[1, 1], h[6, 6] = 3.0, 1.0
    return bool(generalized_pointing_game(h, [0, 0, 4, 4], 70)[0])


EXERCISES = {
    "sevec.1": Exercise("Which relu6 unit is most associated with 'red center' (SeVec fitted on flowers(300, "
                        "seed=7) with the flowers-single model)?", _ex1,
                        "SeVec(...).associated_neuron('red center') — the largest entry of v_c."),
    "sevec.2": Exercise("Which two classes have the most related SeVecs (largest off-diagonal cosine)? Answer "
                        "with a set of two class names.", _ex2,
                        "relevance_matrix(), ignore the diagonal.", lambda a, b: set(a) == set(b)),
    "sevec.3": Exercise("A map has energy 3 at (1,1) and 1 at (6,6); box (0,0,4,4). Is it a hit in the "
                        "generalised pointing game at m = 70 %? (True/False)", _ex3,
                        "70 % of the energy is already held by the pixel at (1,1).",
                        lambda a, b: bool(a) is b),
}


def _ex4():
    """Scenes where guided backprop for the first flower's class points into the other flower's box only."""
    from .. import attribute, data, models
    from .._pointing import pointing_game

    s = data.flower_scenes(10, seed=8)
    h = attribute(models.load("flowers-scenes"), s.images, "guided_backprop", target=s.labels[:, 0]).detach()
    own = pointing_game(h.cpu().numpy(), s.boxes[:, 0].numpy())
    other = pointing_game(h.cpu().numpy(), s.boxes[:, 1].numpy())
    return int((other & ~own).sum())


EXERCISES["sevec.4"] = Exercise(
    "Interpret: in data.flower_scenes(10, seed=8), explain each scene's first flower (target = "
    "scenes.labels[:, 0]) with guided backprop on the flowers-scenes model. In how many scenes does the map's "
    "maximum land in the *other* flower's box (scenes.boxes[:, 1]) and not in the explained one's?", _ex4,
    "pointing_game(maps, boxes) from xnb._pointing tells, per map, whether its maximum lies in a box; compare "
    "the two boxes of each scene.", Integer(),
    mistakes=[(0, "not zero: a class-specific map can still peak on the wrong flower — that is what semantic "
                  "suppression (§5) tries to fix"),
              (10, "not every scene: count only the scenes whose maximum is in the other box and not in the "
                   "explained one")])
