"""Explorers of notebook 06: the model-randomisation cascade and the shortcut, as views over results.

Both are thin views: every heatmap was computed by :func:`xnb.sanity.model_randomization` or
:func:`xnb.sanity.shortcut_report`; a slider move only re-renders (no forward or backward pass).
"""
from __future__ import annotations

import ipywidgets
import numpy as np

from .. import viz
from .._check import check_images
from ..sanity import RandomizationResult, ShortcutReport
from .base import Panel

__all__ = ["RandomizationExplorer", "ShortcutExplorer"]

_GAP = 4  # px of white between panels


def _side_by_side(panels: list) -> np.ndarray:
    h = panels[0].shape[0]
    gap = np.full((h, _GAP, 3), 255, np.uint8)
    out = [panels[0]]
    for p in panels[1:]:
        out += [gap, p]
    return np.concatenate(out, 1)


class RandomizationExplorer(Panel):
    """The image, its heatmap on the trained model and on the model with layers re-initialised.

    ``result`` is a :class:`~xnb.sanity.RandomizationResult` computed with ``keep_maps=True`` on ``images``
    (the same [N,C,H,W] tensor). Controls: image, method, how many layers are randomised (0 = none),
    threshold. The status line gives the rank correlation of the two maps for this image and its mean
    over the images at this step.
    """

    def __init__(self, result: RandomizationResult, images, scale: int = 3):
        if not isinstance(result, RandomizationResult):
            raise TypeError(f"result: expected an xnb.sanity.RandomizationResult, got {type(result).__name__}")
        if result.maps is None:
            raise ValueError("result: computed with keep_maps=False; run model_randomization(..., keep_maps=True)")
        images = check_images(images, "images").detach().cpu()
        if len(images) != len(result.targets):
            raise ValueError(f"images: the result has {len(result.targets)} images, got {len(images)}")
        self.result, self.images = result, images
        h, w = images.shape[-2:]
        self.scale = int(scale)
        super().__init__(width=(3 * w + 2 * _GAP) * self.scale, height=h * self.scale,
                         title="Model-randomisation explorer")
        n, steps = len(images), len(result.steps)
        self.image = ipywidgets.IntSlider(0, 0, n - 1, description="image")
        self.image.add_class("xnb-primary")
        self.method = ipywidgets.Dropdown(options=list(result.methods), value=result.methods[0],
                                          description="method")
        self.step = ipywidgets.IntSlider(steps, 0, steps, description="randomised")
        self.threshold = ipywidgets.FloatSlider(0.2, min=0.0, max=0.99, step=0.01, description="threshold")
        self.add_controls(self.image, self.method, self.step, self.threshold)
        for wdg in (self.image, self.method, self.step, self.threshold):
            self.observe(wdg)
        self.refresh()

    def current_map(self) -> np.ndarray:
        """The map on the right: the trained one at step 0, else the one after ``step`` randomisations."""
        m, j, i = self.method.value, self.step.value, self.image.value
        src = self.result.trained_maps[m] if j == 0 else self.result.maps[m][j - 1]
        return src[i].numpy()

    def redraw(self) -> None:
        i, m, j = self.image.value, self.method.value, self.step.value
        rgb = viz._image_array(self.images[i])
        thr = float(self.threshold.value)
        trained = self.result.trained_maps[m][i].numpy()
        cur = self.current_map()
        if self.result.absolute:
            trained, cur = np.abs(trained), np.abs(cur)
        img = self.images[i]
        panels = [rgb, viz.overlay(img, trained, threshold=thr), viz.overlay(img, cur, threshold=thr)]
        self.view.show_array(_side_by_side(panels), scale=self.scale)
        if j == 0:
            what = "nothing re-initialised (the trained model again)"
            rho, mean = 1.0, 1.0
        else:
            names = self.result.steps[j - 1]
            what = (f"{names[0]} … {names[-1]} re-initialised" if len(names) > 1 else f"{names[0]} re-initialised")
            rho = float(self.result.rho[m][j - 1][i])
            mean = float(np.nanmean(self.result.rho[m][j - 1]))
        mag = "|map|" if self.result.absolute else "map"
        self.set_caption(f"left: the image · middle: {m} {mag} on the trained model · right: the same on the "
                         f"model with {what}; colours above threshold {thr:.2f} of each map's maximum")
        self.set_status(f"rank correlation middle vs right: {rho:.2f} on this image, {mean:.2f} on average "
                        f"(unrelated images: {float(np.nanmean(self.result.rho_other[m])):.2f})")


class ShortcutExplorer(Panel):
    """An image of a shortcut set beside each method's heatmap, with the mark and the true part outlined.

    ``report`` is a :class:`~xnb.sanity.ShortcutReport` of ``data`` (an ImageSet with ``shortcut_masks``).
    The mark is outlined in magenta, the true discriminative part in white.
    """

    def __init__(self, report: ShortcutReport, data, scale: int = 4):
        if not isinstance(report, ShortcutReport):
            raise TypeError(f"report: expected an xnb.sanity.ShortcutReport, got {type(report).__name__}")
        if getattr(data, "shortcut_masks", None) is None:
            raise TypeError("data: expected the ImageSet the report was computed on (with shortcut_masks)")
        if len(data) != len(report.targets):
            raise ValueError(f"data: the report has {len(report.targets)} images, got {len(data)}")
        self.report, self.data = report, data
        h, w = data.images.shape[-2:]
        self.scale = int(scale)
        super().__init__(width=(2 * w + _GAP) * self.scale, height=h * self.scale, title="Shortcut explorer")
        self.image = ipywidgets.IntSlider(0, 0, len(data) - 1, description="image")
        self.image.add_class("xnb-primary")
        self.method = ipywidgets.Dropdown(options=list(report.methods), value=report.methods[0],
                                          description="method")
        self.threshold = ipywidgets.FloatSlider(0.2, min=0.0, max=0.99, step=0.01, description="threshold")
        self.add_controls(self.image, self.method, self.threshold)
        for wdg in (self.image, self.method, self.threshold):
            self.observe(wdg)
        self.refresh()

    def redraw(self) -> None:
        i, m = self.image.value, self.method.value
        d = self.data
        rgb = viz._image_array(d.images[i])
        h = self.report.maps[m][i].numpy()
        h = np.maximum(h, 0) if self.report.kind == "positive" else np.abs(h)
        over = viz.overlay(d.images[i], h, threshold=float(self.threshold.value))
        panels = []
        for p in (rgb, over):
            p = viz.outline(p, d.masks[i].numpy(), color=(255, 255, 255))
            panels.append(viz.outline(p, d.shortcut_masks[i].numpy(), color=(255, 0, 255)))
        self.view.show_array(_side_by_side(panels), scale=self.scale)
        names = d.class_names
        code = int(d.shortcut_labels[i])
        mark = names[code] if code >= 0 else "no mark"
        self.set_caption(f"left: the image (true part outlined white, corner mark magenta) · right: {m} for the "
                         f"predicted class ({self.report.kind} part above threshold)")
        self.set_status(f"label {names[int(d.labels[i])]} · mark says {mark} · predicted "
                        f"{names[int(self.report.targets[i])]} · mass on mark {self.report.on_shortcut[m][i]:.0%}, "
                        f"on part {self.report.on_part[m][i]:.0%}")
