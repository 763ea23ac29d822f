#!/usr/bin/env python3
"""Generate the conda / Binder environment files from pyproject.toml (``make sync-deps``).

pyproject.toml is the single source of truth for xnb's dependencies. This script renders

* ``environment.yml``          -- for conda users: conda-forge only, CPU-only PyTorch
                                  (``pytorch-cpu``), every runtime dependency under its
                                  conda-forge name with the same bounds, then a pip section
                                  with the packages conda-forge lacks or lags on (``captum``)
                                  and ``-e .`` of this checkout;
* ``binder/environment.yml``   -- what repo2docker (mybinder.org) installs: the same conda
                                  packages, no pip section;
* ``binder/postBuild``         -- installs those pip packages and xnb itself with
                                  ``pip install --no-deps``, then runs ``pip check``
                                  (why there and not in a pip section: see ``POSTBUILD_WHY``).

A package installed by pip with ``--no-deps`` (``FromPip`` in ``CONDA_NAMES``) lists its own
requirements, which are added to the conda packages when pyproject.toml does not already have
them (``packaging`` for captum), so that ``pip check`` passes and pip never downloads PyPI's
CUDA torch.

``[project] dependencies`` (runtime) and the ``lab`` extra (JupyterLab, Voila: the notebooks'
front ends) are rendered; the other extras (``test``, ``docs``) are not.
tests/test_deps.py fails when the committed files differ from what ``render()`` returns, so
adding a dependency to pyproject.toml without running this script breaks the test suite.

    python scripts/sync_deps.py           # (re)write the files
    python scripts/sync_deps.py --check   # exit 1 if any file is out of date

Standard library only (tomllib, Python >= 3.11; falls back to ``tomli`` on 3.10).
"""
from __future__ import annotations

import argparse
import re
import sys
from pathlib import Path
from typing import NamedTuple

try:
    import tomllib
except ModuleNotFoundError:  # Python 3.10
    import tomli as tomllib  # type: ignore[no-redef]

ROOT = Path(__file__).resolve().parent.parent

#: Python of the conda environments (repo2docker picks its base image from this pin).
CONDA_PYTHON = "3.11"
CONDA_CHANNELS = ("conda-forge", "nodefaults")


class FromPip(NamedTuple):
    """A dependency that is on conda-forge but too old there, so pip installs it from PyPI.

    It goes to environment.yml's pip section and to binder/postBuild's
    ``pip install --no-deps``; its own runtime requirements (``requires``, PyPI requirement
    strings as in its wheel's ``Requires-Dist``, extras left out) are then conda's job: each
    is mapped through CONDA_NAMES and added to the conda packages unless pyproject.toml
    already lists it. tests/test_deps.py compares ``requires`` with the installed
    distribution's metadata and checks that the conda bounds satisfy every one of them.
    """

    conda_name: str  # its conda-forge name, for the day the feedstock catches up
    why: str  # one line: why not conda-forge (rendered into the generated files)
    requires: tuple[str, ...]

#: PyPI name (PEP 503-normalised) -> conda-forge package name. Every runtime dependency of
#: pyproject.toml must be listed; the script refuses to guess. ``None`` means "not on
#: conda-forge" and ``FromPip(...)`` "on conda-forge, but too old there": both are installed by
#: pip (in environment.yml's pip section and, with --no-deps, in binder/postBuild).
CONDA_NAMES: dict[str, str | FromPip | None] = {
    # CPU-only PyTorch: the conda-forge metapackage pinning the CPU build of `pytorch`
    # (same version numbers as torch). torchvision then resolves to its CPU build.
    "torch": "pytorch-cpu",
    "torchvision": "torchvision",
    # pip install --no-deps 'captum>=0.8' installs 0.9.0, whose Requires-Dist is below
    # (0.8.0's also had numpy<2.0, which conda-forge's numpy 2.x would break).
    "captum": FromPip(
        "captum",
        why="conda-forge lags at 0.7.0 (no 0.8 release in its feedstock), xnb needs >=0.8",
        requires=("matplotlib", "numpy", "packaging", "torch>=2.3", "tqdm"),
    ),
    "numpy": "numpy",
    "scipy": "scipy",
    "scikit-learn": "scikit-learn",
    "scikit-image": "scikit-image",
    # The *-base packages are the plain libraries; `matplotlib` / `seaborn` on conda-forge
    # are metapackages that add a Qt GUI stack / statsmodels, which pip's wheels do not.
    "matplotlib": "matplotlib-base",
    "seaborn": "seaborn-base",
    "pandas": "pandas",
    "pillow": "pillow",
    "tqdm": "tqdm",
    "packaging": "packaging",
    "voila": "voila",
    "pyyaml": "pyyaml",
    "requests": "requests",
    "ipywidgets": "ipywidgets",
    "ipykernel": "ipykernel",
    "ipympl": "ipympl",
    "jupyterlab": "jupyterlab",
    "notebook": "notebook",
    "voila": "voila",
    "jupytext": "jupytext",
    "nbstripout": "nbstripout",
    "nbclient": "nbclient",
    "nbformat": "nbformat",
    "pytest": "pytest",
    "opencv-python": "py-opencv",
    "opencv-python-headless": "py-opencv",
    "torchray": None,
    "spgl1": None,
}

