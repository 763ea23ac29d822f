"""µ-Lasso: relevant internal features, visual explanations and the stride fix (Oramas, Wang &
Tuytelaars, "Visual Explanation by Interpretation", ICLR 2019).

Training time (§3.1)
    :func:`channel_responses` turns each image into x ∈ ℝᵐ: per layer, each channel's L2 norm over H×W
    (each FC unit's absolute value), L1-normalised within the layer, concatenated over the layers
    (``norm="squared"``: the authors' release, squared norms).
    :class:`MuLasso` solves eq. (1), ``min_W ‖XW − L‖²_F  s.t. ‖w_j‖₁ ≤ µ`` for every class j, with a
    spectral projected gradient method (Barzilai–Borwein steps, projection onto the L1 ball,
    non-monotone line search), all classes at once, in torch. Non-zero entries of W are the relevant
    (layer, channel) pairs.
Test time (§3.2)
    :func:`explain`: predicted class ĵ, relevance r = x ⊙ w_ĵ, the top-k features' heatmaps (guided
    backprop seeded with the channel's activation map, §3.3 stride fix on), min–max normalised and
    combined by a pixel-wise max.
Stride fix (§3.3)
    ``xnb.attribute(..., fix_stride=True)`` (rules in :func:`xnb.rules.stride_fix_rules`):
    every strided conv/pool resizes its incoming signal (nearest neighbour) to the stride-1 output
    size A + 2·O − M + 1 (eq. 3 with S = 1) and back-projects with stride 1. :func:`grid_energy`
    measures the grid artifact.
Interpretation and evaluation (§4)
    :func:`average_patches` (Fig. 5), :func:`ablation_study` (Fig. 4; features ablated as distinct
    channels, :func:`channel_groups` / :func:`distinct_channels`), :func:`flower_benchmark` (Figs. 8–9:
    every method draws the same features, scored with the IoU protocols side by side —
    :func:`iou_area` (the paper's), :func:`iou_own_mean` (third parties'), :func:`best_threshold_iou`,
    :func:`pointing_to_mask`, :func:`iou_protocols` — plus the blur control :func:`blur_maps`),
    :class:`xnb.widgets.MuLassoExplorer` (the notebook's widget, in :mod:`xnb.widgets`).
Claims (:mod:`xnb.claims`)
    :data:`CLAIMS` (rules fixed before any run) and :func:`claims` (every claim of the notebook,
    re-measured over seeds on the shipped models), with the metrics they introduce:
    :func:`matched_random` (a random baseline in the same layers, same count) and :func:`gap_ratio`.
"""
from __future__ import annotations

import contextlib
from dataclasses import dataclass, field
from typing import NamedTuple, Sequence

import numpy as np
import torch
import torch.nn.functional as F
from sklearn.base import BaseEstimator, ClassifierMixin
from sklearn.exceptions import NotFittedError
from torch import nn

from ._check import check_choice, check_float, check_images, check_int, check_matrix, model_device, resolve_device
from ._moved import moved
from .layers import capture, get_layer, layers as _layers
from ._cache import LRUCache

__all__ = ["FeatureIndex", "feature_layers", "channel_responses", "MuLasso", "project_l1_ball", "relevance",
           "explain", "Explanation", "grid_energy", "stride_one_size", "receptive_field", "average_patches",
           "ablate", "ablation_study", "flower_benchmark", "matched_random", "gap_masks",
           "gap_ratio", "CLAIMS", "CLAIM_MU", "CLAIM_SIZES", "claims", "NORMS", "channel_groups",
           "distinct_channels", "iou_area", "iou_own_mean", "best_threshold_iou", "BestIoU", "pointing_to_mask",
           "IOU_PROTOCOLS", "iou_protocols", "blur_maps", "BLUR_CONTROL", "BENCH_METHODS"]

_SPATIAL_KINDS = ("conv", "relu", "pool", "norm")


# --------------------------------------------------------------------------- inputs


def _images_of(data, name: str = "data") -> torch.Tensor:
    if hasattr(data, "images"):
        data = data.images
    elif isinstance(data, (tuple, list)) and len(data) == 2 and isinstance(data[0], torch.Tensor):
        data = data[0]
    return check_images(data, name)


def _labels_of(data):
    if hasattr(data, "labels"):
        return data.labels
    if isinstance(data, (tuple, list)) and len(data) == 2:
        return data[1]
    raise TypeError("data: expected an xnb ImageSet or (images, labels) to score accuracy")


# --------------------------------------------------------------------------- features (§3.1)


@dataclass
class FeatureIndex:
    """Which (layer, channel) each column of X is: ``layers`` in forward order, ``sizes`` channels
    (or FC units) per layer, ``spatial`` whether the layer has an H×W map per channel, ``norm`` the
    per-channel norm the responses were computed with (:data:`NORMS`)."""

    layers: list
    sizes: list
    spatial: list
    norm: str = "l2"

    def __post_init__(self):
        self.offsets = np.concatenate([[0], np.cumsum(self.sizes)]).astype(int)

    def __len__(self) -> int:
        return int(self.offsets[-1])

    def __getitem__(self, j: int) -> tuple:
        j = int(j)
        if not 0 <= j < len(self):
            raise IndexError(f"feature {j} out of range (0..{len(self) - 1})")
        li = int(np.searchsorted(self.offsets, j, side="right") - 1)
        return self.layers[li], j - int(self.offsets[li])

    def position(self, layer: str, channel: int) -> int:
        """Column of (layer, channel)."""
        if layer not in self.layers:
            raise ValueError(f"layer: {layer!r} is not in this feature index; layers: {self.layers}")
        li = self.layers.index(layer)
        if not 0 <= int(channel) < self.sizes[li]:
            raise ValueError(f"channel: {channel} out of range for {layer!r} ({self.sizes[li]} channels)")
        return int(self.offsets[li]) + int(channel)

    def layer_slice(self, layer: str) -> slice:
        li = self.layers.index(layer)
        return slice(int(self.offsets[li]), int(self.offsets[li + 1]))

    def layer_of(self) -> np.ndarray:
        """Layer position of every column [m]."""
        return np.repeat(np.arange(len(self.layers)), self.sizes)

    def subset(self, layers: Sequence[str]) -> tuple["FeatureIndex", np.ndarray]:
        """The index restricted to ``layers`` and the columns of X they keep."""
        keep = [i for i, n in enumerate(self.layers) if n in set(layers)]
        cols = np.concatenate([np.arange(self.offsets[i], self.offsets[i + 1]) for i in keep]) if keep \
            else np.zeros(0, int)
        return FeatureIndex([self.layers[i] for i in keep], [self.sizes[i] for i in keep],
                            [self.spatial[i] for i in keep], self.norm), cols


def feature_layers(model: nn.Module, input_shape=None, only_conv: bool = False) -> list[str]:
    """Default feature layers: every leaf layer output (conv, ReLU, pool, norm, linear), in forward
    order, except the last classifier layer and what follows it. Dropout and flatten are left out: in
    eval mode they repeat the layer before. ``only_conv=True`` keeps the spatial layers before the first
    flatten/linear layer (the paper's *OnlyConv*)."""
    infos = _layers(model, input_shape)
    called = [i for i in infos if i.calls is None or i.calls > 0]
    lin = [k for k, i in enumerate(called) if i.kind == "linear"]
    if lin:
        called = called[:lin[-1]]  # drop the classifier layer (and anything after it)
    keep = [i for i in called if i.kind in _SPATIAL_KINDS + ("linear",)]
    if only_conv:
        first_flat = next((k for k, i in enumerate(called) if i.kind in ("linear", "flatten")), len(called))
        names = {i.name for i in called[:first_flat]}
        keep = [i for i in keep if i.name in names and (i.output_shape is None or len(i.output_shape) == 3)]
    return [i.name for i in keep]


#: the per-channel norms of :func:`channel_responses`: the paper's L2 norm, the release's squared norm
NORMS = ("l2", "squared")


class _StopForward(Exception):
    pass


def channel_responses(model: nn.Module, data, layers=None, batch_size: int = 128, device=None,
                      progress: bool | None = None, norm: str = "l2"):
    """Image-wise responses x_i (µ-Lasso §3.1): per layer, each channel's L2 norm over H×W (each FC
    unit's absolute value), L1-normalised within the layer, concatenated over ``layers``.

    ``norm="l2"`` (default) is the paper's text ("the L2 norm of each channel"); ``norm="squared"`` is
    the authors' release (MATLAB), which sums the squared responses without the square root (each FC
    unit's square). The two give different vectors after the L1 normalisation (squaring stretches the
    differences between channels), so µ-Lasso may select different features.

    Parameters
    ----------
    model : the network (unchanged: eval mode during the call, hooks removed).
    data : an ImageSet, images [N,C,H,W] or (images, labels); runs on the model's device in batches.
    layers : layer names (default :func:`feature_layers`: all but the last classifier layer).
    batch_size : images per forward pass; memory grows with N×m, never with activation maps (each
        batch's maps are reduced inside the forward hook).
    device : where the returned X lives (default CPU).
    norm : ``"l2"`` (the paper) or ``"squared"`` (the authors' release), see above.

    Returns
    -------
    (X [N, m] float32, :class:`FeatureIndex`)
    """
    from .attribution import _Guard

    if not isinstance(model, nn.Module):
        raise TypeError(f"model: expected a torch.nn.Module, got {type(model).__name__}")
    x = _images_of(data)
    batch_size = check_int(batch_size, "batch_size", minimum=1)
    norm = check_choice(norm, "norm", NORMS)
    squared = norm == "squared"
    out_device = resolve_device(device)
    infos = {i.name: i for i in _layers(model, tuple(x.shape[1:]))}
    if layers is None:
        layers = feature_layers(model, tuple(x.shape[1:]))
    else:
        layers = [layers] if isinstance(layers, str) else list(layers)
        if not layers:
            raise ValueError("layers: empty list")
        for n in layers:
            get_layer(model, n)  # unknown names list the valid ones
        unused = [n for n in layers if infos.get(n) is None or not infos[n].calls]
        if unused:
            raise ValueError(f"layers: {unused} are not called in the forward pass (or are blocks); "
                             f"valid layers: {', '.join(infos)}")
        order = list(infos)
        layers = sorted(dict.fromkeys(layers), key=order.index)
    shapes = [infos[n].output_shape for n in layers]
    index = FeatureIndex(list(layers), [int(s[0]) for s in shapes], [len(s) == 3 for s in shapes], norm)
    reused = any((infos[n].calls or 1) > 1 for n in layers)
    dev = model_device(model)
    modules = dict(model.named_modules())
    order_pos = {n: k for k, n in enumerate(layers)}
    if progress is None:
        progress = len(x) > 4 * batch_size
    rows = []
    with _Guard(model), torch.no_grad():
        got: dict[int, torch.Tensor] = {}
        handles = []

        def make_hook(k):
            def hook(mod, inp, out):
                o = out[0] if isinstance(out, (tuple, list)) else out
                o = o.detach().float()
                # vector_norm reads the map once (no squared copy): ~10x faster than pow + sum
                e = torch.linalg.vector_norm(o.flatten(2), dim=-1) if o.ndim > 2 else o.abs()
                if squared:
                    e = e.square()
                s = e.sum(1, keepdim=True)
                got[k] = torch.where(s > 0, e / s.clamp(min=1e-30), torch.zeros_like(e))
                if not reused and len(got) == len(layers):
                    raise _StopForward  # nothing after the last feature layer is needed
            return hook

        try:
            for n in layers:
                handles.append(modules[n].register_forward_hook(make_hook(order_pos[n])))
            it = range(0, len(x), batch_size)
            if progress:
                from tqdm.auto import tqdm
                it = tqdm(it, desc="channel responses")
            for i in it:
                got.clear()
                try:
                    model(x[i:i + batch_size].to(dev, non_blocking=True))
                except _StopForward:
                    pass
                rows.append(torch.cat([got[k] for k in range(len(layers))], 1).to(out_device))
        finally:
            for h in handles:
                h.remove()
    return torch.cat(rows), index


