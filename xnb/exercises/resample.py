"""The exercises of notebook ``04_input_resampling`` (resample): solutions computed from :mod:`xnb.resample` itself."""
from __future__ import annotations

from ..resample import evaluate_patches, jaccard, noise_levels, resample, top_neurons
from ._core import Exercise, OneOf


def _ex_1():
    from .. import data, models
    model = models.load("flowers-single")
    x = data.flowers(4, seed=11).images[0]
    res = resample(model, x, ["conv4"], n=50, sigma=0.1, seed=0)
    # λ = 0.1 in activation units, as the exercise states it (the notebook's default reads λ relative to the
    # layer's largest mean activation)
    return jaccard(top_neurons(res.importance("conv4", "correlation"), 5),
                   top_neurons(res.importance("conv4", "precision", 0.1, "absolute"), 5))


def _ex_2():
    return jaccard([1, 2, 3], [1, 2, 3], definition="sum")


def _ex_3():
    return float(noise_levels(50, 0.1, "growing")[10])


def _close(a, b):
    return abs(float(a) - float(b)) < 1e-6


EXERCISES: dict[str, Exercise] = {
    "resample.1": Exercise(
        "On image 0 of data.flowers(4, seed=11) with the flowers-single model, what is the Jaccard "
        "similarity (paper's definition) between the top-5 conv4 units by correlation and by precision "
        "(n=50, σ=0.1, λ=0.1, seed=0)?", _ex_1,
        "resample(model, x, ['conv4']), then top_neurons(res.importance(...), 5) for each metric and jaccard().",
        _close),
    "resample.2": Exercise(
        "The authors' code computes |A∩B| / (|A|+|B|). What is the largest value it can take?", _ex_2,
        "Try two identical non-empty sets: jaccard(a, a, definition='sum').", _close),
    "resample.3": Exercise(
        "With schedule='growing' and σ=0.1, what is the standard deviation of the noise filter of copy "
        "i=10?", _ex_3, "noise_levels(n, sigma, 'growing') gives σ·i for copy i.", _close),
}


_LAYERS_4 = ("conv1", "conv2", "conv3", "conv4")


def _ex4():
    """Layers whose top-5 precision patches peak on the discriminative part most often (a set: ties)."""
    from .. import data, models

    d = data.flowers(8, seed=15)
    ev = evaluate_patches(models.load("flowers-single"), d.images, metrics=["precision"], k_max=5, n=20,
                          random_baseline=False, progress=False)
    share = {l: ev.localization(d.masks, k=5, layers=[l], criterion="peak")["precision"][0] for l in _LAYERS_4}
    best = max(share.values())
    return {l for l, v in share.items() if v == best}


EXERCISES["resample.4"] = Exercise(
    "Interpret: on data.flowers(8, seed=15) with flowers-single, rank each layer's units by precision "
    "(evaluate_patches(model, images, metrics=['precision'], k_max=5, n=20)). Which layer's top-5 patches put "
    "their peak on the discriminative part (d.masks) most often: conv1, conv2, conv3 or conv4?", _ex4,
    "PatchEvaluation.localization(masks, k=5, layers=[layer], criterion='peak') gives the share per layer.",
    OneOf(list(_LAYERS_4)),
    mistakes=[(lambda a: str(a).strip().lower() == "conv4", "the deepest layer is not the best here: its "
                                                            "units see more context (compare the shares)"),
              (lambda a: str(a).strip().lower() == "conv1", "conv1's units respond to colour edges "
                                                            "everywhere; compare the shares per layer")])
