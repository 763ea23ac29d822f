"""Checked exercises for the notebooks: ``check("tour.1", answer)`` says whether an answer is right.

Answers are computed from the library itself (not stored), so a check stays right if the data or models
change. Each exercise says how answers are compared (:class:`Number` with a stated relative tolerance,
strict :class:`Integer` / :class:`Boolean`, :class:`Text`, :class:`Choice`, :class:`Shape`); a wrong
answer gets the feedback written for that mistake when there is one, else a hint that points to where
the answer can be found without giving it.
"""
from __future__ import annotations

import math
import numbers
from dataclasses import dataclass, field
from typing import Any, Callable, Sequence

import numpy as np

__all__ = ["check", "EXERCISES", "Exercise", "Number", "Integer", "Boolean", "Text", "Shape", "Choice"]


# ------------------------------------------------------------------------------ how answers are compared


class Answer:
    """How an answer is compared with the solution. ``problem(answer)`` says what is wrong with the
    answer's *type* (or None); ``__call__(answer, solution)`` says whether it is right; ``precision`` is
    the expected precision, printed with the question's feedback."""

    precision = ""

    def problem(self, answer) -> str | None:
        return None

    def __call__(self, answer, solution) -> bool:
        return answer == solution


def _is_number(a) -> bool:
    return isinstance(a, (numbers.Real, np.number)) and not isinstance(a, (bool, np.bool_))


class Number(Answer):
    """A real number, right within a relative tolerance ``rel`` (default 1 %: ``0.69`` is right for
    log 2 = 0.693…) or an absolute one ``abs`` (for answers near 0)."""

    def __init__(self, rel: float = 0.01, abs: float = 1e-6):
        self.rel, self.abs = float(rel), float(abs)
        self.precision = f"within {self.rel:.0%} (relative)" if self.rel else f"within ±{self.abs:g}"

    def problem(self, answer):
        if not _is_number(answer) or not math.isfinite(float(answer)):
            return f"expected a finite number (int or float), got {answer!r}"
        return None

    def __call__(self, answer, solution) -> bool:
        return math.isclose(float(answer), float(solution), rel_tol=self.rel, abs_tol=self.abs)


class Integer(Answer):
    """An int (not a bool, not a float such as 3.0: a unit index or a count)."""

    precision = "exact"

    def problem(self, answer):
        if not isinstance(answer, (numbers.Integral, np.integer)) or isinstance(answer, (bool, np.bool_)):
            return f"expected an integer, got {answer!r}"
        return None

    def __call__(self, answer, solution) -> bool:
        return int(answer) == int(solution)


class Boolean(Answer):
    """``True`` or ``False`` and nothing else (``"no"`` is a string, and ``bool("no")`` is True)."""

    precision = "exact"

    def problem(self, answer):
        if not isinstance(answer, (bool, np.bool_)):
            return f"answer True or False (a bool), got {answer!r}"
        return None

    def __call__(self, answer, solution) -> bool:
        return bool(answer) == bool(solution)


class Text(Answer):
    """A name, compared without case, surrounding spaces and a plural 's'."""

    precision = "case-insensitive"

    @staticmethod
    def _norm(a) -> str:
        return str(a).strip().lower().rstrip("s")

    def problem(self, answer):
        if not isinstance(answer, str):
            return f"expected a name (a string), got {answer!r}"
        return None

    def __call__(self, answer, solution) -> bool:
        return self._norm(answer) == self._norm(solution)


class Choice(Text):
    """One of ``options`` (listed in the feedback when the answer is none of them)."""

    def __init__(self, options: Sequence[str]):
        self.options = list(options)
        self.precision = "one of: " + ", ".join(self.options)

    def problem(self, answer):
        p = super().problem(answer)
        if p is None and self._norm(answer) not in {self._norm(o) for o in self.options}:
            return f"{answer!r} is not one of the options: {', '.join(self.options)}"
        return p


class Shape(Answer):
    """A tuple of ints such as (C, H, W)."""

    precision = "exact"

    def problem(self, answer):
        if not isinstance(answer, (tuple, list)) or not all(
                isinstance(v, (numbers.Integral, np.integer)) and not isinstance(v, bool) for v in answer):
            return f"expected a tuple of ints such as (C, H, W), got {answer!r}"
        return None

    def __call__(self, answer, solution) -> bool:
        return tuple(int(v) for v in answer) == tuple(int(v) for v in solution)


class _Plain(Answer):
    """Wraps a comparison function ``same(answer, solution) -> bool`` (the older form)."""

    def __init__(self, same):
        self.same = same

    def __call__(self, answer, solution) -> bool:
        return bool(self.same(answer, solution))


@dataclass
class Exercise:
    """A question whose ``solution()`` is computed from the library; ``same`` compares (an
    :class:`Answer`, or a function); ``hint`` is shown on a wrong answer unless one of ``mistakes`` —
    ``(wrong answer or predicate, feedback)`` pairs for the usual errors — matches it first."""

    question: str
    solution: Callable[[], Any]
    hint: str
    same: Any = field(default_factory=Answer)
    mistakes: Sequence[tuple[Any, str]] = ()

    def comparator(self) -> Answer:
        return self.same if isinstance(self.same, Answer) else _Plain(self.same)

    def feedback(self, answer) -> str:
        """The feedback on a wrong answer: the matching mistake's, else the hint."""
        cmp = self.comparator()
        for wrong, text in self.mistakes:
            try:
                hit = wrong(answer) if callable(wrong) else cmp(answer, wrong)
            except Exception:
                hit = False
            if hit:
                return text
        return "hint: " + self.hint


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
    if answer is None:
        print(f"{exercise}: no answer yet — replace None with yours ({ex.question})")
        return False
    cmp = ex.comparator()
    problem = cmp.problem(answer)
    if problem is not None:
        print(f"{exercise}: not yet ✗ — {problem}")
        return False
    try:
        ok = bool(cmp(answer, ex.solution()))
    except Exception:  # a malformed answer is a wrong answer, not a crash
        ok = False
    precision = f" (checked {cmp.precision})" if isinstance(cmp, Number) else ""
    print(f"{exercise}: correct ✓{precision}" if ok else f"{exercise}: not yet ✗ — {ex.feedback(answer)}")
    return ok