# --------------------------------------------------------------------------- the solver (eq. 1)


def project_l1_ball(V: torch.Tensor, mu) -> torch.Tensor:
    """Euclidean projection of every column of V [m, C] onto {w : ‖w‖₁ ≤ µ} (sort-based, Duchi et al.
    2008), batched over columns. ``mu`` is a number or one radius per column."""
    m, c = V.shape
    mu_t = torch.as_tensor(mu, dtype=V.dtype, device=V.device).expand(c)
    a = V.abs()
    inside = a.sum(0) <= mu_t
    u = a.sort(0, descending=True).values
    css = u.cumsum(0)
    j = torch.arange(1, m + 1, dtype=V.dtype, device=V.device).unsqueeze(1)
    cond = u - (css - mu_t) / j > 0
    rho = cond.to(V.dtype).mul(j).amax(0).clamp(min=1)  # largest j where the condition holds
    theta = (css.gather(0, (rho.long() - 1).unsqueeze(0)).squeeze(0) - mu_t) / rho
    out = V.sign() * (a - theta.clamp(min=0)).clamp(min=0)
    return torch.where(inside.unsqueeze(0), V, out)


def _one_hot(labels, n: int):
    if isinstance(labels, np.ndarray):
        labels = torch.from_numpy(labels)
    if not isinstance(labels, torch.Tensor):
        try:
            labels = torch.as_tensor(labels)
        except Exception:
            raise TypeError(f"labels: expected class indices [N] or a binary matrix [N, C], got "
                            f"{type(labels).__name__}") from None
    if labels.ndim == 1:
        if labels.is_floating_point():
            if not torch.isfinite(labels).all() or (labels != labels.round()).any():
                raise ValueError("labels: class indices must be whole numbers")
            labels = labels.long()
        if labels.dtype == torch.bool:
            raise TypeError("labels: expected integer class indices [N], got booleans")
        if len(labels) != n:
            raise ValueError(f"labels: {len(labels)} labels for {n} feature rows (X has {n} rows)")
        if (labels < 0).any():
            raise ValueError("labels: class indices must be >= 0")
        c = int(labels.max()) + 1
        L = torch.zeros(n, c, dtype=torch.float64)
        L[torch.arange(n), labels.cpu()] = 1.0
    elif labels.ndim == 2:
        if labels.shape[0] != n:
            raise ValueError(f"labels: {labels.shape[0]} label rows for {n} feature rows")
        L = labels.detach().cpu().double()
        if not ((L == 0) | (L == 1)).all():
            raise ValueError("labels: a label matrix must be binary (0/1)")
    else:
        raise ValueError(f"labels: expected [N] class indices or an [N, C] binary matrix, got shape "
                         f"{tuple(labels.shape)}")
    empty = torch.nonzero(L.sum(0) == 0).flatten().tolist()
    if empty:
        raise ValueError(f"labels: classes {empty} have no examples; every class 0..{L.shape[1] - 1} needs "
                         f"at least one (re-index the labels or add examples)")
    return L


class MuLasso(ClassifierMixin, BaseEstimator):
    """The µ-Lasso of eq. (1): ``W* = argmin_W ‖XW − L‖²_F  s.t. ‖w_j‖₁ ≤ µ  for every class j``.

    Solved with a spectral projected gradient method (Birgin, Martínez & Raydan; as in SPGL1):
    Barzilai–Borwein step lengths, projection onto the L1 ball, and a non-monotone (GLL) line search
    with safeguarded quadratic backtracking; all C classes are iterated together as the columns of W
    (two matrix products per iteration), in torch, on CPU or GPU. Each column stops when its duality
    gap ``wᵀg + µ‖g‖∞`` (g the gradient of ½‖Xw − l‖²) is at most ``tol × ½‖Xw − l‖²``.

    Parameters
    ----------
    mu : the L1 radius µ > 0 (the paper: 10; 5 on an8Flower).
    max_iter, tol : iteration cap and relative duality-gap tolerance.
    warm_start : start from the previous ``coef_`` — a µ slider re-solves in a few iterations. A column
        that was on the old ball (‖w‖₁ = µ_old) is *rescaled* onto the new one (w·µ/µ_old: same support
        and signs, on the new face), not projected: projecting a point from inside a larger ball is a
        no-op, and SPG's first step from there turned the iterate dense. The first iterations of a warm
        start run the support polish every iteration (a cold start: every 10th).
    ridge : λ ≥ 0 of an optional term ``λ‖w_j‖²`` added to eq. (1) (not in the paper; default 0 = eq. 1).
        With fewer images than features (N < m) a class that can be interpolated has a whole face of
        minimisers, and which features are "selected" depends on the start. Any λ > 0 makes the problem
        strictly convex, so the selected set is unique; a tiny λ (the explorer: 1e-6 × ‖X‖²₂) changes
        the objective by at most λµ² per class. ``objective_`` reports eq. (1)'s data term only.
    device : where the iterations run (default CPU); ``dtype`` ``"float64"`` by default (or ``"float32"``,
        or a torch dtype).
    memory : length of the non-monotone line search's history.

    A scikit-learn classifier (``predict`` = the class of the largest ``X W`` column, ``score`` its
    accuracy), so it runs in ``Pipeline`` and ``GridSearchCV`` (e.g. over ``mu``). Labels are class indices
    0..C−1 (column j of W is class j), any other labels (strings) mapped to columns in sorted order
    (``classes_``), or a binary matrix [N, C] (multi-label; ``predict`` then gives column indices).

    Attributes
    ----------
    classes_ : the label of each column of W; coef_ : numpy [m, C]; ``n_selected_`` features non-zero for some class; ``n_selected_per_class_``;
    ``selected_`` bool [m]; ``objective_`` [C] (‖Xw_j − l_j‖²); ``gap_`` [C]; ``n_iter_``; ``converged_``
    (False: ``fit`` stopped at ``max_iter`` and emitted a :class:`sklearn.exceptions.ConvergenceWarning`
    naming max_iter and the final gap); ``feature_index_`` (when ``fit`` got one).
    """

    def __init__(self, mu: float = 10.0, max_iter: int = 2000, tol: float = 1e-6, warm_start: bool = False,
                 device=None, dtype="float64", memory: int = 10, ridge: float = 0.0):
        self.mu = mu
        self.max_iter = max_iter
        self.tol = tol
        self.warm_start = warm_start
        self.device = device
        self.dtype = dtype
        self.memory = memory
        self.ridge = ridge

    def _torch_dtype(self) -> torch.dtype:
        dt = self.dtype
        if isinstance(dt, torch.dtype) and dt.is_floating_point:
            return dt
        if dt in ("float64", "float32"):
            return getattr(torch, dt)
        raise ValueError(f"dtype: expected 'float64', 'float32' or a torch floating dtype, got {dt!r}")

    def _check_X(self, X, name="X") -> torch.Tensor:
        return check_matrix(X, name, keep_dtype=True)

    def fit(self, X, y, feature_index: FeatureIndex | None = None) -> "MuLasso":
        """Solve eq. (1) for X [N, m] and the labels ``y`` (the paper's L: class indices [N], other labels
        mapped to sorted columns, or a binary matrix [N, C])."""
        labels = y
        mu = check_float(self.mu, "mu", low=0.0, low_open=True)
        max_iter = check_int(self.max_iter, "max_iter", minimum=1)
        tol = check_float(self.tol, "tol", low=0.0, low_open=True)
        memory = check_int(self.memory, "memory", minimum=1)
        ridge = check_float(self.ridge, "ridge", low=0.0)
        X = self._check_X(X)
        n, m = X.shape
        if feature_index is not None and len(feature_index) != m:
            raise ValueError(f"feature_index: describes {len(feature_index)} features but X has {m} columns")
        if labels is None:
            raise ValueError("labels: this estimator requires y to be passed, but the target y is None")
        classes = None
        if not isinstance(labels, torch.Tensor):
            arr = np.asarray(labels)
            labels = arr
            if arr.ndim == 2 and arr.shape[1] == 1:
                import warnings

                from sklearn.exceptions import DataConversionWarning
                warnings.warn("A column-vector y was passed when a 1d array was expected (labels [N, 1] are "
                              "flattened to [N])", DataConversionWarning, stacklevel=2)
                arr = arr[:, 0]
                labels = arr
            # numpy / list labels follow scikit-learn: any labels, columns in sorted order (classes_);
            # tensors (xnb's ImageSet labels) are class indices 0..C-1, a class without examples an error
            if arr.ndim == 1 and not (arr.dtype.kind in "biu" and arr.size and arr.min() >= 0 and
                                      np.array_equal(np.unique(arr), np.arange(arr.max() + 1))):
                if arr.dtype.kind == "f" and not np.isfinite(arr).all():
                    raise ValueError("labels: contain NaN or inf")
                from sklearn.utils.multiclass import type_of_target

                if arr.dtype.kind == "f" and type_of_target(arr) == "continuous":
                    raise ValueError("labels: Unknown label type: continuous values; µ-Lasso needs classes")
                classes, labels = np.unique(arr, return_inverse=True)
        L = _one_hot(labels, n)
        dev = resolve_device(self.device)
        dtype = self._torch_dtype()
        Xd = X.to(dev, dtype)
        Ld = L.to(dev, dtype)
        c = Ld.shape[1]
        W0 = getattr(self, "coef_", None)
        warm = bool(self.warm_start and W0 is not None and W0.shape == (m, c))
        if warm:
            W = _rescale_warm_start(torch.as_tensor(W0, dtype=dtype, device=dev),
                                    float(getattr(self, "mu_fitted_", mu)), mu)
        else:
            W = torch.zeros(m, c, dtype=dtype, device=dev)
        lip = _lipschitz(Xd)
        with _single_thread(dev.type == "cpu" and Xd.numel() <= 20_000_000):
            W, info = _spg(Xd, Ld, W, mu, max_iter, tol, memory, lip=lip, ridge=ridge,
                           polish_first=10 if warm else 0)
        self.mu_fitted_ = mu
        self.coef_ = W.cpu().numpy()
        self.objective_ = info["objective"]
        self.gap_ = info["gap"]
        self.n_iter_ = info["n_iter"]
        self.converged_ = info["converged"]
        if not self.converged_:
            import warnings

            from sklearn.exceptions import ConvergenceWarning

            worst = int(np.argmax(info["gap"]))
            warnings.warn(f"MuLasso: stopped at max_iter={max_iter} before the duality gap reached tol={tol:g} "
                          f"(final gap {float(info['gap'][worst]):.3g} for class {worst}, objective "
                          f"{float(info['objective'][worst]):.3g}); raise max_iter or tol",
                          ConvergenceWarning, stacklevel=2)
        self.n_classes_ = c
        self.classes_ = np.asarray(classes) if classes is not None else np.arange(c)
        self.n_features_in_ = m
        nz = self.coef_ != 0
        self.selected_ = nz.any(1)
        self.n_selected_ = int(self.selected_.sum())
        self.n_selected_per_class_ = nz.sum(0)
        if feature_index is not None:
            self.feature_index_ = feature_index
        return self

    def _fitted(self):
        # NotFittedError is a ValueError and an AttributeError (hasattr(MuLasso(), "coef_") is False)
        if not hasattr(self, "coef_"):
            raise NotFittedError("This MuLasso instance is not fitted yet; call fit(X, labels) first")

    def decision_function(self, X) -> np.ndarray:
        """X W [N, C]."""
        self._fitted()
        X = self._check_X(X)
        if X.shape[1] != self.n_features_in_:
            raise ValueError(f"X: X has {X.shape[1]} features, but MuLasso is expecting {self.n_features_in_} "
                             f"features as input")
        return X.double().cpu().numpy() @ self.coef_

    def predict(self, X) -> np.ndarray:
        """The label (``classes_``) of the largest column of X W for each row."""
        scores = self.decision_function(X)  # checks fitted first
        return self.classes_[scores.argmax(1)]

    def selected_per_layer(self, class_=None) -> dict:
        """Number of selected features per layer (for one class or any class)."""
        self._fitted()
        idx = self._index()
        nz = self.selected_ if class_ is None else self.coef_[:, self._class(class_)] != 0
        return {name: int(nz[idx.layer_slice(name)].sum()) for name in idx.layers}

    def _index(self) -> FeatureIndex:
        idx = getattr(self, "feature_index_", None)
        if idx is None:
            raise ValueError("MuLasso: fit(X, labels, feature_index=...) with the FeatureIndex from "
                             "channel_responses to name the features")
        return idx

    def _class(self, class_) -> int:
        return check_int(class_, "class_", minimum=0, maximum=self.n_classes_ - 1)

    def relevant_features(self, class_: int) -> list[tuple[str, int, float]]:
        """(layer, channel, weight) of the features with a non-zero weight for ``class_``, sorted by
        weight, largest first (negative weights — evidence against the class — come last)."""
        self._fitted()
        j = self._class(class_)
        idx = self._index()
        w = self.coef_[:, j]
        cols = np.flatnonzero(w)
        cols = cols[np.argsort(-w[cols], kind="stable")]
        return [(*idx[k], float(w[k])) for k in cols]


