"""SeVec: the closed form of eq. 3, diversity, retrieval, representation edits, pointing games."""
from __future__ import annotations

import numpy as np
import pytest
import torch

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
    idx, sim = sv.retrieve(f, 2, k=7)
    a = (f > 0).float()
    ref = (a / a.norm(dim=1, keepdim=True)) @ sv.vectors_[2]
    assert torch.allclose(sim, torch.sort(ref, descending=True).values[:7])
    assert sevec.precision_at_k((y[idx] == 2).long(), 7) == float((y[idx] == 2).float().mean())


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
    assert torch.allclose(f[:10], cap["relu6"])
    fb = sevec.features(m, "avgpool", torch.utils.data.DataLoader(d, batch_size=64), binary=True, progress=False)
    assert fb.dtype == torch.uint8 and fb.shape == (300, 1024) and set(fb.unique().tolist()) <= {0, 1}


def test_sevec_retrieval_beats_the_single_neuron(flowers_sevec):
    m, d, f, sv = flowers_sevec
    test = data.flowers(300, seed=32)
    ft = sevec.features(m, "relu6", test, progress=False)
    sev, single = [], []
    for c in range(6):
        idx, _ = sv.retrieve(ft, c, 30)
        jdx, _ = sevec.single_neuron_retrieval(sv, ft, c, 30)
        sev.append(float((test.labels[idx] == c).float().mean()))
        single.append(float((test.labels[jdx] == c).float().mean()))
    assert np.mean(sev) >= 0.95 and np.mean(sev) > np.mean(single)


def test_modifications_leave_the_model_and_are_exact(flowers_sevec):
    m, d, f, sv = flowers_sevec
    before = snapshot(m)
    x, t = d.images[:20], d.labels[:20]
    for mode in sevec.MODIFICATIONS:
        delta = sevec.modify_representation(m, "relu6", x, t, sv, mode)
        assert delta.shape == (20,) and torch.isfinite(delta).all()
    # an all-ones mask changes nothing; a SeVec mask keeps the target far better than its permutation
    assert torch.all(sevec.modify_representation(m, "relu6", x, t, sv, "sevec_mask", threshold=0.0) == 0)
    keep = sevec.modify_representation(m, "relu6", x, t, sv, "sevec_mask", quantity="logit").mean()
    perm = sevec.modify_representation(m, "relu6", x, t, sv, "permuted_mask", quantity="logit").mean()
    assert keep > perm
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
    with pytest.raises(RuntimeError, match="not fitted"):
        sevec.SeVec().relevance_matrix()


def test_exercises_accept_their_solution_and_refuse_others(capsys):
    from xnb.exercises import check

    for name, ex in sevec.EXERCISES.items():
        assert check(name, ex.solution()) is True
    assert check("sevec.1", -1) is False
    assert check("sevec.2", {"red center", "cyan center"}) is (sevec.EXERCISES["sevec.2"].solution()
                                                             == {"red center", "cyan center"})
    assert check("sevec.3", False) is False


@pytest.mark.parametrize("seed", [7, 8])
def test_semantic_guided_backprop_improves_the_generalised_pointing_game(flowers_sevec, seed):
    import xnb
    from xnb.metrics import generalized_pointing_game

    m, d, _, _ = flowers_sevec
    sv_pool = sevec.SeVec().fit(sevec.features(m, "avgpool", d, progress=False), d.labels, d.class_names)
    scenes = data.flower_scenes(24, seed=seed)
    x = scenes.images.repeat_interleave(2, 0)
    t = scenes.labels.reshape(-1).tolist()
    boxes = scenes.boxes.reshape(-1, 4)
    base = xnb.attribute(m, x, "guided_backprop", target=t)
    sem = xnb.attribute(m, x, "semantic_guided_backprop", target=t, sevec=sv_pool, sevec_layer="avgpool")
    ms = [5, 10, 20, 30, 50, 70, 90]
    gain = [generalized_pointing_game(sem, boxes, k).mean() - generalized_pointing_game(base, boxes, k).mean()
            for k in ms]
    assert sum(g > 0 for g in gain) > len(ms) / 2 and sum(gain) > 0
