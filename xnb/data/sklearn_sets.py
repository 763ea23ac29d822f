"""scikit-learn's bundled data: the 8x8 handwritten digits and the two sample photos (offline)."""

from __future__ import annotations

import numbers

import numpy as np
import torch
import torch.nn.functional as F

from .._check import must_be_choice as _check_choice, must_be_int as _check_int, must_be_seed as _check_seed
from .imageset import ImageSet
from .render import _boxes_from_masks


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
