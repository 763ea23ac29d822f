"""``xnb.attribute``: heatmaps for an output class or an internal unit, on Captum.

Where Captum has the method it does the work (Saliency, InputXGradient, IntegratedGradients,
GuidedBackprop, Deconvolution, LayerGradCam, LRP and the Neuron* variants); :mod:`xnb.rules` adds
what Captum lacks: excitation backprop (MWP) and contrastive excitation backprop (c-MWP), the backward
signal read at an internal layer (``saliency_layer=``) and the stride fix of deconvnet/guided
backprop (``fix_stride=True``, see :mod:`xnb.rules`).

Batched unit heatmaps: ``channel=[c1, ..., ck]`` (or ``neuron=[...]``) repeats each image k times in
one batch and selects a different unit per row, so all k maps come from one forward and one backward
pass; they equal the one-at-a-time maps.
"""
from __future__ import annotations

import numbers
import warnings
import weakref

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from ._check import check_float, check_images, check_int, model_device
from .layers import capture, count_calls, get_layer, has_inplace, layers as _layers, reading_hook, resolve_call
from .rules import Composite, excitation_rules, relu_rules

__all__ = ["attribute", "METHODS", "explained_score"]

#: method name -> one-line description
METHODS: dict[str, str] = {
    "saliency": "gradient of the score w.r.t. the input (Simonyan et al. 2014); Captum Saliency",
    "input_x_gradient": "input × gradient; Captum InputXGradient",
    "integrated_gradients": "integrated gradients (Sundararajan et al. 2017); Captum IntegratedGradients",
    "guided_backprop": "guided backpropagation (Springenberg et al. 2015); Captum GuidedBackprop",
    "deconvnet": "deconvnet (Zeiler & Fergus 2014); Captum Deconvolution",
    "gradcam": "Grad-CAM (Selvaraju et al. 2017) at a conv layer; Captum LayerGradCam",
    "lrp": "layer-wise relevance propagation (Bach et al. 2015); Captum LRP",
    "smoothgrad": "SmoothGrad (Smilkov et al. 2017): saliency averaged over noisy copies; Captum NoiseTunnel(Saliency)",
    "occlusion": "occlusion (Zeiler & Fergus 2014): the score's drop when a sliding patch is greyed out; Captum "
                 "Occlusion",
    "excitation_backprop": "marginal winning probability (Zhang et al. 2016)",
    "contrastive_excitation_backprop": "contrastive marginal winning probability, c-MWP (Zhang et al. 2016)",
    "semantic_guided_backprop": "guided backprop keeping only the target's SeVec units at one layer "
                                "(SeVec paper §5.1)",
    "semantic_input_x_gradient": "input × gradient keeping only the target's SeVec units at one layer "
                                 "(SeVec paper §5.1)",
}

# How the raw input-space signal [C,H,W] becomes a heatmap [H,W] by default.
_DEFAULT_REDUCE = {
    "saliency": "max_abs",
    "input_x_gradient": "sum",
    "integrated_gradients": "sum",
    "smoothgrad": "max_abs",
    "occlusion": "sum",
    "guided_backprop": "l2",
    "deconvnet": "l2",
    "gradcam": "sum",
    "lrp": "sum",
    "excitation_backprop": "sum",
    "contrastive_excitation_backprop": "pos_sum",
    "semantic_guided_backprop": "l2",
    "semantic_input_x_gradient": "sum",
}
_REDUCE = ("sum", "pos_sum", "abs_sum", "max_abs", "l2", "pos_l2")

_COMMON_OPTIONS = {"raw", "resize", "saliency_layer", "reduce", "batch_size", "channel_score",
                   "fix_stride", "call"}
_METHOD_OPTIONS = {
    "integrated_gradients": {"baselines", "n_steps", "internal_batch_size"},
    "smoothgrad": {"nt_samples", "stdevs", "nt_type", "seed"},
    "occlusion": {"window", "stride", "baselines", "perturbations_per_eval"},
    "lrp": {"rule", "epsilon"},
    "contrastive_excitation_backprop": {"contrast_layer", "classifier_layer"},
    "gradcam": {"relu"},
    "semantic_guided_backprop": {"sevec", "sevec_layer", "threshold", "class_to_concept"},
    "semantic_input_x_gradient": {"sevec", "sevec_layer", "threshold", "class_to_concept"},
}


# --------------------------------------------------------------------------- selection of what is explained


class _Selection:
    """What each row of the (repeated) batch explains: a class (``kind="target"``) or a unit of
    ``layer`` (``kind="channel"``/``"neuron"``); ``index`` has one entry per row."""

    def __init__(self, kind: str, index: list, layer: str | None, module: nn.Module | None,
                 channel_score: str = "sum", call: int = 0, reused: bool = False):
        self.kind = kind
        self.index = index
        self.layer = layer
        self.module = module
        self.channel_score = channel_score
        self.call = call  # which call of a reused layer is explained (0-based; xnb.layers' rule)
        self.reused = reused

    def rows(self, index: list) -> "_Selection":
        """The same selection for a slice of the rows."""
        return _Selection(self.kind, index, self.layer, self.module, self.channel_score, self.call, self.reused)

    def score(self, out: torch.Tensor) -> torch.Tensor:
        """Per-row scalar from the model output (targets) or the layer output (units): [R]."""
        rows = out.shape[0]
        b = len(self.index)
        # Captum's IG evaluates the batch several times over (step-major): row r explains index[r % b].
        r = torch.arange(rows, device=out.device) % b
        if self.kind == "target":
            if out.ndim != 2:
                out = out.reshape(rows, -1)
            t = torch.as_tensor(self.index, device=out.device)[r]
            return out[torch.arange(rows, device=out.device), t]
        if self.kind == "channel":
            c = torch.as_tensor(self.index, device=out.device)[r]
            a = out[torch.arange(rows, device=out.device), c]
            a = a.reshape(rows, -1)
            if self.channel_score == "energy":
                return 0.5 * (a * a).sum(1)  # gradient seed = the activation map itself (Zeiler)
            return a.sum(1)
        # neuron
        idx = torch.as_tensor(self.index, device=out.device)  # [b, d]
        flat = out.reshape(rows, -1)
        lin = torch.as_tensor(np.ravel_multi_index(idx.T.cpu().numpy(), tuple(out.shape[1:])),
                              device=out.device)[r]
        return flat[torch.arange(rows, device=out.device), lin]


