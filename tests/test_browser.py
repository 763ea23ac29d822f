"""Real-browser tests: Voila serves each notebook, Chromium (driven by Playwright) moves a slider, and the
heatmap image must change with no error on the page. A screenshot per notebook lands in
artifacts/screenshots/.

Chromium comes from the system (Debian's package; `make test` installs it with scripts/ensure_browser.sh).
Without it these tests skip with the reason — except on CI (CI=true) where apt-get is available, where a
missing browser is a failure, since the set-up should have installed it.
"""
from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

from _browser import (ROOT, chromium, chromium_path, jupyterlab_server, notebook7_server, open_dashboard,
                      voila_server)

NOTEBOOKS = sorted(p.name for p in (ROOT / "notebooks").glob("[0-9]*.ipynb"))
SHOTS = ROOT / "artifacts" / "screenshots"


def _require_browser():
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        pytest.skip("browser tests: the Python package playwright is not installed (pip install -e '.[test]')")
    if chromium_path() is None:
        if os.environ.get("CI") and shutil.which("apt-get") and os.geteuid() == 0:
            pytest.fail("browser tests: chromium is missing although apt-get is available; "
                        "scripts/ensure_browser.sh should have installed it")
        pytest.skip("browser tests: no chromium on this machine and no system package manager to install "
                    "it (run scripts/ensure_browser.sh as root, or install chromium)")


@pytest.fixture(scope="module")
def voila_url():
    _require_browser()
    with voila_server(env={"XNB_TEST": "1", "TQDM_DISABLE": "1"}) as url:
        yield url


@pytest.fixture(scope="module")
def browser():
    _require_browser()
    with chromium() as b:
        yield b


@pytest.mark.parametrize("name", NOTEBOOKS)
def test_notebook_dashboard_slider_redraws(voila_url, browser, name):
    SHOTS.mkdir(parents=True, exist_ok=True)
    page = open_dashboard(browser, voila_url, name)  # the notebook runs top to bottom first
    try:
        # the slider the notebook marks as primary (class xnb-primary), else the first one
        primary = page.locator(".xnb-primary .noUi-handle")
        handle = (primary if primary.count() else page.locator(".widget-slider .noUi-handle")).first
        handle.wait_for(timeout=30_000)
        before = page.eval_on_selector_all("img.xnb-image", "es => es.map(e => e.src)")
        handle.focus()
        page.keyboard.press("ArrowRight")  # a real key event: noUiSlider -> comm -> kernel -> new PNG
        # some live image (the slider's explorer's; a notebook may show several) must change
        page.wait_for_function(
            "b => [...document.querySelectorAll('img.xnb-image')].some((e, i) => e.src !== b[i])",
            arg=before, timeout=30_000)
        page.wait_for_timeout(300)
        page.screenshot(path=str(SHOTS / f"{Path(name).stem}.png"), full_page=True)
        # the explorer alone (README picture): the innermost box holding the image and its controls
        page.locator(".widget-vbox:has(> .widget-hbox img.xnb-image)").last.screenshot(
            path=str(SHOTS / f"{Path(name).stem}_widget.png"))
        text = page.inner_text("body")
        assert "not yet" not in text, "an unanswerable exercise line in the dashboard"
        assert "Loading widget" not in text, "a widget never rendered"
        assert "Traceback" not in text and "There was an error" not in text, "a cell raised"
        for area in page.locator(".xnb-error").all_inner_texts():  # the ErrorArea of every explorer
            assert area.strip() == "", f"the widget shows an error: {area[:300]}"
        _assert_images_keep_their_aspect_ratio(page, name)
    finally:
        page.close()


def _assert_images_keep_their_aspect_ratio(page, name):
    """Every live image is shown at its PNG's aspect ratio (a flex layout once stretched them 1.1-3.1x)."""
    sizes = page.eval_on_selector_all(
        "img.xnb-image", "es => es.filter(e => e.naturalWidth > 0).map(e => { const r = e.getBoundingClientRect();"
                         " return [r.width, r.height, e.naturalWidth, e.naturalHeight]; })")
    assert sizes, f"{name}: no live image rendered"
    for w, h, nw, nh in sizes:
        assert abs((w / h) / (nw / nh) - 1) < 0.03, f"{name}: image {nw}x{nh} shown as {w:.0f}x{h:.0f} (stretched)"


