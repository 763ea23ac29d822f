"""Input resampling: the neurons that matter across a neighbourhood of the image.

Lengerich, Konam, Xing, Rosenthal & Veloso, "Towards Visual Explanations for Convolutional Neural
Networks via Input Resampling" (ICML WHI 2017). Given a trained network and one image:

1. :func:`perturb` makes n copies of the image, each multiplied pixel-wise by a noise filter
   1 + N(0, σ) (§4.1; n = 50, σ = 0.1 in the paper);
2. :func:`neuron_importance` scores every unit (channel) of a layer from one batched forward pass over
   the copies — *activation-output correlation* (eq. 2) and *activation precision* (eq. 3) — or, on
   the clean image only, with the four APPLE baselines (activation / weight matrix sum / variance; the
   weight metrics read the paper's outgoing weights w^{l+1} by default, the authors' incoming filter with
   ``resample(weights="incoming")``);
3. :func:`top_neurons` keeps the N best units per layer; :func:`patches` back-projects each to the
   input with the deconvnet (from the unit's maximum location) and boxes the non-zero pixels, in chunks
   of ``batch_size`` units per pass;
4. :func:`jaccard` compares two selections (§5.2), :func:`rank_correlation` two full rankings.

Where the authors' release departs from the paper xnb follows the paper and offers the code's variant:
``perturb(schedule="growing")`` (copy i multiplied by 1 + i·N(0, σ)), ``jaccard(definition="sum")``
(|A∩B| / (|A| + |B|)). The paper's variance formulas (Σz² − (Σz)², APPLE and eq. 3) lack the 1/n
factors; xnb uses the variance they stand for (the population variance, as the authors' code does
with ``np.var``).

Evaluation helpers (§5): :func:`evaluate_patches` (patch localization against the flowers' ground
truth, Table 1, like for like: k slots per layer for every metric, empty patches as misses),
:func:`patch_images` (the paper's cropped patches) or :func:`masked_images` (a variant) +
:func:`secondary_accuracy` (§5.1) and :func:`jaccard_during_training` (Fig. 3). :class:`xnb.widgets.ResamplingExplorer` is the live widget.
:data:`CLAIMS` and :func:`claims` re-measure the paper's claims over seeds (see :mod:`xnb.claims`).
"""
from __future__ import annotations

import numbers
from dataclasses import dataclass, field
from typing import Iterable, Sequence

import numpy as np
import torch
from torch import nn

from ._check import check_choice, check_float, check_images, check_int, model_device
from ._moved import moved
from .layers import get_layer, layers as _layers

__all__ = [
    "METRICS", "RESAMPLING_METRICS", "APPLE_METRICS", "perturb", "noise_levels", "ResampledActivations",
    "resample", "neuron_importance", "neuron_importance_all", "top_neurons", "jaccard", "Patches",
    "patches", "PatchEvaluation", "evaluate_patches", "masked_images", "patch_images", "secondary_classifier",
    "secondary_accuracy", "rank_correlation", "jaccard_during_training", "depth_colors", "DEPTH_COLORS",
    "CLAIMS", "claims",
]

#: metric name -> what it scores (equation of the paper)
METRICS: dict[str, str] = {
    "correlation": "activation-output correlation, eq. (2): mean over positions of |Pearson r| between "
                   "the unit's activation and the target output across the perturbed copies",
    "precision": "activation precision, eq. (3): mean over positions of 1 / variance across the copies; "
                 "units with mean activation below λ discarded",
    "activation_sum": "APPLE: sum of the unit's activation map on the clean image",
    "activation_variance": "APPLE: variance of the unit's activation map on the clean image",
    "weight_sum": "APPLE: sum of the unit's weights — by default its outgoing weights w^{l+1} (the paper's "
                  "formula, §3); resample(weights='incoming'): its own filter (the authors' code)",
    "weight_variance": "APPLE: variance of the unit's weights (outgoing by default, as weight_sum)",
}
RESAMPLING_METRICS = ("correlation", "precision")
APPLE_METRICS = ("activation_sum", "activation_variance", "weight_sum", "weight_variance")
_WEIGHT_METRICS = ("weight_sum", "weight_variance")

_SCHEDULES = ("constant", "growing")
_WEIGHT_SOURCES = ("outgoing", "incoming")


# --------------------------------------------------------------------------- §4.1 perturbation


def noise_levels(n: int = 50, sigma: float = 0.1, schedule: str = "constant") -> np.ndarray:
    """Standard deviation of the noise filter of each copy: σ for every copy (the paper, §4.1) or
    σ·i for copy i = 0..n−1 (``schedule="growing"``, the authors' code; copy 0 is the clean image)."""
    n = check_int(n, "n", minimum=2)
    sigma = check_float(sigma, "sigma", low=0.0)
    check_choice(schedule, "schedule", _SCHEDULES)
    if schedule == "constant":
        return np.full(n, sigma)
    return sigma * np.arange(n, dtype=np.float64)


def perturb(x: torch.Tensor, n: int = 50, sigma: float = 0.1, schedule: str = "constant",
            seed: int = 0) -> torch.Tensor:
    """n perturbed copies of one image, each multiplied pixel-wise by a noise filter 1 + N(0, σ) (§4.1).

    The filter is drawn independently for every pixel and channel, and afresh for every copy; values
    are not clipped (the paper does not say to). ``schedule="growing"`` reproduces the authors' code,
    where copy i (i = 0..n−1) is multiplied by 1 + i·N(0, σ) (copy 0 is the clean image and the last
    copies are very noisy: σ·(n−1) = 4.9 for the defaults). Deterministic for a given ``seed`` on any
    device (the noise is drawn on the CPU).

    Returns a tensor [n, C, H, W] on ``x``'s device.
    """
    x = check_images(x, "x")
    if x.shape[0] != 1:
        raise ValueError(f"x: expected one image [C,H,W] or [1,C,H,W], got a batch of {x.shape[0]}")
    check_int(seed, "seed")
    levels = torch.as_tensor(noise_levels(n, sigma, schedule), dtype=torch.float32)
    gen = torch.Generator().manual_seed(int(seed))
    noise = torch.randn((len(levels),) + tuple(x.shape[1:]), generator=gen)
    filt = 1.0 + levels.view(-1, 1, 1, 1) * noise
    return x * filt.to(device=x.device, dtype=x.dtype)


# --------------------------------------------------------------------------- §4.2 statistics over the copies


class _EvalMode:
    """Eval mode during a call, the training flag restored afterwards (parameters are never touched)."""

    def __init__(self, model):
        self.model = model

    def __enter__(self):
        self.flags = [(m, m.training) for m in self.model.modules()]
        self.model.eval()

    def __exit__(self, *exc):
        for m, t in self.flags:
            m.training = t
        return False


@dataclass
class _LayerStats:
    clean: torch.Tensor  # [C, P] activation on the clean image
    mean: torch.Tensor  # [C, P] mean over the copies
    var: torch.Tensor  # [C, P] population variance over the copies
    const: torch.Tensor  # [C, P] bool: exactly the same value in every copy
    cov: torch.Tensor  # [C, P] covariance with the output o
    weight: torch.Tensor | None  # [C, K] the unit's outgoing or incoming weights, flattened (None: none)
    weight_why: str = ""  # why ``weight`` is None


