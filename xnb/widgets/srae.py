"""The SRAE explorer (Fig. 3 and Table 3 of the paper, live): moved here from :mod:`xnb.srae`, which holds
the method's estimators, metrics and claims without any widget."""
from __future__ import annotations

import ipywidgets
import numpy as np
import torch

from .. import viz
from .._check import check_choice, check_float, check_images, check_int
from ..layers import get_layer
from ..srae import SRAE, _as_1d, _check_fitted, features, heatmaps, mask_images, masking_accuracy
from .base import LRUCache, Panel, Timer, guarded

__all__ = ["SRAEExplorer"]


class SRAEExplorer(Panel):
    """Live view of x-features (Fig. 3) and of masking (Table 3) for one-vs-all explanation modules.

    Parameters
    ----------
    model, layer : the network and the layer the modules were fitted on.
    images : an xnb ImageSet (or images [N,C,H,W] with ``labels=``) shown and used for the masking
        accuracy (the images of the selected class).
    estimators : {class index: fitted SRAE (or any baseline)}.
    train : (Z, logits, labels) to refit with the Train button (β and q sliders); optional.
    fit_params : keyword arguments of :class:`SRAE` for the Train button (hidden, epochs, ...).
    saliency_layer : where c-EB is read (resized to the input), e.g. "pool2".
    n_eval : images of the class used for the masking accuracy.

    Controls: class, x-feature (ranked by mean vᵢEᵢ over the class's images; CSS class
    ``xnb-primary``), image, γ, β, q, Train. The view shows the x-feature's heatmap on the image
    (left; a strip below marks which x-feature) and the image masked at γ by all x-features (right).
    Moving γ only re-masks cached maps; a new image costs one batched c-EB pass (all x-features).
    """

    def __init__(self, model, layer, images, estimators: dict, train=None, fit_params=None, labels=None,
                 class_names=None, saliency_layer=None, n_eval: int = 40, gamma: float = 5.0,
                 fill: str = "inpaint"):
        if not estimators:
            raise ValueError("estimators: give at least one fitted module, {class index: estimator}")
        for est in estimators.values():
            _check_fitted(est)
        imgs = images.images if hasattr(images, "images") else images
        labels = images.labels if labels is None and hasattr(images, "labels") else labels
        if labels is None:
            raise ValueError("labels: needed (or give an ImageSet)")
        self.images = check_images(imgs, "images").detach().cpu()
        self.labels = _as_1d(labels, len(self.images), "labels", torch.long)
        self.model, self.layer = model, get_layer(model, layer)[0]
        self.estimators = dict(estimators)
        self.train_data = train
        self.fit_params = dict(fit_params or {})
        self.saliency_layer = saliency_layer
        self.n_eval = check_int(n_eval, "n_eval", minimum=1)
        self.fill = check_choice(fill, "fill", ("inpaint", "black", "mean"))
        names = class_names or list(getattr(images, "class_names", []) or [])
        self.class_names = names if names else [str(c) for c in range(int(self.labels.max()) + 1)]
        self.version = {c: 0 for c in self.estimators}
        self.maps = LRUCache(maxsize=256)
        self.acc_cache = LRUCache(maxsize=256)
        h, w = self.images.shape[-2:]
        super().__init__(width=4 * 2 * int(w), title="SRAE x-features")
        c0 = next(iter(self.estimators))
        n = len(self.estimators[c0].coef_)
        self.cls = ipywidgets.Dropdown(options=[(self.class_names[c], c) for c in self.estimators], value=c0,
                                       description="class")
        # one numbering: the slider and the status both give the x-feature's rank, 1 = largest mean vᵢEᵢ
        self.feature = ipywidgets.IntSlider(1, 1, max(n, 1), description="x-feature rank")
        self.feature.add_class("xnb-primary")  # the slider browser tests move
        self.image = ipywidgets.IntSlider(0, 0, 0, description="image")
        self.gamma = ipywidgets.FloatSlider(float(check_float(gamma, "gamma", 0.0, 100.0, low_open=True)),
                                            min=1.0, max=100.0, step=1.0, description="γ (%)")
        self.beta = ipywidgets.FloatLogSlider(3.0, base=10, min=-1, max=2.5, step=0.1, description="β")
        self.q = ipywidgets.FloatLogSlider(100.0, base=10, min=0, max=3, step=0.25, description="q")
        self.train_button = ipywidgets.Button(description="Train", disabled=train is None,
                                              tooltip="refit SRAE for this class with β and q")
        self.add_controls(self.cls, self.feature, self.image, self.gamma, self.beta, self.q, self.train_button)
        for wdg in (self.feature, self.image, self.gamma):
            self.observe(wdg)
        self.observe(self.cls, self._on_class)
        self.train_button.on_click(lambda _b: guarded(self.errors, self.train)())
        self._on_class(None)

    # -- cached computations
    def class_images(self, c=None) -> torch.Tensor:
        c = self.cls.value if c is None else c
        return torch.nonzero(self.labels == c).flatten()[: self.n_eval]

    def order(self, c=None) -> np.ndarray:
        """x-features ranked by mean vᵢEᵢ over the class's images (Fig. 3a order)."""
        c = self.cls.value if c is None else c
        idx = self.class_images(c)

        def run():
            Z = features(self.model, self.layer, self.images[idx])
            return np.argsort(-self.estimators[c].contributions(Z).mean(0).numpy(), kind="stable")
        return self.maps.get_or_compute(("order", c, self.version[c]), run)

    def image_maps(self, c, j) -> torch.Tensor:
        """Heatmaps of all x-features of image j (an index into the whole set): [n, H, W]."""
        def run():
            return heatmaps(self.estimators[c], self.model, self.layer, self.images[j:j + 1],
                            saliency_layer=self.saliency_layer)[0]
        return self.maps.get_or_compute(("img", c, self.version[c], int(j)), run)

    def class_maps(self, c) -> torch.Tensor:
        """Heatmaps of all x-features over the class's evaluation images: [m, n, H, W]."""
        def run():
            return heatmaps(self.estimators[c], self.model, self.layer, self.images[self.class_images(c)],
                            saliency_layer=self.saliency_layer)
        return self.maps.get_or_compute(("cls", c, self.version[c]), run)

    def accuracy(self, c, gamma) -> float:
        idx = self.class_images(c)
        return self.acc_cache.get_or_compute(
            (c, self.version[c], float(gamma)),
            lambda: masking_accuracy(self.model, self.images[idx], self.class_maps(c), self.labels[idx],
                                     gamma, self.fill))

    # -- actions
    def _on_class(self, change):
        c = self.cls.value
        m = len(self.class_images(c))
        self.image.max = max(m - 1, 0)
        self.image.value = min(self.image.value, self.image.max)
        n = len(self.estimators[c].coef_)
        self.feature.max = max(n, 1)
        self._redraw_timed()

    def train(self):
        """Refit the selected class's SRAE with the β and q sliders (progress in the status line)."""
        if self.train_data is None:
            raise ValueError("train: no training data was given to the explorer")
        Z, logits, labels = self.train_data
        c = self.cls.value
        epochs = int(self.fit_params.get("epochs", 20))
        params = {**self.fit_params, "beta": float(self.beta.value), "q": float(self.q.value), "progress": False}
        with Timer() as t:
            est = SRAE(**params).fit(Z, logits[:, c], positive=torch.as_tensor(labels) == c,
                                     callback=lambda e, loss: self.set_status(
                                         f"training SRAE for {self.class_names[c]}: epoch {e + 1}/{epochs}, "
                                         f"loss {loss:.4f}"))
        self.estimators[c] = est
        self.version[c] += 1
        self._redraw_timed()
        self.set_status(f"trained in {t.elapsed:.1f} s (β={params['beta']:.3g}, q={params['q']:.3g}) · "
                        + self.status.value)

    def redraw(self):
        c = self.cls.value
        idx = self.class_images(c)
        if len(idx) == 0:
            raise ValueError(f"class: no images of class {self.class_names[c]!r} in the explorer's set")
        j = int(idx[min(self.image.value, len(idx) - 1)])
        order = self.order(c)
        r = min(self.feature.value - 1, len(order) - 1)
        k = int(order[r])
        maps = self.image_maps(c, j)
        gamma = float(self.gamma.value)
        img = self.images[j]
        left = viz.overlay(img, maps[k].numpy(), alpha=0.55)
        masked = mask_images(img[None], maps[None], gamma, self.fill)[0]
        right = (masked.permute(1, 2, 0).clamp(0, 1).numpy() * 255).astype(np.uint8)
        strip = np.full((4, left.shape[1], 3), 40, np.uint8)
        n = len(order)
        for i in range(n):  # which x-feature: a marker strip under the heatmap
            a, b = i * left.shape[1] // n, (i + 1) * left.shape[1] // n
            strip[:, a:b - 1] = (255, 255, 255) if i == r else (110, 110, 110)
        left = np.concatenate([left, strip], 0)
        right = np.concatenate([right, np.full_like(strip, 255)], 0)
        gap = np.full((left.shape[0], 2, 3), 255, np.uint8)
        self.view.show_array(np.concatenate([left, gap, right], 1), scale=1)
        est = self.estimators[c]
        Z = features(self.model, self.layer, img[None])
        contrib = est.contributions(Z)[0]
        acc = self.accuracy(c, gamma)
        self.set_caption(f"left: heatmap of the x-feature of rank {r + 1} (c-EB) on the image; the bar below "
                         f"marks it among the {n} x-features, ranked by mean vᵢEᵢ on the class · right: the image "
                         f"masked at γ = {gamma:g} % by all x-features' heatmaps")
        self.set_status(f"{self.class_names[c]} · image {self.image.value} of {len(idx)} (#{j}) · x-feature of "
                        f"rank {r + 1}/{n} (output {k} of the module): "
                        f"vᵢEᵢ = {float(contrib[k]):.2f}, ŷ = {float(est.predict(Z)[0]):.2f} · "
                        f"masked at γ = {gamma:g} %: accuracy {acc:.2f} on {len(idx)} images")
