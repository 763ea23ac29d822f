"""Scoring heatmaps against ground-truth masks: pixel IoU, the IoU-vs-threshold curve and its area;
and scoring a classifier's confidence: the reliability diagram and the expected calibration error.

The µ-Lasso paper (Oramas et al. 2019, §4.3, Figs. 8–9) thresholds each heatmap at a range of levels
and measures the pixel intersection-over-union with the discriminative-region mask; it reports the area
under the IoU-vs-threshold curve. Third parties thresholded each map at its own mean instead
(:func:`iou_at_mean`). Heatmaps are min–max normalised per image before thresholding, so a threshold
t ∈ [0, 1] means the same on every map.
"""
from __future__ import annotations

from typing import NamedTuple

import numpy as np
import torch

__all__ = ["iou", "iou_curve", "iou_at_mean", "IoUCurve", "minmax", "reliability", "Reliability",
           "expected_calibration_error"]


def _as_tensor(a, name: str, dtype=None) -> torch.Tensor:
    if isinstance(a, np.ndarray):
        a = torch.from_numpy(a)
    if not isinstance(a, torch.Tensor):
        raise TypeError(f"{name}: expected a torch.Tensor or numpy array, got {type(a).__name__}")
    a = a.detach().cpu()
    if dtype is not None:
        a = a.to(dtype)
    return a


def _pair(pred, gt, pred_name: str):
    """(maps/masks [N,H,W], gt masks bool [N,H,W]); single [H,W] pairs are promoted."""
    p = _as_tensor(pred, pred_name)
    g = _as_tensor(gt, "masks")
    if p.ndim == 2:
        p = p.unsqueeze(0)
    if g.ndim == 2:
        g = g.unsqueeze(0)
    if p.ndim != 3 or g.ndim != 3:
        raise ValueError(f"{pred_name}, masks: expected [N,H,W] (or one [H,W]), got shapes {tuple(p.shape)} "
                         f"and {tuple(g.shape)}")
    if p.shape != g.shape:
        raise ValueError(f"{pred_name}, masks: shapes differ: {tuple(p.shape)} vs {tuple(g.shape)}")
    if p.numel() == 0:
        raise ValueError(f"{pred_name}: empty")
    if g.dtype != torch.bool:
        if g.is_floating_point() and not torch.isfinite(g).all():
            raise ValueError("masks: contains NaN or inf values")
        if not ((g == 0) | (g == 1)).all():
            raise ValueError("masks: expected boolean masks (or 0/1 values)")
        g = g.bool()
    return p, g


def iou(pred, masks) -> torch.Tensor:
    """Pixel intersection over union |P ∩ G| / |P ∪ G| per image: ``pred`` and ``masks`` are boolean
    [N,H,W] (or one [H,W]). Returns float [N]; an image where both are empty scores 1."""
    p, g = _pair(pred, masks, "pred")
    if p.dtype != torch.bool:
        if not ((p == 0) | (p == 1)).all():
            raise ValueError("pred: expected boolean masks (threshold a heatmap first, or use iou_curve)")
        p = p.bool()
    inter = (p & g).flatten(1).sum(1).double()
    union = (p | g).flatten(1).sum(1).double()
    return torch.where(union > 0, inter / union.clamp(min=1), torch.ones_like(union)).float()


def minmax(heatmaps) -> torch.Tensor:
    """Per-map min–max normalisation to [0, 1] ([N,H,W] or [H,W]); a constant map becomes 0."""
    h = _as_tensor(heatmaps, "heatmaps", torch.float64)
    one = h.ndim == 2
    if one:
        h = h.unsqueeze(0)
    if not torch.isfinite(h).all():
        raise ValueError("heatmaps: contains NaN or inf values")
    flat = h.flatten(1)
    lo = flat.min(1).values.view(-1, 1, 1)
    span = (flat.max(1).values.view(-1, 1, 1) - lo)
    out = torch.where(span > 0, (h - lo) / span.clamp(min=1e-300), torch.zeros_like(h)).float()
    return out[0] if one else out


class IoUCurve(NamedTuple):
    """``thresholds`` [T]; ``iou`` [T] mean over images; ``per_image`` [N,T]; ``auc`` the area under the
    mean curve (trapezoids over the threshold range)."""

    thresholds: np.ndarray
    iou: np.ndarray
    per_image: np.ndarray
    auc: float