HEADER = (
    "GENERATED from pyproject.toml by scripts/sync_deps.py -- do not edit by hand.",
    "Change the dependencies in pyproject.toml, then run `make sync-deps`;",
    "tests/test_deps.py fails while this file is out of date.",
)

POSTBUILD_WHY = (
    "repo2docker runs this script after it has installed binder/environment.yml, as the",
    "notebook user, with the repository root as working directory, so `.` is this checkout.",
    "The pip packages and xnb are installed here rather than from a `pip:` section of",
    "binder/environment.yml:",
    "  * `--no-deps` cannot be written in a `pip:` section (conda writes that section to a",
    "    temporary requirements file for `pip install -r`, and pip rejects --no-deps there:",
    "    it is not one of the options a requirements file may carry); with it, every",
    "    dependency is guaranteed to come from conda-forge (CPU-only PyTorch) and pip never",
    "    reaches for PyPI's multi-GB CUDA torch wheel;",
    "  * a local path (`-e ..`) in that section makes repo2docker copy the whole repository",
    "    before installing the environment, so every commit would rebuild the conda layer;",
    "    without one, the environment layer is cached until binder/environment.yml changes;",
    "  * relative paths in a `pip:` section are resolved by the conda front end (micromamba on",
    "    repo2docker), not documented for it; here the working directory is known.",
)

_REQ_RE = re.compile(
    r"""^\s*(?P<name>[A-Za-z0-9](?:[A-Za-z0-9._-]*[A-Za-z0-9])?)\s*
        (?:\[(?P<extras>[^\]]*)\])?\s*
        (?P<spec>[^;]*?)\s*
        (?:;\s*(?P<marker>.+?))?\s*$""",
    re.VERBOSE,
)
_CLAUSE_RE = re.compile(r"^\s*(?P<op>===|==|!=|~=|<=|>=|<|>)\s*(?P<version>[A-Za-z0-9.*+!_-]+)\s*$")


def normalize(name: str) -> str:
    """PEP 503 normalised project name."""
    return re.sub(r"[-_.]+", "-", name).lower()


def parse_requirement(req: str) -> tuple[str, list[tuple[str, str]]]:
    """``"torch>=2.3,<2.15"`` -> ``("torch", [(">=", "2.3"), ("<", "2.15")])``.

    Extras and environment markers cannot be expressed in a conda environment file; such
    requirements are rejected so that nobody is surprised by a silently dropped condition.
    """
    m = _REQ_RE.match(req)
    if not m:
        raise ValueError(f"cannot parse requirement {req!r}")
    if m["extras"]:
        raise ValueError(f"{req!r}: extras cannot be mapped to conda; list the extra's packages instead")
    if m["marker"]:
        raise ValueError(f"{req!r}: environment markers cannot be mapped to conda")
    spec = m["spec"].strip()
    if spec.startswith("(") and spec.endswith(")"):
        spec = spec[1:-1]
    if spec.startswith("@"):
        raise ValueError(f"{req!r}: direct URL requirements cannot be mapped to conda")
    clauses = []
    for clause in filter(None, (c.strip() for c in spec.split(","))):
        cm = _CLAUSE_RE.match(clause)
        if not cm:
            raise ValueError(f"{req!r}: cannot parse version clause {clause!r}")
        clauses.append((cm["op"], cm["version"]))
    return normalize(m["name"]), clauses


