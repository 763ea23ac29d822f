#!/usr/bin/env python
"""Serve notebooks as Voila dashboards (`make voila`), with the jupyter_client stall fix applied.

Voila's executor mimics an Output-widget front end, like nbclient, and can miss an execute reply
(jupyter/nbclient#312; see tests/_jupyter_patch.py). This launcher applies the fix, then runs Voila's
own command line with the arguments given:

    python scripts/serve_voila.py notebooks --port 8866 --no-browser
"""
from __future__ import annotations

import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))

import _jupyter_patch  # noqa: E402

_jupyter_patch.apply()

from voila.app import main  # noqa: E402

if __name__ == "__main__":
    sys.exit(main())
