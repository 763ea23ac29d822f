"""The MuLassoExplorer: µ-Lasso's live feature selection and heatmaps (notebook 03).
Moved here from :mod:`xnb.mulasso`, which holds the method's
estimators, metrics and claims without any widget."""
from __future__ import annotations

import ipywidgets
import numpy as np
import torch

from .._check import check_choice, check_float, model_device
from ..mulasso import FeatureIndex, MuLasso, _GRID_THREADS, _feature_maps, _images_of, _lipschitz, _minmax_maps, channel_responses, relevance
from .base import LRUCache, Panel, Timer

__all__ = ["MuLassoExplorer"]


class MuLassoExplorer(Panel):
    """Live µ-Lasso explorer (a :class:`xnb.widgets.base.Panel`).

    Controls: µ (re-solves eq. 1 with a warm start; the side panel shows how many features are selected,
    per layer), class (its relevant features are listed), image, top-k, layer filter, fix_stride,
    heatmap threshold (re-renders and shows the live IoU with the mask — no backward pass).
    Feature maps are cached per (image, layer, channel, fix_stride): a change costs at most the
    backward passes of features not seen before; fits are cached per µ.

    The µ grid. The slider's values (``mu_grid``: 0.5 to ``mu_max`` in steps of 0.5) are solved ahead of
    time, nearest to the starting µ first, each warm-started from its neighbour, so a slider move is a
    cache hit (``n_solves`` counts the solver calls). ``precompute``: ``"background"`` (default) runs
    the grid in a daemon thread — the notebook is not blocked, and a headless run that ends first just
    drops the thread; ``"now"`` solves it inside ``__init__``; ``"off"`` solves on demand. A µ off the
    grid (``fit(5.25)``), or a move before its grid point is ready, is solved on the spot with a warm
    start. One lock serialises solver calls (the thread's and the slider's), so the two never compete
    for the CPU or for torch's thread setting. :meth:`wait_grid` blocks until the grid is done;
    :meth:`close` stops the thread.

    Uniqueness. With fewer images than features a class can have a whole face of minimisers, and which
    features are "selected" then depends on the warm start (the slider's path). The explorer adds a
    tiny ridge term λ‖w‖² with λ = ``ridge`` × ‖X‖²₂ (default 1e-6; see :class:`MuLasso`), which makes
    the solution, hence the selected set, the same whatever the path; ``ridge=0`` is eq. (1) exactly.
    """

    def __init__(self, model, X, labels, index: FeatureIndex, data, mu: float = 5.0, class_names=None,
                 scale: int | None = None, mu_max: float = 30.0, precompute: str = "background",
                 ridge: float = 1e-6):
        import threading

        precompute = check_choice(precompute, "precompute", ("background", "now", "off"))
        ridge = check_float(ridge, "ridge", low=0.0)
        mu_max = check_float(mu_max, "mu_max", low=0.5)
        images = _images_of(data)
        self.model = model
        self.X = torch.as_tensor(X)
        self.labels = labels
        self.index = index
        self.images = images.detach().cpu()
        self.masks = getattr(data, "masks", None)
        self.class_names = list(class_names or getattr(data, "class_names", None) or
                                [str(i) for i in range(int(torch.as_tensor(labels).max()) + 1)])
        h = int(self.images.shape[-1])
        self.scale = scale or max(1, round(256 / h))
        super().__init__(width=h * self.scale, title="µ-Lasso explorer")
        # interactive accuracy: a looser tolerance and an iteration cap keep a µ move fast
        self.ridge = ridge * _lipschitz(self.X.double()) if ridge else 0.0
        self.selector = MuLasso(mu=mu, warm_start=True, tol=1e-3, max_iter=200, ridge=self.ridge)
        self.mu_grid = np.round(np.arange(0.5, mu_max + 0.25, 0.5), 6)
        self.fits = LRUCache(maxsize=len(self.mu_grid) + 64)
        self.n_solves = 0
        self._solve_lock = threading.Lock()
        self._stop = threading.Event()
        self._grid_thread = None
        self.maps = LRUCache(maxsize=2048)
        self.responses, _ = channel_responses(model, self.images, index.layers, norm=index.norm)
        self.n_backward = 0
        self.last_fit_ms = 0.0
        self.mu = ipywidgets.FloatSlider(mu, min=0.5, max=mu_max, step=0.5, description="µ",
                                         continuous_update=False)
        self.klass = ipywidgets.Dropdown(options=[(c, i) for i, c in enumerate(self.class_names)],
                                         value=0, description="class")
        self.image = ipywidgets.IntSlider(0, 0, len(self.images) - 1, description="image")
        self.image.add_class("xnb-primary")  # the slider browser tests move
        self.top_k = ipywidgets.IntSlider(3, 1, 8, description="top-k")
        self.layer = ipywidgets.Dropdown(options=["all layers", "conv part only"] + list(index.layers),
                                         value="all layers", description="layers")
        self.fix = ipywidgets.Checkbox(True, description="fix_stride")
        self.threshold = ipywidgets.FloatSlider(0.5, min=0.0, max=1.0, step=0.02, description="threshold")
        self.info = ipywidgets.HTML()
        self.add_controls(self.mu, self.klass, self.image, self.top_k, self.layer, self.fix, self.threshold,
                          self.info)
        for w in (self.mu, self.klass, self.image, self.top_k, self.layer, self.fix, self.threshold):
            self.observe(w)
        self.refresh()
        if precompute == "now":
            self._precompute_grid(float(mu))
        elif precompute == "background":
            self._grid_thread = threading.Thread(target=self._precompute_grid, args=(float(mu),),
                                                 name="mulasso-mu-grid", daemon=True)
            _GRID_THREADS.add(self)
            self._grid_thread.start()

    def _solve(self, selector: MuLasso, mu: float) -> np.ndarray:
        with self._solve_lock:
            selector.set_params(mu=float(mu)).fit(self.X, self.labels, self.index)
            self.n_solves += 1
            return selector.coef_.copy()

    def _precompute_grid(self, mu0: float):
        """Solve every grid µ, nearest to µ₀ first (alternating up and down), each chain warm-started
        from its previous point; points already cached (slider moves) are skipped."""
        kw = dict(warm_start=True, tol=self.selector.tol, max_iter=self.selector.max_iter, ridge=self.ridge)
        chains = {+1: MuLasso(**kw), -1: MuLasso(**kw)}
        start = self.fits.get(round(mu0, 6))
        if start is not None:
            for sel in chains.values():
                sel.coef_, sel.mu_fitted_ = start.copy(), mu0
        order = sorted(self.mu_grid, key=lambda v: (abs(v - mu0), v))
        for v in order:
            if self._stop.is_set():
                return
            key = round(float(v), 6)
            sel = chains[+1 if v >= mu0 else -1]
            if key in self.fits:
                sel.coef_, sel.mu_fitted_ = self.fits.get(key).copy(), float(v)
                continue
            self.fits.get_or_compute(key, lambda: self._solve(sel, v))

    @property
    def grid_ready(self) -> int:
        """How many of the slider's µ values are solved."""
        return sum(round(float(v), 6) in self.fits for v in self.mu_grid)

    def wait_grid(self, timeout: float | None = None, mu: float | None = None) -> bool:
        """Block until the background µ grid is done — or only ``mu``'s value, when given (the grid
        runs nearest-first, so a neighbour of the start is ready in a solve or two) — or ``timeout``
        seconds have passed; True when what was waited for is ready."""
        import time

        if mu is None:
            if self._grid_thread is not None:
                self._grid_thread.join(timeout)
            return self.grid_ready == len(self.mu_grid)
        key = round(check_float(mu, "mu", low=0.0, low_open=True), 6)
        end = None if timeout is None else time.perf_counter() + timeout
        while key not in self.fits and self._grid_thread is not None and self._grid_thread.is_alive():
            if end is not None and time.perf_counter() > end:
                break
            time.sleep(0.01)
        return key in self.fits

    def close(self) -> None:
        """Stop the background grid (after its current solve) and close the widgets."""
        if "_stop" in self.__dict__:  # absent when __init__ refused its arguments
            self._stop.set()
        if self.__dict__.get("_grid_thread") is not None:
            self._grid_thread.join()
        super().close()

    def fit(self, mu: float) -> MuLasso:
        """The selector for µ: a cache hit on the precomputed grid; otherwise solved now with a warm
        start from the last solution (and cached)."""
        mu = check_float(mu, "mu", low=0.0, low_open=True)

        def run():
            # warm start from the nearest solved µ (the slider's own selector may be far behind)
            keys = [k for k in self.fits.keys() if isinstance(k, float)]
            if keys:
                near = min(keys, key=lambda k: abs(k - mu))
                coef0 = self.fits.get(near)
                if coef0 is not None:
                    self.selector.coef_, self.selector.mu_fitted_ = coef0.copy(), near
            return self._solve(self.selector, mu)

        with Timer() as t:
            coef = self.fits.get_or_compute(round(float(mu), 6), run)
        self.last_fit_ms = t.ms  # a cache hit: ~0 ms
        sel = MuLasso(mu=float(mu))
        sel.coef_ = coef
        sel.n_classes_ = coef.shape[1]
        sel.n_features_in_ = coef.shape[0]
        sel.selected_ = (coef != 0).any(1)
        sel.n_selected_ = int(sel.selected_.sum())
        sel.feature_index_ = self.index
        return sel

    def _layers(self):
        v = self.layer.value
        if v == "all layers":
            return None
        if v == "conv part only":
            return [n for n, s in zip(self.index.layers, self.index.spatial) if s]
        return [v]

    def redraw(self):
        from .. import viz
        from ..metrics import iou

        i = int(self.image.value)
        sel = self.fit(self.mu.value)
        per_layer = sel.selected_per_layer()
        fix = bool(self.fix.value)
        # feature maps from the cache: a backward pass only for features not seen before
        W = torch.from_numpy(sel.coef_)
        with torch.no_grad():
            pred = int(self.model(self.images[i:i + 1].to(model_device(self.model))).argmax(1))
        r = relevance(self.responses[i].cpu(), W[:, pred]).numpy()
        cand = np.ones(len(self.index), bool)
        lay = self._layers()
        if lay is not None:
            cand &= np.isin(self.index.layer_of(), [self.index.layers.index(n) for n in lay])
        r = np.where(cand & (r > 0), r, 0.0)
        order = [j for j in np.argsort(-r, kind="stable")[:int(self.top_k.value)] if r[j] > 0]
        maps = []
        for j in order:
            l, c = self.index[j]
            def run(l=l, c=c):
                self.n_backward += 1
                return _feature_maps(self.model, self.images[i:i + 1], [(0, l, c)], "guided_backprop",
                                     fix, tuple(self.images.shape[-2:]))[(0, l, c)]
            maps.append(self.maps.get_or_compute((i, l, c, fix), run))
        H, Wd = self.images.shape[-2:]
        heat = _minmax_maps(torch.stack(maps)).amax(0) if maps else torch.zeros(H, Wd)
        t = float(self.threshold.value)
        png = viz.render(self.images[i], heat.numpy(), threshold=t, scale=self.scale)
        self.view.show(png)
        iou_txt = ""
        if self.masks is not None:
            v = float(iou(heat >= t if t > 0 else heat >= 0, self.masks[i])[0])
            iou_txt = f" · IoU with the mask at {t:.2f}: {v:.2f}"
        self.set_caption(f"the top {len(order)} relevant features' guided-backprop heatmaps (max over features), "
                         f"pixels below {t:.2f} left clear" + (" · stride fix on" if fix else ""))
        feats = ", ".join(f"{self.index[j][0]}:{self.index[j][1]}" for j in order) or "none"
        self.set_status(f"µ={self.mu.value:g}: {sel.n_selected_} features selected (fit "
                        f"{self.last_fit_ms:.0f} ms) · predicted {self.class_names[pred]} · top: {feats}"
                        f"{iou_txt}")
        k = int(self.klass.value)
        rel = [(self.index[j], float(sel.coef_[j, k])) for j in np.flatnonzero(sel.coef_[:, k])]
        rel.sort(key=lambda t_: -t_[1])
        rows = "".join(f"<tr><td>{n}</td><td>{v}</td></tr>" for n, v in per_layer.items() if v)
        feat_rows = ", ".join(f"{l}:{c} ({w:+.2f})" for (l, c), w in rel[:8])
        self.info.value = (f"<small><b>selected per layer</b><table>{rows}</table>"
                           f"<b>class {self.class_names[k]!r}</b>: {feat_rows}</small>")
