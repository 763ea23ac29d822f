"""Tests for xnb.viz: normalisation, colour LUTs, overlays, PNG, drawing, static figures."""
from __future__ import annotations

import io

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402
import torch  # noqa: E402
from PIL import Image  # noqa: E402

from xnb import viz  # noqa: E402


def _u8(img_chw: np.ndarray) -> np.ndarray:
    """The documented image -> uint8 HWC conversion, written independently."""
    a = np.asarray(img_chw, dtype=np.float64)
    hwc = np.rint(np.clip(a, 0, 1) * 255).astype(np.uint8).transpose(1, 2, 0)
    return np.repeat(hwc, 3, axis=2) if hwc.shape[2] == 1 else hwc


def _decode(png: bytes) -> np.ndarray:
    assert png[:8] == b"\x89PNG\r\n\x1a\n"
    return np.asarray(Image.open(io.BytesIO(png)).convert("RGB"))


@pytest.fixture
def rng():
    return np.random.default_rng(0)


# --------------------------------------------------------------------------- normalize

def test_normalize_minmax_range(rng):
    h = rng.normal(size=(9, 7)).astype(np.float32) * 5 + 3
    n = viz.normalize(h)
    assert isinstance(n, np.ndarray) and n.shape == h.shape
    assert n.min() == 0.0 and n.max() == 1.0
    # order preserving
    assert np.array_equal(np.argsort(h, axis=None), np.argsort(n, axis=None))


def test_normalize_per_map_over_batch(rng):
    h = np.stack([rng.random((6, 5)) * s + o for s, o in [(1, 0), (100, -50), (0.01, 7)]])
    n = viz.normalize(h)
    assert n.shape == (3, 6, 5)
    for k in range(3):
        assert n[k].min() == 0.0 and n[k].max() == 1.0
        np.testing.assert_allclose(n[k], viz.normalize(h[k]))


def test_normalize_signed_keeps_sign_and_zero():
    h = np.array([[-4.0, -1.0, 0.0], [0.0, 2.0, 8.0]], dtype=np.float32)
    n = viz.normalize(h, "signed", percentile=None)
    np.testing.assert_allclose(n, h / 8.0)
    assert np.array_equal(np.sign(n), np.sign(h))
    assert (n[h == 0] == 0).all()
    # with percentile clipping: still in [-1, 1], signs and zeros kept
    n2 = viz.normalize(h, "signed")
    assert n2.min() >= -1 and n2.max() <= 1
    assert np.array_equal(np.sign(n2), np.sign(h))


def test_normalize_percentile_clips_outlier():
    h = np.ones((10, 10), dtype=np.float32)
    h[0, 0] = 1000.0  # one outlier
    h[5, :] = -3.0  # negative part is dropped
    n = viz.normalize(h, "percentile", percentile=90)
    assert n.min() == 0.0 and n.max() == 1.0
    assert (n[5] == 0).all()
    assert n[1, 1] == 1.0  # not squashed by the outlier


@pytest.mark.parametrize("mode", viz.NORMALIZE_MODES)
def test_normalize_constant_map_gives_zeros(mode):
    for value in (0.0, 3.0, -2.0):
        n = viz.normalize(np.full((4, 4), value, np.float32), mode)
        assert np.array_equal(n, np.zeros((4, 4), np.float32)), (mode, value)
        assert not np.isnan(n).any()


def test_normalize_torch_in_torch_out():
    h = torch.randn(2, 5, 6, dtype=torch.float64)
    n = viz.normalize(h)
    assert isinstance(n, torch.Tensor)
    assert n.shape == h.shape and n.dtype == h.dtype and n.device == h.device
    assert float(n[0].min()) == 0.0 and float(n[1].max()) == 1.0
    if torch.cuda.is_available():  # pragma: no cover - only on GPU machines
        g = viz.normalize(h.cuda(), "signed")
        assert g.device == h.cuda().device


