"""SeVec: the closed form of eq. 3, diversity, retrieval, representation edits, pointing games."""
from __future__ import annotations

import numpy as np
import pytest
import torch
from sklearn.exceptions import NotFittedError

from xnb import data, models, sevec
from xnb._pointing import generalized_pointing_game, kept_energy_mask, pointing_game

from test_core import assert_unchanged, snapshot


def _objective(a, v):
    a = a / a.norm(dim=1, keepdim=True)
    return float((a @ (v / v.norm())).sum())


def test_closed_form_is_the_optimum_of_eq3():
    g = torch.Generator().manual_seed(0)
    a = (torch.rand(40, 6, generator=g) > 0.5).float()
    a[a.sum(1) == 0, 0] = 1
    sv = sevec.SeVec().fit(a, torch.zeros(40, dtype=torch.long))
    v = sv.vectors_[0]
    assert torch.isclose(v.norm(), torch.tensor(1.0))
    best = _objective(a, v)
    # no random unit vector, and no step of projected gradient ascent from v, does better
    for _ in range(2000):
        assert _objective(a, torch.randn(6, generator=g)) <= best + 1e-6
    w = v.clone().requires_grad_(True)
    opt = torch.optim.SGD([w], lr=0.05)
    for _ in range(200):
        opt.zero_grad()
        (-(a / a.norm(dim=1, keepdim=True) @ (w / w.norm())).sum()).backward()
        opt.step()
    assert _objective(a, w.detach()) <= best + 1e-5


def test_diversity_relevance_and_masks_by_hand():
    a = torch.tensor([[1, 1, 0, 0], [1, 0, 0, 0], [0, 0, 1, 1], [0, 0, 0, 1]], dtype=torch.float32)
    y = torch.tensor([0, 0, 1, 1])
    sv = sevec.SeVec().fit(a * 2.5, y, ["A", "B"])  # any positive feature values binarise the same
    A0 = a[0] / a[0].norm() + a[1] / a[1].norm()
    assert torch.allclose(sv.vectors_[0], A0 / A0.norm())
    cos = torch.stack([a[i] / a[i].norm() @ sv.vectors_[0] for i in (0, 1)])
    assert sv.diversity("A") == pytest.approx(float(1 - cos.mean()), abs=1e-6)
    assert sv.relevance("A", "B") == pytest.approx(0.0, abs=1e-7)  # disjoint units
    R = sv.relevance_matrix()
    assert torch.allclose(R, R.T) and torch.allclose(R.diag(), torch.ones(2))
    assert sv.associated_neuron("A") == 0
    # v_A ∝ (1 + 1/√2, 1/√2, 0, 0): unit 1 is at 0.41 of the maximum
    assert sv.mask("A", 0.4).tolist() == [True, True, False, False]
    assert sv.mask("A", 0.5).tolist() == [True, False, False, False]


def test_multilabel_fit_uses_every_concept_of_an_image():
    a = torch.eye(3)
    y = torch.tensor([[1, 1], [1, 0], [0, 1]], dtype=torch.float32)
    sv = sevec.SeVec().fit(a, y)
    assert torch.allclose(sv.vectors_[0], torch.tensor([1, 1, 0.0]) / 2 ** 0.5)
    assert torch.allclose(sv.vectors_[1], torch.tensor([1, 0, 1.0]) / 2 ** 0.5)


