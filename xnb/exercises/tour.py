"""The exercises of notebook ``00_tour``: solutions computed from the library itself."""
from __future__ import annotations

from ._core import Choice, Exercise, OneOf, Shape, Text


def _tour_1():
    from .. import data

    d = data.flowers(12, variant="double")
    return d.meta["discriminative_part"][d.class_names.index("blue leaves")]


def _tour_2():
    from .. import layers, models

    return {i.name: i for i in layers(models.load("flowers-single"))}["conv3"].output_shape


def _tour_3():
    from .. import models
    from ..attribution import _default_contrast

    return _default_contrast(models.load("flowers-single"))[0]


EXERCISES: dict[str, Exercise] = {
    "tour.1": Exercise("In flowers(variant='double'), which part's colour decides the class 'blue leaves'?",
                       _tour_1, "a flowers() set records it: d = data.flowers(12, variant='double'), then look "
                       "at d.meta['discriminative_part'] (one entry per class, in d.class_names order).",
                       Choice(["center", "petals", "leaves", "stem"]),
                       mistakes=[("center", "that part decides the class in the single variant; in 'double' "
                                            "the class name says which part counts")]),
    "tour.2": Exercise("What is the output shape (C, H, W) of layer conv3 of the flowers-single model for a "
                       "64×64 input?", _tour_2, "xnb.layers(model) lists each layer's output_shape.",
                       Shape(), mistakes=[((64, 16, 16), "the channels are right; the spatial size shrinks by a "
                                                          "stride as well as by pooling: check xnb.layers(model)")]),
    "tour.3": Exercise("Which layer does contrastive excitation backprop use as its contrast layer by default "
                       "on the flowers-single model?", _tour_3,
                       "the contrastive pass negates the classifier layer; the contrast is read where that "
                       "layer's input comes from (list the layers with xnb.layers(model)).", Text(),
                       mistakes=[("fc8", "fc8 is the classifier layer whose weights are negated; the contrast "
                                         "layer is its input"),
                                 ("fc7", "close: fc7 is linear, but its output goes through one more layer "
                                         "before reaching the classifier")]),
}


_METHODS_4 = ("saliency", "input_x_gradient", "guided_backprop", "excitation_backprop", "gradcam")


def _tour_4():
    """The methods whose maximum lands on the visible discriminative part most often (a set: ties)."""
    import torch

    from .. import attribute, data, models

    d = data.flowers(20, seed=11)
    m = models.load("flowers-single")
    keep = d.masks.flatten(1).any(1)  # images whose discriminative part is not fully occluded
    hits = {}
    for method in _METHODS_4:
        top = attribute(m, d.images, method, target=d.labels).detach().flatten(1).argmax(1)
        hits[method] = int(d.masks.flatten(1)[torch.arange(len(d.masks)), top][keep].sum())
    best = max(hits.values())
    return {k for k, v in hits.items() if v == best}


EXERCISES["tour.4"] = Exercise(
    "Interpret: on data.flowers(20, seed=11), each image explained for its true class with flowers-single, "
    "which method's maximum lands on the visible discriminative part (d.masks) most often: 'saliency', "
    "'input_x_gradient', 'guided_backprop', 'excitation_backprop' or 'gradcam'?", _tour_4,
    "for each method take attribute(model, d.images, method, target=d.labels), find each map's argmax and "
    "count how often d.masks is True there.", OneOf(list(_METHODS_4)),
    mistakes=[(lambda a: str(a).strip().lower() == "gradcam", "Grad-CAM reads pool4, a 4×4 grid at 64 px: its maximum is a 16-px cell and often "
                          "misses a small part — count the hits rather than judging by eye")])