def test_jupyterlab_runs_the_tour_and_its_explorer_redraws(browser, tmp_path):
    """The same in JupyterLab 4: Run All Cells, then a key press on the explorer's image slider."""
    _require_browser()
    shutil.copy(ROOT / "notebooks" / "00_tour.ipynb", tmp_path / "00_tour.ipynb")
    with jupyterlab_server(tmp_path, env={"XNB_TEST": "1"}) as (url, token):
        page = browser.new_page(viewport={"width": 1400, "height": 1000})
        try:
            page.goto(f"{url}/lab/tree/00_tour.ipynb?reset&token={token}", timeout=120_000)
            page.wait_for_selector(".jp-Notebook", timeout=120_000)
            page.wait_for_timeout(2000)
            page.click("text=Run", timeout=20_000)
            page.click("text=Run All Cells", timeout=20_000)
            page.wait_for_selector("img.xnb-image[src^='blob:'], img.xnb-image[src^='data:']", timeout=180_000)
            before = page.eval_on_selector("img.xnb-image", "e => e.src")
            page.locator(".xnb-primary .noUi-handle").first.focus()
            page.keyboard.press("ArrowRight")
            page.wait_for_function("b => document.querySelector('img.xnb-image').src !== b", arg=before,
                                   timeout=30_000)
            # the arrow keys keep moving the slider, never the notebook's cell selection (issue #19); once the
            # last cell has run (the exercises print "no answer yet"), so that nothing else moves the selection
            page.get_by_text("no answer yet").first.wait_for(timeout=240_000)
            _assert_arrow_keys_move_the_primary_slider(page, "00_tour (JupyterLab)")
            assert all(t.strip() == "" for t in page.locator(".xnb-error").all_inner_texts())
            page.screenshot(path=str(SHOTS / "00_tour_jupyterlab.png"))
        finally:
            page.close()


def test_notebook7_runs_the_tour_and_its_explorer_redraws(browser, tmp_path):
    """Jupyter Notebook 7: open the tour, Run All Cells, move the explorer's primary slider, the heatmap
    changes, no error; screenshot. The slider is moved by a click on its track (a pointer event through
    noUiSlider, as a student would); keyboard control is test_notebook7_arrow_keys_move_the_focused_slider."""
    _require_browser()
    pytest.importorskip("notebook", reason="the notebook package (test extra) serves Notebook 7")
    SHOTS.mkdir(parents=True, exist_ok=True)
    shutil.copy(ROOT / "notebooks" / "00_tour.ipynb", tmp_path / "00_tour.ipynb")
    with notebook7_server(tmp_path, env={"XNB_TEST": "1", "TQDM_DISABLE": "1"}) as (url, token):
        page = browser.new_page(viewport={"width": 1400, "height": 1000})
        try:
            _run_all_in_notebook7(page, url, token, "00_tour.ipynb")
            before = page.eval_on_selector("img.xnb-image", "e => e.src")
            slider = page.locator(".xnb-primary .noUi-target").first
            slider.scroll_into_view_if_needed()
            box = slider.bounding_box()
            page.mouse.click(box["x"] + 0.8 * box["width"], box["y"] + box["height"] / 2)
            page.wait_for_function("b => document.querySelector('img.xnb-image').src !== b", arg=before,
                                   timeout=30_000)
            text = page.inner_text("body")
            assert "Traceback" not in text, "a cell raised"
            assert all(t.strip() == "" for t in page.locator(".xnb-error").all_inner_texts())
            page.screenshot(path=str(SHOTS / "00_tour_notebook7.png"))
        finally:
            page.close()


# the active cell of the notebook on the page: its index in the whole notebook (JupyterLab 4's windowed
# list marks each cell with it) and the start of its text, so a moved selection cannot go unnoticed
_ACTIVE_CELL_JS = """() => {
    const cells = [...document.querySelectorAll('.jp-Notebook .jp-Cell')];
    const i = cells.findIndex(c => c.classList.contains('jp-mod-active'));
    if (i < 0) return null;
    const c = cells[i];
    return [c.dataset.windowedListIndex ?? String(i), c.innerText.slice(0, 80)];
}"""


