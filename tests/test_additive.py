"""Additive explainer: λ schedule, loss forms, prior weights vs finite differences, the fit, bad input."""
from __future__ import annotations

import math

import pytest
import torch

from xnb import additive as A
from xnb import capture, data, models

from test_core import assert_unchanged, snapshot


def test_lambda_schedule_and_loss_forms():
    assert A.lambda_schedule(10.0, 1) == 10.0
    assert A.lambda_schedule(10.0, 4) == pytest.approx(5.0)
    alpha = torch.tensor([[1.0, 3.0], [2.0, 2.0]])
    w = torch.tensor([[1.0, 1.0], [0.0, 0.0]])
    ce = A.prior_loss(alpha, w, "ce")
    assert ce[0] == pytest.approx(-(0.5 * math.log(0.25) + 0.5 * math.log(0.75)))
    assert ce[1] == 0  # no prior for an image whose w is all zero
    mse = A.prior_loss(alpha, torch.tensor([[1.0, -1.0], [1.0, 0.0]]), "mse")
    a0 = torch.tensor([1.0, 3.0]) / math.sqrt(10)
    q0 = torch.tensor([1.0, -1.0]) / math.sqrt(2)
    assert mse[0] == pytest.approx(float(((a0 - q0) ** 2).sum()))
    H = A.contribution_entropy(torch.tensor([[1.0, -1.0, 0.0, 0.0], [5.0, 0.0, 0.0, 0.0]]))
    assert H[0] == pytest.approx(math.log(2)) and H[1] == pytest.approx(0.0, abs=1e-6)
    y = torch.tensor([0.0, 2.0, 4.0])
    assert torch.allclose(A.relative_deviation(y, torch.tensor([1.0, 2.0, 3.0])), torch.tensor([0.25, 0.0, 0.25]))


@pytest.fixture(scope="module")
def flower():
    return models.load("flowers-single"), data.flowers(64, seed=61)


def test_jacobian_prior_matches_finite_differences(flower):
    m, d = flower
    perf, conc = A.Performer(m, target=2, feature_layer="pool4"), A.FilterConcepts("relu4")
    x = d.images[:3].double()
    m64 = models.load("flowers-single")
    m64.double()
    perf64 = A.Performer(m64, target=2, feature_layer="pool4")
    w = A.prior_weights(perf64, conc, x, "jacobian")
    eps = 1e-5
    for i in (0, 7, 30):
        def shifted(delta):
            h = m64.relu4.register_forward_hook(lambda mod, inp, out: out + delta * (torch.arange(64) == i)
                                                .double().view(1, 64, 1, 1))
            try:
                with torch.no_grad():
                    return m64(x)[:, 2]
            finally:
                h.remove()
        fd = (shifted(eps) - shifted(-eps)) / (2 * eps)  # shifting x_:,i,:,: by ε moves y by ε Σ_hw ∂y/∂x_hwi
        assert torch.allclose(w[:, i], fd, rtol=1e-4, atol=1e-6)


def test_taylor_prior_matches_finite_differences():
    torch.manual_seed(0)
    m = models.SmallVGG(n_outputs=5).double().eval()
    x = torch.rand(2, 3, 64, 64, dtype=torch.float64)
    perf = A.Performer(m, target=0, feature_layer="pool4")
    conc = A.OutputConcepts([1, 2, 3], shared_layer="relu7")
    w = A.prior_weights(perf, conc, x, "taylor")
    eps = 1e-6
    for j, i in enumerate([1, 2, 3]):
        with capture(m, "relu7") as cap:
            out = m(x.requires_grad_(False))
        xr = cap["relu7"].detach().requires_grad_(True)
        tail = lambda z: m.fc8(m.drop7(z))  # noqa: E731  relu7 -> outputs
        (gi,) = torch.autograd.grad(tail(xr)[:, i].sum(), xr)
        d_out = tail(xr + eps * gi) - tail(xr - eps * gi)
        assert torch.allclose(w[:, j], d_out[:, 0] / d_out[:, i], rtol=1e-5)


