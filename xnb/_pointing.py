"""Pointing games (re-exported by :mod:`xnb.metrics`).

- :func:`pointing_game` — Zhang et al. (2016): a hit when the map's maximum lies in the target's box
  (within ``tolerance`` pixels);
- :func:`generalized_pointing_game` — SeVec paper §5.2: keep the smallest set of pixels that holds m % of
  the map's positive energy; a hit when that kept area lies inside the target's box.
"""
from __future__ import annotations

import numpy as np
import torch

from ._check import check_float

__all__ = ["pointing_game", "generalized_pointing_game", "kept_energy_mask"]


def _maps(heatmaps, name="heatmaps") -> np.ndarray:
    h = heatmaps.detach().cpu().numpy() if isinstance(heatmaps, torch.Tensor) else np.asarray(heatmaps)
    if h.ndim == 2:
        h = h[None]
    if h.ndim != 3:
        raise ValueError(f"{name}: expected maps [N,H,W] (or one [H,W]), got shape {tuple(h.shape)}")
    if not np.isfinite(h).all():
        raise ValueError(f"{name}: contains NaN or inf")
    return h.astype(np.float64)


def _boxes(boxes, n, shape) -> np.ndarray:
    b = boxes.detach().cpu().numpy() if isinstance(boxes, torch.Tensor) else np.asarray(boxes, dtype=float)
    if b.ndim == 1:
        b = np.broadcast_to(b, (n, 4))
    if b.shape != (n, 4):
        raise ValueError(f"boxes: expected [N,4] (row0, col0, row1, col1) for {n} maps, got {tuple(b.shape)}")
    H, W = shape
    if (b[:, 0] < 0).any() or (b[:, 1] < 0).any() or (b[:, 2] > H).any() or (b[:, 3] > W).any() \
            or (b[:, 2] <= b[:, 0]).any() or (b[:, 3] <= b[:, 1]).any():
        raise ValueError(f"boxes: every box must lie inside the {H}x{W} image with row0 < row1, col0 < col1 "
                         f"(row1/col1 exclusive)")
    return b


def kept_energy_mask(heatmap, m: float) -> np.ndarray:
    """Bool mask of the smallest set of pixels holding ``m`` % of the map's positive energy (§5.2)."""
    m = check_float(m, "m", 0.0, 100.0, low_open=True)
    h = np.clip(_maps(heatmap, "heatmap")[0], 0, None)
    flat = h.ravel()
    total = flat.sum()
    mask = np.zeros(flat.shape, dtype=bool)
    if total <= 0:
        return mask.reshape(h.shape)
    order = np.argsort(-flat, kind="stable")
    cum = np.cumsum(flat[order])
    k = int(np.searchsorted(cum, m / 100.0 * total - 1e-12 * total)) + 1
    mask[order[:min(k, flat.size)]] = True
    return mask.reshape(h.shape)


def generalized_pointing_game(heatmaps, boxes, m, min_inside: float = 1.0) -> np.ndarray:
    """Hits [N] (bool) of the generalised pointing game at kept energy ``m`` % (a number in (0, 100]).

    A hit when at least ``min_inside`` of the kept pixels (default: all of them) lie inside the box
    (row0, col0, row1, col1; row1/col1 exclusive). A map with no positive energy is a miss.
    """
    h = _maps(heatmaps)
    b = _boxes(boxes, len(h), h.shape[1:])
    min_inside = check_float(min_inside, "min_inside", 0.0, 1.0, low_open=True)
    hits = np.zeros(len(h), dtype=bool)
    for i in range(len(h)):
        kept = kept_energy_mask(h[i], m)
        if not kept.any():
            continue
        r0, c0, r1, c1 = (int(round(v)) for v in b[i])
        inside = kept[r0:r1, c0:c1].sum()
        hits[i] = inside >= min_inside * kept.sum() - 1e-9
    return hits


def pointing_game(heatmaps, boxes, tolerance: float = 0.0) -> np.ndarray:
    """Hits [N] (bool) of the classic pointing game: the maximum of each map (first one on ties) lies
    within ``tolerance`` pixels of the box (TorchRay uses 15 px at 224 px)."""
    h = _maps(heatmaps)
    b = _boxes(boxes, len(h), h.shape[1:])
    tolerance = check_float(tolerance, "tolerance", 0.0)
    hits = np.zeros(len(h), dtype=bool)
    for i in range(len(h)):
        r, c = np.unravel_index(int(np.argmax(h[i])), h[i].shape)
        r0, c0, r1, c1 = b[i]
        dr = max(r0 - r, 0, r - (r1 - 1))
        dc = max(c0 - c, 0, c - (c1 - 1))
        hits[i] = (dr * dr + dc * dc) <= tolerance * tolerance
    return hits
