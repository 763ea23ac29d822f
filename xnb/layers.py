"""Addressable layers and activation capture.

Every hook xnb puts on a model is a forward hook (plus tensor hooks on the tensors it produces) and is
removed in a ``finally`` block, so a model leaves every xnb call as it came in.

**What "the output of a layer" means** — one rule for the whole package (capture, features, attribution,
the paper modules), the one Captum follows too:

* a module called several times in one forward pass (e.g. the ReLU shared by a torchvision ResNet block)
  is read at its **last** call; ``call=`` (0-based, negative counts from the end) chooses another;
* the value is the module's output **as it returns**, before any later in-place operation changes it
  (e.g. a conv followed by ``ReLU(inplace=True)`` is read before the ReLU). On a model with in-place
  modules xnb hands the rest of the forward pass a copy of the layer's output to keep the value intact.
"""
from __future__ import annotations

import contextlib
import weakref
from dataclasses import dataclass
from typing import Iterable, Iterator, Sequence

import torch
from torch import nn

__all__ = ["LayerInfo", "layers", "capture", "get_layer", "layer_kind", "Capture", "count_calls", "resolve_call",
           "has_inplace", "last_feature_map", "auto_batch_size", "MEMORY_BUDGET"]

_KINDS = [
    (nn.modules.conv._ConvNd, "conv"),
    (nn.Linear, "linear"),
    (nn.modules.pooling._MaxPoolNd, "pool"),
    (nn.modules.pooling._AvgPoolNd, "pool"),
    (nn.modules.pooling._AdaptiveAvgPoolNd, "pool"),
    (nn.modules.pooling._AdaptiveMaxPoolNd, "pool"),
    (nn.ReLU, "relu"),
    (nn.modules.batchnorm._BatchNorm, "norm"),
    (nn.Dropout, "dropout"),
    (nn.Flatten, "flatten"),
    (nn.Softmax, "softmax"),
]


def layer_kind(module: nn.Module) -> str:
    """'conv', 'linear', 'pool', 'relu', 'norm', 'dropout', 'flatten', 'softmax', 'block' (has children)
    or 'other'."""
    for cls, kind in _KINDS:
        if isinstance(module, cls):
            return kind
    return "block" if any(True for _ in module.children()) else "other"


@dataclass
class LayerInfo:
    """One addressable layer: its dotted name (as in ``model.named_modules()``), kind, module,
    output shape (without the batch dimension; ``None`` when no ``input_shape`` was given) and how many
    times the forward pass calls it (2+ for a reused module, e.g. the ReLU of a torchvision ResNet block)."""

    name: str
    kind: str
    module: nn.Module
    output_shape: tuple | None = None
    calls: int | None = None

    @property
    def n_channels(self) -> int | None:
        """Channels of a conv-like output [C,H,W], or units of a flat output [D]."""
        if self.output_shape is None:
            return None
        return int(self.output_shape[0])

    def __repr__(self) -> str:
        shape = "" if self.output_shape is None else f", output_shape={self.output_shape}"
        return f"LayerInfo({self.name!r}, {self.kind!r}{shape})"


def _default_input_shape(model: nn.Module):
    cfg = getattr(model, "config", None)
    if cfg is not None and hasattr(cfg, "in_channels") and hasattr(cfg, "input_size"):
        return (cfg.in_channels, cfg.input_size, cfg.input_size)
    return None


def _named_layers(model: nn.Module, leaves_only: bool) -> list[tuple[str, nn.Module]]:
    out = []
    for name, module in model.named_modules():
        if name == "":
            continue
        if leaves_only and any(True for _ in module.children()):
            continue
        out.append((name, module))
    return out


def _module_by_name(model: nn.Module, name: str):
    """Walk the dotted path (cheap; no full named_modules() scan on the hot path)."""
    if not name:
        return None
    m = model
    for part in name.split("."):
        m = m._modules.get(part) if isinstance(m, nn.Module) else None
        if m is None:
            return None
    return m