def test_retrieve_matches_brute_force():
    g = torch.Generator().manual_seed(1)
    f = torch.randn(50, 8, generator=g)
    f[:, 0] = 1
    y = torch.randint(0, 3, (50,), generator=g)
    y[:3] = torch.tensor([0, 1, 2])
    sv = sevec.SeVec().fit(f, y)
    # the paper's retrieval (§3.2): argmax_x cos(φ(x), v_c) with the real-valued features, by brute force
    v = sv.vectors_[2]
    brute = torch.tensor([float(f[i] @ v / (f[i].norm() * v.norm())) for i in range(len(f))])
    idx, sim = sv.retrieve(f, 2, k=7)
    assert torch.allclose(sim, torch.sort(brute, descending=True).values[:7], atol=1e-6)
    assert set(idx.tolist()) == set(torch.argsort(brute, descending=True)[:7].tolist())
    assert sevec.precision_at_k((y[idx] == 2).long(), 7) == float((y[idx] == 2).float().mean())
    # the binarised option compares 1[φ > 0] instead, and gives other similarities on real features
    a = (f > 0).float()
    ref = (a / a.norm(dim=1, keepdim=True)) @ v
    _, bsim = sv.retrieve(f, 2, k=7, query="binary")
    assert torch.allclose(bsim, torch.sort(ref, descending=True).values[:7])
    assert not torch.allclose(sim, bsim)
    # stored binary features (uint8) are binary whatever the query mode
    u = (f > 0).to(torch.uint8)
    assert torch.allclose(sv.similarity(u), sv.similarity(u, query="binary"))
    named = sv.closest_concepts(f[:2], k=2)
    assert [n for n, _ in named[0]] == [sv.concept_names_[j] for j in torch.topk(sv.similarity(f[:1])[0], 2).indices]
    with pytest.raises(ValueError, match="query.*'real', 'binary'"):
        sv.similarity(f, query="bin")


@pytest.fixture(scope="module")
def flowers_sevec():
    m = models.load("flowers-single")
    d = data.flowers(300, seed=31)
    f = sevec.features(m, "relu6", d, progress=False)
    return m, d, f, sevec.SeVec().fit(f, d.labels, d.class_names)


def test_features_stream_the_layer_and_binarise(flowers_sevec):
    m, d, f, _ = flowers_sevec
    import xnb

    with xnb.capture(m, "relu6") as cap, torch.no_grad():
        m(d.images[:10])
    # the same values up to float32 rounding: a batch of 10 and the streamed batches block the GEMMs differently
    assert torch.allclose(f[:10], cap["relu6"], atol=1e-5)
    fb = sevec.features(m, "avgpool", torch.utils.data.DataLoader(d, batch_size=64), binary=True, progress=False)
    assert fb.dtype == torch.uint8 and fb.shape == (300, 1024) and set(fb.unique().tolist()) <= {0, 1}


def test_sevec_retrieval_beats_the_single_neuron_by_construction():
    # class A switches on units 0-2 (activation 1); class B units 3-5, and half of B also unit 0 at 10:
    # the associated neuron of A (unit 0) ranks those B images first, the SeVec direction does not
    a = torch.zeros(80, 6)
    a[:40, :3] = 1
    a[40:, 3:] = 1
    a[40:60, 0] = 10
    y = torch.tensor([0] * 40 + [1] * 40)
    sv = sevec.SeVec().fit(a, y, ["A", "B"])
    assert sv.associated_neuron("A") == 0
    idx, _ = sv.retrieve(a, "A", 20)
    jdx, _ = sevec.single_neuron_retrieval(sv, a, "A", 20)
    assert sevec.precision_at_k((y[idx] == 0).long(), 20) == 1.0
    assert sevec.precision_at_k((y[jdx] == 0).long(), 20) == 0.0


def test_modifications_leave_the_model_and_are_exact(flowers_sevec):
    m, d, f, sv = flowers_sevec
    before = snapshot(m)
    x, t = d.images[:20], d.labels[:20]
    for mode in sevec.MODIFICATIONS:
        delta = sevec.modify_representation(m, "relu6", x, t, sv, mode)
        assert delta.shape == (20,) and torch.isfinite(delta).all()
    # the mask at threshold 0 keeps every unit with v_c > 0, i.e. every unit active somewhere in the fit
    # data: on fit images it changes nothing
    for quantity in ("probability", "logit"):
        assert torch.all(sevec.modify_representation(m, "relu6", x, t, sv, "sevec_mask", threshold=0.0,
                                                     quantity=quantity) == 0)
    # ... while a mask keeping only the largest entry of v_c does change the output
    assert not torch.all(sevec.modify_representation(m, "relu6", x, t, sv, "sevec_mask", threshold=0.999) == 0)
    # the random neuron and the permutation are reproducible from their seed
    for mode in ("random_neuron", "permuted_mask"):
        one = sevec.modify_representation(m, "relu6", x, t, sv, mode, seed=3)
        assert torch.equal(one, sevec.modify_representation(m, "relu6", x, t, sv, mode, seed=3))
    assert_unchanged(m, before)