class ResampledActivations:
    """Statistics of every unit of some layers over n perturbed copies of one image, from one batched
    forward pass (made by :func:`resample`). :meth:`importance` turns them into scores; changing the
    threshold λ or the metric costs no forward pass (what a widget slider needs).

    Attributes: ``layers`` (names), ``n``, ``sigma``, ``schedule``, ``seed``, ``target`` (the class
    whose output oᵢ is correlated), ``output`` ("logit" or "probability"), ``o`` (the n outputs, a
    float64 tensor), ``o_clean``, ``stats`` (per layer), ``weights`` ("outgoing" or "incoming": which
    weights the APPLE weight metrics read).
    """

    def __init__(self, layers, stats, o, o_clean, target, n, sigma, schedule, seed, output,
                 weights="outgoing"):
        self.layers = list(layers)
        self.stats: dict[str, _LayerStats] = stats
        self.o = o
        self.o_clean = o_clean
        self.target = int(target)
        self.n, self.sigma, self.schedule, self.seed, self.output = n, sigma, schedule, seed, output
        self.weights = weights

    def n_units(self, layer: str) -> int:
        return int(self._layer(layer).clean.shape[0])

    def _layer(self, layer):
        if layer not in self.stats:
            raise ValueError(f"layer: {layer!r} was not resampled; resampled layers: {', '.join(self.layers)}")
        return self.stats[layer]

    def mean_activation(self, layer: str) -> torch.Tensor:
        """Each unit's activation averaged over the copies and positions [C] (compared with λ)."""
        return self._layer(layer).mean.mean(1)

    def importance(self, layer: str, metric: str, threshold: float = 0.1,
                   threshold_scale: str = "layer_max") -> torch.Tensor:
        """Score per unit [C] (float64, CPU) for one metric of :data:`METRICS`; higher = more important.

        ``correlation`` (eq. 2): |Pearson r| between the unit's activation z_i[r, c] and the output o_i
        over the n copies, averaged over the positions (r, c). A position where the unit or the output
        takes exactly the same value in every copy has no correlation (r is 0/0): it is left out of
        the mean (the authors' code ignores these NaNs); a unit with no such position scores 0.

        ``precision`` (eq. 3): 1 / Var_i(z_i[r, c]) averaged over the positions. Units whose mean
        activation (over copies and positions) is below λ = ``threshold`` are discarded: they score
        ``-inf`` (never selected by :func:`top_neurons`). Positions where a live unit takes exactly
        the same value in every copy (e.g. a ReLU that stays at 0 there) would give 1/0: they are left
        out of the mean; a live unit that is constant at every position is perfectly precise and
        scores ``+inf``. ``threshold_scale="layer_max"`` (default) reads λ as a fraction of the layer's
        largest mean activation, so λ = 0.1 keeps the units that reach a tenth of the layer's most active
        one, in every layer; ``"absolute"`` compares the mean activation with λ itself (the paper's
        λ = 0.1 on 0–255 inputs). On [0, 1] inputs the absolute λ = 0.1 silently discards whole layers
        (every conv2 unit of the shipped model), which is why the relative reading is the default.

        APPLE baselines on the clean image: ``activation_sum`` Σ z, ``activation_variance`` Var(z)
        over positions; ``weight_sum`` / ``weight_variance``: the sum / population variance of the
        unit's weights, read as chosen by ``resample(weights=...)``:

        - ``"outgoing"`` (default, the paper's formula, §3, the two weight equations after eq. 1):
          I(l, x, y) = Σ w^{l+1}_{x,y} — the weights of the *next* weighted layer (conv or linear, the
          first one run after this layer) that multiply this unit: ``W[:, c]`` of a next conv, the
          columns of channel c of a next linear layer (channel-major flattening, as ``nn.Flatten``);
        - ``"incoming"`` (the authors' code): the unit's own filter ``W^l[c]`` (and the layer must
          have weights).

        The paper writes "variance" as Σz² − (Σz)²; we use the population variance it stands for.
        """
        check_choice(metric, "metric", list(METRICS))
        s = self._layer(layer)
        if metric == "correlation":
            var_o = float(((self.o - self.o.mean()) ** 2).mean())
            o_const = bool((self.o == self.o[0]).all())
            ok = ~s.const & (s.var > 0)
            if o_const or var_o <= 0:
                return torch.zeros(s.clean.shape[0], dtype=torch.float64)
            r = (s.cov / torch.sqrt(s.var.clamp(min=torch.finfo(torch.float64).tiny) * var_o)).abs().clamp(max=1.0)
            r = torch.where(ok, r, torch.zeros_like(r))
            cnt = ok.sum(1)
            return torch.where(cnt > 0, r.sum(1) / cnt.clamp(min=1), torch.zeros_like(r[:, 0]))
        if metric == "precision":
            threshold = check_float(threshold, "threshold", low=0.0)
            check_choice(threshold_scale, "threshold_scale", ("absolute", "layer_max"))
            mean_act = s.mean.mean(1)
            lam = threshold * float(mean_act.max()) if threshold_scale == "layer_max" else threshold
            live = mean_act >= lam
            ok = ~s.const
            inv = torch.where(ok, 1.0 / s.var.clamp(min=torch.finfo(torch.float64).tiny), torch.zeros_like(s.var))
            cnt = ok.sum(1)
            score = torch.where(cnt > 0, inv.sum(1) / cnt.clamp(min=1),
                                torch.full_like(mean_act, float("inf")))
            return torch.where(live, score, torch.full_like(score, float("-inf")))
        if metric == "activation_sum":
            return s.clean.sum(1)
        if metric == "activation_variance":
            return s.clean.var(1, unbiased=False) if s.clean.shape[1] > 1 else torch.zeros(s.clean.shape[0], dtype=torch.float64)
        if s.weight is None:
            raise ValueError(f"metric: {metric!r} needs the unit's {self.weights} weights (resample(weights="
                             f"{self.weights!r})); layer {layer!r} has none: {s.weight_why}")
        if metric == "weight_sum":
            return s.weight.sum(1)
        return s.weight.var(1, unbiased=False)

    def importance_all(self, metrics=None, threshold: float = 0.1, threshold_scale: str = "layer_max") -> dict:
        """{layer: {metric: scores}} for every resampled layer (weight metrics skipped where a layer
        has no weights)."""
        metrics = _check_metrics(metrics)
        out = {}
        for layer in self.layers:
            out[layer] = {m: self.importance(layer, m, threshold, threshold_scale) for m in metrics
                          if not (m in _WEIGHT_METRICS and self.stats[layer].weight is None)}
        return out


def _check_metrics(metrics) -> list:
    if metrics is None:
        return list(METRICS)
    metrics = [metrics] if isinstance(metrics, str) else list(metrics)
    for m in metrics:
        check_choice(m, "metrics", list(METRICS))
    return metrics


def _has_weights(module: nn.Module) -> bool:
    w = getattr(module, "weight", None)
    return isinstance(w, torch.Tensor) and w.ndim >= 2


def _unit_weights(name: str, module: nn.Module, n_units: int) -> tuple:
    """(incoming weights [C, K] or None, why None): the unit's own filter (the authors' code)."""
    if not _has_weights(module):
        return None, f"{type(module).__name__} has no weights (weights='incoming' reads the layer's own filters)"
    w = module.weight
    if w.shape[0] != n_units:
        raise ValueError(f"layer: {name!r} outputs {n_units} units but its weight has {w.shape[0]} "
                         f"output filters; weight metrics cannot be matched to units")
    return w.detach().reshape(w.shape[0], -1).to(device="cpu", dtype=torch.float64), ""


def _run_order(model: nn.Module, x: torch.Tensor) -> list:
    """Names of the modules in the order their forward passes end (one forward of ``x``, no grad)."""
    order, handles = [], []
    for name, mod in model.named_modules():
        if name:
            handles.append(mod.register_forward_hook(lambda m, i, o, name=name: order.append(name)))
    try:
        with _EvalMode(model), torch.no_grad():
            model(x)
    finally:
        for h in handles:
            h.remove()
    return order


def _outgoing_weights(name: str, order: list, modules: dict, n_units: int) -> tuple:
    """(outgoing weights [C, K] or None, why None): the weights w^{l+1} of the first weighted layer
    (conv or linear) run after ``name`` that multiply each of its ``n_units`` channels (the paper's
    APPLE weight formula)."""
    if name not in order:
        return None, "the layer is not run in the forward pass"
    after = order[order.index(name) + 1:]
    nxt = next((m for m in after if _has_weights(modules[m]) and not m.startswith(name + ".")), None)
    if nxt is None:
        return None, "no conv or linear layer runs after it (weights='outgoing' reads the next layer's weights)"
    mod = modules[nxt]
    w = mod.weight.detach().to(device="cpu", dtype=torch.float64)
    if isinstance(mod, nn.modules.conv._ConvNd):
        if mod.groups != 1 or w.shape[1] != n_units or getattr(mod, "transposed", False):
            return None, (f"the next weighted layer {nxt!r} ({type(mod).__name__}, {w.shape[1]} input channels "
                          f"per group, groups={mod.groups}) does not take its {n_units} channels one to one")
        return w.transpose(0, 1).reshape(n_units, -1).contiguous(), ""
    if isinstance(mod, nn.Linear):
        if w.shape[1] % n_units:
            return None, (f"the next weighted layer {nxt!r} (Linear, {w.shape[1]} inputs) does not take "
                          f"its {n_units} channels as equal channel-major blocks")
        per = w.shape[1] // n_units
        return w.reshape(w.shape[0], n_units, per).transpose(0, 1).reshape(n_units, -1).contiguous(), ""
    return None, f"the next weighted layer {nxt!r} ({type(mod).__name__}) is neither a conv nor a linear layer"


def _default_layers(model, x) -> list[str]:
    return [i.name for i in _layers(model, tuple(x.shape[1:])) if i.kind == "conv"]


def _resolve_layers(model, layers) -> list[str]:
    if layers is None:
        return None
    layers = [layers] if isinstance(layers, (str, nn.Module)) else list(layers)
    if not layers:
        raise ValueError("layers: empty list")
    return [get_layer(model, l)[0] for l in layers]