def conda_clauses(clauses: list[tuple[str, str]]) -> list[str]:
    """Translate PEP 440 clauses to conda MatchSpec version clauses (same meaning)."""
    out = []
    for op, version in clauses:
        if op == "===":
            raise ValueError(f"arbitrary equality '==={version}' has no conda equivalent")
        if op == "~=":
            # ~=X.Y -> >=X.Y,<X+1 ; ~=X.Y.Z -> >=X.Y.Z,<X.Y+1
            parts = version.split(".")
            if len(parts) < 2 or not all(p.isdigit() for p in parts):
                raise ValueError(f"cannot translate '~={version}'")
            upper = parts[:-1]
            upper[-1] = str(int(upper[-1]) + 1)
            out += [f">={version}", f"<{'.'.join(upper)}"]
        elif op == "==" and version.endswith(".*"):
            out.append(f"={version[:-2]}")  # conda's fuzzy `=1.2` is PEP 440's ==1.2.*
        elif op == "!=" and version.endswith(".*"):
            raise ValueError(f"'!={version}' has no conda equivalent")
        else:
            out.append(f"{op}{version}")
    return out


def _entry(pypi_name: str) -> str | FromPip | None:
    name = normalize(pypi_name)
    if name not in CONDA_NAMES:
        raise KeyError(
            f"runtime dependency {pypi_name!r} has no entry in CONDA_NAMES of scripts/sync_deps.py: "
            "add its conda-forge name (or None if it is only on PyPI)"
        )
    return CONDA_NAMES[name]


def conda_name(pypi_name: str) -> str | None:
    """The conda-forge package to install for ``pypi_name``; None when pip installs it."""
    entry = _entry(pypi_name)
    return entry if isinstance(entry, str) else None


def from_pip(pypi_name: str) -> FromPip | None:
    """The FromPip entry of a package conda-forge has, but too old; else None."""
    entry = _entry(pypi_name)
    return entry if isinstance(entry, FromPip) else None


#: Extras the conda environments carry too: conda and Binder users open the notebooks, so they
#: get the front ends that pip users ask for with ``xnb[lab]``.
ENV_EXTRAS = ("lab",)


def runtime_requirements(root: Path = ROOT) -> list[str]:
    """``[project] dependencies`` then the ``ENV_EXTRAS`` extras (self-references skipped)."""
    with open(root / "pyproject.toml", "rb") as f:
        project = tomllib.load(f)["project"]
    reqs = list(project["dependencies"])
    extras = project.get("optional-dependencies", {})
    for extra in ENV_EXTRAS:
        reqs += [r for r in extras.get(extra, []) if normalize(parse_requirement(r)[0]) != "xnb"]
    return reqs


def conda_and_pip_specs(root: Path = ROOT) -> tuple[list[str], list[str]]:
    """Conda-forge match specs and pip-installed requirement strings, in pyproject order.

    The requirements of ``FromPip`` packages that pyproject.toml does not list come last in
    the conda list (pip installs those packages with --no-deps, so conda must provide them).
    """
    conda, pip = [], []
    in_conda: set[str] = set()
    needed: list[tuple[str, str]] = []  # (requirement of a FromPip package, which package)
    for req in runtime_requirements(root):
        name, clauses = parse_requirement(req)
        cname = conda_name(name)
        if cname is None:
            pip.append(name + ",".join(f"{op}{v}" for op, v in clauses))
            entry = from_pip(name)
            needed += [(r, name) for r in (entry.requires if entry else ())]
        else:
            conda.append(cname + ",".join(conda_clauses(clauses)))
            in_conda.add(cname)
    for req, owner in needed:
        name, clauses = parse_requirement(req)
        cname = conda_name(name)
        if cname is None:
            raise ValueError(
                f"{owner} (installed by pip with --no-deps) requires {req!r}, which conda-forge "
                "cannot provide: pip check would fail"
            )
        if cname not in in_conda:  # already there: tests/test_deps.py checks the bounds agree
            conda.append(cname + ",".join(conda_clauses(clauses)))
            in_conda.add(cname)
    return conda, pip


