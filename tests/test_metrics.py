"""xnb.metrics: pixel IoU, IoU-vs-threshold curves (µ-Lasso §4.3) against brute force / scikit-learn."""
from __future__ import annotations

import numpy as np
import pytest
import torch
from sklearn.metrics import jaccard_score

from xnb.metrics import iou, iou_at_mean, iou_curve, minmax


def _rand_masks(n=5, h=12, w=10, seed=0):
    g = torch.Generator().manual_seed(seed)
    return torch.rand(n, h, w, generator=g) > 0.6, torch.rand(n, h, w, generator=g) > 0.5


def test_iou_matches_sklearn_jaccard():
    p, g = _rand_masks()
    ours = iou(p, g)
    ref = [jaccard_score(g[i].flatten().numpy(), p[i].flatten().numpy()) for i in range(len(p))]
    np.testing.assert_allclose(ours.numpy(), ref, rtol=1e-6)


def test_iou_closed_forms():
    a = torch.zeros(4, 4, dtype=torch.bool)
    b = a.clone()
    a[:2] = True          # 8 pixels
    b[1:3] = True         # 8 pixels, 4 shared -> 4 / 12
    assert float(iou(a, b)) == pytest.approx(1 / 3)
    assert float(iou(a, a)) == 1.0
    assert float(iou(a, ~a)) == 0.0
    empty = torch.zeros(4, 4, dtype=torch.bool)
    assert float(iou(empty, empty)) == 1.0  # documented: both empty agree


def test_iou_curve_brute_force_and_auc():
    g = torch.Generator().manual_seed(1)
    h = torch.rand(3, 8, 8, generator=g) * 5 - 1
    m = torch.rand(3, 8, 8, generator=g) > 0.5
    t = np.linspace(0, 1, 11)
    c = iou_curve(h, m, t)
    hn = h.numpy()
    for i in range(3):
        n = (hn[i] - hn[i].min()) / (hn[i].max() - hn[i].min())
        for j, tj in enumerate(t):
            p = n >= tj
            inter = (p & m[i].numpy()).sum()
            union = (p | m[i].numpy()).sum()
            assert c.per_image[i, j] == pytest.approx(inter / union, abs=1e-6)
    assert c.auc == pytest.approx(np.trapezoid(c.iou, t) if hasattr(np, "trapezoid") else np.trapz(c.iou, t))


def test_iou_curve_of_the_mask_itself_is_one_above_zero():
    m = torch.zeros(2, 6, 6, dtype=torch.bool)
    m[:, 1:4, 2:5] = True
    c = iou_curve(m.float(), m, np.linspace(0, 1, 6))
    assert np.allclose(c.iou[1:], 1.0)
    assert c.iou[0] == pytest.approx(9 / 36)  # t = 0 keeps every pixel


def test_iou_at_mean_matches_manual():
    g = torch.Generator().manual_seed(2)
    h = torch.rand(4, 9, 9, generator=g)
    m = torch.rand(4, 9, 9, generator=g) > 0.5
    ref = [jaccard_score(m[i].flatten().numpy(), (h[i] > h[i].mean()).flatten().numpy()) for i in range(4)]
    np.testing.assert_allclose(iou_at_mean(h, m).numpy(), ref, rtol=1e-6)


def test_minmax_constant_and_range():
    assert torch.equal(minmax(torch.full((3, 3), 2.0)), torch.zeros(3, 3))
    out = minmax(torch.tensor([[[1.0, 3.0], [2.0, 5.0]]]))
    assert float(out.min()) == 0.0 and float(out.max()) == 1.0


@pytest.mark.parametrize("call", [
    lambda: iou(torch.zeros(2, 3, 3, dtype=torch.bool), torch.zeros(2, 3, 4, dtype=torch.bool)),
    lambda: iou(torch.rand(3, 3), torch.zeros(3, 3, dtype=torch.bool)),
    lambda: iou_curve(torch.rand(3, 3), torch.zeros(3, 3, dtype=torch.bool), thresholds=[0.5, 0.2]),
    lambda: iou_curve(torch.full((3, 3), float("nan")), torch.zeros(3, 3, dtype=torch.bool)),
    lambda: iou(torch.zeros(3, 3, dtype=torch.bool), torch.full((3, 3), 0.5)),
])
def test_bad_input(call):
    with pytest.raises(ValueError):
        call()


def test_type_errors():
    with pytest.raises(TypeError):
        iou([[True]], torch.zeros(1, 1, dtype=torch.bool))


# -- calibration ---------------------------------------------------------------------------------------

def test_reliability_closed_form():
    from xnb.metrics import expected_calibration_error, reliability

    # 4 images, 2 classes; confidences 0.9, 0.9 (one right, one wrong) and 0.6, 0.6 (both right)
    p = torch.tensor([[0.9, 0.1], [0.9, 0.1], [0.4, 0.6], [0.4, 0.6]], dtype=torch.float64)
    y = torch.tensor([0, 1, 1, 1])
    r = reliability(p, y, n_bins=10, from_logits=False)
    assert r.count.sum() == 4 and r.count[8] == 2 and r.count[5] == 2     # (0.8, 0.9] and (0.5, 0.6]
    assert r.accuracy[8] == 0.5 and r.confidence[8] == pytest.approx(0.9)
    assert r.accuracy[5] == 1.0 and r.confidence[5] == pytest.approx(0.6)
    # ECE = 2/4 · |0.5 − 0.9| + 2/4 · |1 − 0.6| = 0.4
    assert r.ece == pytest.approx(0.4)
    assert np.isnan(r.accuracy[0])  # empty bins are NaN, not 0
    # from logits: the same probabilities
    logits = p.log()
    assert expected_calibration_error(logits, y, n_bins=10) == pytest.approx(0.4)


def test_ece_is_zero_for_a_perfectly_calibrated_bin_and_grows_with_over_confidence():
    from xnb.metrics import expected_calibration_error

    y = torch.tensor([0] * 8 + [1] * 2)        # 80 % class 0
    logits = torch.log(torch.tensor([[0.8, 0.2]] * 10, dtype=torch.float64))
    assert expected_calibration_error(logits, y) == pytest.approx(0.0, abs=1e-12)
    assert expected_calibration_error(logits * 5, y) > 0.15


def test_calibration_arguments_are_checked():
    from xnb.metrics import reliability

    with pytest.raises(ValueError, match="logits"):
        reliability(torch.zeros(3), torch.zeros(3, dtype=torch.long))
    with pytest.raises(ValueError, match="labels"):
        reliability(torch.zeros(3, 2), torch.zeros(4, dtype=torch.long))
    with pytest.raises(TypeError, match="labels"):
        reliability(torch.zeros(3, 2), torch.zeros(3))
    with pytest.raises(ValueError, match="labels"):
        reliability(torch.zeros(3, 2), torch.tensor([0, 1, 2]))
    with pytest.raises(ValueError, match="NaN"):
        reliability(torch.tensor([[0.0, float("nan")]]), torch.tensor([0]))
    with pytest.raises(ValueError, match="n_bins"):
        reliability(torch.zeros(3, 2), torch.zeros(3, dtype=torch.long), n_bins=0)
    with pytest.raises(ValueError, match="probabilities"):
        reliability(torch.ones(3, 2), torch.zeros(3, dtype=torch.long), from_logits=False)