def test_pointing_games_on_hand_built_maps():
    h = np.zeros((2, 10, 10))
    h[0, 2, 3] = 5
    h[1, 8, 8] = 5
    box = [1, 1, 5, 5]
    assert pointing_game(h, box).tolist() == [True, False]
    # (8,8) is (4,4) pixels from the box's last pixel (4,4): 5.66 px
    assert pointing_game(h, box, tolerance=5.7).tolist() == [True, True]
    assert pointing_game(h, box, tolerance=5.6).tolist() == [True, False]
    g = np.zeros((10, 10))
    g[2, 2], g[3, 3], g[9, 9] = 6.0, 3.0, 1.0   # 60 %, 30 %, 10 % of the energy
    assert kept_energy_mask(g, 60).sum() == 1 and kept_energy_mask(g, 61).sum() == 2
    assert kept_energy_mask(g, 100).sum() == 3
    hits = [bool(generalized_pointing_game(g, box, m)[0]) for m in (10, 60, 90, 91, 100)]
    assert hits == [True, True, True, False, False]
    assert not generalized_pointing_game(np.zeros((10, 10)), box, 50)[0]  # no energy: a miss


def test_bad_inputs():
    with pytest.raises(ValueError, match="labels: 3 labels for 4 feature rows"):
        sevec.SeVec().fit(torch.ones(4, 3), [0, 1, 0])
    with pytest.raises(ValueError, match=r"labels: concept\(s\) \['b'\] have no examples"):
        sevec.SeVec().fit(torch.ones(2, 3), [0, 0], concept_names=["a", "b"])
    with pytest.raises(ValueError, match=r"features: rows \[1\] have no positive entry"):
        sevec.SeVec().fit(torch.tensor([[1.0, 0], [-1, 0]]), [0, 0])
    sv = sevec.SeVec().fit(torch.eye(2), [0, 1], ["a", "b"])
    with pytest.raises(ValueError, match=r"threshold: must be in \[0, 1\]"):
        sv.mask("a", 1.5)
    with pytest.raises(ValueError, match="concept: unknown concept 'c'; known: a, b"):
        sv.relevance("a", "c")
    with pytest.raises(ValueError, match=r"m: must be in \(0, 100\]"):
        generalized_pointing_game(np.ones((4, 4)), [0, 0, 2, 2], 0)
    with pytest.raises(ValueError, match="boxes: every box must lie inside the 4x4 image"):
        pointing_game(np.ones((4, 4)), [0, 0, 9, 2])
    with pytest.raises(ValueError, match="heatmaps: contains NaN"):
        pointing_game(np.full((4, 4), np.nan), [0, 0, 2, 2])
    with pytest.raises(NotFittedError, match="not fitted"):
        sevec.SeVec().relevance_matrix()


def test_exercises_accept_their_solution_and_refuse_others(capsys):
    from xnb.exercises import check, for_notebook

    for name, ex in for_notebook("sevec").items():
        assert check(name, ex.solution()) is True
    assert check("sevec.1", -1) is False
    assert check("sevec.2", {"red center", "cyan center"}) is (for_notebook("sevec")["sevec.2"].solution()
                                                             == {"red center", "cyan center"})
    assert check("sevec.3", False) is False


def test_semantic_maps_with_every_unit_kept_are_the_baseline_maps(flowers_sevec):
    import xnb

    m, d, _, _ = flowers_sevec
    scenes = data.flower_scenes(4, seed=7)
    x = scenes.images.repeat_interleave(2, 0)
    t = scenes.labels.reshape(-1).tolist()
    n = sevec.features(m, "avgpool", scenes.images[:1], progress=False).shape[1]
    for method in ("guided_backprop", "input_x_gradient"):
        base = xnb.attribute(m, x, method, target=t)
        # one SeVec per class ([C, n]; a single [n] SeVec for every class fails in xnb.attribution for
        # batches of more than one image: reported)
        sem = xnb.attribute(m, x, "semantic_" + method, target=t, sevec=torch.ones(6, n), sevec_layer="avgpool",
                            threshold=0.5)
        assert torch.allclose(base, sem, atol=1e-6)
        # keeping a single unit changes the maps
        one = torch.zeros(6, n)
        one[:, 0] = 1
        kept1 = xnb.attribute(m, x, "semantic_" + method, target=t, sevec=one, sevec_layer="avgpool")
        assert not torch.allclose(base, kept1)