def test_fit_explain_is_additive_and_positive(flower):
    m, d = flower
    before = snapshot(m)
    perf, conc = A.Performer(m, target=0, feature_layer="pool4"), A.FilterConcepts("relu4")
    ex = A.AdditiveExplainer(prior="jacobian", epochs=3, seed=1).fit(perf, conc, d, progress=False)
    e = ex.explain(d.images[:8])
    assert (e.alpha >= 0).all() and e.alpha.shape == (8, 64)
    assert torch.allclose(e.y_hat, e.contributions.sum(1) + e.bias, atol=1e-4)
    assert len(ex.history_["loss"]) == 3 and ex.history_["lambda"] == [A.lambda_schedule(10.0, t) for t in (1, 2, 3)]
    assert ex.prior_loss_ == "ce" and len(ex.history_["alpha"]) == 3
    again = A.AdditiveExplainer(prior="jacobian", epochs=3, seed=1).fit(perf, conc, d, progress=False)
    assert torch.equal(again.explain(d.images[:8]).alpha, e.alpha)  # deterministic by seed
    assert_unchanged(m, before)


def test_prior_loss_pulls_alpha_towards_the_prior(flower):
    """What the prior loss does by construction: the fitted α sits closer to the prior weights (lower CE
    prior loss) than the distillation-only baseline's, and the recorded λ follows β/√t (0 without prior)."""
    m, d = flower
    perf, conc = A.Performer(m, target=0, feature_layer="pool4"), A.FilterConcepts("relu4")
    pre = A.AdditiveExplainer(prior="jacobian").precompute(perf, conc, d)
    fits = {prior: A.AdditiveExplainer(prior=prior, epochs=5, seed=0).fit(
        perf, conc, d, precomputed=pre if prior else (*pre[:3], None), progress=False) for prior in (None, "jacobian")}
    loss = {k: float(A.prior_loss(ex.explain(precomputed=pre).alpha, pre[3], "ce").mean()) for k, ex in fits.items()}
    assert loss["jacobian"] < loss[None]
    assert fits[None].history_["lambda"] == [0.0] * 5 and fits[None].prior_loss_ is None
    assert fits["jacobian"].history_["lambda"] == [A.lambda_schedule(10.0, t) for t in range(1, 6)]


def test_bad_inputs(flower):
    m, d = flower
    perf, conc = A.Performer(m, target=0, feature_layer="pool4"), A.FilterConcepts("relu4")
    with pytest.raises(ValueError, match="prior: unknown value 'hessian'"):
        A.AdditiveExplainer(prior="hessian").fit(perf, conc, d, progress=False)
    with pytest.raises(ValueError, match=r"beta: must be in \[0, inf\]"):
        A.AdditiveExplainer(beta=-1).fit(perf, conc, d, progress=False)
    with pytest.raises(ValueError, match="indices: n = 0 concepts"):
        A.OutputConcepts([])
    with pytest.raises(ValueError, match="prior: 'taylor' \\(case 2\\) needs OutputConcepts"):
        A.AdditiveExplainer(prior="taylor").fit(perf, conc, d, progress=False)
    y, Y, feat, w = A.AdditiveExplainer(prior=None).precompute(perf, conc, d)
    with pytest.raises(ValueError, match="concepts: 10 concept rows for 64 targets"):
        A.AdditiveExplainer(prior=None).fit(perf, conc, d, precomputed=(y, Y[:10], feat, None), progress=False)
    bad = d.images.clone()
    bad[0, 0, 0, 0] = float("nan")
    with pytest.raises(ValueError, match="data: the performer scores contain NaN"):
        A.AdditiveExplainer(prior=None).precompute(perf, conc, bad)
    with pytest.raises(ValueError, match="layer: unknown layer 'conv9'"):
        A.Performer(m, target=0, feature_layer="conv9")


# ------------------------------------------------------------------------------ claims()


def test_claims_one_per_spec_in_order(monkeypatch):
    from xnb.claims import VERDICTS, Claim

    # the quick protocol, on fewer images and epochs: this checks the plumbing, not the verdicts
    monkeypatch.setitem(A._CLAIM_SIZES, True, {"n_fit": 80, "n_test": 60, "epochs": 3})
    out = A.claims(seeds=(0, 1), quick=True, progress=False)
    assert [c.name for c in out] == [s.name for s in A.CLAIMS]
    for c, spec in zip(out, A.CLAIMS):
        assert isinstance(c, Claim) and c.paper == "additive" and c.seeds == (0, 1)
        assert len(c.values) == 2 and c.verdict in VERDICTS
        assert c.verdict_rule == spec.rule.describe() and spec.protocol in c.protocol
        assert (c.baseline is not None and len(c.baseline) == 2) == spec.rule.needs_baseline
        assert c.verdict == "holds" or c.note  # a claim that fails says why



