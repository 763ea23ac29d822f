"""Load a script of ``scripts/`` as a module (the scripts are not a package), for the tests that check them."""
from __future__ import annotations

import importlib.util
from pathlib import Path
from types import ModuleType

ROOT = Path(__file__).resolve().parents[1]


def load_script(name: str) -> ModuleType:
    """``scripts/<name>.py`` imported under the module name ``xnb_scripts_<name>``."""
    spec = importlib.util.spec_from_file_location(f"xnb_scripts_{name}", ROOT / "scripts" / f"{name}.py")
    assert spec and spec.loader, name
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module