def resample(model: nn.Module, x: torch.Tensor, layers=None, n: int = 50, sigma: float = 0.1,
             target: int | None = None, seed: int = 0, schedule: str = "constant", rectify: bool = True,
             output: str = "logit", batch_size: int | None = None,
             weights: str = "outgoing") -> ResampledActivations:
    """Run the clean image and its n perturbed copies (:func:`perturb`) through ``model`` in batched
    forward passes (``batch_size`` rows each) and keep, per unit and position, the statistics the
    metrics need (streamed: memory does not grow with n).

    ``layers``: layer names (default: every conv layer). ``target``: the class whose output oᵢ is
    correlated with the units (default: the prediction on the clean image). ``output``: oᵢ is the
    ``"logit"`` (default) or the softmax ``"probability"`` (the authors' Keras model output).
    ``rectify=True``: a unit's activation is max(output, 0) — the authors' Keras conv layers include
    their ReLU, so for a conv layer followed by a ReLU this is the ReLU's output; a no-op for ReLU and
    pool layers. ``weights``: which weights the APPLE weight metrics read — ``"outgoing"`` (default,
    the paper's w^{l+1}, found from one extra forward of the clean image that records the run order) or
    ``"incoming"`` (the unit's own filter, the authors' code); see :meth:`ResampledActivations.importance`.
    ``batch_size``: images (rows) per forward pass; default (None): as many as fit
    :data:`xnb.layers.MEMORY_BUDGET` (:func:`xnb.layers.auto_batch_size`, no backward), at most 256 — all
    51 rows at once for the shipped 64-px nets, a few at a time for VGG16 at 224 px, whose 51 rows would hold
    gigabytes of activations. The statistics do not depend on it (up to float rounding). The model is left
    as it came (forward hooks removed, training flag restored).
    """
    if not isinstance(model, nn.Module):
        raise TypeError(f"model: expected a torch.nn.Module, got {type(model).__name__}")
    x = check_images(x, "x")
    if x.shape[0] != 1:
        raise ValueError(f"x: expected one image [C,H,W] or [1,C,H,W], got a batch of {x.shape[0]}")
    n = check_int(n, "n", minimum=2)
    sigma = check_float(sigma, "sigma", low=0.0)
    check_choice(schedule, "schedule", _SCHEDULES)
    check_choice(output, "output", ("logit", "probability"))
    if batch_size is not None:
        batch_size = check_int(batch_size, "batch_size", minimum=1)
    seed = check_int(seed, "seed")
    check_choice(weights, "weights", _WEIGHT_SOURCES)
    names = _resolve_layers(model, layers) or _default_layers(model, x)
    modules = dict(model.named_modules())
    device = model_device(model)
    p0 = next(model.parameters(), None)
    x = x.to(device=device, dtype=p0.dtype if p0 is not None else x.dtype)
    if batch_size is None:
        from .layers import auto_batch_size

        batch_size = auto_batch_size(model, x, backward=False, maximum=256)
    rows = torch.cat([x, perturb(x, n, sigma, schedule, seed)])  # row 0: the clean image
    acc64 = torch.float64 if device.type != "mps" else torch.float32  # accumulators (MPS has no float64)

    held: dict[str, torch.Tensor] = {}
    shapes: dict[str, tuple] = {}

    def hook(name):
        def f(mod, inp, out):
            if isinstance(out, (tuple, list)):
                out = out[0]
            # a copy now, so later in-place ops (ReLU(inplace=True)) cannot change it
            z = out.detach().clamp(min=0) if rectify else out.detach().clone()
            shapes[name] = (z.shape[1], int(np.prod(z.shape[2:])) if z.ndim > 2 else 1)
            held[name] = z.reshape(z.shape[0], -1)
        return f

    # Streaming sums over the copies, shifted by the first copy's values: stable in float32, and a position
    # is constant across the copies exactly when the sum of squared shifts is 0.
    ref, S1, S2, Sdo, clean = {}, {}, {}, {}, {}
    o_all = []
    o_ref = None
    handles = []
    try:
        with _EvalMode(model), torch.no_grad():
            for name in names:
                handles.append(modules[name].register_forward_hook(hook(name)))
            for start in range(0, n + 1, batch_size):
                held.clear()
                out = model(rows[start:start + batch_size])
                missing = [nm for nm in names if nm not in held]
                if missing:
                    raise ValueError(f"layers: {missing} not called in the model's forward pass")
                out = out.detach().to(acc64).reshape(out.shape[0], -1)
                if start == 0:
                    if target is None:
                        target = int(out[0].argmax())
                    target = check_int(target, "target", minimum=0, maximum=out.shape[1] - 1)
                if output == "probability":
                    out = torch.softmax(out, 1)
                o = out[:, target]
                zs = dict(held)
                if start == 0:
                    o_clean = float(o[0])
                    clean = {nm: zs[nm][0].to(acc64) for nm in names}
                    o, zs = o[1:], {nm: z[1:] for nm, z in zs.items()}
                if len(o) == 0:  # batch_size=1: the first chunk held only the clean image
                    continue
                if o_ref is None:
                    o_ref = float(o[0])
                    for nm in names:
                        ref[nm] = zs[nm][0].clone()
                        S1[nm], S2[nm], Sdo[nm] = (torch.zeros(ref[nm].shape, dtype=acc64, device=device)
                                                   for _ in range(3))
                o_all.append(o)
                od = (o - o_ref).to(zs[names[0]].dtype)
                ones_od = torch.stack([torch.ones_like(od), od])  # [2, b]: Σ d and Σ d·o in one product
                for nm in names:
                    d = zs[nm] - ref[nm]
                    both = ones_od @ d
                    S1[nm] += both[0].to(acc64)
                    Sdo[nm] += both[1].to(acc64)
                    S2[nm] += (d * d).sum(0).to(acc64)
    finally:
        for h in handles:
            h.remove()
    o = torch.cat(o_all)
    mo = float((o - o_ref).mean())
    order = _run_order(model, x) if weights == "outgoing" else None
    stats = {}
    for nm in names:
        C, P = shapes[nm]
        m1 = S1[nm] / n
        const = S2[nm] == 0
        var = torch.where(const, torch.zeros_like(m1), (S2[nm] / n - m1 * m1).clamp(min=0))
        cov = Sdo[nm] / n - m1 * mo
        view = lambda t: t.reshape(C, P).cpu()
        w, why = (_outgoing_weights(nm, order, modules, C) if weights == "outgoing"
                  else _unit_weights(nm, modules[nm], C))
        stats[nm] = _LayerStats(clean=view(clean[nm]), mean=view(ref[nm].to(acc64) + m1), var=view(var),
                                const=view(const), cov=view(cov), weight=w, weight_why=why)
    return ResampledActivations(names, stats, o.cpu().to(torch.float64), o_clean, target, n, sigma,
                                schedule, seed, output, weights)


def neuron_importance(model: nn.Module, x: torch.Tensor, layer, metric: str, n: int = 50, sigma: float = 0.1,
                      threshold: float = 0.1, target: int | None = None, seed: int = 0, **options) -> torch.Tensor:
    """Importance score of every unit (channel) of ``layer`` for one image: a float64 tensor [C] on the
    CPU, higher = more important. ``metric`` is one of :data:`METRICS`:

    - ``"correlation"`` — eq. (2): |Pearson r| between the unit's activation and the network output
      oᵢ for ``target`` over the n perturbed copies, averaged over positions;
    - ``"precision"`` — eq. (3): mean over positions of the inverse variance across copies; units whose
      mean activation is below λ = ``threshold`` score ``-inf``;
    - APPLE baselines on the clean image: ``"activation_sum"``, ``"activation_variance"``,
      ``"weight_sum"``, ``"weight_variance"``.

    The zero-variance cases are detailed in :meth:`ResampledActivations.importance`. ``options``:
    ``schedule``, ``rectify``, ``output``, ``batch_size``, ``weights`` (see :func:`resample`) and
    ``threshold_scale``. One batched forward pass (chunked by ``batch_size``).
    """
    check_choice(metric, "metric", list(METRICS))
    name, module = get_layer(model, layer)
    if metric in _WEIGHT_METRICS and options.get("weights", "outgoing") == "incoming" and not _has_weights(module):
        raise ValueError(f"metric: {metric!r} with weights='incoming' needs a layer with weights (a conv or "
                         f"linear layer); layer {name!r} ({type(module).__name__}) has none")
    scale = options.pop("threshold_scale", "layer_max")
    res = resample(model, x, [name], n=n, sigma=sigma, target=target, seed=seed, **options)
    return res.importance(name, metric, threshold, scale)


def neuron_importance_all(model: nn.Module, x: torch.Tensor, layers=None, metrics=None, n: int = 50,
                          sigma: float = 0.1, threshold: float = 0.1, target: int | None = None, seed: int = 0,
                          **options) -> dict:
    """Every metric for every layer from the same forward pass: ``{layer: {metric: scores [C]}}``.
    ``layers`` default: every conv layer; ``metrics`` default: all of :data:`METRICS` (weight metrics
    are skipped for layers without weights unless asked for explicitly, which raises)."""
    asked = metrics is not None
    metrics = _check_metrics(metrics)
    scale = options.pop("threshold_scale", "layer_max")
    res = resample(model, x, layers, n=n, sigma=sigma, target=target, seed=seed, **options)
    if asked:
        return {l: {m: res.importance(l, m, threshold, scale) for m in metrics} for l in res.layers}
    return res.importance_all(metrics, threshold, scale)


# --------------------------------------------------------------------------- selections


def _scores_array(scores, name="scores") -> np.ndarray:
    if isinstance(scores, torch.Tensor):
        scores = scores.detach().cpu().numpy()
    a = np.asarray(scores, dtype=np.float64)
    if a.ndim != 1:
        raise ValueError(f"{name}: expected a 1-D array of scores (one per unit), got shape {a.shape}")
    if np.isnan(a).any():
        raise ValueError(f"{name}: contains NaN")
    return a


def top_neurons(scores, k: int = 5) -> list[int]:
    """Indices of the k highest-scoring units, best first (ties: lower index first). Units scoring
    ``-inf`` (discarded by the precision threshold) are never selected, so fewer than k may come back."""
    a = _scores_array(scores)
    k = check_int(k, "k", minimum=1)
    order = np.lexsort((np.arange(len(a)), -a))  # descending score, then ascending index
    return [int(i) for i in order if a[i] > -np.inf][:k]


def jaccard(a: Iterable, b: Iterable, definition: str = "union") -> float:
    """Set similarity of two selections (§5.2): |A∩B| / |A∪B| (``definition="union"``, the paper; 1.0
    for two empty sets) or |A∩B| / (|A| + |B|) (``definition="sum"``, what the authors' code computes;
    at most 0.5, reached for identical sets; 0.0 for two empty sets)."""
    check_choice(definition, "definition", ("union", "sum"))
    sa = set(int(v) for v in (a.tolist() if isinstance(a, (torch.Tensor, np.ndarray)) else a))
    sb = set(int(v) for v in (b.tolist() if isinstance(b, (torch.Tensor, np.ndarray)) else b))
    inter = len(sa & sb)
    if definition == "union":
        union = len(sa | sb)
        return 1.0 if union == 0 else inter / union
    total = len(sa) + len(sb)
    return 0.0 if total == 0 else inter / total


# --------------------------------------------------------------------------- §4.3 patches


