"""Your own model: every public entry point on small random torchvision-style models.

The models have what real architectures have and the shipped SmallVGGs do not: residual blocks whose
ReLU is called twice per forward pass, in-place ReLUs, nested Sequentials, BatchNorm, Hardswish and
squeeze-excitation (MobileNetV3). Each call is checked for shapes, for leaving the model exactly as it
came (no hook, no attribute, parameters and modes unchanged) and for the package's one reading rule
(xnb.layers: a reused module is read at its last call unless ``call=``; the value before later in-place
ops).
"""
from __future__ import annotations

import pytest
import torch
import torchvision
from torch import nn

import xnb
from xnb import additive, srae
from xnb.attribution import METHODS, explained_score
from xnb.layers import MEMORY_BUDGET, auto_batch_size, capture, last_feature_map, run_to, stream_layer

from test_core import assert_unchanged, snapshot

SIZE = 32


def tiny_resnet():
    torch.manual_seed(0)
    m = torchvision.models.resnet.ResNet(torchvision.models.resnet.BasicBlock, [1, 1, 1, 1], num_classes=5)
    return m.eval()


def tiny_mobilenet():
    torch.manual_seed(0)
    return torchvision.models.mobilenet_v3_small(num_classes=5).eval()


def nested_vgg():
    torch.manual_seed(0)
    block = lambda i, o: nn.Sequential(nn.Conv2d(i, o, 3, padding=1), nn.ReLU(inplace=True))  # noqa: E731
    return nn.Sequential(
        nn.Sequential(block(3, 8), nn.MaxPool2d(2), nn.Sequential(block(8, 16), block(16, 16)), nn.MaxPool2d(2)),
        nn.AdaptiveAvgPool2d(2), nn.Flatten(), nn.Sequential(nn.Linear(64, 32), nn.ReLU(inplace=True)),
        nn.Linear(32, 5)).eval()


MODELS = {"resnet": tiny_resnet, "mobilenet": tiny_mobilenet, "nested_vgg": nested_vgg}
# a conv block's output and, for the reading rule, a module called twice per block (ResNet's ReLU)
UNIT_LAYER = {"resnet": "layer1.0.relu", "mobilenet": "features.1.block.0.1", "nested_vgg": "0.2.1.1"}


@pytest.fixture(scope="module")
def x():
    return torch.rand(2, 3, SIZE, SIZE, generator=torch.Generator().manual_seed(1))


def _manual_resnet_block(m, x):
    """(first call, last call) of layer1.0.relu, and the stem's conv1 output, computed by hand."""
    with torch.no_grad():
        c1 = m.conv1(x)
        h = m.maxpool(torch.relu(m.bn1(c1)))
        b = m.layer1[0]
        first = torch.relu(b.bn1(b.conv1(h)))
        last = torch.relu(b.bn2(b.conv2(first)) + h)
    return first, last, c1


# --------------------------------------------------------------------------- the reading rule


def test_reused_module_is_read_at_its_last_call_everywhere(x):
    m = tiny_resnet()
    before = snapshot(m)
    first, last, _ = _manual_resnet_block(m, x)
    assert not torch.allclose(first.sum((2, 3)), last.sum((2, 3)))  # the two calls differ
    with capture(m, "layer1.0.relu", detach=True) as cap:
        m(x)
    assert torch.allclose(cap["layer1.0.relu"], last, atol=1e-5)
    a, _ = run_to(m, "layer1.0.relu", x)
    assert torch.allclose(a.detach(), last, atol=1e-5)
    Z = stream_layer(m, "layer1.0.relu", x)
    assert torch.allclose(Z, last.flatten(1), atol=1e-5)
    assert torch.allclose(srae.features(m, "layer1.0.relu", x), last.flatten(1), atol=1e-5)
    s = explained_score(m, x, layer="layer1.0.relu", channel=3)
    assert torch.allclose(s, last[:, 3].sum((1, 2)), rtol=1e-4, atol=1e-4)
    # call= picks another call, the same way in every entry point
    with capture(m, "layer1.0.relu", detach=True, call=0) as cap:
        m(x)
    assert torch.allclose(cap["layer1.0.relu"], first, atol=1e-5)
    assert torch.allclose(run_to(m, "layer1.0.relu", x, call=0)[0].detach(), first, atol=1e-5)
    assert torch.allclose(stream_layer(m, "layer1.0.relu", x, call=-2), first.flatten(1), atol=1e-5)
    s0 = explained_score(m, x, layer="layer1.0.relu", channel=3, call=0)
    assert torch.allclose(s0, first[:, 3].sum((1, 2)), rtol=1e-4, atol=1e-4)
    with pytest.raises(ValueError, match="call"):
        explained_score(m, x, layer="layer1.0.relu", channel=3, call=2)
    assert_unchanged(m, before)