def test_normalize_bad_inputs():
    with pytest.raises(ValueError, match="mode"):
        viz.normalize(np.zeros((3, 3)), mode="zscore")
    with pytest.raises(ValueError, match="heatmap.*shape"):
        viz.normalize(np.zeros(5))
    with pytest.raises(ValueError, match="heatmap.*NaN"):
        viz.normalize(np.array([[0.0, np.nan]]))
    with pytest.raises(ValueError, match="heatmap.*inf"):
        viz.normalize(torch.tensor([[0.0, float("inf")]]))
    with pytest.raises(TypeError, match="heatmap"):
        viz.normalize([[0.0, 1.0]])
    with pytest.raises(ValueError, match="percentile"):
        viz.normalize(np.zeros((3, 3)), "percentile", percentile=150)


# --------------------------------------------------------------------------- threshold / binarize

def test_threshold_and_binarize():
    h = np.array([[0.1, 0.5, 0.9]], dtype=np.float32)
    np.testing.assert_array_equal(viz.threshold(h, 0.5), np.array([[0.0, 0.5, 0.9]], np.float32))
    np.testing.assert_array_equal(viz.binarize(h, 0.5), [[False, True, True]])
    assert viz.binarize(h, 0.5).dtype == np.bool_
    s = np.array([[-0.8, -0.2, 0.3]], dtype=np.float32)
    np.testing.assert_array_equal(viz.threshold(s, 0.25, signed=True), np.array([[-0.8, 0.0, 0.3]], np.float32))
    t = viz.threshold(torch.tensor(h), 0.5)
    assert isinstance(t, torch.Tensor) and t.tolist() == [[0.0, 0.5, pytest.approx(0.9)]]
    assert viz.binarize(torch.tensor(h), 0.5).dtype == torch.bool
    with pytest.raises(ValueError, match=r"t must be in \[0, 1\]"):
        viz.threshold(h, 1.5)
    with pytest.raises(ValueError, match="t must be in"):
        viz.binarize(h, -0.1)


# --------------------------------------------------------------------------- colorize

@pytest.mark.parametrize("name", ["jet", "viridis", "RdBu_r", "gray"])
def test_colorize_matches_matplotlib(name):
    values = np.array([[0.0, 0.1, 0.25, 0.3, 0.5, 0.77, 0.999, 1.0]], dtype=np.float32)
    rgb = viz.colorize(values, cmap=name)
    assert rgb.dtype == np.uint8 and rgb.shape == (1, values.shape[1], 3)
    expected = matplotlib.colormaps[name](values[0].astype(np.float64))[:, :3] * 255
    assert np.abs(rgb[0].astype(float) - expected).max() <= 1.0


def test_colorize_signed_uses_diverging_map():
    s = np.array([[-1.0, -0.5, 0.0, 0.5, 1.0]], dtype=np.float32)
    rgb = viz.colorize(s, signed=True)  # default diverging map RdBu_r
    expected = matplotlib.colormaps["RdBu_r"]((s[0] + 1) / 2)[:, :3] * 255
    assert np.abs(rgb[0].astype(float) - expected).max() <= 1.0
    assert rgb[0, 0, 2] > rgb[0, 0, 0]  # negative -> blue
    assert rgb[0, 4, 0] > rgb[0, 4, 2]  # positive -> red


def test_colorize_lut_is_cached_and_batches():
    a = viz.get_lut("magma")
    assert viz.get_lut("magma") is a and "magma" in viz._LUT_CACHE
    assert a.shape == (256, 3) and not a.flags.writeable
    out = viz.colorize(np.zeros((2, 3, 4)), "magma")
    assert out.shape == (2, 3, 4, 3)


def test_colorize_bad_cmap():
    with pytest.raises(ValueError, match="cmap.*viridis"):
        viz.colorize(np.zeros((2, 2)), cmap="not_a_cmap")
    with pytest.raises(TypeError, match="cmap"):
        viz.colorize(np.zeros((2, 2)), cmap=3)


