"""Embedded, offline datasets for exploring CNN explanations.

Everything here is generated procedurally or loaded from files bundled with
scikit-learn, so nothing is ever downloaded at run time, and every generator is
deterministic given its ``seed`` (it uses its own ``numpy.random.default_rng``
and never touches the global random state).

Datasets
--------
``flowers(n, variant, size, seed)``
    A procedural flower data set in the spirit of an8Flower (Oramas et al.,
    "Visual explanation by interpretation", ICLR 2019, section 4.3). Each image
    shows one flower -- a centre disc, 8 petals, a stem and two leaves -- on a
    varied background. The class is decided by the colour of one known part,
    so the pixels of that part are a ground truth for explanation methods.
``flower_scenes(n, size, seed)``
    Two flowers of different classes per image (for multi-object checks).
``digits(split, size, seed, test_fraction)``
    scikit-learn's bundled 8x8 handwritten digits, upsampled.
``sample_photos(size)``
    scikit-learn's two bundled photos (china.jpg, flower.jpg).
``from_torchvision(dataset, ...)``, ``mnist``, ``cifar10``, ``image_folder``
    Adapters for torchvision data sets that are already on disk.

All of them return an :class:`ImageSet`.
"""

from __future__ import annotations

import math
import numbers
from dataclasses import dataclass, field, fields
from typing import Optional, Sequence

import numpy as np
import torch
import torch.nn.functional as F
from torch.utils.data import Dataset

__all__ = [
    "ImageSet",
    "flowers",
    "warmth",
    "WARMTH_WEIGHTS",
    "flower_scenes",
    "digits",
    "sample_photos",
    "from_torchvision",
    "mnist",
    "cifar10",
    "image_folder",
    "FLOWER_VARIANTS",
    "DIFFICULTIES",
    "FLOWER_PARTS",
    "CLASS_COLORS",
    "PETAL_COLORS",
    "GREEN_COLORS",
    "NEUTRAL_COLORS",
    "MIN_FLOWER_SIZE",
    "MIN_SCENE_SIZE",
]

# --------------------------------------------------------------------------
# Container
# --------------------------------------------------------------------------

#: Fields of :class:`ImageSet` that hold one entry per item (first dim = N).
_PER_ITEM = ("images", "labels", "masks", "part_masks", "keypoints", "boxes",
             "concepts", "flower_masks", "visible", "occluder_masks")


@dataclass(eq=False, repr=False)
class ImageSet(Dataset):
    """A small in-memory image data set with optional explanation ground truth.

    ``ImageSet`` is a :class:`torch.utils.data.Dataset`: ``ds[i]`` returns
    ``(image, label)`` so a :class:`~torch.utils.data.DataLoader` with the
    default collate works.

    Fields (``N`` items, ``C`` channels, ``H x W`` pixels, ``P`` parts,
    ``K`` concepts); optional fields are ``None`` when they do not apply:

    images : float32 tensor ``[N, C, H, W]`` with values in ``[0, 1]``.
    labels : long tensor ``[N]`` (``[N, 2]`` for two-flower scenes; ``-1``
        where unknown).
    class_names : list of str, ``class_names[label]`` names a class.
    masks : bool ``[N, H, W]`` -- the discriminative region, i.e. the pixels
        whose content decides the class (ground truth for explanations).
        Scenes: ``[N, 2, H, W]``, one per flower. For digits: the stroke.
    part_names : list of str (``P`` names).
    part_masks : bool ``[N, P, H, W]`` -- the *visible* pixels of each part
        (after occlusion), mutually disjoint.
    keypoints : float32 ``[N, P, 2]`` -- one ``(row, col)`` pixel per part,
        like CUB's one-pixel part annotations.
    boxes : float32 ``[N, 4]`` (scenes ``[N, 2, 4]``) in the convention
        ``(row0, col0, row1, col1)`` with inclusive-exclusive integer pixel
        bounds: the object covers rows ``row0 <= r < row1`` and columns
        ``col0 <= c < col1``, so ``mask[row0:row1, col0:col1]`` is the tight
        crop of the object's mask.
    concepts : float32 ``[N, K]`` with values in ``{0, 1}`` (attributes).
    concept_names : list of str (``K`` names, e.g. ``"center:red"``).
    flower_masks : bool ``[N, H, W]`` (scenes ``[N, 2, H, W]``) -- all pixels
        of the whole object.
    visible : float32 ``[N]`` (scenes ``[N, 2]``) -- the fraction of the
        discriminative part left visible by the occluder (1.0 when none).
    occluder_masks : bool ``[N, H, W]`` -- the pixels covered by an occluder
        (all False where there is none).
    name : str -- a short description.
    meta : dict -- generator settings and vocabularies (variant, seed, size,
        discriminative part per class, colours, ...).
    """

    images: torch.Tensor
    labels: torch.Tensor
    class_names: list
    masks: Optional[torch.Tensor] = None
    part_names: Optional[list] = None
    part_masks: Optional[torch.Tensor] = None
    keypoints: Optional[torch.Tensor] = None
    boxes: Optional[torch.Tensor] = None
    concepts: Optional[torch.Tensor] = None
    concept_names: Optional[list] = None
    flower_masks: Optional[torch.Tensor] = None
    visible: Optional[torch.Tensor] = None
    occluder_masks: Optional[torch.Tensor] = None
    name: str = ""
    meta: dict = field(default_factory=dict)

    def __post_init__(self) -> None:
        if not isinstance(self.images, torch.Tensor) or self.images.dim() != 4:
            raise ValueError("images must be a 4-D tensor [N, C, H, W]")
        n = self.images.shape[0]
        for key in _PER_ITEM:
            value = getattr(self, key)
            if value is not None and (not isinstance(value, torch.Tensor)
                                      or value.shape[0] != n):
                raise ValueError(
                    f"{key} must be a tensor with first dimension N={n}")
        self.class_names = list(self.class_names)

    # -- Dataset protocol ---------------------------------------------------
    def __len__(self) -> int:
        return int(self.images.shape[0])

    def __getitem__(self, i):
        return self.images[i], self.labels[i]

    # -- helpers ------------------------------------------------------------
    @property
    def n_classes(self) -> int:
        """Number of classes (``len(class_names)``)."""
        return len(self.class_names)

    def subset(self, idx) -> "ImageSet":
        """A new ImageSet holding the items ``idx`` (ints, slice, bool mask,
        numpy array or tensor), with every per-item field indexed."""
        n = len(self)
        if isinstance(idx, slice):
            index = torch.arange(n)[idx]
        else:
            if isinstance(idx, numbers.Integral) and not isinstance(idx, bool):
                idx = [int(idx)]
            index = torch.as_tensor(np.asarray(idx))
            if index.dtype == torch.bool:
                if index.shape != (n,):
                    raise ValueError(
                        f"a boolean idx must have shape ({n},), got "
                        f"{tuple(index.shape)}")
                index = index.nonzero().flatten()
            elif index.numel() == 0:
                index = index.long().reshape(0)
            elif index.dtype.is_floating_point or index.dtype.is_complex:
                raise TypeError("idx must hold integers or booleans")
            index = index.long().reshape(-1)
            if index.numel() and (index.max() >= n or index.min() < -n):
                raise IndexError(f"idx out of range for an ImageSet of {n}")
        kwargs = {}
        for f in fields(self):
            value = getattr(self, f.name)
            if f.name in _PER_ITEM and value is not None:
                value = value[index].clone()
            elif f.name == "meta":
                value = dict(value)
                src = value.get("source_indices")
                pos = index.numpy() % n if n else index.numpy()
                value["source_indices"] = (np.asarray(src)[pos] if src is not None
                                           else pos.copy())
            elif isinstance(value, list):
                value = list(value)
            kwargs[f.name] = value
        return ImageSet(**kwargs)

    def __repr__(self) -> str:
        parts = [f"name={self.name!r}", f"n={len(self)}",
                 f"images={tuple(self.images.shape)}",
                 f"n_classes={self.n_classes}"]
        for key in ("masks", "part_masks", "keypoints", "boxes", "concepts",
                    "flower_masks", "visible", "occluder_masks"):
            value = getattr(self, key)
            if value is not None:
                parts.append(f"{key}={tuple(value.shape)}")
        return f"ImageSet({', '.join(parts)})"


# --------------------------------------------------------------------------
# Argument checking
# --------------------------------------------------------------------------

def _is_int(value) -> bool:
    return isinstance(value, numbers.Integral) and not isinstance(value, (bool, np.bool_))