@pytest.mark.parametrize("method", ["saliency", "guided_backprop", "excitation_backprop", "integrated_gradients"])
def test_attribute_explains_the_same_call(x, method):
    """A unit of a reused module: the single-channel path, the batched path and the gradient by hand all
    explain the last call (or call=0)."""
    m = tiny_resnet()
    before = snapshot(m)
    for call in (None, 0):
        one = xnb.attribute(m, x, method, layer="layer1.0.relu", channel=3, raw=True, call=call)
        many = xnb.attribute(m, x, method, layer="layer1.0.relu", channel=[1, 3], raw=True, call=call)
        assert torch.allclose(one, many[:, 1], rtol=1e-4, atol=1e-6)
        if method == "saliency":
            xg = x.clone().requires_grad_(True)
            h = m.maxpool(torch.relu(m.bn1(m.conv1(xg))))
            b = m.layer1[0]
            first = torch.relu(b.bn1(b.conv1(h)))
            unit = first if call == 0 else torch.relu(b.bn2(b.conv2(first)) + h)
            (g,) = torch.autograd.grad(unit[:, 3].sum(), xg)
            assert torch.allclose(one, g, rtol=1e-4, atol=1e-6)
    assert_unchanged(m, before)


def test_inplace_relu_does_not_change_what_a_conv_layer_reads(x):
    """conv1 is followed by BatchNorm and an in-place ReLU (and nested_vgg's convs by in-place ReLUs
    directly): every entry point reads the conv's own output, negative values included."""
    m = nested_vgg()
    before = snapshot(m)
    with torch.no_grad():
        conv = m[0][0][0](x)
    assert (conv < 0).any()
    with capture(m, "0.0.0", detach=True) as cap:
        m(x)
    assert torch.equal(cap["0.0.0"], conv)
    a, out = run_to(m, "0.0.0", x, full=True)
    assert torch.equal(a.detach(), conv)
    assert torch.allclose(out, m(x))  # the forward pass itself is unchanged
    assert torch.allclose(explained_score(m, x, layer="0.0.0", channel=2), conv[:, 2].sum((1, 2)), atol=1e-5)
    # the gradient of a conv channel's sum is the same for every image: it depends on the weights only
    g = xnb.attribute(m, x, "saliency", layer="0.0.0", channel=2, raw=True)
    g_rule = xnb.attribute(m, x, "saliency", layer="0.0.0", channel=[2, 3], raw=True)[:, 0]
    assert torch.allclose(g[0], g[1]) and torch.allclose(g, g_rule, atol=1e-6)
    assert_unchanged(m, before)


# --------------------------------------------------------------------------- every entry point


