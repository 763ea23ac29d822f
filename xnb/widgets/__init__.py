"""Live explorers (ipywidgets 8): thin views over cached computations, PNG bytes into Image widgets.

Every explorer is an ``ipywidgets.VBox``: display it, or put it into any container or Voila layout.
:class:`HeatmapExplorer` is the core explorer; one explorer per paper sits in its own file
(``xnb/widgets/srae.py`` ...) and imports the paper module, never the reverse; :mod:`xnb.widgets.base`
holds the building blocks (:class:`ImageView`, :class:`ErrorArea`, :func:`guarded`, :class:`LRUCache`,
:class:`Panel`) they reuse.
"""
from .additive import AdditiveExplorer
from .base import ErrorArea, ImageView, LRUCache, Panel, Timer, guarded
from .explorer import HeatmapExplorer
from .mulasso import MuLassoExplorer
from .resample import ResamplingExplorer
from .sanity import RandomizationExplorer, ShortcutExplorer
from .sevec import SeVecExplorer
from .srae import SRAEExplorer

__all__ = ["HeatmapExplorer", "SRAEExplorer", "AdditiveExplorer", "MuLassoExplorer", "ResamplingExplorer",
           "SeVecExplorer", "RandomizationExplorer", "ShortcutExplorer", "ImageView", "ErrorArea", "guarded", "LRUCache", "Panel", "Timer"]
