"""scikit-learn conventions: xnb's estimators are BaseEstimators that clone, refuse unfitted use with
NotFittedError, pass scikit-learn's own estimator checks (those skipped on purpose are listed with the
reason), and work inside Pipeline and GridSearchCV."""
from __future__ import annotations

import numpy as np
import pytest
import torch
from sklearn.base import clone
from sklearn.exceptions import NotFittedError
from sklearn.model_selection import GridSearchCV
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler
from sklearn.utils.estimator_checks import check_estimator
from sklearn.utils.validation import check_is_fitted

from xnb import srae

#: checks that cannot pass by design, with the reason (scikit-learn's own mechanism to declare them)
TENSOR_OUTPUTS = {
    "check_transformer_preserve_dtypes": "transform returns a torch float32 tensor (x-features plug into "
                                         "xnb's attribution), not an array of the input's dtype",
    "check_fit_idempotent": "predictions are torch tensors; the check compares numpy dtypes",
}
FAST = dict(epochs=40, hidden=(16,), progress=False, n_concepts=3)
ESTIMATORS = {"SRAE": srae.SRAE(**FAST), "NN": srae.NN(**FAST), "SAE": srae.SAE(**FAST), "CAE": srae.CAE(**FAST),
              "Lasso": srae.Lasso(n_concepts=3)}


@pytest.mark.parametrize("name", list(ESTIMATORS))
def test_check_estimator(name):
    est = ESTIMATORS[name]
    expected = dict(TENSOR_OUTPUTS)
    if name == "CAE":  # no faithfulness term: the head is fitted on a reconstruction-only code
        expected["check_regressors_train"] = "CAE is the paper's unfaithful baseline: R² ≤ 0.5 is its finding"
    results = check_estimator(est, expected_failed_checks=expected, on_fail=None)
    failed = {r["check_name"]: str(r["exception"])[:200] for r in results if r["status"] == "failed"}
    assert not failed, failed
    assert len(results) > 40  # the checks did run


def _toy(n=300, d=12, seed=0):
    g = np.random.default_rng(seed)
    Z = np.maximum(g.normal(size=(n, d)), 0).astype(np.float32)
    y = Z[:, :3] @ np.array([1.0, -2.0, 0.5], dtype=np.float32)
    return Z, y


@pytest.mark.parametrize("cls", [srae.SRAE, srae.NN, srae.SAE, srae.CAE, srae.Lasso])
def test_unfitted_clone_and_params(cls):
    est = cls(n_concepts=2)
    assert not hasattr(est, "coef_")  # NotFittedError is an AttributeError: hasattr is False, not a crash
    with pytest.raises(NotFittedError, match="not fitted"):
        est.predict(np.zeros((2, 4)))
    with pytest.raises(NotFittedError):
        check_is_fitted(est)
    twin = clone(est.set_params(seed=3))
    assert twin.get_params() == est.get_params() and twin is not est
    with pytest.raises(ValueError, match="Invalid parameter 'betta'"):
        est.set_params(betta=1.0)
    if cls in (srae.SAE, srae.CAE):  # every parameter survives a clone, not only the three named ones
        assert clone(cls(epochs=7, lr=0.01)).get_params()["epochs"] == 7


def test_pipeline_and_grid_search():
    Z, y = _toy()
    pipe = make_pipeline(StandardScaler(), srae.SRAE(epochs=20, hidden=(16,), progress=False))
    pipe.fit(Z, y)
    assert pipe.score(Z, y) > 0.8  # R² of ŷ: SRAE is faithful on a linear target
    assert pipe.transform(Z).shape == (300, 5)
    grid = GridSearchCV(srae.SRAE(epochs=15, hidden=(16,), progress=False), {"beta": [0.1, 3.0]}, cv=2).fit(Z, y)
    assert len(grid.cv_results_["mean_test_score"]) == 2 and np.isfinite(grid.cv_results_["mean_test_score"]).all()
    assert grid.best_estimator_.beta == grid.best_params_["beta"] and grid.best_estimator_.score(Z, y) > 0.5
    lasso = GridSearchCV(srae.Lasso(), {"n_concepts": [1, 3]}, cv=2).fit(Z, y)
    assert lasso.best_params_["n_concepts"] == 3 and lasso.best_score_ > 0.95