def get_layer(model: nn.Module, name) -> tuple[str, nn.Module]:
    """Resolve a layer given by dotted name (or module object) to ``(name, module)``; an unknown
    name raises a ValueError listing the valid ones."""
    if not isinstance(model, nn.Module):
        raise TypeError(f"model: expected a torch.nn.Module, got {type(model).__name__}")
    if isinstance(name, nn.Module):
        for n, m in model.named_modules():
            if m is name and n:
                return n, m
        raise ValueError("layer: the module given is not a submodule of the model")
    if not isinstance(name, str):
        raise TypeError(f"layer: expected a layer name (str), got {type(name).__name__}")
    module = _module_by_name(model, name)
    if module is not None:
        return name, module
    modules = dict(model.named_modules())
    if name == "" or name not in modules:
        valid = [n for n, _ in _named_layers(model, leaves_only=False)]
        shown = ", ".join(valid[:60]) + (f", ... ({len(valid)} in all)" if len(valid) > 60 else "")
        raise ValueError(f"layer: unknown layer {name!r}; valid layers: {shown}")
    return name, modules[name]


def layers(model: nn.Module, input_shape: Sequence[int] | None = None, leaves_only: bool = True,
           kinds: Iterable[str] | None = None) -> list[LayerInfo]:
    """The addressable layers of ``model``, in definition order.

    ``input_shape`` (e.g. ``(3, 64, 64)``; defaults to the shipped models' own size) adds each layer's
    output shape, found with one forward pass on zeros; the model's mode, parameters and hooks are
    untouched. ``leaves_only=False`` also lists blocks (modules with children). ``kinds`` filters, e.g.
    ``kinds=("conv",)``.
    """
    if not isinstance(model, nn.Module):
        raise TypeError(f"model: expected a torch.nn.Module, got {type(model).__name__}")
    named = _named_layers(model, leaves_only)
    if kinds is not None:
        kinds = set([kinds] if isinstance(kinds, str) else kinds)
        known = {k for _, k in _KINDS} | {"block", "other"}
        bad = kinds - known
        if bad:
            raise ValueError(f"kinds: unknown kinds {sorted(bad)}; allowed: {sorted(known)}")
    infos = [LayerInfo(n, layer_kind(m), m) for n, m in named]
    if input_shape is None:
        input_shape = _default_input_shape(model)
    if input_shape is not None:
        input_shape = tuple(int(s) for s in input_shape)
        if len(input_shape) != 3 or min(input_shape) < 1:
            raise ValueError(f"input_shape: expected (C, H, W) with positive sizes, got {input_shape}")
        p0 = next(model.parameters(), None)
        x = torch.zeros((1,) + input_shape, device=p0.device if p0 is not None else "cpu",
                        dtype=p0.dtype if p0 is not None else torch.float32)
        with capture(model, [i.name for i in infos], keep_all=True) as cap, torch.no_grad():
            was = model.training
            model.eval()
            try:
                model(x)
            finally:
                model.train(was)
        for info in infos:
            outs = cap.all(info.name)
            info.calls = len(outs)
            if outs:
                info.output_shape = tuple(outs[-1].shape[1:])
    if kinds is not None:
        infos = [i for i in infos if i.kind in kinds]
    return infos


