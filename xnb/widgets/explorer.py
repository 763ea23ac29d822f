"""``HeatmapExplorer``: pick an image, a method, a class or an internal channel; heatmaps redraw live.

A thin view over two caches: the forward pass per image (prediction, class scores) and the raw map per
(image, method, what is explained). Moving the threshold, opacity or colour map only re-renders the
cached map (a few ms, PIL); moving the channel slider costs one backward pass the first time and none
after; "all channels" fills the cache for a whole layer with batched passes (k channels per pass).
"""
from __future__ import annotations

import numpy as np
import torch
import ipywidgets

from .. import viz
from .._check import check_images, check_int, model_device
from ..attribution import METHODS, attribute
from ..layers import layers as _layers
from .base import LRUCache, Panel, Timer

__all__ = ["HeatmapExplorer"]

_OUTPUT = "(output class)"
_CMAPS = ["jet", "viridis", "inferno", "RdBu_r", "gray"]


def _images_and_names(data):
    """(images [N,C,H,W], class names or None) from an xnb ImageSet, a tensor or an (images, labels) pair."""
    if hasattr(data, "images"):
        return data.images, list(getattr(data, "class_names", []) or []) or None
    if isinstance(data, (tuple, list)) and len(data) == 2 and isinstance(data[0], torch.Tensor):
        return data[0], None
    if isinstance(data, torch.Tensor):
        return data, None
    raise TypeError("data: expected an xnb.data ImageSet, a tensor of images [N,C,H,W] or (images, labels)")