@contextlib.contextmanager
def _single_thread(on: bool):
    """One intra-op thread for the solver's small, skinny products: they gain nothing from threads,
    and on a shared CPU a multi-threaded product per iteration is tens of times slower (threads wait
    for each other). Restored afterwards."""
    if not on:
        yield
        return
    n = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(n)


# ‖X‖²₂ per feature matrix: a full SVD costs ~100 ms on the flower features, and a µ slider re-solves
# the same X again and again. Keyed by the bytes' digest (exact; ~5 ms for 600×1040 float64), so an
# in-place edit of X is a new key. ``misses`` counts the SVDs actually computed.
_LIPSCHITZ_CACHE = LRUCache(maxsize=8)


def _lipschitz(X: torch.Tensor) -> float:
    """‖X‖²₂, the Lipschitz constant of the gradient of ½‖Xw − l‖² (cached per X)."""
    import hashlib

    a = np.ascontiguousarray(X.detach().cpu().numpy())
    key = (hashlib.blake2b(a.tobytes(), digest_size=16).hexdigest(), tuple(X.shape), str(X.dtype))
    return _LIPSCHITZ_CACHE.get_or_compute(key, lambda: float(torch.linalg.matrix_norm(X, ord=2) ** 2))



def _rescale_warm_start(W0: torch.Tensor, mu_old: float, mu: float) -> torch.Tensor:
    """Warm start for a new radius µ: a column on the old ball (‖w‖₁ = µ_old, the constraint active) is
    scaled by µ/µ_old onto the new ball (same support and signs); a column inside both balls (the
    unconstrained optimum already) is kept; anything still outside the new ball is projected."""
    n1 = W0.abs().sum(0)
    on_old = n1 >= mu_old * (1 - 1e-6)
    W = torch.where(on_old.unsqueeze(0), W0 * (mu / n1.clamp(min=1e-300)).unsqueeze(0), W0)
    return project_l1_ball(W, mu)


def _spg(X, L, W, mu, max_iter, tol, memory, gamma=1e-4, a_min=1e-10, a_max=1e10, polish_every=10,
         lip=None, ridge=0.0, polish_first=0):
    """Spectral projected gradient for the C column problems min ½‖Xw_j − l_j‖² + ½λ‖w_j‖² s.t.
    ‖w_j‖₁ ≤ µ (½ of eq. (1)'s objective, λ = ``ridge``: the same minimiser). ``polish_first``: run the
    support polish in each of the first iterations (a warm start is already on the right face)."""
    c = L.shape[1]
    W = W.clone()
    R = X @ W - L
    f = 0.5 * (R * R).sum(0) + 0.5 * ridge * (W * W).sum(0)
    G = X.T @ R + ridge * W
    # first step: 1 / ‖X‖²₂ (Lipschitz constant of the gradient), then Barzilai–Borwein
    lip = (_lipschitz(X) if lip is None else lip) + ridge
    alpha = torch.full((c,), float(1.0 / max(float(lip), 1e-30)), dtype=X.dtype, device=X.device)
    hist = f.unsqueeze(0).repeat(memory, 1)
    active = torch.ones(c, dtype=torch.bool, device=X.device)
    gap = torch.zeros_like(f)
    scale = 0.5 * (L * L).sum(0)
    it = 0
    for it in range(1, max_iter + 1):
        gap = (W * G).sum(0) + mu * G.abs().amax(0)
        thr = tol * torch.maximum(f, 1e-2 * scale)
        active = (gap > thr) & (f > thr)  # f ≤ thr: within thr of the optimum (≥ 0) anyway
        if not bool(active.any()):
            it -= 1
            break
        a = torch.nonzero(active).flatten()  # converged columns cost nothing more
        Wa, Ga, fa, al = W[:, a], G[:, a], f[a], alpha[a]
        D = project_l1_ball(Wa - al * Ga, mu) - Wa
        XD = X @ D
        gtd = (Ga * D).sum(0)
        dd = (XD * XD).sum(0) + ridge * (D * D).sum(0)
        fmax = hist[:, a].max(0).values
        lam = torch.ones_like(fa)
        for _ in range(30):  # non-monotone (GLL) backtracking; f is quadratic, so f(w + λd) is free
            fnew = fa + lam * gtd + 0.5 * lam * lam * dd
            ok = fnew <= fmax + gamma * lam * gtd
            if bool(ok.all()):
                break
            curv = fnew - fa - lam * gtd
            lt = torch.where(curv > 0, -gtd * lam * lam / (2 * curv.clamp(min=1e-300)), 0.5 * lam)
            lt = torch.where((lt >= 0.1 * lam) & (lt <= 0.9 * lam), lt, 0.5 * lam)  # safeguarded
            lam = torch.where(ok, lam, lt)
        Wn = Wa + lam * D
        W[:, a] = Wn
        Ra = R[:, a] + lam * XD
        R[:, a] = Ra
        f[a] = 0.5 * (Ra * Ra).sum(0) + 0.5 * ridge * (Wn * Wn).sum(0)
        G[:, a] = X.T @ Ra + ridge * Wn
        sts = lam * lam * (D * D).sum(0)
        sty = lam * lam * dd  # sᵀy = sᵀXᵀXs for this quadratic
        alpha[a] = torch.where(sty > 0, sts / sty.clamp(min=1e-300),
                               torch.full_like(sts, a_max)).clamp(a_min, a_max)  # Barzilai–Borwein
        hist = torch.cat([hist[1:], f.unsqueeze(0)])
        if it % polish_every == 1 or polish_every == 1 or it <= polish_first:
            # subspace step: on each column's current face (support S, signs s) solve the least squares
            # exactly; a feasible point with a lower objective replaces the iterate. SPG finds the face
            # quickly but converges slowly inside it when X is ill-conditioned, as channel responses
            # are (conv/ReLU/pool near-duplicates, each layer's block summing to 1).
            Wp = _polish(X, L[:, a], W[:, a], mu, f[a], ridge=ridge)
            W[:, a] = Wp
            Ra = X @ Wp - L[:, a]  # also limits round-off drift in the running residual
            R[:, a] = Ra
            f[a] = 0.5 * (Ra * Ra).sum(0) + 0.5 * ridge * (Wp * Wp).sum(0)
            G[:, a] = X.T @ Ra + ridge * Wp
            hist[-1] = torch.minimum(hist[-1], f)
    gap = (W * G).sum(0) + mu * G.abs().amax(0)
    thr = tol * torch.maximum(f, 1e-2 * scale)
    conv = (gap <= thr) | (f <= thr)
    data_f = 0.5 * (R * R).sum(0)
    return W, {"objective": (2 * data_f).cpu().numpy(), "gap": (2 * gap).cpu().numpy(), "n_iter": it,
               "converged": bool(conv.all())}


def _face_solution(Q, b, s, mu, on_ball):
    """Minimiser of ½wᵀQw − bᵀw on the face {sᵀw = µ} (``on_ball``) or unconstrained, via the KKT system."""
    n = len(b)
    eye = torch.eye(n, dtype=Q.dtype, device=Q.device)
    Qr = Q + (1e-12 * float(Q.diagonal().mean()) + 1e-300) * eye
    if not on_ball:
        return torch.linalg.solve(Qr, b)
    K = torch.zeros(n + 1, n + 1, dtype=Q.dtype, device=Q.device)
    K[:-1, :-1] = Qr
    K[:-1, -1] = s
    K[-1, :-1] = s
    rhs = torch.cat([b, b.new_tensor([mu])])
    return torch.linalg.solve(K, rhs)[:-1]


def _face_descent(Q, b, cur, mu, on_ball, aggressive: bool, max_rounds: int):
    """Move ``cur`` towards the exact minimiser of its face; a coordinate whose sign would change is
    dropped: either all such coordinates at once (``aggressive``, fast, no guarantee) or only the first
    reached along the segment (Lawson–Hanson: feasible and never increases the objective)."""
    cur = cur.clone()
    keep = torch.ones(len(cur), dtype=torch.bool, device=cur.device)
    for _ in range(max_rounds):
        k = torch.nonzero(keep).flatten()
        if len(k) == 0:
            break
        s = cur[k].sign()
        try:
            target = _face_solution(Q[k][:, k], b[k], s, mu, on_ball)
        except RuntimeError:  # singular face
            return None
        if not bool(torch.isfinite(target).all()):
            return None
        flip = target * s <= 0
        if not bool(flip.any()):
            cur[k] = target
            return cur
        if aggressive:
            cur[k[flip]] = 0
            keep[k[flip]] = False
            cur[k[~flip]] = target[~flip]
            continue
        c0 = cur[k]
        t = torch.where(flip, c0 / (c0 - target), torch.full_like(c0, 2.0))
        tm = float(t.min().clamp(0, 1))
        new = c0 + tm * (target - c0)
        hit = flip & (t <= tm + 1e-12)
        new[hit] = 0
        cur[k] = new
        keep[k[hit]] = False
    return cur


def _polish(X, L, W, mu, f, max_rounds: int = 40, max_support: int = 250, ridge: float = 0.0):
    """Active-set subspace step, per column: on the face of the current iterate (support S, signs s, and
    sᵀw = µ when the constraint is active) solve the least squares exactly, dropping coordinates that
    would change sign (see :func:`_face_descent`). The result replaces the iterate only if it is feasible
    with a lower objective, so SPG's convergence is untouched; SPG then adds missing coordinates."""
    W = W.clone()
    for j in range(W.shape[1]):
        w = W[:, j]
        S = torch.nonzero(w).flatten()
        if len(S) == 0 or len(S) > min(X.shape[0], max_support):
            continue  # no face worth solving yet (or too costly to): let SPG shrink the support
        on_ball = float(w.abs().sum()) >= mu * (1 - 1e-9)
        XS = X[:, S]
        Q = XS.T @ XS
        if ridge:
            Q = Q + ridge * torch.eye(len(S), dtype=Q.dtype, device=Q.device)
        b = XS.T @ L[:, j]
        best, best_f = None, float(f[j])
        for aggressive in (True, False):
            cur = _face_descent(Q, b, w[S], mu, on_ball, aggressive, max_rounds)
            if cur is None:
                continue
            if float(cur.abs().sum()) > mu * (1 + 1e-9):
                continue
            r = XS @ cur - L[:, j]
            fc = float(0.5 * (r * r).sum() + 0.5 * ridge * (cur * cur).sum())
            if fc <= best_f:
                best, best_f = cur, fc
                break
        if best is not None:
            W[:, j] = 0
            W[S, j] = best
    return W


# --------------------------------------------------------------------------- explanations (§3.2)


