"""Sanity checks for explanations: do they depend on the model, and do they reveal a shortcut?

Model-parameter randomisation (Adebayo et al., "Sanity checks for saliency maps", NeurIPS 2018, §3)
    Re-initialise the network's layers one after the other, from the logits down (*cascading*), or one
    at a time (*independent*), and compare each method's heatmaps with the trained model's by rank
    correlation (:func:`xnb.metrics.rank_correlation`). A method whose maps barely change when the
    weights they are meant to explain are destroyed explains the image, not the model.
    :func:`randomized`, :func:`parameter_layers`, :func:`model_randomization` →
    :class:`RandomizationResult`; :func:`class_sensitivity` measures the usual mechanism of a failure
    (maps that barely change with the class explained).

    Verdict rule (:meth:`RandomizationResult.verdicts`), on the paired difference ``gap`` over images
    between ρ(trained map, randomised map) and ρ(trained map, trained map of another image) — the
    "unrelated maps" level, measured on the same images with one fixed pairing — and its standard error
    ``se``: a method *fails* when ``gap - 2·se > 0`` (its randomised maps are more like the trained ones
    than an unrelated image's map is); it *passes* when ``gap + 2·se`` is below half the distance from the
    unrelated level to 1 (its randomised maps are clearly nearer an unrelated map than the trained map
    itself); otherwise, the spread being larger than the gap, it is *inconclusive* (also with fewer than
    2 usable images). The cross-image level is the
    baseline because maps of centred objects share a layout whatever the model: a correlation above zero
    alone proves nothing. Which step to judge is the caller's choice, stated with the verdict: once every
    layer is re-initialised nothing of the model is left and every method should pass; after the
    classifier head (the linear layers) is re-initialised, the class decision is gone, so a class
    explanation that still looks like the trained one does not explain the class.

Shortcuts
    :func:`shortcut_report`: how much of each method's heatmap mass lies on a spurious cue (e.g. the
    corner mark of :func:`xnb.data.shortcut_flowers`) and how much on the true discriminative part,
    with the chance levels (each mask's area share) beside them.
"""
from __future__ import annotations

import copy
from dataclasses import dataclass, field

import numpy as np
import torch
from torch import nn

from ._check import check_choice, check_images, check_int, model_device
from .attribution import METHODS, attribute
from .layers import get_layer
from .metrics import mask_area, mass_in_mask, rank_correlation

__all__ = ["SANITY_METHODS", "parameter_layers", "randomized", "model_randomization", "RandomizationResult",
           "class_sensitivity", "shortcut_report", "ShortcutReport"]

#: The methods of :func:`xnb.attribute` that need nothing but the model (the semantic ones need fitted
#: SeVecs: pass them with ``method_options``).
SANITY_METHODS: tuple[str, ...] = tuple(m for m in METHODS if not m.startswith("semantic_"))

_MODES = ("cascading", "independent")


def _check_model(model) -> None:
    if not isinstance(model, nn.Module):
        raise TypeError(f"model: expected a torch.nn.Module, got {type(model).__name__}")


def parameter_layers(model: nn.Module) -> list[str]:
    """Names of the layers that hold parameters of their own (conv, linear, norm ...), in the model's
    definition order (the input side first)."""
    _check_model(model)
    return [name for name, m in model.named_modules()
            if name and any(True for _ in m.parameters(recurse=False))]


def _reinit(module: nn.Module, gen_seed: int) -> None:
    with torch.random.fork_rng(devices=[]), torch.no_grad():
        torch.manual_seed(gen_seed)
        if hasattr(module, "reset_parameters"):
            module.reset_parameters()     # PyTorch's default initialisation of that layer type
        else:                             # a custom layer: Gaussian with each tensor's own scale
            for p in module.parameters(recurse=False):
                p.copy_(torch.randn_like(p) * p.detach().float().std().clamp(min=1e-3).to(p.dtype))