def test_row_spearman_and_top_share_on_hand_made_rows():
    import numpy as np
    from scipy import stats

    a = torch.tensor([[1.0, 2.0, 3.0, 4.0], [1.0, 2.0, 3.0, 4.0], [0.3, 0.1, 0.2, 0.9], [1.0, 1.0, 1.0, 1.0]])
    b = torch.tensor([[10.0, 20.0, 30.0, 400.0], [4.0, 3.0, 2.0, 1.0], [3.0, 0.0, 0.0, 5.0], [1.0, 2.0, 3.0, 4.0]])
    rho = A._row_spearman(a, b)
    assert rho[0] == pytest.approx(1.0) and rho[1] == pytest.approx(-1.0)  # monotone / reversed
    assert rho[2] == pytest.approx(stats.spearmanr(a[2], b[2]).correlation)  # ties: average ranks
    assert np.isnan(rho[3])  # a constant row has no ranking
    assert A._row_spearman(a[:3] ** 3 + 7, b[:3]) == pytest.approx(rho[:3])  # rank-based: monotone-invariant
    assert A._top_share(torch.tensor([[1.0, -1.0, 0.0, 0.0], [0.0, 0.0, -3.0, 1.0]])) == pytest.approx((0.5 + 0.75) / 2)


# ------------------------------------------------------------------------------ the fixes


def test_bad_target_and_bad_contributions_name_the_argument(flower):
    m, d = flower
    conc = A.FilterConcepts("relu4")
    perf = A.Performer(m, target=77, feature_layer="pool4")  # 6 outputs: the index is checked on the output
    with pytest.raises(ValueError, match=r"target: output index 77 does not exist; the model has 6 outputs"):
        A.AdditiveExplainer(prior="jacobian", epochs=1).fit(perf, conc, d, progress=False)
    with pytest.raises(ValueError, match="target: output index 77"):
        A.prior_weights(perf, conc, d.images[:2])
    with pytest.raises(ValueError, match="target: must be"):
        A.Performer(m, target=-1)
    with pytest.raises(TypeError, match="target: expected an integer"):
        A.Performer(m, target="red")
    with pytest.raises(ValueError, match=r"contributions: expected \[N, n\].*\(2, 3, 4\)"):
        A.contribution_entropy(torch.ones(2, 3, 4))
    with pytest.raises(TypeError, match="contributions: expected a torch.Tensor"):
        A.contribution_entropy([[1.0, 2.0]])
    with pytest.raises(ValueError, match="init: unknown value 'zeros'"):
        A.AdditiveExplainer(init="zeros").fit(A.Performer(m, target=0), conc, d, progress=False)
    with pytest.raises(ValueError, match="prior_epochs: must be"):
        A.AdditiveExplainer(prior_epochs=-1).fit(A.Performer(m, target=0), conc, d, progress=False)


def test_warmth_prior_weights_vary_across_images_at_relu6_not_at_relu7():
    """At relu7 the warmth head and the concept outputs are both linear in the feature, so the Taylor
    prior ⟨∂y/∂x, ∂yᵢ/∂x⟩/‖∂yᵢ/∂x‖² is one constant for every image; at relu6 (the paper's fc6) the
    ReLU between makes it image-dependent."""
    d = data.flowers(24, variant="double", seed=77)
    perf_model, idx, _ = A.warmth_performer(d)
    perf = A.Performer(perf_model, target=idx, feature_layer="base.pool4")
    n = len(d.concept_names)
    w7 = A.prior_weights(perf, A.OutputConcepts(range(n), shared_layer="base.relu7"), d.images, "taylor")
    w6 = A.prior_weights(perf, A.OutputConcepts(range(n), shared_layer=A._WARM_PRIOR_LAYER), d.images, "taylor")
    assert float(w7.std(0).max()) < 1e-4 * float(w7.abs().max())  # identical rows
    assert float(w6.std(0).mean()) > 0.05 * float(w6.abs().mean())
    assert A._WARM_PRIOR_LAYER == "base.relu6" and A._RED_PRIOR_LAYER == "relu6"


