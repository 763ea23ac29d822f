"""Notebook 06's library: shortcut flowers, the mass/rank metrics, model randomisation, shortcut reports,
and their explorers."""
import math

import numpy as np
import pytest
import torch
from scipy.stats import spearmanr
from torch import nn

import xnb
from xnb import data, metrics, models, sanity
from xnb.exercises import EXERCISES, check


# ------------------------------------------------------------------ data.shortcut_flowers


def test_shortcut_flowers_are_the_flowers_with_a_coded_mark():
    plain = data.flowers(36, seed=5)
    sc = data.shortcut_flowers(36, agreement=1.0, seed=5)
    mark = sc.shortcut_masks
    assert mark.any() and mark.shape == (36, 64, 64)
    # bit for bit the same flowers outside the mark, the code's colour inside it
    assert torch.equal(sc.images * ~mark[:, None], plain.images * ~mark[:, None])
    colours = torch.tensor(list(data.SHORTCUT_COLORS.values()))
    r0, c0, r1, c1 = sc.meta["shortcut_box"]
    assert (r1 - r0, c1 - c0) == (6, 6)
    assert torch.equal(sc.images[:, :, r0, c0], colours[sc.shortcut_labels])
    assert torch.equal(sc.shortcut_labels, sc.labels)          # agreement 1: the mark names the class
    assert not (sc.masks & mark).any() and not (sc.part_masks & mark[:, None]).any()
    assert torch.equal(sc.masks, plain.masks & ~mark)
    # agreement 0: always another class; None: no mark, the plain flowers
    other = data.shortcut_flowers(36, agreement=0.0, seed=5)
    assert (other.shortcut_labels != other.labels).all() and other.shortcut_labels.min() >= 0
    none = data.shortcut_flowers(36, agreement=None, seed=5)
    assert torch.equal(none.images, plain.images) and not none.shortcut_masks.any()
    assert (none.shortcut_labels == -1).all()
    # about 1/6 agree at 1/6 (independent of the class), and the set is deterministic
    rand = data.shortcut_flowers(1200, agreement=1 / 6, seed=9)
    assert abs(float((rand.shortcut_labels == rand.labels).float().mean()) - 1 / 6) < 0.04
    again = data.shortcut_flowers(1200, agreement=1 / 6, seed=9)
    assert torch.equal(rand.images, again.images) and torch.equal(rand.shortcut_labels, again.shortcut_labels)
    sub = sc.subset([3, 1])
    assert torch.equal(sub.shortcut_labels, sc.shortcut_labels[[3, 1]]) and sub.shortcut_masks.shape[0] == 2


@pytest.mark.parametrize("bad, exc", [(1.5, ValueError), (-0.1, ValueError), (float("nan"), ValueError),
                                      (True, TypeError), ("all", TypeError)])
def test_shortcut_flowers_check_agreement(bad, exc):
    with pytest.raises(exc, match="agreement"):
        data.shortcut_flowers(4, agreement=bad)


# ------------------------------------------------------------------ metrics


def test_mass_in_mask_closed_forms():
    h = torch.tensor([[3.0, 1.0], [0.0, -2.0]])
    top = torch.tensor([[True, True], [False, False]])
    assert float(metrics.mass_in_mask(h, top)[0]) == pytest.approx(1.0)          # all positive mass on top
    assert float(metrics.mass_in_mask(h, ~top)[0]) == pytest.approx(0.0)
    assert float(metrics.mass_in_mask(h, ~top, kind="absolute")[0]) == pytest.approx(2 / 6)
    left = torch.tensor([[True, False], [True, False]])
    assert float(metrics.mass_in_mask(h, left)[0]) == pytest.approx(3 / 4)
    masks = torch.rand(5, 8, 8) > 0.7
    # a uniform map scores the area share: the chance level
    assert torch.allclose(metrics.mass_in_mask(torch.ones(5, 8, 8), masks), metrics.mask_area(masks))
    assert float(metrics.mass_in_mask(torch.zeros(8, 8), masks[0])[0]) == 0.0   # no mass: 0, not NaN
    with pytest.raises(ValueError, match="kind"):
        metrics.mass_in_mask(h, top, kind="signed")
    with pytest.raises(ValueError, match="shapes differ"):
        metrics.mass_in_mask(torch.ones(2, 3, 3), top)
    with pytest.raises(ValueError, match="NaN"):
        metrics.mass_in_mask(torch.tensor([[float("nan"), 1.0], [0.0, 0.0]]), top)


