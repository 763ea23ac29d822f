"""The explanation core: layers, capture, attribute — against closed forms, Captum and TorchRay."""
from __future__ import annotations

import copy

import pytest
import torch
import torchvision
from torch import nn

import xnb
from xnb.models import SmallVGG

METHODS = list(xnb.METHODS)
CLASS_ONLY = {"contrastive_excitation_backprop", "semantic_guided_backprop", "semantic_input_x_gradient",
              "smoothgrad", "occlusion"}
UNIT_TWIN = {"contrastive_excitation_backprop": "excitation_backprop",
             "semantic_guided_backprop": "guided_backprop", "semantic_input_x_gradient": "input_x_gradient",
             "smoothgrad": "saliency", "occlusion": "saliency"}


def extra(method, sevec_layer="avgpool", units=1024, classes=6):
    """Options a method needs besides the common ones."""
    if method == "integrated_gradients":
        return {"n_steps": 8}
    if method == "smoothgrad":
        return {"nt_samples": 4}
    if method == "occlusion":
        return {"window": 8, "stride": 8}
    if method.startswith("semantic_"):
        g = torch.Generator().manual_seed(5)
        return {"sevec": torch.rand(classes, units, generator=g), "sevec_layer": sevec_layer}
    return {}


def pearson(a, b):
    a = a.flatten().double()
    b = b.flatten().double()
    a = a - a.mean()
    b = b - b.mean()
    return float((a * b).sum() / (a.norm() * b.norm() + 1e-30))


@pytest.fixture(scope="module")
def net():
    torch.manual_seed(0)
    return SmallVGG().eval()


@pytest.fixture(scope="module")
def net64(net):
    """Float64 twin: in float32, oneDNN picks batch-size-dependent conv kernels whose last-bit
    differences can flip a max-pool near-tie, so batch-vs-single equality is checked in float64."""
    return copy.deepcopy(net).double()


@pytest.fixture(scope="module")
def images():
    g = torch.Generator().manual_seed(1)
    return torch.rand(3, 3, 64, 64, generator=g)


def snapshot(model):
    """Everything an xnb call must leave as it was."""
    hooks = {}
    for name, m in model.named_modules():
        for attr in ("_forward_hooks", "_forward_pre_hooks", "_backward_hooks", "_backward_pre_hooks",
                     "_forward_hooks_with_kwargs", "_state_dict_hooks", "_load_state_dict_pre_hooks"):
            d = getattr(m, attr, None)
            if d:
                hooks[(name, attr)] = len(d)
    return {
        "params": {k: v.detach().clone() for k, v in model.named_parameters()},
        "requires_grad": {k: v.requires_grad for k, v in model.named_parameters()},
        "buffers": {k: v.detach().clone() for k, v in model.named_buffers()},
        "types": [(n, type(m)) for n, m in model.named_modules()],
        "attrs": [(n, sorted(vars(m).keys())) for n, m in model.named_modules()],
        "training": [(n, m.training) for n, m in model.named_modules()],
        "hooks": hooks,
        "inplace": [(n, getattr(m, "inplace", None)) for n, m in model.named_modules()],
    }


def assert_unchanged(model, before):
    after = snapshot(model)
    assert after["hooks"] == before["hooks"], "hooks left on the model"
    assert after["types"] == before["types"]
    assert after["attrs"] == before["attrs"], "attributes added to or removed from modules"
    assert after["training"] == before["training"]
    assert after["requires_grad"] == before["requires_grad"]
    assert after["inplace"] == before["inplace"]
    for k, v in before["params"].items():
        assert torch.equal(v, dict(model.named_parameters())[k]), k
    for k, v in before["buffers"].items():
        assert torch.equal(v, dict(model.named_buffers())[k]), k


# --------------------------------------------------------------------------- layers and capture


def test_layers_names_kinds_shapes(net):
    infos = {i.name: i for i in xnb.layers(net)}
    assert infos["conv3"].kind == "conv" and infos["conv3"].output_shape == (64, 8, 8)
    assert infos["pool4"].kind == "pool" and infos["pool4"].output_shape == (64, 4, 4)
    assert infos["fc6"].kind == "linear" and infos["fc6"].output_shape == (128,)
    assert infos["relu7"].kind == "relu"
    assert [i.name for i in xnb.layers(net, kinds="conv")] == ["conv1", "conv2", "conv3", "conv4"]
    # scenes at 128 px go through the adaptive pool to the same FC input
    assert {i.name: i for i in xnb.layers(net, (3, 128, 128))}["avgpool"].output_shape == (64, 4, 4)


