"""The SeVecExplorer: SeVec's live semantic suppression and retrieval (notebook 05). Moved here from
:mod:`xnb.sevec`, which holds the method's
estimators, metrics and claims without any widget."""
from __future__ import annotations

import ipywidgets
import numpy as np

from .._check import check_int
from .. import viz
from ..sevec import SeVec, _rgb
from .base import ImageView, LRUCache, Panel

__all__ = ["SeVecExplorer"]


class SeVecExplorer(ipywidgets.VBox):
    """Live view of SeVec's local explanations on two-flower scenes, and its retrieval.

    Controls: concept (→ its top retrieved images), scene, which of the scene's two flowers to explain,
    method, the suppression threshold (semantic map recomputed: one backward pass) and the kept energy m
    of the generalised pointing game (re-rendered from cache: no gradient). The view shows the baseline
    map and the semantic map side by side with the target's box and the kept area outlined.
    """

    def __init__(self, model, sevec: SeVec, scenes, layer: str, pool=None, pool_features=None,
                 methods=("guided_backprop", "input_x_gradient"), scale: int = 2):
        super().__init__()
        self.model, self.sv, self.scenes, self.layer = model, sevec, scenes, layer
        self.pool, self.pool_features = pool, pool_features
        self.scale = check_int(scale, "scale", 1)
        self.cache = LRUCache(256)
        self.n_backward = 0
        self.panel = Panel(width=2 * scenes.images.shape[-1] * self.scale, title="SeVec: semantic suppression")
        w = ipywidgets
        self.scene = w.IntSlider(0, 0, len(scenes.images) - 1, description="scene")
        self.scene.add_class("xnb-primary")
        self.flower = w.ToggleButtons(options=[("flower 1", 0), ("flower 2", 1)], value=0, description="explain")
        self.method = w.Dropdown(options=list(methods), value=methods[0], description="method")
        self.threshold = w.FloatSlider(0.5, min=0.0, max=0.95, step=0.05, description="SeVec >", continuous_update=False)
        self.energy = w.FloatSlider(30.0, min=1.0, max=100.0, step=1.0, description="kept energy %")
        controls = [self.scene, self.flower, self.method, self.threshold, self.energy]
        self.concept = None
        if pool is not None and pool_features is not None:
            self.concept = w.Dropdown(options=sevec.concept_names_, description="retrieve")
            self.strip = ImageView(width=8 * pool.images.shape[-1], height=None)
            controls += [self.concept]
        self.panel.add_controls(*controls)
        for c in (self.scene, self.flower, self.method, self.threshold, self.energy):
            self.panel.observe(c)
        self.panel.redraw = self.redraw
        if self.concept is not None:
            self.panel.observe(self.concept, lambda ch: self.show_retrieval())
            self.show_retrieval()
        self.panel.refresh()
        self.children = (self._layout(),)

    def maps(self):
        """(baseline map, semantic map) for the current scene/flower/method/threshold (cached)."""
        i, f, method = self.scene.value, self.flower.value, self.method.value
        target = int(self.scenes.labels[i, f])
        x = self.scenes.images[i:i + 1]

        def run(m, **kw):
            from ..attribution import attribute

            self.n_backward += 1
            return attribute(self.model, x, m, target=target, **kw)[0].cpu().numpy()

        base = self.cache.get_or_compute((i, f, method), lambda: run(method))
        thr = round(float(self.threshold.value), 4)
        sem = self.cache.get_or_compute((i, f, method, thr), lambda: run(
            "semantic_" + method, sevec=self.sv, sevec_layer=self.layer, threshold=thr))
        return base, sem

    def redraw(self):
        from .._pointing import generalized_pointing_game, kept_energy_mask

        i, f = self.scene.value, self.flower.value
        base, sem = self.maps()
        box = self.scenes.boxes[i, f].numpy()
        img = self.scenes.images[i]
        tiles, verdict = [], []
        for name, h in (("baseline", base), ("semantic", sem)):
            rgb = viz.overlay(img, h, mode="percentile", alpha=0.6)
            kept = kept_energy_mask(h, self.energy.value)
            rgb = viz.outline(rgb, kept, color=(255, 255, 255))
            rgb = viz.draw_boxes(rgb, box[None], colors=[(0, 255, 0)])
            tiles.append(rgb)
            verdict.append(f"{name}: {'hit' if generalized_pointing_game(h, box, self.energy.value)[0] else 'miss'}")
        self.panel.view.show_array(np.concatenate(tiles, 1), scale=self.scale)
        target = self.scenes.class_names[int(self.scenes.labels[i, f])]
        self.panel.set_caption(f"left: {self.method.value} map · right: the same with semantic suppression (units "
                               f"whose SeVec > {self.threshold.value:.2f} of its max) · green box: the explained "
                               f"flower · white outline: the pixels holding {self.energy.value:.0f} % of the energy")
        self.panel.set_status(f"explaining {target!r} · kept {self.energy.value:.0f} % of the energy · "
                              + " · ".join(verdict))

    def show_retrieval(self, k: int = 8):
        idx, sim = self.sv.retrieve(self.pool_features, self.concept.value, k)
        tiles = [_rgb(self.pool.images[j]) for j in idx.tolist()]
        self.strip.show_array(np.concatenate(tiles, 1), scale=1)

    def _layout(self):
        box = self.panel.ui
        if self.concept is not None:
            return ipywidgets.VBox([box, ipywidgets.HTML("<b>top images by cosine to the SeVec</b>"),
                                    self.strip.widget])
        return box


    @property
    def ui(self):
        """The explorer itself (a VBox; kept for code written when explorers were not widgets)."""
        return self