def relevance(x, w, mode: str = "paper") -> torch.Tensor:
    """Relevance of each feature for a class (§3.2): ``"paper"``: r = x ⊙ w;  ``"release"`` (the
    authors' MATLAB code): x is L2-normalised first and r = x̂ ⊙ w / Σw. Both rank features the same
    way when Σw > 0; only positive entries count as support."""
    check_choice(mode, "relevance", ("paper", "release"))
    x = torch.as_tensor(x, dtype=torch.float64)
    w = torch.as_tensor(w, dtype=torch.float64)
    if mode == "paper":
        return x * w
    xn = x / x.norm(dim=-1, keepdim=True).clamp(min=1e-30)
    s = w.sum()
    return xn * w / (s if abs(float(s)) > 1e-30 else 1.0)


@dataclass
class Explanation:
    """Result of :func:`explain` for N images.

    ``predicted`` [N] class ĵ; ``heatmap`` [N,H,W] the combined map (pixel-wise max of the min–max
    normalised feature maps); ``maps`` [N,k,H,W] the per-feature maps (zeros where fewer than k
    features have positive relevance); ``features`` per image the list of (layer, channel, relevance).
    """

    predicted: torch.Tensor
    heatmap: torch.Tensor
    maps: torch.Tensor
    features: list = field(default_factory=list)
    method: str = "guided_backprop"
    fix_stride: bool = True

    @property
    def layers(self) -> list:
        return [[f[0] for f in fs] for fs in self.features]


def _minmax_maps(h: torch.Tensor) -> torch.Tensor:
    flat = h.flatten(-2)
    lo = flat.amin(-1, keepdim=True).unsqueeze(-1)
    span = (flat.amax(-1, keepdim=True).unsqueeze(-1) - lo)
    return torch.where(span > 0, (h - lo) / span.clamp(min=1e-30), torch.zeros_like(h))


def _feature_maps(model, x, pairs, method, fix_stride, size):
    """Heatmap [H,W] for each (image row, layer, channel) in ``pairs``; grouped so that one attribute
    call serves every image that needs the same (layer, channel)."""
    from .attribution import attribute

    out = {}
    groups: dict[tuple, list[int]] = {}
    for i, layer, ch in pairs:
        groups.setdefault((layer, ch), []).append(i)
    if method == "activation":
        by_layer: dict[str, list] = {}
        for (layer, ch), rows in groups.items():
            by_layer.setdefault(layer, []).append((ch, rows))
        with torch.no_grad(), capture(model, list(by_layer), detach=True) as cap:
            model(x.to(model_device(model)))
        for layer, items in by_layer.items():
            a = cap[layer]
            for ch, rows in items:
                m = a[rows, ch].unsqueeze(1).float()
                m = F.interpolate(m, size=size, mode="bilinear", align_corners=False)[:, 0].cpu()
                for r, mm in zip(rows, m):
                    out[(r, layer, ch)] = mm
        return out
    # one call per layer: the images that need it × the union of its channels, as one forward pass and
    # one vmapped backward pass (xnb.attribute with a channel list); per (layer, channel) if that is big
    by_layer: dict[str, dict] = {}
    for (layer, ch), rows in groups.items():
        by_layer.setdefault(layer, {})[ch] = rows
    # batch_size caps maps per backward pass: memory stays flat however many test images (Binder: 2 GB)
    kw = dict(channel_score="energy", reduce="pos_l2", fix_stride=fix_stride, batch_size=128)
    for layer, chans in by_layer.items():
        rows = sorted({r for rs in chans.values() for r in rs})
        cl = sorted(chans)
        if len(cl) > 1 and len(rows) * len(cl) <= 4 * max(len(rows), 64):
            h = attribute(model, x[rows], method, layer=layer, channel=[int(c) for c in cl], **kw)
            h = h.detach().float().cpu()
            for ci, ch in enumerate(cl):
                for r in chans[ch]:
                    out[(r, layer, ch)] = h[rows.index(r), ci]
            continue
        for ch, rs in chans.items():
            h = attribute(model, x[rs], method, layer=layer, channel=int(ch), **kw).detach().float().cpu()
            for r, hh in zip(rs, h):
                out[(r, layer, ch)] = hh
    return out


def explain(model: nn.Module, x, selector: MuLasso, top_k: int = 3, method: str = "guided_backprop",
            fix_stride: bool = True, layers=None, target=None, relevance_mode: str = "paper",
            responses=None) -> Explanation:
    """Visual explanation of the prediction (µ-Lasso §3.2, Fig. 6).

    For each image: ĵ = argmax F(I) (or ``target``); r = x ⊙ w_ĵ over the selector's features
    (:func:`relevance`); the ``top_k`` features with the largest positive r; each drawn with
    ``method`` from the channel's whole activation map (``"guided_backprop"`` = the paper's
    Deconv+GB; ``"deconvnet"``; or ``"activation"`` = the channel's activation map upsampled
    bilinearly, which exists only for spatial layers, so FC features are skipped for it — to compare
    methods on the same features pass ``layers`` with spatial layers only, as :func:`flower_benchmark`
    does), with the stride fix when ``fix_stride``; each map min–max normalised; combined by a pixel-wise
    max. ``target`` must be given when the model can predict a class the selector was not fitted on
    (a ValueError says so).

    ``layers`` restricts the candidate features to some layers. ``responses`` may pass x's
    precomputed features [N, m] (from :func:`channel_responses` with the selector's index).
    """
    if not isinstance(model, nn.Module):
        raise TypeError(f"model: expected a torch.nn.Module, got {type(model).__name__}")
    if not isinstance(selector, MuLasso):
        raise TypeError(f"selector: expected a fitted MuLasso, got {type(selector).__name__}")
    selector._fitted()
    idx = selector._index()
    x = check_images(x, "x")
    top_k = check_int(top_k, "top_k", minimum=1)
    check_choice(method, "method", ("guided_backprop", "deconvnet", "activation"))
    check_choice(relevance_mode, "relevance_mode", ("paper", "release"))
    if method == "activation":
        fix_stride = False
    cand = np.ones(len(idx), bool)
    if layers is not None:
        layers = [layers] if isinstance(layers, str) else list(layers)
        bad = [l for l in layers if l not in idx.layers]
        if bad:
            raise ValueError(f"layers: {bad} are not feature layers; valid: {idx.layers}")
        cand &= np.isin(idx.layer_of(), [idx.layers.index(l) for l in layers])
    if method == "activation":
        cand &= np.repeat(np.asarray(idx.spatial, bool), idx.sizes)
    if responses is None:
        responses, _ = channel_responses(model, x, idx.layers, norm=idx.norm)
    elif tuple(responses.shape) != (len(x), len(idx)):
        raise ValueError(f"responses: expected shape {(len(x), len(idx))}, got {tuple(responses.shape)}")
    with torch.no_grad():
        pred = model(x.to(model_device(model))).argmax(1).cpu()
    if target is not None:
        t = torch.as_tensor(target).reshape(-1).long()
        pred = t.expand(len(x)).clone() if t.numel() == 1 else t
        if len(pred) != len(x) or (pred < 0).any() or (pred >= selector.n_classes_).any():
            raise ValueError(f"target: expected one class or {len(x)} classes in 0..{selector.n_classes_ - 1}")
    elif (pred >= selector.n_classes_).any():
        i = int(torch.nonzero(pred >= selector.n_classes_)[0])
        raise ValueError(f"target: the model predicts class {int(pred[i])} for image {i}, but the selector was "
                         f"fitted on {selector.n_classes_} classes (0..{selector.n_classes_ - 1}); pass target= "
                         f"with classes the selector knows, or fit it on labels of every class of the model")
    W = torch.from_numpy(selector.coef_)
    feats, pairs = [], []
    for i in range(len(x)):
        r = relevance(responses[i].cpu(), W[:, int(pred[i])], relevance_mode).numpy()
        r = np.where(cand & (r > 0), r, 0.0)
        order = np.argsort(-r, kind="stable")[:top_k]
        fs = [(*idx[j], float(r[j])) for j in order if r[j] > 0]
        feats.append(fs)
        pairs += [(i, l, c) for l, c, _ in fs]
    size = tuple(x.shape[-2:])
    got = _feature_maps(model, x, pairs, method, fix_stride, size)
    maps = torch.zeros(len(x), top_k, *size)
    for i, fs in enumerate(feats):
        for k, (l, c, _) in enumerate(fs):
            maps[i, k] = got[(i, l, c)]
    maps = _minmax_maps(maps)
    return Explanation(pred, maps.amax(1), maps, feats, method, bool(fix_stride))


# --------------------------------------------------------------------------- grid artifact (§3.3)