def pip_reasons(root: Path = ROOT) -> list[str]:
    """One comment line per FromPip runtime dependency: why pip, and what conda provides."""
    out = []
    for req in runtime_requirements(root):
        entry = from_pip(parse_requirement(req)[0])
        if entry:
            names = ", ".join(parse_requirement(r)[0] for r in entry.requires)
            out += [
                f"  * {normalize(entry.conda_name)}: {entry.why};",
                f"    its requirements ({names}) come from conda-forge.",
            ]
    return out


def _comment(lines: tuple[str, ...] | list[str]) -> str:
    return "".join(f"# {line}".rstrip() + "\n" for line in lines)


def _yaml_env(name: str, conda: list[str], pip: list[str]) -> str:
    text = f"name: {name}\nchannels:\n"
    text += "".join(f"  - {c}\n" for c in CONDA_CHANNELS)
    text += "dependencies:\n"
    text += f"  - python={CONDA_PYTHON}\n  - pip\n"
    text += "".join(f"  - {spec}\n" for spec in conda)
    if pip:
        text += "  - pip:\n" + "".join(f"      - {spec}\n" for spec in pip)
    return text


def render(root: Path = ROOT) -> dict[str, str]:
    """Return ``{relative path: file content}`` for every generated file."""
    conda, pip_only = conda_and_pip_specs(root)
    reasons = pip_reasons(root)
    from_pypi = ("Packages from PyPI instead of conda-forge:", *reasons) if reasons else ()

    top = _comment(
        HEADER
        + (
            "",
            "Conda environment for xnb (conda-forge only, CPU-only PyTorch). From the repo root:",
            "    conda env create -f environment.yml && conda activate xnb",
            "The pip section then installs the packages conda-forge lacks or lags on, and this",
            "checkout, editable. It cannot say --no-deps (conda hands it to pip as a requirements",
            "file, where that option is not allowed), but every requirement of these packages is",
            "satisfied by the conda packages above, so pip downloads nothing else.",
        )
        + from_pypi
    )
    top += _yaml_env("xnb", conda, pip_only + ["-e ."])

    binder = _comment(
        HEADER
        + (
            "",
            "Read by repo2docker on mybinder.org (with a binder/ folder present, only binder/ is",
            "read). Conda packages only: the packages conda-forge lacks or lags on and xnb itself",
            "are installed by binder/postBuild with `pip install --no-deps` (it says why), then",
            "checked by `pip check`.",
        )
        + from_pypi
    )
    binder += _yaml_env("xnb-binder", conda, [])

    post = "#!/bin/bash\n" + _comment(HEADER + ("",) + POSTBUILD_WHY + from_pypi)
    post += _comment(
        (
            "`pip check` last: it fails the build when a requirement of anything pip installed",
            "with --no-deps is missing from, or out of the bounds of, binder/environment.yml.",
        )
    )
    post += "set -euo pipefail\n"
    if pip_only:
        post += "python -m pip install --no-cache-dir --no-deps " + " ".join(
            f"'{spec}'" for spec in pip_only
        ) + "\n"
    post += "python -m pip install --no-cache-dir --no-deps -e .\n"
    post += "python -m pip check\n"

    return {
        "environment.yml": top,
        "binder/environment.yml": binder,
        "binder/postBuild": post,
    }


#: Generated files that must be executable.
EXECUTABLE = {"binder/postBuild"}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="exit 1 if a file is out of date")
    parser.add_argument("--root", type=Path, default=ROOT, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    stale = 0
    for rel, content in render(args.root).items():
        path = args.root / rel
        current = path.read_text(encoding="utf-8") if path.exists() else None
        if args.check:
            if current != content:
                print(f"out of date: {rel} (run `make sync-deps`)")
                stale += 1
            continue
        if current != content:
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(content, encoding="utf-8")
            print(f"wrote {rel}")
        else:
            print(f"unchanged {rel}")
        if rel in EXECUTABLE:
            path.chmod(path.stat().st_mode | 0o111)
    return 1 if stale else 0


if __name__ == "__main__":
    sys.exit(main())
