"""Flowers with a *shortcut*: a corner mark whose colour predicts the class in training but not at test time."""

from __future__ import annotations

import numbers

import numpy as np
import torch

from .._check import must_be_choice as _check_choice, must_be_int as _check_int, must_be_seed as _check_seed
from .flowerset import flowers
from .palette import DIFFICULTIES, MIN_FLOWER_SIZE

#: One mark colour per class of ``flowers(variant="single")`` (class k's code is the k-th colour), none of
#: them a class colour: a model that reads the mark learns something the flower does not say.
SHORTCUT_COLORS = {
    "black": (0.02, 0.02, 0.02),
    "white": (1.00, 1.00, 1.00),
    "pink": (1.00, 0.45, 0.75),
    "lime": (0.60, 1.00, 0.20),
    "brown": (0.45, 0.25, 0.10),
    "grey": (0.50, 0.50, 0.50),
}
#: Side of the square mark as a fraction of the image side (6 px at 64 px).
SHORTCUT_SIDE = 0.1


def shortcut_flowers(n: int, agreement: float | None = 1.0, size: int = 64, seed: int = 0,
                     difficulty: str = "standard"):
    """``flowers(n, "single", size, seed, difficulty)`` with a coloured square in the top-left corner.

    The class is still the colour of the centre disc. The mark's colour is a *code*
    (:data:`SHORTCUT_COLORS`, one per class): with probability ``agreement`` it is the code of the image's
    own class, otherwise the code of one of the other classes, drawn uniformly. A model trained at
    ``agreement=1.0`` can classify from the mark alone -- a shortcut, since the mark is always visible
    while the disc is occluded in about a third of the images. At ``agreement=1/6`` the mark is
    independent of the class (a test set where the shortcut does not pay); ``agreement=None`` draws no
    mark.

    Returns the :func:`flowers` :class:`ImageSet` (same flowers, bit for bit, outside the mark) with

    - ``shortcut_masks`` : bool ``[N, H, W]``, the mark's pixels (all False when there is none);
    - ``shortcut_labels`` : long ``[N]``, the class the mark's colour codes (-1 when there is none);
    - ``masks`` / ``part_masks`` without the mark's pixels (the mark is drawn over whatever is there);
    - ``meta["agreement"]``, ``meta["shortcut_colors"]``, ``meta["shortcut_box"]`` ``(row0, col0, row1,
      col1)``.
    """
    n = _check_int("n", n, 1)
    size = _check_int("size", size, MIN_FLOWER_SIZE, " (the smallest image in which a flower can be drawn)")
    seed = _check_seed(seed)
    difficulty = _check_choice("difficulty", difficulty, DIFFICULTIES)
    if agreement is not None:
        if isinstance(agreement, bool) or not isinstance(agreement, numbers.Real):
            raise TypeError(f"agreement: expected a probability in [0, 1] or None, got {agreement!r}")
        agreement = float(agreement)
        if not 0.0 <= agreement <= 1.0:  # also rejects NaN
            raise ValueError(f"agreement: expected a probability in [0, 1] or None, got {agreement!r}")

    ds = flowers(n, variant="single", size=size, seed=seed, difficulty=difficulty)
    side = max(3, int(round(SHORTCUT_SIDE * size)))
    r0 = c0 = 1
    box = (r0, c0, r0 + side, c0 + side)
    mark = torch.zeros(n, size, size, dtype=torch.bool)
    codes = torch.full((n,), -1, dtype=torch.long)
    if agreement is not None:
        # its own stream, so that the flowers stay those of flowers(seed=seed)
        rng = np.random.default_rng([seed, 2])
        k = ds.n_classes
        labels = ds.labels.numpy()
        other = (labels + rng.integers(1, k, n)) % k          # uniform over the other k - 1 classes
        agree = rng.random(n) < agreement
        codes = torch.from_numpy(np.where(agree, labels, other).astype(np.int64))
        table = torch.tensor(list(SHORTCUT_COLORS.values()), dtype=torch.float32)
        mark[:, box[0]:box[2], box[1]:box[3]] = True
        ds.images[:, :, box[0]:box[2], box[1]:box[3]] = table[codes][:, :, None, None]
        ds.masks &= ~mark
        ds.part_masks &= ~mark[:, None]
    ds.shortcut_masks = mark
    ds.shortcut_labels = codes
    ds.name = "flowers-shortcut"
    ds.meta.update(generator="xnb.data.shortcut_flowers", agreement=agreement,
                   shortcut_colors=dict(SHORTCUT_COLORS), shortcut_box=box if agreement is not None else None)
    return ds
