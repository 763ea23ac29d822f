"""The AdditiveExplorer: the additive explainer's live contributions (notebook 02).
Moved here from :mod:`xnb.additive`, which holds the method's
estimators, metrics and claims without any widget."""
from __future__ import annotations

import ipywidgets
import numpy as np
import torch

from ..additive import AdditiveExplainer, Setup, bars_rgb, contribution_entropy
from .base import Panel, Timer, guarded

__all__ = ["AdditiveExplorer"]


class AdditiveExplorer(ipywidgets.VBox):
    """Contributions αᵢyᵢ of one image as live bars, for the baseline and the prior-guided explainer.

    ``setups`` maps a target's name to a :class:`Setup` (a dict, or one Setup). Controls: target, image
    (among the explainers' replay images), explainer (baseline / with prior), epoch (replays α as it
    evolved during training — recorded during fit, no recomputation), and β / prior / loss with a Train
    button that refits the prior-guided explainer of the current target (seconds)."""

    def __init__(self, setups):
        super().__init__()
        w = ipywidgets

        if isinstance(setups, Setup):
            setups = {"target": setups}
        if not setups or not all(isinstance(v, Setup) for v in setups.values()):
            raise TypeError("setups: expected a Setup or a dict of name -> Setup")
        self.setups = dict(setups)
        self.panel = Panel(width=64 * 3 + 360, title="Additive explainer: contributions αᵢ·yᵢ")
        self.target = w.Dropdown(options=list(self.setups), description="target")
        self.image = w.IntSlider(0, 0, 1, description="image")
        self.image.add_class("xnb-primary")
        self.which = w.ToggleButtons(options=["baseline", "with prior"], value="with prior", description="explainer")
        self.epoch = w.IntSlider(1, 1, 1, description="epoch")
        self.beta = w.FloatLogSlider(value=10.0, base=10, min=-2, max=2, step=0.1, description="β")
        self.prior = w.Dropdown(options=["jacobian", "taylor"], value="jacobian", description="prior")
        self.loss = w.Dropdown(options=["auto", "ce", "mse"], value="auto", description="prior loss")
        self.train = w.Button(description="Train (with prior)")
        self.panel.add_controls(self.target, self.image, self.which, self.epoch, self.beta, self.prior, self.loss,
                                self.train)
        self._select(self.target.value)
        for c in (self.image, self.which, self.epoch):
            self.panel.observe(c)
        self.panel.observe(self.target, lambda ch: (self._select(self.target.value), self.panel.refresh()))
        self.train.on_click(lambda _b: self._guarded_train())
        self.panel.redraw = self.redraw
        self.panel.refresh()
        self.children = (self._layout(),)

    def _select(self, name: str):
        """Point every control at target ``name`` (cached fits: nothing is recomputed)."""
        st = self.setups[name]
        self.performer, self.concepts, self.data, self.pre = st.performer, st.concepts, st.data, st.precomputed
        self.fitted = {"baseline": st.baseline, "with prior": st.ours}
        self.names = list(st.names) if st.names is not None else [str(i) for i in range(st.precomputed[1].shape[1])]
        self.truth = st.truth
        ours = st.ours
        self.image.max = len(ours.history_["alpha"][0]) - 1
        self.epoch.max = ours.epochs
        self.epoch.value = ours.epochs
        self.beta.value = max(ours.beta, 1e-2)
        self.prior.value = ours.prior or "jacobian"
        self.loss.value = ours.prior_loss

    def _guarded_train(self):
        def run():
            ours = self.fitted["with prior"]
            self.panel.set_status("training…")
            new = AdditiveExplainer(prior=self.prior.value, prior_loss=self.loss.value, beta=float(self.beta.value),
                                    positive=ours.positive, epochs=ours.epochs, lr=ours.lr, seed=ours.seed,
                                    replay=ours.replay)
            with Timer() as t:
                if self.prior.value != ours.prior:
                    pre = new.precompute(self.performer, self.concepts, self.data)
                else:
                    pre = self.pre
                new.fit(self.performer, self.concepts, self.data, precomputed=pre, progress=False)
            self.fitted["with prior"] = new
            self.setups[self.target.value].ours = new
            self.which.value = "with prior"
            self.epoch.max = new.epochs
            self.epoch.value = new.epochs
            self._redraw_after(f"trained in {t.ms / 1000:.1f} s (β = {new.beta:.2g}, {new.prior_loss_} loss)")

        guarded(self.panel.errors, run)()

    def _redraw_after(self, msg):
        self.panel.refresh()
        self.panel.set_status(msg + " · " + self.panel.status.value)

    def redraw(self):
        ex = self.fitted[self.which.value]
        i = self.image.value
        t = min(self.epoch.value, len(ex.history_["alpha"]))
        alpha = ex.history_["alpha"][t - 1][i]  # replayed α of epoch t (cached during fit)
        contrib = (alpha * self.pre[1][i]).numpy()
        img = self.data.images[i]
        rgb = (np.clip(img.permute(1, 2, 0).numpy(), 0, 1) * 255).astype(np.uint8)
        rgb = np.kron(rgb, np.ones((3, 3, 1), dtype=np.uint8)) if rgb.shape[0] <= 64 else rgb
        bars = bars_rgb(contrib, self.names)
        H = max(rgb.shape[0], bars.shape[0])
        pad = lambda a: np.pad(a, ((0, H - a.shape[0]), (0, 0), (0, 0)), constant_values=255)  # noqa: E731
        self.panel.view.show_array(np.concatenate([pad(rgb), pad(bars)], 1))
        y = float(self.pre[0][i])
        y_hat = float(contrib.sum() + ex.history_["bias"][t - 1])
        ent = float(contribution_entropy(torch.as_tensor(contrib)[None])[0])
        msg = f"y = {y:.2f} · ŷ = {y_hat:.2f} · entropy of contributions {ent:.2f} · epoch {t}"
        if self.truth is not None:
            k = int(np.argmax(self.truth[i]))
            msg += f" · true top concept: {self.names[k] if self.truth[i].max() > 0 else '(none)'}"
        self.panel.set_caption(f"left: the image · right: its contributions αᵢ·yᵢ by concept (the {min(10, len(contrib))} "
                               f"largest |αᵢ·yᵢ|), {self.which.value} explainer, epoch {t}")
        self.panel.set_status(msg)

    def _layout(self):
        return self.panel.ui


    @property
    def ui(self):
        """The explorer itself (a VBox; kept for code written when explorers were not widgets)."""
        return self