def _assert_arrow_keys_move_the_primary_slider(page, what):
    """Focus the explorer's primary slider and press ArrowRight, ArrowLeft, ArrowUp, ArrowDown: each moves
    the slider by one step (its readout, which follows the model the kernel also updates) and none moves
    the notebook's active cell or takes the focus away from the slider (issue #19: in Notebook 7 the
    command-mode shortcuts took the arrow keys)."""
    handle = page.locator(".xnb-primary .noUi-handle").first
    readout = page.locator(".xnb-primary .widget-readout").first
    handle.scroll_into_view_if_needed()
    handle.focus()
    page.wait_for_timeout(300)  # the notebook makes the widget's cell active on focus
    active = page.evaluate(_ACTIVE_CELL_JS)
    assert active is not None, f"{what}: no active cell"
    v0 = int(readout.inner_text().strip())
    expected = [("ArrowRight", v0 + 1), ("ArrowLeft", v0), ("ArrowUp", v0 + 1), ("ArrowDown", v0)]
    for key, value in expected:
        page.keyboard.press(key)
        try:
            page.wait_for_function("([e, v]) => e.innerText.trim() === v", arg=[readout.element_handle(),
                                   str(value)], timeout=10_000)
        except Exception:
            raise AssertionError(f"{what}: {key} on the focused slider: readout {readout.inner_text()!r}, "
                                 f"expected {value}; active cell now {page.evaluate(_ACTIVE_CELL_JS)}, "
                                 f"was {active}") from None
        assert page.evaluate(_ACTIVE_CELL_JS) == active, f"{what}: {key} moved the notebook's active cell"
        assert handle.evaluate("e => e === document.activeElement"), f"{what}: {key} took the focus away"


@pytest.mark.parametrize("name", ["00_tour.ipynb", "05_sevec.ipynb"])
def test_notebook7_arrow_keys_move_the_focused_slider(browser, tmp_path, name):
    """Issue #19: in Notebook 7 the arrow keys on a focused slider of an explorer move the slider (and the
    heatmap redraws), not the notebook's cell selection."""
    _require_browser()
    pytest.importorskip("notebook", reason="the notebook package (test extra) serves Notebook 7")
    shutil.copy(ROOT / "notebooks" / name, tmp_path / name)
    with notebook7_server(tmp_path, env={"XNB_TEST": "1", "TQDM_DISABLE": "1"}) as (url, token):
        page = browser.new_page(viewport={"width": 1400, "height": 1000})
        try:
            _run_all_in_notebook7(page, url, token, name)
            before = page.eval_on_selector_all("img.xnb-image", "es => es.map(e => e.src)")
            _assert_arrow_keys_move_the_primary_slider(page, f"{name} (Notebook 7)")
            # the kernel got the moves: some live image was redrawn
            page.wait_for_function(
                "b => [...document.querySelectorAll('img.xnb-image')].some((e, i) => e.src !== b[i])",
                arg=before, timeout=30_000)
            assert all(t.strip() == "" for t in page.locator(".xnb-error").all_inner_texts())
        finally:
            page.close()


def _run_all_in_notebook7(page, url, token, name):
    """Open ``name`` in Notebook 7, Run All Cells and wait for the last cell (the exercises print
    "no answer yet")."""
    page.goto(f"{url}/notebooks/{name}?token={token}", timeout=120_000)
    page.wait_for_selector(".jp-Notebook", timeout=120_000)
    page.wait_for_selector(".jp-Notebook-ExecutionIndicator, .jp-KernelStatus, #jp-top-panel", timeout=60_000)
    page.wait_for_timeout(2000)
    page.click("text=Run", timeout=20_000)
    page.click("text=Run All Cells", timeout=20_000)
    page.wait_for_selector("img.xnb-image[src^='blob:'], img.xnb-image[src^='data:']", timeout=240_000)
    page.get_by_text("no answer yet").first.wait_for(timeout=240_000)
