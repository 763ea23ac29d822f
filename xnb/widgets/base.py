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
import threading
import time
import traceback
from collections import OrderedDict
from typing import Any, Callable, Hashable, Iterable, TypeVar

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
        layout = ipywidgets.Layout(width=w, height=h)
        if h is not None:
            layout.object_fit = "contain"
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

_MISSING = object()


class LRUCache:
    """A small least-recently-used cache for expensive computations.

    ``get_or_compute(key, fn)`` returns the cached value for ``key`` (a hit)
    or calls ``fn()``, stores and returns its result (a miss); when more than
    ``maxsize`` entries are held the least recently used one is evicted.  If
    ``fn()`` raises nothing is stored.  Keys are hashables built by the caller,
    e.g. ``(image_index, method, target, layer)``.  ``in`` does not count as a
    hit nor refresh recency.
    """

    def __init__(self, maxsize: int = 64):
        if isinstance(maxsize, bool) or not isinstance(maxsize, int) or maxsize < 1:
            raise ValueError(f"maxsize must be an integer >= 1, got {maxsize!r}")
        self.maxsize = maxsize
        self._data: OrderedDict[Hashable, Any] = OrderedDict()
        self._lock = threading.RLock()
        self.hits = 0
        self.misses = 0
        self.evictions = 0

    def get_or_compute(self, key: Hashable, fn: Callable[[], T]) -> T:
        try:
            hash(key)
        except TypeError:
            raise TypeError(f"key must be hashable, got {type(key).__name__}") from None
        with self._lock:
            value = self._data.get(key, _MISSING)
            if value is not _MISSING:
                self._data.move_to_end(key)
                self.hits += 1
                return value
            self.misses += 1
        value = fn()  # outside the lock: fn may be slow or use the cache itself
        with self._lock:
            self._data[key] = value
            self._data.move_to_end(key)
            while len(self._data) > self.maxsize:
                self._data.popitem(last=False)
                self.evictions += 1
        return value

    def get(self, key: Hashable, default: Any = None) -> Any:
        """Cached value or ``default``; counts a hit (and refreshes recency) when found."""
        with self._lock:
            value = self._data.get(key, _MISSING)
            if value is _MISSING:
                return default
            self._data.move_to_end(key)
            self.hits += 1
            return value

    def clear(self) -> None:
        """Drop all entries (the hit/miss counters are kept; see :meth:`reset_stats`)."""
        with self._lock:
            self._data.clear()

    def reset_stats(self) -> None:
        with self._lock:
            self.hits = self.misses = self.evictions = 0

    def keys(self) -> list[Hashable]:
        """Keys from least to most recently used."""
        with self._lock:
            return list(self._data.keys())

    def __contains__(self, key: object) -> bool:
        with self._lock:
            return key in self._data

    def __len__(self) -> int:
        with self._lock:
            return len(self._data)

    def __repr__(self) -> str:
        return (
            f"LRUCache(maxsize={self.maxsize}, size={len(self)}, "
            f"hits={self.hits}, misses={self.misses})"
        )


class Timer:
    """Context manager measuring wall time: ``with Timer() as t: ...; t.ms``."""

    def __init__(self) -> None:
        self.start: float | None = None
        self.elapsed = 0.0

    def __enter__(self) -> "Timer":
        self.start = time.perf_counter()
        return self

    def __exit__(self, *exc: Any) -> None:
        assert self.start is not None
        self.elapsed = time.perf_counter() - self.start

    @property
    def ms(self) -> float:
        return self.elapsed * 1000.0


# --------------------------------------------------------------------------
# Panel
# --------------------------------------------------------------------------

class Panel:
    """Base class of live explorers.

    Holds ``controls`` (a list of widgets), ``view`` (an :class:`ImageView`),
    ``errors`` (an :class:`ErrorArea`) and ``status`` (an ``ipywidgets.Label``).
    ``ui`` lays them out (controls on the left, the image on the right, status
    and errors below) and is built on first access; subclasses may override
    :meth:`_build_ui`.  Putting the object last in a notebook cell displays
    ``ui``.

    Subclasses override :meth:`redraw` and wire controls with :meth:`observe`
    so that every callback is :func:`guarded`.
    """

    def __init__(
        self,
        controls: Iterable[ipywidgets.Widget] | None = None,
        width: int | str = 256,
        height: int | str | None = None,
        title: str | None = None,
    ):
        self.controls: list[ipywidgets.Widget] = list(controls or [])
        self.view = ImageView(width=width, height=height)
        self.errors = ErrorArea()
        self.status = ipywidgets.Label(value="")
        self.title = title
        self.last_redraw_ms: float | None = None
        self._ui: ipywidgets.Box | None = None
        self._controls_box: ipywidgets.VBox | None = None

    # -- layout -----------------------------------------------------------
    def _build_ui(self) -> ipywidgets.Box:
        self._controls_box = ipywidgets.VBox(list(self.controls))
        body = ipywidgets.HBox([self._controls_box, self.view.widget])
        # small PNGs are enlarged by the browser, crisply: encoding a 64 px PNG instead of a 256 px one
        # is ~3x cheaper on every redraw
        children: list[ipywidgets.Widget] = [ipywidgets.HTML(PIXELATED_CSS)]
        if self.title:
            children.append(ipywidgets.HTML(value=f"<b>{html.escape(str(self.title))}</b>"))
        children += [body, self.status, self.errors.widget]
        return ipywidgets.VBox(children)

    @property
    def ui(self) -> ipywidgets.Box:
        """The explorer's top-level widget (built on first access)."""
        if self._ui is None:
            self._ui = self._build_ui()
        elif self._controls_box is not None and list(self._controls_box.children) != self.controls:
            self._controls_box.children = tuple(self.controls)
        return self._ui

    def add_controls(self, *widgets: ipywidgets.Widget) -> None:
        """Append controls (also after ``ui`` was built)."""
        for w in widgets:
            if not isinstance(w, ipywidgets.Widget):
                raise TypeError(f"controls must be ipywidgets widgets, got {type(w).__name__}")
            self.controls.append(w)
        if self._controls_box is not None:
            self._controls_box.children = tuple(self.controls)

    # -- behaviour --------------------------------------------------------
    def observe(
        self,
        widget: ipywidgets.Widget,
        fn: Callable[[dict], Any] | None = None,
        names: str | list[str] = "value",
    ) -> Callable[..., Any]:
        """``widget.observe`` a guarded callback; ``fn=None`` means "redraw on change".

        Returns the wrapper actually registered (for ``widget.unobserve``).
        """
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

    def close(self) -> None:
        """Close all widgets of the panel (frees their comms)."""
        for w in list(self.controls) + [self.view.widget, self.errors.widget, self.status]:
            w.close()
        if self._ui is not None:
            for child in self._ui.children:
                child.close()
            self._ui.close()

    def _ipython_display_(self) -> None:
        from IPython.display import display

        display(self.ui)
