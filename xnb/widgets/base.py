"""Reusable building blocks for xnb's live explorers (ipywidgets 8.x).

Rules these blocks enforce:

* widgets are thin views over cached computations (:class:`LRUCache`);
* live images go into an ``ipywidgets.Image`` as PNG bytes made with PIL
  (:class:`ImageView`, fed by :func:`xnb.viz.render`) -- never a matplotlib
  figure, and never an ``ipywidgets.Output`` widget (it stalls headless
  notebook executors);
* nothing a user does from a widget kills the widget: callbacks are wrapped by
  :func:`guarded`, which shows exceptions inside the widget
  (:class:`ErrorArea`) instead of raising them.

Typical explorer::

    class MyExplorer(Panel):
        def __init__(self, images, heatmaps):
            super().__init__(title="My explorer")
            self.images, self.heatmaps = images, heatmaps
            self.index = ipywidgets.IntSlider(0, 0, len(images) - 1, description="image")
            self.alpha = ipywidgets.FloatSlider(0.5, min=0, max=1, description="alpha")
            self.add_controls(self.index, self.alpha)
            self.observe(self.index)          # fn=None -> redraw on change
            self.observe(self.alpha)
            self.refresh()

        def redraw(self):
            i = self.index.value
            self.view.show(render(self.images[i], self.heatmaps[i],
                                  alpha=self.alpha.value, scale=4))

    MyExplorer(images, heatmaps)   # last in a cell -> displayed
"""

from __future__ import annotations

import functools
import html
import logging
import traceback
from typing import Any, Callable, Iterable, TypeVar

import ipywidgets

__all__ = ["ImageView", "ErrorArea", "guarded", "LRUCache", "Timer", "Panel"]

_log = logging.getLogger(__name__)
# Library logging etiquette: no output unless the application configures logging
# (the error is shown in the widget anyway).
_log.addHandler(logging.NullHandler())

T = TypeVar("T")

_PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def _css_size(value: Any, name: str) -> str | None:
    if value is None:
        return None
    if isinstance(value, bool):
        raise TypeError(f"{name} must be a positive int (pixels), a CSS size string or None")
    if isinstance(value, int):
        if value <= 0:
            raise ValueError(f"{name} must be a positive number of pixels, got {value}")
        return f"{value}px"
    if isinstance(value, str) and value.strip():
        return value
    raise TypeError(
        f"{name} must be a positive int (pixels), a CSS size string or None, got {value!r}"
    )


# --------------------------------------------------------------------------
# ImageView
# --------------------------------------------------------------------------

#: CSS that makes every live image (class ``xnb-image``) scale up with nearest-neighbour sampling
PIXELATED_CSS = ("<style>.xnb-image, .xnb-image img {image-rendering: pixelated; "
                 "image-rendering: crisp-edges;}</style>")

# Keyboard control of the explorers' sliders in Jupyter Notebook 7 (issue #19).
#
# Notebook 7 starts its Lumino application without ``bubblingKeydown`` (JupyterLab 4 passes
# ``bubblingKeydown: true``), so Lumino's keydown listener sits on ``document`` in the *capture* phase:
# the notebook's command-mode shortcuts (ArrowUp/ArrowDown → notebook:move-cursor-*, selector
# ``.jp-Notebook.jp-mod-commandMode:not(.jp-mod-readWrite) :focus``) run, stop the event and move the
# cell selection before noUiSlider's own handler on the focused slider handle sees the key. A focused
# ``<input>`` escapes (it is ``:read-write``), a slider handle (a ``div``) does not. In JupyterLab the
# listener bubbles, noUiSlider calls ``preventDefault()`` first and Lumino skips prevented events.
#
# Lumino's documented escape is the ``data-lm-suppress-shortcuts`` attribute: no shortcut matches an
# event whose target (or an ancestor below the matching element) carries it. The target is the handle,
# which noUiSlider creates in the browser, and ipywidgets 8 can only set CSS classes from Python. So a
# one-line script, run once per page from the explorer's existing style widget (an ``HTML`` widget's
# markup goes in unsanitised in JupyterLab, Notebook 7 and Voila; the ``<img onerror>`` idiom runs it),
# adds a window-level capture listener — window capture runs before document capture — that puts the
# attribute on the target of a navigation key inside an explorer (class ``xnb-panel``) and takes it off
# right after. Only unmodified navigation keys, so Shift+Enter etc. still reach the notebook; no
# dependency (anywidget, a lab extension) is needed. Where the script does not run (an exported HTML
# page), nothing changes.
_KEY_GUARD_JS = (
    "if(!window.xnbKeyGuard){window.xnbKeyGuard=1;window.addEventListener('keydown',function(e){"
    "var t=e.target;if(e.ctrlKey||e.metaKey||e.altKey||!t||!t.closest||!t.closest('.xnb-panel')"
    "||!/^(Arrow(Left|Right|Up|Down)|PageUp|PageDown|Home|End)$/.test(e.key)"
    "||t.hasAttribute('data-lm-suppress-shortcuts'))return;"
    "t.setAttribute('data-lm-suppress-shortcuts','true');"
    "setTimeout(function(){t.removeAttribute('data-lm-suppress-shortcuts')},0)},true)}"
)
#: the markup of every explorer's first (invisible) widget: :data:`PIXELATED_CSS` and the key guard
PANEL_HEAD_HTML = PIXELATED_CSS + ('<img alt="" src="data:," style="display:none" onerror="'
                                   + html.escape(_KEY_GUARD_JS, quote=True) + '">')