def randomized(model: nn.Module, layers, seed: int = 0) -> nn.Module:
    """A copy of ``model`` whose ``layers`` (names, see :func:`parameter_layers`) are re-initialised.

    Each layer gets PyTorch's default initialisation of its type (``reset_parameters``; Adebayo et al.
    drew truncated normals) from a seed made of ``seed`` and the layer's position, so a layer gets the
    same random weights in every step of a cascade. ``model`` itself is left unchanged; the copy is in
    eval mode, on the model's device. The global random state is left alone.
    """
    _check_model(model)
    seed = check_int(seed, "seed", minimum=0)
    names = [layers] if isinstance(layers, str) else list(layers)
    valid = parameter_layers(model)
    bad = [n for n in names if n not in valid]
    if bad:
        raise ValueError(f"layers: {bad} hold no parameters or do not exist; valid layers: {', '.join(valid)}")
    out = copy.deepcopy(model).eval()
    for name in names:
        _reinit(get_layer(out, name)[1], seed * 10_007 + valid.index(name))
    return out


@dataclass
class RandomizationResult:
    """What :func:`model_randomization` measured.

    ``steps[j]`` names the layers randomised at step j (cascading: every layer from the top down to
    ``layers[j]``); ``rho[m]`` is [steps, N], the rank correlation of method m's maps at each step with
    its trained maps; ``rho_other[m]`` [N] is the same measure between the trained maps of image i and
    of image ``pairs[i]`` (the unrelated-maps level); ``trained_maps[m]`` [N,H,W] and ``maps[m]``
    [steps, N, H, W] (``keep_maps=True``) the heatmaps themselves.
    """

    methods: list
    layers: list
    mode: str
    steps: list
    rho: dict
    rho_other: dict
    pairs: np.ndarray
    targets: torch.Tensor
    absolute: bool
    seed: int
    trained_maps: dict = field(repr=False, default_factory=dict)
    maps: dict | None = field(repr=False, default=None)

    def mean(self) -> np.ndarray:
        """Mean rank correlation per method and step, [M, steps] (NaNs of constant maps ignored)."""
        return np.stack([np.nanmean(self.rho[m], axis=1) for m in self.methods])

    def step_of(self, layer: str | None) -> int:
        """Index of the step at which ``layer`` was randomised (``None``: the last step)."""
        if layer is None:
            return len(self.steps) - 1
        if layer not in self.layers:
            raise ValueError(f"layer: {layer!r} was not randomised; randomised: {', '.join(self.layers)}")
        return self.layers.index(layer)

    def verdicts(self, after: str | None = None) -> list[dict]:
        """Per method, after the step that randomised layer ``after`` (default: the last step): ρ (mean,
        sd), the unrelated-maps level, the paired difference, the images where the randomised map is the
        closer one (wins), and the verdict (module docstring)."""
        j = self.step_of(after)
        rows = []
        for m in self.methods:
            r, o = self.rho[m][j], self.rho_other[m]
            ok = np.isfinite(r) & np.isfinite(o)
            d = r[ok] - o[ok]
            n = int(ok.sum())
            se = float(d.std(ddof=1) / np.sqrt(n)) if n > 1 else float("nan")
            gap = float(d.mean()) if n else float("nan")
            level = float(np.nanmean(o))
            if n < 2:
                verdict = "inconclusive"
            elif gap - 2 * se > 0:
                verdict = "fails"
            elif gap + 2 * se < (1.0 - level) / 2:
                verdict = "passes"
            else:
                verdict = "inconclusive"
            rows.append(dict(method=m, rho=float(np.nanmean(r)), rho_sd=float(np.nanstd(r, ddof=1)) if n > 1 else
                             float("nan"), rho_other=float(np.nanmean(o)), gap=gap, gap_se=se,
                             wins=int((d > 0).sum()), n=n, verdict=verdict))
        return rows

    def table(self, after: str | None = None) -> str:
        """The verdicts after the step that randomised ``after`` (default: the last) as a printable table."""
        what = "|heatmap|" if self.absolute else "heatmap"
        names = self.steps[self.step_of(after)]
        done = names[0] if len(names) == 1 else f"{names[0]} … {names[-1]}"
        lines = [f"model randomisation ({self.mode}; {done} re-initialised; seed {self.seed}; Spearman ρ of "
                 f"{what}s, N={len(self.targets)} images)",
                 f"{'method':34s} {'ρ randomised':>14s} {'ρ other image':>14s} {'gap ± 2se':>14s} "
                 f"{'wins':>7s}  verdict"]
        for v in self.verdicts(after):
            lines.append(f"{v['method']:34s} {v['rho']:8.2f} ± {v['rho_sd']:.2f} {v['rho_other']:14.2f} "
                         f"{v['gap']:+7.2f} ± {2 * v['gap_se']:.2f} {v['wins']:>3d}/{v['n']:<3d}  {v['verdict']}")
        return "\n".join(lines)

    def plot(self, ax=None, methods=None):
        """Adebayo et al.'s Fig. 2 as curves: mean ρ per method (y) after each cascade step (x)."""
        import matplotlib.pyplot as plt

        methods = list(self.methods if methods is None else methods)
        bad = [m for m in methods if m not in self.methods]
        if bad:
            raise ValueError(f"methods: {bad} were not measured; measured: {', '.join(self.methods)}")
        if ax is None:
            _, ax = plt.subplots(figsize=(7, 3.6))
        mean = self.mean()
        x = np.arange(len(self.steps) + 1)
        for m in methods:
            ax.plot(x, np.r_[1.0, mean[self.methods.index(m)]], marker="o", ms=3, label=m)
        ax.set_xticks(x)
        ax.set_xticklabels(["trained"] + [s[-1] for s in self.steps], rotation=45, ha="right", fontsize=8)
        ax.axhline(0, color="grey", lw=0.5)
        ax.set_ylim(-0.2, 1.05)
        ax.set_xlabel(f"{self.mode} randomisation: layer re-initialised" + (" (and every layer above)"
                                                                            if self.mode == "cascading" else ""))
        ax.set_ylabel("rank correlation with the trained map")
        ax.legend(fontsize=7, ncol=2, loc="lower left")
        return ax


