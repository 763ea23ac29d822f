"""Live explorers (ipywidgets 8): thin views over cached computations, PNG bytes into Image widgets.

:class:`HeatmapExplorer` is the core explorer; :mod:`xnb.widgets.base` holds the building blocks
(:class:`ImageView`, :class:`ErrorArea`, :func:`guarded`, :class:`LRUCache`, :class:`Panel`) the
per-paper explorers reuse.
"""
from .base import ErrorArea, ImageView, LRUCache, Panel, Timer, guarded
from .explorer import HeatmapExplorer

__all__ = ["HeatmapExplorer", "ImageView", "ErrorArea", "guarded", "LRUCache", "Panel", "Timer"]
