#!/usr/bin/env python
"""Execute every notebook headless and print wall time and the kernel's peak memory (RSS).

Binder targets: each notebook <= 60 s on 2 CPU cores and <= 1.5 GB peak RSS (mybinder.org gives 2 GB).
Runs as users run them (XNB_TEST unset, full size) unless --quick is given.

    python benchmarks/notebooks.py [--quick] [NAME ...]
"""
from __future__ import annotations

import argparse
import os
import sys
import threading
import time
from pathlib import Path

import psutil

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))

import _jupyter_patch  # noqa: E402

_jupyter_patch.apply()

from test_notebooks import run_notebook  # noqa: E402

WALL_TARGET_S = 60.0
RSS_TARGET_GB = 1.5


class PeakKernelRSS:
    """Polls this process's descendants; keeps the peak RSS of the ipykernel process."""

    def __init__(self, every_s: float = 0.05):
        self.every_s = every_s
        self.peak = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self):
        me = psutil.Process()
        while not self._stop.is_set():
            for child in me.children(recursive=True):
                try:
                    if "ipykernel" in " ".join(child.cmdline()):
                        self.peak = max(self.peak, child.memory_info().rss)
                except (psutil.NoSuchProcess, psutil.AccessDenied):
                    pass
            self._stop.wait(self.every_s)

    def __enter__(self):
        self._thread.start()
        return self

    def __exit__(self, *exc):
        self._stop.set()
        self._thread.join()


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("names", nargs="*", help="notebook file names (default: all in notebooks/)")
    ap.add_argument("--quick", action="store_true", help="set XNB_TEST=1 (the test suite's smaller runs)")
    args = ap.parse_args(argv)
    paths = sorted((ROOT / "notebooks").glob("[0-9]*.ipynb"))
    if args.names:
        paths = [p for p in paths if p.name in args.names or p.stem in args.names]
    # the runner's kernels get XNB_TEST=1 by default; an empty value means "full size" to the notebooks
    # (progress bars stay off: under a headless executor each tqdm widget update costs ~1 s)
    env = {"XNB_TEST": "1"} if args.quick else {"XNB_TEST": ""}
    print(f"notebooks on {os.cpu_count()} CPU cores, {'XNB_TEST=1' if args.quick else 'full size'}\n")
    print("| notebook | wall s | peak kernel RSS GB | within 60 s / 1.5 GB | problems |")
    print("|---|---|---|---|---|")
    for path in paths:
        with PeakKernelRSS() as rss:
            run = run_notebook(path, env=env, budget_s=600,
                               artifact_dir=ROOT / "artifacts" / "bench-notebooks")
        gb = rss.peak / 2**30
        ok = run.wall_s <= WALL_TARGET_S and gb <= RSS_TARGET_GB
        problems = "; ".join(p for p in run.problems() if "budget" not in p)[:120]
        print(f"| {path.name} | {run.wall_s:.1f} | {gb:.2f} | {'yes' if ok else 'NO'} | {problems} |", flush=True)


if __name__ == "__main__":
    main()