def last_feature_map(model: nn.Module, input_shape: Sequence[int] | None = None) -> str:
    """The name of the model's last spatial feature map — the output of its last conv block, where
    concept-level explainers read (``pool4`` of the shipped nets, ``features.30`` of VGG16, ``layer4.1.relu``
    at its last call — the block output — of ResNet-18): the last layer, in the order the forward pass calls
    them, whose output is [N, C, H, W] with H·W > 1, adaptive pools (which only resize) left out.
    ``input_shape`` defaults to the shipped nets' own size, else 3 × 224 × 224."""
    if not isinstance(model, nn.Module):
        raise TypeError(f"model: expected a torch.nn.Module, got {type(model).__name__}")
    if input_shape is None:
        input_shape = _default_input_shape(model)
    if input_shape is None:
        conv = next((m for m in model.modules() if isinstance(m, nn.modules.conv._ConvNd)), None)
        input_shape = (conv.in_channels if conv is not None else 3, 224, 224)
    p0 = next(model.parameters(), None)
    x = torch.zeros((1,) + tuple(int(s) for s in input_shape), device=p0.device if p0 is not None else "cpu",
                    dtype=p0.dtype if p0 is not None else torch.float32)
    order: list[tuple[str, tuple]] = []
    handles = []
    adaptive = (nn.modules.pooling._AdaptiveAvgPoolNd, nn.modules.pooling._AdaptiveMaxPoolNd)
    modes = [(m, m.training) for m in model.modules() if m.training]
    try:
        for name, module in _named_layers(model, leaves_only=True):
            if isinstance(module, adaptive):
                continue
            handles.append(module.register_forward_hook(
                lambda mod, inp, out, _n=name: order.append((_n, tuple(out.shape)))
                if isinstance(out, torch.Tensor) else None))
        for m, _ in modes:
            m.training = False
        with torch.no_grad():
            model(x)
    finally:
        for h in handles:
            h.remove()
        for m, mode in modes:
            m.training = mode
    maps = [n for n, shape in order if len(shape) == 4 and shape[2] * shape[3] > 1]
    if not maps:
        raise ValueError("model: no layer outputs a spatial feature map [N, C, H, W] with H·W > 1")
    return maps[-1]


#: Bytes one forward/backward pass may use for activations when ``batch_size=None`` (auto): 512 MB on
#: the CPU (Binder gives 2 GB in all), a quarter of the card on a GPU. Change it to trade memory for speed.
MEMORY_BUDGET = {"cpu": 512 * 2 ** 20, "cuda": None}

# Bytes of all leaf-layer outputs for one input, per (model, input shape).
_ACT_BYTES: "weakref.WeakKeyDictionary[nn.Module, dict]" = weakref.WeakKeyDictionary()


def _activation_bytes(model: nn.Module, input_shape: tuple, device, dtype) -> int:
    cache = _ACT_BYTES.setdefault(model, {})
    if input_shape not in cache:
        total = [0]

        def hook(mod, inp, out):
            if isinstance(out, torch.Tensor):
                total[0] += out.numel() * out.element_size()

        handles = [m.register_forward_hook(hook) for _, m in _named_layers(model, leaves_only=True)]
        modes = [(m, m.training) for m in model.modules() if m.training]
        for m, _ in modes:
            m.training = False
        try:
            with torch.no_grad():
                model(torch.zeros((1,) + tuple(input_shape), device=device, dtype=dtype))
        finally:
            for h in handles:
                h.remove()
            for m, mode in modes:
                m.training = mode
        cache[input_shape] = max(int(total[0]), 1)
    return cache[input_shape]