def explained_score(model, x, target=None, layer=None, channel=None, neuron=None,
                    channel_score: str = "sum", call: int | None = None) -> torch.Tensor:
    """The scalar(s) :func:`attribute` explains, evaluated on ``x`` ([N] or [N,k]): a class logit or a
    unit's value (a whole channel's sum) at the layer's last call (or ``call=``). Useful to check
    completeness (e.g. LRP, IG)."""
    x = check_images(x)
    sel, n, k, many = _make_selection(model, x, target, layer, channel, neuron, channel_score, call)
    xr = x.to(model_device(model)).repeat_interleave(k, 0) if k > 1 else x.to(model_device(model))
    with torch.no_grad():
        if sel.kind == "target":
            out = model(xr)
        else:
            with capture(model, sel.layer, call=sel.call) as cap:
                model(xr)
            out = cap[sel.layer]
        s = sel.score(out)
    return s.reshape(n, k) if many else s


def _as_index_list(value, name: str, n: int) -> list:
    if isinstance(value, torch.Tensor):
        value = value.tolist()
    if isinstance(value, np.ndarray):
        value = value.tolist()
    if isinstance(value, (numbers.Integral, np.integer)) and not isinstance(value, bool):
        return [int(value)] * n
    if isinstance(value, (list, tuple)) and len(value) == n and all(
            isinstance(v, (numbers.Integral, np.integer)) and not isinstance(v, bool) for v in value):
        return [int(v) for v in value]
    raise TypeError(f"{name}: expected an int or a sequence of {n} ints (one per image), got {value!r}")


def _make_selection(model, x, target, layer, channel, neuron, channel_score, call=None):
    """Returns (selection over the repeated batch, N, k units per image, whether a list was given)."""
    n = x.shape[0]
    if channel_score not in ("sum", "energy"):
        raise ValueError(f"channel_score: unknown value {channel_score!r}; allowed: 'sum', 'energy'")
    if layer is None:
        if channel is not None or neuron is not None:
            raise ValueError("layer: channel= and neuron= need layer= (the layer the unit belongs to)")
        if call is not None:
            raise ValueError("call: picks the call of a reused layer= and needs layer=")
        if target is None:
            with torch.no_grad():
                target = model(x.to(model_device(model))).argmax(1).tolist()
        t = _as_index_list(target, "target", n)
        n_out = _output_size(model, x)
        bad = [v for v in t if not 0 <= v < n_out]
        if bad:
            raise ValueError(f"target: {bad[0]} is out of range; the model has {n_out} outputs "
                             f"(0..{n_out - 1})")
        return _Selection("target", t, None, None), n, 1, False
    if target is not None:
        raise ValueError("target: give either target= (an output class) or layer= with channel=/neuron= "
                         "(an internal unit), not both")
    name, module = get_layer(model, layer)
    if (channel is None) == (neuron is None):
        raise ValueError("channel, neuron: with layer= give exactly one of channel= (a whole channel) or "
                         "neuron= (one unit, e.g. (c, h, w) or an FC unit index)")
    xd = x.to(model_device(model))
    call = resolve_call(model, name, xd, call)
    reused = count_calls(model, name, xd) > 1
    shape = _layer_shape(model, name, x, call)
    if channel is not None:
        chans = channel.tolist() if isinstance(channel, (torch.Tensor, np.ndarray)) else channel
        many = isinstance(chans, (list, tuple))
        chans = list(chans) if many else [chans]
        if not chans:
            raise ValueError("channel: empty list")
        for c in chans:
            check_int(c, "channel")
            if not 0 <= int(c) < shape[0]:
                raise ValueError(f"channel: {c} is out of range; layer {name!r} has {shape[0]} channels "
                                 f"(0..{shape[0] - 1})")
        k = len(chans)
        index = [int(c) for _ in range(n) for c in chans]
        return _Selection("channel", index, name, module, channel_score, call, reused), n, k, many
    # neuron
    many = isinstance(neuron, list) or (isinstance(neuron, (torch.Tensor, np.ndarray)) and np.ndim(neuron) == 2)
    items = list(neuron.tolist() if isinstance(neuron, (torch.Tensor, np.ndarray)) else neuron) if many \
        else [neuron]
    norm = []
    for u in items:
        u = (u,) if isinstance(u, (numbers.Integral, np.integer)) else tuple(u)
        if len(u) != len(shape):
            raise ValueError(f"neuron: index {u} has {len(u)} entries but layer {name!r} outputs shape "
                             f"{tuple(shape)} (give one index per dimension)")
        for i, (v, s) in enumerate(zip(u, shape)):
            check_int(v, "neuron")
            if not 0 <= int(v) < s:
                raise ValueError(f"neuron: index {u} is out of range for layer {name!r} with output shape "
                                 f"{tuple(shape)}")
        norm.append(tuple(int(v) for v in u))
    k = len(norm)
    index = [u for _ in range(n) for u in norm]
    return _Selection("neuron", index, name, module, "sum", call, reused), n, k, many


def _output_size(model, x) -> int:
    key = ("out", tuple(x.shape[1:]))
    cache = _shape_cache(model)
    if key not in cache:
        with torch.no_grad():
            cache[key] = int(np.prod(model(x[:1].to(model_device(model))).shape[1:]))
    return cache[key]


