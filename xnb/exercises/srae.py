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


def _ex4():
    """Share of c-EB's mass on the context (outside the flower's box), 'blue center' images."""
    import torch

    from .. import data, models
    from ..srae import class_heatmaps

    d = data.flowers(60, seed=12)
    c = d.class_names.index("blue center")
    idx = torch.nonzero(d.labels == c).flatten()[:10]
    maps = class_heatmaps(models.load("flowers-single"), d.images[idx], c, saliency_layer="pool2")
    _, hist = locality(maps, d.keypoints[idx], d.boxes[idx], return_histogram=True)
    return float(hist[0, -1])


EXERCISES["srae.4"] = Exercise(
    "Interpret: contrastive excitation backprop on the 'blue center' logit of flowers-single (read at pool2), "
    "on the first 10 'blue center' images of data.flowers(60, seed=12): what share of its heatmap mass lies "
    "on the context, outside the flower's box (the last bin of the part histogram)?", _ex4,
    "srae.class_heatmaps(model, images, c, saliency_layer='pool2'), then srae.locality(maps, keypoints, boxes, "
    "return_histogram=True); the histogram's last column is the context.", Number(rel=0.02),
    mistakes=[(0.0, "not zero: some of the mass falls outside the box — on what? (look at the maps)"),
              (lambda a: a > 0.5, "that is too much: most of the mass is on the flower; the context is the "
                                  "last bin, not the first")])
