#!/usr/bin/env python3
"""Strip outputs from notebooks so they are committed clean (``make strip``).

Removes from every code cell its outputs, its execution count and the timing metadata that
executors record (``metadata.execution``), and from the notebook the saved widget state
(``metadata.widgets``). Everything else -- sources, tags, the ``xnb`` budget metadata, the
kernelspec -- is kept. A file is rewritten only when something was stripped (then in
nbformat's own layout: 1-space indent, sorted keys, trailing newline); a clean notebook is
left byte-for-byte alone, whatever its layout.

    python scripts/strip_notebooks.py                 # every notebooks/*.ipynb
    python scripts/strip_notebooks.py a.ipynb b.ipynb
    python scripts/strip_notebooks.py --check         # exit 1 if any needs stripping

Standard library only, so it runs without the project's virtual environment.
"""
from __future__ import annotations

import argparse
import copy
import json
import sys
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent

#: Cell-metadata keys written by executors / JupyterLab that are not part of the source.
CELL_METADATA_DROP = ("execution", "ExecuteTime")
#: Notebook-metadata keys holding run-time state.
NOTEBOOK_METADATA_DROP = ("widgets",)


def strip(nb: dict[str, Any]) -> dict[str, Any]:
    """Return a stripped deep copy of a notebook given as parsed JSON."""
    nb = copy.deepcopy(nb)
    for key in NOTEBOOK_METADATA_DROP:
        nb.get("metadata", {}).pop(key, None)
    for cell in nb.get("cells", []):
        if cell.get("cell_type") == "code":
            cell["outputs"] = []
            cell["execution_count"] = None
        meta = cell.get("metadata", {})
        for key in CELL_METADATA_DROP:
            meta.pop(key, None)
    return nb


def dumps(nb: dict[str, Any]) -> str:
    """Serialise like ``nbformat.writes`` (what Jupyter itself saves)."""
    return json.dumps(nb, indent=1, sort_keys=True, ensure_ascii=False) + "\n"


def needs_strip(path: Path) -> bool:
    nb = json.loads(path.read_text(encoding="utf-8"))
    return strip(nb) != nb


def strip_file(path: Path) -> bool:
    """Strip one notebook in place; return True when the file changed."""
    nb = json.loads(path.read_text(encoding="utf-8"))
    stripped = strip(nb)
    if stripped == nb:
        return False
    path.write_text(dumps(stripped), encoding="utf-8")
    return True


def default_notebooks() -> list[Path]:
    return sorted(
        p for p in (ROOT / "notebooks").glob("*.ipynb") if not p.name.endswith("-checkpoint.ipynb")
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("paths", nargs="*", type=Path, help="notebooks (default: notebooks/*.ipynb)")
    parser.add_argument("--check", action="store_true", help="only report; exit 1 if any is dirty")
    args = parser.parse_args(argv)
    paths = args.paths or default_notebooks()
    dirty = 0
    for path in paths:
        if args.check:
            if needs_strip(path):
                print(f"needs stripping: {path}")
                dirty += 1
        elif strip_file(path):
            print(f"stripped: {path}")
    return 1 if dirty else 0


if __name__ == "__main__":
    sys.exit(main())