def test_truth_recovery_on_hand_made_cases():
    truth = torch.tensor([[0.0, 2.0, 0.0, 1.0], [0.0, 0.0, 0.0, 0.0], [3.0, 0.0, 0.0, 0.0]])
    exact = truth * 5.0  # same shares, other units
    r = A.truth_recovery(exact, truth)
    assert r["top1"][0] == 1 and torch.isnan(r["top1"][1]) and r["top1"][2] == 1
    assert r["l1"][0] == pytest.approx(0.0) and r["l1"][2] == pytest.approx(0.0)
    assert r["present_share"][0] == pytest.approx(1.0)
    c = torch.tensor([[1.0, 1.0, 2.0, 0.0], [1.0, 1.0, 1.0, 1.0], [0.0, 1.0, 0.0, 0.0]])
    r = A.truth_recovery(c, truth)
    assert r["top1"][0] == 0 and r["top1"][2] == 0
    assert r["present_share"][0] == pytest.approx(0.25) and r["present_share"][2] == pytest.approx(0.0)
    # shares (1/4, 1/4, 1/2, 0) vs (0, 2/3, 0, 1/3): |.| sums to 1/4 + 5/12 + 1/2 + 1/3 = 1.5; disjoint = 2
    assert r["l1"][0] == pytest.approx(1.5) and r["l1"][2] == pytest.approx(2.0)
    present = torch.tensor([[True, True, False, False]] * 3)
    assert A.truth_recovery(c, truth, present)["present_share"][1] == pytest.approx(0.5)
    with pytest.raises(ValueError, match="truth: shape"):
        A.truth_recovery(c, truth[:, :3])
    with pytest.raises(ValueError, match="present: expected a tensor of shape"):
        A.truth_recovery(c, truth, present[:2])


def test_prior_fades_after_prior_epochs_and_collapse_is_detected(flower):
    m, d = flower
    perf, conc = A.Performer(m, target=0, feature_layer="pool4"), A.FilterConcepts("relu4")
    pre = A.AdditiveExplainer(prior="jacobian").precompute(perf, conc, d)
    ex = A.AdditiveExplainer(prior="jacobian", epochs=5, prior_epochs=2, seed=0).fit(
        perf, conc, d, precomputed=pre, progress=False)
    assert ex.history_["lambda"] == [A.lambda_schedule(10.0, 1), A.lambda_schedule(10.0, 2), 0.0, 0.0, 0.0]
    assert ex.history_["prior"][-1] > 0  # still measured, no longer weighted
    # an oracle for the collapse flag: concepts that carry y exactly vs concepts independent of y
    y, Y, feat, _ = pre
    gen = torch.Generator().manual_seed(0)
    noise = torch.rand(Y.shape, generator=gen) + 0.5
    carry = torch.cat([(y - y.min() + 1)[:, None], noise[:, 1:]], 1)
    ok = A.AdditiveExplainer(prior=None, epochs=30, seed=0).fit(perf, conc, d, precomputed=(y, carry, feat, None),
                                                                progress=False)
    perm = torch.randperm(len(y), generator=gen)
    bad = A.AdditiveExplainer(prior=None, epochs=30, seed=0).fit(
        perf, conc, d, precomputed=(y[perm], torch.ones_like(Y), feat * 0, None), progress=False)
    assert not ok.collapsed_ and bad.collapsed_
    for init in ("uniform", "default"):  # both initialisations train and are deterministic by seed
        a = A.AdditiveExplainer(prior=None, epochs=2, seed=3, init=init).fit(perf, conc, d,
                                                                            precomputed=(*pre[:3], None), progress=False)
        b = A.AdditiveExplainer(prior=None, epochs=2, seed=3, init=init).fit(perf, conc, d,
                                                                            precomputed=(*pre[:3], None), progress=False)
        assert torch.equal(a.explain(precomputed=pre).alpha, b.explain(precomputed=pre).alpha)
