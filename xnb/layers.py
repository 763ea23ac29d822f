"""Addressable layers and activation capture.

Every hook xnb puts on a model is a forward hook (plus tensor hooks on the tensors it produces) and is
removed in a ``finally`` block, so a model leaves every xnb call as it came in.
"""
from __future__ import annotations

import contextlib
from dataclasses import dataclass
from typing import Iterable, Iterator, Sequence

import torch
from torch import nn

__all__ = ["LayerInfo", "layers", "capture", "get_layer", "layer_kind", "Capture"]

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


class Capture:
    """Activations recorded by :func:`capture`, by layer name: ``cap["conv3"]`` is the output of the
    last call (a tensor still attached to the autograd graph unless ``detach=True``)."""

    def __init__(self, names: list[str], keep_all: bool, detach: bool):
        self.names = names
        self._keep_all = keep_all
        self._detach = detach
        self._data: dict[str, list[torch.Tensor]] = {n: [] for n in names}

    def _record(self, name, output):
        if isinstance(output, (tuple, list)):
            output = output[0]
        if not isinstance(output, torch.Tensor):
            return
        if self._detach:
            output = output.detach()
        if self._keep_all:
            self._data[name].append(output)
        else:
            self._data[name] = [output]

    def __getitem__(self, name: str) -> torch.Tensor:
        if name not in self._data:
            raise KeyError(f"{name!r} was not captured; captured layers: {self.names}")
        if not self._data[name]:
            raise KeyError(f"layer {name!r} was not called in the forward pass")
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


@contextlib.contextmanager
def capture(model: nn.Module, layers, detach: bool = False, keep_all: bool = False) -> Iterator[Capture]:
    """Record the outputs of ``layers`` (a name or a list of names) during forward passes in the block::

        with xnb.capture(model, ["conv3", "fc6"]) as acts:
            model(x)
        acts["fc6"].shape

    The forward hooks are removed on exit, also when the block raises. ``detach=True`` stores detached
    tensors (no graph kept alive); ``keep_all=True`` keeps every call of a reused module.
    """
    if isinstance(layers, (str, nn.Module)):
        layers = [layers]
    resolved = [get_layer(model, name) for name in layers]
    cap = Capture([n for n, _ in resolved], keep_all=keep_all, detach=detach)
    handles = []
    try:
        for name, module in resolved:
            handles.append(module.register_forward_hook(
                lambda mod, inp, out, _name=name: cap._record(_name, out)))
        yield cap
    finally:
        for h in handles:
            h.remove()


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


def run_to(model: nn.Module, layer, x: torch.Tensor, full: bool = False):
    """(output of ``layer``, model output or None): the forward pass stops right after the layer unless
    ``full``. The hook is removed afterwards; gradients flow as usual."""
    name, module = get_layer(model, layer)
    held = {}

    def hook(mod, inputs, output):
        held["a"] = output
        if not full:
            raise _StopForward

    handle = module.register_forward_hook(hook)
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


def stream_layer(model: nn.Module, layer, data, batch_size: int = 256, device=None, return_output: bool = False,
                 progress: bool = False, transform=None):
    """A layer's output for every image of ``data``, flattened to [N, D] on the CPU, in batches: only these
    vectors are kept (never the activation maps of other layers), and the forward pass stops at the layer
    unless ``return_output`` (then also the model outputs [N, C]). ``transform`` maps each flattened batch
    before it is stored (e.g. binarise to uint8). Eval mode during the pass; the model's modes come back."""
    from tqdm.auto import tqdm

    from ._check import check_int, model_device, resolve_device

    if not isinstance(model, nn.Module):
        raise TypeError(f"model: expected a torch.nn.Module, got {type(model).__name__}")
    name, _ = get_layer(model, layer)
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
                a, out = run_to(model, name, xb.to(dev), full=return_output)
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