def grid_energy(heatmaps, period: int = 2) -> torch.Tensor:
    """Share of a heatmap's spectral power (mean removed) at the frequencies of a grid with the given
    ``period`` in pixels: 2-D DFT bins (u, v) ≠ (0, 0) with u a multiple of H/period and v a multiple of
    W/period. A stride-s deconvnet grid puts its power there; smooth maps have little. Returns [N]."""
    h = torch.as_tensor(heatmaps).detach().float().cpu()
    if h.ndim == 2:
        h = h.unsqueeze(0)
    if h.ndim != 3:
        raise ValueError(f"heatmaps: expected [N,H,W], got shape {tuple(h.shape)}")
    period = check_int(period, "period", minimum=2)
    H, W = h.shape[-2:]
    if H % period or W % period:
        raise ValueError(f"period: {period} must divide the map size {H}×{W}")
    if len(h) == 0:
        return torch.zeros(0)  # (MKL's FFT fails on an empty batch)
    h = h - h.mean((-2, -1), keepdim=True)
    p = torch.fft.fft2(h).abs().pow(2)
    u = torch.arange(H) % (H // period) == 0
    v = torch.arange(W) % (W // period) == 0
    mask = u[:, None] & v[None, :]
    mask[0, 0] = False
    tot = p.flatten(1).sum(1)
    return torch.where(tot > 0, p[:, mask].sum(1) / tot.clamp(min=1e-30), torch.zeros_like(tot))


def stride_one_size(model: nn.Module, layer: str, input_shape=None) -> tuple:
    """Eq. (3) with S = 1 for a conv/pool ``layer``: the size A + 2·O − M + 1 (per axis) that the stride
    fix resizes the backward signal to, with A the layer's own input size."""
    from .rules import _pair, _stride_one_size

    name, module = get_layer(model, layer)
    if not isinstance(module, (nn.Conv2d, nn.MaxPool2d, nn.AvgPool2d)):
        raise ValueError(f"layer: {name!r} is a {type(module).__name__}; expected a 2-D conv or pool layer")
    if input_shape is None:
        cfg = getattr(model, "config", None)
        if cfg is None:
            raise ValueError("input_shape: needed for models without a config, e.g. (3, 224, 224)")
        input_shape = (cfg.in_channels, cfg.input_size, cfg.input_size)
    seen = {}
    def pre(mod, inp):
        seen.setdefault("a", tuple(inp[0].shape[-2:]))  # returns None: the input is not replaced

    h = module.register_forward_pre_hook(pre)
    try:
        p0 = next(model.parameters())
        with torch.no_grad():
            was = model.training
            model.eval()
            try:
                model(torch.zeros(1, *input_shape, dtype=p0.dtype, device=p0.device))
            finally:
                model.train(was)
    finally:
        h.remove()
    pad = (0, 0) if isinstance(getattr(module, "padding", 0), str) else module.padding
    d = getattr(module, "dilation", 1) if not isinstance(module, nn.AvgPool2d) else 1
    return _stride_one_size(seen["a"], _pair(module.kernel_size), _pair(pad), _pair(d))


# --------------------------------------------------------------------------- interpretation (Fig. 5)


def receptive_field(model: nn.Module, layer: str) -> tuple[int, int, float] | None:
    """(size, jump, start) of a unit of ``layer`` in input pixels, for a chain of layers in forward
    (definition) order: unit (h, w) sees the square of side ``size`` centred at
    (start + h·jump, start + w·jump). None after a flatten/linear/adaptive layer (whole image)."""
    name, _ = get_layer(model, layer)
    size, jump, start = 1, 1, 0.5
    for n, m in model.named_modules():
        if any(True for _ in m.children()) or not n:
            continue
        if isinstance(m, (nn.Linear, nn.Flatten, nn.modules.pooling._AdaptiveAvgPoolNd,
                          nn.modules.pooling._AdaptiveMaxPoolNd)):
            return None
        if isinstance(m, (nn.Conv2d, nn.MaxPool2d, nn.AvgPool2d)):
            k = _first(m.kernel_size)
            s = _first(m.stride if m.stride is not None else m.kernel_size)
            p = 0 if isinstance(getattr(m, "padding", 0), str) else _first(m.padding)
            d = _first(getattr(m, "dilation", 1)) if not isinstance(m, nn.AvgPool2d) else 1
            k = d * (k - 1) + 1
            size += (k - 1) * jump
            start += ((k - 1) / 2 - p) * jump
            jump *= s
        if n == name:
            return int(size), int(jump), float(start)
    raise ValueError(f"layer: {name!r} was not found among the model's leaf layers")


def _first(v):
    return int(v[0]) if isinstance(v, (tuple, list)) else int(v)


def average_patches(model: nn.Module, data, feature: tuple, top: int = 100, batch_size: int = 128):
    """Average image of a feature (µ-Lasso Fig. 5): the ``top`` images with the strongest response of
    ``feature = (layer, channel)`` (its squared L2 norm); from each, the input crop of the receptive
    field centred at the channel's maximum; crops are zero-padded at the border and averaged.
    FC features (no spatial map) average the whole images. Returns (mean crop [C,S,S], image indices)."""
    if not isinstance(model, nn.Module):
        raise TypeError(f"model: expected a torch.nn.Module, got {type(model).__name__}")
    x = _images_of(data)
    if not (isinstance(feature, (tuple, list)) and len(feature) == 2):
        raise TypeError(f"feature: expected (layer, channel), got {feature!r}")
    layer, ch = feature
    name, _ = get_layer(model, layer)
    top = check_int(top, "top", minimum=1)
    ch = check_int(ch, "channel", minimum=0)
    energy, argmax = [], []
    dev = model_device(model)
    from .attribution import _Guard

    with _Guard(model), torch.no_grad():
        for i in range(0, len(x), batch_size):
            with capture(model, name, detach=True) as cap:
                model(x[i:i + batch_size].to(dev))
            a = cap[name]
            if ch >= a.shape[1]:
                raise ValueError(f"channel: {ch} out of range; {name!r} has {a.shape[1]} channels")
            a = a[:, ch].float()
            if a.ndim == 1:
                energy.append(a.pow(2).cpu())
                argmax.append(torch.full((len(a),), -1))
            else:
                flat = a.flatten(1)
                energy.append(flat.pow(2).sum(1).cpu())
                argmax.append(flat.argmax(1).cpu())
                width = a.shape[-1]
    energy, argmax = torch.cat(energy), torch.cat(argmax)
    order = torch.argsort(energy, descending=True)[:top]
    rf = receptive_field(model, name) if argmax[0] >= 0 else None
    if rf is None:
        return x[order].mean(0), order
    size, jump, start = rf
    H, W = x.shape[-2:]
    pad = size
    xp = F.pad(x[order], (pad, pad, pad, pad))
    crops = []
    for r, i in enumerate(order.tolist()):
        h, w = divmod(int(argmax[i]), width)
        cy, cx = start + h * jump, start + w * jump
        y0, x0 = int(round(cy - size / 2)) + pad, int(round(cx - size / 2)) + pad
        crops.append(xp[r, :, y0:y0 + size, x0:x0 + size])
    return torch.stack(crops).mean(0), order


# --------------------------------------------------------------------------- ablation (Fig. 4)


def ablate(model: nn.Module, data, features, batch_size: int = 256) -> float:
    """Accuracy of ``model`` on ``data`` with the channels ``features`` [(layer, channel), ...] set to
    zero at their layers' outputs (forward hooks, removed afterwards)."""
    x = _images_of(data)
    y = torch.as_tensor(_labels_of(data)).long()
    by_layer: dict[str, list[int]] = {}
    for layer, ch in features:
        by_layer.setdefault(get_layer(model, layer)[0], []).append(int(ch))
    mods = dict(model.named_modules())
    handles = []
    from .attribution import _Guard

    def zero(chans):
        idx = torch.as_tensor(sorted(set(chans)))

        def hook(mod, inp, out):
            out = out.clone()
            out[:, idx.to(out.device)] = 0
            return out
        return hook

    correct = 0
    try:
        for n, chans in by_layer.items():
            handles.append(mods[n].register_forward_hook(zero(chans)))
        with _Guard(model), torch.no_grad():
            for i in range(0, len(x), batch_size):
                out = model(x[i:i + batch_size].to(model_device(model)))
                correct += int((out.argmax(1).cpu() == y[i:i + batch_size]).sum())
    finally:
        for h in handles:
            h.remove()
    return correct / len(x)


def channel_groups(model: nn.Module, input_shape=None) -> dict:
    """Which layer outputs are the *same channels*: ``{layer: last layer of its channel group}``.

    A group starts at a conv or linear layer (new channels) and continues through the channel-wise
    layers after it (ReLU, pool, norm, dropout) while the channel count stays the same; a flatten or
    any other layer starts a new group. conv1:3, relu1:3 and pool1:3 are one channel: zeroing any of
    them zeroes what the next conv sees from it (exactly, for ReLU and max/avg pools, which map 0 to 0).
    The group's last layer names the channel (:func:`distinct_channels`)."""
    if not isinstance(model, nn.Module):
        raise TypeError(f"model: expected a torch.nn.Module, got {type(model).__name__}")
    infos = [i for i in _layers(model, input_shape) if i.calls is None or i.calls > 0]
    groups: list[list] = []
    prev_c = None
    for i in infos:
        c = None if i.output_shape is None else int(i.output_shape[0])
        cont = i.kind in ("relu", "pool", "norm", "dropout") and groups and c is not None and c == prev_c
        if cont:
            groups[-1].append(i.name)
        else:
            groups.append([i.name])
        prev_c = c
    return {n: g[-1] for g in groups for n in g}


def distinct_channels(features, model: nn.Module, input_shape=None) -> list[tuple[str, int]]:
    """The distinct channels behind ``features`` [(layer, channel), ...]: each feature is named by the
    last layer of its channel group (:func:`channel_groups`), duplicates removed, in forward order.
    ``[("conv1", 3), ("relu1", 3), ("pool1", 3)]`` is one channel, ``("pool1", 3)``."""
    groups = channel_groups(model, input_shape)
    order = {n: k for k, n in enumerate(groups)}
    out = set()
    for f in features:
        if not (isinstance(f, (tuple, list)) and len(f) >= 2):
            raise TypeError(f"features: expected (layer, channel) pairs, got {f!r}")
        if f[0] not in groups:
            raise ValueError(f"features: layer {f[0]!r} is not a called leaf layer of the model; "
                             f"valid: {', '.join(groups)}")
        out.add((groups[f[0]], check_int(f[1], "features (channel)", minimum=0)))
    return sorted(out, key=lambda t: (order[t[0]], t[1]))


def _group_sizes(model, input_shape=None) -> dict:
    return {i.name: int(i.output_shape[0]) for i in _layers(model, input_shape)
            if i.output_shape is not None}


def _top_distinct(selector: MuLasso, index: FeatureIndex, k: int, model, input_shape=None) -> list:
    """The ``k`` distinct channels (:func:`distinct_channels`) with the largest max-over-classes |w| over
    their selected features (ties: forward order), in forward order."""
    groups = channel_groups(model, input_shape)
    best: dict[tuple, float] = {}
    for j in np.flatnonzero(selector.selected_):
        layer, ch = index[j]
        key = (groups[layer], ch)
        best[key] = max(best.get(key, 0.0), float(np.abs(selector.coef_[j]).max()))
    order = {n: i for i, n in enumerate(groups)}
    keys = sorted(best, key=lambda t: (order[t[0]], t[1]))
    keep = sorted(keys, key=lambda t: -best[t])[:k]  # stable: ties keep forward order
    return sorted(keep, key=lambda t: (order[t[0]], t[1]))


def ablation_study(model: nn.Module, fit_data, test_data, mu: float = 10.0, n_random: int = 5, seed: int = 0,
                   batch_size: int = 256, sets=("All", "OnlyConv"), tol: float = 1e-4, norm: str = "l2") -> dict:
    """Fig. 4: accuracy on ``test_data`` after zeroing the µ-Lasso features selected on ``fit_data``
    (*All*: every feature layer; *OnlyConv*: the spatial layers before the classifier), versus as many
    channels drawn at random (``n_random`` draws, :func:`matched_random` with the model: the same channel
    groups, the same count). Features are ablated as **distinct channels** (:func:`distinct_channels`:
    conv1:3, relu1:3 and pool1:3 are one channel), so a selection and its random baseline zero equally
    many channels. Returns a dict with ``original``, and for each of ``All``/``OnlyConv``: ``n`` distinct
    channels, ``n_features`` selected features, ``accuracy``, ``random`` (the accuracies of the random
    draws) and ``features`` (the distinct channels). ``tol`` is the solver's tolerance, ``norm`` the
    feature norm (:func:`channel_responses`)."""
    n_random = check_int(n_random, "n_random", minimum=1)
    sets = [sets] if isinstance(sets, str) else list(sets)
    for s_ in sets:
        check_choice(s_, "sets", ("All", "OnlyConv"))
    y = _labels_of(fit_data)
    rng = np.random.default_rng(seed)
    out = {"original": ablate(model, test_data, [], batch_size)}
    shape = tuple(_images_of(fit_data).shape[1:])
    X, idx = channel_responses(model, fit_data, batch_size=batch_size, norm=norm)
    conv_layers = feature_layers(model, shape, only_conv=True)
    for name, sub_layers in (("All", idx.layers), ("OnlyConv", conv_layers)):
        if name not in sets:
            continue
        sub, cols = idx.subset(sub_layers)
        sel = MuLasso(mu=mu, tol=tol).fit(X[:, cols], y, sub)
        picked = [sub[j] for j in np.flatnonzero(sel.selected_)]
        chosen = distinct_channels(picked, model, shape)
        rand = [ablate(model, test_data, matched_random(picked, sub, rng, model=model, input_shape=shape),
                       batch_size) for _ in range(n_random)]
        out[name] = {"n": len(chosen), "n_features": len(picked),
                     "accuracy": ablate(model, test_data, chosen, batch_size), "random": rand,
                     "features": chosen}
    return out


# --------------------------------------------------------------------------- IoU protocols (§4.3 and others)


class BestIoU(NamedTuple):
    """:func:`best_threshold_iou`: the largest mean IoU over the thresholds and the threshold giving it."""

    iou: float
    threshold: float


def iou_area(heatmaps, masks, thresholds=None) -> float:
    """Protocol **"area"** (the paper's, µ-Lasso §4.3, Fig. 8): min–max normalise each map, threshold it
    at every t in ``thresholds`` (default 51 levels over [0, 1]), average the pixel IoU with ``masks``
    over images, and return the area under that mean IoU-vs-threshold curve (trapezoids).
    It rewards maps whose IoU stays high over many thresholds — smooth maps (see :func:`blur_maps`)."""
    from .metrics import iou_curve

    return float(iou_curve(heatmaps, masks, thresholds).auc)


def iou_own_mean(heatmaps, masks) -> torch.Tensor:
    """Protocol **"own mean"** (third parties on an8Flower): IoU [N] of ``heatmap > mean(heatmap)`` with
    the mask, each map thresholded at its own mean value (no threshold sweep)."""
    from .metrics import iou_at_mean

    return iou_at_mean(heatmaps, masks)


def best_threshold_iou(heatmaps, masks, thresholds=None) -> BestIoU:
    """Protocol **"best threshold"**: one threshold t for all maps (min–max normalised), the one with the
    largest mean IoU over the images (the peak of the area protocol's curve). Optimistic by design — t is
    chosen on the scored images — so it compares methods at their best operating point."""
    from .metrics import iou_curve

    c = iou_curve(heatmaps, masks, thresholds)
    j = int(np.argmax(c.iou))  # first maximum on ties
    return BestIoU(float(c.iou[j]), float(c.thresholds[j]))


def pointing_to_mask(heatmaps, masks) -> np.ndarray:
    """Protocol **"pointing"** (Zhang et al.'s pointing game, scored against the mask instead of a box):
    per map, the share of its maximum pixels that lie inside the mask — 1 or 0 when the maximum is
    unique; a tie (e.g. several min–max normalised feature maps each peaking at 1) counts each tied
    pixel equally, so no tie-breaking rule decides; a constant map scores the mask's share of the image.
    Returns float [N] in [0, 1]."""
    from .metrics import _pair

    h, g = _pair(heatmaps, masks, "heatmaps")
    h = h.double()
    if not torch.isfinite(h).all():
        raise ValueError("heatmaps: contains NaN or inf values")
    peak = h == h.flatten(1).amax(1).view(-1, 1, 1)
    return ((peak & g).flatten(1).sum(1).double() / peak.flatten(1).sum(1).double()).numpy()


#: the IoU protocols reported side by side: key -> (function, what it measures)
IOU_PROTOCOLS = {
    "area": "area under the mean IoU-vs-threshold curve, 51 thresholds in [0, 1] (the paper, Fig. 8)",
    "own mean": "mean IoU with each map thresholded at its own mean (third parties on an8Flower)",
    "best threshold": "mean IoU at the one threshold that maximises it (oracle operating point)",
    "pointing": "share of each map's maximum pixels inside the mask (pointing game on the mask)",
}


def iou_protocols(heatmaps, masks, thresholds=None) -> dict:
    """Every protocol of :data:`IOU_PROTOCOLS` on the same maps, as means over the images:
    ``{"area": …, "own mean": …, "best threshold": …, "pointing": …}`` (floats)."""
    return {"area": iou_area(heatmaps, masks, thresholds),
            "own mean": float(iou_own_mean(heatmaps, masks).mean()),
            "best threshold": best_threshold_iou(heatmaps, masks, thresholds).iou,
            "pointing": float(pointing_to_mask(heatmaps, masks).mean())}


def blur_maps(heatmaps, px: float = 1.0, kind: str = "gaussian") -> torch.Tensor:
    """Blur heatmaps [N,H,W] (or one [H,W]) by ``px`` pixels: ``kind="gaussian"`` convolves with a
    Gaussian of standard deviation σ = ``px`` (kernel radius ⌈3σ⌉, normalised to sum 1);
    ``kind="box"`` with a (2r+1)×(2r+1) mean filter, r = round(px). Borders are reflected, so a constant
    map is unchanged. The **blur control** of the flower benchmark: Deconv+GB blurred by 1 px (Gaussian)
    tests whether a protocol rewards smoothness rather than localisation."""
    if isinstance(heatmaps, np.ndarray):
        heatmaps = torch.from_numpy(heatmaps)
    if not isinstance(heatmaps, torch.Tensor):
        raise TypeError(f"heatmaps: expected a torch.Tensor or numpy array [N,H,W], got {type(heatmaps).__name__}")
    h = heatmaps.detach().cpu()
    if h.dtype == torch.bool or h.is_complex():
        raise TypeError(f"heatmaps: expected real-valued maps, got dtype {h.dtype}")
    if not h.is_floating_point():
        h = h.float()
    one = h.ndim == 2
    if one:
        h = h.unsqueeze(0)
    if h.ndim != 3:
        raise ValueError(f"heatmaps: expected [N,H,W] (or one [H,W]), got shape {tuple(h.shape)}")
    if not torch.isfinite(h).all():
        raise ValueError("heatmaps: contains NaN or inf values")
    px = check_float(px, "px", low=0.0, low_open=True)
    kind = check_choice(kind, "kind", ("gaussian", "box"))
    if kind == "gaussian":
        r = int(np.ceil(3 * px))
        t = torch.arange(-r, r + 1, dtype=torch.float64)
        k = torch.exp(-0.5 * (t / px) ** 2)
    else:
        r = max(int(round(px)), 1)
        k = torch.ones(2 * r + 1, dtype=torch.float64)
    k = (k / k.sum()).to(h.dtype)
    H, W = h.shape[-2:]
    if r >= H or r >= W:
        raise ValueError(f"px: a blur radius of {r} px needs maps larger than {r}×{r}, got {H}×{W}")
    x = F.pad(h.unsqueeze(1), (r, r, r, r), mode="reflect")
    x = F.conv2d(x, k.view(1, 1, 1, -1))
    x = F.conv2d(x, k.view(1, 1, -1, 1))[:, 0]
    return x[0] if one else x


# --------------------------------------------------------------------------- flower benchmark (§4.3)

#: the blur control's name in :data:`BENCH_METHODS`
BLUR_CONTROL = "Deconv+GB blurred (Gaussian σ = 1 px)"

#: the ways to draw the selected features' heatmaps in Figs. 8–9, plus the blur control (``blur``: the
#: Gaussian σ in px applied to the combined map, :func:`blur_maps`)
BENCH_METHODS = {
    "upsampled activations": dict(method="activation", fix_stride=False),
    "Deconv+GB": dict(method="guided_backprop", fix_stride=False),
    "ours (stride fix)": dict(method="guided_backprop", fix_stride=True),
    BLUR_CONTROL: dict(method="guided_backprop", fix_stride=False, blur=1.0),
}


def flower_benchmark(model: nn.Module, data, selector: MuLasso, top_k: int = 3, thresholds=None,
                     methods=None, layers="conv") -> dict:
    """µ-Lasso §4.3: explain every image of ``data`` (an ImageSet with ``masks``) with each way of
    drawing heatmaps (:data:`BENCH_METHODS`) and score the combined maps against the ground-truth masks
    with every protocol of :data:`IOU_PROTOCOLS`.

    Every method draws **the same features**: the top-k by relevance among the candidate ``layers`` —
    ``"conv"`` (default: the selector's spatial layers, the only features that upsampled activations
    can draw), ``"all"`` (every feature layer; not with the upsampled activations, which have no map for
    an FC unit) or a list of layer names. The blur control reuses Deconv+GB's maps.

    Returns per method: ``protocols`` (:func:`iou_protocols`), ``auc`` (= the "area" protocol),
    ``iou_at_mean`` (= "own mean"), ``best_iou``/``best_threshold``, ``pointing``, ``curve``
    (:class:`xnb.metrics.IoUCurve`), ``heatmaps``, ``explanation`` and ``features`` (per image, the
    (layer, channel) pairs drawn)."""
    from .metrics import iou_curve, minmax

    if not isinstance(selector, MuLasso):
        raise TypeError(f"selector: expected a fitted MuLasso, got {type(selector).__name__}")
    selector._fitted()
    idx = selector._index()
    masks = getattr(data, "masks", None)
    if masks is None:
        raise ValueError("data: needs ground-truth masks (e.g. xnb.data.flowers)")
    x = _images_of(data)
    methods = list(BENCH_METHODS) if methods is None else ([methods] if isinstance(methods, str) else
                                                           list(methods))
    for m in methods:
        check_choice(m, "methods", list(BENCH_METHODS))
    spatial = [n for n, s in zip(idx.layers, idx.spatial) if s]
    if isinstance(layers, str) and layers in ("conv", "all"):
        cand = spatial if layers == "conv" else list(idx.layers)
    elif isinstance(layers, str) or not isinstance(layers, (list, tuple)):
        raise ValueError(f"layers: expected 'conv', 'all' or a list of feature layers; got {layers!r}")
    else:
        cand = list(layers)
        bad = [n for n in cand if n not in idx.layers]
        if bad or not cand:
            raise ValueError(f"layers: {bad or cand} are not feature layers; valid: {idx.layers}")
    uses_act = any(BENCH_METHODS[m]["method"] == "activation" for m in methods)
    if uses_act and any(n not in spatial for n in cand):
        raise ValueError(f"layers: {[n for n in cand if n not in spatial]} have no spatial map, so upsampled "
                         f"activations would explain other features than the other methods; use "
                         f"layers='conv' or drop 'upsampled activations' from methods")
    X, _ = channel_responses(model, x, idx.layers, norm=idx.norm)
    out, cache = {}, {}
    for m in methods:
        spec = dict(BENCH_METHODS[m])
        blur = spec.pop("blur", None)
        key = (spec["method"], spec["fix_stride"])
        if key not in cache:
            cache[key] = explain(model, x, selector, top_k=top_k, responses=X, layers=cand, **spec)
        e = cache[key]
        h = e.heatmap if blur is None else minmax(blur_maps(e.heatmap, blur, "gaussian"))
        curve = iou_curve(h, masks, thresholds)
        prot = iou_protocols(h, masks, thresholds)
        best = best_threshold_iou(h, masks, thresholds)
        out[m] = {"protocols": prot, "auc": curve.auc, "iou_at_mean": prot["own mean"], "best_iou": best.iou,
                  "best_threshold": best.threshold, "pointing": prot["pointing"], "curve": curve,
                  "heatmaps": h, "explanation": e, "features": [[f[:2] for f in fs] for fs in e.features]}
    return out


# --------------------------------------------------------------------------- widget


_GRID_THREADS = __import__("weakref").WeakSet()  # explorers whose µ grid may still be running


@__import__("atexit").register
def _stop_grid_threads():
    # a daemon thread killed inside a torch op at interpreter exit aborts the process ("terminate
    # called without an active exception"); stop each grid after its current solve instead
    for ex in list(_GRID_THREADS):
        ex._stop.set()
        if ex._grid_thread is not None:
            ex._grid_thread.join(timeout=10)


# the explorer moved to xnb.widgets; the old name works for one more release
__getattr__ = moved("xnb.mulasso", {"MuLassoExplorer": "xnb.widgets"})



# --------------------------------------------------------------------------- claims (xnb.claims)


def matched_random(features, index: FeatureIndex, rng, model: nn.Module | None = None,
                   input_shape=None) -> list[tuple[str, int]]:
    """A random baseline matched to ``features`` [(layer, channel), ...]: in every layer, as many
    channels drawn uniformly without replacement from that whole layer as ``features`` has there
    (same layers, same count). ``rng`` is a :class:`numpy.random.Generator` or a seed.

    With ``model``, the match is on **distinct channels** (:func:`distinct_channels`): conv1:3, relu1:3
    and pool1:3 count once, and as many channels as ``features`` has distinct ones in each channel group
    are drawn from that group; the result is named like :func:`distinct_channels` (the group's last
    layer), so the selection and the baseline zero equally many channels."""
    if not isinstance(index, FeatureIndex):
        raise TypeError(f"index: expected a FeatureIndex, got {type(index).__name__}")
    if rng is None or isinstance(rng, (str, float)):
        raise TypeError(f"rng: expected a numpy Generator or an integer seed, got {rng!r}")
    rng = np.random.default_rng(rng) if not isinstance(rng, np.random.Generator) else rng
    counts: dict[str, int] = {}
    for f in features:
        if not (isinstance(f, (tuple, list)) and len(f) >= 2):
            raise TypeError(f"features: expected (layer, channel) pairs, got {f!r}")
        if f[0] not in index.layers:
            raise ValueError(f"features: layer {f[0]!r} is not in the index; layers: {index.layers}")
        counts[f[0]] = counts.get(f[0], 0) + 1
    if model is not None:
        distinct = distinct_channels(features, model, input_shape)
        sizes = _group_sizes(model, input_shape)
        per: dict[str, int] = {}
        for g, _ in distinct:
            per[g] = per.get(g, 0) + 1
        out = []
        for g, k in per.items():
            out += [(g, int(c)) for c in np.sort(rng.choice(sizes[g], size=k, replace=False))]
        return out
    out = []
    for layer in index.layers:
        k = counts.get(layer, 0)
        size = index.sizes[index.layers.index(layer)]
        if k > size:
            raise ValueError(f"features: {k} features in {layer!r}, which has only {size} channels")
        if k:
            out += [(layer, int(c)) for c in np.sort(rng.choice(size, size=k, replace=False))]
    return out


def gap_masks(strokes) -> torch.Tensor:
    """The *gaps* of line drawings (µ-Lasso Fig. 6: the features that "support the existence of a
    gap"): the pixels inside each stroke mask's bounding box that are not stroke. bool [N,H,W]."""
    s = torch.as_tensor(strokes).bool()
    if s.ndim == 2:
        s = s.unsqueeze(0)
    if s.ndim != 3:
        raise ValueError(f"strokes: expected boolean masks [N,H,W], got shape {tuple(s.shape)}")
    rows, cols = s.any(2), s.any(1)
    ar_h = torch.arange(s.shape[1])
    ar_w = torch.arange(s.shape[2])

    def span(any_, ar):
        big = len(ar)
        lo = torch.where(any_, ar, big).amin(1)
        hi = torch.where(any_, ar, -1).amax(1)
        return (ar[None] >= lo[:, None]) & (ar[None] <= hi[:, None])

    box = span(rows, ar_h)[:, :, None] & span(cols, ar_w)[:, None, :]
    return box & ~s


def gap_ratio(heatmaps, strokes) -> torch.Tensor:
    """Mean heat on the gap pixels (:func:`gap_masks`) over mean heat on the stroke pixels, per map
    [N]: above 1, a map prefers the gaps to the strokes (a uniform map gives 1). ``inf`` when the
    strokes get no heat but the gaps do; NaN for an all-zero map or a mask without gap/stroke pixels.
    Heatmaps are non-negative [N,H,W] (or one [H,W])."""
    h = torch.as_tensor(heatmaps).detach().double()
    if h.ndim == 2:
        h = h.unsqueeze(0)
    s = torch.as_tensor(strokes).bool()
    if s.ndim == 2:
        s = s.unsqueeze(0)
    if h.shape != s.shape:
        raise ValueError(f"heatmaps {tuple(h.shape)} and strokes {tuple(s.shape)} must have the same shape")
    if (h < 0).any() or not torch.isfinite(h).all():
        raise ValueError("heatmaps: expected finite, non-negative maps")
    g = gap_masks(s)
    gap = (h * g).flatten(1).sum(1) / g.flatten(1).sum(1)
    stroke = (h * s).flatten(1).sum(1) / s.flatten(1).sum(1)
    return gap / stroke  # 0/0 -> nan, x/0 -> inf


#: µ of the claims: 5 on the flower datasets (the authors' setting for an8Flower, implementation notes) and
#: the paper's 10 elsewhere (its Fig. 4 experiments, MNIST included)
CLAIM_MU = {"flowers": 5.0, "digits": 10.0}
_GRID_LAYERS = ("relu3", "relu4")
_GRID_PERIOD = 8
#: sizes of the claims' protocol (``quick`` → settings); images per seed
CLAIM_SIZES = {
    True: dict(n_fit=160, n_fit_double=240, n_test=60, n_bench=10, n_grid=4, n_digit_fit=240,
               n_digit_test=12, n_random=2),
    False: dict(n_fit=600, n_fit_double=720, n_test=400, n_bench=48, n_grid=16, n_digit_fit=900,
                n_digit_test=60, n_random=5),
}
_DATA_SEED = 1000  # + seed: disjoint from the shipped models' training (1), calibration (3) and test (2026) seeds


def _sizes_text(*keys) -> str:
    return "; ".join(f"{'quick' if q else 'full'}: " + ", ".join(f"{k} {CLAIM_SIZES[q][k]}" for k in keys)
                     for q in (True, False))


def _fit_text(n_fit: str) -> str:
    return (f"µ-Lasso (µ = {CLAIM_MU['flowers']:g}, tol 1e-4, ≤ 400 iterations) on the channel responses (L2 "
            f"norm per channel, the paper's) of every feature layer of the shipped model, fitted on {n_fit} "
            f"flowers(difficulty='standard', seed={_DATA_SEED}+seed)")


def _abl_text(n_fit: str) -> str:
    return (f"{_fit_text(n_fit)}; accuracy on n_test further images of the same draw, with the selected "
            f"features zeroed as distinct channels (conv/relu/pool outputs of one channel count once, zeroed "
            f"at the channel group's last layer)")


_VARIES_FLOWERS = "the flower images (fit and test draws); the random draws of the baseline"
_GRID = (f"shipped flowers-single; {len(_GRID_LAYERS)} layers ({', '.join(_GRID_LAYERS)}), in each the channel "
         f"with the largest mean energy on n_grid flowers(difficulty='standard', seed={_DATA_SEED}+seed); heatmap from the channel's whole map, pos. part, L2 over RGB; "
         f"grid energy = share of spectral power at the period-{_GRID_PERIOD} grid frequencies "
         f"(pool1 × pool2 × conv3 strides), mean over layers and images with a non-zero map; "
         + _sizes_text("n_grid"))
_VARIANT_FIT = {"single": "n_fit", "double": "n_fit_double"}
#: the protocols' labels in the claims' names (keys of IOU_PROTOCOLS)
_PROTOCOL_LABEL = {"area": "IoU area", "own mean": "IoU at own mean", "best threshold": "best-threshold IoU",
                   "pointing": "pointing to the mask"}
#: the benchmark's baselines: key in BENCH_METHODS -> label in the claims
_BENCH_BASELINES = {"upsampled activations": "upsampled activations", "Deconv+GB": "Deconv+GB",
                    BLUR_CONTROL: "Deconv+GB blurred 1 px"}
_PAPER_FIG8 = {("single", "upsampled activations"): "0.23 vs 0.15 (an8Flower-single-6c)",
               ("single", "Deconv+GB"): "0.23 vs 0.22 (an8Flower-single-6c)",
               ("double", "upsampled activations"): "0.21 vs 0.19 (an8Flower-double-12c)",
               ("double", "Deconv+GB"): "0.21 vs 0.20 (an8Flower-double-12c)"}


def _bench_text(variant: str, protocol: str) -> str:
    n_fit = _VARIANT_FIT[variant]
    return (f"{_fit_text(n_fit)}; ours = Deconv+GB with the stride fix; every method draws the same top-3 "
            f"features per image, chosen among the conv-part (spatial) features (upsampled activations have no "
            f"map for an FC unit); min–max normalised maps combined by max; blur control = Deconv+GB's "
            f"combined map blurred by a Gaussian of σ = 1 px (reflected borders), re-normalised; scored against "
            f"the visible discriminative-part mask on n_bench test images with the protocol "
            f"'{protocol}': {IOU_PROTOCOLS[protocol]}; " + _sizes_text(n_fit, "n_bench"))


def _claim_specs():
    from .claims import AtLeast, Better, ClaimSpec

    P = "mulasso"
    more_drop = Better(higher=True)
    specs = []
    for v in ("single", "double"):
        n_fit = _VARIANT_FIT[v]
        specs += [
            ClaimSpec(P, f"Ablating the selected features (All) drops accuracy more than random ones ({v})",
                      "Fig. 4: All drops more than a random selection (MNIST, ImageNet(-Cats), Fashion144k)",
                      f"accuracy drop (original − ablated), flowers-{v}", more_drop,
                      baseline_name="random (same channel groups, same count)",
                      protocol=f"{_abl_text(n_fit)}; baseline: mean over n_random random draws of as many distinct "
                               f"channels in the same channel groups; " + _sizes_text(n_fit, "n_test", "n_random"),
                      varies=_VARIES_FLOWERS),
            ClaimSpec(P, f"Ablating the selected features (OnlyConv) drops accuracy more than random ones ({v})",
                      "Fig. 4: OnlyConv drops more than a random selection",
                      f"accuracy drop (original − ablated), flowers-{v}", more_drop,
                      baseline_name="random (same channel groups, same count)",
                      protocol=f"{_abl_text(n_fit)}; OnlyConv: µ-Lasso on the spatial layers only; baseline: mean "
                               f"over n_random random draws of as many distinct channels in the same channel "
                               f"groups; " + _sizes_text(n_fit, "n_test", "n_random"),
                      varies=_VARIES_FLOWERS),
            ClaimSpec(P, f"All drops accuracy more than OnlyConv (at equal count, {v})",
                      "Fig. 4: All drops more than OnlyConv on every dataset",
                      f"accuracy drop (original − ablated), flowers-{v}", more_drop, baseline_name="OnlyConv",
                      protocol=f"{_abl_text(n_fit)}; both sets cut to the same number k = min(|All|, |OnlyConv|) "
                               f"of distinct channels, keeping those with the largest max-over-classes |w|; "
                               + _sizes_text(n_fit, "n_test"),
                      varies=_VARIES_FLOWERS.split(";")[0]),
        ]
    for m, name in (("deconvnet", "deconvnet"), ("guided_backprop", "Deconv+GB")):
        specs.append(ClaimSpec(P, f"The stride fix lowers the grid artifact ({name})",
                               f"Figs. 2 and 7 (qualitative): the fix attenuates {name}'s grid at lower layers",
                               f"grid energy (period {_GRID_PERIOD}), flowers-single", Better(higher=False),
                               baseline_name=f"{name} without the fix", protocol=_GRID,
                               varies="the test images (and so the channel)"))
    for v in ("single", "double"):
        for prot, label in _PROTOCOL_LABEL.items():
            for base, bname in _BENCH_BASELINES.items():
                fig = _PAPER_FIG8.get((v, base))
                if base == BLUR_CONTROL:
                    paper = "not in the paper: a control — does a 1-px blur of Deconv+GB do what the fix does?"
                elif prot == "area":
                    paper = f"Fig. 8: {fig}"
                else:
                    paper = f"not reported (Fig. 8 gives the area only: {fig})"
                specs.append(ClaimSpec(P, f"{label}: ours > {bname} ({v})", paper,
                                       f"{IOU_PROTOCOLS[prot]}, flowers-{v}", Better(higher=True),
                                       baseline_name=bname, protocol=_bench_text(v, prot),
                                       varies=_VARIES_FLOWERS.split(";")[0]))
    specs.append(ClaimSpec(
        P, "Some relevant features support gaps (digits)",
        "Fig. 6 (qualitative): on MNIST some features fire on the gaps (e.g. the 2 against a 0)",
        "share of top-3 feature maps hotter on the gaps than on the strokes", AtLeast(0.1),
        protocol=(f"µ-Lasso (µ = {CLAIM_MU['digits']:g}) on n_digit_fit images of the digits model's "
                  f"training split; explanations (Deconv+GB with the fix, top 3) of n_digit_test images "
                  f"of its test split; a map counts when its mean on the gaps (stroke bounding box minus "
                  f"stroke) exceeds its mean on the strokes (a uniform map: equal); "
                  + _sizes_text("n_digit_fit", "n_digit_test")),
        varies="which training images the µ-Lasso is fitted on and which test images are explained"))
    return specs


CLAIMS = _claim_specs()


def _mass_in(h: torch.Tensor, masks) -> float:
    h = h.double().clamp(min=0)
    m = torch.as_tensor(masks).bool()
    return float((h * m).flatten(1).sum(1).sum() / h.flatten(1).sum(1).sum().clamp(min=1e-30))


def _fit_flowers(model, fit):
    X, idx = channel_responses(model, fit, progress=False)
    sel = MuLasso(mu=CLAIM_MU["flowers"], tol=1e-4, max_iter=400).fit(X, fit.labels, idx)
    return sel, X, idx


def _bench_stats(model, bench, sel):
    res = flower_benchmark(model, bench, sel)
    feats = [r["features"] for r in res.values()]
    if any(f != feats[0] for f in feats[1:]):  # flower_benchmark's contract; checked here too
        raise RuntimeError("flower_benchmark: the methods drew different features")
    pred = next(iter(res.values()))["explanation"].predicted
    out = {"n_selected": sel.n_selected_, "mask_share": float(bench.masks.float().mean()),
           "accuracy": float((pred == torch.as_tensor(bench.labels)).double().mean())}
    for k, r in res.items():
        h = r["heatmaps"]
        out[k] = {**r["protocols"], "in_mask": _mass_in(h, bench.masks), "area_05": float((h >= 0.5).float().mean()),
                  "best_t": r["best_threshold"]}
    return out


def _ablation_stats(model, fit, test, sel, X, idx, rng, n_random):
    shape = tuple(fit.images.shape[1:])
    conv = feature_layers(model, shape, only_conv=True)
    sub, cols = idx.subset(conv)
    selc = MuLasso(mu=CLAIM_MU["flowers"], tol=1e-4, max_iter=400).fit(X[:, cols], fit.labels, sub)
    pa = [idx[j] for j in np.flatnonzero(sel.selected_)]
    pc = [sub[j] for j in np.flatnonzero(selc.selected_)]
    fa, fc = distinct_channels(pa, model, shape), distinct_channels(pc, model, shape)
    acc0 = ablate(model, test, [])
    acc_a, acc_c = ablate(model, test, fa), ablate(model, test, fc)
    rand_a = [ablate(model, test, matched_random(pa, idx, rng, model=model, input_shape=shape))
              for _ in range(n_random)]
    rand_c = [ablate(model, test, matched_random(pc, sub, rng, model=model, input_shape=shape))
              for _ in range(n_random)]
    k = min(len(fa), len(fc))
    top_a, top_c = _top_distinct(sel, idx, k, model, shape), _top_distinct(selc, sub, k, model, shape)
    acc_ak = acc_a if k == len(fa) else ablate(model, test, top_a)
    acc_ck = acc_c if k == len(fc) else ablate(model, test, top_c)
    groups = channel_groups(model, shape)
    fc_groups = {groups[n] for n, s in zip(idx.layers, idx.spatial) if not s}
    return {"acc0": acc0, "all": acc0 - acc_a, "conv": acc0 - acc_c,
            "rand_all": acc0 - float(np.mean(rand_a)), "rand_conv": acc0 - float(np.mean(rand_c)),
            "n_all": len(fa), "n_conv": len(fc), "n_all_features": len(pa), "k": k,
            "all_k": acc0 - acc_ak, "conv_k": acc0 - acc_ck, "fc_in_top": sum(f[0] in fc_groups for f in top_a)}


def _claims_seed(seed: int, sz: dict, nets: dict) -> dict:
    from . import data
    from .attribution import attribute

    ds = _DATA_SEED + seed
    out = {}
    for v in ("single", "double"):
        m = nets[v]
        rng = np.random.default_rng([ds, 7] if v == "single" else [ds, 8])
        n_fit = sz[_VARIANT_FIT[v]]
        d = data.flowers(n_fit + sz["n_test"], variant=v, seed=ds)
        fit, test = d.subset(slice(0, n_fit)), d.subset(slice(n_fit, None))
        sel, X, idx = _fit_flowers(m, fit)
        out[f"bench_{v}"] = _bench_stats(m, test.subset(slice(0, sz["n_bench"])), sel)
        out[f"ablation_{v}"] = _ablation_stats(m, fit, test, sel, X, idx, rng, sz["n_random"])
        if v == "single":
            xg = test.images[:sz["n_grid"]]
    # grid artifact (§3.3)
    m1 = nets["single"]
    with torch.no_grad(), capture(m1, list(_GRID_LAYERS), detach=True) as cap:
        m1(xg)
    grid = {}
    for layer in _GRID_LAYERS:
        ch = int(cap[layer].flatten(2).pow(2).sum(-1).mean(0).argmax())
        kw = dict(layer=layer, channel=ch, channel_score="energy", reduce="pos_l2")
        for method in ("deconvnet", "guided_backprop"):
            plain = attribute(m1, xg, method, **kw).detach()
            fixed = attribute(m1, xg, method, fix_stride=True, **kw).detach()
            live = (plain.flatten(1).amax(1) > 0) & (fixed.flatten(1).amax(1) > 0)
            if live.any():
                grid.setdefault(method, []).append((grid_energy(plain[live], _GRID_PERIOD),
                                                    grid_energy(fixed[live], _GRID_PERIOD)))
    out["grid"] = {m: (float(torch.cat([p for p, _ in v]).mean()), float(torch.cat([f for _, f in v]).mean()))
                   for m, v in grid.items()}
    # --- digits: gaps (Fig. 6)
    md = nets["digits"]
    tr, te = nets["digits_train"], nets["digits_test"]
    rd = np.random.default_rng([ds, 11])
    dfit = tr.subset(np.sort(rd.choice(len(tr), min(sz["n_digit_fit"], len(tr)), replace=False)))
    dte = te.subset(np.sort(rd.choice(len(te), min(sz["n_digit_test"], len(te)), replace=False)))
    Xd, idd = channel_responses(md, dfit, progress=False)
    dsel = MuLasso(mu=CLAIM_MU["digits"], tol=1e-4, max_iter=400).fit(Xd, dfit.labels, idd)
    de = explain(md, dte.images, dsel, top_k=3)
    ratios = [float(gap_ratio(de.maps[i, j], dte.masks[i])[0])
              for i in range(len(de.maps)) for j in range(len(de.features[i]))]
    ratios = np.array([r for r in ratios if not np.isnan(r)])
    out["digits"] = {"share": float(np.mean(ratios > 1)) if len(ratios) else 0.0,
                     "median_ratio": float(np.median(ratios)) if len(ratios) else float("nan"),
                     "n_maps": int(len(ratios)), "n_selected": dsel.n_selected_}
    return out


def _pct(x: float) -> str:
    return f"{100 * x:.1f} %"


def claims(seeds=(0, 1, 2), quick: bool = False, progress: bool = True, sizes: dict | None = None) -> list:
    """Every claim the µ-Lasso notebook states, re-measured once per seed on the shipped models and the
    default (``difficulty="standard"``) flowers; see :data:`CLAIMS` for the rules and protocols and
    :mod:`xnb.claims` for the verdicts. Returns one :class:`xnb.claims.Claim` per spec, in order: the
    ablation (both flower variants), the grid artifact, the flower benchmark under every protocol of
    :data:`IOU_PROTOCOLS` against each baseline and the blur control (both variants; the protocol names
    the claim), and the digits' gaps. A claim that does not hold or is inconclusive carries a note with
    what the same run measured.

    ``progress`` shows a bar over the seeds; ``sizes`` overrides entries of ``CLAIM_SIZES[quick]`` (for
    tests: the protocol text then no longer describes the run)."""
    from . import data, models
    from .claims import check_quick, check_seeds, over_seeds

    seeds = check_seeds(seeds)
    quick = check_quick(quick)
    if not isinstance(progress, bool):
        raise TypeError(f"progress: expected True or False, got {progress!r}")
    sz = dict(CLAIM_SIZES[quick])
    if sizes is not None:
        if not isinstance(sizes, dict):
            raise TypeError(f"sizes: expected a dict of overrides of {list(sz)}, got {type(sizes).__name__}")
        bad = [k for k in sizes if k not in sz]
        if bad:
            raise ValueError(f"sizes: unknown keys {bad}; valid: {list(sz)}")
        for k, v in sizes.items():
            sz[k] = check_int(v, f"sizes[{k!r}]", minimum=1)
    nets = {"single": models.load("flowers-single"), "double": models.load("flowers-double"),
            "digits": models.load("digits"), "digits_train": data.digits("train", seed=0),
            "digits_test": data.digits("test", seed=0)}
    runs = over_seeds(lambda s: _claims_seed(s, sz, nets), seeds, "µ-Lasso claims", progress)

    def col(*path):
        vals = []
        for r in runs:
            v = r
            for p in path:
                v = v[p]
            vals.append(float(v))
        return vals

    def mean(*path):
        return float(np.mean(col(*path)))

    notes, measured = [], []
    for v in ("single", "double"):
        ab = lambda k: mean(f"ablation_{v}", k)  # noqa: E731
        notes += [
            (f"zeroing the {ab('n_all'):.0f} distinct channels of All ({ab('n_all_features'):.0f} features) drops "
             f"accuracy by {_pct(ab('all'))} (from {_pct(ab('acc0'))}); as many random channels in the same "
             f"channel groups by {_pct(ab('rand_all'))}"),
            (f"zeroing the {ab('n_conv'):.0f} distinct channels of OnlyConv drops accuracy by {_pct(ab('conv'))}; "
             f"as many random channels in the same channel groups by {_pct(ab('rand_conv'))}"),
            (f"at k = {ab('k'):.0f} distinct channels each: All drops {_pct(ab('all_k'))}, OnlyConv "
             f"{_pct(ab('conv_k'))}; {ab('fc_in_top'):.1f} of All's k are FC units"),
        ]
        a = f"ablation_{v}"
        measured += [(col(a, "all"), col(a, "rand_all")), (col(a, "conv"), col(a, "rand_conv")),
                     (col(a, "all_k"), col(a, "conv_k"))]
    for m, name in (("deconvnet", "deconvnet"), ("guided_backprop", "Deconv+GB")):
        notes.append(f"{name}: {_pct(mean('grid', m, 0))} of the spectral power on the period-{_GRID_PERIOD} grid "
                     f"without the fix, {_pct(mean('grid', m, 1))} with it")
        measured.append(([r["grid"][m][1] for r in runs], [r["grid"][m][0] for r in runs]))
    ours = "ours (stride fix)"
    for v in ("single", "double"):
        b = f"bench_{v}"
        for prot in _PROTOCOL_LABEL:
            for base in _BENCH_BASELINES:
                side = "; ".join(f"{p}: {mean(b, ours, p):.3f} vs {mean(b, base, p):.3f}" for p in _PROTOCOL_LABEL)
                notes.append(
                    f"ours vs {_BENCH_BASELINES[base]} under every protocol — {side}; share of heat inside the "
                    f"mask: {_pct(mean(b, ours, 'in_mask'))} vs {_pct(mean(b, base, 'in_mask'))}; pixels ≥ 0.5: "
                    f"{_pct(mean(b, ours, 'area_05'))} vs {_pct(mean(b, base, 'area_05'))} (the mask covers "
                    f"{_pct(mean(b, 'mask_share'))}); best thresholds {mean(b, ours, 'best_t'):.2f} vs "
                    f"{mean(b, base, 'best_t'):.2f}; {mean(b, 'n_selected'):.0f} features selected; the model "
                    f"classifies {_pct(mean(b, 'accuracy'))} of these images correctly")
                measured.append((col(b, ours, prot), col(b, base, prot)))
    notes.append(f"{_pct(mean('digits', 'share'))} of {mean('digits', 'n_maps'):.0f} top-feature maps per seed "
                 f"are hotter on the gaps than on the strokes (median gap/stroke heat ratio "
                 f"{mean('digits', 'median_ratio'):.2f}; {mean('digits', 'n_selected'):.0f} features selected)")
    measured.append((col("digits", "share"), None))
    if len(measured) != len(CLAIMS):  # pragma: no cover - a programming error
        raise RuntimeError(f"claims: {len(measured)} measurements for {len(CLAIMS)} specs")
    out = []
    for spec, (values, base), note in zip(CLAIMS, measured, notes):
        c = spec.judge(values, baseline=base, seeds=seeds)
        if c.verdict != "holds":
            c.note = note
        out.append(c)
    return out