def test_rank_correlation_is_spearman():
    g = torch.Generator().manual_seed(0)
    a = torch.randn(6, 7, 7, generator=g)
    b = a + torch.randn(6, 7, 7, generator=g)
    b[0] = a[0].round()          # ties
    b[1] = -a[1]
    rho = metrics.rank_correlation(a, b)
    ref = [spearmanr(a[i].flatten(), b[i].flatten()).statistic for i in range(6)]
    assert np.allclose(rho.numpy(), ref, atol=1e-6)
    assert float(rho[1]) == pytest.approx(-1.0)
    absr = metrics.rank_correlation(a, b, absolute=True)
    assert np.allclose(absr.numpy(), [spearmanr(a[i].abs().flatten(), b[i].abs().flatten()).statistic
                                      for i in range(6)], atol=1e-6)
    assert float(absr[1]) == pytest.approx(1.0)
    assert math.isnan(float(metrics.rank_correlation(torch.ones(3, 3), torch.rand(3, 3))[0]))
    with pytest.raises(ValueError, match="heatmaps_a, heatmaps_b"):
        metrics.rank_correlation(a, b[:, :3])


# ------------------------------------------------------------------ randomisation


def _tiny():
    torch.manual_seed(0)
    return nn.Sequential(nn.Conv2d(3, 4, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2), nn.Conv2d(4, 4, 3, padding=1),
                         nn.ReLU(), nn.AdaptiveAvgPool2d(2), nn.Flatten(), nn.Linear(16, 8), nn.ReLU(),
                         nn.Linear(8, 3)).eval()


def _state(model):
    return {k: v.clone() for k, v in model.state_dict().items()}


def test_randomized_reinitialises_only_the_named_layers():
    m = _tiny()
    assert sanity.parameter_layers(m) == ["0", "3", "7", "9"]
    before = _state(m)
    rng = torch.get_rng_state()
    r = sanity.randomized(m, ["9", "7"], seed=3)
    assert torch.equal(torch.get_rng_state(), rng)                     # global random state untouched
    assert all(torch.equal(v, before[k]) for k, v in m.state_dict().items())   # the model itself unchanged
    after = r.state_dict()
    for k in before:
        same = torch.equal(after[k], before[k])
        assert same == (k.split(".")[0] in ("0", "3")), k
    # a layer gets the same random weights in every step of a cascade, and again with the same seed
    r2 = sanity.randomized(m, ["9"], seed=3)
    assert torch.equal(r2.state_dict()["9.weight"], after["9.weight"])
    assert not torch.equal(sanity.randomized(m, ["9"], seed=4).state_dict()["9.weight"], after["9.weight"])
    with pytest.raises(ValueError, match="valid layers: 0, 3, 7, 9"):
        sanity.randomized(m, ["1"])


def test_model_randomization_matches_attribute_on_randomized_copies():
    m = _tiny()
    x = torch.rand(4, 3, 8, 8, generator=torch.Generator().manual_seed(1))
    before = _state(m)
    res = sanity.model_randomization(m, x, methods=["saliency", "guided_backprop"], seed=2, progress=False)
    assert res.layers == ["9", "7", "3", "0"] and res.steps[1] == ["9", "7"] and len(res.steps) == 4
    assert all(torch.equal(v, before[k]) for k, v in m.state_dict().items())
    assert all(not mod._forward_hooks and not mod._backward_hooks for mod in m.modules())
    target = m(x).argmax(1)
    for meth in res.methods:
        trained = xnb.attribute(m, x, meth, target=target)
        assert torch.allclose(res.trained_maps[meth], trained)
        h = xnb.attribute(sanity.randomized(m, res.steps[2], seed=2), x, meth, target=target)
        assert torch.allclose(res.maps[meth][2], h)
        assert np.allclose(res.rho[meth][2], metrics.rank_correlation(trained, h, absolute=True).numpy(),
                           equal_nan=True)
        # the unrelated level pairs every image with another one
        assert (res.pairs != np.arange(4)).all()
        assert np.allclose(res.rho_other[meth],
                           metrics.rank_correlation(trained, trained[res.pairs], absolute=True).numpy())
    ind = sanity.model_randomization(m, x, methods="saliency", mode="independent", seed=2, keep_maps=False,
                                     progress=False)
    assert ind.steps == [["9"], ["7"], ["3"], ["0"]] and ind.maps is None
    again = sanity.model_randomization(m, x, methods=["saliency", "guided_backprop"], seed=2, progress=False)
    assert all(np.array_equal(again.rho[k], res.rho[k], equal_nan=True) for k in res.methods)
    assert res.mean().shape == (2, 4)