# ------------------------------------------------------------------------------------------- claims


def test_gpg_curve_matches_the_pointing_game_for_every_m():
    g = np.random.default_rng(0)
    h = g.random((12, 16, 16)) ** 8  # peaked maps
    h[3] = 0                         # no energy: a miss at every m
    h[4] = -g.random((16, 16))       # no positive energy either
    h[5, 2, 2] = 100.0               # almost all energy in one pixel
    boxes = np.array([[g.integers(0, 8), g.integers(0, 8), 0, 0] for _ in range(12)])
    boxes[:, 2:] = boxes[:, :2] + g.integers(3, 9, (12, 2))
    boxes[5] = [0, 0, 4, 4]
    ms = (1, 5, 10, 30, 50, 70, 90, 99, 100)
    ref = np.array([generalized_pointing_game(h, boxes, m).mean() for m in ms])
    assert np.array_equal(sevec._gpg_curve(h, boxes, ms), ref)
    assert ref[0] > 0 and ref[-1] < ref[0]  # the hand-made case exercises hits and misses


def test_share_improved_and_pearson_on_hand_made_cases():
    assert sevec._share_improved([0.5, 0.4, 0.1, 0.0], [0.4, 0.4, 0.2, 0.0]) == 0.25  # ties are no gain
    assert sevec._share_improved([1, 1], [0, 0]) == 1.0
    with pytest.raises(ValueError):
        sevec._share_improved([1, 2], [1])
    assert sevec._pearson([1, 2, 3], [3, 2, 1]) == pytest.approx(-1.0)
    assert sevec._pearson([1, 2, 3], [1, 1, 1]) == 0.0  # a constant side: no correlation measurable


def test_claims_one_per_spec_in_order(monkeypatch):
    from xnb import claims as xc

    # a smaller internal size than quick=True keeps this test short; the protocol is the same
    monkeypatch.setitem(sevec._SIZES, True, dict(n_fit=120, n_test=120, n_edit=40, n_scenes=3, n_scene_fit=40))
    out = sevec.claims(seeds=(0, 1), quick=True, progress=False)
    assert [c.name for c in out] == [s.name for s in sevec.CLAIMS]
    assert len({s.name for s in sevec.CLAIMS}) == len(sevec.CLAIMS)
    for c, spec in zip(out, sevec.CLAIMS):
        assert isinstance(c, xc.Claim) and c.seeds == (0, 1) and len(c.values) == 2
        assert c.verdict in xc.VERDICTS and c.paper == "sevec" and c.note
        assert (c.baseline is not None) == spec.rule.needs_baseline
        if c.baseline is not None:
            assert len(c.baseline) == 2
    # probabilities, shares and correlations stay in their ranges
    by = {c.name: c for c in out}
    for c in out:
        if "share of the m grid" in c.metric or "hit rate" in c.metric or "precision" in c.metric:
            assert all(0 <= v <= 1 for v in c.values + (c.baseline or []))
        if "Pearson" in c.metric:
            assert all(-1 <= v <= 1 for v in c.values)
    assert by[sevec.CLAIMS[1].name].values == by[sevec.CLAIMS[2].name].values  # the same SeVec-mask edit



def test_fisher_interval_closed_form():
    # n = 28: se = 1/5, so the interval is tanh(atanh(r) ± 1.96/5)
    r = 0.5
    lo, hi = np.tanh(np.arctanh(r) - 0.392), np.tanh(np.arctanh(r) + 0.392)
    assert sevec._fisher_ci(r, 28) == f"[{lo:.2f}, {hi:.2f}]"
    assert sevec._fisher_ci(0.3, 3) == "undefined"
    # 6 classes: even r = -0.5 is compatible with no correlation
    lo6, hi6 = (float(x) for x in sevec._fisher_ci(-0.5, 6).strip("[]").split(","))
    assert lo6 < -0.9 and hi6 > 0.4


