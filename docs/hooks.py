"""MkDocs hooks of the xnb documentation site (``hooks:`` in mkdocs.yml; not a page: ``exclude_docs``).

1. The notebooks live in ``notebooks/`` at the repository root, outside ``docs/``. :func:`on_files`
   adds each ``notebooks/*.ipynb`` to the build's files under the same path, read in place, so the
   site renders the very files JupyterLab opens: no copy in git, no symlink, no docs_dir at the root.
   It runs before mkdocs-jupyter's own ``on_files`` (which wraps every ``.ipynb`` it should include
   into a page), hence the high event priority.
2. ``docs/claims.md`` is written by ``make claims``. Until it exists, :func:`on_files` adds a short
   placeholder page so that the nav entry and links to it resolve (the paper pages then include
   nothing: their snippets find no file).
3. Math: pages whose Markdown has formulas (``pymdownx.arithmatex``) get MathJax 3; the notebook pages
   carry the MathJax that nbconvert writes into them, so they are left alone (one MathJax per page).
   MathJax is loaded by the reader's browser, never by the build: the build needs no network.
4. Docstrings hold Python code such as ``[n for n, _ in m.named_children()][:4]`` (a doctest in the
   module docstring of ``xnb.models``), which Markdown reads as a reference link ``[text][:4]`` and
   mkdocs-autorefs then reports as a broken cross-reference. :func:`on_page_content` turns back into
   plain text every such "reference" whose identifier cannot name anything (it is not a dotted name
   or a heading slug); real broken cross-references (``[xnb.nothing][]``) still fail the strict build.
5. Docstrings use Sphinx roles (``:func:`xnb.attribute```), which Markdown renders as ``:func:`` then
   code. :func:`on_page_content` turns each into an *optional* cross-reference: a link when the name is
   documented on the site, plain code otherwise, never a warning. A name that does not start with
   ``xnb`` is read relative to the module the page documents (``:func:`names``` on the xnb.models page
   is ``xnb.models.names``).
6. Each rendered notebook page starts with a link to its ``.ipynb`` (mkdocs-jupyter's ``include_source``
   copies the file next to the page).
"""
from __future__ import annotations

import logging
import re
from pathlib import Path

from mkdocs.plugins import event_priority
from mkdocs.structure.files import File, Files

log = logging.getLogger("mkdocs.hooks.xnb")

NOTEBOOKS = "notebooks"  # relative to the directory of mkdocs.yml (the repository root)

CLAIMS_PLACEHOLDER = """# Claims re-measured by xnb

This page is generated: `make claims` re-measures every claim of the five papers over three seeds and
writes it to `docs/claims.md`. It has not been generated in this checkout yet; run `make claims`, then
`make docs`.
"""

MATHJAX = """
<script>
window.MathJax = {
  tex: {inlineMath: [["\\\\(", "\\\\)"]], displayMath: [["\\\\[", "\\\\]"]],
        processEscapes: true, processEnvironments: true},
  options: {ignoreHtmlClass: ".*|", processHtmlClass: "arithmatex"}
};
</script>
<script async src="https://cdn.jsdelivr.net/npm/mathjax@3/es5/tex-mml-chtml.js"></script>
"""


# <autoref identifier="..." ...>title</autoref>: what mkdocs-autorefs leaves in a page for [title][identifier]
_AUTOREF = re.compile(r"<autoref (?P<attrs>[^>]*)>(?P<title>.*?)</autoref>", re.DOTALL)
_IDENTIFIER = re.compile(r'(?:^|\s)identifier="(?P<id>[^"]*)"')
_NAME_OR_SLUG = re.compile(r"[A-Za-z_][\w.\-]*")
# :func:`x` rendered by Markdown: ":func:<code>x</code>"
_ROLE = re.compile(r":(?:py:)?(?:func|class|mod|meth|attr|data|obj|exc|const):<code>~?\.?(?P<name>[A-Za-z_][\w.]*)</code>")


@event_priority(100)  # before mkdocs-jupyter (default priority 0) turns .ipynb files into pages
def on_files(files: Files, config) -> Files:
    root = Path(config["config_file_path"]).resolve().parent
    notebooks = sorted((root / NOTEBOOKS).glob("*.ipynb"))
    if not notebooks:
        log.warning("no notebooks found in %s", root / NOTEBOOKS)
    for nb in notebooks:
        uri = f"{NOTEBOOKS}/{nb.name}"
        if files.get_file_from_path(uri) is None:
            files.append(File(uri, str(root), config["site_dir"], config["use_directory_urls"]))
    if files.get_file_from_path("claims.md") is None:
        log.info("docs/claims.md does not exist yet (make claims writes it): using a placeholder page")
        files.append(File.generated(config, "claims.md", content=CLAIMS_PLACEHOLDER))
    return files


def on_post_page(output: str, page, config) -> str:
    if page.file.src_uri.endswith(".ipynb") or 'class="arithmatex"' not in output:
        return output
    return output.replace("</body>", MATHJAX + "</body>", 1)


def _restore(m: re.Match) -> str:
    ident = _IDENTIFIER.search(m["attrs"])
    if ident is None or _NAME_OR_SLUG.fullmatch(ident["id"]):
        return m[0]
    return f"[{m['title']}][{ident['id']}]"


@event_priority(100)  # before mkdocs-autorefs collects the references
def on_page_content(html: str, page, config, files) -> str:
    src = page.file.src_uri
    if src.startswith(f"{NOTEBOOKS}/") and src.endswith(".ipynb"):
        name = src.rsplit("/", 1)[-1]
        return (f'<p class="xnb-download"><a href="{name}" download>Download {name}</a> — the notebook '
                f"as stored (no outputs): run it in JupyterLab (<code>make lab</code>) or on Binder.</p>\n"
                + html)
    if "<autoref " in html:
        html = _AUTOREF.sub(_restore, html)
    module = _page_module(page.file.src_uri)

    def role(m: re.Match) -> str:
        name = m["name"]
        target = name if module is None or name == "xnb" or name.startswith("xnb.") else f"{module}.{name}"
        return f'<autoref identifier="{target}" optional><code>{name}</code></autoref>'

    return _ROLE.sub(role, html)


def _page_module(src_uri: str) -> str | None:
    """The module an API or paper page documents: api/models.md -> xnb.models, papers/srae.md -> xnb.srae."""
    m = re.fullmatch(r"(?:api|papers)/(\w+)\.md", src_uri)
    if m is None or m[1] == "index":
        return None
    return "xnb" if m[1] == "xnb" else f"xnb.{m[1]}"