@dataclass
class Patches:
    """Each unit's back-projection and patch box for one image.

    ``units`` [k] channel indices; ``locations`` [k, d] the unit's maximum location in the layer output
    ((h, w) for a conv layer); ``heatmaps`` [k, H, W] deconvnet maps (CPU); ``boxes`` [k, 4] int
    (row0, col0, row1, col1), ends exclusive, as ``xnb.data`` boxes; ``empty`` [k] bool: the
    back-projection (or thresholded map) had no pixel, the box is (0, 0, 0, 0)."""

    layer: str
    units: np.ndarray
    locations: np.ndarray
    heatmaps: torch.Tensor
    boxes: np.ndarray
    empty: np.ndarray

    def box(self, unit: int) -> tuple:
        idx = np.flatnonzero(self.units == unit)
        if len(idx) == 0:
            raise ValueError(f"unit: {unit} has no patch here; units: {self.units.tolist()}")
        return tuple(int(v) for v in self.boxes[idx[0]])


def _bbox(mask: np.ndarray) -> tuple:
    rows = np.flatnonzero(mask.any(1))
    cols = np.flatnonzero(mask.any(0))
    if len(rows) == 0:
        return (0, 0, 0, 0), True
    return (int(rows[0]), int(cols[0]), int(rows[-1]) + 1, int(cols[-1]) + 1), False


def patches(model: nn.Module, x: torch.Tensor, layer, units=None, box: str = "nonzero",
            box_threshold: float = 0.1, rectify: bool = True, batch_size: int | None = None) -> Patches:
    """Patch of each unit of ``layer`` (§4.3): the deconvnet (Zeiler & Fergus; ``xnb.attribute(...,
    "deconvnet")``) back-projects the unit from its maximum location on the clean image to the input,
    all units in one batched pass; the patch is the bounding box of the non-zero back-projection
    (``box="nonzero"``, the authors' code) or of the map thresholded at ``box_threshold`` × its maximum
    (``box="threshold"``). ``units``: channel indices (default: all).

    ``batch_size``: images (rows) per forward/backward pass, the meaning it has in :func:`resample` —
    the deconvnet back-projects one unit per row (a copy of the image), so a pass holds ``batch_size``
    units' maps and memory is bounded by ``batch_size`` × (the network's activations for one image),
    whatever the number of units; the results do not depend on it. Default (None): as many as fit
    :data:`xnb.layers.MEMORY_BUDGET` (:func:`xnb.layers.auto_batch_size`), at most 64 — 64 for the
    shipped 64-px nets, 2–3 for VGG16 at 224 px.

    Differences from the authors' code: max-pooling is undone with the recorded switches (Zeiler &
    Fergus), not by nearest-neighbour unpooling; the seed is 1 at the maximum (the activation value
    there only scales the map; a unit whose maximum is 0 — silent on this image — gets an all-zero map
    and an empty patch, as with the activation-valued seed of Zeiler & Fergus).
    """
    from .attribution import attribute
    from .layers import capture

    x = check_images(x, "x")
    if x.shape[0] != 1:
        raise ValueError(f"x: expected one image [C,H,W] or [1,C,H,W], got a batch of {x.shape[0]}")
    check_choice(box, "box", ("nonzero", "threshold"))
    box_threshold = check_float(box_threshold, "box_threshold", low=0.0, high=1.0)
    if batch_size is not None:
        batch_size = check_int(batch_size, "batch_size", minimum=1)
    name, _ = get_layer(model, layer)
    device = model_device(model)
    xd = x.to(device)
    if batch_size is None:
        from .layers import auto_batch_size

        batch_size = auto_batch_size(model, xd, backward=True, maximum=64)
    with _EvalMode(model), capture(model, name, detach=True) as cap, torch.no_grad():
        model(xd)
    a = cap[name][0].float()
    if rectify:
        a = a.clamp(min=0)
    n_units = a.shape[0]
    if units is None:
        units = list(range(n_units))
    elif isinstance(units, (numbers.Integral, np.integer)) and not isinstance(units, bool):
        units = [int(units)]
    else:
        units = [int(u) for u in (units.tolist() if isinstance(units, (torch.Tensor, np.ndarray)) else units)]
    for u in units:
        if not 0 <= u < n_units:
            raise ValueError(f"units: {u} is out of range; layer {name!r} has {n_units} units (0..{n_units - 1})")
    if not units:
        H, W = x.shape[-2:]
        return Patches(name, np.zeros(0, int), np.zeros((0, max(a.ndim - 1, 1)), int),
                       torch.zeros(0, H, W), np.zeros((0, 4), int), np.zeros(0, bool))
    flat = a.reshape(n_units, -1)
    locs = []
    for u in units:
        i = int(flat[u].argmax())
        locs.append((u,) + tuple(int(v) for v in np.unravel_index(i, tuple(a.shape[1:]))) if a.ndim > 1 else (u,))
    # Zeiler's seed is the activation itself: a unit silent on this image back-projects to nothing
    peak = torch.stack([flat[u].max() for u in units]).cpu()
    chunks, boxes, empty = [], [], []
    for start in range(0, len(locs), batch_size):  # batch_size units (image copies) per deconvnet pass
        part = locs[start:start + batch_size]
        m = attribute(model, xd, "deconvnet", layer=name, neuron=list(part))[0].detach().cpu()
        m = m.reshape(len(part), *m.shape[-2:]) * (peak[start:start + len(part)] > 0).to(m.dtype).view(-1, 1, 1)
        for h in m.numpy():
            mask = h > 0 if box == "nonzero" else (h >= box_threshold * h.max()) & (h > 0)
            b, e = _bbox(mask)
            boxes.append(b)
            empty.append(e)
        chunks.append(m)
    maps = torch.cat(chunks)
    return Patches(name, np.asarray(units), np.asarray([l[1:] for l in locs]), maps,
                   np.asarray(boxes, dtype=int).reshape(-1, 4), np.asarray(empty, bool))


# --------------------------------------------------------------------------- §5 evaluation


@dataclass
class PatchEvaluation:
    """Selected units and their patch boxes for a set of images (made by :func:`evaluate_patches`).

    ``selections[i][metric][layer]``: the top-``k_max`` units (best first) for image i;
    ``boxes[i][layer]``: {unit: (box, empty)} for every unit any metric selected; ``peaks[i][layer]``:
    {unit: (row, col)} of the back-projection's maximum; ``scores[i][metric][layer]``: every unit's
    score (numpy float64, ``-inf`` = discarded; not for ``"random"``); ``targets``: the explained class
    per image; ``image_size`` (H, W)."""

    layers: list
    metrics: list
    k_max: int
    selections: list = field(default_factory=list)
    boxes: list = field(default_factory=list)
    peaks: list = field(default_factory=list)
    scores: list = field(default_factory=list)
    targets: list = field(default_factory=list)
    image_size: tuple = (0, 0)

    def selected_boxes(self, i: int, metric: str, k: int, layers=None) -> list:
        """[(layer, unit, box)] of the top-k units per layer of image i (empty patches left out)."""
        out = []
        for layer in layers or self.layers:
            for u in self.selections[i][metric][layer][:k]:
                b, e = self.boxes[i][layer][u]
                if not e:
                    out.append((layer, u, b))
        return out

    def localization(self, masks, k: int = 5, layers=None, criterion: str = "overlap",
                     empty: str = "miss") -> dict:
        """Patch localization (§5.3): for each metric, the fraction of selected patches (top-k per layer)
        that hit the object (``masks`` [N,H,W] bool). ``criterion="overlap"``: the box contains at least
        one object pixel (the paper's "patch containing pixels of the class"); ``"peak"`` (stricter):
        the back-projection's maximum pixel lies on the object. Returns {metric: (fraction, number of
        patches)}.

        ``empty="miss"`` (default) compares like with like: every metric is scored on k patches per layer
        and image, and a selected unit that is silent on the image (empty patch) — or a slot left empty
        because fewer than k units passed the metric's threshold — counts as a miss. ``"skip"`` leaves
        empty patches out (xnb 0.1; then metrics are scored on different numbers of patches). A layer
        where a metric selects nothing on any image (the weight metrics on a layer without weights) is
        left out for that metric either way.
        """
        check_choice(criterion, "criterion", ("overlap", "peak"))
        check_choice(empty, "empty", ("miss", "skip"))
        k = check_int(k, "k", minimum=1)
        masks = masks.cpu().numpy() if isinstance(masks, torch.Tensor) else np.asarray(masks)
        if masks.shape[0] != len(self.selections):
            raise ValueError(f"masks: {masks.shape[0]} masks for {len(self.selections)} images")
        out = {}
        for metric in self.metrics:
            defined = [l for l in (layers or self.layers)
                       if any(len(sel[metric][l]) for sel in self.selections)]
            hit = tot = 0
            for i in range(len(self.selections)):
                boxes = self.selected_boxes(i, metric, k, defined)
                tot += len(defined) * k if empty == "miss" else len(boxes)
                for layer, u, (r0, c0, r1, c1) in boxes:
                    if criterion == "overlap":
                        hit += bool(masks[i, r0:r1, c0:c1].any())
                    else:
                        hit += bool(masks[i][self.peaks[i][layer][u]])
            out[metric] = (hit / tot if tot else float("nan"), tot)
        return out

    def counts(self, k: int = 5, layers=None) -> dict:
        """{metric: {"slots", "selected", "silent"}} summed over images and layers: the k slots per layer
        and image, the units the metric selected in them (fewer when its threshold kept fewer than k), and
        the selected units silent on the image (empty patch). With ``localization(empty="miss")`` every
        metric is scored on its ``slots``; ``selected − silent`` patches can hit."""
        k = check_int(k, "k", minimum=1)
        out = {}
        for metric in self.metrics:
            defined = [l for l in (layers or self.layers) if any(len(sel[metric][l]) for sel in self.selections)]
            sel_n = silent = 0
            for i, sel in enumerate(self.selections):
                for l in defined:
                    units = sel[metric][l][:k]
                    sel_n += len(units)
                    silent += sum(self.boxes[i][l][u][1] for u in units)
            out[metric] = {"slots": len(defined) * k * len(self.selections), "selected": sel_n, "silent": silent}
        return out

    def area(self, k: int = 5, layers=None) -> dict:
        """Mean fraction of the image covered by the union of each metric's top-k patches."""
        H, W = self.image_size
        out = {}
        for metric in self.metrics:
            fr = []
            for i in range(len(self.selections)):
                m = np.zeros((H, W), bool)
                for _, _, (r0, c0, r1, c1) in self.selected_boxes(i, metric, k, layers):
                    m[r0:r1, c0:c1] = True
                fr.append(m.mean())
            out[metric] = float(np.mean(fr))
        return out


