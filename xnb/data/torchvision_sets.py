"""Adapters for torchvision-style data sets already on disk (nothing is ever downloaded)."""

from __future__ import annotations

from typing import Optional

import numpy as np
import torch

from .._check import must_be_int as _check_int, must_be_seed as _check_seed
from .imageset import ImageSet
from .sklearn_sets import _resize_crop


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
