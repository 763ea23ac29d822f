"""xnb — explore and teach how convolutional image classifiers decide.

The core: :func:`layers`, :func:`capture`, :func:`attribute` (Captum-backed heatmaps for classes and
internal units), :mod:`xnb.viz` (rendering), :mod:`xnb.widgets` (live explorers), :mod:`xnb.data`
(embedded datasets with ground truth) and :mod:`xnb.models` (small CNNs with shipped weights).
"""
from __future__ import annotations

import importlib

from .layers import LayerInfo, capture, layers
from .attribution import METHODS, attribute, explained_score
from ._threads import set_num_threads

__version__ = "0.2.0.dev0"

_SUBMODULES = {"data", "models", "viz", "widgets", "exercises", "metrics", "claims", "notebooks", "srae", "additive",
               "mulasso", "resample",
               "sevec", "sanity"}

__all__ = ["layers", "capture", "attribute", "explained_score", "METHODS", "LayerInfo", "set_num_threads", *sorted(_SUBMODULES)]


def __getattr__(name):  # lazy submodules: `import xnb` stays fast
    if name in _SUBMODULES:
        return importlib.import_module(f".{name}", __name__)
    raise AttributeError(f"module 'xnb' has no attribute {name!r}")