def evaluate_patches(model: nn.Module, images: torch.Tensor, layers=None, metrics=None, k_max: int = 20,
                     n: int = 50, sigma: float = 0.1, threshold: float = 0.1, seed: int = 0,
                     random_baseline: bool = True, variants: dict | None = None, progress: bool = True,
                     **options) -> PatchEvaluation:
    """For each image: one :func:`resample` pass, every metric's top-``k_max`` units per layer, and the
    patch boxes of all selected units (one batched deconvnet pass per layer). ``random_baseline`` adds a
    ``"random"`` pseudo-metric (k_max units drawn uniformly, seeded) as a chance reference.
    ``variants``: extra named selections, e.g. ``{"precision (λ rel.)": dict(metric="precision",
    threshold=0.1, threshold_scale="layer_max")}``, scored from the same pass.
    ``options`` go to :func:`resample` (and ``threshold_scale``, ``box``, ``box_threshold``);
    ``batch_size`` (images per forward/backward pass) goes to both :func:`resample` and :func:`patches`.
    Every metric's scores are kept (``scores``), for rank correlations."""
    from tqdm.auto import tqdm

    images = check_images(images, "images")
    k_max = check_int(k_max, "k_max", minimum=1)
    metrics = _check_metrics(metrics)
    scale = options.pop("threshold_scale", "layer_max")
    box_kw = {k: options.pop(k) for k in ("box", "box_threshold") if k in options}
    if "batch_size" in options:
        box_kw["batch_size"] = options["batch_size"]
    names = _resolve_layers(model, layers) or _default_layers(model, images[:1])
    variants = dict(variants or {})
    for vname, spec in variants.items():
        if not isinstance(spec, dict) or "metric" not in spec or set(spec) - {"metric", "threshold", "threshold_scale"}:
            raise ValueError(f"variants: {vname!r} must be a dict with 'metric' and optionally 'threshold', "
                             f"'threshold_scale'")
        check_choice(spec["metric"], "variants", list(METRICS))
    all_metrics = metrics + list(variants) + (["random"] if random_baseline else [])
    ev = PatchEvaluation(names, all_metrics, k_max, image_size=tuple(images.shape[-2:]))
    rng = np.random.default_rng(seed)
    for i in tqdm(range(len(images)), desc="patches", disable=not progress):
        res = resample(model, images[i:i + 1], names, n=n, sigma=sigma, seed=seed + i, **options)
        sc_all: dict = {}

        def top(name, l, m, thr, sc):  # weight metrics select nothing where the unit has no such weights
            if m in _WEIGHT_METRICS and res.stats[l].weight is None:
                return []
            s_ = res.importance(l, m, thr, sc)
            sc_all.setdefault(name, {})[l] = s_.numpy()
            return top_neurons(s_, k_max)

        sel = {m: {l: top(m, l, m, threshold, scale) for l in names} for m in metrics}
        for vname, spec in variants.items():
            sel[vname] = {l: top(vname, l, spec["metric"], spec.get("threshold", threshold),
                                 spec.get("threshold_scale", scale)) for l in names}
        if random_baseline:
            sel["random"] = {l: [int(u) for u in rng.permutation(res.n_units(l))[:k_max]] for l in names}
        bx, pk = {}, {}
        for l in names:
            units = sorted({u for m in sel for u in sel[m][l]})
            p = patches(model, images[i:i + 1], l, units, rectify=options.get("rectify", True), **box_kw)
            bx[l] = {int(u): (tuple(int(v) for v in b), bool(e)) for u, b, e in zip(p.units, p.boxes, p.empty)}
            W = p.heatmaps.shape[-1]
            pk[l] = {int(u): divmod(int(h.argmax()), W) for u, h in zip(p.units, p.heatmaps)}
        ev.selections.append(sel)
        ev.boxes.append(bx)
        ev.peaks.append(pk)
        ev.scores.append(sc_all)
        ev.targets.append(res.target)
    return ev


def masked_images(evaluation: PatchEvaluation, images: torch.Tensor, metric: str, k: int = 5,
                  layers=None) -> torch.Tensor:
    """The images with everything outside the union of ``metric``'s top-k patches set to 0: a variant of
    §5.1's input (one image per image, all its patches kept in place). The paper's protocol is
    :func:`patch_images` (each patch cropped and resized, one example per patch); on the flowers the
    masked images of every metric — random units included — keep most of the class evidence, so the
    masked variant separates the metrics poorly."""
    check_choice(metric, "metric", evaluation.metrics)
    images = check_images(images, "images")
    out = torch.zeros_like(images)
    for i in range(len(images)):
        for _, _, (r0, c0, r1, c1) in evaluation.selected_boxes(i, metric, k, layers):
            out[i, :, r0:r1, c0:c1] = images[i, :, r0:r1, c0:c1]
    return out


def patch_images(evaluation: PatchEvaluation, images: torch.Tensor, metric: str, k: int = 5, size: int = 16,
                 layers=None) -> tuple:
    """The paper's secondary-classifier input (§5.1, Table 1: "we re-size each extracted patch to be the
    same size (the number of images selected in each layer is kept constant across all metrics)"): each of
    ``metric``'s top-k patches per layer, cropped from its image and resized (bilinear, antialiased) to
    ``size`` × ``size``.

    Like for like: every image gives exactly ``len(layers) × k`` rows, in layer order then rank order; a
    slot with no patch (the unit is silent on the image, or the metric kept fewer than k units) gives an
    all-zero crop flagged ``empty``. Returns ``(crops [M, C, size, size], image_index [M] int64,
    empty [M] bool)`` with M = images × layers × k; give a row its image's label."""
    check_choice(metric, "metric", evaluation.metrics)
    images = check_images(images, "images")
    k = check_int(k, "k", minimum=1)
    size = check_int(size, "size", minimum=1)
    if len(images) != len(evaluation.selections):
        raise ValueError(f"images: {len(images)} images for an evaluation of {len(evaluation.selections)}")
    layers = list(layers or evaluation.layers)
    for l in layers:
        check_choice(l, "layers", evaluation.layers)
    C = images.shape[1]
    crops, idx, empty = [], [], []
    for i in range(len(images)):
        for l in layers:
            units = evaluation.selections[i][metric][l][:k]
            for j in range(k):
                box = evaluation.boxes[i][l][units[j]] if j < len(units) else ((0, 0, 0, 0), True)
                (r0, c0, r1, c1), e = box
                if e:
                    crops.append(torch.zeros(C, size, size, dtype=images.dtype))
                else:
                    crop = images[i:i + 1, :, r0:r1, c0:c1].float()
                    crops.append(nn.functional.interpolate(crop, size=(size, size), mode="bilinear",
                                                           align_corners=False, antialias=True)[0].to(images.dtype))
                idx.append(i)
                empty.append(bool(e))
    if not crops:
        return torch.zeros(0, C, size, size, dtype=images.dtype), torch.zeros(0, dtype=torch.int64), torch.zeros(0, dtype=torch.bool)
    return torch.stack(crops), torch.as_tensor(idx, dtype=torch.int64), torch.as_tensor(empty, dtype=torch.bool)


