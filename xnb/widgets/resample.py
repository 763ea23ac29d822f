"""The ResamplingExplorer: input resampling's live neuron ranking and patches (notebook 04).
Moved here from :mod:`xnb.resample`, which holds the method's
estimators, metrics and claims without any widget."""
from __future__ import annotations

import ipywidgets
import numpy as np
from torch import nn

from .. import viz
from .._check import check_choice, check_float, check_images, check_int
from ..resample import METRICS, Patches, ResampledActivations, _WEIGHT_METRICS, _default_layers, _resolve_layers, depth_colors, jaccard, patches, resample, top_neurons
from .base import LRUCache, Panel, Timer

__all__ = ["ResamplingExplorer"]


class ResamplingExplorer(Panel):
    """Live input-resampling explorer: two metrics side by side with the patches of their top-N
    units per layer, boxes coloured by depth (Fig. 4), and the Jaccard similarity per layer.

    Parameters: ``model``; ``data`` (an ImageSet or images [N,C,H,W] in [0, 1]); ``layers`` (default:
    every conv layer); initial ``n``, ``sigma``, ``threshold`` (λ), ``top`` (N) and the two ``metrics``;
    ``scale`` (display upscaling); ``colors`` ({layer: (r, g, b)}, default :func:`depth_colors`);
    ``threshold_scale`` (see :meth:`ResampledActivations.importance`).

    Caches: one :func:`resample` pass per (image, n, σ, seed) (a forward over n+1 rows); the patch
    boxes of all units of a layer per image (one batched deconvnet pass). Moving λ, top-N, a metric
    or the layer only re-scores the cached statistics.
    """

    def __init__(self, model, data, layers=None, n: int = 50, sigma: float = 0.1, threshold: float = 0.1,
                 top: int = 5, metrics=("correlation", "precision"), scale: int = 4, colors=None,
                 threshold_scale: str = "layer_max"):
        if not isinstance(model, nn.Module):
            raise TypeError(f"model: expected a torch.nn.Module, got {type(model).__name__}")
        images = data.images if hasattr(data, "images") else data
        images = check_images(images, "data").detach().cpu()
        self.model, self.images = model, images
        self.layer_names = _resolve_layers(model, layers) or _default_layers(model, images[:1])
        self.colors = depth_colors(self.layer_names) if colors is None else dict(colors)
        missing = [l for l in self.layer_names if l not in self.colors]
        if missing:
            raise ValueError(f"colors: no colour for layer(s) {missing}")
        self.threshold_scale = check_choice(threshold_scale, "threshold_scale", ("absolute", "layer_max"))
        self.scale = check_int(scale, "scale", minimum=1)
        H, W = images.shape[-2:]
        super().__init__(width=(2 * W + 4) * self.scale, title="Input resampling: important neurons and their patches")
        self.stats_cache = LRUCache(32)
        self.patch_cache = LRUCache(256)
        self.n_forward = 0
        m = list(metrics)
        self.image = ipywidgets.IntSlider(0, 0, len(images) - 1, description="image")
        self.layer = ipywidgets.Dropdown(options=["(all layers)"] + self.layer_names, description="layer")
        self.metric_a = ipywidgets.Dropdown(options=list(METRICS), value=m[0], description="left")
        self.metric_b = ipywidgets.Dropdown(options=list(METRICS), value=m[1], description="right")
        self.n = ipywidgets.IntSlider(check_int(n, "n", minimum=2), 2, 200, description="n copies",
                                      continuous_update=False)
        self.sigma = ipywidgets.FloatSlider(check_float(sigma, "sigma", low=0.0), min=0.0, max=0.5, step=0.01,
                                            description="σ", continuous_update=False)
        self.threshold = ipywidgets.FloatLogSlider(max(check_float(threshold, "threshold", low=0.0), 1e-4),
                                                   base=10, min=-4, max=1, step=0.1, description="λ")
        self.top = ipywidgets.IntSlider(check_int(top, "top", minimum=1), 1, 20, description="top N")
        self.add_controls(self.image, self.layer, self.metric_a, self.metric_b, self.n, self.sigma,
                          self.threshold, self.top)
        for w in self.controls:
            self.observe(w)
        self.refresh()

    def stats(self, i=None) -> ResampledActivations:
        i = self.image.value if i is None else i
        key = (i, self.n.value, round(self.sigma.value, 6))

        def run():
            self.n_forward += 1
            return resample(self.model, self.images[i:i + 1], self.layer_names, n=self.n.value,
                            sigma=self.sigma.value)
        return self.stats_cache.get_or_compute(key, run)

    def patch_boxes(self, i, layer) -> Patches:
        return self.patch_cache.get_or_compute((i, layer), lambda: patches(self.model, self.images[i:i + 1], layer))

    def selection(self, metric, layer, i=None):
        res = self.stats(i)
        if metric in _WEIGHT_METRICS and res.stats[layer].weight is None:
            return []
        return top_neurons(res.importance(layer, metric, self.threshold.value, self.threshold_scale),
                           self.top.value)

    def _panel(self, i, metric, layers):
        rgb = (self.images[i].permute(1, 2, 0).clamp(0, 1).numpy() * 255).astype(np.uint8)
        if rgb.shape[2] == 1:
            rgb = np.repeat(rgb, 3, 2)
        s = self.scale
        rgb = np.kron(rgb, np.ones((s, s, 1), np.uint8))
        boxes, cols = [], []
        for l in layers:
            p = self.patch_boxes(i, l)
            for u in self.selection(metric, l, i):
                j = int(np.flatnonzero(p.units == u)[0])
                if not p.empty[j]:
                    boxes.append([v * s for v in p.boxes[j]])
                    cols.append(self.colors[l])
        return viz.draw_boxes(rgb, boxes, cols, width=2) if boxes else rgb

    def redraw(self):
        i = self.image.value
        layers = self.layer_names if self.layer.value == "(all layers)" else [self.layer.value]
        with Timer() as t:
            a = self._panel(i, self.metric_a.value, layers)
            b = self._panel(i, self.metric_b.value, layers)
        gap = np.full((a.shape[0], 4 * self.scale, 3), 255, np.uint8)
        self.view.show(viz.to_png(np.concatenate([a, gap, b], 1)))
        js = [f"{l}: {jaccard(self.selection(self.metric_a.value, l), self.selection(self.metric_b.value, l)):.2f}"
              for l in layers]
        self.set_caption(f"left: the top neurons' patches by {self.metric_a.value} · right: by {self.metric_b.value} "
                         f"(boxes: one patch per neuron, coloured by layer depth)")
        self.set_status(f"Jaccard({self.metric_a.value}, {self.metric_b.value}) · " + " · ".join(js)
                        + f" · {t.ms:.0f} ms")