class HeatmapExplorer(Panel):
    """Live heatmaps of ``model`` on ``data``.

    Parameters
    ----------
    model : the network (never changed: every computation goes through :func:`xnb.attribute`).
    data : an :class:`xnb.data.ImageSet` (its class names label the target menu), images [N,C,H,W] in
        [0, 1], or ``(images, labels)``.
    methods : method names for the menu (default: every method of :data:`xnb.METHODS` except the semantic
        ones, which need SeVecs).
    layers : layers whose channels can be explained (default: the conv and pool layers).
    class_names : labels for the model's outputs (default: the data's, or the model's own).
    channel_batch : channels per batched pass when "all channels" is pressed.
    scale : how many times larger than the images the view is shown (default: about 256 px wide).

    Controls: image slider, method, target (predicted class or any class), layer ("(output class)" or an
    internal layer), channel slider, threshold, opacity, colour map. Errors (e.g. a method that cannot
    explain a unit) show inside the widget; it keeps working.
    """

    def __init__(self, model, data, methods=None, layers=None, class_names=None, channel_batch: int = 16,
                 scale: int | None = None, cache_size: int = 512):
        if not isinstance(model, torch.nn.Module):
            raise TypeError(f"model: expected a torch.nn.Module, got {type(model).__name__}")
        images, data_names = _images_and_names(data)
        images = check_images(images, "data")
        # (the semantic methods need fitted SeVecs: xnb.sevec has its own explorer)
        methods = [m for m in METHODS if not m.startswith("semantic_")] if methods is None else list(methods)
        bad = [m for m in methods if m not in METHODS]
        if bad or not methods:
            raise ValueError(f"methods: unknown {bad or 'empty list'}; valid methods: {', '.join(METHODS)}")
        infos = {i.name: i for i in _layers(model, tuple(images.shape[1:]))}
        if layers is None:
            layers = [n for n, i in infos.items() if i.kind in ("conv", "pool") and i.output_shape
                      and len(i.output_shape) == 3]
        else:
            layers = [layers] if isinstance(layers, str) else list(layers)
            unknown = [n for n in layers if n not in infos]
            if unknown:
                raise ValueError(f"layers: unknown layer(s) {unknown}; valid layers: {', '.join(infos)}")
        self.channel_batch = check_int(channel_batch, "channel_batch", minimum=1)
        self.model = model
        self.images = images.detach().cpu()
        self._infos = infos
        with torch.no_grad():
            n_out = int(model(self.images[:1].to(model_device(model))).shape[1])
        names = class_names or data_names or list(getattr(getattr(model, "config", None), "class_names", ()) or ())
        if len(names) != n_out:
            names = [str(i) for i in range(n_out)]
        self.class_names = list(names)
        h = int(self.images.shape[-1])
        self.scale = check_int(scale, "scale", minimum=1) if scale is not None else max(1, round(256 / h))
        super().__init__(width=h * self.scale, title="Heatmap explorer")

        # caches: forward pass per image, raw maps per (image, method, explained thing)
        self.forward_cache = LRUCache(maxsize=cache_size)
        self.map_cache = LRUCache(maxsize=cache_size * 4)
        self.n_backward = 0  # backward passes run (benchmarks and tests read it)

        n = len(self.images)
        self.image = ipywidgets.IntSlider(0, 0, max(n - 1, 0), description="image")
        self.image.add_class("xnb-primary")  # the slider browser tests move
        self.method = ipywidgets.Dropdown(options=methods, value=methods[0], description="method")
        self.target = ipywidgets.Dropdown(options=[("predicted", -1)] + [(c, i) for i, c in enumerate(self.class_names)],
                                          value=-1, description="target")
        self.layer = ipywidgets.Dropdown(options=[_OUTPUT] + layers, value=_OUTPUT, description="layer")
        self.channel = ipywidgets.IntSlider(0, 0, 0, description="channel", disabled=True)
        # 0.2: below a fifth of the map's maximum the image shows through (at 0 a jet overlay tints it all blue)
        self.threshold = ipywidgets.FloatSlider(0.2, min=0.0, max=0.99, step=0.01, description="threshold")
        self.alpha = ipywidgets.FloatSlider(0.5, min=0.0, max=1.0, step=0.05, description="opacity")
        self.cmap = ipywidgets.Dropdown(options=_CMAPS, value="jet", description="colour map")
        self.all_channels = ipywidgets.Button(description="all channels", disabled=True,
                                              tooltip="compute every channel of this layer in batched passes")
        self.add_controls(self.image, self.method, self.target, self.layer, self.channel, self.threshold,
                          self.alpha, self.cmap, self.all_channels)
        for w in (self.image, self.method, self.target, self.channel, self.threshold, self.alpha, self.cmap):
            self.observe(w)
        self.observe(self.layer, self._on_layer)
        self.all_channels.on_click(lambda _b: self._guarded_fill())
        self.refresh()

    # ------------------------------------------------------------------ cached computations

    def prediction(self, i: int) -> np.ndarray:
        """Softmax of the model's output for image i (cached per image)."""
        def run():
            with torch.no_grad():
                out = self.model(self.images[i:i + 1].to(model_device(self.model)))
            return torch.softmax(out.float(), 1)[0].cpu().numpy()

        return self.forward_cache.get_or_compute(i, run)

    def _target(self, i: int) -> int:
        t = int(self.target.value)
        return int(self.prediction(i).argmax()) if t < 0 else t

    def heatmap(self, i: int | None = None) -> np.ndarray:
        """The raw map [H,W] currently selected (cached)."""
        i = self.image.value if i is None else i
        method, layer = self.method.value, self.layer.value
        if layer == _OUTPUT:
            t = self._target(i)
            key = (i, method, "target", t)
            return self.map_cache.get_or_compute(key, lambda: self._compute(i, method, target=t))
        c = int(self.channel.value)
        key = (i, method, layer, c)
        return self.map_cache.get_or_compute(key, lambda: self._compute(i, method, layer=layer, channel=c))

    def _compute(self, i, method, **what) -> np.ndarray:
        self.n_backward += 1
        h = attribute(self.model, self.images[i:i + 1], method, **what)
        return h[0].detach().cpu().numpy()

    def fill_channels(self, i: int | None = None) -> int:
        """Compute the maps of every channel of the current layer for image i in batched passes of
        ``channel_batch`` channels; returns how many were computed (cached ones are skipped)."""
        i = self.image.value if i is None else i
        method, layer = self.method.value, self.layer.value
        if layer == _OUTPUT:
            return 0
        todo = [c for c in range(self.channel.max + 1) if (i, method, layer, c) not in self.map_cache]
        for s in range(0, len(todo), self.channel_batch):
            chans = todo[s:s + self.channel_batch]
            self.n_backward += 1
            maps = attribute(self.model, self.images[i:i + 1], method, layer=layer, channel=chans)[0]
            for c, m in zip(chans, maps.detach().cpu().numpy()):
                self.map_cache.get_or_compute((i, method, layer, c), lambda m=m: m)
        return len(todo)

    # ------------------------------------------------------------------ view

    def _guarded_fill(self):
        from .base import guarded

        def run():
            with Timer() as t:
                k = self.fill_channels()
            self.set_status(f"computed {k} channel maps in {t.ms:.0f} ms")

        guarded(self.errors, run)()

    def _on_layer(self, change):
        layer = self.layer.value
        unit = layer != _OUTPUT
        self.channel.disabled = not unit
        self.all_channels.disabled = not unit
        self.target.disabled = unit
        if unit:
            n_ch = int(self._infos[layer].output_shape[0])
            self.channel.value = min(self.channel.value, n_ch - 1)
            self.channel.max = n_ch - 1
        self._redraw_timed()

    def redraw(self) -> None:
        i = self.image.value
        with Timer() as t:
            h = self.heatmap(i)
        signed = self.cmap.value == "RdBu_r"
        # native resolution: the browser enlarges it (pixelated CSS), which is cheaper than a bigger PNG
        png = viz.render(self.images[i], h, cmap=self.cmap.value, alpha=float(self.alpha.value),
                         threshold=float(self.threshold.value), signed=signed, scale=1)
        self.view.show(png)
        p = self.prediction(i)
        k = int(p.argmax())
        what = (f"class {self.class_names[self._target(i)]!r}" if self.layer.value == _OUTPUT
                else f"{self.layer.value} channel {self.channel.value}")
        self.set_status(f"predicted {self.class_names[k]} ({p[k]:.2f}) · explaining {what} · "
                        f"map {t.ms:.0f} ms")
        # continuous updates only where a change is cheap
        slow = t.ms > 150
        for w in (self.image, self.channel):
            w.continuous_update = not slow
