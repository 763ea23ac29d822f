"""The notebook runner: every ``notebooks/*.ipynb`` executed headless, plus the runner's own tests.

Each notebook runs with nbclient in a fresh ipykernel of *this* interpreter (the venv's
python, whatever kernelspecs are installed elsewhere), with ``notebooks/`` as working
directory and ``XNB_TEST=1`` in the kernel's environment, so notebooks can shrink their work.

Time budget: ``metadata["xnb"]["budget_s"]`` of the notebook (default 120 s). ``run_notebook`` uses it
as the timeout of every cell *and* the limit of the whole run, kernel start included; the project's
notebooks are executed with ``HANG_GUARD`` × that budget (quick mode on a loaded CI machine can be slow;
the budget itself is measured by ``benchmarks/notebooks.py``). A stalled executor cannot
hide as a slow pass (see ``tests/_jupyter_patch.py``, applied by ``conftest.py``).

Any error output fails the test (also in cells tagged ``raises-exception``). The executed
notebook is written to ``artifacts/notebooks/`` (gitignored) for inspection, also on failure.
Committed notebooks must carry no outputs (``make strip``): that, and the pairing of every notebook
with its Jupytext script ``notebooks/NN_name.py``, is checked by ``tests/test_jupytext.py``.
"""
from __future__ import annotations

import asyncio
import os
import sys
import time
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from queue import Empty
from typing import Any

import nbformat
import pytest
from jupyter_client.kernelspec import KernelSpec, KernelSpecManager
from jupyter_client.manager import AsyncKernelManager
from nbclient import NotebookClient
from traitlets import default
from nbclient.exceptions import CellControlSignal, CellExecutionError, CellTimeoutError, DeadKernelError

import _jupyter_patch

ROOT = Path(__file__).resolve().parent.parent
NOTEBOOK_DIR = ROOT / "notebooks"
ARTIFACT_DIR = ROOT / "artifacts" / "notebooks"
DEFAULT_BUDGET_S = 120.0
#: the notebook tests' time-out is this many times the notebook's budget (a hang guard, not a budget)
HANG_GUARD = 3.0
KERNEL_NAME = "python3"


# --------------------------------------------------------------------------------------------
# The runner
# --------------------------------------------------------------------------------------------


def committed_notebooks(directory: Path = NOTEBOOK_DIR) -> list[Path]:
    """``directory/*.ipynb``, sorted, without Jupyter's checkpoint copies."""
    return sorted(
        p
        for p in directory.glob("*.ipynb")
        if ".ipynb_checkpoints" not in p.parts and not p.stem.endswith("-checkpoint")
    )


def notebook_budget(nb: Any) -> float:
    """Seconds allowed for the notebook: ``metadata.xnb.budget_s``, default 120."""
    budget = (nb.get("metadata", {}).get("xnb") or {}).get("budget_s", DEFAULT_BUDGET_S)
    return float(budget)


class ThisInterpreterKernelSpecManager(KernelSpecManager):
    """Resolves every kernel name to ipykernel running on ``sys.executable``.

    A ``python3`` kernelspec found first in ``~/.local/share/jupyter`` or ``/usr/share/jupyter``
    may point at another Python without xnb installed; this one cannot.
    """

    def get_kernel_spec(self, kernel_name: str) -> KernelSpec:
        return KernelSpec(
            argv=[sys.executable, "-m", "ipykernel_launcher", "-f", "{connection_file}"],
            display_name=f"Python 3 ({sys.executable})",
            language="python",
            name=KERNEL_NAME,
            metadata={"debugger": False},
        )


class ThisInterpreterKernelManager(AsyncKernelManager):
    """nbclient creates (and so owns and shuts down) one of these per notebook."""

    @default("kernel_spec_manager")
    def _kernel_spec_manager_default(self) -> KernelSpecManager:
        return ThisInterpreterKernelSpecManager()


def kernel_env(extra: dict[str, str] | None = None) -> dict[str, str]:
    env = dict(os.environ)
    env["XNB_TEST"] = "1"
    # tqdm.notebook bars cost ~1 s per update under headless executors (seen: a 4 s fit took 20 s)
    env["TQDM_DISABLE"] = "1"
    # Quieter kernels: no debugpy "frozen modules" warning, no jupyter_core path warning.
    env.setdefault("PYDEVD_DISABLE_FILE_VALIDATION", "1")
    env.setdefault("JUPYTER_PLATFORM_DIRS", "1")
    env.update(extra or {})
    return env


