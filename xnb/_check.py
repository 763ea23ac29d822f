"""Argument checks shared by every public function: each error names the argument and what is allowed.

The one place for xnb's argument checks. Two message styles are kept, because tests and users match on
them: ``"<name>: expected ..."`` (``check_*``: the explainers, metrics, layers) and ``"<name> must be ..."``
(``must_be_*``: :mod:`xnb.data` and :mod:`xnb.viz`). Sections:

* scalars: :func:`is_int`, :func:`check_int`, :func:`check_float`, :func:`check_positive`,
  :func:`check_choice`; in the ``must be`` style :func:`must_be_int`, :func:`must_be_seed`,
  :func:`must_be_choice` (data) and :func:`must_be_unit`, :func:`must_be_percentile`,
  :func:`must_be_scale`, :func:`must_be_color` (viz);
* tensors and arrays: :func:`check_images` ([N,C,H,W]), :func:`check_matrix` ([N, D], the srae
  and mulasso estimators' X/Z), :func:`check_vector` ([N] targets), :func:`to_numpy`,
  :func:`float_array`, :func:`check_finite_array` and :func:`check_titles` (viz);
* devices: :func:`resolve_device`, :func:`model_device`.

torch is imported if present, so that :mod:`xnb.viz` stays importable without it.
"""
from __future__ import annotations

import numbers
from typing import Any, Iterable, Sequence

import numpy as np

try:  # torch is a hard dependency of xnb, but keep xnb.viz (which imports this module) importable without it
    import torch
except ImportError:  # pragma: no cover
    torch = None  # type: ignore[assignment]


# --------------------------------------------------------------------------- scalars


def is_int(value) -> bool:
    """An integer: Python or numpy, bools (Python or numpy) excluded."""
    return isinstance(value, numbers.Integral) and not isinstance(value, (bool, np.bool_))


def check_int(value, name: str, minimum: int | None = None, maximum: int | None = None) -> int:
    """An integer (bool excluded, numpy integers accepted) within [minimum, maximum]."""
    if not is_int(value):
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


# "must be" style of xnb.data ------------------------------------------------


def must_be_int(name: str, value, minimum: int, why: str = "") -> int:
    """An integer >= ``minimum``; ``why`` is appended to the bound in the message."""
    if not is_int(value):
        raise TypeError(f"{name} must be an integer, got {value!r} "
                        f"({type(value).__name__})")
    if value < minimum:
        raise ValueError(f"{name} must be >= {minimum}{why}, got {value}")
    return int(value)


def must_be_seed(seed) -> int:
    """A non-negative integer seed (bool is not accepted)."""
    if not is_int(seed):
        raise TypeError(f"seed must be an integer (bool is not accepted), got "
                        f"{seed!r} ({type(seed).__name__})")
    if seed < 0:
        raise ValueError(f"seed must be a non-negative integer, got {seed}")
    return int(seed)


def must_be_choice(name: str, value, allowed: Sequence[str]) -> str:
    """One of the strings ``allowed`` (anything else, strings or not, is a ValueError)."""
    if not isinstance(value, str) or value not in allowed:
        raise ValueError(f"unknown {name} {value!r}; {name} must be one of "
                         f"{list(allowed)}")
    return value


# "must be" style of xnb.viz --------------------------------------------------


def must_be_unit(value: Any, name: str) -> float:
    """A real number in [0, 1]."""
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise TypeError(f"{name} must be a number in [0, 1], got {value!r}")
    v = float(value)
    if not (0.0 <= v <= 1.0):
        raise ValueError(f"{name} must be in [0, 1], got {value!r}")
    return v


def must_be_percentile(percentile: Any) -> float | None:
    """None, or a real number in (0, 100]."""
    if percentile is None:
        return None
    if isinstance(percentile, bool) or not isinstance(percentile, numbers.Real):
        raise TypeError(f"percentile must be a number in (0, 100] or None, got {percentile!r}")
    p = float(percentile)
    if not (0.0 < p <= 100.0):
        raise ValueError(f"percentile must be in (0, 100], got {percentile!r}")
    return p