def _check_int(name: str, value, minimum: int, why: str = "") -> int:
    if not _is_int(value):
        raise TypeError(f"{name} must be an integer, got {value!r} "
                        f"({type(value).__name__})")
    if value < minimum:
        raise ValueError(f"{name} must be >= {minimum}{why}, got {value}")
    return int(value)


def _check_seed(seed) -> int:
    if not _is_int(seed):
        raise TypeError(f"seed must be an integer (bool is not accepted), got "
                        f"{seed!r} ({type(seed).__name__})")
    if seed < 0:
        raise ValueError(f"seed must be a non-negative integer, got {seed}")
    return int(seed)


def _check_choice(name: str, value, allowed: Sequence[str]) -> str:
    if not isinstance(value, str) or value not in allowed:
        raise ValueError(f"unknown {name} {value!r}; {name} must be one of "
                         f"{list(allowed)}")
    return value


# --------------------------------------------------------------------------
# Colours and vocabularies
# --------------------------------------------------------------------------

#: The six class colours (RGB in [0, 1]), saturated and well separated in hue.
CLASS_COLORS = {
    "red": (0.86, 0.08, 0.10),
    "orange": (1.00, 0.52, 0.00),
    "yellow": (0.98, 0.90, 0.05),
    "blue": (0.10, 0.25, 0.95),
    "purple": (0.58, 0.12, 0.82),
    "cyan": (0.00, 0.80, 0.85),
}
#: Pale petal colours (never a class colour).
PETAL_COLORS = {
    "white": (0.97, 0.97, 0.95),
    "pale_pink": (0.98, 0.74, 0.82),
    "lavender": (0.78, 0.72, 0.97),
    "cream": (0.97, 0.91, 0.70),
}
#: Greens for stems and (non-discriminative) leaves.
GREEN_COLORS = {
    "green": (0.18, 0.55, 0.16),
    "green_dark": (0.08, 0.35, 0.10),
    "green_light": (0.45, 0.70, 0.25),
}
#: Neutral centre colours (double variant, when the centre is not discriminative).
NEUTRAL_COLORS = {
    "brown": (0.42, 0.26, 0.12),
    "brown_dark": (0.25, 0.15, 0.08),
    "grey": (0.50, 0.50, 0.50),
    "khaki": (0.55, 0.50, 0.35),
}

FLOWER_VARIANTS = ("single", "double")
#: ``"standard"`` (the default): textured backgrounds, distractors in class colours,
#: occluders, photometric jitter, stronger pixel noise. ``"easy"``: the plain generator
#: of xnb 0.1 (smooth backgrounds, nothing in the way), bit for bit.
DIFFICULTIES = ("standard", "easy")
FLOWER_PARTS = ("center", "petals", "stem", "leaf_left", "leaf_right")
MIN_FLOWER_SIZE = 32
MIN_SCENE_SIZE = 96
_COLOR_GROUPS = ("center", "petals", "stem", "leaves")

_ALL_COLORS = {**CLASS_COLORS, **PETAL_COLORS, **GREEN_COLORS, **NEUTRAL_COLORS}
_COLOR_NAMES = list(_ALL_COLORS)
_COLOR_TABLE = np.array([_ALL_COLORS[k] for k in _COLOR_NAMES], dtype=np.float32)


def _cidx(names) -> np.ndarray:
    return np.array([_COLOR_NAMES.index(k) for k in names], dtype=np.int64)


def _group_palettes(variant: str) -> dict:
    """Colour names that can occur in each colour group for a variant."""
    if variant == "single":
        return {"center": list(CLASS_COLORS), "petals": list(PETAL_COLORS),
                "stem": list(GREEN_COLORS), "leaves": list(GREEN_COLORS)}
    return {"center": list(CLASS_COLORS) + list(NEUTRAL_COLORS),
            "petals": list(PETAL_COLORS), "stem": list(GREEN_COLORS),
            "leaves": list(CLASS_COLORS) + list(GREEN_COLORS)}


def _class_table(variant: str):
    """(class_names, discriminative_part, class colour name) per class."""
    if variant == "single":
        return ([f"{c} center" for c in CLASS_COLORS], ["center"] * 6,
                list(CLASS_COLORS))
    names = [f"{c} center" for c in CLASS_COLORS] + \
            [f"{c} leaves" for c in CLASS_COLORS]
    return names, ["center"] * 6 + ["leaves"] * 6, list(CLASS_COLORS) * 2


# --------------------------------------------------------------------------
# Flower geometry
# --------------------------------------------------------------------------

_SOFT = 1.0    # half-width of the antialiased edge taken into account for boxes
_MARGIN = 2.0  # minimum distance (pixels) between a flower and the image border


def _sample_geometry(rng: np.random.Generator, n: int, scale_px: float,
                     fit: Optional[float] = None) -> dict:
    """Random shape parameters (in pixels) for n flowers; positions not set.

    Flower frame: origin at the disc centre, u to the right, v downwards
    (towards the stem). The frame is rotated by ``theta`` in the image.
    ``fit``: the largest height/width (pixels) a flower may take; flowers
    that would be larger are scaled down (only matters for tiny images).
    """
    g = {
        "R": rng.uniform(0.22, 0.29, n) * scale_px,      # centre to petal tip
        "theta": rng.uniform(-math.pi / 6, math.pi / 6, n),
        "phi0": rng.uniform(0.0, math.pi / 4, n),         # petal phase
        "beta": np.deg2rad(rng.uniform(10.0, 30.0, (2, n))),  # leaf elevation
    }
    # sizes relative to R
    ratios = {
        "rc": rng.uniform(0.29, 0.34, n),                 # centre disc radius
        "pd": rng.uniform(0.56, 0.60, n),                 # petal ellipse centre
        "pb": rng.uniform(0.15, 0.19, n),                 # petal half width
        "L": rng.uniform(1.60, 1.80, n),                  # stem length
        "vb": rng.uniform(1.28, 1.42, (2, n)),            # leaf base (left, right)
        "la": rng.uniform(0.38, 0.46, (2, n)),            # leaf half length
        "lb": rng.uniform(0.14, 0.18, (2, n)),            # leaf half width
    }
    for _ in range(10):
        R = g["R"]
        for key, ratio in ratios.items():
            g[key] = ratio * R
        g["pa"] = R - g["pd"]                             # petal half length
        g["hw"] = np.maximum(0.09 * R, 1.25)              # stem half width
        side = np.array([-1.0, 1.0])[:, None]
        g["ldu"] = side * np.cos(g["beta"])               # leaf axis direction
        g["ldv"] = -np.sin(g["beta"])
        g["lcu"] = g["la"] * g["ldu"]                     # leaf centre
        g["lcv"] = g["vb"] + g["la"] * g["ldv"]
        g["extent"] = _extent(g)
        if fit is None:
            break
        span = np.maximum(g["extent"][1] - g["extent"][0],
                          g["extent"][3] - g["extent"][2])
        if np.all(span <= fit):
            break
        g["R"] = R * np.minimum(1.0, 0.99 * fit / span)
    return g


def _to_image(g: dict, u, v):
    """Flower-frame offsets -> image offsets (drow, dcol)."""
    ct, st = np.cos(g["theta"]), np.sin(g["theta"])
    return st * u + ct * v, ct * u - st * v


def _extent(g: dict) -> np.ndarray:
    """Conservative bounds (rmin, rmax, cmin, cmax) relative to the centre."""
    R, L, hw = g["R"], g["L"], g["hw"]
    lo_r, hi_r, lo_c, hi_c = -R, R.copy(), -R, R.copy()
    er, ec = _to_image(g, 0.0, L)
    lo_r = np.minimum(lo_r, er - hw); hi_r = np.maximum(hi_r, er + hw)
    lo_c = np.minimum(lo_c, ec - hw); hi_c = np.maximum(hi_c, ec + hw)
    for s in range(2):
        cr, cc = _to_image(g, g["lcu"][s], g["lcv"][s])
        e1r, e1c = _to_image(g, g["ldu"][s], g["ldv"][s])
        a, b = g["la"][s], g["lb"][s]
        # minor axis = major rotated by 90 deg: (e1r, e1c) -> (e1c, -e1r)
        ext_r = np.sqrt((a * e1r) ** 2 + (b * e1c) ** 2)
        ext_c = np.sqrt((a * e1c) ** 2 + (b * e1r) ** 2)
        lo_r = np.minimum(lo_r, cr - ext_r); hi_r = np.maximum(hi_r, cr + ext_r)
        lo_c = np.minimum(lo_c, cc - ext_c); hi_c = np.maximum(hi_c, cc + ext_c)
    return np.stack([lo_r - _SOFT, hi_r + _SOFT, lo_c - _SOFT, hi_c + _SOFT])