def test_naming_accuracy_hand_made():
    # 2 groups: colour {red, blue} on units 0/1, shape {round, square} on units 2/3
    names = ["c:red", "c:blue", "s:round", "s:square"]
    groups = ["c", "c", "s", "s"]
    y = torch.tensor([[1, 0, 1, 0], [0, 1, 1, 0], [1, 0, 0, 1], [0, 1, 0, 1]], dtype=torch.float32)
    feats = y.clone()                             # each image activates exactly its concepts' units
    sv = sevec.SeVec().fit(feats, y, names)
    r = sevec.naming_accuracy(sv, feats, y, groups)
    assert r["accuracy"] == {"c": 1.0, "s": 1.0} and r["chance"] == {"c": 0.5, "s": 0.5}
    # swap the colour units of the query images: colours are named wrong, shapes still right
    swapped = feats[:, [1, 0, 2, 3]]
    r = sevec.naming_accuracy(sv, swapped, y, groups)
    assert r["accuracy"] == {"c": 0.0, "s": 1.0} and r["recall"]["c:red"] == 0.0
    with pytest.raises(ValueError, match="exactly one"):
        sevec.naming_accuracy(sv, feats, torch.ones(4, 4), groups)
    with pytest.raises(ValueError, match="groups"):
        sevec.naming_accuracy(sv, feats, y, groups[:3])


# ------------------------------------------------------------------------ scene-scale SeVecs, controls (§5)

_PATTERN = torch.tensor([[1.0, 0.0], [0.0, 1.0], [1.0, 1.0]])  # class k lights these input channels


def _toy_model(n_classes=3, cross=0.5):
    """conv1 (1×1, identity on 2 channels) → relu1 → avgpool (2×2) → fc8. Class k reads the channels of its
    pattern at every cell with weight 1 and the other channels with weight ``cross``."""
    from collections import OrderedDict

    m = torch.nn.Sequential(OrderedDict([
        ("conv1", torch.nn.Conv2d(2, 2, 1)), ("relu1", torch.nn.ReLU()), ("avgpool", torch.nn.AdaptiveAvgPool2d(2)),
        ("flatten", torch.nn.Flatten()), ("fc8", torch.nn.Linear(8, n_classes))]))
    with torch.no_grad():
        m.conv1.weight.copy_(torch.eye(2)[:, :, None, None])
        m.conv1.bias.zero_()
        w = _PATTERN[:n_classes] + cross * (1 - _PATTERN[:n_classes])   # [K, 2 channels]
        m.fc8.weight.copy_(w.repeat_interleave(4, dim=1))                # flatten order: channel-major
        m.fc8.bias.zero_()
    return m.eval()


def _toy_scenes(labels, quadrants):
    """8×8 scenes: flower j (class labels[i, j]) fills quadrant quadrants[i][j] (0 TL, 1 TR, 2 BL, 3 BR) with
    its class's channel pattern; boxes and flower masks are the quadrants."""
    from types import SimpleNamespace

    labels = torch.as_tensor(labels)
    n = len(labels)
    img = torch.zeros(n, 2, 8, 8)
    fm = torch.zeros(n, 2, 8, 8, dtype=torch.bool)
    boxes = torch.zeros(n, 2, 4)
    for i in range(n):
        for j in range(2):
            r, c = divmod(quadrants[i][j], 2)
            img[i, :, 4 * r:4 * r + 4, 4 * c:4 * c + 4] = _PATTERN[labels[i, j]][:, None, None]
            fm[i, j, 4 * r:4 * r + 4, 4 * c:4 * c + 4] = True
            boxes[i, j] = torch.tensor([4 * r, 4 * c, 4 * r + 4, 4 * c + 4])
    return SimpleNamespace(images=img, labels=labels, boxes=boxes, flower_masks=fm,
                           class_names=["a", "b", "ab"][:int(labels.max()) + 1])