@dataclass
class NotebookRun:
    path: Path
    executed: Any
    budget_s: float
    wall_s: float
    saved_to: Path
    exception: BaseException | None = None
    errors: list[str] = field(default_factory=list)

    def problems(self) -> list[str]:
        out = []
        if self.exception is not None:
            out.append(f"{type(self.exception).__name__}: {self.exception}")
        out += self.errors
        if self.wall_s > self.budget_s:
            out.append(f"took {self.wall_s:.1f} s, over its budget of {self.budget_s:g} s")
        return out

    def check(self) -> None:
        problems = self.problems()
        if problems:
            pytest.fail(
                f"{self.path.name} (executed copy: {self.saved_to}):\n" + "\n".join(problems),
                pytrace=False,
            )


def error_outputs(nb: Any) -> list[str]:
    """One line per error output in the executed notebook."""
    found = []
    for index, cell in enumerate(nb.get("cells", [])):
        for output in cell.get("outputs", []) if cell.get("cell_type") == "code" else []:
            if output.get("output_type") == "error":
                found.append(f"cell {index}: {output.get('ename')}: {output.get('evalue')}")
    return found


def run_notebook(
    path: Path,
    *,
    cwd: Path | None = None,
    artifact_dir: Path = ARTIFACT_DIR,
    budget_s: float | None = None,
    env: dict[str, str] | None = None,
) -> NotebookRun:
    """Execute ``path`` headless and return what happened (never raises on notebook errors)."""
    path = Path(path)
    nb = nbformat.read(path, as_version=4)
    budget = notebook_budget(nb) if budget_s is None else float(budget_s)
    client = NotebookClient(
        nb,
        kernel_manager_class=ThisInterpreterKernelManager,
        kernel_name=KERNEL_NAME,
        timeout=budget,
        startup_timeout=60,
        allow_errors=False,
        record_timing=True,
        resources={"metadata": {"path": str(cwd or path.parent)}},
    )
    artifact_dir.mkdir(parents=True, exist_ok=True)
    saved_to = artifact_dir / path.name
    exception: BaseException | None = None
    start = time.monotonic()
    try:
        client.execute(env=kernel_env(env))
    except (CellExecutionError, CellTimeoutError, DeadKernelError, CellControlSignal, RuntimeError) as exc:
        exception = exc
    finally:
        wall = time.monotonic() - start
        nb.metadata.setdefault("xnb", {})["test_run"] = {
            "wall_s": round(wall, 2),
            "budget_s": budget,
            "python": sys.executable,
        }
        nbformat.write(nb, saved_to)
    return NotebookRun(
        path=path,
        executed=nb,
        budget_s=budget,
        wall_s=wall,
        saved_to=saved_to,
        exception=exception,
        errors=error_outputs(nb),
    )


# --------------------------------------------------------------------------------------------
# The project's notebooks
# --------------------------------------------------------------------------------------------

NOTEBOOKS = committed_notebooks()


@pytest.mark.notebook
@pytest.mark.slow
@pytest.mark.parametrize("path", NOTEBOOKS, ids=[p.name for p in NOTEBOOKS])
def test_notebook_executes(path: Path) -> None:
    """Runs in quick mode (XNB_TEST=1) under a hang guard of HANG_GUARD × the notebook's budget: a loaded
    CI machine may be slow, a stalled one must not pass. The Binder budget itself (60 s, 1.5 GB at full
    size) is measured and printed by ``benchmarks/notebooks.py``; here an overrun is only a warning."""
    budget = notebook_budget(nbformat.read(path, as_version=4))
    run = run_notebook(path, cwd=NOTEBOOK_DIR, budget_s=HANG_GUARD * budget)
    run.check()
    if run.wall_s > budget:
        warnings.warn(f"{path.name}: {run.wall_s:.0f} s in quick mode, over its {budget:g} s budget "
                      f"(a loaded machine? see benchmarks/notebooks.py)", stacklevel=1)


@pytest.mark.parametrize("path", NOTEBOOKS, ids=[p.name for p in NOTEBOOKS])
def test_notebook_budget_metadata_is_valid(path: Path) -> None:
    nb = nbformat.read(path, as_version=4)
    budget = notebook_budget(nb)
    assert 0 < budget <= 600, f"{path.name}: metadata.xnb.budget_s={budget} (want 0 < s <= 600)"


# --------------------------------------------------------------------------------------------
# The runner's own tests (tiny generated notebooks in tmp_path)
# --------------------------------------------------------------------------------------------