def test_layers_reused_module_counts_calls():
    m = torchvision.models.resnet18(weights=None).eval()
    infos = {i.name: i for i in xnb.layers(m, (3, 64, 64))}
    assert infos["layer1.0.relu"].calls == 2
    assert infos["layer1.0.conv1"].output_shape == (64, 16, 16)


def test_unknown_layer_lists_valid(net):
    with pytest.raises(ValueError, match=r"layer: unknown layer 'conv9'.*conv1.*fc8"):
        xnb.attribute(net, torch.rand(1, 3, 64, 64), "saliency", layer="conv9", channel=0)
    with pytest.raises(ValueError, match="conv1"):
        with xnb.capture(net, ["nope"]):
            pass


def test_capture_records_and_removes_hooks_on_error(net, images):
    before = snapshot(net)
    with xnb.capture(net, ["conv1", "fc6"]) as acts:
        out = net(images)
    assert acts["conv1"].shape == (3, 16, 64, 64)
    assert torch.allclose(net.fc8(net.drop7(net.relu7(net.fc7(net.relu6(acts["fc6"]))))), out)
    with pytest.raises(RuntimeError, match="boom"):
        with xnb.capture(net, "conv2"):
            raise RuntimeError("boom")
    assert_unchanged(net, before)


# --------------------------------------------------------------------------- closed forms


class Linear2(nn.Module):
    """A linear 'image classifier' y = W·vec(x) + b: every gradient method has a closed form."""

    def __init__(self):
        super().__init__()
        self.flatten = nn.Flatten()
        self.fc = nn.Linear(3 * 4 * 4, 5)

    def forward(self, x):
        return self.fc(self.flatten(x))


def test_closed_forms_on_a_linear_model():
    torch.manual_seed(3)
    m = Linear2().eval()
    x = torch.rand(2, 3, 4, 4)
    w = m.fc.weight.detach().reshape(5, 3, 4, 4)
    g = xnb.attribute(m, x, "saliency", target=[1, 4], raw=True)
    assert torch.allclose(g, w[[1, 4]], atol=1e-6)
    ixg = xnb.attribute(m, x, "input_x_gradient", target=[1, 4], raw=True)
    assert torch.allclose(ixg, x * w[[1, 4]], atol=1e-6)
    ig = xnb.attribute(m, x, "integrated_gradients", target=[1, 4], raw=True, n_steps=8)
    assert torch.allclose(ig, x * w[[1, 4]], atol=1e-5)  # linear: IG = (x - 0)·w exactly
    sal = xnb.attribute(m, x, "saliency", target=[1, 4])
    assert torch.allclose(sal, w[[1, 4]].abs().amax(1), atol=1e-6)  # default map: max |g| over RGB


def test_gradcam_matches_its_definition(net, images):

    with xnb.capture(net, "conv4") as cap:
        out = net(images[:1])
    a = cap["conv4"]
    (g,) = torch.autograd.grad(out[0, 2], a)
    cam = torch.relu((g.mean((2, 3), keepdim=True) * a).sum(1))[0]
    ours = xnb.attribute(net, images[:1], "gradcam", target=2, saliency_layer="conv4", resize=False)[0]
    assert torch.allclose(ours, cam.detach(), atol=1e-5)
    default = xnb.attribute(net, images[:1], "gradcam", target=2, resize=False)[0]  # default: last conv
    assert torch.allclose(default, ours)


# --------------------------------------------------------------------------- excitation backprop vs TorchRay


def _torchray(model, x, target, saliency_layer, contrast_layer=None, classifier_layer=None):
    from torchray.attribution.excitation_backprop import (contrastive_excitation_backprop,
                                                          excitation_backprop)
    m = copy.deepcopy(model)  # TorchRay leaves requires_grad off on the parameters
    if contrast_layer is None:
        return excitation_backprop(m, x.clone(), target, saliency_layer=saliency_layer)[:, 0]
    return contrastive_excitation_backprop(m, x.clone(), target, saliency_layer=saliency_layer,
                                           contrast_layer=contrast_layer,
                                           classifier_layer=classifier_layer)[:, 0]


