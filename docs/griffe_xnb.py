"""Griffe extension for the documentation site (mkdocs.yml: mkdocstrings' python handler, ``extensions``).

xnb's docstrings follow numpy style with two house habits that the numpy parser reads differently:

1. A parameter's description starts on its own line: ``name : what it is`` rather than
   ``name : type`` followed by the description on the next, indented line (the types are in the
   signature). The parser would show that text in the *Type* column. This extension moves it to the
   description: ``name`` on one line, the text indented below.
2. A paragraph after the Parameters list (e.g. ``xnb.models.load``: "Torchvision models expect...")
   belongs to no section; the parser would read it as more parameters (and warn). This extension gives
   such a paragraph a ``Notes`` heading.

Only the text griffe parses is changed (``Docstring.value``), never a source file.
"""
from __future__ import annotations

import re
from typing import Any

from griffe import Extension

_ITEM = re.compile(r"^(?P<names>\*{0,2}\w+(?:\s*,\s*\*{0,2}\w+)*)\s+:\s+(?P<text>\S.*)$")
_PARAM_SECTIONS = {"parameters", "other parameters", "params", "arguments", "args", "keyword arguments"}


def _is_header(lines: list[str], i: int) -> bool:
    return (i + 1 < len(lines) and lines[i].strip() != "" and not lines[i].startswith(" ")
            and re.fullmatch(r"-{3,}", lines[i + 1].strip() or "x") is not None)


def rewrite(value: str) -> str:
    """The docstring text with parameter descriptions moved out of the type slot (see the module)."""
    lines = value.split("\n")
    out: list[str] = []
    in_params = False
    i = 0
    while i < len(lines):
        line = lines[i]
        if _is_header(lines, i):
            in_params = line.strip().lower() in _PARAM_SECTIONS
            out += [line, lines[i + 1]]
            i += 2
            continue
        if in_params and line and not line.startswith(" "):
            m = _ITEM.match(line)
            if m:
                out += [m["names"], "    " + m["text"]]
            elif out and out[-1].strip() == "":
                # a paragraph after the list: it ends the Parameters section
                in_params = False
                out += ["Notes", "-----", line]
            else:
                out.append(line)
            i += 1
            continue
        out.append(line)
        i += 1
    return "\n".join(out)


class XnbDocstrings(Extension):
    """Apply :func:`rewrite` to every function's and class's docstring as griffe loads it."""

    def _fix(self, obj: Any) -> None:
        doc = getattr(obj, "docstring", None)
        if doc is not None and doc.value and "----" in doc.value:
            doc.value = rewrite(doc.value)

    def on_function_instance(self, *, func: Any, **kwargs: Any) -> None:
        self._fix(func)

    def on_class_instance(self, *, cls: Any, **kwargs: Any) -> None:
        self._fix(cls)