# --------------------------------------------------------------------------- overlay / render

def test_overlay_below_threshold_shows_image_exactly(rng):
    img = rng.random((3, 16, 20)).astype(np.float32)
    h = rng.random((16, 20)).astype(np.float32)
    t = 0.6
    out = viz.overlay(img, h, alpha=0.7, threshold=t)
    assert out.dtype == np.uint8 and out.shape == (16, 20, 3)
    below = viz.normalize(h) < t
    assert below.any() and (~below).any()
    assert np.array_equal(out[below], _u8(img)[below])
    assert not np.array_equal(out[~below], _u8(img)[~below])


def test_overlay_alpha_one_equals_lut_colour(rng):
    img = rng.random((3, 12, 12)).astype(np.float32)
    h = rng.normal(size=(12, 12)).astype(np.float32)
    out = viz.overlay(img, h, cmap="jet", alpha=1.0, threshold=0.0)
    lut = viz.get_lut("jet")
    idx = np.minimum((viz.normalize(h) * 256).astype(int), 255)
    assert np.array_equal(out, lut[idx])
    # and alpha=0 is the image itself
    assert np.array_equal(viz.overlay(img, h, alpha=0.0), _u8(img))


def test_overlay_blend_formula(rng):
    img = rng.random((3, 8, 8)).astype(np.float32)
    h = rng.random((8, 8)).astype(np.float32)
    out = viz.overlay(img, h, alpha=0.25).astype(float)
    col = viz.colorize(viz.normalize(h)).astype(float)
    base = _u8(img).astype(float)
    assert np.abs(out - (0.75 * base + 0.25 * col)).max() <= 1.0


def test_overlay_grey_torch_and_resize(rng):
    img = torch.rand(1, 1, 32, 32)  # grey, batched, torch
    h = torch.rand(7, 7)
    out = viz.overlay(img, h, alpha=0.0)
    assert out.shape == (32, 32, 3)
    assert np.array_equal(out[..., 0], out[..., 2])  # grey repeated to 3 channels
    with pytest.raises(ValueError, match="heatmap size.*image size"):
        viz.overlay(img, h, resize=False)


def test_overlay_signed_threshold(rng):
    img = rng.random((3, 4, 4)).astype(np.float32)
    h = np.zeros((4, 4), np.float32)
    h[0, 0], h[3, 3] = -1.0, 1.0
    out = viz.overlay(img, h, alpha=1.0, threshold=0.5, signed=True)
    base = _u8(img)
    assert np.array_equal(out[1:3, 1:3], base[1:3, 1:3])  # |h| < t -> image
    lut = viz.get_lut("RdBu_r")
    assert np.array_equal(out[0, 0], lut[0]) and np.array_equal(out[3, 3], lut[255])


def test_overlay_bad_args(rng):
    img = rng.random((3, 8, 8)).astype(np.float32)
    h = rng.random((8, 8)).astype(np.float32)
    with pytest.raises(ValueError, match="alpha"):
        viz.overlay(img, h, alpha=1.5)
    with pytest.raises(ValueError, match="threshold"):
        viz.overlay(img, h, threshold=-0.1)
    with pytest.raises(ValueError, match="image.*C = 1 or 3"):
        viz.overlay(rng.random((8, 8, 3)), h)
    with pytest.raises(ValueError, match="image.*batch"):
        viz.overlay(rng.random((2, 3, 8, 8)), h)
    with pytest.raises(ValueError, match="heatmap.*NaN"):
        viz.overlay(img, np.full((8, 8), np.nan))
    with pytest.raises(ValueError, match="mode"):
        viz.overlay(img, h, mode="bogus")
    with pytest.raises(ValueError, match="cmap"):
        viz.overlay(img, h, cmap="nope")
    with pytest.raises(TypeError, match="image"):
        viz.overlay("cat.png", h)