def test_scene_sevecs_per_channel_and_per_scene_by_hand():
    m = _toy_model()
    sc = _toy_scenes([[0, 1], [2, 0], [1, 2], [0, 2]], [(0, 3), (1, 2), (3, 0), (2, 1)])
    sv = sevec.fit_scene_sevecs(m, "avgpool", sc, per="channel")
    # each flower fills one avgpool cell alone: the cells' channel vectors are the class patterns, so
    # v_a = (1, 0), v_b = (0, 1), v_ab = (1, 1)/√2 over the channels, tiled over the 4 cells
    assert torch.allclose(sv.channel_vectors_, _PATTERN / _PATTERN.norm(dim=1, keepdim=True))
    assert sv.n_cells_.tolist() == [3, 2, 3] and sv.layer_shape_ == (2, 2, 2) and sv.per_ == "channel"
    assert sv.vectors_.shape == (3, 8) and torch.allclose(sv.vectors_.norm(dim=1), torch.ones(3))
    assert sv.mask("a").tolist() == [True] * 4 + [False] * 4
    # a cell shared by both flowers, or covered less than min_cover, is left out
    half = _toy_scenes([[0, 1]], [(0, 3)])
    half.flower_masks[0, 0, :, :] = False
    half.flower_masks[0, 0, 0, 0] = True                 # flower a now covers 1/16 of the TL cell
    with pytest.raises(ValueError, match=r"concept\(s\) \['a'\] have no examples"):
        sevec.fit_scene_sevecs(m, "avgpool", half, per="channel", class_names=["a", "b"])
    assert sevec.fit_scene_sevecs(m, "avgpool", half, per="channel", class_names=["a", "b"],
                                  min_cover=0.05).n_cells_.tolist() == [1, 1]
    # per scene: eq. 3 on the whole avgpool output, each scene a multi-label row of its two classes
    sv2 = sevec.fit_scene_sevecs(m, "avgpool", sc, per="scene")
    with torch.no_grad():
        a = (m.avgpool(m.relu1(m.conv1(sc.images))).flatten(1) > 0).float()
    for c in range(3):
        A = sum(a[i] / a[i].norm() for i in range(4) if c in sc.labels[i].tolist())
        assert torch.allclose(sv2.vectors_[c], A / A.norm(), atol=1e-6)
    assert sevec.scene_multihot(sc.labels, 3).sum(1).tolist() == [2.0] * 4
    with pytest.raises(ValueError, match="per: unknown value 'pixel'"):
        sevec.fit_scene_sevecs(m, "avgpool", sc, per="pixel")
    with pytest.raises(TypeError, match="scenes: .*missing 'flower_masks'"):
        from types import SimpleNamespace
        sevec.fit_scene_sevecs(m, "avgpool", SimpleNamespace(images=sc.images, labels=sc.labels), per="channel")
    with pytest.raises(ValueError, match="labels: class indices must lie in"):
        sevec.scene_multihot([[0, 3]], 3)


