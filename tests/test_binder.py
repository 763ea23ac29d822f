"""The Binder set-up: what repo2docker builds from binder/, and ``make binder-url``.

repo2docker (``jupyter-repo2docker``, in the ``test`` extra) renders the Dockerfile mybinder.org
would build -- the Python equivalent of ``jupyter-repo2docker --no-build .`` -- without Docker
or network. These tests skip, saying why, when repo2docker cannot be imported.
"""
from __future__ import annotations

import contextlib
import io
import os
import re
import subprocess
import sys
import warnings
from pathlib import Path

import pytest
from _scripts import load_script

ROOT = Path(__file__).resolve().parent.parent


binder_url = load_script("binder_url")

try:
    with warnings.catch_warnings():  # its json logger's import-time DeprecationWarning
        warnings.simplefilter("ignore", DeprecationWarning)
        from repo2docker.app import Repo2Docker
        from repo2docker.buildpacks import CondaBuildPack

    _R2D_ERROR = None
except Exception as e:  # ImportError, or a broken install
    Repo2Docker = CondaBuildPack = None  # type: ignore[assignment,misc]
    _R2D_ERROR = f"{type(e).__name__}: {e}"

needs_repo2docker = pytest.mark.skipif(
    _R2D_ERROR is not None,
    reason=f"repo2docker cannot be imported ({_R2D_ERROR}); `pip install jupyter-repo2docker` "
    "(in xnb's test extra) to check the Binder build",
)

# --------------------------------------------------------------------------------------------
# repo2docker
# --------------------------------------------------------------------------------------------


@contextlib.contextmanager
def _cwd(path: Path):
    old = os.getcwd()
    os.chdir(path)
    try:
        yield
    finally:
        os.chdir(old)


def _repo2docker() -> "Repo2Docker":
    # mybinder.org builds as uid 1000 (repo2docker refuses root outside dry runs)
    r2d = Repo2Docker(repo=str(ROOT), dry_run=True, run=False, push=False, user_id=1000, user_name="jovyan")
    r2d.initialize()
    return r2d


@pytest.fixture(scope="module")
def dockerfile() -> str:
    """The Dockerfile repo2docker renders for this checkout (``--no-build``)."""
    if _R2D_ERROR is not None:
        pytest.skip(f"repo2docker cannot be imported ({_R2D_ERROR})")
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        _repo2docker().build()
    text = out.getvalue()
    print(f"repo2docker rendered a {len(text.splitlines())}-line Dockerfile")
    return text


@needs_repo2docker
def test_repo2docker_picks_the_conda_buildpack_from_binder() -> None:
    r2d = _repo2docker()
    with _cwd(ROOT):  # repo2docker detects from the working directory, as in build()
        picked = next(bp for bp in (BP(base_image=r2d.base_image) for BP in r2d.buildpacks) if bp.detect())
        assert type(picked) is CondaBuildPack, f"repo2docker would use {type(picked).__name__}"
        assert picked.binder_dir == "binder", "with binder/ present, only binder/ is read"
        assert picked.binder_path("environment.yml") == os.path.join("binder", "environment.yml")
        assert picked.python_version == "3.11", "the python= pin of binder/environment.yml"


@needs_repo2docker
def test_dockerfile_installs_binder_environment_yml(dockerfile: str) -> None:
    assert re.search(r"^COPY .*\bsrc/binder/environment\.yml ", dockerfile, re.M), dockerfile
    assert re.search(r"env update .*binder/environment\.yml", dockerfile), dockerfile
    # the top-level environment.yml (for conda users) is not what Binder installs
    assert "src/environment.yml" not in dockerfile
    assert not re.search(r'--file "?environment\.yml', dockerfile)


@needs_repo2docker
def test_dockerfile_runs_postbuild_after_the_environment(dockerfile: str) -> None:
    lines = dockerfile.splitlines()
    postbuild = lines.index("RUN ./binder/postBuild")
    env_update = next(i for i, line in enumerate(lines) if "binder/environment.yml" in line and "env update" in line)
    copy_all = next(i for i, line in enumerate(lines) if re.match(r"COPY .*\bsrc/ \$\{REPO_DIR\}/?$", line))
    # The conda layer comes before the whole repository is copied, so it stays cached until
    # binder/environment.yml changes (binder/postBuild's comment relies on this).
    assert env_update < copy_all < postbuild


# --------------------------------------------------------------------------------------------
# make binder-url
# --------------------------------------------------------------------------------------------

URL = "https://mybinder.org/v2/gh/octo/xnb/HEAD?urlpath=lab/tree/notebooks/00_tour.ipynb"


@pytest.mark.parametrize(
    "remote",
    [
        "https://github.com/octo/xnb",
        "https://github.com/octo/xnb.git",
        "https://github.com/octo/xnb/",
        "https://user@github.com/octo/xnb.git",
        "git@github.com:octo/xnb.git",
        "git@github.com:octo/xnb",
        "ssh://git@github.com/octo/xnb.git",
        "ssh://git@github.com:22/octo/xnb",
        "  https://github.com/octo/xnb.git\n",
    ],
)
def test_github_remote_to_binder_url(remote: str) -> None:
    assert binder_url.binder_url(remote) == URL


def test_repo_names_with_dots_and_dashes() -> None:
    assert binder_url.owner_repo("git@github.com:my-org/x.nb-2.git") == ("my-org", "x.nb-2")


@pytest.mark.parametrize(
    "remote", [None, "", "https://gitlab.com/octo/xnb.git", "/srv/git/xnb.git", "https://github.com/octo"]
)
def test_no_github_remote_gives_no_url(remote: str | None) -> None:
    assert binder_url.binder_url(remote) is None


def test_message_without_a_remote_prints_the_pattern() -> None:
    text = binder_url.message(None)
    assert "no `origin` git remote" in text
    assert text.splitlines()[-1] == (
        "https://mybinder.org/v2/gh/OWNER/REPO/HEAD?urlpath=lab/tree/notebooks/00_tour.ipynb"
    )
    assert "not a GitHub repository" in binder_url.message("https://gitlab.com/octo/xnb.git")
    assert binder_url.message("git@github.com:octo/xnb.git") == URL


def test_notebook_in_the_url_exists() -> None:
    assert (ROOT / binder_url.NOTEBOOK).is_file()


def _git(*args: str, cwd: Path) -> None:
    subprocess.run(["git", *args], cwd=cwd, check=True, capture_output=True)


@pytest.mark.parametrize("origin", [None, "git@github.com:octo/xnb.git"])
def test_origin_url_reads_git(tmp_path: Path, origin: str | None) -> None:
    try:
        _git("init", "-q", cwd=tmp_path)
    except (OSError, subprocess.CalledProcessError) as e:
        pytest.skip(f"git unavailable: {e}")
    if origin:
        _git("remote", "add", "origin", origin, cwd=tmp_path)
    assert binder_url.origin_url(tmp_path) == origin
    assert binder_url.origin_url(tmp_path / "no-such-dir") is None


def test_script_runs_and_exits_0() -> None:
    out = subprocess.run(
        [sys.executable, str(ROOT / "scripts" / "binder_url.py")], capture_output=True, text=True, check=True
    )
    assert out.stdout.strip().splitlines()[-1].startswith("https://mybinder.org/v2/gh/")
