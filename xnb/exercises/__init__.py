"""Checked exercises for the notebooks: ``check("tour.1", answer)`` says whether an answer is right.

One registry (:data:`EXERCISES`) over one file per notebook (``xnb/exercises/tour.py``, ``srae.py``,
``additive.py``, ``mulasso.py``, ``resample.py``, ``sevec.py``, ``sanity.py``), each beside the method it asks about and
computing its solutions from the library (not stored), so a check stays right if the data or models
change. How answers are compared (:class:`Number` with a stated relative tolerance, strict
:class:`Integer` / :class:`Boolean`, :class:`Text`, :class:`Choice`, :class:`Shape`) and the feedback
written for the usual mistakes are in :mod:`xnb.exercises._core`.
"""
from __future__ import annotations

from typing import Any

from . import additive, mulasso, resample, sanity, sevec, srae, tour
from ._core import Answer, Boolean, Choice, Exercise, Integer, Number, OneOf, Shape, Text

__all__ = ["check", "EXERCISES", "Exercise", "Answer", "Number", "Integer", "Boolean", "Text", "Shape", "Choice",
           "OneOf", "for_notebook"]

#: every exercise of every notebook, by name ``"<notebook>.<n>"``
EXERCISES: dict[str, Exercise] = {**tour.EXERCISES, **srae.EXERCISES, **additive.EXERCISES, **mulasso.EXERCISES,
                                  **resample.EXERCISES, **sevec.EXERCISES, **sanity.EXERCISES}


def for_notebook(prefix: str) -> dict[str, Exercise]:
    """The exercises of one notebook: ``for_notebook("srae")`` → {"srae.1": ..., ...}."""
    prefixes = sorted({k.split(".")[0] for k in EXERCISES})
    if prefix not in prefixes:
        raise ValueError(f"prefix: unknown notebook {prefix!r}; known: {', '.join(prefixes)}")
    return {k: v for k, v in EXERCISES.items() if k.split(".")[0] == prefix}


_VOILA_NOTE_SHOWN = False


def _note_voila() -> None:
    global _VOILA_NOTE_SHOWN
    _VOILA_NOTE_SHOWN = True
    print("Exercises: open this notebook in JupyterLab to answer them.")


def _in_voila() -> bool:
    import os

    return any(k in os.environ for k in ("VOILA_KERNEL_ID", "VOILA_BASE_URL", "VOILA_REQUEST_URL"))


def _lookup(exercise: str) -> Exercise:
    if not isinstance(exercise, str):
        raise TypeError(f"exercise: expected a name like 'tour.1', got {exercise!r}")
    if exercise not in EXERCISES:
        raise ValueError(f"exercise: unknown exercise {exercise!r}; known: {', '.join(EXERCISES)}")
    return EXERCISES[exercise]


def check(exercise: str, answer: Any) -> bool:
    """Print whether ``answer`` solves ``exercise`` (with a hint if not) and return True/False.

    Names are ``"<module>.<n>"``: ``"tour.1"`` here, ``"mulasso.2"`` in ``xnb.mulasso.EXERCISES``, etc.
    """
    ex = _lookup(exercise)
    if answer is None:
        if not _in_voila():
            print(f"{exercise}: no answer yet — replace None with yours ({ex.question})")
        elif not _VOILA_NOTE_SHOWN:  # a dashboard has no code to edit: one pointer instead of each exercise
            _note_voila()
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
