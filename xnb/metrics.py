"""Scoring heatmaps against ground-truth masks: pixel IoU, the IoU-vs-threshold curve and its area.

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

__all__ = ["iou", "iou_curve", "iou_at_mean", "IoUCurve", "minmax"]


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


# Pointing games (SeVec paper §5.2; Zhang et al. 2016) live in xnb/_pointing.py.
from ._pointing import generalized_pointing_game, kept_energy_mask, pointing_game  # noqa: E402

__all__ += ["pointing_game", "generalized_pointing_game", "kept_energy_mask"]