def auto_batch_size(model: nn.Module, x: torch.Tensor, backward: bool = True, maximum: int = 256) -> int:
    """Images (rows) per forward/backward pass that keep one pass within :data:`MEMORY_BUDGET`.

    The meaning of ``batch_size`` across xnb: how many images (or image copies, one per explained unit)
    go through the network in one pass. ``None`` means this function: the bytes of all leaf-layer
    outputs for one image (measured once per model and input shape, one forward pass of one image) times
    3 when gradients flow (activations kept for the backward pass, their gradients, the rules' copies),
    into the budget; at least 1, at most ``maximum``. The shipped 64-px nets get the maximum; VGG16 at
    224 px, whose activations take ~60 MB an image, gets 2-3 on the CPU."""
    from ._check import model_device

    if not isinstance(x, torch.Tensor) or x.ndim < 2:
        raise TypeError("x: expected images [N, C, H, W] (a tensor)")
    device = model_device(model)
    p0 = next(model.parameters(), None)
    per_image = _activation_bytes(model, tuple(x.shape[1:]), device, p0.dtype if p0 is not None else x.dtype)
    per_image *= 3 if backward else 1
    budget = MEMORY_BUDGET.get(device.type)
    if budget is None:
        budget = (torch.cuda.get_device_properties(device).total_memory // 4 if device.type == "cuda"
                  else MEMORY_BUDGET["cpu"])
    return int(max(1, min(maximum, budget // per_image)))


class Capture:
    """Activations recorded by :func:`capture`, by layer name: ``cap["conv3"]`` is the output of the
    layer's last call in the last forward pass (or of call ``call=``), a tensor still attached to the
    autograd graph unless ``detach=True``."""

    def __init__(self, names: list[str], keep_all: bool, detach: bool, call: int | None = None):
        self.names = names
        self._keep_all = keep_all
        self._detach = detach
        self._call = call
        self._data: dict[str, list[torch.Tensor]] = {n: [] for n in names}
        self._calls: dict[str, int] = {n: 0 for n in names}

    def _new_pass(self):
        """Called at the start of every forward pass of the model (calls are counted per pass)."""
        for n in self._calls:
            self._calls[n] = 0

    def _record(self, name, output):
        i = self._calls[name]
        self._calls[name] = i + 1
        if isinstance(output, (tuple, list)):
            output = output[0]
        if not isinstance(output, torch.Tensor):
            return
        if self._detach:
            output = output.detach()
        if self._keep_all:
            self._data[name].append(output)
        elif self._call is None or self._call < 0:
            if self._call is None or self._call == -1:
                self._data[name] = [output]
            else:  # counted from the end: keep this pass's calls, pick at read time
                self._data[name] = (self._data[name] if i else []) + [output]
        elif i == self._call:
            self._data[name] = [output]

    def __getitem__(self, name: str) -> torch.Tensor:
        if name not in self._data:
            raise KeyError(f"{name!r} was not captured; captured layers: {self.names}")
        if not self._data[name]:
            raise KeyError(f"layer {name!r} was not called in the forward pass" if self._call is None else
                           f"layer {name!r}: call {self._call} did not happen in the forward pass")
        if self._call is not None and self._call < -1 and not self._keep_all:
            if len(self._data[name]) < -self._call:
                raise KeyError(f"layer {name!r} is called {len(self._data[name])} times; call {self._call} "
                               f"does not exist")
            return self._data[name][self._call]
        return self._data[name][-1]

    def all(self, name: str) -> list[torch.Tensor]:
        return list(self._data[name])

    def __contains__(self, name) -> bool:
        return bool(self._data.get(name))

    def keys(self):
        return [n for n in self.names if self._data[n]]

    def items(self):
        return [(n, self[n]) for n in self.keys()]

    def clear(self):
        for n in self._data:
            self._data[n] = []


def has_inplace(model: nn.Module) -> bool:
    """Whether any module of ``model`` works in place (``inplace=True``, e.g. torchvision's ReLUs)."""
    return any(getattr(m, "inplace", False) is True for m in model.modules())


def _keep_output(record, clone: bool):
    """A forward hook that records the module's output; with ``clone`` the rest of the forward pass gets a
    copy, so a later in-place op (``ReLU(inplace=True)``, ``out += identity``) cannot change the recorded
    value (the copy is on the autograd graph: gradients reach the recorded tensor)."""
    def hook(mod, inputs, output):
        record(output)
        if clone and isinstance(output, torch.Tensor):
            return output.clone()
        return None
    return hook


@contextlib.contextmanager
def capture(model: nn.Module, layers, detach: bool = False, keep_all: bool = False,
            call: int | None = None) -> Iterator[Capture]:
    """Record the outputs of ``layers`` (a name or a list of names) during forward passes in the block::

        with xnb.capture(model, ["conv3", "fc6"]) as acts:
            model(x)
        acts["fc6"].shape

    The forward hooks are removed on exit, also when the block raises. ``detach=True`` stores detached
    tensors (no graph kept alive); ``keep_all=True`` keeps every call of a reused module. A reused module
    is read at its last call unless ``call=`` (0-based; negative counts from the end) says otherwise, and
    the value is the module's output before any later in-place op (see the module docstring).
    """
    if isinstance(layers, (str, nn.Module)):
        layers = [layers]
    if call is not None:
        from ._check import check_int
        call = check_int(call, "call")
    resolved = [get_layer(model, name) for name in layers]
    cap = Capture([n for n, _ in resolved], keep_all=keep_all, detach=detach, call=call)
    clone = has_inplace(model)
    handles = []
    try:
        handles.append(model.register_forward_pre_hook(lambda mod, inp: cap._new_pass()))
        for name, module in resolved:
            handles.append(module.register_forward_hook(
                _keep_output(lambda out, _name=name: cap._record(_name, out), clone)))
        yield cap
    finally:
        for h in handles:
            h.remove()


# Calls per forward pass, per (model, layer, input shape); kept outside the model so it is not changed.
_CALLS: "weakref.WeakKeyDictionary[nn.Module, dict]" = weakref.WeakKeyDictionary()


def count_calls(model: nn.Module, layer, x: torch.Tensor) -> int:
    """How many times one forward pass on inputs shaped like ``x`` calls ``layer`` (cached; the first
    time costs one forward pass of one image, in eval mode; the model's modes come back)."""
    name, module = get_layer(model, layer)
    key = (name, tuple(x.shape[1:]))
    cache = _CALLS.setdefault(model, {})
    if key not in cache:
        n = [0]
        handle = module.register_forward_hook(lambda *a: n.__setitem__(0, n[0] + 1))
        modes = [(m, m.training) for m in model.modules() if m.training]
        for m, _ in modes:
            m.training = False
        try:
            with torch.no_grad():
                model(x[:1])
        finally:
            handle.remove()
            for m, mode in modes:
                m.training = mode
        cache[key] = n[0]
    return cache[key]


def resolve_call(model: nn.Module, layer, x: torch.Tensor, call: int | None = None) -> int:
    """The 0-based call of ``layer`` that xnb reads: the last one by default, else ``call`` (negative
    counts from the end). ValueError when the layer is not called or ``call`` does not exist."""
    name, _ = get_layer(model, layer)
    n = count_calls(model, name, x)
    if n == 0:
        raise ValueError(f"layer: {name!r} is not called in the model's forward pass")
    if call is None:
        return n - 1
    from ._check import check_int
    call = check_int(call, "call")
    index = call + n if call < 0 else call
    if not 0 <= index < n:
        raise ValueError(f"call: layer {name!r} is called {n} time(s) per forward pass; call must be in "
                         f"{-n}..{n - 1}, got {call}")
    return index


def reading_hook(store, index: int, clone: bool = False, stop: bool = False):
    """A forward hook that hands call number ``index`` of its module to ``store`` (and, with ``stop``,
    ends the forward pass there; with ``clone``, gives the rest of the pass a copy — see
    :func:`_keep_output`). Count is per hook: register one per forward pass."""
    seen = [0]

    def hook(mod, inputs, output):
        i = seen[0]
        seen[0] += 1
        if i != index:
            return None
        store(output)
        if stop:
            raise _StopForward
        if clone and isinstance(output, torch.Tensor):
            return output.clone()
        return None
    return hook


# --------------------------------------------------------------------------- streaming a layer over a dataset


class _StopForward(Exception):
    """Raised by a hook once the wanted layer has run: nothing after it is computed."""


def iter_batches(data, batch_size: int):
    """Image batches [B,C,H,W] from an xnb ImageSet, a tensor, a torch Dataset or an iterable of batches
    (or of (x, y) pairs)."""
    from ._check import check_images

    if hasattr(data, "images") and isinstance(data.images, torch.Tensor):
        data = data.images
    if isinstance(data, torch.Tensor):
        data = check_images(data, "data")
        for i in range(0, len(data), batch_size):
            yield data[i:i + batch_size]
        return
    if isinstance(data, torch.utils.data.Dataset) and not isinstance(data, torch.utils.data.IterableDataset):
        data = torch.utils.data.DataLoader(data, batch_size=batch_size)
    try:
        it = iter(data)
    except TypeError:
        raise TypeError("data: expected an xnb ImageSet, images [N,C,H,W], a Dataset or an iterable of "
                        f"batches, got {type(data).__name__}") from None
    for b in it:
        if isinstance(b, (list, tuple)):
            b = b[0]
        yield check_images(b, "data")


def run_to(model: nn.Module, layer, x: torch.Tensor, full: bool = False, call: int | None = None):
    """(output of ``layer``, model output or None): the forward pass stops right after the layer's read
    call (the last one unless ``call=``; see the module docstring) unless ``full``. The hook is removed
    afterwards; gradients flow as usual."""
    name, module = get_layer(model, layer)
    index = resolve_call(model, name, x, call)
    held = {}
    handle = module.register_forward_hook(
        reading_hook(lambda out: held.__setitem__("a", out), index, clone=full and has_inplace(model),
                     stop=not full))
    out = None
    try:
        out = model(x)
    except _StopForward:
        pass
    finally:
        handle.remove()
    if "a" not in held:
        raise ValueError(f"layer: {name!r} is not called in the model's forward pass")
    return held["a"], out


def stream_layer(model: nn.Module, layer, data, batch_size: int | None = None, device=None,
                 return_output: bool = False, progress: bool = False, transform=None, call: int | None = None):
    """A layer's output for every image of ``data``, flattened to [N, D] on the CPU, in batches: only these
    vectors are kept (never the activation maps of other layers), and the forward pass stops at the layer
    unless ``return_output`` (then also the model outputs [N, C]). ``transform`` maps each flattened batch
    before it is stored (e.g. binarise to uint8). ``call`` picks the call of a reused layer (default: the
    last). ``batch_size``: images per forward pass (``None``: :func:`auto_batch_size`, within
    :data:`MEMORY_BUDGET`). Eval mode during the pass; the model's modes come back."""
    from tqdm.auto import tqdm

    from ._check import check_int, model_device, resolve_device

    if not isinstance(model, nn.Module):
        raise TypeError(f"model: expected a torch.nn.Module, got {type(model).__name__}")
    name, _ = get_layer(model, layer)
    if batch_size is None:
        probe = getattr(data, "images", data)
        if isinstance(probe, torch.utils.data.Dataset) and not isinstance(probe, torch.utils.data.IterableDataset) \
                and len(probe):
            first = probe[0]
            probe = (first[0] if isinstance(first, (tuple, list)) else first)
            probe = probe[None] if isinstance(probe, torch.Tensor) else None
        batch_size = auto_batch_size(model, probe, backward=False) if isinstance(probe, torch.Tensor) and \
            probe.ndim == 4 else 64
    batch_size = check_int(batch_size, "batch_size", minimum=1)
    dev = model_device(model) if device is None else resolve_device(device)
    if device is not None and dev != model_device(model):
        raise ValueError(f"device: the model is on {model_device(model)}; move it there first or omit device=")
    feats, outs = [], []
    modes = [(m, m.training) for m in model.modules()]
    model.eval()
    try:
        with torch.no_grad():
            for xb in tqdm(iter_batches(data, batch_size), desc=f"features {name}", disable=not progress):
                a, out = run_to(model, name, xb.to(dev), full=return_output, call=call)
                a = a.flatten(1)
                feats.append((transform(a) if transform is not None else a.float()).cpu())
                if return_output:
                    outs.append(out.detach().float().cpu())
    finally:
        for m, mode in modes:
            m.training = mode
    if not feats:
        raise ValueError("data: no images")
    Z = torch.cat(feats)
    return (Z, torch.cat(outs)) if return_output else Z