def test_render_png_size_and_content(rng):
    img = rng.random((3, 16, 24)).astype(np.float32)
    h = rng.random((16, 24)).astype(np.float32)
    png = viz.render(img, h, scale=4, alpha=0.5, threshold=0.3)
    dec = _decode(png)
    assert dec.shape == (64, 96, 3)
    ov = viz.overlay(img, h, alpha=0.5, threshold=0.3)
    assert np.array_equal(dec[::4, ::4], ov)  # nearest-neighbour upscaling
    assert np.array_equal(dec[3::4, 3::4], ov)
    # grey image, no heatmap
    g = rng.random((1, 10, 10)).astype(np.float32)
    assert np.array_equal(_decode(viz.render(g)), _u8(g))


def test_render_does_not_use_pyplot(monkeypatch, rng):
    import matplotlib.figure

    def boom(*a, **k):  # pragma: no cover - would mean a figure on the live path
        raise AssertionError("render created a matplotlib figure")

    monkeypatch.setattr(matplotlib.figure.Figure, "__init__", boom)
    viz.render(rng.random((3, 8, 8)), rng.random((8, 8)), cmap="plasma", scale=2)


def test_to_png_validation_and_scale():
    rgb = np.zeros((5, 7, 3), np.uint8)
    assert _decode(viz.to_png(rgb, scale=3)).shape == (15, 21, 3)
    with pytest.raises(TypeError, match="rgb_uint8.*uint8"):
        viz.to_png(rgb.astype(np.float32))
    with pytest.raises(ValueError, match="rgb_uint8.*shape"):
        viz.to_png(np.zeros((5, 7, 2), np.uint8))
    with pytest.raises(ValueError, match="scale"):
        viz.to_png(rgb, scale=0)
    with pytest.raises(ValueError, match="scale"):
        viz.to_png(rgb, scale=1.5)


# --------------------------------------------------------------------------- outline / boxes

def test_outline_draws_mask_boundary():
    rgb = np.zeros((8, 8, 3), np.uint8)
    mask = np.zeros((8, 8), bool)
    mask[2:6, 2:6] = True
    out = viz.outline(rgb, mask, color=(255, 0, 0))
    red = (out == [255, 0, 0]).all(-1)
    ring = mask.copy()
    ring[3:5, 3:5] = False
    assert np.array_equal(red, ring)
    assert (rgb == 0).all()  # input untouched
    with pytest.raises(ValueError, match="mask size"):
        viz.outline(rgb, np.zeros((4, 4), bool))
    with pytest.raises(ValueError, match="color"):
        viz.outline(rgb, mask, color=(300, 0, 0))


def test_draw_boxes_where_expected():
    rgb = np.zeros((10, 12, 3), np.uint8)
    out = viz.draw_boxes(rgb, [(2, 3, 6, 9)], colors=[(0, 255, 0)])
    green = (out == [0, 255, 0]).all(-1)
    expected = np.zeros((10, 12), bool)
    expected[2, 3:9] = expected[5, 3:9] = True  # rows 2 and 5 (row1 exclusive)
    expected[2:6, 3] = expected[2:6, 8] = True  # cols 3 and 8
    assert np.array_equal(green, expected)
    # width 2, clipped at the border, one colour for all, torch boxes
    out2 = viz.draw_boxes(rgb, torch.tensor([[-5, -5, 3, 3], [8, 10, 20, 20]]), colors=(9, 9, 9), width=2)
    grey = (out2 == 9).all(-1)
    assert grey[1, 0] and grey[2, 2] and not grey[0, 0] and grey[9, 11] and grey[8, 10]
    with pytest.raises(ValueError, match=r"boxes\[0\]"):
        viz.draw_boxes(rgb, [(5, 5, 5, 8)])
    with pytest.raises(ValueError, match="colors"):
        viz.draw_boxes(rgb, [(0, 0, 2, 2), (1, 1, 3, 3)], colors=[(1, 2, 3)])


# --------------------------------------------------------------------------- static figures

