"""The exercises of notebook ``01_srae`` (srae): solutions computed from :mod:`xnb.srae` itself."""
from __future__ import annotations

import math

import torch

from ..srae import locality, orthogonality, sparse_reconstruction_penalty
from ._core import Exercise, Number


def _ex1():
    h = torch.rand(6, 1, 8, 8)
    return orthogonality(torch.cat([h, h], 1))["O1"]


def _ex2():
    return float(sparse_reconstruction_penalty(torch.tensor([0.01]), q=100.0))


def _ex3():
    h = torch.zeros(1, 1, 32, 32)
    h[0, 0, 0, 0] = 1.0  # all mass in a corner pixel, outside the box
    return float(locality(h, keypoints=torch.tensor([[[15.0, 15.0], [20.0, 20.0]]]),
                          boxes=torch.tensor([[10, 10, 25, 25]]))[0])


EXERCISES = {
    "srae.1": Exercise("Two x-features have identical heatmaps on every image (n = 2). What is O1 = ‖P‖_F − √n?",
                       _ex1, "P is a 2×2 matrix of ones; its Frobenius norm is the root of the sum of squares.",
                       Number(rel=0.01),
                       mistakes=[(2.0, "that is ‖P‖_F alone; O1 subtracts √n"),
                                 (0.0, "0 is the best case, orthogonal maps (P = I); identical maps are the worst")]),
    "srae.2": Exercise("What does the sparse reconstruction term log(1 + q·Q_k) (eq. 3) give for Q_k = 0.01 "
                       "at q = 100?", _ex2, "q·Q_k = 1.", Number(rel=0.01),
                       mistakes=[(math.log10(2), "that is log10; eq. 3's log is the natural log"),
                                 (1.0, "that is q·Q_k; take log(1 + q·Q_k)")]),
    "srae.3": Exercise("An x-feature's heatmap lies entirely outside the object's box, on every image. What is "
                       "its locality (the entropy of its part histogram)?", _ex3,
                       "Every bit of its mass goes to the same part of the Voronoi partition.", Number(rel=0, abs=1e-3),
                       mistakes=[(lambda a: a > 0, "an entropy is above 0 only when the mass is spread over "
                                                    "several parts; where does all of it go here?")]),
}
