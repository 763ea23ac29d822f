"""xnb.resample: the metrics against numpy/scipy on small nets, zero-variance cases, selections,
patches against Captum's deconvnet, argument checks, hook/parameter hygiene, the live explorer,
claims() (shape, argument checks, its chance-level Jaccard and untrained-network helpers)."""
from __future__ import annotations

import numpy as np
import pytest
import scipy.stats
import torch
from torch import nn

import xnb
from xnb import resample as R
from test_core import assert_unchanged, snapshot


@pytest.fixture(autouse=True, scope="module")
def one_thread():
    """Small batches run as fast on one thread, and do not stall when other processes hold the cores."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


def tiny_net(seed=0):
    """conv(3→4, 3×3) relu | conv(4→5, 3×3, stride 2) relu | flatten | linear(→3). Channel 3 of conv1
    has a large negative bias (dead everywhere: zero variance); channel 4 of conv2 has zero weights and a
    positive bias (live and constant)."""
    torch.manual_seed(seed)
    net = nn.Sequential()
    net.add_module("conv1", nn.Conv2d(3, 4, 3, padding=1))
    net.add_module("relu1", nn.ReLU())
    net.add_module("conv2", nn.Conv2d(4, 5, 3, stride=2, padding=1))
    net.add_module("relu2", nn.ReLU())
    net.add_module("flatten", nn.Flatten())
    net.add_module("fc", nn.Linear(5 * 4 * 4, 3))
    with torch.no_grad():
        net.conv1.bias[3] = -100.0
        net.conv2.weight[4] = 0.0
        net.conv2.bias[4] = 0.5
    return net.eval()


def image(seed=1, size=8):
    return torch.rand(1, 3, size, size, generator=torch.Generator().manual_seed(seed))


def activations(net, rows, layer):
    with xnb.capture(net, layer, detach=True) as cap, torch.no_grad():
        out = net(rows)
    return cap[layer].clamp(min=0).double().numpy(), out.double().numpy()


def oracle(net, x, layer, n, sigma, seed, target, threshold):
    """Every metric by brute force with numpy/scipy on the captured activations."""
    rows = torch.cat([x, R.perturb(x, n, sigma, seed=seed)])  # one batch, as xnb runs it (same float32 values)
    z, out = activations(net, rows, layer)
    zc, z, o = z[0].reshape(z.shape[1], -1), z[1:].reshape(n, z.shape[1], -1), out[1:, target]
    C, P = z.shape[1:]
    corr, prec = np.zeros(C), np.zeros(C)
    for c in range(C):
        rs, inv = [], []
        for p in range(P):
            v = z[:, c, p]
            if np.all(v == v[0]):
                continue  # zero variance: no correlation, no finite precision
            rs.append(abs(scipy.stats.pearsonr(v, o)[0]))
            inv.append(1.0 / np.var(v))
        corr[c] = np.mean(rs) if rs else 0.0
        if z[:, c].mean() < threshold:
            prec[c] = -np.inf
        else:
            prec[c] = np.mean(inv) if inv else np.inf
    w = outgoing_weights_brute_force(net, layer)
    return {"correlation": corr, "precision": prec, "activation_sum": zc.sum(1),
            "activation_variance": zc.var(1), "weight_sum": np.array([v.sum() for v in w]),
            "weight_variance": np.array([v.var() for v in w])}


def outgoing_weights_brute_force(net, layer):
    """The paper's w^{l+1} of every unit of tiny_net's conv1 / conv2, without index arithmetic: conv1 →
    every conv2 weight that multiplies input channel c (loops over the kernel); conv2 → the Jacobian of
    the linear fc(flatten(z)) with respect to z, restricted to channel c (equal to the weights it uses)."""
    if layer == "conv1":
        W = net.conv2.weight.detach().double()
        return [np.array([float(W[o, c, i, j]) for o in range(W.shape[0]) for i in range(W.shape[2])
                          for j in range(W.shape[3])]) for c in range(W.shape[1])]
    fc = net.fc.double()
    try:
        J = torch.autograd.functional.jacobian(lambda z: fc(z.reshape(1, -1))[0], torch.zeros(5, 4, 4).double())
    finally:
        net.fc.float()
    return [J[:, c].detach().numpy().ravel() for c in range(5)]


@pytest.mark.parametrize("layer", ["conv1", "conv2"])
def test_metrics_match_numpy_scipy(layer):
    net, x = tiny_net(), image()
    want = oracle(net, x, layer, n=30, sigma=0.2, seed=3, target=1, threshold=0.05)
    got = xnb.resample.neuron_importance_all(net, x, [layer], n=30, sigma=0.2, seed=3, target=1,
                                             threshold=0.05, threshold_scale="absolute")[layer]
    assert set(got) == set(R.METRICS)
    for metric, ref in want.items():
        g = got[metric].numpy()
        assert g.dtype == np.float64 and g.shape == ref.shape
        fin = np.isfinite(ref)
        np.testing.assert_array_equal(np.isfinite(g), fin, err_msg=metric)
        np.testing.assert_array_equal(g[~fin], ref[~fin], err_msg=metric)
        np.testing.assert_allclose(g[fin], ref[fin], rtol=2e-5, atol=1e-9, err_msg=metric)


def test_weight_metrics_outgoing_and_incoming():
    """Paper (default): the next layer's weights on the unit; authors' code: the unit's own filter."""
    net, x = tiny_net(), image()
    for layer in ("conv1", "conv2", "relu1"):  # relu1 feeds conv2 as conv1 does: same outgoing weights
        res = R.resample(net, x, [layer], n=4)
        ref = outgoing_weights_brute_force(net, "conv1" if layer == "relu1" else layer)
        np.testing.assert_allclose(res.importance(layer, "weight_sum").numpy(), [v.sum() for v in ref], rtol=1e-6)
        np.testing.assert_allclose(res.importance(layer, "weight_variance").numpy(), [v.var() for v in ref],
                                   rtol=1e-6)
    inc = R.resample(net, x, ["conv1", "conv2"], n=4, weights="incoming")
    for layer in ("conv1", "conv2"):
        w = dict(net.named_modules())[layer].weight.detach().double().numpy()
        w = w.reshape(w.shape[0], -1)
        np.testing.assert_allclose(inc.importance(layer, "weight_sum").numpy(), w.sum(1), rtol=1e-6)
        np.testing.assert_allclose(inc.importance(layer, "weight_variance").numpy(), w.var(1), rtol=1e-6)
    # conv2's unit 4 has zero incoming weights, but its outgoing (fc) weights are not zero
    assert inc.importance("conv2", "weight_sum")[4] == 0.0
    assert R.resample(net, x, ["conv2"], n=4).importance("conv2", "weight_variance")[4] > 0
    # the last layer has no outgoing weights; a ReLU has no incoming ones: clear errors
    with pytest.raises(ValueError, match="outgoing.*no conv or linear layer runs after"):
        R.neuron_importance(net, x, "fc", "weight_sum", n=4)
    with pytest.raises(ValueError, match="weights"):
        R.neuron_importance(net, x, "relu1", "weight_sum", n=4, weights="incoming")
    with pytest.raises(ValueError, match="weights.*outgoing"):
        R.resample(net, x, ["conv1"], n=4, weights="both")
    # a grouped next conv does not take the channels one to one: no outgoing weights, said so
    g = nn.Sequential(nn.Conv2d(3, 4, 3), nn.ReLU(), nn.Conv2d(4, 4, 3, groups=2)).eval()
    with pytest.raises(ValueError, match="groups=2"):
        R.neuron_importance(g, x, "0", "weight_sum", n=4)


