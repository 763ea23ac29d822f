"""The documentation site: `mkdocs build --strict` of mkdocs.yml, offline, into a temporary directory.

--strict turns every warning into an error: a broken link or nav entry, an unresolved cross-reference,
a docstring the numpy parser cannot read, an unknown option. Then a few checks of what was built: each
paper page documents its module and (once `make claims` has written docs/claims.md) shows its claims
table; the seven notebooks were rendered (not executed); no page asks Google for fonts.
"""
from __future__ import annotations

import html
import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent

for _module in ("mkdocs", "material", "mkdocstrings", "mkdocstrings_handlers.python", "mkdocs_jupyter"):
    pytest.importorskip(_module, reason=f"{_module} is not installed: the docs extra is missing "
                                        f"(pip install -e '.[docs]', or `make docs` / `make test`)")

pytestmark = pytest.mark.slow

#: paper page -> (module, an object its API section must document)
PAPERS = {
    "srae": ("xnb.srae", "SRAE"),
    "additive": ("xnb.additive", "FilterConcepts"),
    "mulasso": ("xnb.mulasso", "MuLasso"),
    "resample": ("xnb.resample", "neuron_importance"),
    "sevec": ("xnb.sevec", "SeVec"),
}
CLAIMS = ROOT / "docs" / "claims.md"
NOTEBOOKS = sorted((ROOT / "notebooks").glob("*.ipynb"))


@pytest.fixture(scope="module")
def site(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("site")
    env = dict(os.environ, NO_MKDOCS_2_WARNING="1")
    proc = subprocess.run(
        [sys.executable, "-m", "mkdocs", "build", "--strict", "--config-file", str(ROOT / "mkdocs.yml"),
         "--site-dir", str(out)],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, f"mkdocs build --strict failed:\n{proc.stdout[-4000:]}\n{proc.stderr[-8000:]}"
    return out


def _text(page: Path) -> str:
    """The page's text: tags stripped, entities decoded, whitespace collapsed."""
    raw = re.sub(r"<(script|style)\b.*?</\1>", " ", page.read_text(encoding="utf-8"), flags=re.S)
    return re.sub(r"\s+", " ", html.unescape(re.sub(r"<[^>]+>", " ", raw)))


@pytest.mark.parametrize("paper", sorted(PAPERS))
def test_paper_page_has_its_api(site: Path, paper: str) -> None:
    page = site / "papers" / paper / "index.html"
    assert page.is_file(), f"no page for {paper}"
    source = page.read_text(encoding="utf-8")
    module, obj = PAPERS[paper]
    assert f'id="{module}"' in source, f"{paper}: the API section of {module} is missing"
    assert f'id="{module}.{obj}"' in source, f"{paper}: {module}.{obj} is not documented"
    assert 'class="arithmatex"' in source, f"{paper}: its equations were not rendered as math"


@pytest.mark.parametrize("paper", sorted(PAPERS))
def test_paper_page_shows_its_claims_table(site: Path, paper: str) -> None:
    text = CLAIMS.read_text(encoding="utf-8") if CLAIMS.is_file() else ""
    marker = f"--8<-- [start:{paper}]"
    if marker not in text:
        pytest.skip(f"docs/claims.md {'has no ' + marker + ' section' if text else 'does not exist'} "
                    f"(`make claims` writes it)")
    after = text.split(marker, 1)[1].splitlines()[1:]
    header = next((line for line in after if line.strip().startswith("|")), None)
    assert header is not None, f"docs/claims.md: no table after {marker}"
    cells = [c.strip() for c in header.strip().strip("|").split("|") if c.strip()]
    source = (site / "papers" / paper / "index.html").read_text(encoding="utf-8")
    for cell in cells:
        th = re.compile(r"<th[^>]*>\s*" + re.escape(html.escape(cell, quote=False)) + r"\s*</th>")
        assert th.search(source), f"{paper}: claims table header {cell!r} not in the page"
    assert "--8<--" not in _text(site / "papers" / paper / "index.html")


def test_claims_page(site: Path) -> None:
    page = site / "claims" / "index.html"
    assert page.is_file(), "the claims report (docs/claims.md, or the hook's placeholder) was not built"
    text = CLAIMS.read_text(encoding="utf-8") if CLAIMS.is_file() else "# Claims re-measured by xnb"
    title = next((line[2:].strip() for line in text.splitlines() if line.startswith("# ")), None)
    if title:
        assert title in _text(page)


def test_notebooks_rendered(site: Path) -> None:
    assert len(NOTEBOOKS) == 7, [p.name for p in NOTEBOOKS]
    for nb_path in NOTEBOOKS:
        page = site / "notebooks" / nb_path.stem / "index.html"
        assert page.is_file(), f"{nb_path.name} was not rendered"
        nb = json.loads(nb_path.read_text(encoding="utf-8"))
        first = next(c for c in nb["cells"] if c["cell_type"] == "markdown")
        title = "".join(first["source"]).splitlines()[0].lstrip("#").strip()
        assert "jupyter-wrapper" in page.read_text(encoding="utf-8"), f"{nb_path.name}: not an nbconvert page"
        assert title in _text(page), f"{nb_path.name}: its title {title!r} is not on the page"
        assert (page.parent / nb_path.name).is_file(), f"{nb_path.name}: no download copy next to the page"


def test_core_api_reference(site: Path) -> None:
    for module, obj in [("attribution", "attribute"), ("layers", "capture"), ("viz", "render"),
                        ("metrics", "iou_curve"), ("data", "flowers"), ("models", "load"),
                        ("widgets", "HeatmapExplorer"), ("rules", "Composite"), ("claims", "Claim")]:
        page = site / "api" / module / "index.html"
        assert page.is_file(), f"no API page for xnb.{module}"
        assert f'id="xnb.{module}.{obj}"' in page.read_text(encoding="utf-8"), f"xnb.{module}.{obj} missing"


def test_offline(site: Path) -> None:
    pages = list(site.rglob("*.html"))
    assert len(pages) > 20
    for page in pages:
        source = page.read_text(encoding="utf-8")
        assert "fonts.googleapis" not in source and "fonts.gstatic" not in source, page.relative_to(site)
    assert not (site / "hooks.py").exists(), "the build hook was published as a page asset"
