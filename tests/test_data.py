"""Tests for xnb.data: embedded offline datasets."""

import numpy as np
import pytest
import torch
from torch.utils.data import DataLoader

from xnb import data

CLASS_RGB = torch.tensor(list(data.CLASS_COLORS.values()))
ALL_RGB = {**data.CLASS_COLORS, **data.PETAL_COLORS, **data.GREEN_COLORS,
           **data.NEUTRAL_COLORS}
TENSOR_FIELDS = ("images", "labels", "masks", "part_masks", "keypoints", "boxes",
                 "concepts", "flower_masks")


@pytest.fixture(scope="module")
def single():
    return data.flowers(240, variant="single", size=64, seed=11, difficulty="easy")


@pytest.fixture(scope="module")
def double():
    return data.flowers(240, variant="double", size=64, seed=12, difficulty="easy")


@pytest.fixture(scope="module")
def scenes():
    return data.flower_scenes(40, size=128, seed=13, difficulty="easy")


def masked_mean(images, mask):
    """Mean colour [N,3] of images [N,3,H,W] over bool masks [N,H,W]."""
    m = mask[:, None].float()
    return (images * m).sum((2, 3)) / m.sum((2, 3)).clamp(min=1)


def nearest_class(rgb):
    return (rgb[:, None] - CLASS_RGB[None]).norm(dim=2).argmin(1)


def dilate(mask, r=1):
    """Binary dilation of [..., H, W] bool masks with a (2r+1)^2 square."""
    x = mask.float().reshape(-1, 1, *mask.shape[-2:])
    x = torch.nn.functional.max_pool2d(x, 2 * r + 1, stride=1, padding=r)
    return x.reshape(mask.shape) > 0


# --------------------------------------------------------------------------
# determinism
# --------------------------------------------------------------------------

@pytest.mark.parametrize("variant", ["single", "double"])
def test_flowers_deterministic_by_seed(variant):
    a = data.flowers(30, variant=variant, seed=3)
    b = data.flowers(30, variant=variant, seed=3)
    c = data.flowers(30, variant=variant, seed=4)
    for key in TENSOR_FIELDS:
        assert torch.equal(getattr(a, key), getattr(b, key)), key
    assert not torch.equal(a.images, c.images)
    assert not torch.equal(a.masks, c.masks)
    assert a.concept_names == c.concept_names


def test_generators_do_not_touch_global_rng():
    np.random.seed(0)
    torch.manual_seed(0)
    expected = (np.random.random(), torch.rand(1))
    np.random.seed(0)
    torch.manual_seed(0)
    data.flowers(5, seed=1)
    data.flower_scenes(2, seed=1)
    data.digits("train", seed=1)
    assert np.random.random() == expected[0]
    assert torch.equal(torch.rand(1), expected[1])


def test_numpy_integer_seed_is_accepted():
    a = data.flowers(4, seed=np.int64(7))
    b = data.flowers(4, seed=7)
    assert torch.equal(a.images, b.images)


def test_scenes_deterministic_by_seed():
    a = data.flower_scenes(6, seed=1)
    b = data.flower_scenes(6, seed=1)
    c = data.flower_scenes(6, seed=2)
    for key in ("images", "labels", "masks", "boxes", "flower_masks"):
        assert torch.equal(getattr(a, key), getattr(b, key)), key
    assert not torch.equal(a.images, c.images)


# --------------------------------------------------------------------------
# flowers: shapes, dtypes, ranges
# --------------------------------------------------------------------------

