"""The notebooks as committed files: each ``notebooks/NN_name.ipynb`` is paired by Jupytext with a
percent-format script ``notebooks/NN_name.py`` (``notebooks/jupytext.toml``).

The script is the reviewed source; the ``.ipynb`` is what JupyterLab, Voila, Binder, the execution tests
(``tests/test_notebooks.py``) and the wheel use. Checked here:

* every notebook has its script and every script its notebook, and the two hold the same cells (type,
  source, tags) and the same kernel and time budget (``metadata.xnb.budget_s``);
* ``jupytext --sync`` (``make sync-notebooks``) is a no-op on the committed pair, whichever file is newer:
  the ``.py`` rebuilds the committed ``.ipynb`` byte for byte, cell ids included;
* editing the script changes only the edited cell of the notebook and keeps every cell id (the issue with
  the old hand-written builders: a rebuild threw away edits made in JupyterLab);
* every ``.ipynb`` is committed stripped -- no outputs, execution counts, widget state or timing metadata
  -- as ``make strip`` (nbstripout, which keeps cell ids with ``--keep-id``) leaves it.
"""
from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import jupytext
import nbformat
import pytest
from jupytext.cli import jupytext as jupytext_cli
from jupytext.config import find_jupytext_configuration_file, load_jupytext_config

ROOT = Path(__file__).resolve().parent.parent
NOTEBOOK_DIR = ROOT / "notebooks"
CONFIG = NOTEBOOK_DIR / "jupytext.toml"
NOTEBOOKS = sorted(p for p in NOTEBOOK_DIR.glob("*.ipynb") if not p.stem.endswith("-checkpoint"))
SCRIPTS = sorted(NOTEBOOK_DIR.glob("*.py"))
#: `make strip` (Makefile): nbstripout, keeping the cell ids
STRIP_ARGS = ["--keep-id"]

params = pytest.mark.parametrize("path", NOTEBOOKS, ids=[p.name for p in NOTEBOOKS])


def _script(path: Path) -> Path:
    return path.with_suffix(".py")


def _cells(nb) -> list[tuple[str, str, dict]]:
    return [(c.cell_type, c.source, dict(c.metadata)) for c in nb.cells]


def _nbstripout(*args: str, cwd: Path) -> subprocess.CompletedProcess:
    """nbstripout's command line as `make strip` runs it. Only this interpreter's bin/ is on PATH, so no
    ``git`` is found and nbstripout reads no ``filter.nbstripout.*`` git configuration: hermetic."""
    env = {**os.environ, "PATH": str(Path(sys.executable).parent)}
    return subprocess.run([sys.executable, "-m", "nbstripout", *args], cwd=cwd, env=env,
                          capture_output=True, text=True, timeout=120)


def _copy_pair(path: Path, dest: Path) -> tuple[Path, Path]:
    shutil.copy(CONFIG, dest / CONFIG.name)
    ipynb, py = dest / path.name, dest / _script(path).name
    shutil.copy(path, ipynb)
    shutil.copy(_script(path), py)
    return ipynb, py


def _make_newer(newer: Path, older: Path) -> None:
    t = older.stat().st_mtime
    os.utime(older, (t, t))
    os.utime(newer, (t + 10, t + 10))


def _sync(path: Path) -> None:
    jupytext_cli(["--sync", "--quiet", str(path)])


# -- the pairing -----------------------------------------------------------------------------------------

def test_there_are_seven_notebooks_each_with_its_script():
    assert len(NOTEBOOKS) == 7, [p.name for p in NOTEBOOKS]
    assert [p.stem for p in SCRIPTS] == [p.stem for p in NOTEBOOKS], "every notebook needs its notebooks/*.py pair"


def test_config_pairs_the_notebooks_with_percent_scripts():
    assert Path(find_jupytext_configuration_file(str(NOTEBOOK_DIR))) == CONFIG
    config = load_jupytext_config(str(NOTEBOOK_DIR))
    assert config.formats in ("ipynb,py:percent", ["ipynb,py:percent"])
    # the header of each script keeps the kernel and the budget, not Jupytext's version stamp
    assert {"kernelspec", "xnb"} <= set(config.notebook_metadata_filter.split(","))