@pytest.mark.parametrize("kwargs, match", [({"methods": ["nope"]}, "valid methods"),
                                           ({"mode": "random"}, "mode"),
                                           ({"layers": ["1"]}, "valid layers"),
                                           ({"method_options": {"occlusion": {}}}, "method_options")])
def test_model_randomization_checks_arguments(kwargs, match):
    m = _tiny()
    with pytest.raises(ValueError, match=match):
        sanity.model_randomization(m, torch.rand(2, 3, 8, 8), progress=False,
                                   **{"methods": ["saliency"], **kwargs})
    with pytest.raises(ValueError, match="at least 2"):
        sanity.model_randomization(m, torch.rand(1, 3, 8, 8), methods=["saliency"], progress=False)


def _result(rho_last, rho_other):
    n = len(rho_last)
    return sanity.RandomizationResult(methods=["m"], layers=["a"], mode="cascading", steps=[["a"]],
                                      rho={"m": np.array([rho_last], np.float32)},
                                      rho_other={"m": np.array(rho_other, np.float32)}, pairs=np.roll(np.arange(n), 1),
                                      targets=torch.zeros(n, dtype=torch.long), absolute=True, seed=0)


def test_verdict_rule_can_come_out_every_way():
    other = [0.1, 0.2, 0.15, 0.1, 0.2, 0.15]
    fails = _result([0.9, 0.85, 0.95, 0.9, 0.88, 0.92], other).verdicts()[0]
    assert fails["verdict"] == "fails" and fails["wins"] == 6 and fails["gap"] > 0.6
    passes = _result([0.12, 0.18, 0.1, 0.14, 0.2, 0.16], other).verdicts()[0]
    assert passes["verdict"] == "passes"
    spread = _result([0.9, -0.5, 0.8, -0.4, 0.7, 0.1], other).verdicts()[0]
    assert spread["verdict"] == "inconclusive"
    assert "fails" in _result([0.9, 0.85, 0.95, 0.9, 0.88, 0.92], other).table()


def test_class_sensitivity_closed_form_on_a_linear_model():
    """y = Wx: the saliency map of class c is max over channels of |W_c| (reduce="max_abs"), for every image."""
    torch.manual_seed(0)
    lin = nn.Sequential(nn.Flatten(), nn.Linear(3 * 4 * 4, 3)).eval()
    x = torch.rand(2, 3, 4, 4)
    out = sanity.class_sensitivity(lin, x, methods=["saliency"], target=0, other=2)
    w = lin[1].weight.detach().reshape(3, 3, 4, 4).abs().amax(1)
    expected = float(metrics.rank_correlation(w[0], w[2])[0])
    assert np.allclose(out["saliency"], [expected, expected], atol=1e-6)
    with pytest.raises(ValueError, match="other"):
        sanity.class_sensitivity(lin, x, methods=["saliency"], target=1, other=1)


# ------------------------------------------------------------------ shortcut report


