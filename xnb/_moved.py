"""Old names that moved, kept for one release with a DeprecationWarning (PEP 562 module ``__getattr__``)."""
from __future__ import annotations

import importlib
import warnings


def moved(module: str, names: dict[str, str]):
    """A module ``__getattr__`` for ``module`` whose ``names`` moved: {old name: "new.module"} (the public
    module the name is imported from now). Accessing one warns and returns the object from its new home;
    any other name raises AttributeError."""

    def __getattr__(name: str):
        if name in names:
            new = names[name]
            warnings.warn(f"{module}.{name} moved to {new}.{name}; the old name will be "
                          f"removed in the next release", DeprecationWarning, stacklevel=2)
            return getattr(importlib.import_module(new), name)
        raise AttributeError(f"module {module!r} has no attribute {name!r}")

    return __getattr__