def _place(rng: np.random.Generator, extent: np.ndarray, size: int,
           margin: float):
    """Uniform centre positions keeping the whole flower inside the image."""
    lo_r, hi_r, lo_c, hi_c = extent
    rmin, rmax = margin - lo_r, size - 1 - margin - hi_r
    cmin, cmax = margin - lo_c, size - 1 - margin - hi_c
    if np.any(rmax < rmin) or np.any(cmax < cmin):  # pragma: no cover
        raise RuntimeError("flower does not fit; internal geometry error")
    u = rng.random((2, extent.shape[1]))
    return rmin + u[0] * (rmax - rmin), cmin + u[1] * (cmax - cmin)


def _ellipse_sd(x, y, a, b):
    """Approximate signed distance (pixels) to an axis-aligned ellipse."""
    a2, b2 = a * a, b * b
    x2, y2 = x * x, y * y
    q = x2 / a2 + y2 / b2
    grad = np.sqrt(x2 / (a2 * a2) + y2 / (b2 * b2))
    return (q - 1.0) / (2.0 * grad + 1e-6)


def _alpha(sd):
    return np.clip(0.5 - sd, 0.0, 1.0)


def _col(x):
    """(B,) -> (B,1,1) float32 for broadcasting over pixels."""
    return np.asarray(x, dtype=np.float32)[:, None, None]


def _composite(canvas, alpha, color, shade=None):
    """Paint colour (B,3) with coverage alpha (B,H,W) over canvas (B,3,H,W)."""
    a = alpha[:, None]
    paint = color[:, :, None, None]
    if shade is not None:
        paint = paint * shade[:, None]
    canvas *= (1.0 - a)
    canvas += a * paint


def _render_flowers(canvas: np.ndarray, g: dict, colors: np.ndarray):
    """Draw one flower per image of the batch on ``canvas`` in place.

    colors: (B, 4, 3) for the colour groups center, petals, stem, leaves.
    Returns part masks (B, 5, H, W) bool (visible pixels) and keypoints
    (B, 5, 2) float32.
    """
    B, _, H, W = canvas.shape
    f32 = np.float32
    rows = np.arange(H, dtype=f32)
    cols = np.arange(W, dtype=f32)
    ct, st = _col(np.cos(g["theta"])), _col(np.sin(g["theta"]))
    dy = rows[None, :, None] - _col(g["cy"])          # (B,H,1)
    dx = cols[None, None, :] - _col(g["cx"])          # (B,1,W)
    u = ct * dx + st * dy                            # flower frame (B,H,W)
    v = ct * dy - st * dx
    rho = np.sqrt(u * u + v * v)

    # -- stem: thick segment from the centre down to length L -----------
    L = _col(g["L"])
    vv = v - np.clip(v, 0.0, L)
    sd_stem = np.sqrt(u * u + vv * vv) - _col(g["hw"])
    _composite(canvas, _alpha(sd_stem), colors[:, 2])
    hard_stem = sd_stem <= 0

    # -- leaves: ellipses from the stem, pointing up and outwards ---------
    hard_leaf = []
    for s in range(2):
        du, dv = _col(g["ldu"][s]), _col(g["ldv"][s])
        pu = u - _col(g["lcu"][s])
        pv = v - _col(g["lcv"][s])
        x = pu * du + pv * dv
        y = pv * du - pu * dv
        a = _col(g["la"][s])
        b = _col(g["lb"][s])
        sd = _ellipse_sd(x, y, a, b)
        shade = 0.93 + 0.07 * (x / a)                 # lighter towards the tip
        shade += 0.06 * (np.abs(y) < 0.2 * b)         # midrib
        _composite(canvas, _alpha(sd), colors[:, 3], shade)
        hard_leaf.append(sd <= 0)

    # -- petals: 8 ellipses around the centre (nearest-sector evaluation) -
    step = f32(math.pi / 4)
    ang = np.arctan2(v, u) - _col(g["phi0"])
    k = np.rint(ang / step)
    delta = ang - k * step
    ps = rho * np.cos(delta)
    pt = rho * np.sin(delta)
    pa, pd = _col(g["pa"]), _col(g["pd"])
    sd_pet = _ellipse_sd(ps - pd, pt, pa, _col(g["pb"]))
    kk = k.astype(np.int8) % 8
    shade = 0.88 + 0.12 * np.clip(ps / (pd + pa), 0.0, 1.0)
    shade -= 0.03 * (kk % 2)
    _composite(canvas, _alpha(sd_pet), colors[:, 1], shade)
    hard_pet = sd_pet <= 0

    # -- centre disc ------------------------------------------------------
    rc = _col(g["rc"])
    sd_disc = rho - rc
    shade = 1.0 - 0.10 * np.minimum((rho / rc) ** 2, 1.0)
    _composite(canvas, _alpha(sd_disc), colors[:, 0], shade)
    hard_disc = sd_disc <= 0

    # -- visible part masks (painter's order) -----------------------------
    above = hard_disc.copy()
    vis_pet = hard_pet & ~above
    above |= hard_pet
    vis_right = hard_leaf[1] & ~above
    above |= hard_leaf[1]
    vis_left = hard_leaf[0] & ~above
    above |= hard_leaf[0]
    vis_stem = hard_stem & ~above
    part_masks = np.stack([hard_disc, vis_pet, vis_stem, vis_left, vis_right], 1)

    # -- keypoints ----------------------------------------------------------
    # petal pointing most "up" in the image: smallest row direction
    phis = g["phi0"][:, None] + np.arange(8) * (math.pi / 4)
    drow, _ = _to_image({"theta": g["theta"][:, None]}, np.cos(phis), np.sin(phis))
    k_up = np.argmin(drow, axis=1).astype(np.int8)
    up_petal = vis_pet & (kk == k_up[:, None, None])
    kp = np.zeros((B, 5, 2), dtype=f32)
    kp[:, 0, 0], kp[:, 0, 1] = g["cy"], g["cx"]
    for j, m in ((1, up_petal), (2, vis_stem), (3, vis_left), (4, vis_right)):
        mf = m.astype(f32)
        cnt = np.maximum(mf.sum((1, 2)), 1.0)
        kp[:, j, 0] = (mf.sum(2) @ rows) / cnt
        kp[:, j, 1] = (mf.sum(1) @ cols) / cnt
    _snap_keypoints(kp, np.stack([hard_disc, up_petal, vis_stem, vis_left,
                                  vis_right], 1))
    return part_masks, kp


def _snap_keypoints(kp: np.ndarray, masks: np.ndarray) -> None:
    """Move keypoints whose pixel is outside their mask to the nearest mask
    pixel (centroids of non-convex visible regions can fall outside)."""
    B, P, H, W = masks.shape
    r = np.clip(np.rint(kp[..., 0]).astype(np.int64), 0, H - 1)
    c = np.clip(np.rint(kp[..., 1]).astype(np.int64), 0, W - 1)
    inside = masks[np.arange(B)[:, None], np.arange(P)[None, :], r, c]
    for b, p in zip(*np.nonzero(~inside)):
        pix = np.argwhere(masks[b, p])
        if len(pix) == 0:
            continue
        d2 = ((pix - kp[b, p]) ** 2).sum(1)
        kp[b, p] = pix[np.argmin(d2)]


def _boxes_from_masks(m: np.ndarray) -> np.ndarray:
    """Tight (row0, col0, row1, col1) inclusive-exclusive boxes of (B,H,W)
    masks; all zeros for an empty mask."""
    B, H, W = m.shape
    rows_any = m.any(2)
    cols_any = m.any(1)
    r0 = rows_any.argmax(1)
    r1 = H - rows_any[:, ::-1].argmax(1)
    c0 = cols_any.argmax(1)
    c1 = W - cols_any[:, ::-1].argmax(1)
    box = np.stack([r0, c0, r1, c1], 1).astype(np.float32)
    box[~rows_any.any(1)] = 0
    return box


# --------------------------------------------------------------------------
# Backgrounds and colours
# --------------------------------------------------------------------------

def _hsv_to_rgb(h, s, v):
    i = np.floor(h * 6.0)
    f = h * 6.0 - i
    p, q, t = v * (1 - s), v * (1 - s * f), v * (1 - s * (1 - f))
    i = i.astype(np.int64) % 6
    r = np.choose(i, [v, q, p, p, t, v])
    g = np.choose(i, [t, v, v, q, p, p])
    b = np.choose(i, [p, p, t, v, v, q])
    return np.stack([r, g, b], -1)