def iou_curve(heatmaps, masks, thresholds=None, normalize: bool = True) -> IoUCurve:
    """IoU of ``heatmap >= t`` with the mask, for each threshold t (µ-Lasso paper, Fig. 8).

    heatmaps : float [N,H,W] (or one [H,W]); min–max normalised per map first unless ``normalize=False``.
    masks : boolean [N,H,W], the ground-truth regions.
    thresholds : increasing values (default 51 levels over [0, 1]).
    """
    h, g = _pair(heatmaps, masks, "heatmaps")
    if not h.is_floating_point():
        h = h.float()
    if not torch.isfinite(h).all():
        raise ValueError("heatmaps: contains NaN or inf values")
    if normalize:
        h = minmax(h)
    if thresholds is None:
        thresholds = np.linspace(0.0, 1.0, 51)
    t = np.asarray(thresholds, dtype=np.float64)
    if t.ndim != 1 or t.size < 2 or not np.isfinite(t).all() or np.any(np.diff(t) <= 0):
        raise ValueError("thresholds: expected at least 2 finite, strictly increasing values")
    per = np.empty((h.shape[0], t.size))
    for j, tj in enumerate(t):
        per[:, j] = iou(h >= float(tj), g).numpy()
    curve = per.mean(0)
    auc = float(np.sum((curve[1:] + curve[:-1]) * np.diff(t)) / 2)
    return IoUCurve(t, curve, per, auc)


def iou_at_mean(heatmaps, masks) -> torch.Tensor:
    """IoU [N] after thresholding each map at its own mean value (the protocol third parties used on
    an8Flower): the mask is ``heatmap > mean(heatmap)``."""
    h, g = _pair(heatmaps, masks, "heatmaps")
    h = h.double()
    if not torch.isfinite(h).all():
        raise ValueError("heatmaps: contains NaN or inf values")
    return iou(h > h.flatten(1).mean(1).view(-1, 1, 1), g)



_MASS = ("positive", "absolute")


def mass_in_mask(heatmaps, masks, kind: str = "positive") -> torch.Tensor:
    """Share of each map's mass that lies inside its mask, [N] in [0, 1].

    ``Σ_{p ∈ mask} h⁺(p) / Σ_p h⁺(p)`` with ``h⁺ = max(h, 0)`` (``kind="positive"``, the "energy-based
    pointing game" of Wang et al. 2020, Score-CAM) or ``|h|`` (``kind="absolute"``, for signed maps such
    as gradients). A map with no mass scores 0. A map spread uniformly scores the mask's area share
    (:func:`mask_area`): that is the chance level to compare with.
    """
    if kind not in _MASS:
        raise ValueError(f"kind: expected one of {list(_MASS)}, got {kind!r}")
    h, g = _pair(heatmaps, masks, "heatmaps")
    h = h.double()
    if not torch.isfinite(h).all():
        raise ValueError("heatmaps: contains NaN or inf values")
    w = h.clamp(min=0) if kind == "positive" else h.abs()
    total = w.flatten(1).sum(1)
    inside = (w * g).flatten(1).sum(1)
    return torch.where(total > 0, inside / total.clamp(min=1e-300), torch.zeros_like(total)).float()


def mask_area(masks) -> torch.Tensor:
    """Area share of each mask, [N]: what :func:`mass_in_mask` gives a uniform map (the chance level)."""
    g = _pair(masks, masks, "masks")[1]   # the checks of a mask, once
    return g.flatten(1).double().mean(1).float()


def rank_correlation(heatmaps_a, heatmaps_b, absolute: bool = False) -> torch.Tensor:
    """Spearman rank correlation between paired maps, [N] (ties get their average rank).

    The similarity measure of the model-randomisation test (Adebayo et al. 2018, §3): 1 when the two
    maps order the pixels the same way, about 0 when unrelated. ``absolute=True`` compares |h|, as
    Adebayo et al. do for methods whose sign is not meaningful. A constant map has no ranking: its
    correlation is NaN.
    """
    from scipy.stats import rankdata

    a = _as_tensor(heatmaps_a, "heatmaps_a").double()
    b = _as_tensor(heatmaps_b, "heatmaps_b").double()
    if a.ndim == 2:
        a, b = a.unsqueeze(0), (b.unsqueeze(0) if b.ndim == 2 else b)
    if a.ndim != 3 or a.shape != b.shape:
        raise ValueError(f"heatmaps_a, heatmaps_b: expected two [N,H,W] tensors of one shape, got "
                         f"{tuple(a.shape)} and {tuple(b.shape)}")
    if a.numel() == 0:
        raise ValueError("heatmaps_a: empty")
    for name, t in (("heatmaps_a", a), ("heatmaps_b", b)):
        if not torch.isfinite(t).all():
            raise ValueError(f"{name}: contains NaN or inf values")
    if not isinstance(absolute, bool):
        raise TypeError(f"absolute: expected True or False, got {absolute!r}")
    if absolute:
        a, b = a.abs(), b.abs()
    ra = rankdata(a.flatten(1).numpy(), axis=1)
    rb = rankdata(b.flatten(1).numpy(), axis=1)
    ra -= ra.mean(1, keepdims=True)
    rb -= rb.mean(1, keepdims=True)
    den = np.sqrt((ra * ra).sum(1) * (rb * rb).sum(1))
    with np.errstate(invalid="ignore", divide="ignore"):
        rho = np.where(den > 0, (ra * rb).sum(1) / np.where(den > 0, den, 1.0), np.nan)
    return torch.from_numpy(rho).float()