def _write_notebook(path: Path, sources: list[str], budget_s: float | None = None) -> Path:
    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_code_cell(src) for src in sources]
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    if budget_s is not None:
        nb.metadata["xnb"] = {"budget_s": budget_s}
    nbformat.write(nb, path)
    return path


OUTPUT_WIDGET_CELLS = [
    "import ipywidgets as widgets\nout = widgets.Output()\nout",
    "with out:\n    print('first write')",
    "with out:\n    out.clear_output()\n    print('second write')",
    "with out:\n    print('third write')\nprint('done')",
]


def test_jupyter_patch_is_applied() -> None:
    assert _jupyter_patch.is_applied(), "conftest.py should have applied tests/_jupyter_patch.py"


@pytest.mark.notebook
def test_output_widget_notebook_does_not_stall(tmp_path: Path) -> None:
    """Writing into an Output widget used to stall each such cell until the cell timeout."""
    path = _write_notebook(tmp_path / "output_widget.ipynb", OUTPUT_WIDGET_CELLS, budget_s=60)
    run = run_notebook(path, artifact_dir=tmp_path / "artifacts")
    run.check()
    assert run.wall_s < 30, f"took {run.wall_s:.1f} s with a 60 s timeout: the Output-widget stall is back"
    # nbclient's mock Output widget routed the writes into the widget, not into the cells.
    assert run.executed.cells[3].outputs[-1]["text"] == "done\n"
    assert not any(o.get("text") == "first write\n" for o in run.executed.cells[1].outputs)


def test_runner_sets_cwd_env_and_uses_this_interpreter(tmp_path: Path) -> None:
    workdir = tmp_path / "work"
    workdir.mkdir()
    path = _write_notebook(
        tmp_path / "env.ipynb",
        [
            "import os, sys\n"
            f"assert os.environ.get('XNB_TEST') == '1'\n"
            f"assert os.getcwd() == {str(workdir)!r}, os.getcwd()\n"
            f"assert sys.executable == {sys.executable!r}, sys.executable\n"
            "print('ok')"
        ],
    )
    run = run_notebook(path, cwd=workdir, artifact_dir=tmp_path / "artifacts")
    run.check()
    assert run.saved_to.exists()
    saved = nbformat.read(run.saved_to, as_version=4)
    assert saved.cells[0].outputs[0]["text"] == "ok\n"
    assert saved.metadata["xnb"]["test_run"]["budget_s"] == DEFAULT_BUDGET_S


def test_runner_reports_errors(tmp_path: Path) -> None:
    path = _write_notebook(tmp_path / "boom.ipynb", ["x = 1", "raise ValueError('boom')", "y = 2"])
    run = run_notebook(path, artifact_dir=tmp_path / "artifacts")
    assert isinstance(run.exception, CellExecutionError)
    assert run.errors == ["cell 1: ValueError: boom"]
    assert run.saved_to.exists()  # saved for inspection even when it fails


def test_runner_fails_error_outputs_even_when_tagged(tmp_path: Path) -> None:
    path = _write_notebook(tmp_path / "tagged.ipynb", ["raise KeyError('k')", "print(1)"])
    nb = nbformat.read(path, as_version=4)
    nb.cells[0].metadata["tags"] = ["raises-exception"]
    nbformat.write(nb, path)
    run = run_notebook(path, artifact_dir=tmp_path / "artifacts")
    assert run.exception is None
    assert run.errors == ["cell 0: KeyError: 'k'"]
    assert run.problems()


def test_runner_enforces_budget(tmp_path: Path) -> None:
    path = _write_notebook(tmp_path / "slow.ipynb", ["import time\ntime.sleep(30)"], budget_s=3)
    start = time.monotonic()
    run = run_notebook(path, artifact_dir=tmp_path / "artifacts")
    assert time.monotonic() - start < 25
    assert isinstance(run.exception, CellTimeoutError)
    assert run.problems()


def test_committed_notebooks_listing_skips_checkpoints(tmp_path: Path) -> None:
    (tmp_path / ".ipynb_checkpoints").mkdir()
    for name in ("b.ipynb", "a.ipynb", "a-checkpoint.ipynb", ".ipynb_checkpoints/a-checkpoint.ipynb"):
        (tmp_path / name).write_text("{}")
    (tmp_path / "notes.txt").write_text("")
    (tmp_path / "a.py").write_text("# %%\n")  # a notebook's Jupytext pair is not a notebook
    assert [p.name for p in committed_notebooks(tmp_path)] == ["a.ipynb", "b.ipynb"]