@params
def test_script_and_notebook_hold_the_same_cells(path: Path):
    """A fresh conversion of the script (what a reviewer reads) reproduces the notebook's cells."""
    from_script = jupytext.read(_script(path))
    committed = nbformat.read(path, as_version=4)
    assert _cells(from_script) == _cells(committed), f"{path.name}: out of sync, run `make sync-notebooks`"
    for key in ("kernelspec", "xnb"):
        assert from_script.metadata.get(key) == committed.metadata.get(key), key


@params
def test_budget_metadata_is_in_both_files(path: Path):
    budget = nbformat.read(path, as_version=4).metadata["xnb"]["budget_s"]
    assert 0 < budget <= 600
    assert jupytext.read(_script(path)).metadata["xnb"]["budget_s"] == budget
    assert re.search(rf"^#   xnb:\n#     budget_s: {budget}\n", _script(path).read_text(encoding="utf-8"), re.M)


@params
@pytest.mark.parametrize("newer", ["py", "ipynb"])
def test_sync_is_a_no_op_on_the_committed_pair(path: Path, newer: str, tmp_path: Path):
    ipynb, py = _copy_pair(path, tmp_path)
    if newer == "py":
        _make_newer(py, ipynb)
    else:
        _make_newer(ipynb, py)
    _sync(ipynb)
    assert ipynb.read_bytes() == path.read_bytes(), f"{path.name}: `make sync-notebooks` would change it"
    assert py.read_bytes() == _script(path).read_bytes(), f"{_script(path).name}: `make sync-notebooks` would change it"


# -- cell ids --------------------------------------------------------------------------------------------

@params
def test_cell_ids_are_unique_and_valid(path: Path):
    nb = nbformat.read(path, as_version=4)
    nbformat.validate(nb)
    ids = [c.id for c in nb.cells]
    assert len(set(ids)) == len(ids), f"{path.name}: duplicate cell ids"


def test_editing_the_script_changes_only_that_cell_and_keeps_the_ids(tmp_path: Path):
    path = NOTEBOOK_DIR / "00_tour.ipynb"
    ipynb, py = _copy_pair(path, tmp_path)
    before = nbformat.read(path, as_version=4)
    first_md = next(i for i, c in enumerate(before.cells) if c.cell_type == "markdown")
    title = before.cells[first_md].source.splitlines()[0]
    text = py.read_text(encoding="utf-8")
    assert text.count(f"# {title}\n") == 1
    # a teacher edits one markdown line and inserts a cell before the last one
    text = text.replace(f"# {title}\n", f"# {title} (edited)\n")
    last = text.rindex("# %%")
    text = text[:last] + "# %%\nnew_cell = 1\n\n" + text[last:]
    py.write_text(text, encoding="utf-8")
    _make_newer(py, ipynb)
    _sync(py)

    after = nbformat.read(ipynb, as_version=4)
    nbformat.validate(after)
    assert len(after.cells) == len(before.cells) + 1
    new = after.cells.pop(-2)
    assert new.source == "new_cell = 1" and new.id not in {c.id for c in before.cells}
    assert [c.id for c in after.cells] == [c.id for c in before.cells]
    changed = [i for i, (a, b) in enumerate(zip(before.cells, after.cells)) if a != b]
    assert changed == [first_md]
    assert after.cells[first_md].source.startswith(f"{title} (edited)\n")
    assert after.metadata == before.metadata