__all__ += ["mass_in_mask", "mask_area", "rank_correlation"]

# Pointing games (SeVec paper §5.2; Zhang et al. 2016) live in xnb/_pointing.py.
from ._pointing import generalized_pointing_game, kept_energy_mask, pointing_game  # noqa: E402

__all__ += ["pointing_game", "generalized_pointing_game", "kept_energy_mask"]


# --------------------------------------------------------------------------------------------------
# Calibration


class Reliability(NamedTuple):
    """Per-bin statistics of a reliability diagram (bins of equal width over the confidence)."""

    edges: np.ndarray        # [B+1] bin edges in [0, 1]
    confidence: np.ndarray   # [B] mean top-class probability in the bin (NaN where empty)
    accuracy: np.ndarray     # [B] fraction correct in the bin (NaN where empty)
    count: np.ndarray        # [B] images in the bin
    ece: float               # Σ_b (n_b / N) · |accuracy_b − confidence_b|


def _probs_labels(logits, labels, from_logits: bool):
    z = _as_tensor(logits, "logits", torch.float64)
    y = _as_tensor(labels, "labels")
    if z.ndim != 2 or z.shape[1] < 2:
        raise ValueError(f"logits: expected [N, K] with K >= 2 classes, got shape {tuple(z.shape)}")
    if y.ndim != 1 or len(y) != len(z):
        raise ValueError(f"labels: expected [N] = [{len(z)}] class indices, got shape {tuple(y.shape)}")
    if y.dtype.is_floating_point or y.dtype == torch.bool:
        raise TypeError(f"labels: expected integer class indices, got {y.dtype}")
    if len(y) and (int(y.min()) < 0 or int(y.max()) >= z.shape[1]):
        raise ValueError(f"labels: class indices must lie in [0, {z.shape[1] - 1}]")
    if not torch.isfinite(z).all():
        raise ValueError("logits: contains NaN or inf")
    p = z.softmax(1) if from_logits else z
    if not from_logits and ((p < 0).any() or (p.sum(1) - 1).abs().max() > 1e-4):
        raise ValueError("logits: with from_logits=False, rows must be probabilities summing to 1")
    return p, y.long()


def reliability(logits, labels, n_bins: int = 15, from_logits: bool = True) -> Reliability:
    """Reliability diagram of a single-label classifier (Guo et al., 2017).

    The top-class probability ``max_k softmax(logits)_k`` of each image falls in one of ``n_bins``
    equal-width bins over [0, 1] (right-closed, the first bin also takes 0); each bin reports its mean
    confidence and its accuracy. ``ece`` is the expected calibration error: the count-weighted mean
    of |accuracy − confidence| over the bins.
    """
    if isinstance(n_bins, bool) or not isinstance(n_bins, int) or n_bins < 1:
        raise ValueError(f"n_bins: expected a positive integer, got {n_bins!r}")
    p, y = _probs_labels(logits, labels, from_logits)
    conf, pred = p.max(1)
    correct = (pred == y).double()
    edges = np.linspace(0.0, 1.0, n_bins + 1)
    b = torch.bucketize(conf, torch.from_numpy(edges[1:-1]), right=False).numpy()
    count = np.bincount(b, minlength=n_bins)
    sum_c = np.bincount(b, weights=conf.numpy(), minlength=n_bins)
    sum_a = np.bincount(b, weights=correct.numpy(), minlength=n_bins)
    with np.errstate(invalid="ignore", divide="ignore"):
        mc, ma = sum_c / count, sum_a / count
    ece = float(np.abs(sum_a - sum_c).sum() / max(len(y), 1))
    return Reliability(edges, mc, ma, count, ece)


def expected_calibration_error(logits, labels, n_bins: int = 15, from_logits: bool = True) -> float:
    """Expected calibration error with ``n_bins`` equal-width bins (see :func:`reliability`)."""
    return reliability(logits, labels, n_bins, from_logits).ece
