"""pyproject.toml is the single source of truth: the conda / Binder files must agree with it.

Checks environment.yml, binder/environment.yml and binder/postBuild against pyproject.toml's
runtime dependencies (names mapped through scripts/sync_deps.py's CONDA_NAMES table, bounds
compared as PEP 440 specifier sets), and that they are exactly what the generator renders
now -- so adding a dependency to pyproject.toml without `make sync-deps` fails here.

Packages from pip: a runtime dependency whose CONDA_NAMES entry is ``None`` (not on
conda-forge) or ``FromPip`` (on conda-forge but too old there -- captum: conda-forge has 0.7.0,
xnb needs >=0.8) goes to environment.yml's pip section (with its bounds) and to binder/postBuild's
``pip install --no-deps``; postBuild ends with ``pip check``. Since --no-deps leaves a pip
package's own requirements to conda, every requirement of a FromPip package (its table entry,
compared with the installed wheel's metadata) must be in the conda lists with bounds inside
the requirement's, or ``pip check`` -- and the Binder build -- would fail.
"""
from __future__ import annotations

import importlib.metadata
import os
import re
import shlex
import sys
from pathlib import Path
from typing import Any

import pytest
from _scripts import load_script  # noqa: I001 (tests/ is on sys.path)

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


sync_deps = load_script("sync_deps")


def pyproject() -> dict[str, Any]:
    with open(ROOT / "pyproject.toml", "rb") as f:
        return tomllib.load(f)


def runtime_requirements() -> dict[str, SpecifierSet]:
    """``{normalised PyPI name: specifier}`` of [project] dependencies, parsed by packaging."""
    out = {}
    project = pyproject()["project"]
    lines = list(project["dependencies"])
    for extra in sync_deps.ENV_EXTRAS:  # the conda files carry the notebook front ends too
        lines += [r for r in project["optional-dependencies"][extra] if not r.startswith("xnb[")]
    for line in lines:
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
    """Conda packages: the runtime dependencies conda-forge has, then the requirements of
    FromPip packages that pyproject.toml does not list (with the requirement's bounds)."""
    out = {}
    for name, spec in runtime_requirements().items():
        assert name in sync_deps.CONDA_NAMES, f"{name}: add it to CONDA_NAMES in scripts/sync_deps.py"
        conda_name = sync_deps.conda_name(name)
        if conda_name is not None:
            out[conda_name] = spec
    for req in pip_requirements_for_conda():
        out.setdefault(sync_deps.conda_name(req.name), req.specifier)
    return out


def pip_only() -> dict[str, SpecifierSet]:
    """Runtime dependencies pip installs (not on conda-forge, or too old there)."""
    return {n: s for n, s in runtime_requirements().items() if sync_deps.conda_name(n) is None}


def from_pip() -> dict[str, Any]:
    """``{name: FromPip entry}`` of the runtime dependencies conda-forge has but lags on."""
    return {n: sync_deps.from_pip(n) for n in runtime_requirements() if sync_deps.from_pip(n)}


def pip_requirements_for_conda() -> list[Requirement]:
    """Every requirement of a FromPip runtime dependency (what --no-deps leaves to conda)."""
    return [Requirement(r) for entry in from_pip().values() for r in entry.requires]


def conda_bounds_satisfy(conda: SpecifierSet, required: SpecifierSet) -> bool:
    """True when every version ``conda`` allows is one ``required`` allows.

    Conservative: each clause of ``required`` must be implied by a single clause of ``conda``
    (``numpy>=1.24`` does not satisfy ``numpy<2.0``; ``pytorch-cpu>=2.3,<=2.14.1`` does
    satisfy ``torch>=2.3``).
    """

    def implies(c: Any, need: Any) -> bool:
        cv, nv = Version(c.version.removesuffix(".*")), Version(need.version.removesuffix(".*"))
        if c.operator == "==":
            return cv in need
        if need.operator == "!=":
            return (c.operator == "!=" and cv == nv) or (c.operator != "!=" and nv not in SpecifierSet(str(c)))
        if need.operator in (">=", ">"):
            return (c.operator == ">=" and cv in need) or (c.operator == ">" and cv >= nv)
        if need.operator in ("<=", "<"):
            return (c.operator == "<=" and cv in need) or (c.operator == "<" and cv <= nv)
        return False  # ~=, ===, ==: only an exact conda pin (above) implies them

    return all(any(implies(c, need) for c in conda) for need in required)


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