def test_zero_variance_cases_are_explicit():
    net, x = tiny_net(), image()
    res = R.resample(net, x, ["conv1", "conv2"], n=20, seed=0)
    # dead unit (conv1 ch 3): constant 0 everywhere -> correlation 0, precision discarded (-inf)
    assert res.importance("conv1", "correlation")[3] == 0.0
    absolute = dict(threshold_scale="absolute")  # λ compared with the activation itself
    assert res.importance("conv1", "precision", threshold=0.0, **absolute)[3] == np.inf  # live at λ=0: +inf
    assert res.importance("conv1", "precision", threshold=1e-9, **absolute)[3] == -np.inf
    # live constant unit (conv2 ch 4 = 0.5 everywhere): perfectly precise, uncorrelated
    assert res.importance("conv2", "precision", threshold=0.1, **absolute)[4] == np.inf
    assert res.importance("conv2", "correlation")[4] == 0.0
    assert res.importance("conv2", "precision", threshold=0.6, **absolute)[4] == -np.inf
    # the default reads λ relative to the layer's largest mean activation: a dead unit is still discarded
    assert res.importance("conv1", "precision", threshold=1e-9)[3] == -np.inf
    for layer in res.layers:
        for m in R.METRICS:
            assert not torch.isnan(res.importance(layer, m)).any(), (layer, m)