def _method_list(methods) -> list[str]:
    """``methods`` as a list of :data:`xnb.METHODS` names (default :data:`SANITY_METHODS`)."""
    methods = list(SANITY_METHODS if methods is None else ([methods] if isinstance(methods, str) else methods))
    bad = [m for m in methods if m not in METHODS]
    if bad or not methods:
        raise ValueError(f"methods: unknown {bad or 'empty list'}; valid methods: {', '.join(METHODS)}")
    return methods


def _method_opts(methods: list, method_options, batch_size) -> dict:
    """{method: options for xnb.attribute}: ``method_options`` (only for listed methods) and ``batch_size``."""
    method_options = dict(method_options or {})
    bad = [m for m in method_options if m not in methods]
    if bad:
        raise ValueError(f"method_options: {bad} are not among methods {methods}")
    extra = {"batch_size": batch_size} if batch_size else {}
    return {m: dict(method_options.get(m, {}), **extra) for m in methods}


def _classes(model, x, target, name: str = "target") -> torch.Tensor:
    """One class per image [N] (default: the model's prediction); a single class is repeated."""
    if target is None:
        with torch.no_grad():
            return model(x).argmax(1)
    target = torch.as_tensor(target, device=x.device).long().reshape(-1)
    if target.numel() == 1:
        target = target.expand(len(x)).clone()
    if target.numel() != len(x):
        raise ValueError(f"{name}: expected one class or {len(x)}, got {target.numel()}")
    return target


def _derangement(n: int, seed: int) -> np.ndarray:
    """A permutation without fixed points (image i is paired with another image)."""
    if n < 2:
        return np.zeros(n, dtype=np.int64)
    rng = np.random.default_rng([seed, 7])
    perm = rng.permutation(n)
    return np.roll(perm, 1)[np.argsort(perm)]     # i -> the next image in a random cycle


