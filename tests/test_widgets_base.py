"""Tests for xnb.widgets.base: ImageView, ErrorArea, guarded, LRUCache, Panel."""
from __future__ import annotations

import io
import logging

import ipywidgets
import numpy as np
import pytest
from PIL import Image

from xnb import viz
from xnb.widgets.base import ErrorArea, ImageView, LRUCache, Panel, Timer, guarded


# --------------------------------------------------------------------------- ImageView

def test_image_view_shows_bytes():
    view = ImageView(width=256)
    assert isinstance(view.widget, ipywidgets.Image)
    assert view.widget.format == "png" and view.widget.layout.width == "256px"
    assert view.value == b"" and view.n_updates == 0
    png = viz.to_png(np.full((4, 4, 3), 7, np.uint8))
    view.show(png)
    assert view.value == png and view.widget.value == png and view.n_updates == 1
    shown = view.show_array(np.zeros((64, 64, 3), np.uint8), scale=None)  # auto scale 4
    assert view.value == shown and view.n_updates == 2
    assert Image.open(io.BytesIO(shown)).size == (256, 256)
    with pytest.raises(TypeError, match="png_bytes"):
        view.show("not bytes")
    with pytest.raises(ValueError, match="png_bytes"):
        view.show(b"GIF89a....")


def test_image_view_height_and_bad_width():
    view = ImageView(width="50%", height=128)
    assert view.widget.layout.width == "50%" and view.widget.layout.height == "128px"
    with pytest.raises(ValueError, match="width"):
        ImageView(width=0)


# --------------------------------------------------------------------------- ErrorArea / guarded

def _fail(change=None):
    raise KeyError("<b>missing</b> & layer")


def test_guarded_shows_then_clears(caplog):
    err = ErrorArea()
    calls = []

    def ok(change=None):
        calls.append(change)
        return 42

    with caplog.at_level(logging.ERROR, logger="xnb.widgets.base"):
        assert guarded(err)(_fail)({"new": 1}) is None  # swallowed, no raise
    assert err.message.startswith("KeyError") and "missing" in err.message
    assert "KeyError" in err.widget.value
    assert "&lt;b&gt;missing&lt;/b&gt; &amp; layer" in err.widget.value  # HTML-escaped
    assert "<b>missing" not in err.widget.value
    assert "<details>" in err.widget.value and "_fail" in err.widget.value  # traceback frames
    assert any("failed" in r.getMessage() for r in caplog.records)

    assert guarded(err, ok)("c") == 42
    assert calls == ["c"]
    assert err.message == "" and err.widget.value == ""


def test_guarded_on_a_real_slider_callback():
    err = ErrorArea()
    slider = ipywidgets.IntSlider(value=0, min=0, max=10)
    seen = []

    def cb(change):
        if change["new"] == 3:
            raise ValueError("three is bad")
        seen.append(change["new"])

    slider.observe(guarded(err)(cb), "value")
    slider.value = 3  # must not raise
    assert "ValueError: three is bad" in err.message
    slider.value = 4
    assert err.message == "" and seen == [4]


def test_error_area_plain_message_and_clear():
    err = ErrorArea()
    err.show("something <odd>")
    assert err.message == "something <odd>" and "&lt;odd&gt;" in err.widget.value
    err.clear()
    assert err.message == "" and err.widget.value == ""
    with pytest.raises(TypeError, match="error_area"):
        guarded("not an area")


# --------------------------------------------------------------------------- LRUCache

def test_lru_cache_hits_misses_eviction():
    cache = LRUCache(maxsize=2)
    computed = []

    def make(v):
        def fn():
            computed.append(v)
            return v * 10
        return fn

    assert cache.get_or_compute(("img", 1), make(1)) == 10
    assert cache.get_or_compute(("img", 2), make(2)) == 20
    assert cache.get_or_compute(("img", 1), make(1)) == 10  # hit, refreshes key 1
    assert (cache.hits, cache.misses, len(cache)) == (1, 2, 2)
    cache.get_or_compute(("img", 3), make(3))  # evicts the least recently used: 2
    assert ("img", 2) not in cache and ("img", 1) in cache and ("img", 3) in cache
    assert len(cache) == 2 and computed == [1, 2, 3]
    cache.get_or_compute(("img", 2), make(2))
    assert cache.misses == 4 and computed == [1, 2, 3, 2]
    cache.clear()
    assert len(cache) == 0 and ("img", 1) not in cache


def test_lru_cache_failed_compute_not_stored():
    cache = LRUCache(4)
    with pytest.raises(ZeroDivisionError):
        cache.get_or_compute("k", lambda: 1 / 0)
    assert "k" not in cache and cache.misses == 1
    with pytest.raises(ValueError, match="maxsize"):
        LRUCache(0)
    with pytest.raises(TypeError, match="key"):
        cache.get_or_compute(["unhashable"], lambda: 1)


def test_timer():
    with Timer() as t:
        sum(range(1000))
    assert t.ms >= 0.0


# --------------------------------------------------------------------------- Panel

class _Explorer(Panel):
    def __init__(self):
        super().__init__(title="demo", width=128)
        self.slider = ipywidgets.IntSlider(value=1, min=0, max=5, description="i")
        self.add_controls(self.slider)
        self.observe(self.slider)  # redraw on change
        self.fail_on = 3

    def redraw(self):
        if self.slider.value == self.fail_on:
            raise RuntimeError("cannot draw 3")
        img = np.full((3, 8, 8), self.slider.value / 5, np.float32)
        self.view.show(viz.render(img, np.eye(8), scale=2))
        self.set_status(f"image {self.slider.value}")


def _walk(widget):
    yield widget
    for child in getattr(widget, "children", ()):
        yield from _walk(child)