@pytest.mark.parametrize("fixture,k", [("single", 6), ("double", 12)])
def test_flowers_fields(fixture, k, request):
    ds = request.getfixturevalue(fixture)
    n, H = 240, 64
    assert len(ds) == n and ds.n_classes == k and len(ds.class_names) == k
    assert ds.images.shape == (n, 3, H, H) and ds.images.dtype == torch.float32
    assert ds.images.min() >= 0 and ds.images.max() <= 1
    assert ds.labels.shape == (n,) and ds.labels.dtype == torch.long
    assert ds.labels.min() >= 0 and ds.labels.max() < k
    # balanced
    assert torch.bincount(ds.labels, minlength=k).tolist() == [n // k] * k
    assert ds.masks.shape == (n, H, H) and ds.masks.dtype == torch.bool
    assert ds.part_names == ["center", "petals", "stem", "leaf_left", "leaf_right"]
    assert ds.part_masks.shape == (n, 5, H, H) and ds.part_masks.dtype == torch.bool
    assert ds.keypoints.shape == (n, 5, 2) and ds.keypoints.dtype == torch.float32
    assert ds.boxes.shape == (n, 4) and ds.boxes.dtype == torch.float32
    assert ds.flower_masks.shape == (n, H, H) and ds.flower_masks.dtype == torch.bool
    K = len(ds.concept_names)
    assert ds.concepts.shape == (n, K) and ds.concepts.dtype == torch.float32
    assert set(ds.concepts.unique().tolist()) == {0.0, 1.0}
    assert len(ds.meta["concept_groups"]) == K
    assert ds.meta["variant"] == fixture and ds.meta["seed"] in (11, 12)
    assert len(ds.meta["discriminative_part"]) == k
    # every part is visible in every image
    assert (ds.part_masks.sum((2, 3)) > 0).all()
    # the flower fits in the image with a margin
    assert (ds.boxes[:, :2] >= 1).all() and (ds.boxes[:, 2:] <= H - 1).all()


def test_flowers_other_sizes():
    for size in (32, 100):
        ds = data.flowers(8, size=size, seed=0, difficulty="easy")
        assert ds.images.shape == (8, 3, size, size)
        assert (ds.part_masks.sum((2, 3)) > 0).all()
        rc = ds.meta["size"]
        assert rc == size
    # centre disc radius >= 4 px at size 64: area >= pi * 4^2 (minus edge)
    ds = data.flowers(60, size=64, seed=5, difficulty="easy")
    assert ds.part_masks[:, 0].sum((1, 2)).min() >= 45


def test_flower_scale_is_within_spec(single):
    # flower (head) radius 0.22 .. 0.30 of size: the head alone (centre +
    # petals) spans about 2R in its wider direction
    head = single.part_masks[:, 0] | single.part_masks[:, 1]
    box = data._boxes_from_masks(head.numpy())
    extent = np.maximum(box[:, 2] - box[:, 0], box[:, 3] - box[:, 1])
    assert extent.min() >= 2 * 0.21 * 64 - 2 and extent.max() <= 2 * 0.30 * 64 + 2


# --------------------------------------------------------------------------
# masks, parts, keypoints, boxes
# --------------------------------------------------------------------------

@pytest.mark.parametrize("fixture", ["single", "double"])
def test_part_masks_disjoint_and_cover_flower(fixture, request):
    ds = request.getfixturevalue(fixture)
    count = ds.part_masks.sum(1)
    assert count.max() == 1
    assert torch.equal(count > 0, ds.flower_masks)
    # the discriminative mask is the union of the discriminative parts
    leaves = ds.part_masks[:, 3] | ds.part_masks[:, 4]
    leaf_cls = torch.tensor([ds.meta["discriminative_part"][y] == "leaves"
                             for y in ds.labels.tolist()])
    expected = torch.where(leaf_cls[:, None, None], leaves, ds.part_masks[:, 0])
    assert torch.equal(ds.masks, expected)


@pytest.mark.parametrize("fixture", ["single", "double"])
def test_keypoints_inside_their_parts(fixture, request):
    ds = request.getfixturevalue(fixture)
    near = dilate(ds.part_masks, 1)
    n, P = ds.keypoints.shape[:2]
    r = ds.keypoints[..., 0].round().long().clamp(0, 63)
    c = ds.keypoints[..., 1].round().long().clamp(0, 63)
    hit = near[torch.arange(n)[:, None], torch.arange(P)[None], r, c]
    assert hit.all(), hit.float().mean()
    # the petal keypoint is a petal above the centre, not the centre itself
    d = (ds.keypoints[:, 1] - ds.keypoints[:, 0]).norm(dim=1)
    assert d.min() > 4
    assert (ds.keypoints[:, 1, 0] < ds.keypoints[:, 0, 0]).all()
    # stem hangs below the centre (rotation at most ~30 degrees)
    assert (ds.keypoints[:, 2, 0] > ds.keypoints[:, 0, 0]).all()
    # the left leaf is left of the right leaf
    assert (ds.keypoints[:, 3, 1] < ds.keypoints[:, 4, 1]).all()


@pytest.mark.parametrize("fixture", ["single", "double"])
def test_boxes_tightly_contain_flower(fixture, request):
    ds = request.getfixturevalue(fixture)
    for i in range(0, len(ds), 7):
        r0, c0, r1, c1 = ds.boxes[i].long().tolist()
        fm = ds.flower_masks[i]
        assert fm[r0:r1, c0:c1].sum() == fm.sum()       # contains
        assert fm[r0].any() and fm[r1 - 1].any()         # tight
        assert fm[:, c0].any() and fm[:, c1 - 1].any()


# --------------------------------------------------------------------------
# colours: the class is the colour of the discriminative part
# --------------------------------------------------------------------------

@pytest.mark.parametrize("fixture", ["single", "double"])
def test_discriminative_mask_has_the_class_colour(fixture, request):
    ds = request.getfixturevalue(fixture)
    color = CLASS_RGB[ds.labels % 6]
    mean = masked_mean(ds.images, ds.masks)
    assert (mean - color).norm(dim=1).max() < 0.2
    # pixels of the class colour lie (essentially all) inside the mask
    close = (ds.images - color[:, :, None, None]).norm(dim=1) < 0.2
    inside = (close & ds.masks).sum((1, 2)).float()
    total = close.sum((1, 2)).float()
    assert (inside / total).min() >= 0.97
    assert (inside.sum() / total.sum()) >= 0.995
    # and they make up most of the mask
    assert inside.sum() / ds.masks.sum() > 0.7


@pytest.mark.parametrize("fixture", ["single", "double"])
def test_class_decided_by_discriminative_part_only(fixture, request):
    ds = request.getfixturevalue(fixture)
    colour_idx = ds.labels % 6
    # a nearest-class-colour classifier on the discriminative region: 100 %
    assert torch.equal(nearest_class(masked_mean(ds.images, ds.masks)), colour_idx)
    # ... while on other regions it is near chance (1/6)
    other = {
        "petals": ds.part_masks[:, 1],
        "stem": ds.part_masks[:, 2],
        "background": ~dilate(ds.flower_masks, 1),
    }
    if fixture == "single":
        other["leaves"] = ds.part_masks[:, 3] | ds.part_masks[:, 4]
    for name, m in other.items():
        acc = (nearest_class(masked_mean(ds.images, m)) == colour_idx).float().mean()
        assert acc < 0.35, (name, acc)
    # the label is a function of the discriminative part's colour concept and
    # the other groups' concepts carry no class information
    groups = np.array(ds.meta["concept_groups"])
    names = np.array(ds.concept_names)
    for g in ("petals", "stem"):
        cols = np.flatnonzero(groups == g)
        for j in cols:
            has = ds.concepts[:, j] > 0
            counts = torch.bincount(ds.labels[has], minlength=ds.n_classes)
            assert counts.max() < 0.5 * has.sum(), names[j]


def test_recoloring_the_discriminative_part_changes_the_prediction(single):
    # recolour the centre disc with another class colour: the colour rule
    # (which reaches 100 % on the real data) now gives the new class
    imgs = single.images[:24].clone()
    m = single.masks[:24]
    new = (single.labels[:24] + 2) % 6
    for i in range(24):
        imgs[i][:, m[i]] = CLASS_RGB[new[i]][:, None]
    assert torch.equal(nearest_class(masked_mean(imgs, m)), new)
    # whereas recolouring the petals leaves it unchanged
    imgs = single.images[:24].clone()
    pm = single.part_masks[:24, 1]
    for i in range(24):
        imgs[i][:, pm[i]] = CLASS_RGB[new[i]][:, None]
    assert torch.equal(nearest_class(masked_mean(imgs, m)), single.labels[:24] % 6)


@pytest.mark.parametrize("fixture", ["single", "double"])
def test_concepts_match_the_pixels(fixture, request):
    ds = request.getfixturevalue(fixture)
    groups = ds.meta["concept_groups"]
    part_of = {"center": [0], "petals": [1], "stem": [2], "leaves": [3, 4]}
    for g, parts in part_of.items():
        cols = [j for j, gg in enumerate(groups) if gg == g]
        # exactly one colour per group is on
        assert torch.equal(ds.concepts[:, cols].sum(1), torch.ones(len(ds)))
        which = ds.concepts[:, cols].argmax(1)
        palette = torch.tensor([ALL_RGB[ds.concept_names[j].split(":")[1]]
                                for j in cols])
        mask = ds.part_masks[:, parts].any(1)
        if g != "stem":  # ignore antialiased rims (the stem is too thin)
            mask = ~dilate(~mask, 1)
        mean = masked_mean(ds.images, mask)
        # the part's colour is the nearest palette colour to the concept's
        nearest = (mean[:, None] - palette[None]).norm(dim=2).argmin(1)
        acc = (nearest == which).float().mean()
        assert acc >= (0.9 if g == "stem" else 1.0), (g, acc)
        if g != "stem":
            assert (mean - palette[which]).norm(dim=1).max() < 0.2, g


def test_concept_vocabulary_is_fixed():
    a = data.flowers(3, seed=0)
    b = data.flowers(50, seed=9)
    assert a.concept_names == b.concept_names
    assert a.meta["concept_groups"] == b.meta["concept_groups"]
    assert a.concept_names == (
        [f"center:{c}" for c in data.CLASS_COLORS]
        + [f"petals:{c}" for c in data.PETAL_COLORS]
        + [f"stem:{c}" for c in data.GREEN_COLORS]
        + [f"leaves:{c}" for c in data.GREEN_COLORS])
    d1 = data.flowers(3, variant="double", seed=0)
    d2 = data.flowers(40, variant="double", seed=5)
    assert d1.concept_names == d2.concept_names
    assert "leaves:red" in d1.concept_names and "center:brown" in d1.concept_names
    assert "leaves:red" not in a.concept_names
    assert len(set(d1.concept_names)) == len(d1.concept_names)


def test_palettes_disjoint_from_class_colours():
    cls = CLASS_RGB
    for pal in (data.PETAL_COLORS, data.GREEN_COLORS, data.NEUTRAL_COLORS):
        other = torch.tensor(list(pal.values()))
        assert (other[:, None] - cls[None]).norm(dim=2).min() > 0.35
    d = (cls[:, None] - cls[None]).norm(dim=2) + 10 * torch.eye(6)
    assert d.min() > 0.35


def test_double_variant_classes(double):
    names = double.class_names
    assert names[:6] == [f"{c} center" for c in data.CLASS_COLORS]
    assert names[6:] == [f"{c} leaves" for c in data.CLASS_COLORS]
    # the same colour on two parts gives two different classes
    red_center, red_leaves = names.index("red center"), names.index("red leaves")
    assert red_center != red_leaves
    red = torch.tensor(data.CLASS_COLORS["red"])
    for y in (red_center, red_leaves):
        sel = double.labels == y
        assert sel.sum() > 0
        ctr = masked_mean(double.images[sel], double.part_masks[sel, 0])
        lvs = masked_mean(double.images[sel],
                          double.part_masks[sel, 3] | double.part_masks[sel, 4])
        near_ctr = (ctr - red).norm(dim=1) < 0.2
        near_lvs = (lvs - red).norm(dim=1) < 0.2
        if y == red_center:
            assert near_ctr.all() and not near_lvs.any()
        else:
            assert near_lvs.all() and not near_ctr.any()
    # leaf classes' masks cover both leaves, each of which has the colour
    leaf = double.labels >= 6
    for p in (3, 4):
        part = double.part_masks[leaf, p]
        assert torch.equal(part & double.masks[leaf], part)
        mean = masked_mean(double.images[leaf], part)
        assert torch.equal(nearest_class(mean), double.labels[leaf] % 6)
    # and do not include the centre
    assert not (double.masks[leaf] & double.part_masks[leaf, 0]).any()


# --------------------------------------------------------------------------
# scenes
# --------------------------------------------------------------------------

def test_scenes(scenes):
    n = 40
    assert scenes.images.shape == (n, 3, 128, 128)
    assert scenes.images.min() >= 0 and scenes.images.max() <= 1
    assert scenes.labels.shape == (n, 2) and scenes.labels.dtype == torch.long
    assert (scenes.labels[:, 0] != scenes.labels[:, 1]).all()
    assert scenes.masks.shape == (n, 2, 128, 128) and scenes.masks.dtype == torch.bool
    assert scenes.flower_masks.shape == (n, 2, 128, 128)
    assert scenes.boxes.shape == (n, 2, 4)
    assert scenes.class_names == data.flowers(1).class_names
    img, lab = scenes[3]
    assert img.shape == (3, 128, 128) and torch.equal(lab, scenes.labels[3])
    b = scenes.boxes
    overlap_r = torch.minimum(b[:, 0, 2], b[:, 1, 2]) > torch.maximum(b[:, 0, 0], b[:, 1, 0])
    overlap_c = torch.minimum(b[:, 0, 3], b[:, 1, 3]) > torch.maximum(b[:, 0, 1], b[:, 1, 1])
    assert not (overlap_r & overlap_c).any()
    assert not (scenes.flower_masks[:, 0] & scenes.flower_masks[:, 1]).any()
    for i in range(n):
        for j in range(2):
            r0, c0, r1, c1 = b[i, j].long().tolist()
            m = scenes.masks[i, j]
            assert m.sum() >= 45
            assert m[r0:r1, c0:c1].sum() == m.sum()
            assert torch.equal(m & scenes.flower_masks[i, j], m)
            fm = scenes.flower_masks[i, j]
            assert fm[r0:r1, c0:c1].sum() == fm.sum() and fm[r0].any() and fm[:, c0].any()
    # each flower's centre has its class colour
    for j in range(2):
        mean = masked_mean(scenes.images, scenes.masks[:, j])
        assert torch.equal(nearest_class(mean), scenes.labels[:, j])
    # flowers drawn at the pixel scale of a 64-px flower image
    head = scenes.flower_masks.sum((2, 3)).float()
    single = data.flowers(40, seed=1).flower_masks.sum((1, 2)).float()
    assert 0.7 < head.mean() / single.mean() < 1.4


def test_scenes_dataloader(scenes):
    x, y = next(iter(DataLoader(scenes, batch_size=4)))
    assert x.shape == (4, 3, 128, 128) and y.shape == (4, 2)


# --------------------------------------------------------------------------
# container
# --------------------------------------------------------------------------

def test_dataloader_over_flowers(single):
    loader = DataLoader(single, batch_size=8, shuffle=False)
    batches = list(loader)
    assert len(batches) == 30
    x, y = batches[0]
    assert x.shape == (8, 3, 64, 64) and x.dtype == torch.float32
    assert y.shape == (8,) and y.dtype == torch.long
    assert torch.equal(x, single.images[:8]) and torch.equal(y, single.labels[:8])


def test_subset(single):
    idx = [5, 0, 17]
    sub = single.subset(idx)
    assert isinstance(sub, data.ImageSet) and len(sub) == 3
    for key in TENSOR_FIELDS:
        assert torch.equal(getattr(sub, key), getattr(single, key)[idx]), key
    assert sub.class_names == single.class_names
    assert sub.concept_names == single.concept_names
    assert sub.part_names == single.part_names
    assert sub.meta["variant"] == "single"
    assert list(sub.meta["source_indices"]) == idx
    # boolean mask, tensor, slice; nested subsets keep source indices
    sel = single.labels == 2
    assert torch.equal(single.subset(sel).labels, single.labels[sel])
    assert len(single.subset(torch.arange(4))) == 4
    sub2 = single.subset(slice(10, 20)).subset([1, 3])
    assert list(sub2.meta["source_indices"]) == [11, 13]
    assert torch.equal(sub2.images, single.images[[11, 13]])
    # the copy is independent of the original
    sub.images[0].zero_()
    assert single.images[5].sum() > 0
    assert "ImageSet(" in repr(sub) and len(repr(single)) < 400


# --------------------------------------------------------------------------
# digits and photos
# --------------------------------------------------------------------------

def test_digits():
    ds = data.digits("all", size=32)
    assert len(ds) == 1797 and ds.images.shape == (1797, 1, 32, 32)
    assert ds.images.min() >= 0 and ds.images.max() <= 1
    assert ds.class_names == [str(k) for k in range(10)]
    assert ds.masks.shape == (1797, 32, 32) and ds.masks.dtype == torch.bool
    assert torch.equal(ds.masks, ds.images[:, 0] > 0.5)
    assert (ds.masks.sum((1, 2)) > 0).all()
    for i in range(0, 1797, 37):
        r0, c0, r1, c1 = ds.boxes[i].long().tolist()
        m = ds.masks[i]
        assert m[r0:r1, c0:c1].sum() == m.sum() and m[r0].any() and m[:, c1 - 1].any()

    train = data.digits("train", seed=0)
    test = data.digits("test", seed=0)
    assert len(train) + len(test) == 1797
    all_counts = torch.bincount(ds.labels, minlength=10)
    test_counts = torch.bincount(test.labels, minlength=10)
    assert torch.equal(test_counts, (all_counts.double() * 0.25).round().long())
    src_tr, src_te = set(train.meta["source_indices"]), set(test.meta["source_indices"])
    assert not src_tr & src_te and len(src_tr | src_te) == 1797
    # images of the split are the right ones
    i = int(test.meta["source_indices"][0])
    assert torch.equal(test.images[0], ds.images[i])
    # deterministic by seed
    assert torch.equal(data.digits("test", seed=0).images, test.images)
    assert set(data.digits("test", seed=1).meta["source_indices"]) != src_te
    assert len(data.digits("test", test_fraction=0.5)) in range(890, 905)
    assert data.digits("all", size=8).images.shape == (1797, 1, 8, 8)


def test_sample_photos():
    ds = data.sample_photos()
    assert ds.images.shape == (2, 3, 224, 224) and ds.images.dtype == torch.float32
    assert ds.images.min() >= 0 and ds.images.max() <= 1
    assert ds.images.std() > 0.05
    assert ds.labels.tolist() == [-1, -1] and ds.class_names == []
    assert ds.meta["file_names"] == ["china.jpg", "flower.jpg"]
    assert data.sample_photos(size=64).images.shape == (2, 3, 64, 64)


# --------------------------------------------------------------------------
# torchvision adapters
# --------------------------------------------------------------------------

@pytest.fixture
def tiny_folder(tmp_path):
    from PIL import Image
    rng = np.random.default_rng(0)
    root = tmp_path / "imgs"
    for cls, shape in (("cat", (20, 30)), ("dog", (24, 24))):
        (root / cls).mkdir(parents=True)
        for k in range(3):
            a = rng.integers(0, 256, (*shape, 3), dtype=np.uint8)
            Image.fromarray(a).save(root / cls / f"{k}.png")
    return root


def test_image_folder(tiny_folder):
    ds = data.image_folder(tiny_folder, size=16)
    assert ds.images.shape == (6, 3, 16, 16) and ds.images.dtype == torch.float32
    assert ds.images.min() >= 0 and ds.images.max() <= 1
    assert ds.labels.tolist() == [0, 0, 0, 1, 1, 1]
    assert ds.class_names == ["cat", "dog"]
    assert len(data.image_folder(tiny_folder, n=4, size=16)) == 4


def test_from_torchvision(tiny_folder):
    from torchvision.datasets import ImageFolder
    folder = ImageFolder(str(tiny_folder))
    ds = data.from_torchvision(folder, n=5, size=12)
    assert ds.images.shape == (5, 3, 12, 12) and ds.class_names == ["cat", "dog"]
    assert ds.labels.tolist() == [0, 0, 0, 1, 1]
    # a random (seeded) sample of n items, kept in index order
    a = data.from_torchvision(folder, n=3, size=12, seed=1)
    b = data.from_torchvision(folder, n=3, size=12, seed=1)
    assert torch.equal(a.images, b.images)
    assert list(a.meta["source_indices"]) == sorted(a.meta["source_indices"])


def test_from_torchvision_values_and_errors(tiny_folder):
    from torchvision.datasets import ImageFolder
    folder = ImageFolder(str(tiny_folder))
    with pytest.raises(ValueError, match="size"):
        data.from_torchvision(folder)
    dogs = torch.utils.data.Subset(folder, [3, 4])
    ds = data.from_torchvision(dogs)
    assert ds.class_names == ["cat", "dog"] and ds.labels.tolist() == [1, 1]
    from PIL import Image
    expected = np.array(Image.open(folder.samples[3][0]).convert("RGB"))
    assert torch.allclose(ds.images[0], torch.from_numpy(expected).permute(2, 0, 1) / 255.0)

    class Tensors:  # tensors in [0, 1], grey, no `classes`
        def __len__(self):
            return 3

        def __getitem__(self, i):
            return torch.full((1, 10, 10), i / 4), torch.tensor(i)

    ds = data.from_torchvision(Tensors(), size=20)
    assert ds.images.shape == (3, 1, 20, 20) and ds.class_names == ["0", "1", "2"]
    assert torch.allclose(ds.images[2], torch.full((1, 20, 20), 0.5))
    with pytest.raises(ValueError, match="n must be"):
        data.from_torchvision(Tensors(), n=0)


def test_mnist_cifar_missing_files(tmp_path):
    with pytest.raises(FileNotFoundError, match="(?s)MNIST.*download"):
        data.mnist(tmp_path)
    with pytest.raises(FileNotFoundError, match="(?s)cifar-10-batches-py.*download"):
        data.cifar10(tmp_path, train=False)
    with pytest.raises(FileNotFoundError, match="class"):
        data.image_folder(tmp_path / "nothing")


# --------------------------------------------------------------------------
# argument checking
# --------------------------------------------------------------------------

@pytest.mark.parametrize("call,exc,pattern", [
    (lambda: data.flowers(5, variant="triple"), ValueError, "variant.*single.*double"),
    (lambda: data.flowers(0), ValueError, "n must be >= 1"),
    (lambda: data.flowers(-3), ValueError, "n must be"),
    (lambda: data.flowers(2.5), TypeError, "n must be an integer"),
    (lambda: data.flowers(5, size=16), ValueError, "size must be >= 32"),
    (lambda: data.flowers(5, size=64.0), TypeError, "size must be an integer"),
    (lambda: data.flowers(5, seed=True), TypeError, "seed"),
    (lambda: data.flowers(5, seed=1.5), TypeError, "seed"),
    (lambda: data.flowers(5, seed="0"), TypeError, "seed"),
    (lambda: data.flowers(5, seed=-1), ValueError, "seed"),
    (lambda: data.flower_scenes(5, size=64), ValueError, "size must be >= 96"),
    (lambda: data.flower_scenes(0), ValueError, "n must be"),
    (lambda: data.flower_scenes(2, seed=False), TypeError, "seed"),
    (lambda: data.digits("val"), ValueError, "split.*train.*test.*all"),
    (lambda: data.digits("train", test_fraction=0), ValueError, "test_fraction"),
    (lambda: data.digits("train", test_fraction=1.0), ValueError, "test_fraction"),
    (lambda: data.digits("train", test_fraction=True), ValueError, "test_fraction"),
    (lambda: data.digits(size=4), ValueError, "size must be >= 8"),
    (lambda: data.digits(seed=None), TypeError, "seed"),
    (lambda: data.sample_photos(size="224"), TypeError, "size"),
    (lambda: data.from_torchvision([], n=1), ValueError, "empty"),
    (lambda: data.from_torchvision(5), TypeError, "dataset"),
])
def test_bad_arguments(call, exc, pattern):
    with pytest.raises(exc, match=pattern):
        call()


# --------------------------------------------------------------------------------------------------
# difficulty="standard" (the default): the flowers of "easy" plus clutter, with its ground truth


@pytest.fixture(scope="module", params=["single", "double"])
def pair(request):
    """(standard, easy) data sets with the same arguments."""
    kw = dict(n=300, variant=request.param, size=64, seed=21)
    return data.flowers(**kw), data.flowers(**kw, difficulty="easy")


def test_standard_is_the_default_and_easy_is_kept():
    a = data.flowers(6, seed=2)
    assert a.meta["difficulty"] == "standard" and torch.equal(a.images, data.flowers(6, seed=2,
                                                                                     difficulty="standard").images)
    assert data.flowers(6, seed=2, difficulty="easy").meta["difficulty"] == "easy"
    assert data.DIFFICULTIES == ("standard", "easy")


def test_standard_draws_the_same_flowers_as_easy(pair):
    std, easy = pair
    for key in ("labels", "keypoints", "boxes", "flower_masks", "concepts"):
        assert torch.equal(getattr(std, key), getattr(easy, key)), key
    assert std.class_names == easy.class_names and std.concept_names == easy.concept_names
    # but the pixels differ: textures, distractors, jitter, noise
    assert (std.images - easy.images).abs().mean() > 0.03


def test_masks_are_the_visible_part_and_visible_is_their_share(pair):
    std, easy = pair
    occ = std.occluder_masks
    assert occ.dtype == torch.bool and occ.shape == std.masks.shape
    assert torch.equal(std.masks, easy.masks & ~occ)
    assert torch.equal(std.part_masks, easy.part_masks & ~occ[:, None])
    expected = std.masks.sum((1, 2)).float() / easy.masks.sum((1, 2)).clamp(min=1).float()
    assert std.visible.dtype == torch.float32 and std.visible.shape == (len(std),)
    assert torch.allclose(std.visible, expected, atol=1e-6)
    # an occluder exists exactly where something of the image is covered
    has_occ = occ.flatten(1).any(1)
    assert (std.visible[~has_occ] == 1).all()


def test_occluders_cover_part_in_about_a_third_rarely_all(pair):
    std, _ = pair
    occluded = std.occluder_masks.flatten(1).any(1)
    share = occluded.float().mean().item()
    assert 0.22 < share < 0.45, share
    v = std.visible[occluded]
    assert v.max() < 0.9                       # an occluder covers at least 15 % of the part
    assert (v < 0.02).float().mean() < 0.15    # rarely all of it
    assert v.median() > 0.25                   # mostly part of it


def test_standard_discriminative_pixels_keep_their_class(pair):
    std, _ = pair
    # hue jitter, distractors and occluders leave the visible discriminative part its class colour
    # (up to brightness/contrast and noise): nearest class colour of its mean, on well visible parts
    keep = std.visible > 0.5
    names = list(data.CLASS_COLORS)
    table = torch.tensor([data.CLASS_COLORS[c] for c in names])
    m = std.masks[keep].unsqueeze(1).float()
    mean = (std.images[keep] * m).sum((2, 3)) / m.sum((2, 3))
    # compare chromaticity (brightness jitter scales all channels)
    chroma = lambda c: c / c.sum(-1, keepdim=True).clamp(min=1e-6)
    nearest = torch.cdist(chroma(mean), chroma(table)).argmin(1)
    want = torch.tensor([names.index(std.meta["class_color"][int(y)]) for y in std.labels[keep]])
    assert (nearest == want).float().mean() > 0.97


def test_standard_scenes():
    std = data.flower_scenes(30, seed=4)
    easy = data.flower_scenes(30, seed=4, difficulty="easy")
    assert torch.equal(std.labels, easy.labels) and torch.equal(std.boxes, easy.boxes)
    assert std.visible.shape == (30, 2) and std.occluder_masks.shape == (30, 128, 128)
    assert torch.equal(std.masks, easy.masks & ~std.occluder_masks[:, None])
    v = std.masks.sum((2, 3)).float() / easy.masks.sum((2, 3)).float()
    assert torch.allclose(std.visible, v, atol=1e-6)
    assert easy.visible is None and easy.meta["difficulty"] == "easy"


def test_standard_subset_keeps_the_new_fields(pair):
    std, _ = pair
    sub = std.subset([3, 1])
    assert torch.equal(sub.visible, std.visible[[3, 1]])
    assert torch.equal(sub.occluder_masks, std.occluder_masks[[3, 1]])


@pytest.mark.parametrize("call", [lambda: data.flowers(5, difficulty="hard"),
                                  lambda: data.flower_scenes(5, difficulty="Easy"),
                                  lambda: data.flowers(5, difficulty=None)])
def test_unknown_difficulty_lists_the_allowed_ones(call):
    with pytest.raises(ValueError, match="difficulty.*'standard', 'easy'"):
        call()
