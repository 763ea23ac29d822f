"""Colours and vocabularies of the procedural flowers (class colours, palettes, parts, sizes)."""

from __future__ import annotations

import numpy as np

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