@pytest.mark.parametrize("name", list(MODELS))
@pytest.mark.parametrize("method", [m for m in METHODS if not m.startswith("semantic_")])
def test_attribute_every_method_on_real_architectures(x, name, method):
    m = MODELS[name]()
    before = snapshot(m)
    if method == "lrp" and name != "nested_vgg":
        with pytest.raises(ValueError, match="merge of two tensors"):
            xnb.attribute(m, x, method, target=[0, 1])
        assert_unchanged(m, before)
        return
    opts = {"n_steps": 4} if method == "integrated_gradients" else {}
    if method == "smoothgrad":
        opts = {"nt_samples": 2}
    if method == "occlusion":
        opts = {"window": 16, "stride": 16}
    h = xnb.attribute(m, x, method, target=[0, 1], **opts)
    assert h.shape == (2, SIZE, SIZE) and torch.isfinite(h).all()
    if method not in ("smoothgrad", "occlusion", "lrp", "gradcam", "contrastive_excitation_backprop"):
        hu = xnb.attribute(m, x, method, layer=UNIT_LAYER[name], channel=[0, 1], **opts)
        assert hu.shape == (2, 2, SIZE, SIZE) and torch.isfinite(hu).all()
    assert_unchanged(m, before)


def test_lrp_conserves_on_a_chain_and_leaves_nothing_behind(x):
    m = nested_vgg()
    for mod in m.modules():  # without biases the epsilon rule conserves relevance
        if isinstance(mod, (nn.Conv2d, nn.Linear)):
            mod.bias = None
    before = snapshot(m)
    r = xnb.attribute(m, x, "lrp", target=[0, 1], raw=True)
    logits = m(x)[[0, 1], [0, 1]]
    assert torch.allclose(r.sum((1, 2, 3)), logits, rtol=1e-3, atol=1e-4)
    with pytest.raises(ValueError, match="is a block"):
        xnb.attribute(m, x, "lrp", target=0, saliency_layer="0.2")
    with pytest.raises(ValueError, match="unchanged"):
        xnb.attribute(m, x, "lrp", target=0, saliency_layer="0.2.0.1")
    assert_unchanged(m, before)


def test_failed_lrp_leaves_no_rule_attribute(x):
    m = nn.Sequential(nn.Conv2d(3, 4, 3), nn.GELU(), nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(4, 3)).eval()
    before = snapshot(m)
    with pytest.raises(ValueError, match="cannot handle"):
        xnb.attribute(m, x, "lrp", target=1)
    assert_unchanged(m, before)


@pytest.mark.parametrize("name", list(MODELS))
def test_feature_entry_points(x, name):
    m = MODELS[name]()
    before = snapshot(m)
    layer = last_feature_map(m, (3, SIZE, SIZE))
    Z = srae.features(m, layer, x)
    with capture(m, layer, detach=True) as cap:
        m(x)
    assert torch.allclose(Z, cap[layer].flatten(1), atol=1e-6)
    Z2, out = srae.features(m, layer, x, return_output=True, batch_size=1)
    assert torch.allclose(Z2, Z, atol=1e-6) and out.shape == (2, 5)
    maps = srae.unit_heatmaps(m, x, layer, units=[0, 1, 2], batch_size=2)  # 2 rows a pass: chunked
    assert maps.shape == (2, 3, SIZE, SIZE)
    assert torch.allclose(maps, srae.unit_heatmaps(m, x, layer, units=[0, 1, 2]), atol=1e-3)  # maps have max 1
    assert srae.class_heatmaps(m, x, target=[0, 1], batch_size=1).shape == (2, SIZE, SIZE)
    assert_unchanged(m, before)


def test_last_feature_map_names_the_last_conv_block():
    assert last_feature_map(tiny_resnet(), (3, SIZE, SIZE)) == "layer3.0.relu"  # layer4 is 1×1 at 32 px
    assert last_feature_map(nested_vgg(), (3, SIZE, SIZE)) == "0.3"
    assert last_feature_map(xnb.models.load("flowers-single")) == "pool4"
    assert last_feature_map(torchvision.models.vgg11(weights=None)) == "features.20"


