"""The :class:`ImageSet` container returned by every loader of :mod:`xnb.data`."""

from __future__ import annotations

import numbers
from dataclasses import dataclass, field, fields
from typing import Optional

import numpy as np
import torch
from torch.utils.data import Dataset

# --------------------------------------------------------------------------
# Container
# --------------------------------------------------------------------------

#: Fields of :class:`ImageSet` that hold one entry per item (first dim = N).
_PER_ITEM = ("images", "labels", "masks", "part_masks", "keypoints", "boxes",
             "concepts", "flower_masks", "visible", "occluder_masks", "shortcut_masks", "shortcut_labels")


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
    shortcut_masks : bool ``[N, H, W]`` -- the pixels of a spurious cue (the
        corner mark of :func:`~xnb.data.shortcut_flowers`; all False where
        there is none).
    shortcut_labels : long ``[N]`` -- the class the spurious cue signals
        (``-1`` where there is none).
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
    shortcut_masks: Optional[torch.Tensor] = None
    shortcut_labels: Optional[torch.Tensor] = None
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
                    "flower_masks", "visible", "occluder_masks", "shortcut_masks"):
            value = getattr(self, key)
            if value is not None:
                parts.append(f"{key}={tuple(value.shape)}")
        return f"ImageSet({', '.join(parts)})"
