"""pyproject.toml is the single source of truth: the conda / Binder files must agree with it.

Checks environment.yml, binder/environment.yml and binder/postBuild against pyproject.toml's
runtime dependencies (names mapped through scripts/sync_deps.py's CONDA_NAMES table, bounds
compared as PEP 440 specifier sets), and that they are exactly what the generator renders
now -- so adding a dependency to pyproject.toml without `make sync-deps` fails here.
"""
from __future__ import annotations

import importlib.util
import os
import re
import shlex
import sys
from pathlib import Path
from typing import Any

import pytest

import yaml
from packaging.requirements import Requirement
from packaging.specifiers import SpecifierSet
from packaging.utils import canonicalize_name
from packaging.version import Version

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

ROOT = Path(__file__).resolve().parent.parent
ENV_FILES = ("environment.yml", "binder/environment.yml")
GENERATED = ("environment.yml", "binder/environment.yml", "binder/postBuild")
HEADER_RE = re.compile(r"^# GENERATED from pyproject\.toml by scripts/sync_deps\.py -- do not edit by hand\.$")


def _load_sync_deps() -> Any:
    spec = importlib.util.spec_from_file_location("xnb_sync_deps", ROOT / "scripts" / "sync_deps.py")
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


sync_deps = _load_sync_deps()


def pyproject() -> dict[str, Any]:
    with open(ROOT / "pyproject.toml", "rb") as f:
        return tomllib.load(f)


def runtime_requirements() -> dict[str, SpecifierSet]:
    """``{normalised PyPI name: specifier}`` of [project] dependencies, parsed by packaging."""
    out = {}
    for line in pyproject()["project"]["dependencies"]:
        req = Requirement(line)
        out[canonicalize_name(req.name)] = _expand_compatible(req.specifier)
    return out


def _expand_compatible(spec: SpecifierSet) -> SpecifierSet:
    """``~=X.Y`` -> ``>=X.Y,<X+1`` (conda has no ~=; the generator expands it the same way)."""
    parts = []
    for s in spec:
        if s.operator == "~=":
            release = s.version.split(".")
            upper = release[:-1]
            upper[-1] = str(int(upper[-1]) + 1)
            parts += [f">={s.version}", f"<{'.'.join(upper)}"]
        else:
            parts.append(str(s))
    return SpecifierSet(",".join(parts))


_CONDA_RE = re.compile(r"^(?P<name>[A-Za-z0-9][A-Za-z0-9._-]*)\s*(?P<spec>[^\s\[]*)$")


def conda_to_specifier(spec: str) -> SpecifierSet:
    """A conda MatchSpec version (``>=2.3,<2.15``, ``1.2.*``) as a PEP 440 specifier set."""
    clauses = []
    for clause in filter(None, spec.split(",")):
        if "|" in clause:
            raise AssertionError(f"'|' (or) in conda spec {spec!r} cannot match a pip specifier")
        if re.match(r"^(==|!=|<=|>=|<|>)", clause):
            clauses.append(clause)
        elif clause.startswith("="):  # conda `=1.2` means 1.2.*
            clauses.append(f"=={clause[1:].rstrip('.*')}.*")
        else:  # bare version or glob: fuzzy match
            clauses.append(f"=={clause.rstrip('.*')}.*")
    return SpecifierSet(",".join(clauses))


def conda_packages(env: dict[str, Any]) -> tuple[dict[str, SpecifierSet], list[str]]:
    """(``{conda name: specifier}``, pip section lines) of an environment.yml."""
    packages: dict[str, SpecifierSet] = {}
    pip: list[str] = []
    for dep in env["dependencies"]:
        if isinstance(dep, dict):
            assert set(dep) == {"pip"}, dep
            pip += dep["pip"]
            continue
        m = _CONDA_RE.match(dep)
        assert m, f"cannot read conda dependency {dep!r}"
        name = m["name"]
        assert name not in packages, f"{name} listed twice"
        packages[name] = conda_to_specifier(m["spec"]) if name != "python" else SpecifierSet()
    return packages, pip


def expected_conda() -> dict[str, SpecifierSet]:
    out = {}
    for name, spec in runtime_requirements().items():
        assert name in sync_deps.CONDA_NAMES, f"{name}: add it to CONDA_NAMES in scripts/sync_deps.py"
        conda_name = sync_deps.CONDA_NAMES[name]
        if conda_name is not None:
            out[conda_name] = spec
    return out