def test_captum_comes_from_pip_because_conda_forge_lags() -> None:
    entry = sync_deps.CONDA_NAMES["captum"]
    assert isinstance(entry, sync_deps.FromPip), "conda-forge's captum is 0.7.0; xnb needs >=0.8"
    assert entry.conda_name == "captum" and "0.7.0" in entry.why
    assert pip_only()["captum"] == SpecifierSet(">=0.8"), "the pip line keeps pyproject's bound"
    _, pip = conda_packages(load_env("environment.yml"))
    assert "captum>=0.8" in pip
    assert ["--no-cache-dir", "--no-deps", "captum>=0.8"] in postbuild_installs()
    for rel in GENERATED:  # each generated file says why
        assert f"captum: {entry.why}" in (ROOT / rel).read_text(encoding="utf-8"), rel


def test_every_pip_package_is_explained() -> None:
    # None: only on PyPI. FromPip: on conda-forge but too old there (with a reason).
    for name in pip_only():
        entry = sync_deps.CONDA_NAMES[name]
        assert entry is None or (isinstance(entry, sync_deps.FromPip) and entry.why), name


@pytest.mark.parametrize("rel", ENV_FILES)
def test_requirements_of_pip_packages_come_from_conda(rel: str) -> None:
    packages, _ = conda_packages(load_env(rel))
    reqs = pip_requirements_for_conda()
    assert reqs, "captum is installed by pip, so its requirements must be checked"
    for req in reqs:
        assert not req.extras and req.marker is None, req
        cname = sync_deps.conda_name(req.name)
        assert cname is not None, f"{req}: pip installs it, so nothing provides it under --no-deps"
        assert cname in packages, f"{rel}: {req} (a requirement of a --no-deps pip package) needs conda's {cname}"
        assert conda_bounds_satisfy(packages[cname], req.specifier), (
            f"{rel}: conda's {cname}{packages[cname]} allows versions outside {req}: pip check would fail"
        )


@pytest.mark.parametrize("name", sorted(from_pip()))
def test_from_pip_requires_match_the_installed_metadata(name: str) -> None:
    """FromPip.requires is what the wheel pip installs really requires (Requires-Dist)."""
    try:
        dist = importlib.metadata.distribution(name)
    except importlib.metadata.PackageNotFoundError:
        pytest.skip(f"{name} is not installed here; cannot read its Requires-Dist")
    if Version(dist.version) not in pip_only()[name]:
        pytest.skip(f"installed {name} {dist.version} is outside pyproject's {pip_only()[name]}")
    env = {"python_version": sync_deps.CONDA_PYTHON, "sys_platform": "linux", "platform_system": "Linux",
           "extra": ""}
    actual = {
        canonicalize_name(r.name): r.specifier
        for r in map(Requirement, dist.requires or [])
        if r.marker is None or r.marker.evaluate(env)
    }
    declared = {canonicalize_name(r.name): r.specifier for r in map(Requirement, from_pip()[name].requires)}
    assert declared == actual, (
        f"{name} {dist.version} requires {actual}; update its FromPip(requires=...) in scripts/sync_deps.py"
    )