@pytest.mark.parametrize("target", [0, 3, 5])
def test_excitation_backprop_matches_torchray_small_net(net, images, target):
    for sal in ("pool2", "conv3", "pool4"):
        ours = xnb.attribute(net, images[:1], "excitation_backprop", target=target, saliency_layer=sal,
                             resize=False)
        assert pearson(ours, _torchray(net, images[:1], target, sal)) >= 0.99
        ours = xnb.attribute(net, images[:1], "contrastive_excitation_backprop", target=target,
                             saliency_layer=sal, resize=False)  # default contrast: relu7, classifier fc8
        ref = _torchray(net, images[:1], target, sal, "relu7", "fc8")
        assert pearson(ours, ref) >= 0.99
        assert (ours >= 0).all()


@pytest.mark.slow
def test_excitation_backprop_matches_torchray_vgg16():
    torch.manual_seed(0)
    vgg = torchvision.models.vgg16(weights=None).eval()
    x = torch.rand(1, 3, 224, 224, generator=torch.Generator().manual_seed(0))
    before = snapshot(vgg)
    for target in (1, 517):
        ours = xnb.attribute(vgg, x, "excitation_backprop", target=target, saliency_layer="features.23",
                             resize=False)
        assert ours.shape == (1, 14, 14)
        assert pearson(ours, _torchray(vgg, x, target, "features.23")) >= 0.99
        ours = xnb.attribute(vgg, x, "contrastive_excitation_backprop", target=target,
                             saliency_layer="features.23", resize=False)
        # default contrast layer is relu7 = classifier.4, the input of the last linear layer
        ref = _torchray(vgg, x, target, "features.23", "classifier.4", "classifier.6")
        assert pearson(ours, ref) >= 0.99
    assert_unchanged(vgg, before)


def test_lrp_alpha1beta0_is_proportional_to_excitation_backprop(net, images):
    eb = xnb.attribute(net, images[:1], "excitation_backprop", target=1, raw=True)
    lrp = xnb.attribute(net, images[:1], "lrp", target=1, raw=True, rule="alpha1beta0")
    assert pearson(eb, lrp) >= 0.999


def test_lrp_epsilon_conserves_relevance_without_biases():
    torch.manual_seed(0)
    m = SmallVGG().eval()
    with torch.no_grad():
        for mod in m.modules():
            if getattr(mod, "bias", None) is not None:
                mod.bias.zero_()
    x = torch.rand(2, 3, 64, 64)
    r = xnb.attribute(m, x, "lrp", target=[0, 1], raw=True)
    score = xnb.explained_score(m, x, target=[0, 1])
    assert torch.allclose(r.sum((1, 2, 3)), score, rtol=1e-3, atol=1e-5)


# --------------------------------------------------------------------------- our rules vs Captum


@pytest.mark.parametrize("method", ["guided_backprop", "deconvnet", "saliency", "input_x_gradient"])
def test_rule_engine_equals_captum(net, images, method):
    from xnb.attribution import _Selection, _captum_input_signal, _rule_signal

    sel = _Selection("target", [1, 2, 3], None, None)
    ours = _rule_signal(method, net, images, sel, {}, None)
    ref = _captum_input_signal(method, net, images, sel, {})
    assert torch.allclose(ours, ref, atol=1e-6)


# --------------------------------------------------------------------------- batched unit heatmaps


@pytest.mark.parametrize("method", [m for m in METHODS if m not in CLASS_ONLY])
def test_batched_channels_equal_one_at_a_time(net64, images, method):
    # (contrastive EB and the semantic methods explain classes only: see test_bad_inputs)
    chans = [0, 7, 13]
    kw = {"n_steps": 8} if method == "integrated_gradients" else {}
    x = images[:2].double()
    many = xnb.attribute(net64, x, method, layer="conv3", channel=chans, **kw)
    assert many.shape == (2, 3, 64, 64)
    for j, c in enumerate(chans):
        one = xnb.attribute(net64, x, method, layer="conv3", channel=c, **kw)
        assert torch.allclose(many[:, j], one, atol=1e-10, rtol=1e-8), (method, c)