def pip_only() -> dict[str, SpecifierSet]:
    return {n: s for n, s in runtime_requirements().items() if sync_deps.CONDA_NAMES.get(n, "") is None}


def load_env(rel: str) -> dict[str, Any]:
    return yaml.safe_load((ROOT / rel).read_text(encoding="utf-8"))


def postbuild_installs() -> list[list[str]]:
    """The argument lists of every `pip install` in binder/postBuild."""
    installs = []
    for line in (ROOT / "binder" / "postBuild").read_text(encoding="utf-8").splitlines():
        line = line.split("#", 1)[0].strip()
        words = shlex.split(line)
        if "pip" in words and "install" in words:
            installs.append(words[words.index("install") + 1 :])
    return installs


# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize("rel", GENERATED)
def test_generated_file_is_current(rel: str) -> None:
    rendered = sync_deps.render(ROOT)
    assert (ROOT / rel).exists(), f"{rel} missing: run `make sync-deps`"
    assert (ROOT / rel).read_text(encoding="utf-8") == rendered[rel], (
        f"{rel} is out of date with pyproject.toml: run `make sync-deps` (never edit it by hand)"
    )


def test_generator_renders_exactly_the_generated_files() -> None:
    assert set(sync_deps.render(ROOT)) == set(GENERATED)


@pytest.mark.parametrize("rel", GENERATED)
def test_generated_file_says_so(rel: str) -> None:
    lines = (ROOT / rel).read_text(encoding="utf-8").splitlines()
    if lines[0].startswith("#!"):
        lines = lines[1:]
    assert HEADER_RE.match(lines[0]), f"{rel} must start with the 'GENERATED ... do not edit' comment"


@pytest.mark.parametrize("rel", ENV_FILES)
def test_env_file_installs_the_runtime_dependencies(rel: str) -> None:
    env = load_env(rel)
    assert env["channels"] == ["conda-forge", "nodefaults"], "conda-forge only"
    packages, _ = conda_packages(env)
    assert env["dependencies"][0] == "python=3.11"
    assert "pip" in packages
    got = {k: v for k, v in packages.items() if k not in {"python", "pip"}}
    expected = expected_conda()
    assert sorted(got) == sorted(expected), f"{rel}: conda packages differ from pyproject.toml"
    for name, spec in expected.items():
        assert got[name] == spec, f"{rel}: {name} has bounds {got[name]}, pyproject says {spec}"


@pytest.mark.parametrize("rel", ENV_FILES)
def test_env_file_is_cpu_only_pytorch(rel: str) -> None:
    packages, _ = conda_packages(load_env(rel))
    assert "pytorch-cpu" in packages
    assert not {"pytorch", "pytorch-gpu", "cudatoolkit", "cuda-version"} & set(packages)
    torch_spec = runtime_requirements()["torch"]
    assert packages["pytorch-cpu"] == torch_spec


def test_python_pin_satisfies_requires_python() -> None:
    requires = SpecifierSet(pyproject()["project"]["requires-python"])
    assert Version(sync_deps.CONDA_PYTHON) in requires


def test_top_level_env_installs_the_repo_with_pip() -> None:
    _, pip = conda_packages(load_env("environment.yml"))
    assert pip[-1] == "-e ."
    pip_reqs = {canonicalize_name(Requirement(line).name): Requirement(line).specifier for line in pip[:-1]}
    assert pip_reqs == pip_only()


def test_binder_env_and_postbuild_install_the_same_packages() -> None:
    top, _ = conda_packages(load_env("environment.yml"))
    binder, binder_pip = conda_packages(load_env("binder/environment.yml"))
    assert binder == top, "binder/environment.yml and environment.yml must list the same conda packages"
    assert binder_pip == [], "binder installs xnb (and pip-only packages) from binder/postBuild"
    deps = runtime_requirements()
    for extra in ("voila", "jupyterlab"):
        assert (sync_deps.CONDA_NAMES[extra] in binder) == (extra in deps), extra

    installs = postbuild_installs()
    assert installs, "binder/postBuild must pip-install xnb"
    assert installs[-1] == ["--no-cache-dir", "--no-deps", "-e", "."], installs[-1]
    pip_installed: dict[str, SpecifierSet] = {}
    for args in installs[:-1]:
        assert "--no-deps" in args, f"every pip install in postBuild must use --no-deps: {args}"
        for arg in args:
            if not arg.startswith("-"):
                req = Requirement(arg)
                pip_installed[canonicalize_name(req.name)] = req.specifier
    assert pip_installed == pip_only()