def test_constant_output_gives_zero_correlation_and_sigma_zero():
    net = tiny_net()
    with torch.no_grad():
        net.fc.weight.zero_()  # the output no longer depends on the image
    s = R.neuron_importance(net, image(), "conv2", "correlation", n=10)
    assert torch.equal(s, torch.zeros(5, dtype=torch.float64))
    # σ = 0: identical copies; every position constant
    net = tiny_net()
    res = R.resample(net, image(), ["conv2"], n=5, sigma=0.0)
    assert torch.equal(res.importance("conv2", "correlation"), torch.zeros(5, dtype=torch.float64))
    p = res.importance("conv2", "precision", threshold=0.0)
    assert torch.isinf(p).all()


def test_correlation_closed_form_one_for_a_linear_unit():
    # 1×1 image: the unit is one number; the output is an affine function of it -> |r| = 1
    net = nn.Sequential()
    net.add_module("conv", nn.Conv2d(2, 1, 1))
    net.add_module("flatten", nn.Flatten())
    net.add_module("fc", nn.Linear(1, 2))
    with torch.no_grad():
        net.conv.weight.copy_(torch.tensor([[[[1.0]], [[2.0]]]]))
        net.conv.bias.fill_(0.1)
        net.fc.weight.copy_(torch.tensor([[-3.0], [0.5]]))
    x = torch.tensor([[[[0.5]], [[0.25]]]])
    for t in (0, 1):
        s = R.neuron_importance(net, x, "conv", "correlation", n=40, target=t)
        assert s.item() == pytest.approx(1.0, abs=1e-5)  # float32 sums within a chunk


def test_chunking_and_seed_determinism():
    net, x = tiny_net(), image()
    a = R.neuron_importance_all(net, x, ["conv1", "conv2"], n=23, seed=5)
    b = R.neuron_importance_all(net, x, ["conv1", "conv2"], n=23, seed=5, batch_size=4)
    c = R.neuron_importance_all(net, x, ["conv1", "conv2"], n=23, seed=6)
    for layer in a:
        for m in a[layer]:  # chunks of 4 rows: other float32 round-off (convolutions and partial sums)
            torch.testing.assert_close(a[layer][m], b[layer][m], rtol=2e-5, atol=1e-9)
    again = R.neuron_importance_all(net, x, ["conv1", "conv2"], n=23, seed=5)
    assert all(torch.equal(a[l][m], again[l][m]) for l in a for m in a[l])  # deterministic by seed
    assert not torch.equal(a["conv2"]["correlation"], c["conv2"]["correlation"])
    single = R.neuron_importance(net, x, "conv2", "precision", n=23, seed=5)
    torch.testing.assert_close(single, a["conv2"]["precision"])


def test_perturb_schedules():
    x = torch.ones(1, 3, 32, 32)
    c = R.perturb(x, n=4, sigma=0.1, seed=0)
    assert c.shape == (4, 3, 32, 32)
    assert torch.equal(c, R.perturb(x, n=4, sigma=0.1, seed=0))
    assert not torch.equal(c, R.perturb(x, n=4, sigma=0.1, seed=1))
    noise = (c - 1).reshape(4, -1)
    assert torch.allclose(noise.std(1), torch.full((4,), 0.1), rtol=0.05)
    g = R.perturb(x, n=12, sigma=0.1, schedule="growing", seed=0)
    assert torch.equal(g[0], x[0])  # copy 0 is the clean image (authors' code)
    std = (g - 1).reshape(12, -1).std(1)
    assert torch.allclose(std[1:], 0.1 * torch.arange(1, 12).float(), rtol=0.05)
    np.testing.assert_array_equal(R.noise_levels(5, 0.2, "growing"), 0.2 * np.arange(5))
    # multiplicative: a zero pixel stays zero
    assert (R.perturb(torch.zeros(3, 4, 4), n=3) == 0).all()


def test_top_neurons_and_jaccard():
    s = torch.tensor([0.5, 2.0, -np.inf, 2.0, 1.0], dtype=torch.float64)
    assert R.top_neurons(s, 2) == [1, 3]
    assert R.top_neurons(s, 10) == [1, 3, 4, 0]  # -inf never selected
    assert R.jaccard([1, 2, 3], [2, 3, 4]) == pytest.approx(2 / 4)
    assert R.jaccard([1, 2, 3], [2, 3, 4], definition="sum") == pytest.approx(2 / 6)
    assert R.jaccard([], []) == 1.0 and R.jaccard([], [], definition="sum") == 0.0
    assert R.jaccard([1, 2], [1, 2]) == 1.0 and R.jaccard([1, 2], [1, 2], definition="sum") == 0.5
    rng = np.random.default_rng(0)
    for _ in range(50):  # |A∩B|/(|A|+|B|) = J/(1+J) for the union Jaccard J
        a, b = rng.choice(10, 4, replace=False), rng.choice(10, rng.integers(1, 6), replace=False)
        j = R.jaccard(a, b)
        assert R.jaccard(a, b, definition="sum") == pytest.approx(j / (1 + j))


