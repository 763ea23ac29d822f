"""Checked exercises for the notebooks: ``check("tour.1", answer)`` says whether an answer is right.

Answers are computed from the library itself (not stored), so a check stays right if the data or models
change. Each exercise has a hint shown on a wrong answer.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable

__all__ = ["check", "EXERCISES", "Exercise"]


@dataclass
class Exercise:
    question: str
    solution: Callable[[], Any]
    hint: str
    same: Callable[[Any, Any], bool] = lambda a, b: a == b


def _tour_1():
    from . import data

    d = data.flowers(12, variant="double")
    return d.meta["discriminative_part"][d.class_names.index("blue leaves")]


def _tour_2():
    from . import layers, models

    return {i.name: i for i in layers(models.load("flowers-single"))}["conv3"].output_shape


def _tour_3():
    from . import models
    from .attribution import _default_contrast

    return _default_contrast(models.load("flowers-single"))[0]


def _norm_str(a, b):
    return str(a).strip().lower().rstrip("s") == str(b).strip().lower().rstrip("s")


EXERCISES: dict[str, Exercise] = {
    "tour.1": Exercise("In flowers(variant='double'), which part's colour decides the class 'blue leaves'?",
                       _tour_1, "Look at data.meta['discriminative_part'].", _norm_str),
    "tour.2": Exercise("What is the output shape (C, H, W) of layer conv3 of the flowers-single model for a "
                       "64×64 input?", _tour_2, "xnb.layers(model) lists each layer's output_shape.",
                       lambda a, b: tuple(a) == tuple(b)),
    "tour.3": Exercise("Which layer does contrastive excitation backprop use as its contrast layer by default "
                       "on the flowers-single model?", _tour_3,
                       "It is the input of the last linear layer (relu7 for VGG16).", _norm_str),
}


def _lookup(exercise: str) -> Exercise:
    """'tour.N' lives here; 'mod.N' lives in ``xnb.mod.EXERCISES`` (each paper module keeps its own)."""
    if not isinstance(exercise, str):
        raise TypeError(f"exercise: expected a name like 'tour.1', got {exercise!r}")
    if exercise in EXERCISES:
        return EXERCISES[exercise]
    prefix = exercise.split(".")[0]
    known = list(EXERCISES)
    if prefix.isidentifier() and prefix != "tour":
        import importlib

        try:
            mod = importlib.import_module(f"xnb.{prefix}")
        except ImportError:
            mod = None
        table = getattr(mod, "EXERCISES", {}) if mod is not None else {}
        if exercise in table:
            return table[exercise]
        known += list(table)
    raise ValueError(f"exercise: unknown exercise {exercise!r}; known: {', '.join(known)}")


def check(exercise: str, answer: Any) -> bool:
    """Print whether ``answer`` solves ``exercise`` (with a hint if not) and return True/False.

    Names are ``"<module>.<n>"``: ``"tour.1"`` here, ``"mulasso.2"`` in ``xnb.mulasso.EXERCISES``, etc.
    """
    ex = _lookup(exercise)
    try:
        ok = bool(ex.same(answer, ex.solution()))
    except Exception:  # a malformed answer is a wrong answer, not a crash
        ok = False
    print(f"{exercise}: {'correct ✓' if ok else 'not yet ✗ — hint: ' + ex.hint}")
    return ok