def test_postbuild_is_an_executable_bash_script() -> None:
    path = ROOT / "binder" / "postBuild"
    text = path.read_text(encoding="utf-8")
    assert text.startswith("#!/bin/bash\n")
    assert "set -euo pipefail" in text
    assert os.access(path, os.X_OK), "binder/postBuild must be executable (git keeps the x bit)"


def test_binder_folder_has_no_ignored_files() -> None:
    # With environment.yml present, repo2docker ignores these: they would only mislead.
    for name in ("requirements.txt", "runtime.txt", "setup.py", "Pipfile"):
        assert not (ROOT / "binder" / name).exists(), f"binder/{name} is ignored by repo2docker"


# --------------------------------------------------------------------------------------------
# The generator itself
# --------------------------------------------------------------------------------------------


def _fake_root(tmp_path: Path, dependencies: list[str]) -> Path:
    text = (ROOT / "pyproject.toml").read_text(encoding="utf-8")
    start = text.index("dependencies = [")
    end = text.index("]", start) + 1
    new = "dependencies = [\n" + "".join(f'    "{d}",\n' for d in dependencies) + "]"
    (tmp_path / "pyproject.toml").write_text(text[:start] + new + text[end:], encoding="utf-8")
    return tmp_path


def test_adding_a_dependency_changes_the_rendered_files(tmp_path: Path) -> None:
    deps = pyproject()["project"]["dependencies"] + ["pandas>=2.0"]
    rendered = sync_deps.render(_fake_root(tmp_path, deps))
    for rel in ENV_FILES:
        assert "  - pandas>=2.0\n" in rendered[rel]
        assert rendered[rel] != (ROOT / rel).read_text(encoding="utf-8")


def test_generator_refuses_unmapped_or_inexpressible_dependencies(tmp_path: Path) -> None:
    with pytest.raises(KeyError, match="CONDA_NAMES"):
        sync_deps.render(_fake_root(tmp_path, ["no-such-package-xyz>=1"]))
    with pytest.raises(ValueError, match="marker"):
        sync_deps.render(_fake_root(tmp_path, ["numpy>=1.24; python_version < '3.12'"]))
    with pytest.raises(ValueError, match="extras"):
        sync_deps.render(_fake_root(tmp_path, ["captum[insights]>=0.8"]))


def test_pip_only_dependency_goes_to_pip_and_postbuild(tmp_path: Path) -> None:
    rendered = sync_deps.render(_fake_root(tmp_path, ["numpy>=1.24", "spgl1>=0.0.3"]))
    top = yaml.safe_load(rendered["environment.yml"])
    assert top["dependencies"][-1] == {"pip": ["spgl1>=0.0.3", "-e ."]}
    assert "python -m pip install --no-cache-dir --no-deps 'spgl1>=0.0.3'\n" in rendered["binder/postBuild"]
    assert "spgl1" not in rendered["binder/environment.yml"]


@pytest.mark.parametrize(
    ("pep440", "conda"),
    [
        ("torch>=2.3,<2.15", "pytorch-cpu>=2.3,<2.15"),
        ("numpy~=1.24", "numpy>=1.24,<2"),
        ("numpy~=1.24.2", "numpy>=1.24.2,<1.25"),
        ("scipy==1.10.*", "scipy=1.10"),
        ("Pillow!=10.0.0,>=9.5", "pillow!=10.0.0,>=9.5"),
        ("scikit_learn>=1.3", "scikit-learn>=1.3"),
    ],
)
def test_requirement_translation(pep440: str, conda: str) -> None:
    name, clauses = sync_deps.parse_requirement(pep440)
    assert sync_deps.conda_name(name) + ",".join(sync_deps.conda_clauses(clauses)) == conda
    conda_spec = conda[len(sync_deps.conda_name(name)) :]
    assert conda_to_specifier(conda_spec) == _expand_compatible(Requirement(pep440).specifier)
