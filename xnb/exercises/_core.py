"""How exercises are written and compared (the registry and ``check`` are in :mod:`xnb.exercises`).

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

__all__ = ["Exercise", "Answer", "Number", "Integer", "Boolean", "Text", "Shape", "Choice", "OneOf"]


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


class OneOf(Choice):
    """One of ``options``; right when it is among the solution's (tied) best options, a set."""

    def __call__(self, answer, solution) -> bool:
        return self._norm(answer) in {self._norm(s) for s in solution}


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
