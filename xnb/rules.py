"""Modified backward passes, as rules attached to layers by forward hooks (Zennit's split of *rules*
and *composites*, Captum's hook hygiene).

A rule is a forward hook that swaps a layer's output for an identical tensor whose backward function
is the rule's: e.g. the excitation-backprop rule for conv/linear layers, or the guided-backprop rule for
ReLUs. :class:`Composite` attaches rules to every matching layer for the duration of a ``with`` block
and removes every hook in ``finally``. Parameters are never touched: the contrastive pass of excitation
backprop negates the classifier's weights inside the backward function, not in the model.

These are what Captum lacks (excitation backprop and its contrastive version, signals read at an
internal layer, the stride fix of the µ-Lasso paper); where Captum has a method, :func:`xnb.attribute`
calls Captum.
"""
from __future__ import annotations

from typing import Callable

import torch
import torch.nn.functional as F
from torch import nn
from torch.autograd import Function

__all__ = ["Composite", "excitation_rules", "relu_rules", "stride_fix_rules", "EB_EPS"]

#: added to the denominator of the MWP normalisation (the value TorchRay and the Caffe code use)
EB_EPS = 1e-20


class _SwapBackward(Function):
    """Forward: returns ``out`` unchanged. Backward: ``rule(x, grad) -> grad_x`` for the layer input."""

    @staticmethod
    def forward(ctx, x, out, rule):
        ctx.save_for_backward(x)
        ctx.rule = rule
        return out.detach().clone()

    @staticmethod
    def backward(ctx, grad):
        (x,) = ctx.saved_tensors
        return ctx.rule(x, grad), None, None


def _positive_forward(module: nn.Module, negate: Callable[[], bool] | None):
    """z = f(x, W⁺) without bias for a linear-type layer (conv, linear, average pool)."""
    if isinstance(module, nn.modules.conv._ConvNd):
        def f(x):
            w = module.weight
            w = (-w if negate is not None and negate() else w).clamp(min=0)
            return module._conv_forward(x, w, None)
    elif isinstance(module, nn.Linear):
        def f(x):
            w = module.weight
            w = (-w if negate is not None and negate() else w).clamp(min=0)
            return F.linear(x, w)
    elif isinstance(module, (nn.modules.pooling._AvgPoolNd, nn.modules.pooling._AdaptiveAvgPoolNd)):
        def f(x):
            return module.forward(x)  # .forward, not __call__: no hooks re-entered
    else:  # pragma: no cover - guarded by the caller
        raise TypeError(type(module).__name__)
    return f


def _mwp_rule(f):
    """Marginal winning probability (Zhang et al. 2016, eq. 6): g_in = x ⊙ W⁺ᵀ (g / (W⁺x))."""

    def rule(x, grad):
        with torch.enable_grad():
            xd = x.detach().requires_grad_(True)
            z = f(xd)
            (g,) = torch.autograd.grad(z, xd, grad / (z + EB_EPS))
        return g * x

    return rule


#: bytes of W⁺ materialised at once by the linear MWP rule (VGG16's fc6 W⁺ alone is 411 MB)
_MWP_CHUNK_BYTES = 64 * 2 ** 20