class ImageView:
    """A live image: an ``ipywidgets.Image(format="png")`` fed with PNG bytes.

    ``width``/``height`` are the displayed size (int pixels or CSS strings);
    with ``height=None`` the aspect ratio of the PNG is kept.  For a crisp
    (nearest-neighbour) look without CSS, send PNGs already upscaled to about
    the displayed size (``show_array(rgb, scale=None)`` picks the integer
    scale for you).  The widget carries the CSS class ``xnb-image``.
    """

    def __init__(self, width: int | str | None = 256, height: int | str | None = None):
        w = _css_size(width, "width")
        h = _css_size(height, "height")
        # never stretched: height follows the PNG's aspect ratio (or the PNG fits a given box), and the
        # image does not grow with a taller sibling in a flex row (e.g. a long list of controls)
        layout = ipywidgets.Layout(width=w, height=h if h is not None else "auto", object_fit="contain",
                                   align_self="flex-start", flex="0 0 auto")
        self._width_px = width if isinstance(width, int) else None
        self._image = ipywidgets.Image(value=b"", format="png", layout=layout)
        self._image.add_class("xnb-image")
        self.n_updates = 0

    @property
    def widget(self) -> ipywidgets.Image:
        """The underlying ``ipywidgets.Image``."""
        return self._image

    @property
    def value(self) -> bytes:
        """The PNG bytes currently shown (``b""`` before the first update)."""
        return bytes(self._image.value)

    def show(self, png_bytes: bytes) -> None:
        """Show PNG bytes (as made by :func:`xnb.viz.to_png` / :func:`xnb.viz.render`)."""
        if not isinstance(png_bytes, (bytes, bytearray, memoryview)):
            raise TypeError(f"png_bytes must be bytes, got {type(png_bytes).__name__}")
        data = bytes(png_bytes)
        if not data.startswith(_PNG_SIGNATURE):
            raise ValueError("png_bytes is not a PNG (missing PNG signature)")
        self._image.value = data
        self.n_updates += 1

    def show_array(self, rgb_uint8: Any, scale: int | None = 1) -> bytes:
        """Encode a uint8 ``[H, W, 3]`` array with :func:`xnb.viz.to_png` and show it.

        ``scale=None`` picks the integer nearest-neighbour scale that best fills
        the view's pixel width.  Returns the PNG bytes shown.
        """
        from xnb.viz import to_png

        if scale is None:
            scale = 1
            shape = getattr(rgb_uint8, "shape", None)
            if self._width_px and shape is not None and len(shape) >= 2 and shape[1] > 0:
                scale = max(1, int(self._width_px) // int(shape[1]))
        png = to_png(rgb_uint8, scale=scale)
        self.show(png)
        return png

    def clear(self) -> None:
        self._image.value = b""

    def _ipython_display_(self) -> None:
        from IPython.display import display

        display(self._image)


# --------------------------------------------------------------------------
# ErrorArea and guarded
# --------------------------------------------------------------------------

class ErrorArea:
    """An ``ipywidgets.HTML`` that shows the last error of a widget's callbacks.

    Empty (takes no space) until :meth:`show` is called.  The exception type
    and message are shown in red in a ``<pre>``; the last ``frames`` traceback
    frames sit in a collapsed ``<details>``.  Everything is HTML-escaped.
    """

    def __init__(self, frames: int = 5):
        self.frames = int(frames)
        self._html = ipywidgets.HTML(value="")
        self._html.add_class("xnb-error")
        self._message = ""
        self.n_errors = 0

    @property
    def widget(self) -> ipywidgets.HTML:
        return self._html

    @property
    def message(self) -> str:
        """Plain text ``"TypeName: message"`` of the last error, or ``""``."""
        return self._message

    def show(self, exc: BaseException | str) -> None:
        """Show an exception (or a plain message string)."""
        if isinstance(exc, BaseException):
            text = "".join(traceback.format_exception_only(type(exc), exc)).strip()
            frames = traceback.extract_tb(exc.__traceback__)[-self.frames:] if self.frames > 0 else []
            tb_text = "".join(traceback.format_list(frames)).rstrip()
        else:
            text = str(exc)
            tb_text = ""
        self._message = text
        self.n_errors += 1
        parts = [
            '<div style="color:#b00020">',
            '<pre style="color:#b00020;white-space:pre-wrap;margin:2px 0">',
            html.escape(text),
            "</pre>",
        ]
        if tb_text:
            parts += [
                "<details><summary>traceback (last frames)</summary>",
                '<pre style="white-space:pre-wrap;font-size:85%;margin:2px 0">',
                html.escape(tb_text),
                "</pre></details>",
            ]
        parts.append("</div>")
        self._html.value = "".join(parts)

    def clear(self) -> None:
        """Remove the error (no-op when already clear)."""
        if self._message or self._html.value:
            self._message = ""
            self._html.value = ""

    def _ipython_display_(self) -> None:
        from IPython.display import display

        display(self._html)


def guarded(
    error_area: ErrorArea, fn: Callable[..., T] | None = None
) -> Callable[..., T | None] | Callable[[Callable[..., T]], Callable[..., T | None]]:
    """Wrap a widget callback so that it can never raise.

    ``guarded(err)(fn)`` or ``guarded(err, fn)`` or ``@guarded(err)``.  The
    wrapper runs ``fn``; on success it clears ``error_area`` and returns the
    result; on an ``Exception`` it logs it (logger ``xnb.widgets.base``), shows
    it in ``error_area`` and returns None.
    """
    if not isinstance(error_area, ErrorArea):
        raise TypeError(f"error_area must be an ErrorArea, got {type(error_area).__name__}")

    def decorate(f: Callable[..., T]) -> Callable[..., T | None]:
        if not callable(f):
            raise TypeError(f"fn must be callable, got {type(f).__name__}")
        name = getattr(f, "__qualname__", repr(f))

        @functools.wraps(f)
        def wrapper(*args: Any, **kwargs: Any) -> T | None:
            try:
                result = f(*args, **kwargs)
            except Exception as exc:  # noqa: BLE001 - that is the point
                _log.error("widget callback %s failed: %s", name, exc, exc_info=True)
                try:
                    error_area.show(exc)
                except Exception:  # pragma: no cover - never let the guard itself raise
                    _log.exception("could not show the error of %s", name)
                return None
            try:
                error_area.clear()
            except Exception:  # pragma: no cover
                _log.exception("could not clear the error area")
            return result

        wrapper.__wrapped_guarded__ = True  # type: ignore[attr-defined]
        return wrapper

    if fn is not None:
        return decorate(fn)
    return decorate


# --------------------------------------------------------------------------
# LRUCache and Timer
# --------------------------------------------------------------------------

from .._cache import LRUCache, Timer  # noqa: E402  (re-exported: widget-free, used by the paper modules)


# --------------------------------------------------------------------------
# Panel
# --------------------------------------------------------------------------

class Panel(ipywidgets.VBox):
    """Base class of live explorers: an ``ipywidgets.VBox``, so ``display(explorer)``,
    ``VBox([explorer, other])`` and Voila layouts work like with any widget.

    Holds ``controls`` (a list of widgets), ``view`` (an :class:`ImageView`),
    ``errors`` (an :class:`ErrorArea`) and ``status`` (an ``ipywidgets.Label``).
    :meth:`_build_ui` lays them out (controls on the left, the image on the
    right, status and errors below) when the outermost ``__init__`` returns, so
    subclasses may override it using attributes they set after
    ``super().__init__()``.

    Subclasses override :meth:`redraw` and wire controls with :meth:`observe`
    so that every callback is :func:`guarded`.
    """

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        init = cls.__dict__.get("__init__")
        if init is not None:
            cls.__init__ = _build_after(init)

    def __init__(
        self,
        controls: Iterable[ipywidgets.Widget] | None = None,
        width: int | str = 256,
        height: int | str | None = None,
        title: str | None = None,
        **kwargs: Any,
    ):
        super().__init__(**kwargs)
        self.add_class("xnb-panel")  # the scope of the arrow-key guard (PANEL_HEAD_HTML)
        self.controls: list[ipywidgets.Widget] = list(controls or [])
        self.view = ImageView(width=width, height=height)
        self.errors = ErrorArea()
        self.status = ipywidgets.Label(value="")
        self.caption = ipywidgets.HTML(value="")  # what the image shows (set_caption)
        self.caption.add_class("xnb-caption")
        self.title = title
        self.last_redraw_ms: float | None = None
        self._layout_box: ipywidgets.Box | None = None
        self._controls_box: ipywidgets.VBox | None = None

    # -- layout -----------------------------------------------------------
    def _build_ui(self) -> ipywidgets.Box:
        self._controls_box = ipywidgets.VBox(list(self.controls))
        body = ipywidgets.HBox([self._controls_box, self.view.widget])
        # small PNGs are enlarged by the browser, crisply: encoding a 64 px PNG instead of a 256 px one
        # is ~3x cheaper on every redraw
        children: list[ipywidgets.Widget] = [ipywidgets.HTML(PANEL_HEAD_HTML)]
        if self.title:
            children.append(ipywidgets.HTML(value=f"<b>{html.escape(str(self.title))}</b>"))
        children += [self.caption, body, self.status, self.errors.widget]
        return ipywidgets.VBox(children)

    def _ensure_ui(self) -> None:
        if self._layout_box is None:
            self._layout_box = self._build_ui()
            self.children = (self._layout_box,)
        elif self._controls_box is not None and list(self._controls_box.children) != self.controls:
            self._controls_box.children = tuple(self.controls)

    @property
    def ui(self) -> "Panel":
        """The explorer itself (a VBox; kept for code written when explorers were not widgets)."""
        self._ensure_ui()
        return self

    def add_controls(self, *widgets: ipywidgets.Widget) -> None:
        """Append controls (also after the layout was built)."""
        for w in widgets:
            if not isinstance(w, ipywidgets.Widget):
                raise TypeError(f"controls must be ipywidgets widgets, got {type(w).__name__}")
            desc = getattr(w, "description", "") or ""
            style = getattr(w, "style", None)
            if len(desc) > 10 and style is not None and hasattr(style, "description_width"):
                style.description_width = "initial"  # a long label is shown whole, not clipped ("kept ener…")
            self.controls.append(w)
        if self._controls_box is not None:
            self._controls_box.children = tuple(self.controls)

    # -- behaviour --------------------------------------------------------
    def observe(self, widget, fn: Callable[[dict], Any] | None = None, names: Any = "value", **kwargs: Any):
        """``widget.observe`` a guarded callback; ``fn=None`` means "redraw on change".

        Returns the wrapper actually registered (for ``widget.unobserve``). Called with a handler
        instead of a widget, it is traitlets' own ``observe`` on the explorer's traits.
        """
        if not isinstance(widget, ipywidgets.Widget):  # traitlets' observe(handler, names=..., type=...)
            return super().observe(widget, names=fn if fn is not None else names, **kwargs)
        if fn is None:
            def fn(change: dict) -> None:  # noqa: ARG001
                self._redraw_timed()

        wrapped = guarded(self.errors, fn)
        widget.observe(wrapped, names=names)
        return wrapped

    def _redraw_timed(self) -> None:
        with Timer() as t:
            self.redraw()
        self.last_redraw_ms = t.ms

    def redraw(self) -> None:
        """Recompute (from caches) and show the current view; override in subclasses."""

    def refresh(self) -> None:
        """Run :meth:`redraw` guarded: errors end up in :attr:`errors`, never raised."""
        guarded(self.errors, self._redraw_timed)()

    def set_status(self, text: Any) -> None:
        self.status.value = "" if text is None else str(text)

    def set_caption(self, text: str) -> None:
        """Say what the image shows (panels, markers, colours), above it; plain text, escaped."""
        self.caption.value = f"<small>{html.escape(str(text))}</small>" if text else ""

    def close(self) -> None:
        """Close all widgets of the panel (frees their comms), then the panel itself."""
        if "view" not in self.__dict__:  # a subclass refused its arguments before Panel.__init__ ran
            return super().close()
        for w in list(self.controls) + [self.view.widget, self.errors.widget, self.status, self.caption]:
            w.close()
        if self._layout_box is not None:
            for child in self._layout_box.children:
                child.close()
            self._layout_box.close()
        super().close()


def _build_after(init: Callable[..., None]) -> Callable[..., None]:
    """Wrap a Panel subclass's ``__init__`` so the layout is built when the outermost one returns."""

    @functools.wraps(init)
    def wrapper(self: Panel, *args: Any, **kwargs: Any) -> None:
        depth = self.__dict__.get("_xnb_init_depth", 0)
        self.__dict__["_xnb_init_depth"] = depth + 1
        try:
            init(self, *args, **kwargs)
        finally:
            self.__dict__["_xnb_init_depth"] = depth
        if depth == 0:
            self._ensure_ui()

    return wrapper


Panel.__init__ = _build_after(Panel.__init__)  # a plain Panel(...) is laid out too