def test_shortcut_report_scores_maps_against_both_masks(monkeypatch):
    d = data.shortcut_flowers(3, agreement=1.0, seed=2, difficulty="easy")
    maps = torch.zeros(3, 64, 64)
    maps[0][d.shortcut_masks[0]] = 1.0                     # all on the mark
    maps[1][d.masks[1]] = 1.0                              # all on the part
    maps[2][0:8, 0:8] = 1.0                                # a flat 8×8 block over the mark (occlusion-like)
    monkeypatch.setattr(sanity, "attribute", lambda *a, **k: maps.clone())
    r = sanity.shortcut_report(nn.Sequential(nn.Flatten(), nn.Linear(3 * 64 * 64, 6)).eval(), d,
                               methods=["saliency"], target=d.labels, progress=False)
    assert np.allclose(r.on_shortcut["saliency"], [1.0, 0.0, 36 / 64])
    assert np.allclose(r.on_part["saliency"][:2], [0.0, 1.0])
    # the block's first pixel (0, 0) lies outside the mark, but pixels tied at the maximum lie inside it
    assert r.points_shortcut["saliency"].tolist() == [True, False, True]
    assert np.allclose(r.chance_shortcut, 36 / 4096)
    assert "on mark" in r.table()
    with pytest.raises(TypeError, match="shortcut_masks"):
        sanity.shortcut_report(nn.Linear(2, 2), data.flowers(2, seed=0))


def test_shortcut_model_explanations_point_at_the_mark():
    """The shipped flowers-shortcut reads the mark, and its gradients say so; flowers-single's do not."""
    d = data.shortcut_flowers(12, agreement=1.0, seed=21)
    on = {}
    for name in ("flowers-shortcut", "flowers-single"):
        r = sanity.shortcut_report(models.load(name), d, methods=["saliency"], progress=False)
        on[name] = float(r.on_shortcut["saliency"].mean())
        chance = float(r.chance_shortcut.mean())
    assert on["flowers-shortcut"] > 10 * chance and on["flowers-shortcut"] > 3 * on["flowers-single"]


# ------------------------------------------------------------------ explorers and exercises


def test_explorers_are_views_over_the_results(monkeypatch):
    from xnb.widgets import RandomizationExplorer, ShortcutExplorer

    m = _tiny()
    x = torch.rand(3, 3, 8, 8, generator=torch.Generator().manual_seed(4))
    res = sanity.model_randomization(m, x, methods=["saliency", "gradcam"], progress=False)
    d = data.shortcut_flowers(3, seed=1, difficulty="easy")
    rep = sanity.shortcut_report(models.load("flowers-shortcut"), d, methods=["saliency"], progress=False)
    mapless = sanity.model_randomization(m, x, methods="saliency", keep_maps=False, progress=False)

    def boom(*a, **k):
        raise AssertionError("a slider move must not recompute a map")

    monkeypatch.setattr(sanity, "attribute", boom)
    ex = RandomizationExplorer(res, x)
    assert not ex.errors.message
    png0 = ex.view.value
    ex.step.value = 0
    assert ex.view.value != png0 and "nothing re-initialised" in ex.caption.value
    ex.step.value = 2
    assert "9 … 7 re-initialised" in ex.caption.value and "rank correlation" in ex.status.value
    ex.method.value = "gradcam"
    assert not ex.errors.message
    sx = ShortcutExplorer(rep, d)
    png = sx.view.value
    sx.image.value = 2
    assert sx.view.value != png and "mass on mark" in sx.status.value and not sx.errors.message
    with pytest.raises(TypeError, match="result"):
        RandomizationExplorer("x", x)
    with pytest.raises(ValueError, match="images"):
        RandomizationExplorer(res, x[:2])
    with pytest.raises(ValueError, match="keep_maps"):
        RandomizationExplorer(mapless, x)


def test_sanity_exercises_check_computed_answers(capsys):
    assert check("sanity.3", 1.0) is True
    assert check("sanity.3", 2.0) is False and "signed sum" in capsys.readouterr().out
    sol4 = EXERCISES["sanity.4"].solution()
    assert isinstance(sol4, int) and sol4 > 250
    assert check("sanity.4", sol4) is True and check("sanity.4", float(sol4)) is False
    best = EXERCISES["sanity.1"].solution()
    assert best and best <= set(sanity.SANITY_METHODS)
    assert check("sanity.1", sorted(best)[0]) is True
    fails = EXERCISES["sanity.2"].solution()
    assert 0 < len(fails) < len(sanity.SANITY_METHODS)
    assert check("sanity.2", set(fails)) is True and check("sanity.2", set()) is False
    assert "not none" in capsys.readouterr().out
    assert check("sanity.2", {"saliency", "not_a_method"}) is False
    assert "not methods of xnb.attribute" in capsys.readouterr().out