def _layer_shape(model, name, x, call: int | None = None) -> tuple:
    key = (name, tuple(x.shape[1:]), call)
    cache = _shape_cache(model)
    if key not in cache:
        with capture(model, name, detach=True, call=call) as cap, torch.no_grad():
            model(x[:1].to(model_device(model)))
        if name not in cap:
            raise ValueError(f"layer: {name!r} is not called in the model's forward pass")
        cache[key] = tuple(cap[name].shape[1:])
    return cache[key]


# Shapes per (model, input shape), kept outside the model so the model is not changed.
_SHAPES: "weakref.WeakKeyDictionary[nn.Module, dict]" = weakref.WeakKeyDictionary()


def _shape_cache(model) -> dict:
    return _SHAPES.setdefault(model, {})


# --------------------------------------------------------------------------- model state guard


class _Guard:
    """Eval mode and no parameter gradients during a call; everything restored afterwards."""

    def __init__(self, model: nn.Module):
        self.model = model

    def __enter__(self):
        self.modes = [(m, m.training) for m in self.model.modules() if m.training]
        self.params = [p for p in self.model.parameters() if p.requires_grad]
        for m, _ in self.modes:  # only what is in training mode (a model in eval mode costs nothing)
            m.training = False
        for p in self.params:
            p.requires_grad_(False)
        return self

    def __exit__(self, *exc):
        for p in self.params:
            p.requires_grad_(True)
        for m, mode in self.modes:
            m.training = mode
        return False


class _ScoreHead(nn.Module):
    """Wraps a model so its output is the per-row explained scalar [R, 1] (used for Captum classes that
    explain a model output: LRP and Grad-CAM of internal units)."""

    def __init__(self, model: nn.Module, sel: _Selection):
        super().__init__()
        self.model = model
        self.sel = sel

    def forward(self, x):
        if self.sel.kind == "target":
            return self.sel.score(self.model(x)).unsqueeze(1)
        with capture(self.model, self.sel.layer, call=self.sel.call) as cap:
            self.model(x)
        return self.sel.score(cap[self.sel.layer]).unsqueeze(1)


# --------------------------------------------------------------------------- the methods