@pytest.mark.filterwarnings("ignore::UserWarning")
def test_patches_match_captum_deconvnet():
    from captum.attr import NeuronDeconvolution

    model = xnb.models.load("flowers-single")
    x = xnb.data.flowers(2, seed=4).images[:1]
    before = snapshot(model)
    p = R.patches(model, x, "conv3", [2, 4, 6])
    assert_unchanged(model, before)
    with xnb.capture(model, "conv3", detach=True) as cap, torch.no_grad():
        model(x)
    a = cap["conv3"][0].clamp(min=0)
    for j, u in enumerate(p.units):
        h, w = p.locations[j]
        assert a[u, h, w] == a[u].max()
        ref = NeuronDeconvolution(model, model.conv3).attribute(x, neuron_selector=(int(u), int(h), int(w)))
        ref = ref.norm(dim=1)[0] * float(a[u].max() > 0)
        torch.testing.assert_close(p.heatmaps[j], ref, rtol=1e-4, atol=1e-6)
        nz = torch.nonzero(ref > 0)
        if len(nz):
            assert tuple(p.boxes[j]) == (int(nz[:, 0].min()), int(nz[:, 1].min()),
                                         int(nz[:, 0].max()) + 1, int(nz[:, 1].max()) + 1)
            # the patch lies inside the unit's receptive field: conv3 (h, w) sees input rows 8h-7 .. 8h+10
            r0, c0, r1, c1 = p.boxes[j]
            assert r0 >= 8 * h - 7 and c0 >= 8 * w - 7 and r1 <= 8 * h + 11 and c1 <= 8 * w + 11
        else:
            assert p.empty[j]


def test_model_left_unchanged_and_train_flag_restored():
    model = xnb.models.load("flowers-single")
    model.train()
    before = snapshot(model)
    x = xnb.data.flowers(1, seed=0).images
    R.neuron_importance_all(model, x, n=8)
    assert_unchanged(model, before)
    assert model.training


def test_bad_input():
    net, x = tiny_net(), image()
    with pytest.raises(ValueError, match="n"):
        R.neuron_importance(net, x, "conv1", "correlation", n=1)
    with pytest.raises(ValueError, match="sigma"):
        R.neuron_importance(net, x, "conv1", "correlation", sigma=-0.1)
    with pytest.raises(ValueError, match="metric.*allowed"):
        R.neuron_importance(net, x, "conv1", "loudness")
    with pytest.raises(ValueError, match="unknown layer 'conv9'.*conv1"):
        R.neuron_importance(net, x, "conv9", "correlation")
    with pytest.raises(ValueError, match="weights"):
        R.neuron_importance(net, x, "relu1", "weight_sum", weights="incoming")
    with pytest.raises(ValueError, match="weights"):
        R.neuron_importance_all(net, x, ["relu1"], ["weight_variance"], weights="incoming")
    with pytest.raises(ValueError, match="weights"):
        R.neuron_importance_all(net, x, ["fc"], ["weight_variance"])  # nothing runs after fc
    with pytest.raises(ValueError, match="one image"):
        R.neuron_importance(net, torch.rand(2, 3, 8, 8), "conv1", "correlation")
    with pytest.raises(ValueError, match="NaN"):
        R.perturb(torch.full((3, 4, 4), float("nan")))
    with pytest.raises(ValueError, match="schedule"):
        R.perturb(x, schedule="shrinking")
    with pytest.raises(ValueError, match="threshold"):
        R.neuron_importance(net, x, "conv1", "precision", threshold=-1.0)
    with pytest.raises(ValueError, match="target"):
        R.neuron_importance(net, x, "conv1", "correlation", target=7)
    with pytest.raises(ValueError, match="definition"):
        R.jaccard([1], [1], definition="dice")
    with pytest.raises(ValueError, match="units"):
        R.patches(net, x, "conv1", [9])
    # a relu layer works for the activation metrics (all metrics but the weight ones)
    out = R.neuron_importance_all(net, x, ["relu1"], n=4, weights="incoming")
    assert set(out["relu1"]) == set(R.METRICS) - {"weight_sum", "weight_variance"}
    assert set(R.neuron_importance_all(net, x, ["relu1"], n=4)["relu1"]) == set(R.METRICS)  # outgoing: conv2's