def test_batched_neurons_equal_one_at_a_time(net, net64, images):
    units = [(3, 2, 2), (10, 5, 1)]
    many = xnb.attribute(net64, images[:1].double(), "guided_backprop", layer="conv3", neuron=units)
    for j, u in enumerate(units):
        one = xnb.attribute(net64, images[:1].double(), "guided_backprop", layer="conv3", neuron=u)
        assert torch.allclose(many[:, j], one, atol=1e-10)
    fc = xnb.attribute(net64, images[:1].double(), "saliency", layer="fc6", neuron=[4, 9])
    assert fc.shape == (1, 2, 64, 64)
    # an FC unit's saliency is the gradient of that unit: check one against autograd
    x = images[:1].double().requires_grad_(True)
    with xnb.capture(net64, "fc6") as cap:
        net64(x)
    (g,) = torch.autograd.grad(cap["fc6"][0, 9], x)
    assert torch.allclose(fc[0, 1], g[0].abs().amax(0), atol=1e-6)


def test_channel_energy_seed_is_the_activation(net, images):
    # d/dx ½‖a_c‖² = J^T a_c: the deconvnet seed of Zeiler & Fergus
    x = images[:1].clone().requires_grad_(True)
    with xnb.capture(net, "conv2") as cap:
        net(x)
    a = cap["conv2"][0, 5]
    (g,) = torch.autograd.grad(0.5 * (a * a).sum(), x)
    ours = xnb.attribute(net, images[:1], "saliency", layer="conv2", channel=5, channel_score="energy", raw=True)
    assert torch.allclose(ours, g, atol=1e-6)


# --------------------------------------------------------------------------- in-place and reused ReLUs


class Residual(nn.Module):
    """A tiny ResNet-style net; ``reuse=True`` calls one in-place ReLU module three times (as torchvision's
    ResNet does); ``reuse=False`` is its twin with separate, out-of-place ReLUs."""

    def __init__(self, reuse: bool):
        super().__init__()
        self.reuse = reuse
        self.conv1 = nn.Conv2d(3, 8, 3, padding=1)
        self.conv2 = nn.Conv2d(8, 8, 3, padding=1)
        self.conv3 = nn.Conv2d(8, 8, 3, padding=1)
        if reuse:
            self.relu = nn.ReLU(inplace=True)
        else:
            self.relu_a, self.relu_b, self.relu_c = nn.ReLU(), nn.ReLU(), nn.ReLU()
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.flatten = nn.Flatten()
        self.fc = nn.Linear(8, 4)

    def _relu(self, i, x):
        return self.relu(x) if self.reuse else (self.relu_a, self.relu_b, self.relu_c)[i](x)

    def forward(self, x):
        x = self._relu(0, self.conv1(x))
        y = self._relu(1, self.conv2(x))
        y = self.conv3(y) + x
        return self.fc(self.flatten(self.pool(self._relu(2, y))))


@pytest.mark.parametrize("method", [m for m in METHODS if m != "lrp"])
def test_inplace_and_reused_relu_match_twin(method):
    torch.manual_seed(0)
    a = Residual(reuse=True).eval()
    b = Residual(reuse=False).eval()
    b.load_state_dict(a.state_dict(), strict=False)
    x = torch.rand(2, 3, 16, 16)
    kw = extra(method, sevec_layer="pool", units=8, classes=4)
    before = snapshot(a)
    ha = xnb.attribute(a, x, method, target=[1, 2], **kw)
    hb = xnb.attribute(b, x, method, target=[1, 2], **kw)
    assert torch.allclose(ha, hb, atol=1e-5), method
    unit_method = UNIT_TWIN.get(method, method)
    kw = extra(unit_method)
    ua = xnb.attribute(a, x, unit_method, layer="conv3", channel=[1, 2], **kw)
    ub = xnb.attribute(b, x, unit_method, layer="conv3", channel=[1, 2], **kw)
    assert torch.allclose(ua, ub, atol=1e-5), method
    assert_unchanged(a, before)