def model_randomization(model: nn.Module, x, target=None, methods=None, mode: str = "cascading", layers=None,
                        seed: int = 0, absolute: bool = True, batch_size: int | None = None,
                        method_options: dict | None = None, keep_maps: bool = True,
                        progress: bool = True) -> RandomizationResult:
    """The model-parameter randomisation test (Adebayo et al. 2018, §3) for several methods at once.

    Parameters
    ----------
    model : the trained network (left unchanged; the randomised ones are copies, see :func:`randomized`).
    x : images [N,C,H,W] (N ≥ 2: the unrelated-maps level pairs images).
    target : the class explained in every model, trained or not (default: the trained model's
        prediction, held fixed as Adebayo et al. do).
    methods : names of :data:`xnb.METHODS` (default :data:`SANITY_METHODS`).
    mode : ``"cascading"`` (every layer from the top down to the current one) or ``"independent"`` (only
        the current one).
    layers : the layers in the order they are randomised (default: :func:`parameter_layers`, top first).
    seed : the random weights (and the image pairing of the unrelated-maps level).
    absolute : compare |maps| (Adebayo et al.'s "absolute value" variant; the sign of gradient-like maps
        flips freely between models).
    batch_size : images per backward pass, passed to :func:`xnb.attribute`.
    method_options : ``{method: {option: value}}`` passed to :func:`xnb.attribute` (e.g. a SeVec).
    keep_maps : keep every heatmap in the result (for the explorer; ``[steps, N, H, W]`` per method).
    progress : a tqdm.auto bar over the steps.

    Cost: (steps + 1) × methods attributions of N images.
    """
    _check_model(model)
    x = check_images(x).to(model_device(model))
    if len(x) < 2:
        raise ValueError(f"x: need at least 2 images (the unrelated-maps level pairs them), got {len(x)}")
    methods = _method_list(methods)
    mode = check_choice(mode, "mode", _MODES)
    valid = parameter_layers(model)
    layers = list(reversed(valid)) if layers is None else ([layers] if isinstance(layers, str) else list(layers))
    bad = [n for n in layers if n not in valid]
    if bad or not layers:
        raise ValueError(f"layers: {bad or 'empty list'} hold no parameters or do not exist; valid layers: "
                         f"{', '.join(valid)}")
    seed = check_int(seed, "seed", minimum=0)
    if not isinstance(absolute, bool):
        raise TypeError(f"absolute: expected True or False, got {absolute!r}")
    opts = _method_opts(methods, method_options, batch_size)
    target = _classes(model, x, target)

    trained = {m: attribute(model, x, m, target=target, **opts[m]).detach().cpu() for m in methods}
    pairs = _derangement(len(x), seed)
    rho_other = {m: rank_correlation(trained[m], trained[m][pairs], absolute=absolute).numpy() for m in methods}
    steps = [layers[:j + 1] if mode == "cascading" else [layers[j]] for j in range(len(layers))]
    rho = {m: np.empty((len(steps), len(x)), np.float32) for m in methods}
    maps = {m: torch.empty((len(steps),) + tuple(trained[m].shape)) for m in methods} if keep_maps else None

    from tqdm.auto import tqdm

    for j, names in enumerate(tqdm(steps, desc="randomising layers", disable=not progress)):
        rnd = randomized(model, names, seed=seed)
        for m in methods:
            h = attribute(rnd, x, m, target=target, **opts[m]).detach().cpu()
            rho[m][j] = rank_correlation(trained[m], h, absolute=absolute).numpy()
            if keep_maps:
                maps[m][j] = h
        del rnd
    return RandomizationResult(methods=methods, layers=layers, mode=mode, steps=steps, rho=rho, rho_other=rho_other,
                               pairs=pairs, targets=target.cpu(), absolute=absolute, seed=seed,
                               trained_maps=trained, maps=maps)


def class_sensitivity(model: nn.Module, x, methods=None, target=None, other=None, absolute: bool = True,
                      method_options: dict | None = None) -> dict:
    """Rank correlation per image between each method's map for ``target`` and for ``other`` class, on the
    trained model: {method: [N]}.

    The mechanism behind a failed randomisation check of the classifier head: a method whose maps for two
    different classes rank the pixels alike (ρ near 1) cannot depend much on the layers that tell classes
    apart. ``target``: default the prediction; ``other``: default the runner-up class.
    """
    _check_model(model)
    x = check_images(x).to(model_device(model))
    methods = _method_list(methods)
    opts = _method_opts(methods, method_options, None)
    with torch.no_grad():
        top2 = model(x).topk(2, dim=1).indices
    target = top2[:, 0] if target is None else _classes(model, x, target)
    other = top2[:, 1] if other is None else _classes(model, x, other, "other")
    if (target == other).any():
        raise ValueError("other: must differ from target on every image")
    out = {}
    for m in methods:
        a = attribute(model, x, m, target=target, **opts[m]).detach().cpu()
        b = attribute(model, x, m, target=other, **opts[m]).detach().cpu()
        out[m] = rank_correlation(a, b, absolute=absolute).numpy()
    return out