def _mwp_linear_rule(module: nn.Linear, negate: Callable[[], bool] | None):
    """MWP for a linear layer in closed form, g_in = x ⊙ W⁺ᵀ (g / (W⁺x)), over blocks of output units so
    that at most :data:`_MWP_CHUNK_BYTES` of W⁺ exist at a time (same result as :func:`_mwp_rule`)."""

    def rule(x, grad):
        W = module.weight.detach()
        flip = negate is not None and negate()
        x2 = x.detach().reshape(-1, W.shape[1])
        g2 = grad.reshape(-1, W.shape[0])
        rows = max(1, _MWP_CHUNK_BYTES // max(1, W.shape[1] * W.element_size()))
        g_in = None
        for j in range(0, W.shape[0], rows):
            w = (-W[j:j + rows] if flip else W[j:j + rows]).clamp(min=0)
            gj = g2 if rows >= W.shape[0] else g2[:, j:j + rows]  # a full-range slice is an alias: no vmap rule
            part = (gj / (x2 @ w.T + EB_EPS)) @ w
            g_in = part if g_in is None else g_in + part  # out of place: the rule also runs under vmap
        return (g_in * x2).reshape(x.shape)

    return rule


_EB_LINEAR = (nn.modules.conv._ConvNd, nn.Linear, nn.modules.pooling._AvgPoolNd,
              nn.modules.pooling._AdaptiveAvgPoolNd)


class Composite:
    """A set of rules attached to a model for the duration of a ``with`` block.

    ``rules`` maps a predicate ``(name, module) -> bool`` to a rule factory
    ``(name, module) -> hook-or-None``; the first matching predicate wins. Extra hooks (e.g. capturing
    an output) can be added with :meth:`add_forward_hook` while the block is open; all are removed on
    exit, also on error.
    """

    def __init__(self, model: nn.Module, rules=()):
        self.model = model
        self.rules = list(rules)
        self._handles: list = []

    def add_forward_hook(self, module: nn.Module, hook) -> None:
        self._handles.append(module.register_forward_hook(hook))

    def add_forward_pre_hook(self, module: nn.Module, hook) -> None:
        self._handles.append(module.register_forward_pre_hook(hook))

    def __enter__(self):
        try:
            for name, module in self.model.named_modules():
                if any(True for _ in module.children()):
                    continue
                for predicate, factory in self.rules:
                    if predicate(name, module):
                        factory(self, name, module)
                        break
        except BaseException:
            self.remove()
            raise
        return self

    def remove(self):
        while self._handles:
            self._handles.pop().remove()

    def __exit__(self, *exc):
        self.remove()
        return False


# --------------------------------------------------------------------------- excitation backprop


def excitation_rules(negate: Callable[[nn.Module], bool] | None = None):
    """Rules for excitation backprop: MWP on conv/linear/average-pool layers, identity through batch
    norm (as TorchRay); max-pool and ReLU keep their ordinary gradients.

    ``negate(module) -> bool`` is read at backward time: the contrastive pass flips the classifier's
    weights this way without touching the parameters.
    """

    def eb_factory(comp: Composite, name, module):
        neg = (lambda m=module: negate(m)) if negate is not None else None
        rule = _mwp_linear_rule(module, neg) if isinstance(module, nn.Linear) else \
            _mwp_rule(_positive_forward(module, neg))

        def hook(mod, inputs, output):
            return _SwapBackward.apply(inputs[0], output, rule)

        comp.add_forward_hook(module, hook)

    def bn_factory(comp: Composite, name, module):
        def hook(mod, inputs, output):
            return _SwapBackward.apply(inputs[0], output, lambda x, g: g)

        comp.add_forward_hook(module, hook)

    return [
        (lambda n, m: isinstance(m, _EB_LINEAR), eb_factory),
        (lambda n, m: isinstance(m, nn.modules.batchnorm._BatchNorm), bn_factory),
    ]


# --------------------------------------------------------------------------- guided backprop / deconvnet


def relu_rules(mode: str):
    """ReLU rules: ``"guided"`` passes ``relu(g)`` where the forward input was positive (Springenberg
    et al.); ``"deconvnet"`` passes ``relu(g)`` regardless of the forward input (Zeiler & Fergus).
    In-place ReLUs are handled by cloning their input in a pre-hook, so the rule sees the value
    before the in-place write; reused ReLU modules work since every call is hooked anew."""
    if mode not in ("guided", "deconvnet"):
        raise ValueError(f"mode: expected 'guided' or 'deconvnet', got {mode!r}")

    if mode == "guided":
        def rule(x, g):
            return torch.where(x > 0, g, 0).clamp_(min=0)
    else:
        def rule(x, g):
            return g.clamp(min=0)

    def factory(comp: Composite, name, module):
        saved: list[torch.Tensor] = []

        def pre(mod, inputs):
            x = inputs[0]
            saved.append(x)
            if getattr(mod, "inplace", False):
                return (x.clone(),) + tuple(inputs[1:])
            return None

        def hook(mod, inputs, output):
            x = saved.pop()
            return _SwapBackward.apply(x, output, rule)

        comp.add_forward_pre_hook(module, pre)
        comp.add_forward_hook(module, hook)

    return [(lambda n, m: isinstance(m, nn.ReLU), factory)]


def _pair(v):
    return tuple(v) if isinstance(v, (tuple, list)) else (v, v)


def _strided(module: nn.Module) -> bool:
    """A 2-D conv or (max/avg) pool layer with a stride > 1 along some axis (adaptive pools excluded)."""
    if isinstance(module, nn.Conv2d):
        return max(_pair(module.stride)) > 1
    if isinstance(module, (nn.MaxPool2d, nn.AvgPool2d)):
        stride = module.stride if module.stride is not None else module.kernel_size
        return max(_pair(stride)) > 1
    return False


def _stride_one_size(a: tuple, m: tuple, o: tuple, d: tuple) -> tuple:
    """µ-Lasso eq. (3) with S = 1: B|_{S=1} = A + 2·O − M + 1 (M the dilated kernel extent)."""
    return tuple(ai + 2 * oi - (di * (mi - 1) + 1) + 1 for ai, mi, oi, di in zip(a, m, o, d))


def _stride_fix_rule(module: nn.Module):
    """Backward rule of the µ-Lasso stride fix (Oramas et al. 2019, §3.3, eqs. 2–3) for one strided
    conv/pool layer: the incoming signal [N,C,B,B] is resized (nearest neighbour) to the stride-1
    output size A + 2·O − M + 1, computed from *this layer's own* input size A, then back-projected
    with stride 1 (transposed conv; for a max pool, each value goes to the argmax of its stride-1
    window; for an average pool, spread evenly over the window)."""
    if isinstance(module, nn.modules.conv._ConvNd):
        # a strided conv's string padding can only be 'valid' (PyTorch forbids 'same' with stride > 1)
        pad = (0, 0) if isinstance(module.padding, str) else module.padding
        k, o, d = _pair(module.kernel_size), _pair(pad), _pair(module.dilation)

        def back(x, g1):
            return torch.nn.grad.conv2d_input(x.shape, module.weight.detach(), g1, stride=1,
                                              padding=o, dilation=d, groups=module.groups)
    elif isinstance(module, nn.MaxPool2d):
        k, o, d = _pair(module.kernel_size), _pair(module.padding), _pair(module.dilation)

        def back(x, g1):
            _, idx = F.max_pool2d(x.detach(), k, stride=1, padding=o, dilation=d, return_indices=True)
            n, c = g1.shape[:2]
            out = g1.new_zeros(n, c, x.shape[-2] * x.shape[-1])
            out.scatter_add_(2, idx.reshape(n, c, -1), g1.reshape(n, c, -1))
            return out.reshape(x.shape)
    else:  # AvgPool2d
        k, o, d = _pair(module.kernel_size), _pair(module.padding), (1, 1)

        def back(x, g1):
            with torch.enable_grad():
                xd = x.detach().requires_grad_(True)
                z = F.avg_pool2d(xd, k, stride=1, padding=o, count_include_pad=module.count_include_pad,
                                 divisor_override=module.divisor_override)
                (gx,) = torch.autograd.grad(z, xd, g1)
            return gx

    def rule(x, grad):
        size = _stride_one_size(tuple(x.shape[-2:]), k, o, d)
        g1 = F.interpolate(grad, size=size, mode="nearest")
        return back(x, g1)

    return rule


def stride_fix_rules():
    """Rules for ``fix_stride=True`` (deconvnet / guided backprop): every strided 2-D conv, max pool
    and average pool back-projects with stride 1 after a nearest-neighbour resize of its incoming
    signal (see :func:`_stride_fix_rule`). Layers without a stride > 1 keep their backward pass, so
    on a network without strided layers the result equals the plain method."""

    def factory(comp: Composite, name, module):
        rule = _stride_fix_rule(module)

        def hook(mod, inputs, output):
            return _SwapBackward.apply(inputs[0], output, rule)

        comp.add_forward_hook(module, hook)

    return [(lambda n, m: _strided(m), factory)]