def test_evaluation_pipeline_small():
    model = xnb.models.load("flowers-single")
    ds = xnb.data.flowers(3, seed=2)
    ev = R.evaluate_patches(model, ds.images, ["conv4", "pool4"], k_max=6, n=8, progress=False,
                            weights="incoming")
    loc = ev.localization(ds.flower_masks, k=3, empty="skip")
    assert set(loc) == set(R.METRICS) | {"random"}  # pool4 has no weights: its weight selections are empty
    for frac, tot in loc.values():
        assert tot <= 3 * 2 * 3 and (tot == 0 or 0.0 <= frac <= 1.0)
    # like for like (the default): every metric scored on k patches per layer and image, empty ones as misses
    like = ev.localization(ds.flower_masks, k=3)
    for metric, (frac, tot) in like.items():
        n_layers = 1 if metric.startswith("weight") else 2   # pool4 has no weights
        assert tot == 3 * n_layers * 3, metric
        assert frac * tot == pytest.approx(loc[metric][0] * loc[metric][1])  # the same hits
    # brute-force re-count of one metric
    hit = tot = 0
    for i in range(3):
        for layer in ev.layers:
            for u in ev.selections[i]["correlation"][layer][:3]:
                (r0, c0, r1, c1), empty = ev.boxes[i][layer][u]
                if not empty:
                    tot += 1
                    hit += bool(ds.flower_masks[i, r0:r1, c0:c1].any())
    assert loc["correlation"] == (hit / tot, tot)
    m = R.masked_images(ev, ds.images, "correlation", k=3)
    kept = m.ne(0).any(1)
    assert (m[kept.unsqueeze(1).expand_as(m)] == ds.images[kept.unsqueeze(1).expand_as(m)]).all()


def test_explorer_caches_and_errors():
    model = xnb.models.load("flowers-single")
    ex = xnb.widgets.ResamplingExplorer(model, xnb.data.flowers(3, seed=0), layers=["conv4"], n=8)
    assert ex.errors.widget.value == "" or "Error" not in ex.errors.widget.value
    png = ex.view.value
    assert png.startswith(b"\x89PNG") and ex.n_forward == 1
    ex.threshold.value = 0.01  # a threshold never reruns the network
    ex.top.value = 3
    ex.metric_b.value = "weight_sum"
    assert ex.n_forward == 1
    ex.sigma.value = 0.2  # new copies: one more forward pass
    assert ex.n_forward == 2
    ex.image.value = 2
    assert ex.n_forward == 3 and ex.view.value != png


def test_exercises_check():
    from xnb.exercises import check

    assert check("resample.2", 0.5)
    assert check("resample.3", 1.0)
    assert not check("resample.3", 0.1)


def test_precision_threshold_properties_on_the_shipped_model():
    """By construction (not a paper claim): precision never selects a unit whose mean activation is below
    an absolute λ, and λ relative to the layer's largest mean activation (≤ 1) always keeps that unit."""
    model = xnb.models.load("flowers-single")
    ds = xnb.data.flowers(4, seed=31)
    for i in range(len(ds)):
        res = R.resample(model, ds.images[i:i + 1], ["conv2", "conv3", "conv4"], n=10, seed=i)
        for layer in res.layers:
            act = res.mean_activation(layer)
            for u in R.top_neurons(res.importance(layer, "precision", 0.1, "absolute"), 64):
                assert act[u] >= 0.1
            rel = R.top_neurons(res.importance(layer, "precision", 0.1, "layer_max"), 64)
            if act.max() > 0:
                assert int(act.argmax()) in rel
            assert all(act[u] >= 0.1 * act.max() for u in rel)


# --------------------------------------------------------------------------- claims()


@pytest.fixture
def small_claims(monkeypatch):
    """claims() at a smaller internal size than quick (a smoke test of the machinery, not of the claims)."""
    monkeypatch.setitem(R._CLAIM_SIZES, True, dict(n_images=6, n_probe=2, width=4, epochs=1))


def test_claims_shape_and_verdicts(small_claims):
    from xnb.claims import VERDICTS, Claim

    out = R.claims(seeds=(0, 1), quick=True, progress=False)
    assert len(out) == len(R.CLAIMS)
    for c, spec in zip(out, R.CLAIMS):
        assert isinstance(c, Claim) and c.name == spec.name and c.paper == "resample"
        assert len(c.values) == 2 and c.seeds == (0, 1) and c.verdict in VERDICTS
        assert c.baseline is not None and len(c.baseline) == 2  # every claim here is paired
        assert np.all(np.isfinite(c.values)) and c.note
    loc = out[0]
    assert all(0.0 <= v <= 1.0 for v in loc.values + loc.baseline)
    # like for like: the note reports one patch count shared by every metric (images × layers × k)
    assert "90 patch slots per seed for every metric (6 images × 3 layers × 5)" in out[0].note
    assert "360 patch slots per seed for every metric" in out[1].note
    assert "test patch slots per seed for every metric" in out[3].note and "Spearman" in out[5].note
    assert "cropped" in out[3].metric and "layer_max" in out[0].protocol and "empty='miss'" in out[0].protocol
    with pytest.raises(ValueError, match="secondary.*crop"):
        R.claims(seeds=(0,), quick=True, progress=False, secondary="blur")