def _sample_background(rng: np.random.Generator, n: int, size: int) -> dict:
    """Parameters of low-saturation gradient + blob backgrounds."""
    nb = 3
    hsv = lambda k: _hsv_to_rgb(rng.random(k), rng.uniform(0.04, 0.28, k),
                                rng.uniform(0.38, 0.86, k))
    return {
        "c0": hsv(n), "c1": hsv(n), "c2": hsv(n),
        "psi": rng.uniform(0, 2 * math.pi, n),
        "br": rng.uniform(0, size, (n, nb)), "bc": rng.uniform(0, size, (n, nb)),
        "bs": rng.uniform(0.10, 0.30, (n, nb)) * size,
        "ba": rng.uniform(0.25, 0.65, (n, nb)),
    }


def _render_background(p: dict, H: int, W: int) -> np.ndarray:
    f32 = np.float32
    rows = np.arange(H, dtype=f32)
    cols = np.arange(W, dtype=f32)
    span = f32(0.75 * max(H, W))
    t = ((rows[None, :, None] - H / 2) * _col(np.sin(p["psi"]))
         + (cols[None, None, :] - W / 2) * _col(np.cos(p["psi"]))) / span + 0.5
    t = np.clip(t, 0.0, 1.0)[:, None]                          # (B,1,H,W)
    c0 = p["c0"].astype(f32)[:, :, None, None]
    c1 = p["c1"].astype(f32)[:, :, None, None]
    img = c0 + (c1 - c0) * t
    gr = np.exp(-0.5 * ((rows[None, None] - p["br"][..., None]) / p["bs"][..., None]) ** 2)
    gc = np.exp(-0.5 * ((cols[None, None] - p["bc"][..., None]) / p["bs"][..., None]) ** 2)
    m = np.einsum("bkh,bkw->bhw", (gr * p["ba"][..., None]).astype(f32), gc.astype(f32))
    m = np.clip(m, 0.0, 0.75)[:, None]
    img += (p["c2"].astype(f32)[:, :, None, None] - img) * m
    return np.ascontiguousarray(img, dtype=f32)


def _jittered(rng: np.random.Generator, idx: np.ndarray) -> np.ndarray:
    """Colours from the table plus a small per-image jitter; idx (n, G)."""
    base = _COLOR_TABLE[idx]
    return np.clip(base + rng.uniform(-0.04, 0.04, base.shape), 0, 1).astype(np.float32)