def test_torchvision_resnet18_runs_and_is_left_unchanged():
    m = torchvision.models.resnet18(weights=None).eval()
    x = torch.rand(1, 3, 64, 64)
    before = snapshot(m)
    for method in ("guided_backprop", "deconvnet", "excitation_backprop", "gradcam", "saliency"):
        h = xnb.attribute(m, x, method, target=3)
        assert h.shape == (1, 64, 64) and torch.isfinite(h).all()
    assert_unchanged(m, before)


# --------------------------------------------------------------------------- the model is left as it was


@pytest.mark.parametrize("method", METHODS)
def test_every_method_leaves_the_model_unchanged(method, images):
    torch.manual_seed(0)
    m = SmallVGG()
    m.train()  # also the training flag must come back
    m.conv1.weight.requires_grad_(False)
    before = snapshot(m)
    kw = extra(method)
    xnb.attribute(m, images[:2], method, target=[0, 1], **kw)
    assert_unchanged(m, before)
    if method not in CLASS_ONLY:
        xnb.attribute(m, images[:1], method, layer="conv3", channel=[0, 1], **kw)
        assert_unchanged(m, before)
    for bad in (dict(target=99), dict(layer="conv3", channel=500), dict(target=0, reduce="nope")):
        with pytest.raises((ValueError, TypeError)):
            xnb.attribute(m, images[:1], method, **bad, **kw)
        assert_unchanged(m, before)
    # an error raised after the backward pass must not leave hooks behind either
    with pytest.raises(ValueError):
        xnb.attribute(m, images[:1], method, target=0, saliency_layer="fc6", **kw)
    assert_unchanged(m, before)


# --------------------------------------------------------------------------- options


def test_saliency_layer_and_resize(net, images):
    h = xnb.attribute(net, images[:2], "excitation_backprop", target=[0, 1], saliency_layer="pool2", resize=False)
    assert h.shape == (2, 16, 16)
    up = xnb.attribute(net, images[:2], "excitation_backprop", target=[0, 1], saliency_layer="pool2")
    assert up.shape == (2, 64, 64)
    raw = xnb.attribute(net, images[:2], "guided_backprop", target=[0, 1], saliency_layer="conv3", raw=True)
    assert raw.shape == (2, 64, 8, 8)
    gb_layer = xnb.attribute(net, images[:2], "guided_backprop", target=[0, 1], saliency_layer="conv3",
                             resize=False)
    assert torch.allclose(gb_layer, raw.sum(1))


def test_batch_size_chunks_give_the_same_maps(net64, images):
    x = images.double()
    a = xnb.attribute(net64, x, "guided_backprop", layer="conv4", channel=[1, 2, 3, 4])
    b = xnb.attribute(net64, x, "guided_backprop", layer="conv4", channel=[1, 2, 3, 4], batch_size=5)
    assert torch.allclose(a, b, atol=1e-10)


def test_default_target_is_the_prediction(net, images):
    pred = net(images).argmax(1)
    assert torch.allclose(xnb.attribute(net, images, "saliency"),
                          xnb.attribute(net, images, "saliency", target=pred.tolist()))


@pytest.mark.skipif(not torch.cuda.is_available(), reason="no CUDA device on this machine")
def test_cuda_inputs_and_outputs_stay_on_device(images):
    m = SmallVGG().cuda().eval()
    for method in METHODS:
        h = xnb.attribute(m, images[:2], method, target=[0, 1], **extra(method))
        assert h.device.type == "cuda"
        ref = xnb.attribute(m.cpu(), images[:2], method, target=[0, 1], **extra(method))
        m.cuda()
        assert torch.allclose(h.cpu(), ref, atol=1e-4, rtol=1e-3), method


# --------------------------------------------------------------------------- bad input


