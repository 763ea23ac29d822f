"""Argument checks shared by every public function: each error names the argument and what is allowed."""
from __future__ import annotations

import numbers
from typing import Iterable

import numpy as np
import torch


def check_int(value, name: str, minimum: int | None = None, maximum: int | None = None) -> int:
    """An integer (bool excluded, numpy integers accepted) within [minimum, maximum]."""
    if isinstance(value, bool) or not isinstance(value, (numbers.Integral, np.integer)):
        raise TypeError(f"{name}: expected an integer, got {value!r} ({type(value).__name__})")
    value = int(value)
    if minimum is not None and value < minimum:
        raise ValueError(f"{name}: must be >= {minimum}, got {value}")
    if maximum is not None and value > maximum:
        raise ValueError(f"{name}: must be <= {maximum}, got {value}")
    return value


def check_float(value, name: str, low: float | None = None, high: float | None = None,
                low_open: bool = False, high_open: bool = False) -> float:
    """A finite real number in the interval given (open or closed at each end)."""
    if isinstance(value, bool) or not isinstance(value, (numbers.Real, np.floating, np.integer)):
        raise TypeError(f"{name}: expected a number, got {value!r} ({type(value).__name__})")
    value = float(value)
    if not np.isfinite(value):
        raise ValueError(f"{name}: must be finite, got {value}")
    lo_ok = low is None or (value > low if low_open else value >= low)
    hi_ok = high is None or (value < high if high_open else value <= high)
    if not (lo_ok and hi_ok):
        lb = "(" if low_open else "["
        rb = ")" if high_open else "]"
        lo = "-inf" if low is None else f"{low:g}"
        hi = "inf" if high is None else f"{high:g}"
        raise ValueError(f"{name}: must be in {lb}{lo}, {hi}{rb}, got {value:g}")
    return value


def check_positive(value, name: str) -> float:
    return check_float(value, name, low=0.0, low_open=True)


def check_choice(value, name: str, choices: Iterable) -> object:
    choices = list(choices)
    if value not in choices:
        raise ValueError(f"{name}: unknown value {value!r}; allowed: {', '.join(map(repr, choices))}")
    return value


def check_images(x, name: str = "x", channels: int | None = None) -> torch.Tensor:
    """A float tensor [N,C,H,W] (a single [C,H,W] image is promoted), finite values."""
    if not isinstance(x, torch.Tensor):
        raise TypeError(f"{name}: expected a torch.Tensor of images [N,C,H,W], got {type(x).__name__}")
    if x.ndim == 3:
        x = x.unsqueeze(0)
    if x.ndim != 4:
        raise ValueError(f"{name}: expected images of shape [N,C,H,W] (or one [C,H,W]), got shape "
                         f"{tuple(x.shape)}")
    if not x.is_floating_point():
        raise TypeError(f"{name}: expected a floating-point tensor, got dtype {x.dtype}")
    if x.shape[0] == 0:
        raise ValueError(f"{name}: empty batch")
    if channels is not None and x.shape[1] != channels:
        raise ValueError(f"{name}: the model expects {channels} input channels, got {x.shape[1]} "
                         f"(shape {tuple(x.shape)})")
    if not torch.isfinite(x).all():
        raise ValueError(f"{name}: contains NaN or inf values")
    return x


def resolve_device(device) -> torch.device:
    """None -> CPU; strings and devices are checked (asking for CUDA without one says so)."""
    if device is None:
        return torch.device("cpu")
    try:
        dev = torch.device(device)
    except (RuntimeError, TypeError) as exc:
        raise ValueError(f"device: {device!r} is not a device (e.g. 'cpu', 'cuda', 'cuda:0')") from exc
    if dev.type == "cuda" and not torch.cuda.is_available():
        raise ValueError(f"device: {device!r} requested but CUDA is not available on this machine")
    return dev


def model_device(model: torch.nn.Module) -> torch.device:
    for p in model.parameters():
        return p.device
    for b in model.buffers():
        return b.device
    return torch.device("cpu")