def test_grid_images_and_overlays(rng):
    imgs = rng.random((5, 3, 8, 8)).astype(np.float32)
    before = plt.get_fignums()
    fig = viz.grid(imgs, titles=list("abcde"), ncols=3, suptitle="x")
    assert plt.get_fignums() == before  # detached: not shown twice in Jupyter
    try:
        assert isinstance(fig, matplotlib.figure.Figure)
        assert len(fig.axes) == 5
        assert [ax.get_title() for ax in fig.axes] == list("abcde")
    finally:
        plt.close(fig)
    fig = viz.grid(torch.tensor(imgs), torch.rand(5, 8, 8), ncols=6)
    try:
        assert len(fig.axes) == 5
    finally:
        plt.close(fig)


def test_grid_k_maps(rng):
    imgs = rng.random((2, 1, 8, 8)).astype(np.float32)
    hms = rng.random((2, 3, 4, 4)).astype(np.float32)
    fig = viz.grid(imgs, hms, titles=["a", "b", "c"], row_titles=["r0", "r1"])
    try:
        assert len(fig.axes) == 6
        assert [ax.get_title() for ax in fig.axes[:3]] == ["a", "b", "c"]
        assert fig.axes[3].get_ylabel() == "r1"
    finally:
        plt.close(fig)
    fig = viz.grid(imgs, hms, show_image=True)
    try:
        assert len(fig.axes) == 8
    finally:
        plt.close(fig)
    with pytest.raises(ValueError, match="heatmaps.*images"):
        viz.grid(imgs, rng.random((3, 8, 8)))
    with pytest.raises(ValueError, match="titles"):
        viz.grid(imgs, titles=["only one"])


def test_bar_contributions():
    ax = viz.bar_contributions([0.5, -0.2, 1.0, -0.7], ["a", "b", "c", "d"], title="t")
    try:
        bars = ax.patches
        assert len(bars) == 4
        labels = [t.get_text() for t in ax.get_yticklabels()]
        assert labels == ["d", "b", "a", "c"]  # bottom-up: most negative at the bottom
        widths = [b.get_width() for b in bars]
        assert widths == sorted(widths)
        pos = {b.get_facecolor() for b in bars if b.get_width() > 0}
        neg = {b.get_facecolor() for b in bars if b.get_width() < 0}
        assert len(pos) == 1 and len(neg) == 1 and pos != neg
        assert ax.get_title() == "t"
    finally:
        plt.close(ax.figure)
    with pytest.raises(ValueError, match="names"):
        viz.bar_contributions([1.0, 2.0], ["a"])


def test_show_png():
    png = viz.to_png(np.zeros((2, 2, 3), np.uint8))
    img = viz.show_png(png)
    assert img.data == png
    with pytest.raises(ValueError, match="png_bytes"):
        viz.show_png(b"not a png")


def test_label_points_places_labels_without_overlap():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from xnb import viz

    fig, ax = plt.subplots(figsize=(4, 3))
    xy = np.array([[0.0, 0.0], [0.01, 0.0], [0.0, 0.01], [0.01, 0.01], [1.0, 1.0]])  # four points in a clump
    ax.scatter(xy[:, 0], xy[:, 1])
    texts = viz.label_points(ax, xy, ["alpha", "beta", "gamma", "delta", "far"])
    renderer = fig.canvas.get_renderer()
    boxes = [t.get_window_extent(renderer) for t in texts]
    for i in range(len(boxes)):
        for j in range(i + 1, len(boxes)):
            a, b = boxes[i], boxes[j]
            w = min(a.x1, b.x1) - max(a.x0, b.x0)
            h = min(a.y1, b.y1) - max(a.y0, b.y0)
            assert w <= 0 or h <= 0, f"labels {i} and {j} overlap"
    assert len(ax.texts) == 5  # the tried positions that lost were removed
    with pytest.raises(ValueError, match="labels"):
        viz.label_points(ax, xy, ["a"])
    plt.close(fig)