def test_bad_inputs(net, images):
    x = images[:1]
    cases = [
        (dict(method="nope", target=0), ValueError, r"method: unknown method 'nope'; valid methods: saliency"),
        (dict(method="saliency", target=6), ValueError, r"target: 6 is out of range; the model has 6 outputs"),
        (dict(method="saliency", layer="conv3", channel=64), ValueError, r"channel: 64 .* 'conv3' has 64 channels"),
        (dict(method="saliency", layer="conv3", neuron=(0, 9, 0)), ValueError, r"neuron: .*out of range"),
        (dict(method="saliency", layer="conv3", neuron=(0, 1)), ValueError, r"neuron: index .* 2 entries"),
        (dict(method="saliency", channel=1), ValueError, r"layer: channel= and neuron= need layer="),
        (dict(method="saliency", target=0, layer="conv3", channel=1), ValueError, r"target: give either"),
        (dict(method="saliency", target=0, colour="x"), ValueError, r"options: unknown option"),
        (dict(method="saliency", target=0, reduce="mean"), ValueError, r"reduce: unknown value 'mean'"),
        (dict(method="contrastive_excitation_backprop", layer="conv3", channel=1), ValueError,
         r"explains output classes"),
        (dict(method="saliency", target=0, fix_stride=True), ValueError, r"fix_stride: only for"),
        (dict(method="saliency", target=[0, 1]), TypeError, r"target: expected an int or a sequence of 1"),
    ]
    for kw, exc, msg in cases:
        with pytest.raises(exc, match=msg):
            xnb.attribute(net, x, **kw)
    with pytest.raises(ValueError, match=r"x: expected images of shape \[N,C,H,W\]"):
        xnb.attribute(net, torch.rand(64, 64), "saliency", target=0)
    with pytest.raises(TypeError, match="x: expected a floating-point tensor"):
        xnb.attribute(net, torch.zeros(1, 3, 64, 64, dtype=torch.uint8), "saliency", target=0)
    bad = images[:1].clone()
    bad[0, 0, 0, 0] = float("nan")
    with pytest.raises(ValueError, match="x: contains NaN or inf"):
        xnb.attribute(net, bad, "saliency", target=0)
    with pytest.raises(ValueError, match="x: the model expects 3 input channels, got 1"):
        xnb.attribute(net, torch.rand(1, 1, 64, 64), "saliency", target=0)
    with pytest.raises(ValueError, match="saliency_layer: 'fc6' outputs a flat vector"):
        xnb.attribute(net, x, "excitation_backprop", target=0, saliency_layer="fc6")
    with pytest.raises(TypeError, match="model: expected a torch.nn.Module"):
        xnb.attribute("vgg", x, "saliency", target=0)


# --------------------------------------------------------------------------- semantic suppression (SeVec §5.1)


def test_semantic_suppression_zeroes_units_outside_the_mask(net, images):
    g = torch.Generator().manual_seed(2)
    sevecs = torch.rand(6, 1024, generator=g)
    targets = [0, 3, 5]
    for method, base in (("semantic_guided_backprop", "guided_backprop"),
                         ("semantic_input_x_gradient", "input_x_gradient")):
        # the signal read right at the suppression layer: the baseline's, masked
        sig = xnb.attribute(net, images, method, target=targets, sevec=sevecs, sevec_layer="avgpool",
                            threshold=0.5, saliency_layer="avgpool", raw=True)
        ref = xnb.attribute(net, images, base, target=targets, saliency_layer="avgpool", raw=True)
        for r, t in enumerate(targets):
            keep = (sevecs[t] / sevecs[t].max() > 0.5).reshape(64, 4, 4)
            assert keep.any() and (~keep).any()
            assert torch.all(sig[r][~keep] == 0), "a unit outside the SeVec mask got signal"
            assert torch.allclose(sig[r][keep], ref[r][keep], atol=1e-6)


def test_one_sevec_for_all_rows_broadcasts_over_the_batch(net, images):
    """One SeVec [n] applied to several images equals that SeVec repeated once per class."""
    g = torch.Generator().manual_seed(3)
    one = torch.rand(1024, generator=g)
    for method in ("semantic_guided_backprop", "semantic_input_x_gradient"):
        a = xnb.attribute(net, images, method, target=[0, 3, 5], sevec=one, sevec_layer="avgpool")
        b = xnb.attribute(net, images, method, target=[0, 3, 5], sevec=one.expand(6, -1), sevec_layer="avgpool")
        assert len(images) >= 2 and torch.allclose(a, b, atol=1e-6)