def test_chance_jaccard_matches_enumeration():
    from itertools import combinations

    # 2 of 4 units against 2 of 4: overlap 2 (p = 1/6, J = 1), 1 (p = 4/6, J = 1/3), 0 (p = 1/6, J = 0)
    assert R._chance_jaccard(4, 2, 2) == pytest.approx(7 / 18, abs=1e-12)
    assert R._chance_jaccard(5, 5, 5) == 1.0  # the whole layer twice
    assert R._chance_jaccard(5, 0, 0) == 1.0  # two empty selections (the paper's S, as jaccard())
    assert R._chance_jaccard(5, 0, 3) == 0.0
    for n, ka, kb in [(6, 2, 3), (7, 5, 4), (8, 1, 1)]:  # brute force over every pair of subsets
        pairs = [(a, b) for a in combinations(range(n), ka) for b in combinations(range(n), kb)]
        want = np.mean([R.jaccard(a, b) for a, b in pairs])
        assert R._chance_jaccard(n, ka, kb) == pytest.approx(want, abs=1e-12)


def test_untrained_copy_same_architecture_fresh_weights():
    net = tiny_net()
    before = snapshot(net)
    a, b, c = R._untrained_copy(net, 5), R._untrained_copy(net, 5), R._untrained_copy(net, 6)
    assert_unchanged(net, before)
    for (n1, p1), (n2, p2), (_, p3), (_, p0) in zip(a.named_parameters(), b.named_parameters(),
                                                    c.named_parameters(), net.named_parameters()):
        assert n1 == n2 and p1.shape == p0.shape
        assert torch.equal(p1, p2)  # deterministic by seed
        assert not torch.equal(p1, p0) and not torch.equal(p1, p3)


def test_localization_counts_empty_patches_as_misses():
    """A constructed evaluation: 2 images, one layer, k = 2; metric 'a' picks a silent unit on image 1."""
    box_hit, box_miss = ((0, 0, 2, 2), False), ((6, 6, 8, 8), False)
    ev = R.PatchEvaluation(
        layers=["L"], metrics=["a", "b"], k_max=2,
        boxes=[{"L": {0: box_hit, 1: box_miss, 2: ((0, 0, 0, 0), True)}},
               {"L": {0: box_hit, 1: box_hit, 2: ((0, 0, 0, 0), True)}}],
        selections=[{"a": {"L": [0, 1]}, "b": {"L": [0, 1]}},
                    {"a": {"L": [0, 2]}, "b": {"L": [0, 1]}}])
    masks = np.zeros((2, 8, 8), bool)
    masks[:, :2, :2] = True
    like = ev.localization(masks, k=2)
    assert like == {"a": (2 / 4, 4), "b": (3 / 4, 4)}          # a's silent unit is a miss
    skip = ev.localization(masks, k=2, empty="skip")
    assert skip == {"a": (2 / 3, 3), "b": (3 / 4, 4)}          # xnb 0.1: a looked better on fewer patches
    with pytest.raises(ValueError, match="empty"):
        ev.localization(masks, k=2, empty="drop")
    # the counts behind it: 4 slots each; a's silent unit holds no patch
    assert ev.counts(2) == {"a": {"slots": 4, "selected": 4, "silent": 1},
                            "b": {"slots": 4, "selected": 4, "silent": 0}}
    # a threshold that kept one unit only (b drops its missing unit 1 on image 0): the empty slot is still
    # scored, as a miss — skipping it would have lifted b to 3/3
    ev.selections[0]["b"]["L"] = [0]
    assert ev.localization(masks, k=2)["b"] == (3 / 4, 4)
    assert ev.localization(masks, k=2, empty="skip")["b"] == (3 / 3, 3)
    assert ev.counts(2)["b"] == {"slots": 4, "selected": 3, "silent": 0}