def _captum_input_signal(method, model, x, sel: _Selection, opts) -> torch.Tensor:
    """Input-space signal [R,C,H,W] through Captum."""
    from captum import attr as ca

    unit = sel.kind != "target"
    target = None if unit else sel.index
    selector = sel.score  # Captum's neuron_selector may be a callable on the layer output
    if unit and sel.reused and method in ("saliency", "input_x_gradient", "integrated_gradients",
                                          "guided_backprop", "deconvnet"):
        # a reused module: Captum's Neuron* classes hook every call; explain the chosen call through a
        # head whose output is the unit's score (same gradients, xnb's reading rule)
        head = _ScoreHead(model, sel)
        cls = {"saliency": ca.Saliency, "input_x_gradient": ca.InputXGradient,
               "integrated_gradients": ca.IntegratedGradients, "guided_backprop": ca.GuidedBackprop,
               "deconvnet": ca.Deconvolution}[method]
        kw = dict(abs=False) if method == "saliency" else {}
        if method == "integrated_gradients":
            kw = dict(baselines=opts.get("baselines", None), n_steps=opts.get("n_steps", 32),
                      internal_batch_size=opts.get("internal_batch_size", None))
        return cls(head).attribute(x, target=0, **kw)
    if method in ("saliency", "input_x_gradient"):
        if unit:
            g = ca.NeuronGradient(model, sel.module).attribute(x, neuron_selector=selector)
            return g * x if method == "input_x_gradient" else g
        if method == "saliency":
            return ca.Saliency(model).attribute(x, target=target, abs=False)
        return ca.InputXGradient(model).attribute(x, target=target)
    if method == "integrated_gradients":
        kw = dict(baselines=opts.get("baselines", None), n_steps=opts.get("n_steps", 32),
                  internal_batch_size=opts.get("internal_batch_size", None))
        if unit:
            return ca.NeuronIntegratedGradients(model, sel.module).attribute(x, neuron_selector=selector, **kw)
        return ca.IntegratedGradients(model).attribute(x, target=target, **kw)
    if method == "guided_backprop":
        if unit:
            return ca.NeuronGuidedBackprop(model, sel.module).attribute(x, neuron_selector=selector)
        return ca.GuidedBackprop(model).attribute(x, target=target)
    if method == "deconvnet":
        if unit:
            return ca.NeuronDeconvolution(model, sel.module).attribute(x, neuron_selector=selector)
        return ca.Deconvolution(model).attribute(x, target=target)
    if method == "lrp":
        return _captum_lrp(model, x, sel, opts, layer=None)
    if method in ("smoothgrad", "occlusion"):
        if unit:
            raise ValueError(f"method: {method!r} explains output classes (target=); for an internal unit "
                             f"use 'saliency' or 'guided_backprop' with layer=")
        if method == "smoothgrad":
            # σ as a fraction of the input range (Smilkov et al.: 10-20 % works best)
            stdevs = check_float(opts.get("stdevs", 0.15), "stdevs", 0.0, None) * float(x.max() - x.min())
            nt_type = opts.get("nt_type", "smoothgrad")
            if nt_type not in ("smoothgrad", "smoothgrad_sq", "vargrad"):
                raise ValueError(f"nt_type: unknown value {nt_type!r}; allowed: smoothgrad, smoothgrad_sq, vargrad")
            n_samples = check_int(opts.get("nt_samples", 16), "nt_samples", minimum=1)
            with torch.random.fork_rng(devices=[x.device] if x.is_cuda else []):
                torch.manual_seed(check_int(opts.get("seed", 0), "seed", minimum=0))  # the noise, by seed
                return ca.NoiseTunnel(ca.Saliency(model)).attribute(
                    x, target=target, nt_type=nt_type, nt_samples=n_samples, stdevs=stdevs, abs=False)
        side = min(x.shape[-2:])
        window = check_int(opts.get("window", max(2, side // 8)), "window", minimum=1, maximum=side)
        stride = check_int(opts.get("stride", max(1, window // 2)), "stride", minimum=1, maximum=side)
        # several window positions per forward pass (the same maps, far fewer calls on small models)
        per_eval = opts.get("perturbations_per_eval")
        per_eval = (max(1, 256 // len(x)) if per_eval is None
                    else check_int(per_eval, "perturbations_per_eval", minimum=1))
        return ca.Occlusion(model).attribute(
            x, target=target, sliding_window_shapes=(x.shape[1], window, window), strides=(x.shape[1], stride, stride),
            baselines=opts.get("baselines", 0.0), perturbations_per_eval=per_eval)
    raise AssertionError(method)


def _lrp_rules(root: nn.Module, rule: str, epsilon: float):
    """Rules for Captum's LRP: Flatten (which Captum has no default for) passes relevance unchanged;
    ``rule="alpha1beta0"`` puts Alpha1_Beta0 without bias on conv/linear layers (= MWP per layer)."""
    from captum.attr._utils import lrp_rules as R

    class _Reshape(R.PropagationRule):
        """Relevance passes a reshape unchanged (Captum's IdentityRule breaks on Flatten: it hands
        back the output-shaped relevance as the input's)."""

        def forward_hook(self, module, inputs, outputs):
            return None

        def forward_hook_weights(self, module, inputs, outputs):
            return None

        def forward_pre_hook_activations(self, module, inputs):
            return None

        def _manipulate_weights(self, module, inputs, outputs):
            return None

    added = []
    for m in root.modules():
        if any(True for _ in m.children()) or hasattr(m, "rule"):
            continue
        if isinstance(m, (nn.Flatten, nn.Identity)):
            m.rule = _Reshape()
        elif rule == "alpha1beta0" and isinstance(m, (nn.Conv2d, nn.Linear)):
            m.rule = R.Alpha1_Beta0_Rule(set_bias_to_zero=True)
        elif rule == "epsilon" and isinstance(m, (nn.Conv2d, nn.Linear)) and epsilon != 1e-9:
            m.rule = R.EpsilonRule(epsilon=epsilon)
        else:
            continue
        added.append(m)
    return added


# Per model: the first tensor-tensor merge (residual add, gating multiply, concat) found by torch.fx, or "".
_MERGES: "weakref.WeakKeyDictionary[nn.Module, str]" = weakref.WeakKeyDictionary()


def _lrp_merge(model: nn.Module) -> str:
    """Where ``model`` combines two tensors (``out += identity`` in a ResNet block, the
    squeeze-excitation product in MobileNet, a concat), as "module path (op)"; "" when its graph is a
    chain of layers, or when torch.fx cannot trace it. LRP rules exist for layers, not for these merges:
    Captum's LRP passes relevance through them as a plain gradient and loses conservation (a ResNet-18
    logit of 4.9 came back as a relevance sum of -5e10)."""
    if model in _MERGES:
        return _MERGES[model]
    import operator

    import torch.fx as fx

    ops = {operator.add, operator.iadd, operator.mul, operator.imul, operator.sub, torch.add, torch.mul,
           torch.cat, torch.stack, "add", "add_", "mul", "mul_", "sub"}
    found = ""
    try:
        graph = fx.symbolic_trace(model).graph
    except Exception:  # not traceable (data-dependent control flow): the conservation check still applies
        graph = None
    for node in (graph.nodes if graph is not None else ()):
        if node.op in ("call_function", "call_method") and node.target in ops and \
                sum(isinstance(a, fx.Node) for a in node.args) >= 2:
            stack = node.meta.get("nn_module_stack") or {}
            path = next(reversed(stack.values()))[0] if stack else "the model's forward"
            kind = next(reversed(stack.values()))[1].__name__ if stack else ""
            found = f"{path}{f' ({kind})' if kind else ''}: {node.name}"
            break
    _MERGES[model] = found
    return found


def _captum_lrp(model, x, sel, opts, layer):
    from captum import attr as ca

    rule = opts.get("rule", "epsilon")
    if rule not in ("epsilon", "alpha1beta0"):
        raise ValueError(f"rule: unknown LRP rule {rule!r}; allowed: 'epsilon', 'alpha1beta0'")
    merge = _lrp_merge(model)
    if merge:
        raise ValueError(f"method: 'lrp' has no rule for the merge of two tensors at {merge} (residual "
                         f"blocks, squeeze-excitation and concatenations are not layers Captum's LRP can "
                         f"propagate through; the relevance would not be conserved). Use LRP on a chain of "
                         f"layers (VGG, AlexNet), or another method such as 'excitation_backprop' or "
                         f"'integrated_gradients'.")
    head = _ScoreHead(model, sel)
    had_rule = {m for m in model.modules() if hasattr(m, "rule")}
    had_acts = {m for m in model.modules() if hasattr(m, "activations")}
    had_act = {m for m in model.modules() if hasattr(m, "activation")}
    _lrp_rules(model, rule, float(opts.get("epsilon", 1e-9)))
    try:
        if layer is None:
            return ca.LRP(head).attribute(x, target=0)
        return ca.LayerLRP(head, layer).attribute(x, target=0)
    except TypeError as exc:
        raise ValueError(f"method: 'lrp' cannot handle this model: {exc}. Captum's LRP supports "
                         f"Conv2d, Linear, pooling, BatchNorm2d, ReLU, Dropout and Tanh layers only.") from None
    finally:
        # on every path (Captum raises before its own clean-up when a layer has no rule): no `rule`,
        # `activations` or `activation` attribute that was not there before is left on the model
        for m in model.modules():
            for attr_name, had in (("rule", had_rule), ("activations", had_acts), ("activation", had_act)):
                if m not in had and attr_name in m.__dict__:
                    delattr(m, attr_name)


def _rules_for(method: str, opts, negate=None) -> list:
    """The backward rules a method needs in xnb's engine (none for a plain gradient)."""
    rules = []
    if method in ("excitation_backprop", "contrastive_excitation_backprop"):
        rules = excitation_rules(negate=negate)
    elif method in ("guided_backprop", "deconvnet", "semantic_guided_backprop"):
        rules = relu_rules("deconvnet" if method == "deconvnet" else "guided")
    if opts.get("fix_stride"):
        from .rules import stride_fix_rules
        rules = stride_fix_rules() + rules
    return rules


def _rule_signal(method, model, x, sel: _Selection, opts, read_at: str | None):
    """Backward signal [R, ...] at the input (``read_at=None``) or at layer ``read_at``'s output, with
    xnb's rules (excitation backprop, guided backprop, deconvnet, plain gradient)."""
    flip = {"on": False}  # the contrastive pass flips the classifier's weights at backward time
    classifier = opts.get("_classifier_module")
    rules = _rules_for(method, opts, (lambda m: flip["on"] and m is classifier) if classifier else None)

    x = x.detach().requires_grad_(True)
    held: dict[str, torch.Tensor] = {}
    clone = has_inplace(model)
    # which call of each read layer (xnb.layers' rule: the chosen, default last, call) -- counted before
    # any hook is in place, since counting runs a forward pass
    calls = {name: resolve_call(model, name, x) for name in (read_at, opts.get("_contrast_layer")) if name}
    with Composite(model, rules) as comp:
        def keep(key, name, call=None):
            # the value before any later in-place op
            return reading_hook(lambda out: held.__setitem__(key, out),
                                call if call is not None else calls[name], clone=clone)

        if read_at is not None:
            comp.add_forward_hook(get_layer(model, read_at)[1], keep("saliency", read_at))
        if sel.kind != "target":
            comp.add_forward_hook(sel.module, keep("unit", sel.layer, sel.call))
        contrast_name = opts.get("_contrast_layer")
        if contrast_name is not None:
            comp.add_forward_hook(get_layer(model, contrast_name)[1], keep("contrast", contrast_name))
        masks = opts.get("_sevec_masks")
        if masks is not None:  # semantic suppression: R^l = R^{l+1} · 1[V_target > threshold] (SeVec §5.1)
            which = torch.as_tensor(sel.index, device=masks.device)
            if opts.get("_sevec_rows") is not None:  # class -> concept row (the last row: no concept)
                which = opts["_sevec_rows"].to(masks.device)[which]
            rows = masks[which] if masks.shape[0] > 1 else masks

            def suppress(mod, inputs, output):
                # one SeVec for every row broadcasts over the batch (a [1, ...] mask)
                output.register_hook(lambda g: g * rows.to(g.dtype).reshape(-1, *g.shape[1:]))

            comp.add_forward_hook(get_layer(model, opts["_sevec_layer"])[1], suppress)
        out = model(x)
        score = sel.score(out if sel.kind == "target" else held["unit"]).sum()
        wrt = held["saliency"] if read_at is not None else x
        if method == "contrastive_excitation_backprop":
            c = held["contrast"]
            flip["on"] = True
            (dual,) = torch.autograd.grad(score, c, retain_graph=True)
            flip["on"] = False
            handle = c.register_hook(lambda g: g - dual)
            try:
                (sig,) = torch.autograd.grad(score, wrt)
            finally:
                handle.remove()
        else:
            (sig,) = torch.autograd.grad(score, wrt)
        if method in ("input_x_gradient", "semantic_input_x_gradient"):
            sig = sig * wrt.detach()
    return sig.detach()


def _sevec_masks(model, x, sevec, layer, threshold, n_out: int, class_to_concept=None):
    """(bool masks [C or 1, *layer shape], class -> row map or None): the units whose relative SeVec
    v_c / max(v_c) exceeds ``threshold``. (The paper writes 1[V > 0.5]; a unit-norm SeVec over thousands of
    units has no entry near 0.5, so the threshold is read on the SeVec scaled to a maximum of 1 —
    documented choice.) With ``class_to_concept`` ({output class: concept name or row}), the SeVecs are
    those of C concepts and the map [n_out] sends each class to its concept's row; classes without a
    concept go to an extra all-False row (every unit suppressed: a zero map)."""
    from ._check import check_float

    if sevec is None or layer is None:
        raise ValueError("sevec, sevec_layer: semantic methods need sevec= (a fitted xnb.sevec.SeVec, or "
                         "SeVecs [C, n] / [n]) and sevec_layer= (the layer they were fitted on)")
    threshold = check_float(threshold, "threshold", 0.0, 1.0)
    vectors = getattr(sevec, "vectors_", sevec)
    if not isinstance(vectors, torch.Tensor):
        vectors = torch.as_tensor(np.asarray(vectors), dtype=torch.float32)
    if vectors.ndim == 1:
        vectors = vectors[None]
    if vectors.ndim != 2:
        raise ValueError(f"sevec: expected SeVecs of shape [C, n] or [n], got {tuple(vectors.shape)}")
    if not torch.isfinite(vectors).all():
        raise ValueError("sevec: contains NaN or inf")
    shape = _layer_shape(model, layer, x)
    n = int(np.prod(shape))
    if vectors.shape[1] != n:
        raise ValueError(f"sevec: SeVecs have {vectors.shape[1]} entries but layer {layer!r} has {n} units "
                         f"(output shape {tuple(shape)}); fit them on that layer's features")
    rows = None
    if class_to_concept is not None:
        from collections.abc import Mapping

        if not isinstance(class_to_concept, Mapping):
            raise TypeError(f"class_to_concept: expected a mapping {{output class: concept}}, got "
                            f"{type(class_to_concept).__name__}")
        names = list(getattr(sevec, "concept_names_", None) or [])
        rows = torch.full((n_out,), vectors.shape[0], dtype=torch.long)   # default: the all-False row
        for k, c in class_to_concept.items():
            k = check_int(k, "class_to_concept", 0, n_out - 1)
            if isinstance(c, str):
                if c not in names:
                    raise ValueError(f"class_to_concept: unknown concept {c!r} for class {k}; the SeVec's "
                                     f"concepts: {', '.join(names) or '(none: give row indices)'}")
                rows[k] = names.index(c)
            else:
                rows[k] = check_int(c, "class_to_concept", 0, vectors.shape[0] - 1)
        vectors = torch.cat([vectors, torch.zeros(1, vectors.shape[1], dtype=vectors.dtype)])
    elif vectors.shape[0] not in (1, n_out):
        raise ValueError(f"sevec: {vectors.shape[0]} SeVecs for a model with {n_out} outputs (give one per "
                         f"class, one for all, or class_to_concept={{class: concept}})")
    rel = vectors / vectors.max(dim=1, keepdim=True).values.clamp_min(1e-12)
    return (rel > threshold).reshape(vectors.shape[0], *shape).to(model_device(model)), rows


#: methods whose backward for k unit seeds is batched with vmap after one forward pass
_VMAP_METHODS = ("saliency", "input_x_gradient", "guided_backprop", "deconvnet", "excitation_backprop")


from .layers import _StopForward  # noqa: E402  (raised by reading_hook(stop=True))


def _rule_signal_units(method, model, x, sel: _Selection, k: int, opts, read_at: str | None):
    """Signals for k units per image ([N*k, ...], image-major) from one forward pass over the N images
    and one vmapped backward pass with the k seeds (the gradients of each unit's score)."""
    rules = _rules_for(method, opts)
    x = x.detach().requires_grad_(True)
    held: dict[str, torch.Tensor] = {}
    read_call = resolve_call(model, read_at, x) if read_at is not None else None  # before any hook
    with Composite(model, rules) as comp:
        if read_at is not None:
            comp.add_forward_hook(get_layer(model, read_at)[1], reading_hook(
                lambda out: held.__setitem__("saliency", out), read_call))
        # the forward pass ends at the explained call (xnb.layers' rule: the last one unless call=)
        comp.add_forward_hook(sel.module, reading_hook(lambda out: held.__setitem__("unit", out), sel.call,
                                                       stop=True))
        try:
            model(x)
        except _StopForward:
            pass
        a = held["unit"]
        # seeds: d score_j / d a for each of the k units (ones, one-hots or the activation itself)
        a_rep = a.detach().repeat_interleave(k, 0).requires_grad_(True)
        with torch.enable_grad():
            (seeds,) = torch.autograd.grad(sel.score(a_rep).sum(), a_rep)
        seeds = seeds.reshape(x.shape[0], k, *a.shape[1:]).transpose(0, 1).contiguous()
        wrt = held["saliency"] if read_at is not None else x
        (sig,) = torch.autograd.grad(a, wrt, seeds, is_grads_batched=True)  # [k, N, ...]
        sig = sig.transpose(0, 1)
        if method == "input_x_gradient":
            sig = sig * wrt.detach().unsqueeze(1)
    return sig.reshape(-1, *sig.shape[2:]).detach()


def _gradcam(model, x, sel, opts, layer_name):
    from captum import attr as ca

    module = get_layer(model, layer_name)[1]
    relu = bool(opts.get("relu", True))
    if sel.kind == "target":
        return ca.LayerGradCam(model, module).attribute(x, target=sel.index, relu_attributions=relu)
    head = _ScoreHead(model, sel)
    return ca.LayerGradCam(head, module).attribute(x, target=0, relu_attributions=relu)


def _default_gradcam_layer(model, unit_layer: str | None) -> str:
    """The last conv layer (for a unit: the last one at or before the unit's layer)."""
    infos = _layers(model)
    if unit_layer is not None:
        names = [i.name for i in infos]
        if unit_layer in names:
            infos = infos[:names.index(unit_layer) + 1]
    convs = [i.name for i in infos if i.kind == "conv"]
    if not convs:
        raise ValueError("method: 'gradcam' needs a conv layer (at or before the explained unit); "
                         "this model has none")
    return convs[-1]


def _default_contrast(model) -> tuple[str, str]:
    """(contrast layer, classifier layer): the input of the last linear layer, as relu7 is for VGG16."""
    named = [(n, m) for n, m in model.named_modules() if n and not any(True for _ in m.children())]
    lin = [i for i, (n, m) in enumerate(named) if isinstance(m, (nn.Linear, nn.modules.conv._ConvNd))]
    if not lin:
        raise ValueError("method: contrastive excitation backprop needs a final linear/conv layer")
    last = lin[-1]
    for j in range(last - 1, -1, -1):  # skip dropout/flatten/identity back to the producing layer
        n, m = named[j]
        if not isinstance(m, (nn.Dropout, nn.Flatten, nn.Identity)):
            return n, named[last][0]
    raise ValueError("method: could not find a contrast layer before the classifier; pass contrast_layer=")


def _reduce(sig: torch.Tensor, how: str) -> torch.Tensor:
    """[R,C,H,W] -> [R,H,W]."""
    if how == "sum":
        return sig.sum(1)
    if how == "pos_sum":
        return sig.sum(1).clamp(min=0)
    if how == "abs_sum":
        return sig.abs().sum(1)
    if how == "max_abs":
        return sig.abs().amax(1)
    if how == "l2":  # (sum of squares).sqrt(): torch.linalg's norm is ~10x slower on small maps
        return (sig * sig).sum(1).sqrt()
    if how == "pos_l2":
        pos = sig.clamp(min=0)
        return (pos * pos).sum(1).sqrt()
    raise AssertionError(how)


def attribute(model: nn.Module, x: torch.Tensor, method: str, target=None, layer=None, channel=None,
              neuron=None, **options) -> torch.Tensor:
    """Heatmaps explaining an output class or an internal unit.

    Parameters
    ----------
    model : the network (left exactly as it was: parameters, buffers, hooks, ``training`` flag).
    x : images [N,C,H,W] (or one [C,H,W]); moved to the model's device; output stays there.
    method : one of :data:`METHODS`.
    target : output class per image (int or N ints); default: the predicted class.
    layer, channel, neuron : explain an internal unit instead: ``layer`` plus a whole ``channel`` (int,
        or a list for k maps at once) or one ``neuron`` (an index tuple like (c, h, w), an FC unit's int,
        or a list of them).
    **options :
        ``raw=False`` — return the raw signed signal ([N,C,H,W] at the input, or at ``saliency_layer``)
        instead of a heatmap; ``resize=True`` — upsample maps read at a layer to the input size
        (bilinear); ``saliency_layer=None`` — read the backward signal at this layer's output (channel
        sum) instead of at the input, e.g. ``"pool4"`` (for ``gradcam`` it is the Grad-CAM layer,
        default: the last conv); ``reduce=`` — how channels become a map: one of ``"sum"``,
        ``"pos_sum"``, ``"abs_sum"``, ``"max_abs"``, ``"l2"``, ``"pos_l2"`` (default per method);
        ``batch_size=None`` — rows per backward pass; ``channel_score="sum"`` — a channel's score is the
        sum of its map (Captum's convention) or ``"energy"``, ½‖map‖², whose gradient seed is the
        activation map itself (Zeiler & Fergus); ``fix_stride=False`` — the µ-Lasso stride fix
        (deconvnet / guided_backprop); ``call=None`` — which call of a reused ``layer`` is explained
        (default: the last; the value before any later in-place op — the rule of :mod:`xnb.layers`).
        integrated_gradients: ``baselines``, ``n_steps=32``, ``internal_batch_size``.
        smoothgrad (classes only): ``nt_samples=16`` noisy copies, ``stdevs=0.15`` (noise sd as a fraction
        of the input's range), ``nt_type="smoothgrad"`` (or ``"smoothgrad_sq"``, ``"vargrad"``), ``seed=0``
        (the noise is drawn from this seed; the global random state is left alone).
        occlusion (classes only): ``window`` (square patch side, default 1/8 of the image), ``stride``
        (default half the window), ``baselines=0.0`` (the fill value), ``perturbations_per_eval``
        (window positions per forward pass; default ``256 // N``: the maps are the same, the calls fewer).
        lrp: ``rule="epsilon"`` or ``"alpha1beta0"``, ``epsilon``.
        gradcam: ``relu=True``.
        contrastive_excitation_backprop: ``contrast_layer=`` (default: the input of the last linear layer,
        e.g. ``relu7``), ``classifier_layer=`` (default: the last linear layer).
        semantic_guided_backprop / semantic_input_x_gradient: ``sevec=`` (a fitted ``xnb.sevec.SeVec`` or
        SeVecs [C, n]: one per output class, or one for all), ``sevec_layer=`` (the layer they were fitted
        on), ``threshold=0.5``, ``class_to_concept=`` ({output class: concept name or row}: SeVecs fitted on
        C concepts explain the classes mapped to them; other classes get a zero map — no zero-padding to the
        model's outputs).

    Returns
    -------
    float tensor [N,H,W] (or [N,k,H,W] for a list of units), on the model's device.
    """
    if not isinstance(model, nn.Module):
        raise TypeError(f"model: expected a torch.nn.Module, got {type(model).__name__}")
    if not isinstance(method, str) or method not in METHODS:
        raise ValueError(f"method: unknown method {method!r}; valid methods: {', '.join(METHODS)}")
    allowed = _COMMON_OPTIONS | _METHOD_OPTIONS.get(method, set())
    unknown = set(options) - allowed
    if unknown:
        raise ValueError(f"options: unknown option(s) {sorted(unknown)} for method {method!r}; allowed: "
                         f"{sorted(allowed)}")
    x = check_images(x)
    conv1 = next((m for m in model.modules() if isinstance(m, nn.modules.conv._ConvNd)), None)
    if conv1 is not None and x.shape[1] != conv1.in_channels:
        raise ValueError(f"x: the model expects {conv1.in_channels} input channels, got {x.shape[1]} "
                         f"(shape {tuple(x.shape)})")
    device = model_device(model)
    x = x.to(device=device, dtype=next(model.parameters()).dtype)

    raw = bool(options.get("raw", False))
    resize = options.get("resize", True)
    reduce = options.get("reduce", _DEFAULT_REDUCE[method])
    if reduce not in _REDUCE:
        raise ValueError(f"reduce: unknown value {reduce!r}; allowed: {', '.join(_REDUCE)}")
    fix_stride = bool(options.get("fix_stride", False))
    if fix_stride and method not in ("deconvnet", "guided_backprop"):
        raise ValueError(f"fix_stride: only for 'deconvnet' and 'guided_backprop', not {method!r}")
    sal_layer = options.get("saliency_layer")
    if sal_layer is not None:
        sal_layer, _ = get_layer(model, sal_layer)
    batch_size = options.get("batch_size")
    if batch_size is not None:
        batch_size = check_int(batch_size, "batch_size", minimum=1)

    with _Guard(model), warnings.catch_warnings():
        # Captum warns that it set requires_grad on the inputs and hooks on ReLUs: both are intended here
        warnings.filterwarnings("ignore", message=r".*(did not already require gradients|Setting backward hooks)")
        sel, n, k, many = _make_selection(model, x, target, layer, channel, neuron,
                                          options.get("channel_score", "sum"), options.get("call"))
        opts = dict(options)
        if method == "contrastive_excitation_backprop":
            if sel.kind != "target":
                raise ValueError("method: 'contrastive_excitation_backprop' explains output classes "
                                 "(target=); for an internal unit use 'excitation_backprop'")
            c_def, k_def = _default_contrast(model)
            opts["_contrast_layer"] = get_layer(model, opts.get("contrast_layer") or c_def)[0]
            opts["_classifier_module"] = get_layer(model, opts.get("classifier_layer") or k_def)[1]
            if not isinstance(opts["_classifier_module"], (nn.Linear, nn.modules.conv._ConvNd)):
                raise ValueError("classifier_layer: must be a linear or conv layer")
        if method.startswith("semantic_"):
            if sel.kind != "target":
                raise ValueError(f"method: {method!r} explains output classes (target=); the SeVec of the "
                                 f"target class selects the units")
            sv_layer = get_layer(model, opts.get("sevec_layer"))[0] if opts.get("sevec_layer") else None
            opts["_sevec_layer"] = sv_layer
            opts["_sevec_masks"], opts["_sevec_rows"] = _sevec_masks(
                model, x, opts.get("sevec"), sv_layer, opts.get("threshold", 0.5), _output_size(model, x),
                opts.get("class_to_concept"))
        if method == "gradcam" and sal_layer is None:
            sal_layer = _default_gradcam_layer(model, sel.layer)
        if sal_layer is not None and sel.kind != "target" and sal_layer != sel.layer:
            order = [nm for nm, _ in model.named_modules()]
            if order.index(sal_layer) > order.index(sel.layer):
                raise ValueError(f"saliency_layer: {sal_layer!r} comes after layer {sel.layer!r}; the unit "
                                 f"does not depend on it (choose {sel.layer!r} or an earlier layer)")

        if k > 1 and method in _VMAP_METHODS:
            # k units of one layer: one forward pass (stopped at the layer), one backward pass with the
            # k seeds batched by vmap — the forward is not repeated k times.
            per = max(1, (batch_size or n * k) // k)
            sig = torch.cat([
                _rule_signal_units(method, model, x[i:i + per], sel.rows(sel.index[i * k:(i + per) * k]), k,
                                   opts, sal_layer)
                for i in range(0, n, per)])
            return _finish(sig, x, method, raw, resize, reduce, sal_layer, many, n, k)

        xr = x.repeat_interleave(k, 0) if k > 1 else x
        rows = xr.shape[0]
        step = batch_size or rows
        chunks = []
        for i in range(0, rows, step):
            sub = sel.rows(sel.index[i:i + step])
            xi = xr[i:i + step]
            if method == "gradcam":
                sig = _gradcam(model, xi, sub, opts, sal_layer)
            elif method == "lrp" and sal_layer is not None:
                sal_module = get_layer(model, sal_layer)[1]
                if any(True for _ in sal_module.children()):
                    leaves = [nm for nm, mm in sal_module.named_modules() if nm and not any(mm.children())]
                    raise ValueError(f"saliency_layer: LRP reads relevance at one layer, and {sal_layer!r} is a "
                                     f"block; choose one of its layers, e.g. "
                                     f"{', '.join(repr(f'{sal_layer}.{nm}') for nm in leaves[-3:])}")
                from captum.attr._core.lrp import SUPPORTED_NON_LINEAR_LAYERS
                if type(sal_module) in SUPPORTED_NON_LINEAR_LAYERS:
                    raise ValueError(f"saliency_layer: LRP passes relevance through {type(sal_module).__name__} "
                                     f"unchanged and stores none there; read it at the layer before "
                                     f"{sal_layer!r} (a conv, linear or pooling layer): the map is the same")
                sig = _captum_lrp(model, xi, sub, opts, layer=sal_module)
            elif method == "integrated_gradients" and sal_layer is not None:
                from captum import attr as ca
                head = _ScoreHead(model, sub)
                sig = ca.LayerIntegratedGradients(head, get_layer(model, sal_layer)[1]).attribute(
                    xi, target=0, baselines=opts.get("baselines"), n_steps=opts.get("n_steps", 32),
                    internal_batch_size=opts.get("internal_batch_size"))
            elif method in ("excitation_backprop", "contrastive_excitation_backprop") or sal_layer is not None \
                    or fix_stride or method.startswith("semantic_"):
                sig = _rule_signal(method, model, xi, sub, opts, sal_layer)
            else:
                sig = _captum_input_signal(method, model, xi, sub, opts)
            chunks.append(sig.detach())
        sig = torch.cat(chunks)
    return _finish(sig, x, method, raw, resize, reduce, sal_layer, many, n, k)


def _finish(sig, x, method, raw, resize, reduce, sal_layer, many, n, k):
    """Raw signal [R, ...] -> heatmaps [N,H,W] / [N,k,H,W] (or the raw signal)."""
    if raw:
        out = sig
    else:
        if sig.ndim == 2:  # a linear layer's signal: nothing spatial to show
            raise ValueError(f"saliency_layer: {sal_layer!r} outputs a flat vector; choose a conv/pool "
                             f"layer (or use raw=True)")
        if method == "gradcam":
            out = sig[:, 0]
        elif sal_layer is not None:
            out = sig.sum(1) if method != "contrastive_excitation_backprop" else sig.sum(1).clamp(min=0)
        else:
            out = _reduce(sig, reduce)
        if resize and out.shape[-2:] != x.shape[-2:]:
            out = F.interpolate(out.unsqueeze(1), size=x.shape[-2:], mode="bilinear",
                                align_corners=False)[:, 0]
    if many:
        out = out.reshape(n, k, *out.shape[1:])
    return out