def test_sevecs_of_fewer_concepts_with_a_class_map_equal_the_padded_ones(net, images):
    """SeVecs of C concepts plus {class: concept} give the maps of the SeVecs zero-padded to one per output;
    a class without a concept gets a zero map."""
    from types import SimpleNamespace

    g = torch.Generator().manual_seed(4)
    concepts = torch.rand(2, 1024, generator=g)
    sv = SimpleNamespace(vectors_=concepts, concept_names_=["petals", "disc"])
    padded = torch.zeros(6, 1024)
    padded[3], padded[5] = concepts[1], concepts[0]
    for method in ("semantic_guided_backprop", "semantic_input_x_gradient"):
        a = xnb.attribute(net, images, method, target=[3, 5, 3], sevec=sv, sevec_layer="avgpool",
                          class_to_concept={3: "disc", 5: 0})
        b = xnb.attribute(net, images, method, target=[3, 5, 3], sevec=padded, sevec_layer="avgpool")
        assert torch.allclose(a, b, atol=1e-6) and a.abs().sum() > 0
        z = xnb.attribute(net, images[:1], method, target=1, sevec=sv, sevec_layer="avgpool",
                          class_to_concept={3: "disc"})
        assert torch.all(z == 0)
    with pytest.raises(ValueError, match="unknown concept 'leaves'.*petals, disc"):
        xnb.attribute(net, images[:1], "semantic_guided_backprop", target=0, sevec=sv, sevec_layer="avgpool",
                      class_to_concept={0: "leaves"})
    with pytest.raises(TypeError, match="class_to_concept"):
        xnb.attribute(net, images[:1], "semantic_guided_backprop", target=0, sevec=sv, sevec_layer="avgpool",
                      class_to_concept=["disc"])


def test_semantic_methods_with_a_full_mask_equal_their_baselines(net, images):
    ones = torch.ones(6, 1024)
    for method, base in (("semantic_guided_backprop", "guided_backprop"),
                         ("semantic_input_x_gradient", "input_x_gradient")):
        a = xnb.attribute(net, images, method, target=[0, 1, 2], sevec=ones, sevec_layer="avgpool", threshold=0.0)
        b = xnb.attribute(net, images, base, target=[0, 1, 2])
        assert torch.allclose(a, b, atol=1e-6)


def test_semantic_bad_inputs(net, images):
    x = images[:1]
    with pytest.raises(ValueError, match="sevec, sevec_layer: semantic methods need"):
        xnb.attribute(net, x, "semantic_guided_backprop", target=0)
    with pytest.raises(ValueError, match="sevec: SeVecs have 10 entries but layer 'avgpool' has 1024 units"):
        xnb.attribute(net, x, "semantic_guided_backprop", target=0, sevec=torch.rand(6, 10), sevec_layer="avgpool")
    with pytest.raises(ValueError, match=r"threshold: must be in \[0, 1\]"):
        xnb.attribute(net, x, "semantic_guided_backprop", target=0, sevec=torch.rand(6, 1024),
                      sevec_layer="avgpool", threshold=1.5)
    with pytest.raises(ValueError, match="explains output classes"):
        xnb.attribute(net, x, "semantic_guided_backprop", layer="conv3", channel=0, sevec=torch.rand(6, 1024),
                      sevec_layer="avgpool")


def test_stream_layer_matches_capture_and_stops_early(net, images):
    from xnb.layers import run_to, stream_layer

    before = snapshot(net)
    z, out = stream_layer(net, "conv3", images, batch_size=2, return_output=True)
    with xnb.capture(net, "conv3") as cap, torch.no_grad():
        ref_out = net(images)
    # (batches of 2 vs 3: oneDNN kernels differ in the last bits)
    assert torch.allclose(z, cap["conv3"].flatten(1), atol=1e-5) and torch.allclose(out, ref_out, atol=1e-5)
    a, rest = run_to(net, "pool2", images)
    assert rest is None and a.shape == (3, 32, 16, 16)  # stopped: no model output
    with pytest.raises(ValueError, match="layer: unknown layer 'conv9'"):
        stream_layer(net, "conv9", images)
    assert_unchanged(net, before)