def test_conda_bounds_satisfy() -> None:
    S = SpecifierSet
    assert conda_bounds_satisfy(S(">=2.3,<=2.14.1"), S(">=2.3"))
    assert conda_bounds_satisfy(S(">=1.24"), S(""))
    assert not conda_bounds_satisfy(S(">=1.24"), S("<2.0")), "captum 0.8.0's numpy<2.0"
    assert not conda_bounds_satisfy(S(">=2.0"), S(">=2.3"))
    assert conda_bounds_satisfy(S(">=1.24,<2"), S("<2.0"))
    assert conda_bounds_satisfy(S(">=1.24,<2"), S("!=2.1"))
    assert not conda_bounds_satisfy(S(">=1.24"), S("!=2.1"))
    assert conda_bounds_satisfy(S("==2.3.1"), S(">=2.3,!=2.3.0"))


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


def test_postbuild_ends_with_pip_check() -> None:
    lines = [
        line.strip()
        for line in (ROOT / "binder" / "postBuild").read_text(encoding="utf-8").splitlines()
        if line.strip() and not line.lstrip().startswith("#")
    ]
    assert lines[-1] == "python -m pip check", "postBuild must end with `python -m pip check`"
    assert lines[-2] == "python -m pip install --no-cache-dir --no-deps -e ."


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
    deps = pyproject()["project"]["dependencies"] + ["scikit-image>=0.22"]
    rendered = sync_deps.render(_fake_root(tmp_path, deps))
    for rel in ENV_FILES:
        assert "  - scikit-image>=0.22\n" in rendered[rel]
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


def test_from_pip_dependency_goes_to_pip_and_its_requirements_to_conda(tmp_path: Path) -> None:
    rendered = sync_deps.render(_fake_root(tmp_path, ["numpy>=1.24", "captum>=0.8"]))
    top = yaml.safe_load(rendered["environment.yml"])
    assert top["dependencies"][-1] == {"pip": ["captum>=0.8", "-e ."]}
    conda = [d for d in top["dependencies"] if isinstance(d, str)]
    # the lab extra (JupyterLab, Voila, Jupytext, ...), carried by every conda file
    lab_reqs = map(sync_deps.parse_requirement, pyproject()["project"]["optional-dependencies"]["lab"])
    lab = [sync_deps.conda_name(name) + ",".join(op + v for op, v in clauses) for name, clauses in lab_reqs]
    assert conda[3:3 + len(lab)] == lab
    conda = [d for d in conda if d not in lab]
    # numpy keeps pyproject's bounds; the others come in with captum's (torch>=2.3)
    assert conda == ["python=3.11", "pip", "numpy>=1.24", "matplotlib-base", "packaging",
                     "pytorch-cpu>=2.3", "tqdm"]
    assert "captum" not in rendered["binder/environment.yml"].split("dependencies:")[1]
    assert "--no-deps 'captum>=0.8'\n" in rendered["binder/postBuild"]
    assert rendered["binder/postBuild"].endswith("python -m pip check\n")


def test_generator_refuses_a_from_pip_requirement_conda_cannot_provide(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    entry = sync_deps.CONDA_NAMES["captum"]
    monkeypatch.setitem(sync_deps.CONDA_NAMES, "captum", entry._replace(requires=("spgl1",)))
    with pytest.raises(ValueError, match="pip check would fail"):
        sync_deps.render(_fake_root(tmp_path, ["captum>=0.8"]))


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


def test_lab_extra_is_in_the_conda_files_but_not_in_the_core_install() -> None:
    project = pyproject()["project"]
    core = {canonicalize_name(Requirement(r).name) for r in project["dependencies"]}
    assert not core & {"jupyterlab", "voila"}, "pip install xnb must not pull the notebook front ends"
    assert "ipywidgets" in core  # the widgets need it
    assert {canonicalize_name(Requirement(r).name) for r in project["optional-dependencies"]["lab"]} == {
        "jupyterlab", "voila", "jupytext", "nbstripout"}  # Jupytext: notebooks/*.py paired with the .ipynb
    assert "xnb[lab]" in project["optional-dependencies"]["test"]
    for rel in ENV_FILES:
        text = (ROOT / rel).read_text(encoding="utf-8")
        assert "  - jupyterlab>=4.0\n" in text and "  - voila>=0.5\n" in text, rel
