"""xnb as a library: the wheel and sdist built from this checkout, installed in a fresh environment.

The wheel is built with ``python -m build --no-isolation`` (offline: the venv's setuptools), installed
with ``pip install --no-deps --target`` into a fresh venv whose only other path entry is this venv's
site-packages *as a plain path* (so the editable install's finder is not loaded, and ``import xnb``
must come from the wheel).
"""
from __future__ import annotations

import subprocess
import sys
import tarfile
import tomllib
import zipfile
from pathlib import Path

import pytest

import xnb
from xnb import notebooks

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOK_NAMES = sorted(p.name for p in (ROOT / "notebooks").glob("*.ipynb"))


@pytest.fixture(scope="module")
def dist(tmp_path_factory):
    pytest.importorskip("build", reason="the `build` package (test extra) builds the wheel and sdist")
    out = tmp_path_factory.mktemp("dist")
    proc = subprocess.run([sys.executable, "-m", "build", "--no-isolation", "--sdist", "--wheel",
                           "--outdir", str(out), str(ROOT)], capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    wheel = next(out.glob("xnb-*.whl"))
    sdist = next(out.glob("xnb-*.tar.gz"))
    return wheel, sdist


def test_wheel_carries_weights_cards_notebooks_types_and_license(dist):
    wheel, _ = dist
    names = zipfile.ZipFile(wheel).namelist()
    assert sorted(n.split("/")[-1] for n in names if n.startswith("xnb/_notebooks/")) == NOTEBOOK_NAMES
    for f in ["xnb/py.typed", "xnb/weights/cards.json", "xnb/weights/flowers-single.pt",
              "xnb/weights/flowers-single-easy.pt"]:
        assert f in names, f
    assert any(n.endswith(".dist-info/licenses/LICENSE") for n in names)
    assert not any(n.startswith(("tests/", "notebooks/")) for n in names)


def test_wheel_metadata(dist):
    wheel, _ = dist
    z = zipfile.ZipFile(wheel)
    meta = z.read(next(n for n in z.namelist() if n.endswith(".dist-info/METADATA"))).decode()
    assert f"Version: {xnb.__version__}\n" in meta  # one source for the version
    assert "License-Expression: MIT\n" in meta
    assert "Project-URL: Documentation" in meta and "Classifier: Typing :: Typed" in meta
    requires = [line for line in meta.splitlines() if line.startswith("Requires-Dist:")]
    core = [r for r in requires if "extra ==" not in r]
    assert any("ipywidgets" in r for r in core)
    # JupyterLab and Voila only with the lab extra
    assert not any("jupyterlab" in r or "voila" in r for r in core)
    assert any("jupyterlab" in r and 'extra == "lab"' in r for r in requires)
    entry = z.read(next(n for n in z.namelist() if n.endswith(".dist-info/entry_points.txt"))).decode()
    assert "xnb = xnb.__main__:main" in entry


def test_sdist_can_run_the_tests(dist):
    _, sdist = dist
    names = {n.split("/", 1)[1] for n in tarfile.open(sdist).getnames() if "/" in n}
    for f in ["tests/conftest.py", "tests/_browser.py", "tests/_jupyter_patch.py", "tests/test_notebooks.py",
              "tests/test_jupytext.py", "scripts/ensure_browser.sh", "LICENSE", "Makefile", "setup.py",
              "pyproject.toml", "binder/postBuild", "notebooks/jupytext.toml",
              *[f"notebooks/{n}" for n in NOTEBOOK_NAMES],
              *[f"notebooks/{n.removesuffix('.ipynb')}.py" for n in NOTEBOOK_NAMES]]:  # Jupytext pairs
        assert f in names, f"sdist lacks {f}"


def test_wheel_in_a_fresh_environment_loads_a_model_and_copies_the_notebooks(dist, tmp_path):
    wheel, _ = dist
    env = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(env)], check=True, timeout=120)
    py = env / "bin" / "python"
    site = Path(subprocess.run([str(py), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
                               capture_output=True, text=True, check=True).stdout.strip())
    # the dependencies: this venv's site-packages as a plain path entry (its .pth files, among them
    # the editable xnb's finder, are not processed)
    deps = next(p for p in map(Path, sys.path) if p.name == "site-packages" and (p / "torch").is_dir())
    (site / "zz_deps.pth").write_text(str(deps) + "\n")
    subprocess.run([sys.executable, "-m", "pip", "install", "--quiet", "--no-deps", "--no-index",
                    "--target", str(site), str(wheel)], check=True, timeout=300)
    dest = tmp_path / "my notebooks"
    code = ("import xnb, pathlib; from xnb import models; "
            "m = models.load('flowers-single'); print(xnb.__file__); print(type(m).__name__, m.class_names[0]); "
            "print(models.card('flowers-single')['n_test'])")
    out = subprocess.run([str(py), "-c", code], capture_output=True, text=True, timeout=300, cwd=tmp_path)
    assert out.returncode == 0, out.stderr[-3000:]
    lines = out.stdout.splitlines()
    assert Path(lines[0]).is_relative_to(site), f"xnb came from {lines[0]}, not from the wheel"
    assert lines[1] == "SmallVGG red center" and int(lines[2]) > 0
    cp = subprocess.run([str(py), "-m", "xnb", "notebooks", str(dest)], capture_output=True, text=True,
                        timeout=120, cwd=tmp_path)
    assert cp.returncode == 0, cp.stderr
    assert sorted(p.name for p in dest.glob("*.ipynb")) == NOTEBOOK_NAMES
    assert (dest / "00_tour.ipynb").read_bytes() == (ROOT / "notebooks" / "00_tour.ipynb").read_bytes()


def test_pyproject_single_version_source():
    meta = tomllib.loads((ROOT / "pyproject.toml").read_text())
    assert "version" not in meta["project"] and "version" in meta["project"]["dynamic"]
    assert meta["tool"]["setuptools"]["dynamic"]["version"] == {"attr": "xnb.__version__"}
    assert meta["project"]["license"] == "MIT" and meta["project"]["license-files"] == ["LICENSE"]
    assert (ROOT / "LICENSE").read_text().startswith("MIT License")


# -- xnb.notebooks ------------------------------------------------------------------------------------

def test_copy_writes_every_notebook_and_never_overwrites_silently(tmp_path):
    assert notebooks.names() == NOTEBOOK_NAMES
    written = notebooks.copy(tmp_path / "course")
    assert sorted(p.name for p in written) == NOTEBOOK_NAMES
    edited = tmp_path / "course" / "00_tour.ipynb"
    edited.write_text("my edits")
    with pytest.raises(FileExistsError, match="00_tour.ipynb.*overwrite=True"):
        notebooks.copy(tmp_path / "course")
    assert edited.read_text() == "my edits"
    notebooks.copy(tmp_path / "course", overwrite=True)
    assert edited.read_bytes() == (ROOT / "notebooks" / "00_tour.ipynb").read_bytes()


def test_copy_arguments_are_checked(tmp_path):
    (tmp_path / "file").write_text("x")
    with pytest.raises(NotADirectoryError, match="dest"):
        notebooks.copy(tmp_path / "file")
    with pytest.raises(TypeError, match="dest"):
        notebooks.copy(3)
    with pytest.raises(TypeError, match="overwrite"):
        notebooks.copy(tmp_path / "a", overwrite="yes")


def test_command_line(tmp_path, capsys):
    from xnb.__main__ import main

    assert main(["notebooks", str(tmp_path / "nb")]) == 0
    assert "wrote 7 notebooks" in capsys.readouterr().out
    assert main(["notebooks", str(tmp_path / "nb")]) == 2          # exists: refused, said why
    assert "overwrite" in capsys.readouterr().err
    assert main(["--version"]) == 0 and xnb.__version__ in capsys.readouterr().out
    assert main(["frobnicate"]) == 2 and "unknown command" in capsys.readouterr().err