@pytest.mark.parametrize("name", ["resnet", "nested_vgg"])
def test_additive_explainer_default_feature_layer(x, name):
    m = MODELS[name]()
    before = snapshot(m)
    perf = additive.Performer(m, target=0, input_shape=(3, SIZE, SIZE))
    assert perf.feature_layer == last_feature_map(m, (3, SIZE, SIZE))
    concepts = additive.OutputConcepts([1, 2, 3], shared_layer=UNIT_LAYER[name])
    est = additive.AdditiveExplainer(epochs=1, batch_size=2, prior=None)
    y, Y, feat, w = est.precompute(perf, concepts, torch.cat([x, x]), batch_size=1)
    assert y.shape == (4,) and Y.shape == (4, 3) and feat.ndim == 4 and w is None
    est.fit(perf, concepts, torch.cat([x, x]), progress=False)
    assert_unchanged(m, before)


def test_auto_batch_size_bounds_memory():
    small = xnb.models.load("flowers-single")
    vgg = torchvision.models.vgg11(weights=None)
    x64, x224 = torch.zeros(1, 3, 64, 64), torch.zeros(1, 3, 224, 224)
    assert auto_batch_size(small, x64) > auto_batch_size(vgg, x224) >= 1
    assert auto_batch_size(vgg, x224, backward=False) >= auto_batch_size(vgg, x224)
    old = dict(MEMORY_BUDGET)
    try:
        MEMORY_BUDGET["cpu"] = 1
        assert auto_batch_size(small, x64) == 1
    finally:
        MEMORY_BUDGET.update(old)


# --------------------------------------------------------------------------- loading your model


def test_load_with_input_normalization_keeps_layer_names(tmp_path, x):
    ref = torchvision.models.resnet18(weights=None).eval()
    path = tmp_path / "r18.pt"
    torch.save(ref.state_dict(), path)
    m = xnb.models.load("resnet18", pretrained=path, normalize=True)  # a path is accepted as pretrained=
    assert isinstance(m, torchvision.models.ResNet)
    assert [n for n, _ in m.named_modules()] == [n for n, _ in ref.named_modules()]
    assert sorted(m.state_dict()) == sorted(ref.state_dict())
    with torch.no_grad():
        assert torch.allclose(m(x), ref(xnb.models.imagenet_normalize(x)), atol=1e-5)
    assert xnb.attribute(m, x, "saliency", target=0, saliency_layer="layer4").shape == (2, SIZE, SIZE)
    with pytest.raises(ValueError, match="already"):
        xnb.models.with_input_normalization(m)
    with pytest.raises(ValueError, match="pretrained=False"):
        xnb.models.load("resnet18", pretrained=False, weights=path)
    with pytest.raises(ValueError, match="two different"):
        xnb.models.load("resnet18", pretrained=path, weights=tmp_path / "other.pt")


def test_image_folder_draws_a_stratified_sample(tmp_path):
    from PIL import Image

    for c, colour in enumerate(["red", "green", "blue"]):
        (tmp_path / f"class{c}").mkdir()
        for i in range(5):
            Image.new("RGB", (12, 10), colour).save(tmp_path / f"class{c}" / f"{i}.png")
    s = xnb.data.image_folder(tmp_path, n=6, size=8)
    assert torch.bincount(s.labels).tolist() == [2, 2, 2]
    again = xnb.data.image_folder(tmp_path, n=6, size=8, seed=0)
    assert list(again.meta["source_indices"]) == list(s.meta["source_indices"])  # determinism by seed
    other = xnb.data.image_folder(tmp_path, n=6, size=8, seed=1)
    assert torch.bincount(other.labels).tolist() == [2, 2, 2]
    assert list(other.meta["source_indices"]) != list(s.meta["source_indices"])
    assert torch.bincount(xnb.data.image_folder(tmp_path, n=4, size=8).labels).tolist() == [2, 1, 1]
    assert len(xnb.data.image_folder(tmp_path, size=8).labels) == 15