def test_saving_in_jupyterlab_writes_both_files(tmp_path: Path):
    """JupyterLab saves through Jupytext's contents manager (its server extension, in the `lab` extra):
    an unchanged notebook saves to the committed bytes of both files; an edit reaches the script."""
    import asyncio

    from jupyter_server.services.contents.largefilemanager import AsyncLargeFileManager
    from jupytext.async_contentsmanager import build_async_jupytext_contents_manager_class

    path = NOTEBOOK_DIR / "03_mu_lasso.ipynb"
    ipynb, py = _copy_pair(path, tmp_path)
    manager = build_async_jupytext_contents_manager_class(AsyncLargeFileManager)(root_dir=str(tmp_path))

    async def save(edit) -> None:
        model = await manager.get(ipynb.name)
        edit(model["content"])
        await manager.save(model, ipynb.name)

    asyncio.run(save(lambda nb: None))
    assert ipynb.read_bytes() == path.read_bytes() and py.read_bytes() == _script(path).read_bytes()

    def edit(nb) -> None:
        nb.cells[0].source = nb.cells[0].source.replace("# 03 ", "# 03 (edited in Lab) ", 1)

    asyncio.run(save(edit))
    assert "\n# # 03 (edited in Lab) " in py.read_text(encoding="utf-8")
    after = nbformat.read(ipynb, as_version=4)
    assert [c.id for c in after.cells] == [c.id for c in nbformat.read(path, as_version=4).cells]


@params
def test_no_control_characters_in_the_sources(path: Path):
    """The old builders kept the notebooks in Python strings, where ``\\frac`` became a form feed."""
    for cell in nbformat.read(path, as_version=4).cells:
        bad = re.search(r"[\x00-\x08\x0b-\x1f\x7f]", cell.source)
        assert not bad, f"{path.name} cell {cell.id}: {bad.group()!r} in {cell.source[max(0, bad.start() - 30):bad.end()]!r}"


# -- stripped --------------------------------------------------------------------------------------------

@params
def test_notebook_is_committed_without_outputs(path: Path):
    nb = json.loads(path.read_text(encoding="utf-8"))
    dirty = [c.get("id") for c in nb["cells"]
             if c["cell_type"] == "code" and (c.get("outputs") or c.get("execution_count") is not None)]
    assert not dirty, f"{path.name}: cells {dirty} have outputs or execution counts; run `make strip`"
    assert "widgets" not in nb["metadata"], f"{path.name}: saved widget state; run `make strip`"


def test_make_strip_leaves_the_committed_notebooks_alone():
    cp = _nbstripout(*STRIP_ARGS, "--verify", *(p.name for p in NOTEBOOKS), cwd=NOTEBOOK_DIR)
    assert cp.returncode == 0, f"run `make strip`:\n{cp.stdout}{cp.stderr}"


def test_make_strip_runs_nbstripout_keeping_the_ids():
    recipe = re.search(r"^strip:.*\n((?:\t.*\n)+)", (ROOT / "Makefile").read_text(encoding="utf-8"), re.M)
    assert recipe and f"nbstripout {' '.join(STRIP_ARGS)} notebooks/*.ipynb" in recipe.group(1)


def test_make_strip_restores_an_executed_notebook(tmp_path: Path):
    """What JupyterLab saves after a run -- outputs, counts, timing, widget state -- is stripped back to
    the committed bytes; ids, tags and the budget stay."""
    path = NOTEBOOK_DIR / "01_srae.ipynb"
    nb = nbformat.read(path, as_version=4)
    for n, cell in enumerate(c for c in nb.cells if c.cell_type == "code"):
        cell.execution_count = n + 1
        cell.outputs = [nbformat.v4.new_output("stream", name="stdout", text=f"{n}\n")]
        cell.metadata["execution"] = {"iopub.status.busy": "2026-01-01T00:00:00Z"}
        cell.metadata["ExecuteTime"] = {"start_time": "2026-01-01T00:00:00Z"}
    nb.metadata["widgets"] = {"application/vnd.jupyter.widget-state+json": {"state": {}, "version_major": 2}}
    run = tmp_path / path.name
    nbformat.write(nb, run)
    assert _nbstripout(*STRIP_ARGS, "--verify", run.name, cwd=tmp_path).returncode == 1
    cp = _nbstripout(*STRIP_ARGS, run.name, cwd=tmp_path)
    assert cp.returncode == 0, cp.stderr
    assert run.read_bytes() == path.read_bytes()
