"""The exercises of notebook ``06_sanity_and_shortcuts`` (sanity): solutions computed from :mod:`xnb.sanity`."""
from __future__ import annotations

from ._core import Answer, Exercise, Integer, Number, OneOf

#: the cheaper settings notebook 06 uses for its costlier methods
OPTIONS = {"integrated_gradients": {"n_steps": 16}, "smoothgrad": {"nt_samples": 8}, "occlusion": {"stride": 8}}

_CACHE: dict = {}


def _shortcut_report():
    if "report" not in _CACHE:
        from .. import data, models, sanity

        d = data.shortcut_flowers(24, agreement=1.0, seed=21)
        _CACHE["report"] = sanity.shortcut_report(models.load("flowers-shortcut"), d, method_options=OPTIONS,
                                                  progress=False)
    return _CACHE["report"]


def _ex1():
    r = _shortcut_report()
    shares = {m: float(r.on_shortcut[m].mean()) for m in r.methods}
    best = max(shares.values())
    return {m for m, v in shares.items() if v >= best - 1e-9}


def _head_result():
    if "head" not in _CACHE:
        from .. import data, models, sanity

        m = models.load("flowers-single")
        _CACHE["head"] = sanity.model_randomization(m, data.flowers(10, seed=31).images, layers=["fc8", "fc7", "fc6"],
                                                    method_options=OPTIONS, seed=0, keep_maps=False, progress=False)
    return _CACHE["head"]


def _ex2():
    return {v["method"] for v in _head_result().verdicts() if v["verdict"] == "fails"}


def _ex3():
    import torch

    from ..metrics import mass_in_mask

    h = torch.tensor([[3.0, 1.0], [0.0, -2.0]])
    return float(mass_in_mask(h, torch.tensor([[True, True], [False, False]]))[0])


def _ex4():
    from .. import data, models

    d = data.shortcut_flowers(600, agreement=1 / 6, seed=2026)
    off = d.shortcut_labels != d.labels
    pred = models.predict(models.load("flowers-shortcut"), d.images).argmax(1)
    return int((pred[off] == d.shortcut_labels[off]).sum())


class _MethodSet(Answer):
    """A set of method names of xnb.attribute (order and case free)."""

    precision = "exact (a set of method names)"

    def problem(self, answer):
        from ..attribution import METHODS

        if not isinstance(answer, (set, frozenset, list, tuple)) or not all(isinstance(a, str) for a in answer):
            return f"expected a set of method names such as {{'saliency', 'gradcam'}}, got {answer!r}"
        bad = sorted(a for a in answer if a.strip().lower() not in METHODS)
        if bad:
            return f"{bad} are not methods of xnb.attribute; valid: {', '.join(METHODS)}"
        return None

    def __call__(self, answer, solution) -> bool:
        return {a.strip().lower() for a in answer} == set(solution)


def _methods():
    from ..sanity import SANITY_METHODS

    return list(SANITY_METHODS)


EXERCISES = {
    "sanity.1": Exercise(
        "Interpret: on shortcut_flowers(24, agreement=1.0, seed=21), which method puts the largest mean share of "
        "its positive mass on the mark for flowers-shortcut (options as in the notebook's OPTIONS)?", _ex1,
        "sanity.shortcut_report(model, data, method_options=OPTIONS).on_shortcut[method].mean(), per method.",
        OneOf(_methods()),
        mistakes=[("saliency", "saliency is high, but not the highest: compare the 'on mark' column of every "
                               "method"),
                  ("gradcam", "Grad-CAM's 4×4 cells are larger than the mark: its share is capped")]),
    "sanity.2": Exercise(
        "Interpret: with the classifier head (fc8, fc7, fc6) of flowers-single re-initialised (seed 0, "
        "flowers(10, seed=31), options as in OPTIONS), which methods fail the check? (a set of method names)",
        _ex2,
        "result.verdicts(after='fc6'): the methods whose verdict is 'fails'.", _MethodSet(),
        mistakes=[(lambda a: not a, "not none: several methods keep their trained maps when only the head "
                                    "is random"),
                  (lambda a: {x.strip().lower() for x in a} >= set(_methods()),
                   "not all: look for the methods whose ρ falls below the unrelated-images level")]),
    "sanity.3": Exercise(
        "A 2×2 map [[3, 1], [0, -2]] and a mask covering its top row: what is S(h, M), the share of the positive "
        "mass inside the mask?", _ex3,
        "S uses h⁺ = max(h, 0): negative values count as 0, in the numerator and in the denominator.",
        Number(rel=0.01),
        mistakes=[(2.0, "that divides by the signed sum 3 + 1 + 0 − 2 = 2; S uses the positive part only"),
                  (4 / 6, "that divides by the sum of |h|; S uses the positive part h⁺ = max(h, 0)")]),
    "sanity.4": Exercise(
        "Interpret: of the shortcut_flowers(600, agreement=1/6, seed=2026) images whose mark names another class, "
        "how many does flowers-shortcut classify as the mark says? (an integer)", _ex4,
        "models.predict(model, d.images).argmax(1) == d.shortcut_labels, where d.shortcut_labels != d.labels.",
        Integer(),
        mistakes=[(0, "not none: the shortcut model follows the mark"),
                  (600, "not every image: only those whose mark names another class count")]),
}
