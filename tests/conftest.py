"""Session-wide test set-up for xnb.

Applies the Output-widget stall fix (see ``tests/_jupyter_patch.py``) once, at import, before
any notebook executor can create a kernel client.
"""
from __future__ import annotations

import sys
from pathlib import Path

_TESTS_DIR = Path(__file__).resolve().parent
# Make the helper importable whether or not tests/ is a package (rootdir/prepend import modes).
if str(_TESTS_DIR) not in sys.path:
    sys.path.insert(0, str(_TESTS_DIR))

import _jupyter_patch  # noqa: E402

_jupyter_patch.apply()