def test_score_is_r2():
    Z, y = _toy()
    est = srae.Lasso(n_concepts=3).fit(Z, y)
    y_hat = est.predict(Z).double().numpy()
    r2 = 1 - ((y - y_hat) ** 2).sum() / ((y - y.mean()) ** 2).sum()
    assert est.score(Z, y) == pytest.approx(r2, rel=1e-6)
    assert isinstance(est.predict(torch.as_tensor(Z)), torch.Tensor)


def test_additive_explainer_is_a_base_estimator():
    from xnb import additive

    est = additive.AdditiveExplainer(beta=3.0, epochs=2)
    twin = clone(est)
    assert twin.get_params() == est.get_params() and "beta=3.0" in repr(est)
    with pytest.raises(NotFittedError, match="not fitted"):
        est.explain(torch.zeros(1, 3, 64, 64))
    with pytest.raises(NotFittedError):
        check_is_fitted(est)


#: MuLasso's W has a column per class, also for two classes: its decision_function is [N, C] always
MULASSO_EXPECTED = {
    "check_classifiers_train": "decision_function returns X W with one column per class (eq. 1), also for a "
                               "binary problem, where scikit-learn expects one column",
    "check_classifiers_classes": "the same [N, 2] decision_function on binary problems",
}


def test_mulasso_check_estimator():
    from xnb import mulasso

    results = check_estimator(mulasso.MuLasso(mu=5.0, max_iter=500, tol=1e-4),
                              expected_failed_checks=MULASSO_EXPECTED, on_fail=None)
    failed = {r["check_name"]: str(r["exception"])[:200] for r in results if r["status"] == "failed"}
    assert not failed, failed
    assert len(results) > 40


def test_mulasso_in_pipeline_and_grid_search():
    from sklearn.datasets import make_blobs

    from xnb import mulasso

    X, y = make_blobs(n_samples=240, centers=3, n_features=20, cluster_std=3.0, random_state=0)
    names = np.array(["iris", "rose", "tulip"])[y]  # any labels: classes_ in sorted order
    sel = mulasso.MuLasso(mu=2.0, tol=1e-5)
    assert not hasattr(sel, "coef_") and clone(sel).get_params() == sel.get_params()
    pipe = make_pipeline(StandardScaler(), sel).fit(X, names)
    assert list(pipe[-1].classes_) == ["iris", "rose", "tulip"] and set(pipe.predict(X)) <= set(names)
    acc = pipe.score(X, names)
    assert acc == pytest.approx(float((pipe.predict(X) == names).mean())) and acc > 0.9
    grid = GridSearchCV(mulasso.MuLasso(tol=1e-5), {"mu": [0.01, 2.0]}, cv=3).fit(X, y)
    assert grid.best_params_["mu"] == 2.0  # an L1 radius of 0.01 cannot separate the blobs
    assert grid.best_estimator_.n_selected_ <= 20


def test_sevec_is_a_base_estimator():
    from xnb import sevec

    sv = sevec.SeVec()
    assert not hasattr(sv, "vectors_") and clone(sv).get_params() == {}
    with pytest.raises(NotFittedError, match="not fitted"):
        sv.relevance_matrix()
    with pytest.raises(NotFittedError):
        check_is_fitted(sv)
    feats = torch.tensor([[1.0, 0.0, 2.0], [0.5, 0.0, 1.0], [0.0, 3.0, 0.0]])
    sv.fit(feats, [0, 0, 1], ["a", "b"])
    check_is_fitted(sv)
    assert sv.vectors_.shape == (2, 3)