def test_patch_images_crop_resize_and_empty_slots():
    """The paper's secondary-classifier input: one crop per slot, resized; empty slots are zero and flagged."""
    img = torch.zeros(2, 3, 8, 8)
    img[0, 0, 0:2, 0:4] = 1.0                       # image 0: a red 2x4 block
    img[1, 2] = torch.arange(64.).reshape(8, 8) / 64
    ev = R.PatchEvaluation(
        layers=["L", "M"], metrics=["a"], k_max=2,
        boxes=[{"L": {0: ((0, 0, 2, 4), False), 1: ((0, 0, 0, 0), True)}, "M": {3: ((0, 0, 8, 8), False)}},
               {"L": {0: ((2, 2, 6, 6), False), 1: ((0, 0, 8, 8), False)}, "M": {3: ((4, 4, 8, 8), False)}}],
        selections=[{"a": {"L": [0, 1], "M": [3]}}, {"a": {"L": [0, 1], "M": [3]}}])
    crops, idx, empty = R.patch_images(ev, img, "a", k=2, size=4)
    assert crops.shape == (8, 3, 4, 4) and idx.tolist() == [0, 0, 0, 0, 1, 1, 1, 1]
    # slots: image 0 L#0, L#1 (silent), M#0, M#1 (M kept one unit only); image 1 likewise with no silent unit
    assert empty.tolist() == [False, True, False, True, False, False, False, True]
    assert torch.allclose(crops[0, 0], torch.ones(4, 4)) and crops[0, 1:].abs().max() == 0  # all-red block
    assert (crops[[1, 3, 7]] == 0).all()
    # an 8x8 linear ramp resized to 4x4: away from the border the symmetric antialiasing filter gives the
    # ramp's value at the output pixel's centre, the mean of its 2x2 block
    want = nn.functional.avg_pool2d(img[1:2], 2)[0]
    torch.testing.assert_close(crops[5][:, 1:3, 1:3], want[:, 1:3, 1:3], rtol=0, atol=1e-6)
    assert crops[5][2].min() >= img[1, 2].min() and crops[5][2].max() <= img[1, 2].max()
    # a 4x4 box at size 4 is the crop itself
    torch.testing.assert_close(crops[4], img[1, :, 2:6, 2:6], rtol=0, atol=1e-6)
    with pytest.raises(ValueError, match="images"):
        R.patch_images(ev, img[:1], "a")
    with pytest.raises(ValueError, match="metric"):
        R.patch_images(ev, img, "b")
    with pytest.raises(ValueError, match="layers"):
        R.patch_images(ev, img, "a", layers=["N"])


def test_secondary_accuracy_counts_empty_test_rows_as_errors():
    # a trivially separable task (class = which channel is lit); the classifier learns it
    x = torch.zeros(24, 3, 8, 8)
    y = torch.arange(24) % 3
    x[torch.arange(24), y] = 1.0
    acc = R.secondary_accuracy(x[:18], y[:18], x[18:], y[18:], n_classes=3, width=4, epochs=30, lr=1e-2,
                               batch_size=6)
    assert acc == 1.0
    empty = torch.tensor([True, False, False, True, False, False])
    acc_e = R.secondary_accuracy(x[:18], y[:18], x[18:], y[18:], n_classes=3, width=4, epochs=30, lr=1e-2,
                                 batch_size=6, test_empty=empty)
    assert acc_e == pytest.approx(4 / 6)            # the same predictions, two rows held nothing
    with pytest.raises(ValueError, match="test_empty"):
        R.secondary_accuracy(x[:18], y[:18], x[18:], y[18:], epochs=1, test_empty=empty[:3])
    with pytest.raises(ValueError, match="labels"):
        R.secondary_accuracy(x[:18], y[:17], x[18:], y[18:], epochs=1)


def test_rank_correlation_against_scipy_and_closed_forms():
    rng = np.random.default_rng(0)
    for _ in range(20):
        a, b = rng.normal(size=12), rng.normal(size=12)
        b[:3] = b[3]  # ties
        assert R.rank_correlation(a, b) == pytest.approx(scipy.stats.spearmanr(a, b)[0], abs=1e-12)
    a = rng.normal(size=9)
    assert R.rank_correlation(a, np.exp(a)) == pytest.approx(1.0)      # any increasing map
    assert R.rank_correlation(a, -a ** 3) == pytest.approx(-1.0)
    # -inf (discarded by precision) ranks at the bottom, tied: same as a very low finite score
    p = np.array([3.0, -np.inf, 1.0, -np.inf, 2.0])
    assert R.rank_correlation(np.arange(5.0), p) == pytest.approx(
        scipy.stats.spearmanr(np.arange(5.0), [3.0, -9, 1.0, -9, 2.0])[0])
    assert np.isnan(R.rank_correlation([1.0, 1.0, 1.0], [1.0, 2.0, 3.0]))  # no ranking
    with pytest.raises(ValueError, match="shapes"):
        R.rank_correlation([1.0, 2.0], [1.0, 2.0, 3.0])
    with pytest.raises(ValueError, match="NaN"):
        R.rank_correlation([1.0, np.nan], [1.0, 2.0])