def must_be_scale(scale: Any) -> int:
    """An integer >= 1 (anything else, including a wrong type, is a ValueError)."""
    if isinstance(scale, bool) or not isinstance(scale, numbers.Integral) or int(scale) < 1:
        raise ValueError(f"scale must be an integer >= 1, got {scale!r}")
    return int(scale)


def must_be_color(color: Any, name: str = "color") -> tuple[int, int, int]:
    """An (r, g, b) triple of ints in 0..255."""
    try:
        vals = tuple(color)
    except TypeError:
        raise TypeError(f"{name} must be an (r, g, b) triple of ints in 0..255, got {color!r}") from None
    if len(vals) != 3 or not all(
        isinstance(v, numbers.Integral) and not isinstance(v, bool) and 0 <= int(v) <= 255
        for v in vals
    ):
        raise ValueError(f"{name} must be an (r, g, b) triple of ints in 0..255, got {color!r}")
    return tuple(int(v) for v in vals)  # type: ignore[return-value]


# --------------------------------------------------------------------------- tensors and arrays


def _check_finite_tensor(x, name: str) -> None:
    if not torch.isfinite(x).all():
        raise ValueError(f"{name}: contains NaN or inf values")


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
    _check_finite_tensor(x, name)
    return x


def check_matrix(X, name: str = "Z", *, keep_dtype: bool = False) -> torch.Tensor:
    """A non-empty, finite matrix [N, D]: a tensor, or anything scikit-learn's ``check_array`` takes
    (arrays, lists, sparse matrices are refused with its messages, prefixed by ``name``).

    ``keep_dtype=False`` (srae's Z): a detached float32 CPU copy; ``keep_dtype=True`` (mulasso's X): the
    tensor as given, floating or int32/int64 (other dtypes: TypeError). The two keep their own messages.
    """
    if X is None or isinstance(X, (str, bytes)):
        what = "a torch.Tensor or numpy array [N, m]" if keep_dtype else "a tensor or array [N, D]"
        raise TypeError(f"{name}: expected {what}, got {type(X).__name__}")
    if not isinstance(X, torch.Tensor):  # arrays, lists, sparse matrices: scikit-learn's checks and messages
        from sklearn.utils import check_array

        try:
            X = check_array(X, dtype=[np.float64, np.float32], input_name=name)
        except (ValueError, TypeError) as exc:
            raise type(exc)(f"{name}: {exc}") from None
        X = torch.from_numpy(np.array(X, copy=True))
    if keep_dtype:
        if X.ndim != 2 or X.shape[0] == 0 or X.shape[1] == 0:
            raise ValueError(f"{name}: expected a non-empty matrix [N, m], got shape {tuple(X.shape)}")
        if not (X.is_floating_point() or X.dtype in (torch.int32, torch.int64)):
            raise TypeError(f"{name}: expected real numbers, got dtype {X.dtype}")
    else:
        if X.ndim != 2:
            raise ValueError(f"{name}: expected shape [N, D], got {tuple(X.shape)}")
        if X.shape[0] == 0 or X.shape[1] == 0:
            raise ValueError(f"{name}: empty ({tuple(X.shape)})")
        X = X.detach().to("cpu", torch.float32)
    _check_finite_tensor(X, name)
    return X