def test_notebook_budget_default_and_override() -> None:
    assert notebook_budget({"metadata": {}}) == DEFAULT_BUDGET_S
    assert notebook_budget({"metadata": {"xnb": {"budget_s": 45}}}) == 45.0


# --------------------------------------------------------------------------------------------
# The stall fix itself, at the socket level (deterministic, no kernel)
# --------------------------------------------------------------------------------------------


async def _reply_after_swallowed_wakeup(get_msg: Any, timeout: float) -> tuple[str, float]:
    """Reproduce nbclient#312 with two sockets: the client awaits a reply, the reply arrives,
    then the client *sends* on the same socket (as nbclient's Output-widget echo does) before
    the event loop has seen the wake-up. Returns (what get_msg gave, seconds it took)."""
    import zmq
    import zmq.asyncio
    from jupyter_client.channels import AsyncZMQSocketChannel
    from jupyter_client.session import Session

    ctx = zmq.asyncio.Context()
    kernel = ctx.socket(zmq.ROUTER)
    client = ctx.socket(zmq.DEALER)
    try:
        port = kernel.bind_to_random_port("tcp://127.0.0.1")
        client.connect(f"tcp://127.0.0.1:{port}")
        session = Session()
        channel = AsyncZMQSocketChannel(client, session)
        session.send(client, "execute_request", {"code": ""})
        idents, _ = session.recv(zmq.Socket.shadow(kernel.underlying), mode=0)  # blocking

        start = time.monotonic()
        waiting = asyncio.ensure_future(get_msg(channel, timeout=timeout))
        await asyncio.sleep(0.05)  # the reply task is now parked in socket.poll
        session.send(kernel, "execute_reply", {"status": "ok"}, ident=idents)
        time.sleep(0.05)  # blocking on purpose: the reply lands, the socket's fd edge is raised
        session.send(client, "comm_msg", {"comm_id": "x", "data": {}})  # swallows that edge
        try:
            result = (await waiting)["header"]["msg_type"]
        except Empty:
            result = "Empty"
        return result, time.monotonic() - start
    finally:
        client.close(linger=0)
        kernel.close(linger=0)
        ctx.term()


def test_sliced_get_msg_survives_swallowed_wakeup() -> None:
    from jupyter_client.channels import AsyncZMQSocketChannel

    got, took = asyncio.run(_reply_after_swallowed_wakeup(AsyncZMQSocketChannel.get_msg, timeout=5))
    assert got == "execute_reply"
    assert took < 1.0, f"patched get_msg took {took:.2f} s"


def test_unpatched_get_msg_still_stalls() -> None:
    """Documents why the patch exists; skips (does not fail) once jupyter_client is fixed."""
    original = _jupyter_patch._original
    if original is None:
        pytest.skip("patch not applied by conftest")
    got, took = asyncio.run(_reply_after_swallowed_wakeup(original, timeout=1.0))
    if took < 0.9:
        pytest.skip(f"jupyter_client's own get_msg no longer stalls ({took:.2f} s): the patch may go")
    assert got in {"execute_reply", "Empty"}


def test_sliced_get_msg_timeouts() -> None:
    import zmq
    import zmq.asyncio
    from jupyter_client.channels import AsyncZMQSocketChannel
    from jupyter_client.session import Session

    async def main() -> None:
        ctx = zmq.asyncio.Context()
        a, b = ctx.socket(zmq.PAIR), ctx.socket(zmq.PAIR)
        try:
            port = a.bind_to_random_port("tcp://127.0.0.1")
            b.connect(f"tcp://127.0.0.1:{port}")
            session = Session()
            channel = AsyncZMQSocketChannel(b, session)
            start = time.monotonic()
            with pytest.raises(Empty):
                await channel.get_msg(timeout=0.3)
            assert 0.28 <= time.monotonic() - start < 1.0
            with pytest.raises(Empty):
                await channel.get_msg(timeout=0)
            session.send(a, "status", {"execution_state": "idle"})
            msg = await channel.get_msg(timeout=5)
            assert msg["content"] == {"execution_state": "idle"}
            session.send(a, "status", {"execution_state": "busy"})
            await asyncio.sleep(0.2)
            assert await channel.msg_ready()
            msg = await channel.get_msg(timeout=None)  # no deadline: waits, returns when ready
            assert msg["content"] == {"execution_state": "busy"}
        finally:
            a.close(linger=0)
            b.close(linger=0)
            ctx.term()

    asyncio.run(main())