def test_panel_builds_ui_with_controls():
    p = _Explorer()
    ui = p.ui
    assert isinstance(ui, ipywidgets.Box)
    found = list(_walk(ui))
    for w in (p.slider, p.view.widget, p.errors.widget, p.status):
        assert any(w is f for f in found)
    assert p.ui is ui  # built once
    extra = ipywidgets.Checkbox(description="smooth")
    p.add_controls(extra)
    assert any(extra is f for f in _walk(p.ui))
    assert not any(isinstance(f, ipywidgets.Output) for f in _walk(ui))
    p.close()


def test_panel_carries_the_arrow_key_guard():
    """Issue #19: every explorer (a Panel, or a box around one) is marked ``xnb-panel`` and ships the script
    that keeps Notebook 7's command-mode shortcuts off its focused controls' navigation keys (Lumino's
    ``data-lm-suppress-shortcuts``); the browser test checks that it works."""
    import html as _html

    from xnb.widgets.base import PANEL_HEAD_HTML, PIXELATED_CSS

    p = _Explorer()
    assert "xnb-panel" in p._dom_classes
    head = [w for w in _walk(p.ui) if isinstance(w, ipywidgets.HTML) and w.value == PANEL_HEAD_HTML]
    assert len(head) == 1
    assert PANEL_HEAD_HTML.startswith(PIXELATED_CSS)
    script = _html.unescape(PANEL_HEAD_HTML.split('onerror="', 1)[1].rsplit('"', 1)[0])
    assert '"' not in script  # the attribute stays closed
    for needle in ("data-lm-suppress-shortcuts", ".xnb-panel", "Arrow(Left|Right|Up|Down)",
                   "addEventListener('keydown'", "},true)"):
        assert needle in script
    p.close()


def test_panel_guarded_redraw_and_status():
    p = _Explorer()
    p.refresh()
    assert p.view.n_updates == 1 and p.status.value == "image 1"
    assert p.last_redraw_ms is not None
    p.slider.value = 3  # redraw raises inside the observer: shown, not raised
    assert "RuntimeError: cannot draw 3" in p.errors.message
    assert p.view.n_updates == 1
    p.slider.value = 4
    assert p.errors.message == "" and p.view.n_updates == 2 and p.status.value == "image 4"
    p.set_status(None)
    assert p.status.value == ""


def test_panel_observe_custom_fn_and_display(monkeypatch):
    p = Panel(controls=[ipywidgets.FloatSlider()])
    got = []
    wrapped = p.observe(p.controls[0], lambda ch: got.append(ch["new"]))
    p.controls[0].value = 0.5
    assert got == [0.5]
    p.controls[0].unobserve(wrapped, "value")
    p.controls[0].value = 0.7
    assert got == [0.5]

    # a real widget: it goes into containers, and displays through ipywidgets' own mime bundle
    assert isinstance(p, ipywidgets.VBox) and p.ui is p
    box = ipywidgets.VBox([p, ipywidgets.Label("below")])
    assert box.children[0] is p
    bundle = p._repr_mimebundle_()
    assert bundle["application/vnd.jupyter.widget-view+json"]["model_id"] == p.model_id


def test_panel_subclass_is_laid_out_after_its_own_init():
    class Late(Panel):
        def __init__(self):
            super().__init__(title="late")
            self.slider = ipywidgets.IntSlider()  # set after super().__init__: still in the layout
            self.add_controls(self.slider)

    p = Late()
    assert any(f is p.slider for f in _walk(p))
    assert any(f is p.view.widget for f in _walk(p))
    p.close()


def test_paper_modules_import_no_widgets_and_old_names_warn():
    """Paper modules hold no widget code (not even an ipywidgets import); the explorers live in
    xnb.widgets, and the old names still work for one release with a DeprecationWarning."""
    import subprocess
    import sys

    code = ("import sys; import xnb.srae, xnb.additive, xnb.mulasso, xnb.resample, xnb.sevec; "
            "print('ipywidgets' in sys.modules, 'xnb.widgets' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.split() == ["False", "False"]
    import xnb.widgets as W
    from xnb import additive, mulasso, resample, sevec, srae

    for mod, name in ((srae, "SRAEExplorer"), (additive, "AdditiveExplorer"), (mulasso, "MuLassoExplorer"),
                      (resample, "ResamplingExplorer"), (sevec, "SeVecExplorer")):
        with pytest.warns(DeprecationWarning, match=f"moved to xnb.widgets.{name}"):
            assert getattr(mod, name) is getattr(W, name)
        assert issubclass(getattr(W, name), ipywidgets.VBox)
    with pytest.raises(AttributeError):
        srae.NoSuchThing  # noqa: B018


def test_panel_labels_whole_descriptions_and_a_caption():
    p = Panel()
    short, long = ipywidgets.IntSlider(description="image"), ipywidgets.FloatSlider(description="kept energy %")
    p.add_controls(short, long)
    assert long.style.description_width == "initial"  # shown whole, not "kept ener…"
    assert short.style.description_width == ""
    p.set_caption("left: <map> · right: masked")
    assert "&lt;map&gt;" in p.caption.value and any(f is p.caption for f in _walk(p))
    assert p.view.widget.layout.align_self == "flex-start" and p.view.widget.layout.height == "auto"
    p.close()


def test_bars_have_an_axis_and_values():
    from xnb.additive import bars_rgb

    a = bars_rgb(np.array([0.5, -0.2]), ["x", "y"])
    b = bars_rgb(np.array([0.5, -0.2]), ["x", "y"], top=None)
    assert a.shape == b.shape and a.shape[0] > 2 * 14 + 6  # rows + the axis and its title
    assert (a[-20:] < 128).any()  # the axis title is drawn below the bars
