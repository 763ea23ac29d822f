"""The procedural flowers data set (an8Flower-style) and its additive "warmth" score."""

from __future__ import annotations

import numpy as np
import torch

from .._check import must_be_choice as _check_choice, must_be_int as _check_int, must_be_seed as _check_seed
from .imageset import ImageSet
from .palette import (CLASS_COLORS, DIFFICULTIES, FLOWER_PARTS, FLOWER_VARIANTS, GREEN_COLORS, MIN_FLOWER_SIZE,
                      NEUTRAL_COLORS, PETAL_COLORS, _ALL_COLORS, _COLOR_GROUPS, _COLOR_NAMES, _cidx,
                      _class_table, _group_palettes)
from .render import (_MARGIN, _balanced_labels, _boxes_from_masks, _chunks, _draw_distractors, _hue_rotate,
                     _jittered, _occlude, _photometric, _place, _render_background, _render_flowers,
                     _sample_background, _sample_clutter, _sample_geometry, _slice_geom, _slice_rows, _texture)


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
