"""Shared by the notebook builders: cells in order, written without outputs with xnb's metadata."""
from __future__ import annotations

from pathlib import Path

import nbformat
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook

NOTEBOOKS = Path(__file__).resolve().parents[2] / "notebooks"


class Notebook:
    def __init__(self):
        self.cells = []

    def md(self, source: str):
        self.cells.append(new_markdown_cell(source.strip()))

    def code(self, source: str, tags=None, **metadata):
        cell = new_code_cell(source.strip(), metadata=metadata)
        if tags:
            cell.metadata["tags"] = list(tags)
        self.cells.append(cell)

    def write(self, name: str, budget_s: float) -> Path:
        """notebooks/<name>.ipynb; ``budget_s`` is the runner's time budget (tests/test_notebooks.py)."""
        for i, cell in enumerate(self.cells):  # stable ids: a rebuild changes only what changed
            cell["id"] = f"cell-{i:02d}"
        nb = new_notebook(cells=self.cells)
        nb.metadata["kernelspec"] = {"display_name": "Python 3 (ipykernel)", "language": "python", "name": "python3"}
        nb.metadata["language_info"] = {"name": "python"}
        nb.metadata["xnb"] = {"budget_s": budget_s}
        path = NOTEBOOKS / f"{name}.ipynb"
        nbformat.write(nb, path)
        return path