def _chunks(n: int, H: int, W: int):
    step = max(1, (1 << 20) // (H * W))
    for s in range(0, n, step):
        yield slice(s, min(n, s + step))


def _slice_geom(g: dict, sl: slice) -> dict:
    """Geometry arrays are (..., n): slice the last axis."""
    return {k: (v[..., sl] if isinstance(v, np.ndarray) else v) for k, v in g.items()}


def _slice_rows(p: dict, sl: slice) -> dict:
    """Background arrays are (n, ...): slice the first axis."""
    return {k: v[sl] for k, v in p.items()}


def _balanced_labels(rng: np.random.Generator, n: int, n_classes: int) -> np.ndarray:
    return rng.permutation(np.arange(n) % n_classes)


# --------------------------------------------------------------------------
# Clutter: what difficulty="standard" adds to a scene
# --------------------------------------------------------------------------

_YIQ = np.array([[0.299, 0.587, 0.114],
                 [0.596, -0.274, -0.322],
                 [0.211, -0.523, 0.312]], dtype=np.float32)
_YIQ_INV = np.linalg.inv(_YIQ).astype(np.float32)

#: Share of images with an occluder over the discriminative part.
OCCLUDED_FRACTION = 1 / 3


def _hue_rotate(rgb: np.ndarray, angle: np.ndarray) -> np.ndarray:
    """Rotate the hue of colours ``rgb`` (n, ..., 3) by ``angle`` (n,) radians
    (a rotation of the chroma plane of YIQ: luma is kept)."""
    yiq = rgb.astype(np.float32) @ _YIQ.T
    shape = (-1,) + (1,) * (rgb.ndim - 1)
    c = np.cos(angle).astype(np.float32).reshape(shape)
    s = np.sin(angle).astype(np.float32).reshape(shape)
    i, q = yiq[..., 1:2], yiq[..., 2:3]
    yiq = np.concatenate([yiq[..., :1], c * i - s * q, s * i + c * q], -1)
    return np.clip(yiq @ _YIQ_INV.T, 0.0, 1.0).astype(np.float32)


def _sample_clutter(rng: np.random.Generator, n: int, size: int, n_distract=(0.3, 0.4, 0.3)) -> dict:
    """Per-image parameters of textures, distractors, occluder and photometric jitter."""
    grid = 5
    low_sat = lambda k: _hsv_to_rgb(rng.random(k), rng.uniform(0.05, 0.30, k),
                                    rng.uniform(0.30, 0.80, k)).astype(np.float32)
    c = {
        # texture: value noise (0) or stripes (1) over the smooth background
        "tex_kind": rng.integers(0, 2, n),
        "tex_amp": rng.uniform(0.06, 0.16, n),
        "tex_grid": (rng.uniform(-1, 1, (n, 1, grid, grid))
                     + 0.35 * rng.uniform(-1, 1, (n, 3, grid, grid))).astype(np.float32),
        "tex_freq": rng.uniform(3.0, 9.0, n),
        "tex_angle": rng.uniform(0.0, math.pi, n),
        "tex_phase": rng.uniform(0.0, 2 * math.pi, n),
        "tex_tint": rng.uniform(0.4, 1.0, (n, 3)).astype(np.float32),
        # 0-2 distractors in class colours: blobs (0) or flowers cut by the border (1)
        "n_distract": rng.choice(3, n, p=list(n_distract)),
        "d_kind": rng.integers(0, 2, (2, n)),
        "d_color": rng.integers(0, len(CLASS_COLORS), (2, n)),
        "d_pos": rng.uniform(0.0, size, (2, 2, n)),
        "d_axes": rng.uniform(0.04, 0.10, (2, 2, n)) * size,
        "d_angle": rng.uniform(0.0, math.pi, (2, n)),
        "d_side": rng.integers(0, 4, (2, n)),
        "d_out": rng.uniform(-0.05, 0.6, (2, n)),
        # occluder over part of the discriminative region
        "occluded": rng.random(n) < OCCLUDED_FRACTION,
        "cover": np.where(rng.random(n) < 0.85, rng.uniform(0.15, 0.80, n),
                          rng.uniform(0.80, 1.0, n)),
        "o_angle": rng.uniform(0.0, 2 * math.pi, n),
        "o_depth": rng.uniform(0.0, 0.25, n) * size,
        "o_width": rng.uniform(0.0, 0.15, n) * size,
        "o_color": low_sat(n),
        # photometric jitter
        "hue": rng.uniform(-0.35, 0.35, n),            # radians, non-discriminative parts
        "brightness": rng.uniform(0.85, 1.15, n),
        "contrast": rng.uniform(0.80, 1.20, n),
        "noise_sd": rng.uniform(0.02, 0.05, n),
    }
    return c


def _texture(c: dict, sl: slice, H: int, W: int) -> np.ndarray:
    """(B,3,H,W) zero-mean texture of amplitude ``tex_amp``."""
    f32 = np.float32
    vn = F.interpolate(torch.from_numpy(c["tex_grid"][sl]), size=(H, W), mode="bicubic",
                       align_corners=True).numpy().clip(-1.3, 1.3)
    rows = np.arange(H, dtype=f32)[None, :, None]
    cols = np.arange(W, dtype=f32)[None, None, :]
    t = (rows * _col(np.sin(c["tex_angle"][sl])) + cols * _col(np.cos(c["tex_angle"][sl]))) / max(H, W)
    st = np.sin(2 * np.pi * _col(c["tex_freq"][sl]) * t + _col(c["tex_phase"][sl]))
    st = st[:, None] * c["tex_tint"][sl][:, :, None, None]
    tex = np.where((c["tex_kind"][sl] == 0)[:, None, None, None], vn, st)
    return (tex * c["tex_amp"][sl][:, None, None, None]).astype(f32)


def _draw_distractors(canvas: np.ndarray, c: dict, sl: slice, rng: np.random.Generator,
                      scale: float, max_count: int = 2) -> None:
    """Blobs and border-cut flowers in class colours, painted on ``canvas`` in place."""
    B, _, H, W = canvas.shape
    f32 = np.float32
    rows = np.arange(H, dtype=f32)[None, :, None]
    cols = np.arange(W, dtype=f32)[None, None, :]
    class_rgb = np.array(list(CLASS_COLORS.values()), dtype=f32)
    count = np.minimum(c["n_distract"][sl], max_count)
    for k in range(max_count):
        on = count > k
        blob = on & (c["d_kind"][k, sl] == 0)
        flower = np.flatnonzero(on & (c["d_kind"][k, sl] == 1))
        color = class_rgb[c["d_color"][k, sl]]
        if blob.any():
            ct, st = _col(np.cos(c["d_angle"][k, sl])), _col(np.sin(c["d_angle"][k, sl]))
            dy = rows - _col(c["d_pos"][k, 0, sl])
            dx = cols - _col(c["d_pos"][k, 1, sl])
            x, y = ct * dx + st * dy, ct * dy - st * dx
            sd = _ellipse_sd(x, y, _col(c["d_axes"][k, 0, sl]), _col(c["d_axes"][k, 1, sl]))
            alpha = _alpha(sd) * blob[:, None, None]
            _composite(canvas, alpha.astype(f32), color)
        if len(flower):
            # a whole flower whose centre lies near or beyond a border: only part of it shows
            g = _sample_geometry(rng, len(flower), scale)
            side = c["d_side"][k, sl][flower]
            along = c["d_pos"][k, 0, sl][flower] / max(H, W)
            out = c["d_out"][k, sl][flower] * g["R"]
            cy = np.where(side == 0, -out, np.where(side == 1, H - 1 + out, along * H))
            cx = np.where(side == 2, -out, np.where(side == 3, W - 1 + out, along * W))
            g["cy"], g["cx"] = cy, cx
            def pick(palette):  # one jittered colour of the palette per distractor flower
                return _jittered(rng, _cidx(palette)[rng.integers(0, len(palette), len(flower))][:, None])[:, 0]

            cols4 = np.stack([color[flower], pick(PETAL_COLORS), pick(GREEN_COLORS), pick(GREEN_COLORS)], 1)
            sub = np.ascontiguousarray(canvas[flower])
            _render_flowers(sub, g, cols4)
            canvas[flower] = sub


def _occlude(canvas: np.ndarray, target: np.ndarray, c: dict, sl: slice) -> np.ndarray:
    """Paint an occluder over ``cover`` of each occluded image's ``target`` mask (B,H,W);
    returns the occluder's pixels (B,H,W) bool."""
    B, _, H, W = canvas.shape
    f32 = np.float32
    occ = np.zeros((B, H, W), bool)
    rows = np.arange(H, dtype=f32)[:, None]
    cols = np.arange(W, dtype=f32)[None, :]
    for b in np.flatnonzero(c["occluded"][sl]):
        pix = np.argwhere(target[b]).astype(f32)
        if len(pix) == 0:
            continue
        ang = c["o_angle"][sl][b]
        d = np.array([math.sin(ang), math.cos(ang)], f32)     # (row, col) direction
        e = np.array([d[1], -d[0]], f32)
        centre = pix.mean(0)
        proj = (pix - centre) @ d
        perp = (pix - centre) @ e
        p = float(np.quantile(proj, 1.0 - c["cover"][sl][b]))
        depth = float(proj.max()) - p + 1.5 + c["o_depth"][sl][b]
        half_w = float(np.abs(perp).max()) + 1.5 + c["o_width"][sl][b]
        u = (rows - centre[0]) * d[0] + (cols - centre[1]) * d[1] - (p + depth / 2)
        v = (rows - centre[0]) * e[0] + (cols - centre[1]) * e[1]
        sd = np.maximum(np.abs(u) - depth / 2, np.abs(v) - half_w)
        alpha = _alpha(sd)[None]
        shade = 0.9 + 0.1 * np.clip(v / half_w, -1, 1)
        _composite(canvas[b:b + 1], alpha.astype(f32), c["o_color"][sl][b:b + 1], shade[None].astype(f32))
        occ[b] = sd <= 0
    return occ


def _photometric(canvas: np.ndarray, c: dict, sl: slice, rng: np.random.Generator) -> None:
    """Contrast and brightness jitter, then pixel noise, in place (clipped to [0, 1])."""
    mean = canvas.mean((1, 2, 3), keepdims=True)
    canvas -= mean
    canvas *= c["contrast"][sl].astype(np.float32)[:, None, None, None]
    canvas += mean
    canvas *= c["brightness"][sl].astype(np.float32)[:, None, None, None]
    canvas += (rng.standard_normal(canvas.shape, dtype=np.float32)
               * c["noise_sd"][sl].astype(np.float32)[:, None, None, None])
    np.clip(canvas, 0.0, 1.0, out=canvas)


# --------------------------------------------------------------------------
# flowers
# --------------------------------------------------------------------------

def flowers(n: int, variant: str = "single", size: int = 64, seed: int = 0,
            difficulty: str = "standard") -> ImageSet:
    """Procedural flowers (an8Flower-style) whose class is one part's colour.

    Each ``size x size`` RGB image shows one flower -- a centre disc, 8 petals,
    a stem and two leaves -- on a low-saturation background, with jittered
    position, scale (flower radius 0.22-0.29 of ``size``) and rotation
    (+-30 degrees), and mild colour jitter and pixel noise.

    difficulty
        ``"standard"`` (default) adds what makes the task worth explaining:
        textured backgrounds (value noise or stripes), 0-2 distractors in class
        colours (blobs, or flowers cut by the image border), an occluder over
        15-100 % of the discriminative part in about a third of the images
        (over 80 % in 15 % of those), a hue shift of the non-discriminative
        parts and the background, brightness/contrast jitter and pixel noise of
        sd 0.02-0.05. The flowers themselves (geometry, colours, labels) are
        those of ``"easy"`` with the same seed.
        ``"easy"``: smooth backgrounds, nothing in the way (xnb 0.1's generator,
        bit for bit) -- for fast unit tests and comparisons.

    variant
        ``"single"``: 6 classes, the class is the colour of the centre disc
        (red, orange, yellow, blue, purple, cyan); petals are pale (white, pale
        pink, lavender, cream), stem and leaves green. ``masks`` is the
        visible centre disc.
        ``"double"``: 12 classes, 6 colours x 2 parts: ``"<colour> center"``
        (colour on the centre disc, leaves green) or ``"<colour> leaves"``
        (colour on both leaves, centre a neutral brown/grey/khaki). ``masks``
        is the visible discriminative part (both leaves for leaf classes).

    The non-discriminative colours are drawn independently of the class from
    palettes disjoint from the class colours. Labels are balanced.

    Returns an :class:`ImageSet` with ``masks``, ``part_masks`` (visible pixels
    of ``part_names = ["center", "petals", "stem", "leaf_left",
    "leaf_right"]``), ``keypoints`` (disc centre; centroid of the petal that
    points most up in the image; centroid of the visible stem and of each
    leaf), ``boxes`` of the whole flower (``(row0, col0, row1, col1)``,
    inclusive-exclusive), ``flower_masks``, and one-hot ``concepts`` per
    colour group (center, petals, stem, leaves) with ``concept_names`` such as
    ``"center:red"`` and ``meta["concept_groups"]``, ``visible`` (fraction of
    the discriminative part not occluded) and ``occluder_masks``. ``masks``
    and ``part_masks`` are the *visible* pixels; ``flower_masks`` and
    ``boxes`` cover the whole flower, occluded pixels included.
    Same arguments give bitwise identical tensors.
    """
    n = _check_int("n", n, 1)
    variant = _check_choice("variant", variant, FLOWER_VARIANTS)
    difficulty = _check_choice("difficulty", difficulty, DIFFICULTIES)
    size = _check_int("size", size, MIN_FLOWER_SIZE,
                      " (the smallest image in which a flower can be drawn)")
    seed = _check_seed(seed)
    rng = np.random.default_rng(seed)

    class_names, disc_part, class_color = _class_table(variant)
    n_cls = len(class_names)
    labels = _balanced_labels(rng, n, n_cls)

    # colour names per group ------------------------------------------------
    pal = _group_palettes(variant)
    col_idx = _cidx(class_color)[labels % 6]
    petals = _cidx(PETAL_COLORS)[rng.integers(0, len(PETAL_COLORS), n)]
    stem = _cidx(GREEN_COLORS)[rng.integers(0, len(GREEN_COLORS), n)]
    greens = _cidx(GREEN_COLORS)[rng.integers(0, len(GREEN_COLORS), n)]
    neutral = _cidx(NEUTRAL_COLORS)[rng.integers(0, len(NEUTRAL_COLORS), n)]
    leaf_cls = labels >= 6  # only in the double variant
    center = np.where(leaf_cls, neutral, col_idx)
    leaves = np.where(leaf_cls, col_idx, greens)
    group_idx = np.stack([center, petals, stem, leaves], 1)   # (n, 4)
    colors = _jittered(rng, group_idx)

    geom = _sample_geometry(rng, n, float(size), fit=size - 1 - 2 * _MARGIN)
    geom["cy"], geom["cx"] = _place(rng, geom["extent"], size, _MARGIN)
    bg = _sample_background(rng, n, size)

    standard = difficulty == "standard"
    if standard:
        # a second stream, so that the flowers stay those of "easy" with the same seed
        rng2 = np.random.default_rng([seed, 1])
        clutter = _sample_clutter(rng2, n, size)
        # hue shift of every non-discriminative colour group and of the background
        disc_group = np.where(leaf_cls, 3, 0)
        shifted = _hue_rotate(colors, clutter["hue"])
        keep = np.arange(4)[None, :] == disc_group[:, None]
        colors = np.where(keep[..., None], colors, shifted).astype(np.float32)
        for key in ("c0", "c1", "c2"):
            bg[key] = _hue_rotate(bg[key], clutter["hue"])

    images = np.empty((n, 3, size, size), np.float32)
    part_masks = np.empty((n, 5, size, size), bool)
    keypoints = np.empty((n, 5, 2), np.float32)
    flower_masks = np.empty((n, size, size), bool)   # the whole flower (occluded pixels included)
    occluder_masks = np.zeros((n, size, size), bool)
    visible = np.ones(n, np.float32)
    for sl in _chunks(n, size, size):
        canvas = _render_background(_slice_rows(bg, sl), size, size)
        if standard:
            canvas += _texture(clutter, sl, size, size)
            np.clip(canvas, 0.0, 1.0, out=canvas)
            _draw_distractors(canvas, clutter, sl, rng2, float(size))
        pm, kp = _render_flowers(canvas, _slice_geom(geom, sl), colors[sl])
        if standard:
            leaf = leaf_cls[sl][:, None, None]
            target = np.where(leaf, pm[:, 3] | pm[:, 4], pm[:, 0])
            occ = _occlude(canvas, target, clutter, sl)
            occluder_masks[sl] = occ
            full = np.maximum(target.sum((1, 2)), 1)
            visible[sl] = (target & ~occ).sum((1, 2)) / full
            flower_masks[sl] = pm.any(1)
            pm &= ~occ[:, None]
            _photometric(canvas, clutter, sl, rng2)
        else:
            canvas += rng.standard_normal(canvas.shape, dtype=np.float32) * np.float32(0.02)
            np.clip(canvas, 0.0, 1.0, out=canvas)
            flower_masks[sl] = pm.any(1)
        images[sl], part_masks[sl], keypoints[sl] = canvas, pm, kp

    leaf_mask = part_masks[:, 3] | part_masks[:, 4]
    masks = np.where(leaf_cls[:, None, None], leaf_mask, part_masks[:, 0])

    # concepts ----------------------------------------------------------------
    concept_names, concept_groups, lookup = [], [], {}
    for grp in _COLOR_GROUPS:
        for cname in pal[grp]:
            lookup[(grp, _COLOR_NAMES.index(cname))] = len(concept_names)
            concept_names.append(f"{grp}:{cname}")
            concept_groups.append(grp)
    concepts = np.zeros((n, len(concept_names)), np.float32)
    for gi, grp in enumerate(_COLOR_GROUPS):
        cols = np.array([lookup[(grp, c)] for c in group_idx[:, gi]])
        concepts[np.arange(n), cols] = 1.0

    meta = {
        "generator": "xnb.data.flowers",
        "variant": variant, "n": n, "size": size, "seed": seed, "difficulty": difficulty,
        "discriminative_part": disc_part,
        "class_color": class_color,
        "class_colors": dict(CLASS_COLORS),
        "palettes": {grp: list(v) for grp, v in pal.items()},
        "colors": {k: tuple(v) for k, v in _ALL_COLORS.items()},
        "concept_groups": concept_groups,
        "box_format": "(row0, col0, row1, col1), inclusive-exclusive",
    }
    return ImageSet(
        images=torch.from_numpy(images),
        labels=torch.from_numpy(labels.astype(np.int64)),
        class_names=class_names,
        masks=torch.from_numpy(np.ascontiguousarray(masks)),
        part_names=list(FLOWER_PARTS),
        part_masks=torch.from_numpy(part_masks),
        keypoints=torch.from_numpy(keypoints),
        boxes=torch.from_numpy(_boxes_from_masks(flower_masks)),
        concepts=torch.from_numpy(concepts),
        concept_names=concept_names,
        flower_masks=torch.from_numpy(flower_masks),
        visible=torch.from_numpy(visible),
        occluder_masks=torch.from_numpy(occluder_masks),
        name=f"flowers-{variant}",
        meta=meta,
    )


def flower_scenes(n: int, size: int = 128, seed: int = 0,
                  difficulty: str = "standard") -> ImageSet:
    """Scenes with two non-overlapping flowers of different classes.

    Flowers are drawn like :func:`flowers` ``variant="single"`` (class = centre
    colour) at the pixel scale of a 64-pixel flower image, placed so that
    their boxes do not intersect. ``labels`` is ``[N, 2]`` (two different
    classes), ``masks`` ``[N, 2, H, W]`` (each flower's visible centre disc),
    ``flower_masks`` ``[N, 2, H, W]`` and ``boxes`` ``[N, 2, 4]`` as
    ``(row0, col0, row1, col1)`` inclusive-exclusive. ``ds[i]`` returns
    ``(image, labels[i])``.

    ``difficulty="standard"`` (default) adds the clutter of :func:`flowers`
    (textures, 0-2 distractors, an occluder over each flower's centre in about
    a third of the cases, photometric jitter, noise); ``visible`` is then
    ``[N, 2]`` and ``occluder_masks`` ``[N, H, W]`` (both occluders).
    ``"easy"`` is xnb 0.1's generator, bit for bit.
    """
    n = _check_int("n", n, 1)
    difficulty = _check_choice("difficulty", difficulty, DIFFICULTIES)
    size = _check_int("size", size, MIN_SCENE_SIZE,
                      " (the smallest image in which two flowers fit)")
    seed = _check_seed(seed)
    rng = np.random.default_rng(seed)
    class_names, _, class_color = _class_table("single")

    la = _balanced_labels(rng, n, 6)
    lb = (la + rng.integers(1, 6, n)) % 6
    labels = np.stack([la, lb], 1)

    geoms, colors = [], []
    for j in range(2):
        group_idx = np.stack([
            _cidx(class_color)[labels[:, j]],
            _cidx(PETAL_COLORS)[rng.integers(0, len(PETAL_COLORS), n)],
            _cidx(GREEN_COLORS)[rng.integers(0, len(GREEN_COLORS), n)],
            _cidx(GREEN_COLORS)[rng.integers(0, len(GREEN_COLORS), n)]], 1)
        colors.append(_jittered(rng, group_idx))
        geoms.append(_sample_geometry(rng, n, 64.0))

    # place: resample positions until the two flowers' boxes are disjoint
    gap = 2.0
    pos = [list(_place(rng, g["extent"], size, _MARGIN)) for g in geoms]
    todo = np.ones(n, bool)
    for attempt in range(1000):
        ext = [geoms[j]["extent"] + np.array([pos[j][0], pos[j][0], pos[j][1],
                                              pos[j][1]]) for j in range(2)]
        apart = ((ext[0][1] + gap < ext[1][0]) | (ext[1][1] + gap < ext[0][0])
                 | (ext[0][3] + gap < ext[1][2]) | (ext[1][3] + gap < ext[0][2]))
        todo = ~apart
        if not todo.any():
            break
        movers = [1] if attempt % 4 else [0, 1]
        for j in movers:
            r, c = _place(rng, geoms[j]["extent"][:, todo], size, _MARGIN)
            pos[j][0][todo], pos[j][1][todo] = r, c
    else:  # pragma: no cover
        raise RuntimeError("could not place two flowers without overlap")
    for j in range(2):
        geoms[j]["cy"], geoms[j]["cx"] = pos[j]

    bg = _sample_background(rng, n, size)
    standard = difficulty == "standard"
    if standard:
        rng2 = np.random.default_rng([seed, 2])
        clutter = [_sample_clutter(rng2, n, size), _sample_clutter(rng2, n, size)]
        for j in range(2):  # hue shift of everything but the centre discs
            shifted = _hue_rotate(colors[j], clutter[0]["hue"])
            colors[j] = np.concatenate([colors[j][:, :1], shifted[:, 1:]], 1)
        for key in ("c0", "c1", "c2"):
            bg[key] = _hue_rotate(bg[key], clutter[0]["hue"])
    images = np.empty((n, 3, size, size), np.float32)
    masks = np.empty((n, 2, size, size), bool)
    flower_masks = np.empty((n, 2, size, size), bool)
    occluder_masks = np.zeros((n, size, size), bool)
    visible = np.ones((n, 2), np.float32)
    for sl in _chunks(n, size, size):
        canvas = _render_background(_slice_rows(bg, sl), size, size)
        if standard:
            canvas += _texture(clutter[0], sl, size, size)
            np.clip(canvas, 0.0, 1.0, out=canvas)
            _draw_distractors(canvas, clutter[0], sl, rng2, 64.0)
        for j in range(2):
            pm, _ = _render_flowers(canvas, _slice_geom(geoms[j], sl), colors[j][sl])
            masks[sl, j] = pm[:, 0]
            flower_masks[sl, j] = pm.any(1)
        if standard:
            full = np.maximum(masks[sl].sum((2, 3)), 1)
            for j in range(2):
                occluder_masks[sl] |= _occlude(canvas, masks[sl, j], clutter[j], sl)
            masks[sl] &= ~occluder_masks[sl][:, None]
            visible[sl] = masks[sl].sum((2, 3)) / full
            _photometric(canvas, clutter[0], sl, rng2)
        else:
            canvas += rng.standard_normal(canvas.shape, dtype=np.float32) * np.float32(0.02)
            np.clip(canvas, 0.0, 1.0, out=canvas)
        images[sl] = canvas
    boxes = np.stack([_boxes_from_masks(flower_masks[:, j]) for j in range(2)], 1)
    meta = {
        "generator": "xnb.data.flower_scenes", "variant": "single",
        "n": n, "size": size, "seed": seed, "difficulty": difficulty,
        "discriminative_part": ["center"] * 6, "class_color": class_color,
        "class_colors": dict(CLASS_COLORS),
        "box_format": "(row0, col0, row1, col1), inclusive-exclusive",
    }
    return ImageSet(
        images=torch.from_numpy(images),
        labels=torch.from_numpy(labels.astype(np.int64)),
        class_names=class_names,
        masks=torch.from_numpy(masks),
        boxes=torch.from_numpy(boxes),
        flower_masks=torch.from_numpy(flower_masks),
        visible=torch.from_numpy(visible) if standard else None,
        occluder_masks=torch.from_numpy(occluder_masks) if standard else None,
        name="flower-scenes",
        meta=meta,
    )


# --------------------------------------------------------------------------
# scikit-learn bundled data
# --------------------------------------------------------------------------

def _resize_crop(x: torch.Tensor, size: int) -> torch.Tensor:
    """[N,C,H,W] float -> shorter side to ``size`` (bilinear, antialiased),
    then a centre crop to size x size."""
    h, w = x.shape[-2:]
    if (h, w) == (size, size):
        return x
    scale = size / min(h, w)
    nh, nw = max(size, round(h * scale)), max(size, round(w * scale))
    x = F.interpolate(x, size=(nh, nw), mode="bilinear", align_corners=False,
                      antialias=(nh < h or nw < w))
    top, left = (nh - size) // 2, (nw - size) // 2
    return x[..., top:top + size, left:left + size].clamp(0.0, 1.0).contiguous()


def digits(split: str = "all", size: int = 32, seed: int = 0,
           test_fraction: float = 0.25) -> ImageSet:
    """scikit-learn's bundled handwritten digits (1,797 images, offline).

    The 8x8 images (values 0..16) are scaled to [0, 1] and upsampled to
    ``size x size`` with bilinear interpolation (1 channel). ``masks`` are the
    stroke pixels, defined as intensity > 0.5 after scaling and upsampling;
    ``boxes`` are the tight boxes of the stroke (``(row0, col0, row1, col1)``,
    inclusive-exclusive). ``split`` is ``"all"`` (original order) or
    ``"train"``/``"test"``: a stratified split by ``seed`` that puts
    ``round(test_fraction * count)`` images of each class in the test split.
    """
    split = _check_choice("split", split, ("train", "test", "all"))
    size = _check_int("size", size, 8, " (the digits are 8x8)")
    seed = _check_seed(seed)
    if (isinstance(test_fraction, bool) or not isinstance(test_fraction, numbers.Real)
            or not 0.0 < float(test_fraction) < 1.0):
        raise ValueError(f"test_fraction must be a number in the open interval "
                         f"(0, 1), got {test_fraction!r}")
    from sklearn.datasets import load_digits

    data = load_digits()
    x = torch.from_numpy(data.images.astype(np.float32) / 16.0)[:, None]
    y = data.target.astype(np.int64)
    if split != "all":
        rng = np.random.default_rng(seed)
        test = np.zeros(len(y), bool)
        for k in range(10):
            idx = np.flatnonzero(y == k)
            take = int(round(float(test_fraction) * len(idx)))
            test[rng.permutation(idx)[:take]] = True
        keep = np.flatnonzero(test if split == "test" else ~test)
    else:
        keep = np.arange(len(y))
    x = x[torch.from_numpy(keep)]
    if size != 8:
        x = F.interpolate(x, size=(size, size), mode="bilinear", align_corners=False)
    x = x.clamp(0.0, 1.0).contiguous()
    masks = x[:, 0] > 0.5
    return ImageSet(
        images=x, labels=torch.from_numpy(y[keep]),
        class_names=[str(k) for k in range(10)],
        masks=masks,
        boxes=torch.from_numpy(_boxes_from_masks(masks.numpy())),
        name=f"digits-{split}",
        meta={"generator": "xnb.data.digits", "split": split, "size": size,
              "seed": seed, "test_fraction": float(test_fraction),
              "source_indices": keep,
              "mask_rule": "intensity > 0.5 after scaling to [0,1] and upsampling",
              "box_format": "(row0, col0, row1, col1), inclusive-exclusive"},
    )


def sample_photos(size: int = 224) -> ImageSet:
    """scikit-learn's two bundled photos (china.jpg, flower.jpg).

    3 channels in [0, 1]; the shorter side is resized to ``size`` and the
    centre ``size x size`` is cropped. Labels are ``-1`` (unknown) and
    ``class_names`` is empty; ``meta["file_names"]`` gives the file names.
    """
    size = _check_int("size", size, 8)
    import os
    from sklearn.datasets import load_sample_images

    data = load_sample_images()
    out = []
    for img in data.images:
        t = torch.from_numpy(np.array(img, dtype=np.uint8)).permute(2, 0, 1)[None]
        out.append(_resize_crop(t.float() / 255.0, size))
    names = [os.path.basename(f) for f in data.filenames]
    return ImageSet(
        images=torch.cat(out), labels=torch.full((len(out),), -1, dtype=torch.long),
        class_names=[], name="sample-photos",
        meta={"generator": "xnb.data.sample_photos", "size": size,
              "file_names": names},
    )


# --------------------------------------------------------------------------
# torchvision adapters
# --------------------------------------------------------------------------

def _to_chw(img) -> torch.Tensor:
    """PIL image, numpy array or tensor -> float [C,H,W] in [0, 1]."""
    if isinstance(img, torch.Tensor):
        t = img
    else:
        try:
            from PIL import Image
        except ImportError:  # pragma: no cover
            Image = None
        if Image is not None and isinstance(img, Image.Image):
            if img.mode not in ("L", "RGB"):
                img = img.convert("RGB")
            t = torch.from_numpy(np.array(img))
            t = t[None] if t.dim() == 2 else t.permute(2, 0, 1)
        elif isinstance(img, np.ndarray):
            t = torch.from_numpy(np.ascontiguousarray(img))
            if t.dim() == 3 and t.shape[-1] in (1, 3, 4) and t.shape[0] not in (1, 3):
                t = t.permute(2, 0, 1)
        else:
            raise TypeError(f"dataset items must be (image, label) with a PIL "
                            f"image, numpy array or tensor; got {type(img).__name__}")
    if t.dim() == 2:
        t = t[None]
    if t.dim() != 3:
        raise ValueError(f"images must be 2-D or [C,H,W], got shape {tuple(t.shape)}")
    if t.dtype == torch.uint8:
        t = t.float() / 255.0
    else:
        t = t.float()
        if t.numel() and (t.min() < -1e-6 or t.max() > 1 + 1e-6):
            raise ValueError("image values must lie in [0, 1]; remove any "
                             "normalisation transform from the dataset")
    if t.shape[0] == 4:
        t = t[:3]
    return t.clamp(0.0, 1.0)


def _class_names_of(dataset, labels: np.ndarray) -> list:
    d = dataset
    for _ in range(4):  # unwrap torch.utils.data.Subset and similar
        classes = getattr(d, "classes", None)
        if classes is not None:
            return [str(c) for c in classes]
        d = getattr(d, "dataset", None)
        if d is None:
            break
    top = int(labels.max()) + 1 if labels.size else 0
    return [str(k) for k in range(top)]


def from_torchvision(dataset, n: Optional[int] = None, size: Optional[int] = None,
                     seed: Optional[int] = None, indices=None) -> ImageSet:
    """Convert a torchvision-style dataset (items ``(image, int label)``) into
    an :class:`ImageSet`.

    Images may be PIL images, numpy arrays or tensors; they are converted to
    float in [0, 1] (uint8 / 255). With ``size``, each image is resized so its
    shorter side is ``size`` and centre-cropped to ``size x size`` (square
    images are simply resized). Without ``size`` all images must share one
    shape. ``n``: take the first ``n`` items (all when None or when the dataset
    is shorter); with an integer ``seed``, take a random sample of ``n`` items
    instead (kept in index order). ``indices``: exactly these items, in this
    order (instead of ``n``/``seed``). Class names come from ``dataset.classes``
    when present.
    """
    if not hasattr(dataset, "__getitem__") or not hasattr(dataset, "__len__"):
        raise TypeError("dataset must be a map-style dataset with __len__ and "
                        "__getitem__ returning (image, label)")
    total = len(dataset)
    if total == 0:
        raise ValueError("dataset is empty")
    count = total if n is None else min(_check_int("n", n, 1), total)
    if size is not None:
        size = _check_int("size", size, 1)
    if indices is not None:
        if n is not None or seed is not None:
            raise ValueError("indices: give either indices= or n=/seed=, not both")
        index = np.asarray(indices)
        if index.ndim != 1 or index.size == 0 or not np.issubdtype(index.dtype, np.integer):
            raise ValueError("indices: expected a non-empty 1-D sequence of item indices (ints)")
        if index.min() < 0 or index.max() >= total:
            raise ValueError(f"indices: out of range for a dataset of {total} items")
    elif seed is None:
        index = np.arange(count)
    else:
        index = np.sort(np.random.default_rng(_check_seed(seed))
                        .permutation(total)[:count])
    images, labels = [], []
    for i in index:
        item = dataset[int(i)]
        if not isinstance(item, (tuple, list)) or len(item) < 2:
            raise TypeError("dataset items must be (image, label) pairs")
        t = _to_chw(item[0])
        if size is not None:
            t = _resize_crop(t[None], size)[0]
        images.append(t)
        labels.append(int(item[1]))
    shapes = {tuple(t.shape) for t in images}
    if len(shapes) > 1:
        chans = {s[0] for s in shapes}
        if len(chans) > 1:  # mixed grey / colour: promote to RGB
            images = [t.expand(3, -1, -1) if t.shape[0] == 1 else t for t in images]
            shapes = {tuple(t.shape) for t in images}
        if len(shapes) > 1:
            raise ValueError(f"images have different shapes {sorted(shapes)[:3]}...; "
                             f"pass size=... to resize them to one size")
    labels_np = np.asarray(labels, dtype=np.int64)
    root = getattr(dataset, "root", None)
    return ImageSet(
        images=torch.stack(images).contiguous(),
        labels=torch.from_numpy(labels_np),
        class_names=_class_names_of(dataset, labels_np),
        name=type(dataset).__name__,
        meta={"generator": "xnb.data.from_torchvision",
              "source": type(dataset).__name__,
              "root": None if root is None else str(root),
              "size": size, "source_indices": index},
    )


_NO_DOWNLOAD = ("xnb never downloads anything at run time: fetch the files once "
                "on a machine with internet access (e.g. with torchvision's "
                "download=True) and copy them there.")


def mnist(root, train: bool = True, n: Optional[int] = None, size: int = 32) -> ImageSet:
    """MNIST from ``root`` (torchvision layout ``root/MNIST/raw/*-ubyte``),
    1 channel, resized to ``size x size``; the first ``n`` items."""
    from torchvision.datasets import MNIST

    if n is not None:
        _check_int("n", n, 1)
    size = _check_int("size", size, 8)
    try:
        ds = MNIST(str(root), train=bool(train), download=False)
    except (RuntimeError, FileNotFoundError, OSError) as err:
        raise FileNotFoundError(
            f"MNIST files not found under {root!s}: expected "
            f"{root!s}/MNIST/raw/train-images-idx3-ubyte, train-labels-idx1-ubyte, "
            f"t10k-images-idx3-ubyte and t10k-labels-idx1-ubyte (optionally .gz). "
            + _NO_DOWNLOAD) from err
    out = from_torchvision(ds, n=n, size=size)
    out.name = "mnist-" + ("train" if train else "test")
    return out


def cifar10(root, train: bool = True, n: Optional[int] = None) -> ImageSet:
    """CIFAR-10 from ``root`` (torchvision layout ``root/cifar-10-batches-py``),
    3 x 32 x 32; the first ``n`` items."""
    from torchvision.datasets import CIFAR10

    if n is not None:
        _check_int("n", n, 1)
    try:
        ds = CIFAR10(str(root), train=bool(train), download=False)
    except (RuntimeError, FileNotFoundError, OSError) as err:
        raise FileNotFoundError(
            f"CIFAR-10 files not found under {root!s}: expected the extracted "
            f"python version in {root!s}/cifar-10-batches-py (data_batch_1..5, "
            f"test_batch, batches.meta). " + _NO_DOWNLOAD) from err
    out = from_torchvision(ds, n=n)
    out.name = "cifar10-" + ("train" if train else "test")
    return out


def image_folder(root, n: Optional[int] = None, size: int = 224, seed: int = 0) -> ImageSet:
    """Images in ``root/<class name>/<image file>`` (torchvision ImageFolder),
    converted to RGB, resized (shorter side) and centre-cropped to
    ``size x size``. All of them, or with ``n`` a sample stratified by class:
    the classes take turns (each its own random order, drawn from ``seed``)
    until ``n`` images are taken, so 10 images of 5 classes are 2 per class;
    the sample is returned grouped by class, in folder order."""
    from torchvision.datasets import ImageFolder

    if n is not None:
        _check_int("n", n, 1)
    seed = _check_seed(seed)
    size = _check_int("size", size, 8)
    try:
        ds = ImageFolder(str(root))
    except (RuntimeError, FileNotFoundError, OSError) as err:
        raise FileNotFoundError(
            f"no image folder data set under {root!s}: expected one sub-folder "
            f"per class holding image files (e.g. {root!s}/cat/001.png). "
            + _NO_DOWNLOAD) from err
    if n is None or n >= len(ds):
        out = from_torchvision(ds, size=size)
    else:
        rng = np.random.default_rng(seed)
        targets = np.asarray(ds.targets)
        pools = [list(rng.permutation(np.flatnonzero(targets == c))) for c in np.unique(targets)]
        taken: list = []
        while len(taken) < n:  # round robin over the classes that still have images
            for pool in pools:
                if pool and len(taken) < n:
                    taken.append(int(pool.pop(0)))
        out = from_torchvision(ds, size=size, indices=np.sort(np.asarray(taken)))
    out.name = "image-folder"
    return out


#: The "warmth" of a flower, additive by construction: a known weighted sum of part×colour attributes
#: (the additive-explainer notebook checks learned contributions against these true ones).
WARMTH_WEIGHTS: dict = {
    "center:red": 1.0, "center:orange": 0.8, "center:yellow": 0.6,
    "leaves:red": 0.5, "leaves:orange": 0.4, "leaves:yellow": 0.3,
    "petals:cream": 0.2, "petals:pale_pink": 0.1,
}


def warmth(dataset) -> tuple:
    """(scores [N], true contributions [N, K]) of the warmth score ``Σ_k ω_k · concept_k``
    (:data:`WARMTH_WEIGHTS`) for a :func:`flowers` set: contribution k is ω_k · concept_k(image)."""
    names = getattr(dataset, "concept_names", None)
    concepts = getattr(dataset, "concepts", None)
    if names is None or concepts is None:
        raise TypeError("dataset: expected a flowers() ImageSet (with concepts and concept_names)")
    w = torch.tensor([WARMTH_WEIGHTS.get(n, 0.0) for n in names], dtype=torch.float32)
    contrib = concepts * w
    return contrib.sum(1), contrib