@dataclass
class ShortcutReport:
    """What :func:`shortcut_report` measured: per method, [N] arrays of the heatmap mass on the shortcut
    (``on_shortcut``) and on the true part (``on_part``), and whether the map's maximum lies on each
    (``points_shortcut``, ``points_part``: a pixel tied at the maximum lies in the mask; a map with no mass
    points nowhere); ``chance_shortcut`` / ``chance_part`` [N] are the masks' area
    shares (what a uniform map scores)."""

    methods: list
    on_shortcut: dict
    on_part: dict
    points_shortcut: dict
    points_part: dict
    chance_shortcut: np.ndarray
    chance_part: np.ndarray
    targets: torch.Tensor
    kind: str
    maps: dict = field(repr=False, default_factory=dict)

    def table(self) -> str:
        """Mean shares and pointing rates per method, with the chance levels, as a printable table."""
        n = len(self.targets)
        lines = [f"heatmap mass ({self.kind}) on the shortcut mark and on the true part, N={n} images; chance "
                 f"(area share): mark {self.chance_shortcut.mean():.3f}, part {self.chance_part.mean():.3f}",
                 f"{'method':34s} {'on mark':>12s} {'on part':>12s} {'max on mark':>12s} {'max on part':>12s}"]
        for m in self.methods:
            s, p = self.on_shortcut[m], self.on_part[m]
            lines.append(f"{m:34s} {s.mean():6.3f}±{s.std(ddof=1):.2f} {p.mean():6.3f}±{p.std(ddof=1):.2f} "
                         f"{self.points_shortcut[m].mean():12.0%} {self.points_part[m].mean():12.0%}")
        return "\n".join(lines)


def shortcut_report(model: nn.Module, data, methods=None, target=None, kind: str = "positive",
                    batch_size: int | None = None, method_options: dict | None = None,
                    progress: bool = True) -> ShortcutReport:
    """Score each method's heatmaps against a shortcut's mask and the true part's mask.

    ``data`` is an :class:`xnb.data.ImageSet` with ``shortcut_masks`` (e.g.
    :func:`xnb.data.shortcut_flowers`) and ``masks`` (the true discriminative part). ``target``: default
    the model's prediction (what the model actually did). ``kind``: ``"positive"`` or ``"absolute"``
    mass (:func:`xnb.metrics.mass_in_mask`; ``"absolute"`` compares gradient-like maps, whose sign is
    arbitrary, on |h|).
    """
    _check_model(model)
    if getattr(data, "shortcut_masks", None) is None or getattr(data, "masks", None) is None:
        raise TypeError("data: expected an ImageSet with shortcut_masks and masks (xnb.data.shortcut_flowers)")
    methods = _method_list(methods)
    kind = check_choice(kind, "kind", ("positive", "absolute"))
    opts = _method_opts(methods, method_options, batch_size)
    x = data.images.to(model_device(model))
    target = _classes(model, x, target)
    sc, part = data.shortcut_masks, data.masks
    out = dict(on_shortcut={}, on_part={}, points_shortcut={}, points_part={}, maps={})

    from tqdm.auto import tqdm

    for m in tqdm(methods, desc="explaining", disable=not progress):
        h = attribute(model, x, m, target=target, **opts[m]).detach().cpu()
        out["maps"][m] = h
        out["on_shortcut"][m] = mass_in_mask(h, sc, kind).numpy()
        out["on_part"][m] = mass_in_mask(h, part, kind).numpy()
        w = (h.clamp(min=0) if kind == "positive" else h.abs()).flatten(1).double()
        peak = w.max(1, keepdim=True).values
        # every pixel tied at the maximum: occlusion's maps are flat over a window, and argmax would
        # pick the window's first pixel, which may lie just outside a mask the window covers
        tops = (w >= peak * (1 - 1e-6)) & (peak > 0)
        out["points_shortcut"][m] = (tops & sc.flatten(1)).any(1).numpy()
        out["points_part"][m] = (tops & part.flatten(1)).any(1).numpy()
    return ShortcutReport(methods=methods, chance_shortcut=mask_area(sc).numpy(), chance_part=mask_area(part).numpy(),
                          targets=target.cpu(), kind=kind, **out)