def test_suppression_controls_on_a_constructed_case():
    # two classes in opposite quadrants; each class reads its own channel (weight 1) and the other one
    # (weight 0.5), so the baseline maps of one flower also light the other flower
    m = _toy_model(2)
    sc = _toy_scenes([[0, 1], [1, 0], [0, 1], [1, 0]], [(0, 3), (1, 2), (2, 1), (3, 0)])
    sv = sevec.fit_scene_sevecs(m, "avgpool", sc, per="channel")
    before = snapshot(m)
    ms = (1, 30, 60, 90)
    for method in ("guided_backprop", "input_x_gradient"):
        cur = sevec.suppression_curves(m, sc, sv, "avgpool", method, ms=ms, seed=0)
        assert set(cur) == set(sevec.CONTROLS)
        # the target's own SeVec keeps only the target flower: a hit at every m
        assert cur["semantic"].tolist() == [1.0] * 4
        # the other flower's SeVec keeps only the other flower: a miss at every m
        assert cur["other_sevec"].tolist() == [0.0] * 4
        # the baseline holds 2/3 of the energy on the target (GB: 1 vs 0.5 per pixel, l2 over channels;
        # G×I: the same): a hit up to m = 60 %, a miss at 90 %
        assert cur["baseline"].tolist() == [1.0, 1.0, 1.0, 0.0]
        # c-MWP, the reference, uses no SeVec: the target's excitation reaches both flowers (this classifier's
        # weights are all positive, so the contrast removes nothing), like the baseline
        assert cur["c_mwp"].tolist() == [1.0, 1.0, 1.0, 0.0]
    # the permuted control keeps as many units as the target's mask, elsewhere, reproducibly
    p0, p1 = sevec.permuted_sevecs(sv, seed=0), sevec.permuted_sevecs(sv, seed=0)
    assert torch.equal(p0, p1) and not torch.equal(p0, sevec.permuted_sevecs(sv, seed=1))
    for c in range(2):
        assert int((p0[c] / p0[c].max() > 0.5).sum()) == int(sv.mask(c).sum())
    # its maps are the semantic maps with the permuted SeVecs, computed directly
    import xnb

    maps = sevec.suppression_maps(m, sc, sv, "avgpool", "guided_backprop", ("permuted_mask", "other_sevec"), seed=1)
    x, t = sc.images.repeat_interleave(2, 0), sc.labels.reshape(-1).tolist()
    direct = xnb.attribute(m, x, "semantic_guided_backprop", target=t, sevec=sevec.permuted_sevecs(sv, 1),
                           sevec_layer="avgpool")
    assert torch.allclose(maps["permuted_mask"], direct)
    # the other flower's SeVec, image by image
    for i, o in enumerate(sc.labels.flip(1).reshape(-1).tolist()):
        one = xnb.attribute(m, x[i:i + 1], "semantic_guided_backprop", target=t[i], sevec=sv.vectors_[o],
                            sevec_layer="avgpool")
        assert torch.allclose(maps["other_sevec"][i], one[0])
    assert_unchanged(m, before)
    with pytest.raises(ValueError, match="variants: unknown"):
        sevec.suppression_maps(m, sc, sv, "avgpool", variants=("gradcam",))
    with pytest.raises(TypeError, match="sevec: expected a fitted"):
        sevec.suppression_maps(m, sc, sv.vectors_, "avgpool")
    with pytest.raises(ValueError, match="method: expected"):
        sevec.suppression_maps(m, sc, sv, "avgpool", method="gradcam")


def test_for_outputs_maps_concept_sevecs_to_the_model_classes():
    import xnb

    m = _toy_model(2)
    sc = _toy_scenes([[0, 1], [2, 0], [1, 2], [0, 2]], [(0, 3), (1, 2), (3, 0), (2, 1)])
    sv3 = sevec.fit_scene_sevecs(m, "avgpool", sc, per="channel")       # 3 concepts: a, b, ab
    V = sv3.for_outputs(2, {0: "b", 1: 0})
    assert torch.equal(V[0], sv3.vectors_[1]) and torch.equal(V[1], sv3.vectors_[0])
    assert torch.equal(sv3.for_outputs(2, ["b", "a"]), V)
    assert sv3.for_outputs(3, [None, "ab", None])[[0, 2]].abs().sum() == 0
    x, t = sc.images[:2], [0, 1]
    maps = xnb.attribute(m, x, "semantic_guided_backprop", target=t, sevec=V, sevec_layer="avgpool")
    # class 0 explained through concept b's channel: the same map as with b's SeVec alone
    one = xnb.attribute(m, x[:1], "semantic_guided_backprop", target=0, sevec=sv3.vectors_[1], sevec_layer="avgpool")
    assert torch.allclose(maps[0], one[0])
    with pytest.raises(ValueError, match="class_to_concept: 1 entries for 2 outputs"):
        sv3.for_outputs(2, ["a"])
    with pytest.raises(ValueError, match="concept: unknown concept 'c'"):
        sv3.for_outputs(2, {0: "c"})
    with pytest.raises(ValueError, match="class_to_concept"):
        sv3.for_outputs(2, {5: "a"})