def check_vector(y, n, name: str = "y", dtype=None) -> torch.Tensor:
    """A vector [N] of ``n`` entries (one per row of Z), as a detached CPU tensor of ``dtype`` (float32 when
    None); lists, tuples and arrays are accepted, [N, 1] and [1, N] are flattened (for ``name="y"`` a
    column vector warns, as scikit-learn does); floating results must be finite."""
    if dtype is None:
        dtype = torch.float32
    if y is None:
        raise ValueError(f"{name}: this estimator requires y to be passed, but the target y is None")
    if not isinstance(y, (torch.Tensor, np.ndarray, list, tuple)) and hasattr(y, "__array__"):
        y = np.asarray(y)
    if isinstance(y, (list, tuple)):
        y = np.asarray(y)
    if isinstance(y, np.ndarray):
        if y.dtype.kind not in "biuf":
            try:
                y = y.astype(np.float64)
            except (TypeError, ValueError):
                raise ValueError(f"{name}: Unknown label type: expected numbers, got an array of "
                                 f"{y.dtype}") from None
        y = torch.from_numpy(np.array(y, copy=True))
    if not isinstance(y, torch.Tensor):
        raise TypeError(f"{name}: expected a tensor or array [N], got {type(y).__name__}")
    if y.ndim == 2 and y.shape[1] == 1 and name == "y":
        import warnings

        from sklearn.exceptions import DataConversionWarning
        warnings.warn("A column-vector y was passed when a 1d array was expected (y: [N, 1] is flattened to [N])",
                      DataConversionWarning, stacklevel=3)
    y = y.detach().cpu().reshape(-1) if y.ndim == 2 and 1 in y.shape else y.detach().cpu()
    if y.ndim != 1:
        raise ValueError(f"{name}: expected shape [N], got {tuple(y.shape)}")
    if y.shape[0] != n:
        raise ValueError(f"{name}: has {y.shape[0]} entries but Z has {n} rows (one per image)")
    y = y.to(dtype)
    if dtype.is_floating_point:
        _check_finite_tensor(y, name)
    return y


# numpy arrays, "must be" style of xnb.viz ------------------------------------


def _is_torch(x: Any) -> bool:
    return torch is not None and isinstance(x, torch.Tensor)


def to_numpy(x: Any, name: str) -> np.ndarray:
    """torch (any device) or numpy -> numpy on the CPU; anything else -> TypeError."""
    if _is_torch(x):
        t = x.detach()
        if t.is_complex():
            raise TypeError(f"{name} must be a real-valued tensor, got dtype {t.dtype}")
        if t.dtype in (torch.bfloat16, torch.float16):
            t = t.float()
        return t.cpu().numpy()
    if isinstance(x, np.ndarray):
        return x
    raise TypeError(
        f"{name} must be a torch.Tensor or a numpy.ndarray, got {type(x).__name__}"
    )


def float_array(a: np.ndarray, name: str) -> np.ndarray:
    """Real numeric array -> float32/float64 array (bool and ints become float32)."""
    if a.dtype == np.float32 or a.dtype == np.float64:
        return a
    if a.dtype == np.bool_ or np.issubdtype(a.dtype, np.integer) or a.dtype == np.float16:
        return a.astype(np.float32)
    if np.issubdtype(a.dtype, np.floating):  # longdouble etc.
        return a.astype(np.float64)
    raise TypeError(f"{name} must hold real numbers, got dtype {a.dtype}")


def check_finite_array(a: np.ndarray, name: str) -> None:
    """ValueError counting the NaN and inf values of ``a``, if any."""
    if not np.isfinite(a).all():
        n_nan = int(np.isnan(a).sum())
        n_inf = int(np.isinf(a).sum())
        raise ValueError(
            f"{name} contains non-finite values ({n_nan} NaN, {n_inf} inf); "
            "only finite numbers are allowed"
        )


def check_titles(titles: Any, n: int, name: str = "titles") -> list[str] | None:
    """None, or a sequence (not a single string) of ``n`` titles, as strings."""
    if titles is None:
        return None
    if isinstance(titles, str):
        raise TypeError(f"{name} must be a sequence of strings, not a single string")
    t = [str(x) for x in titles]
    if len(t) != n:
        raise ValueError(f"{name} must have {n} entries, got {len(t)}")
    return t


# --------------------------------------------------------------------------- devices


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
