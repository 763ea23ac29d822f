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
``shortcut_flowers(n, agreement, size, seed)``
    Single-variant flowers with a corner mark whose colour codes the class
    with probability ``agreement`` (a shortcut in training, noise at test).
``digits(split, size, seed, test_fraction)``
    scikit-learn's bundled 8x8 handwritten digits, upsampled.
``sample_photos(size)``
    scikit-learn's two bundled photos (china.jpg, flower.jpg).
``from_torchvision(dataset, ...)``, ``mnist``, ``cifar10``, ``image_folder``
    Adapters for torchvision data sets that are already on disk.

All of them return an :class:`ImageSet`.

The package's modules: ``imageset`` (:class:`ImageSet`), ``palette`` (colours and vocabularies),
``render`` (drawing the flowers and the clutter of ``difficulty="standard"``),
``flowerset`` (:func:`flowers`, :func:`warmth`), ``scenes``
(:func:`flower_scenes`), ``shortcut`` (:func:`shortcut_flowers`), ``sklearn_sets`` (:func:`digits`,
:func:`sample_photos`), ``torchvision_sets`` (:func:`from_torchvision`,
:func:`mnist`, :func:`cifar10`, :func:`image_folder`). Everything is
re-exported here: use ``xnb.data.<name>``.
"""

from __future__ import annotations

from .._check import is_int as _is_int, must_be_choice as _check_choice, must_be_int as _check_int
from .._check import must_be_seed as _check_seed

# in the order of the old single module (the API page lists them in this order)
from .imageset import ImageSet
from .palette import (CLASS_COLORS, PETAL_COLORS, GREEN_COLORS, NEUTRAL_COLORS, FLOWER_VARIANTS, DIFFICULTIES,
                      FLOWER_PARTS, MIN_FLOWER_SIZE, MIN_SCENE_SIZE)
from .render import _boxes_from_masks, OCCLUDED_FRACTION
from .flowerset import flowers
from .scenes import flower_scenes
from .sklearn_sets import _resize_crop, digits, sample_photos
from .torchvision_sets import _to_chw, from_torchvision, _NO_DOWNLOAD, mnist, cifar10, image_folder
from .flowerset import WARMTH_WEIGHTS, warmth
from .shortcut import SHORTCUT_COLORS, shortcut_flowers

__all__ = [
    "ImageSet",
    "flowers",
    "warmth",
    "WARMTH_WEIGHTS",
    "flower_scenes",
    "shortcut_flowers",
    "SHORTCUT_COLORS",
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