def test_smoothgrad_is_captum_noise_tunnel_and_deterministic_by_seed(net, images):
    from captum.attr import NoiseTunnel, Saliency

    a = xnb.attribute(net, images, "smoothgrad", target=[0, 2, 4], nt_samples=4, seed=3, raw=True)
    b = xnb.attribute(net, images, "smoothgrad", target=[0, 2, 4], nt_samples=4, seed=3, raw=True)
    c = xnb.attribute(net, images, "smoothgrad", target=[0, 2, 4], nt_samples=4, seed=4, raw=True)
    assert torch.equal(a, b) and not torch.equal(a, c)
    state = torch.random.get_rng_state()
    with torch.random.fork_rng():
        torch.manual_seed(3)
        ref = NoiseTunnel(Saliency(net)).attribute(images, target=[0, 2, 4], nt_type="smoothgrad", nt_samples=4,
                                                   stdevs=0.15 * float(images.max() - images.min()), abs=False)
    assert torch.allclose(a, ref, atol=1e-6)
    assert torch.equal(torch.random.get_rng_state(), state)  # the global random state is untouched
    # with no noise SmoothGrad is the plain gradient
    z = xnb.attribute(net, images, "smoothgrad", target=[0, 2, 4], nt_samples=2, stdevs=0.0, raw=True)
    assert torch.allclose(z, xnb.attribute(net, images, "saliency", target=[0, 2, 4], raw=True), atol=1e-6)


def test_occlusion_matches_brute_force(net, images):
    """One window covering the whole image: the map is the score drop when the image is set to 0."""
    x = images[:2]
    occ = xnb.attribute(net, x, "occlusion", target=[1, 3], window=x.shape[-1], stride=x.shape[-1], raw=True)
    with torch.no_grad():
        drop = net(x)[[0, 1], [1, 3]] - net(torch.zeros_like(x))[[0, 1], [1, 3]]
    assert torch.allclose(occ[:, 0, 0, 0], drop, atol=1e-5)
    assert torch.allclose(occ, occ[:, :1, :1, :1].expand_as(occ))  # the same value on every covered pixel
    m = xnb.attribute(net, x, "occlusion", target=[1, 3], window=8, stride=4)
    assert m.shape == (2, *x.shape[-2:])
    # several window positions per forward pass (the default) give the maps of one position per pass
    one = xnb.attribute(net, x, "occlusion", target=[1, 3], window=8, stride=4, perturbations_per_eval=1)
    assert torch.allclose(m, one, atol=1e-5)
    with pytest.raises(ValueError, match="perturbations_per_eval"):
        xnb.attribute(net, x, "occlusion", target=0, perturbations_per_eval=0)
    with pytest.raises(ValueError, match="explains output classes"):
        xnb.attribute(net, x, "occlusion", layer="conv3", channel=0)
    with pytest.raises(ValueError, match="window"):
        xnb.attribute(net, x, "occlusion", target=0, window=0)


def test_linear_mwp_in_blocks_equals_one_block_and_runs_batched(net, images, monkeypatch):
    """The linear MWP rule works on blocks of W⁺ (memory); blocks, one block, and k units batched by vmap
    give the same maps."""
    import xnb.rules as R

    one = xnb.attribute(net, images[:2], "excitation_backprop", layer="fc7", neuron=[3, 5], raw=True)
    monkeypatch.setattr(R, "_MWP_CHUNK_BYTES", 1)  # one output row of W⁺ at a time
    blocks = xnb.attribute(net, images[:2], "excitation_backprop", layer="fc7", neuron=[3, 5], raw=True)
    single = xnb.attribute(net, images[:2], "excitation_backprop", layer="fc7", neuron=5, raw=True)
    assert torch.allclose(blocks, one, rtol=1e-4, atol=1e-7)
    assert torch.allclose(blocks[:, 1], single, rtol=1e-4, atol=1e-7)
    c = xnb.attribute(net, images[:2], "contrastive_excitation_backprop", target=[0, 1], raw=True)
    monkeypatch.setattr(R, "_MWP_CHUNK_BYTES", 64 * 2 ** 20)
    assert torch.allclose(c, xnb.attribute(net, images[:2], "contrastive_excitation_backprop", target=[0, 1],
                                           raw=True), rtol=1e-4, atol=1e-7)
