"""Drawing the procedural flowers: geometry, rendering, backgrounds and the clutter of
``difficulty="standard"`` (textures, distractors, occluders, photometric jitter). All private."""

from __future__ import annotations

import math
from typing import Optional

import numpy as np
import torch
import torch.nn.functional as F

from .palette import CLASS_COLORS, GREEN_COLORS, PETAL_COLORS, _COLOR_TABLE, _cidx

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