@pytest.mark.filterwarnings("ignore::UserWarning")
def test_patches_chunked_equals_unchunked():
    """batch_size bounds the deconvnet pass (units back-projected per pass); the output does not change."""
    model = xnb.models.load("flowers-single")
    x = xnb.data.flowers(1, seed=5).images
    whole = R.patches(model, x, "conv2", batch_size=64)
    assert len(whole.units) == 32
    for bs in (1, 5, 31):
        part = R.patches(model, x, "conv2", batch_size=bs)
        np.testing.assert_array_equal(part.units, whole.units)
        np.testing.assert_array_equal(part.boxes, whole.boxes)
        np.testing.assert_array_equal(part.empty, whole.empty)
        torch.testing.assert_close(part.heatmaps, whole.heatmaps, rtol=1e-5, atol=1e-7)
    with pytest.raises(ValueError, match="batch_size"):
        R.patches(model, x, "conv2", batch_size=0)


@pytest.mark.filterwarnings("ignore::UserWarning")
def test_default_batch_size_follows_the_memory_budget(monkeypatch):
    """batch_size=None (the default) chunks resample and patches within xnb.layers.MEMORY_BUDGET (VGG16 at
    224 px: a few rows per pass instead of 51 / 64); the shipped nets keep one pass; results unchanged."""
    import importlib

    L = importlib.import_module("xnb.layers")
    model = xnb.models.load("flowers-single")
    x = xnb.data.flowers(1, seed=5).images
    assert L.auto_batch_size(model, x, backward=False, maximum=256) == 256   # as before: one pass of 51 rows
    assert L.auto_batch_size(model, x, backward=True, maximum=64) == 64
    full = R.resample(model, x, ["conv2", "conv3"], n=30, seed=2, batch_size=256)
    pw = R.patches(model, x, "conv2", batch_size=64)
    calls = []
    real = L.auto_batch_size
    monkeypatch.setattr(L, "auto_batch_size", lambda *a, **k: calls.append(real(*a, **k)) or calls[-1])
    monkeypatch.setitem(L.MEMORY_BUDGET, "cpu", 3 * 2 ** 20)   # ~3 images' activations per pass
    small = R.resample(model, x, ["conv2", "conv3"], n=30, seed=2)
    pc = R.patches(model, x, "conv2")
    assert 1 <= calls[0] < 31 and 1 <= calls[1] < 32   # really chunked
    assert small.target == full.target and small.o_clean == pytest.approx(full.o_clean)
    a, b = small.importance_all(threshold=0.1), full.importance_all(threshold=0.1)
    for layer in ("conv2", "conv3"):
        assert a[layer].keys() == b[layer].keys()
        for m in b[layer]:
            torch.testing.assert_close(a[layer][m], b[layer][m], rtol=2e-5, atol=1e-9)
    np.testing.assert_array_equal(pc.boxes, pw.boxes)
    np.testing.assert_array_equal(pc.empty, pw.empty)
    torch.testing.assert_close(pc.heatmaps, pw.heatmaps, rtol=1e-5, atol=1e-7)


def test_jaccard_during_training_reports_rank_correlation():
    """Fig. 3 helper: the per-epoch Spearman ρ is the one rank_correlation gives on the final network."""
    from types import SimpleNamespace

    net = tiny_net()
    g = torch.Generator().manual_seed(0)
    x = torch.rand(12, 3, 8, 8, generator=g)
    y = torch.arange(12) % 3
    train, test = SimpleNamespace(images=x[:8], labels=y[:8]), SimpleNamespace(images=x[8:], labels=y[8:])
    hist = R.jaccard_during_training(net, train, test, epochs=2, probe=x[8:10], layers=["conv1", "conv2"], n=6,
                                     batch_size=4, seed=3, progress=False, threshold_scale="layer_max")
    assert hist["epoch"] == [0, 1, 2] and len(hist["rank_correlation"]) == 3
    for l in ("conv1", "conv2"):
        want = []
        for i in range(2):
            res = R.resample(net, x[8 + i:9 + i], ["conv1", "conv2"], n=6, seed=3 + i)
            r = R.rank_correlation(res.importance(l, "correlation"), res.importance(l, "precision", 0.1))
            if np.isfinite(r):
                want.append(r)
        got = hist["rank_correlation_per_layer"][-1][l]
        assert (np.isnan(got) and not want) or got == pytest.approx(np.mean(want), abs=1e-9)
        assert all(-1 <= d[l] <= 1 for d in hist["rank_correlation_per_layer"] if np.isfinite(d[l]))
