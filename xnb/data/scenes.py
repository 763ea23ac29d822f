"""Two-flower scenes (:func:`flower_scenes`) for multi-object checks."""

from __future__ import annotations

import numpy as np
import torch

from .._check import must_be_choice as _check_choice, must_be_int as _check_int, must_be_seed as _check_seed
from .imageset import ImageSet
from .palette import CLASS_COLORS, DIFFICULTIES, GREEN_COLORS, MIN_SCENE_SIZE, PETAL_COLORS, _cidx, _class_table
from .render import (_MARGIN, _balanced_labels, _boxes_from_masks, _chunks, _draw_distractors, _hue_rotate,
                     _jittered, _occlude, _photometric, _place, _render_background, _render_flowers,
                     _sample_background, _sample_clutter, _sample_geometry, _slice_geom, _slice_rows, _texture)


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