def secondary_classifier(n_classes: int, in_channels: int = 3, width: int = 64) -> nn.Sequential:
    """The small CNN of §5.1: three conv layers of ``width`` channels (the paper: 64) with ReLU and
    max-pooling in between, then a linear classifier."""
    w = check_int(width, "width", minimum=1)
    return nn.Sequential(
        nn.Conv2d(in_channels, w, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
        nn.Conv2d(w, w, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
        nn.Conv2d(w, w, 3, padding=1), nn.ReLU(), nn.AdaptiveAvgPool2d(4),
        nn.Flatten(), nn.Linear(w * 16, n_classes))


def secondary_accuracy(train_images, train_labels, test_images, test_labels, n_classes: int | None = None,
                       width: int = 64, epochs: int = 10, lr: float = 3e-3, batch_size: int = 64,
                       seed: int = 0, test_empty=None) -> float:
    """Train :func:`secondary_classifier` on training images — cropped patches (:func:`patch_images`, the
    paper) or masked images (:func:`masked_images`) — (:func:`xnb.models.train`: Adam, one-cycle schedule)
    and return its accuracy on the test images. ``test_empty`` ([M] bool, optional): test rows that hold no
    patch; they count as errors (an empty slot shows nothing to classify), so every metric is scored on
    the same number of test rows. Leave empty rows out of the training set."""
    from . import models

    train_images = check_images(train_images, "train_images")
    test_images = check_images(test_images, "test_images")
    train_labels, test_labels = torch.as_tensor(train_labels), torch.as_tensor(test_labels)
    if len(train_labels) != len(train_images) or len(test_labels) != len(test_images):
        raise ValueError(f"train_labels, test_labels: one label per image expected ({len(train_labels)} for "
                         f"{len(train_images)}, {len(test_labels)} for {len(test_images)})")
    if len(train_images) == 0 or len(test_images) == 0:
        raise ValueError("train_images, test_images: need at least one image each")
    n_classes = int(max(int(train_labels.max()), int(test_labels.max())) + 1) if n_classes is None else n_classes
    torch.manual_seed(seed)
    net = secondary_classifier(n_classes, train_images.shape[1], width)
    models.train(net, (train_images, train_labels), epochs=epochs, lr=lr, batch_size=batch_size, seed=seed,
                 progress=False)
    if test_empty is None:
        return float(models.evaluate(net, (test_images, test_labels))["accuracy"])
    test_empty = torch.as_tensor(test_empty, dtype=torch.bool)
    if test_empty.shape != (len(test_images),):
        raise ValueError(f"test_empty: expected [{len(test_images)}] bool, got shape {tuple(test_empty.shape)}")
    pred = models.predict(net, test_images).argmax(1).cpu()
    right = (pred == test_labels.cpu()) & ~test_empty
    return float(right.double().mean())


def rank_correlation(a, b) -> float:
    """Spearman's rank correlation ρ of two score vectors over the same units (e.g. correlation and
    precision scores of one layer): the Pearson correlation of their ranks, ties at their average rank
    (as ``scipy.stats.spearmanr``). ``±inf`` scores are ranked as extremes — units precision discards
    (``-inf``) tie at the bottom. NaN when either vector is constant (no ranking)."""
    from scipy.stats import rankdata

    a, b = _scores_array(a, "a"), _scores_array(b, "b")
    if a.shape != b.shape:
        raise ValueError(f"a, b: scores for the same units expected, got shapes {a.shape} and {b.shape}")
    ra, rb = rankdata(a), rankdata(b)
    if len(a) < 2 or ra.std() == 0 or rb.std() == 0:
        return float("nan")
    return float(np.corrcoef(ra, rb)[0, 1])


def jaccard_during_training(model: nn.Module, train_set, test_set, epochs: int = 5, probe=None, layers=None,
                            k: int = 5, n: int = 20, sigma: float = 0.1, threshold: float = 0.1,
                            definition: str = "union", lr: float = 2e-3, batch_size: int = 16, seed: int = 0,
                            progress: bool = True, **options) -> dict:
    """Fig. 3: train ``model`` (in place; Adam at a constant ``lr``, mini-batches of ``batch_size``,
    cross-entropy) one epoch at a time; before training and after each epoch measure its test accuracy
    and the mean Jaccard similarity between the top-k units selected by ``correlation`` and by
    ``precision`` (per layer, averaged over the ``probe`` images, default the first 16 test images).
    Returns {"epoch", "accuracy", "jaccard", "jaccard_per_layer", "rank_correlation",
    "rank_correlation_per_layer"} (lists, epoch 0 = untrained); ``rank_correlation`` is Spearman's ρ
    of the two metrics' scores over all units (:func:`rank_correlation`), averaged as the Jaccard.
    ``options`` go to :func:`resample` (and ``threshold_scale``). Deterministic for a ``seed`` on CPU."""
    from tqdm.auto import tqdm

    from . import models

    epochs = check_int(epochs, "epochs", minimum=1)
    batch_size = check_int(batch_size, "batch_size", minimum=1)
    lr = check_float(lr, "lr", low=0.0, low_open=True)
    check_choice(definition, "definition", ("union", "sum"))
    probe = test_set.images[:16] if probe is None else check_images(probe, "probe")
    names = _resolve_layers(model, layers) or _default_layers(model, probe[:1])
    scale = options.pop("threshold_scale", "layer_max")
    hist = {"epoch": [], "accuracy": [], "jaccard": [], "jaccard_per_layer": [], "rank_correlation": [],
            "rank_correlation_per_layer": []}

    def measure(epoch):
        per = {l: [] for l in names}
        rho = {l: [] for l in names}
        for i in range(len(probe)):
            res = resample(model, probe[i:i + 1], names, n=n, sigma=sigma, seed=seed + i, **options)
            for l in names:
                sa, sb = res.importance(l, "correlation"), res.importance(l, "precision", threshold, scale)
                per[l].append(jaccard(top_neurons(sa, k), top_neurons(sb, k), definition))
                rho[l].append(rank_correlation(sa, sb))
        hist["epoch"].append(epoch)
        hist["accuracy"].append(float(models.evaluate(model, test_set)["accuracy"]))
        hist["jaccard_per_layer"].append({l: float(np.mean(v)) for l, v in per.items()})
        hist["jaccard"].append(float(np.mean([np.mean(v) for v in per.values()])))
        hist["rank_correlation_per_layer"].append({l: _nanmean(v) for l, v in rho.items()})
        hist["rank_correlation"].append(_nanmean(list(hist["rank_correlation_per_layer"][-1].values())))

    x, y = train_set.images, train_set.labels
    device = model_device(model)
    gen = torch.Generator().manual_seed(seed)
    torch.manual_seed(seed)  # dropout masks
    opt = torch.optim.Adam(model.parameters(), lr=lr)
    measure(0)
    for e in tqdm(range(1, epochs + 1), desc="epochs", disable=not progress):
        model.train()
        try:
            perm = torch.randperm(len(x), generator=gen)
            for i in range(0, len(x), batch_size):
                idx = perm[i:i + batch_size]
                opt.zero_grad(set_to_none=True)
                nn.functional.cross_entropy(model(x[idx].to(device)), y[idx].to(device)).backward()
                opt.step()
        finally:
            model.eval()
        measure(e)
    return hist


# --------------------------------------------------------------------------- live explorer

#: Fig. 4's colours by depth: shallow red, middle green, deep blue
DEPTH_COLORS = [(230, 40, 40), (40, 200, 60), (40, 90, 240)]


def depth_colors(layers: Sequence[str]) -> dict:
    """Layer -> RGB colour by depth (first third red, middle green, last third blue, as Fig. 4)."""
    L = len(layers)
    return {l: DEPTH_COLORS[min(2, (3 * i) // max(L, 1))] for i, l in enumerate(layers)}


# the explorer moved to xnb.widgets; the old name works for one more release
__getattr__ = moved("xnb.resample", {"ResamplingExplorer": "xnb.widgets"})


# --------------------------------------------------------------------------- claims (xnb.claims)

from .claims import Better, ClaimSpec, check_quick, check_seeds  # noqa: E402  (kept beside the claims they serve)

#: the explained model (shipped; never retrained by claims())
_CLAIM_MODEL = "flowers-single"
_CLAIM_LAYERS = ("conv2", "conv3", "conv4")
#: per-seed data seeds: disjoint from the shipped models' training / calibration / test seeds (1, 3, 2026)
_CLAIM_DATA_SEED = 1000
#: sizes: images per seed (70 % train / 30 % test for the secondary classifier), probe images of the
#: untrained network, secondary classifier width / epochs
_CLAIM_SIZES = {False: dict(n_images=48, n_probe=12, width=16, epochs=40),
                True: dict(n_images=10, n_probe=4, width=16, epochs=20)}
#: the masked-image variant and the full-image reference are average-pooled by this factor (64 → 16 px: the
#: class evidence, a colour, survives, and training is 16× cheaper); cropped patches are resized to 16 px
_SEC_POOL = 4
_PATCH_SIZE = 16
_N, _SIGMA, _LAMBDA = 50, 0.1, 0.1
#: the same selection with the authors' absolute λ (for the notes: what it does to each layer)
_ABS = "precision (λ absolute)"
#: secondary-classifier protocols: the paper's cropped patches (default) or whole images masked outside them
_SECONDARY = ("crop", "mask")

_VARIES_EVAL = ("the flower sample (flowers(n, seed=1000 + seed), standard difficulty), the noise of the "
                "perturbed copies and the random units' draw")
_VARIES_SEC = _VARIES_EVAL + ", the secondary classifier's initialisation and batch order"
_VARIES_J = _VARIES_EVAL + ", the untrained network's initialisation"
_P_COMMON = (f"shipped {_CLAIM_MODEL}; layers {', '.join(_CLAIM_LAYERS)}; n = {_N} copies, σ = {_SIGMA} "
             f"(constant, §4.1); ReLU'd activations; patch = box of the non-zero deconvnet map; like for like: "
             f"every metric keeps its top k units in every layer (k = 5 or 20 per layer, as the paper: 'the "
             f"number of images selected in each layer is kept constant across all metrics'); precision's "
             f"threshold is relative, λ = {_LAMBDA} × the layer's largest mean activation (threshold_scale="
             f"'layer_max'; the authors' absolute λ = {_LAMBDA} on our [0, 1] inputs discards every conv2 unit); "
             f"a slot whose unit is silent on the image (empty patch) or that the threshold left without a unit "
             f"counts as a miss (empty='miss'), so every metric is scored on images × 3 layers × k patches "
             f"(the counts are in the note); APPLE weight metrics read each unit's outgoing weights w^(l+1) "
             f"(the paper's formula)")
_P_LOC = (_P_COMMON + "; a patch hits when its box contains a visible flower pixel (flower_masks minus "
          "occluder_masks); fraction over all slots of all images; baseline: the best of the four APPLE "
          "metrics on that seed, each with its own top k per layer")
_P_RAND = (_P_COMMON + "; hit as above; baseline: k units drawn uniformly in each layer (same count, same "
           "layers, same images)")
_P_SEC = {
    "crop": (_P_COMMON + f"; secondary classifier (§5.1, Table 1, the paper's protocol): each of the metric's "
             f"top-5 patches per layer cropped from its image and resized to {_PATCH_SIZE}×{_PATCH_SIZE} "
             "(patch_images), one example per patch labelled with its image's class; the §5.1 CNN "
             "(secondary_classifier, Adam one-cycle lr 1e-2, batch 16) trained on the non-empty patches of 70 % "
             "of the images, accuracy over every patch slot of the other 30 % (an empty slot counts as an "
             "error, so every metric is scored on the same number of test rows); baseline 'best other metric': "
             "the best of correlation and the four APPLE metrics on that seed"),
    "mask": (_P_COMMON + "; secondary classifier, masked-image variant (not the paper's protocol): each image "
             f"masked outside the union of the metric's top-5 patches (masked_images), average-pooled {_SEC_POOL}× "
             "(16 px); the §5.1 CNN (Adam one-cycle lr 1e-2, batch 16) trained on 70 % of the images, accuracy "
             "on the other 30 %; baseline 'best other metric': the best of correlation and the four APPLE metrics"),
}
_M_SEC = {"crop": "test accuracy of the secondary classifier on the top-5 patches per layer (cropped, resized)",
          "mask": "test accuracy of the secondary classifier on images masked outside the top-5 patches"}
_P_J = (_P_COMMON + "; top 5 per layer; Jaccard |A∩B|/|A∪B| (the paper's), mean over layers and images; the note "
        "adds Spearman's rank correlation of the two metrics' unit scores per layer (rank_correlation; units "
        "precision discards tie at the bottom)")

CLAIMS = [
    ClaimSpec("resample", "Table 1: precision patches localize better than the APPLE baselines (top 5)",
              "patch localization 0.96 vs APPLE 0.91–0.94 (VGG16, 5 images, by hand)",
              "fraction of the top-5 patch slots per layer whose box holds a visible flower pixel (empty = miss)",
              Better(higher=True), baseline_name="best APPLE (top 5 each)", protocol=_P_LOC, varies=_VARIES_EVAL),
    ClaimSpec("resample", "Table 1: precision patches localize better than the APPLE baselines (top 20)",
              "patch localization 0.91 vs APPLE 0.79–0.82",
              "fraction of the top-20 patch slots per layer whose box holds a visible flower pixel (empty = miss)",
              Better(higher=True), baseline_name="best APPLE (top 20 each)", protocol=_P_LOC, varies=_VARIES_EVAL),
    ClaimSpec("resample", "§5.3: precision patches localize better than random units (top 5)",
              "0.96 'localized on the object' (no chance level given)",
              "fraction of the top-5 patch slots per layer whose box holds a visible flower pixel (empty = miss)",
              Better(higher=True), baseline_name="random units (5 per layer)", protocol=_P_RAND,
              varies=_VARIES_EVAL),
    ClaimSpec("resample", "Table 1: the secondary classifier is most accurate on precision patches",
              "accuracy 0.94 vs correlation 0.705, APPLE 0.607–0.787", _M_SEC["crop"],
              Better(higher=True), baseline_name="best other metric", protocol=_P_SEC["crop"], varies=_VARIES_SEC),
    ClaimSpec("resample", "Fig. 2: precision patches beat correlation patches for the secondary classifier",
              "precision above correlation at every epoch (Fig. 2); 0.94 vs 0.705 (Table 1)", _M_SEC["crop"],
              Better(higher=True), baseline_name="correlation", protocol=_P_SEC["crop"], varies=_VARIES_SEC),
    ClaimSpec("resample", "Fig. 3: correlation and precision agree more once the network is trained",
              "Jaccard rises with accuracy during training (Fig. 3)",
              "Jaccard(top-5 correlation, top-5 precision) of the trained network",
              Better(higher=True), baseline_name="untrained net",
              protocol=_P_J + "; baseline: the same architecture with fresh random weights (chance accuracy), "
                              "same images", varies=_VARIES_J),
    ClaimSpec("resample", "§5.2: for an accurate network the two metrics select similar units",
              "'rankings … are similar for accurate networks' (Fig. 3, end of training)",
              "Jaccard(top-5 correlation, top-5 precision) of the trained network",
              Better(higher=True), baseline_name="random sets",
              protocol=_P_J + "; baseline: the expected Jaccard of two random unit sets of the same sizes in "
                              "the same layer (exact, hypergeometric overlap)", varies=_VARIES_EVAL),
]


def _untrained_copy(model: nn.Module, seed: int) -> nn.Module:
    """The same architecture with fresh default initialisation (seeded)."""
    import copy

    net = copy.deepcopy(model)
    with torch.random.fork_rng(devices=[]):  # the caller's global RNG state is left as it was
        torch.manual_seed(seed)
        for m in net.modules():
            if m is not net and hasattr(m, "reset_parameters"):
                m.reset_parameters()
    return net.eval()


def _selection_jaccard(ev: PatchEvaluation, a: str, b: str, k: int, layer: str) -> list:
    return [jaccard(s[a][layer][:k], s[b][layer][:k]) for s in ev.selections]


def _chance_jaccard(n_units: int, ka: int, kb: int) -> float:
    """Expected Jaccard |A∩B|/|A∪B| of two sets of ka and kb units drawn uniformly and independently among
    n_units (exact: the overlap is hypergeometric). Two empty sets count 1, as :func:`jaccard`."""
    from math import comb

    if ka == 0 and kb == 0:
        return 1.0
    total = comb(n_units, kb)
    return float(sum(comb(ka, x) * comb(n_units - ka, kb - x) / total * x / (ka + kb - x)
                     for x in range(max(0, ka + kb - n_units), min(ka, kb) + 1)))


def _nanmean(v) -> float:
    v = [x for x in v if np.isfinite(x)]
    return float(np.mean(v)) if v else float("nan")


_SEC_METRICS = ["precision", "correlation", *APPLE_METRICS, "random"]


def _secondary(ev: PatchEvaluation, ds, secondary: str, s: dict, seed: int) -> tuple:
    """Accuracy per metric of the §5.1 classifier (and on full images), and the test rows it was scored on."""
    n_tr = int(round(0.7 * len(ds)))
    y = ds.labels
    kw = dict(n_classes=6, width=s["width"], epochs=s["epochs"], batch_size=16, lr=1e-2, seed=seed)
    xf = nn.functional.avg_pool2d(ds.images, _SEC_POOL)
    acc = {"full image": secondary_accuracy(xf[:n_tr], y[:n_tr], xf[n_tr:], y[n_tr:], **kw)}
    rows = {}
    for name in _SEC_METRICS:
        if secondary == "crop":
            crops, idx, empty = patch_images(ev, ds.images, name, 5, _PATCH_SIZE)
            test = idx >= n_tr
            train = ~test & ~empty
            acc[name] = secondary_accuracy(crops[train], y[idx[train]], crops[test], y[idx[test]],
                                           test_empty=empty[test], **kw)
            rows[name] = (int(train.sum()), int(test.sum()), int(empty[test].sum()))
        else:
            xm = nn.functional.avg_pool2d(masked_images(ev, ds.images, name, 5), _SEC_POOL)
            acc[name] = secondary_accuracy(xm[:n_tr], y[:n_tr], xm[n_tr:], y[n_tr:], **kw)
            rows[name] = (n_tr, len(ds) - n_tr, 0)
    return acc, rows


def _measure_seed(model, seed: int, quick: bool, secondary: str = "crop") -> dict:
    """Every claim's value (and the numbers of its note) for one seed: one resample + patches pass per
    image serves all the localization, secondary-classifier and Jaccard claims."""
    from . import data

    s = _CLAIM_SIZES[quick]
    layers = list(_CLAIM_LAYERS)
    ds = data.flowers(s["n_images"], seed=_CLAIM_DATA_SEED + seed)
    noise_seed = 10_000 * (seed + 1)  # per image: noise_seed + i, never shared between seeds
    ev = evaluate_patches(model, ds.images, layers, k_max=20, n=_N, sigma=_SIGMA, threshold=_LAMBDA,
                          threshold_scale="layer_max", seed=noise_seed, progress=False,
                          variants={_ABS: dict(metric="precision", threshold=_LAMBDA, threshold_scale="absolute")})
    visible = ds.flower_masks & ~ds.occluder_masks
    centre = ds.part_masks[:, ds.part_names.index("center")] & ~ds.occluder_masks  # the class evidence
    m: dict = {"seed": seed}
    for k in (5, 20):
        loc = ev.localization(visible, k)  # empty="miss": the like-for-like protocol of _P_COMMON
        m[f"loc{k}"] = {name: v[0] for name, v in loc.items()}
        m[f"n{k}"] = {name: v[1] for name, v in loc.items()}
        m[f"layer{k}"] = {l: {name: v[0] for name, v in ev.localization(visible, k, layers=[l]).items()}
                          for l in layers}
        m[f"counts{k}"] = ev.counts(k)
        m[f"kept_abs{k}"] = {l: float(np.mean([len(sel[_ABS][l][:k]) for sel in ev.selections])) for l in layers}
    n_tr = int(round(0.7 * len(ds)))
    m["evidence"] = {name: v[0] for name, v in ev.localization(centre, 5).items()}
    m["evidence_test"] = {name: float(np.mean([any(centre[i, r0:r1, c0:c1].any() for _, _, (r0, c0, r1, c1)
                                                   in ev.selected_boxes(i, name, 5))
                                               for i in range(n_tr, len(ds))]))
                          for name in _SEC_METRICS}
    m["area"] = ev.area(5)
    m["acc"], m["sec_rows"] = _secondary(ev, ds, secondary, s, seed)

    # Jaccard(correlation, precision) and Spearman ρ of their scores: trained vs untrained vs random sets
    jt = {l: float(np.mean(_selection_jaccard(ev, "correlation", "precision", 5, l))) for l in layers}
    rho = {l: _nanmean([rank_correlation(sc["correlation"][l], sc["precision"][l]) for sc in ev.scores])
           for l in layers}
    chance = {}
    for l in layers:
        c = _layer_units(model, l)
        chance[l] = float(np.mean([_chance_jaccard(c, len(sel["correlation"][l][:5]), len(sel["precision"][l][:5]))
                                   for sel in ev.selections]))
    untrained = _untrained_copy(model, 5000 + seed)
    ju = {l: [] for l in layers}
    rho_u = {l: [] for l in layers}
    for i in range(s["n_probe"]):
        res = resample(untrained, ds.images[i:i + 1], layers, n=_N, sigma=_SIGMA, seed=noise_seed + i)
        for l in layers:
            a, b = res.importance(l, "correlation"), res.importance(l, "precision", _LAMBDA, "layer_max")
            ju[l].append(jaccard(top_neurons(a, 5), top_neurons(b, 5)))
            rho_u[l].append(rank_correlation(a, b))
    # the trained network on the same probe images as the untrained one (paired)
    jt_probe = {l: float(np.mean(_selection_jaccard(ev, "correlation", "precision", 5, l)[:s["n_probe"]]))
                for l in layers}
    m["jac"] = {"trained": jt, "trained_probe": jt_probe, "chance": chance,
                "untrained": {l: float(np.mean(v)) for l, v in ju.items()},
                "rho": rho, "rho_untrained": {l: _nanmean(v) for l, v in rho_u.items()}}
    return m


def _layer_units(model: nn.Module, layer: str) -> int:
    """Number of output channels of a conv layer (the units a selection is drawn from)."""
    _, mod = get_layer(model, layer)
    return int(mod.out_channels if hasattr(mod, "out_channels") else mod.weight.shape[0])


def _sizes_text(quick: bool) -> str:
    s = _CLAIM_SIZES[quick]
    return (f"; sizes ({'quick' if quick else 'full'}): {s['n_images']} images per seed, secondary classifier "
            f"width {s['width']}, {s['epochs']} epochs, untrained net on {s['n_probe']} of the images")


def claims(seeds=(0, 1, 2), quick: bool = False, progress: bool = True, secondary: str = "crop") -> list:
    """The paper's claims (:data:`CLAIMS`) re-measured over ``seeds`` (see :mod:`xnb.claims`).

    Per seed: a fresh sample of standard-difficulty flowers (seed 1000 + seed), fresh perturbation
    noise and random-unit draws, a fresh secondary-classifier initialisation and a fresh untrained
    network; the shipped ``flowers-single`` is fixed. ``quick``: fewer images, a shorter secondary
    classifier (the notebook's setting). ``secondary``: the secondary classifier's input — ``"crop"``
    (default, the paper's protocol: the cropped, resized patches, :func:`patch_images`) or ``"mask"``
    (whole images masked outside the patches, :func:`masked_images`).

    Protocol (every claim): like for like — k units per layer for every metric (random units drawn per
    layer, k of them), precision's λ relative to the layer's largest mean activation, silent units'
    empty patches and unfilled slots counted as misses; each note gives the patch counts."""
    from . import models
    from .claims import over_seeds

    seeds = check_seeds(seeds)
    quick = check_quick(quick)
    check_choice(secondary, "secondary", _SECONDARY)
    model = models.load(_CLAIM_MODEL)
    rows = over_seeds(lambda s: _measure_seed(model, s, quick, secondary), seeds, "resample claims", progress)
    sizes = _sizes_text(quick)
    layers = list(_CLAIM_LAYERS)
    n_img = _CLAIM_SIZES[quick]["n_images"]

    def mean(f):
        return float(np.mean([f(r) for r in rows]))

    def best_apple(r, k):
        return max(_nan0(r[f"loc{k}"][a]) for a in APPLE_METRICS)

    def layer_loc(k, l, name):
        return _nanmean([r[f"layer{k}"][l][name] for r in rows])

    def counts_text(k):
        names = ["precision", "correlation", *APPLE_METRICS, "random"]
        slots = sorted({int(mean(lambda r: r[f"counts{k}"][nm]["slots"])) for nm in names})
        same = (f"{slots[0]} patch slots per seed for every metric ({n_img} images × {len(layers)} layers × {k})"
                if len(slots) == 1 else "patch slots per seed " + ", ".join(
                    f"{nm} {mean(lambda r: r[f'counts{k}'][nm]['slots']):.0f}" for nm in names))
        filled = ", ".join(f"{nm} {mean(lambda r: r[f'counts{k}'][nm]['selected'] - r[f'counts{k}'][nm]['silent']):.0f}"
                           for nm in names)
        return f"{same}; slots holding a patch (a unit kept and not silent): {filled}"

    def fmt(v):
        return f"{v:.2f}" if np.isfinite(v) else "–"

    def loc_note(k):
        per_layer = "; ".join(
            f"{l}: precision {fmt(layer_loc(k, l, 'precision'))}, best APPLE "
            f"{fmt(max(layer_loc(k, l, a) for a in APPLE_METRICS))}, random {fmt(layer_loc(k, l, 'random'))}"
            for l in layers)
        kept_abs = "/".join(f"{mean(lambda r: r[f'kept_abs{k}'][l]):.2f}" for l in layers)
        return (f"{counts_text(k)}; per layer: {per_layer}; every metric: "
                + ", ".join(f"{nm} {mean(lambda r: _nan0(r[f'loc{k}'][nm])):.2f}"
                            for nm in ["precision", "correlation", *APPLE_METRICS, "random"])
                + f"; with the authors' absolute λ = {_LAMBDA} precision keeps {kept_abs} of the {k} units per image "
                f"in {'/'.join(layers)} (means over seeds)")

    def sec_note():
        others = ["correlation", *APPLE_METRICS]
        full = mean(lambda r: r['acc']['full image'])
        n_tr = int(round(0.7 * n_img))
        warn = (f"with {n_tr} training images the classifier on full images is at chance ({full:.2f}); "
                if full <= 1 / 6 + 0.05 else "")
        tr, te = mean(lambda r: r["sec_rows"]["precision"][0]), mean(lambda r: r["sec_rows"]["precision"][1])
        rows_txt = (f"{te:.0f} test patch slots per seed for every metric ({n_img - n_tr} test images × "
                    f"{len(layers)} layers × 5), empty test slots (errors): "
                    + ", ".join(f"{nm} {mean(lambda r: r['sec_rows'][nm][2]):.1f}" for nm in _SEC_METRICS)
                    + f"; training patches: precision {tr:.0f}, "
                    + ", ".join(f"{nm} {mean(lambda r: r['sec_rows'][nm][0]):.0f}" for nm in _SEC_METRICS[1:])
                    if secondary == "crop" else f"{n_img - n_tr} test images per seed")
        return (warn + f"accuracy (chance 1/6 = 0.17): full image {full:.2f}, "
                + ", ".join(f"{nm} {mean(lambda r: r['acc'][nm]):.2f}" for nm in _SEC_METRICS)
                + f"; {rows_txt}; the class evidence (a visible centre-disc pixel) lies in this share of the "
                "top-5 patch slots: " + ", ".join(f"{nm} {mean(lambda r: r['evidence'][nm]):.2f}" for nm in _SEC_METRICS)
                + " — and in at least one patch of this share of the test images: "
                + ", ".join(f"{nm} {mean(lambda r: r['evidence_test'][nm]):.2f}" for nm in _SEC_METRICS)
                + f"; image area inside the patches: precision {mean(lambda r: r['area']['precision']):.0%}, others "
                f"{min(mean(lambda r: r['area'][a]) for a in others):.0%}–"
                f"{max(mean(lambda r: r['area'][a]) for a in others):.0%}, random "
                f"{mean(lambda r: r['area']['random']):.0%} (means over seeds)")

    def jac_note():
        per = lambda key: "/".join(fmt(_nanmean([r["jac"][key][l] for r in rows])) for l in layers)
        return ("per layer (" + "/".join(layers) + "): Jaccard trained " + per("trained") + ", untrained "
                + per("untrained") + ", random sets " + per("chance")
                + "; Spearman ρ(correlation scores, precision scores) trained " + per("rho")
                + ", untrained " + per("rho_untrained") + " (means over images and seeds)")

    sec_others = ["correlation", *APPLE_METRICS]
    measured = [
        ([_nan0(r["loc5"]["precision"]) for r in rows], [best_apple(r, 5) for r in rows], lambda: loc_note(5)),
        ([_nan0(r["loc20"]["precision"]) for r in rows], [best_apple(r, 20) for r in rows], lambda: loc_note(20)),
        ([_nan0(r["loc5"]["precision"]) for r in rows], [_nan0(r["loc5"]["random"]) for r in rows],
         lambda: loc_note(5)),
        ([r["acc"]["precision"] for r in rows], [max(r["acc"][o] for o in sec_others) for r in rows], sec_note),
        ([r["acc"]["precision"] for r in rows], [r["acc"]["correlation"] for r in rows], sec_note),
        ([float(np.mean(list(r["jac"]["trained_probe"].values()))) for r in rows],
         [float(np.mean(list(r["jac"]["untrained"].values()))) for r in rows], jac_note),
        ([float(np.mean(list(r["jac"]["trained"].values()))) for r in rows],
         [float(np.mean(list(r["jac"]["chance"].values()))) for r in rows], jac_note),
    ]
    out = []
    for i, (spec, (values, baseline, note)) in enumerate(zip(CLAIMS, measured)):
        protocol = _P_SEC[secondary] if i in (3, 4) else spec.protocol
        c = spec.judge(values, baseline=baseline, seeds=seeds, note=note(), protocol=protocol + sizes)
        if i in (3, 4):
            c.metric = _M_SEC[secondary]
        out.append(c)
    return out


def _nan0(v: float) -> float:
    """A localization fraction with no patch to count (NaN) counts as 0 (no patch hit the object)."""
    return 0.0 if not np.isfinite(v) else float(v)
