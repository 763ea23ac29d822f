#!/usr/bin/env python
"""Execute every notebook headless and print wall time and the kernel's peak memory (RSS).

Binder targets: each notebook <= 60 s on 2 CPU cores and <= 1.5 GB peak RSS (mybinder.org gives 2 GB).
The verdict is on the whole RSS; the anonymous part is printed beside it (torchvision weights are
memory-mapped from their file, so their pages are file-backed: counted in RSS, but droppable and re-read
under memory pressure, where anonymous memory is not).
Runs as users run them (XNB_TEST unset, full size) unless --quick is given.

    python benchmarks/notebooks.py [--quick] [NAME ...]
    python benchmarks/notebooks.py --imagenet-weights PATH [NAME ...]
    python benchmarks/notebooks.py --threads 1 [NAME ...]

``--imagenet-weights`` runs each notebook's ImageNet switch (``USE_VGG16`` / ``USE_IMAGENET = True`` in its
parameter cell) offline: PATH is a VGG16 state dict (or a folder of torchvision state dicts named as
torchvision names them: ``vgg16-397923af.pth``, ``resnet18-f37072fd.pth`` — 02, 03 and 05 default to
ResNet-18; ``random`` writes random-weight ones of every model in ``IMAGENET_MODELS`` into a temporary
folder). They are put where torchvision's cache looks (``TORCH_HOME``), so ``models.load(...,
pretrained=True)`` finds them without a download. Binder targets for the switch: <= 1.8 GB peak RSS and a
few minutes on 1 CPU.

``--threads N`` sets ``OMP_NUM_THREADS``/``MKL_NUM_THREADS`` in the kernel's environment, which PyTorch reads
for its thread count at start-up and :func:`xnb.set_num_threads` (``"auto"``, first cell of every notebook)
honours; with ``--imagenet-weights`` the default is 1 (Binder: 1 CPU), otherwise the notebooks choose.
"""
from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
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
IMAGENET_RSS_TARGET_GB = 1.8
IMAGENET_WALL_TARGET_S = 300.0
#: the torchvision models the notebooks' ImageNet switches load
IMAGENET_MODELS = ("vgg16", "resnet18")


def _imagenet_home(weights: str) -> str:
    """A TORCH_HOME whose hub cache holds the given (or random) ImageNet weights under torchvision's names."""
    import torch
    import torchvision

    from xnb.models import PRETRAINED

    home = Path(tempfile.mkdtemp(prefix="xnb-torch-home-"))
    ckpt = home / "hub" / "checkpoints"
    ckpt.mkdir(parents=True)
    for name in IMAGENET_MODELS:
        enum_name, member = PRETRAINED[name].split(".")
        fname = Path(getattr(torchvision.models, enum_name)[member].url).name
        if weights == "random":
            torch.manual_seed(0)
            torch.save(getattr(torchvision.models, name)(weights=None).state_dict(), ckpt / fname)
        elif Path(weights).is_dir():
            if (Path(weights) / fname).is_file():
                (ckpt / fname).symlink_to(Path(weights).resolve() / fname)
        elif name == "vgg16":
            (ckpt / fname).symlink_to(Path(weights).resolve())
    return str(home)


def _switched_copy(path: Path, out_dir: Path) -> Path | None:
    """A copy of the notebook with its ImageNet switch on (None when it has none)."""
    nb = json.loads(path.read_text())
    hit = False
    for cell in nb["cells"]:
        if cell["cell_type"] != "code":
            continue
        src = "".join(cell["source"])
        for flag in ("USE_VGG16 = False", "USE_IMAGENET = False"):
            if flag in src:
                src = src.replace(flag, flag.replace("False", "True"))
                hit = True
        cell["source"] = src
    if not hit:
        return None
    out = out_dir / path.name
    out.write_text(json.dumps(nb))
    return out


def _rss_anon(pid: int) -> int | None:
    """Anonymous resident bytes (Linux ``RssAnon``): what the kernel cannot drop under memory pressure,
    unlike file-backed pages such as memory-mapped weights (``RssFile``), which it can re-read."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("RssAnon:"):
                return int(line.split()[1]) * 1024
    except OSError:
        pass
    return None


class PeakKernelRSS:
    """Polls this process's descendants; keeps the peak RSS (and peak anonymous RSS) of the ipykernel
    process."""

    def __init__(self, every_s: float = 0.05):
        self.every_s = every_s
        self.peak = 0
        self.peak_anon = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self):
        me = psutil.Process()
        while not self._stop.is_set():
            for child in me.children(recursive=True):
                try:
                    if "ipykernel" in " ".join(child.cmdline()):
                        self.peak = max(self.peak, child.memory_info().rss)
                        self.peak_anon = max(self.peak_anon, _rss_anon(child.pid) or 0)
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
    ap.add_argument("--imagenet-weights", metavar="PATH",
                    help="run the ImageNet switch with this VGG16 state dict (or folder, or 'random')")
    ap.add_argument("--threads", type=int, metavar="N",
                    help="PyTorch threads in the kernel (OMP_NUM_THREADS; default: 1 with --imagenet-weights)")
    args = ap.parse_args(argv)
    if args.threads is not None and args.threads < 1:
        ap.error("--threads: expected an int >= 1")
    paths = sorted((ROOT / "notebooks").glob("[0-9]*.ipynb"))
    if args.names:
        paths = [p for p in paths if p.name in args.names or p.stem in args.names]
    # the runner's kernels get XNB_TEST=1 by default; an empty value means "full size" to the notebooks
    # (progress bars stay off: under a headless executor each tqdm widget update costs ~1 s)
    env = {"XNB_TEST": "1"} if args.quick else {"XNB_TEST": ""}
    wall_target, rss_target = WALL_TARGET_S, RSS_TARGET_GB
    if args.imagenet_weights:
        env["TORCH_HOME"] = _imagenet_home(args.imagenet_weights)
        if args.threads is None:
            args.threads = 1  # Binder: 1 CPU
        work = Path(tempfile.mkdtemp(prefix="xnb-imagenet-nb-"))
        paths = [c for c in (_switched_copy(p, work) for p in paths) if c is not None]
        wall_target, rss_target = IMAGENET_WALL_TARGET_S, IMAGENET_RSS_TARGET_GB
    if args.threads is not None:
        env.update(OMP_NUM_THREADS=str(args.threads), MKL_NUM_THREADS=str(args.threads))
    mode = "XNB_TEST=1" if args.quick else "full size"
    if args.imagenet_weights:
        mode += f", ImageNet switch on ({args.imagenet_weights})"
    threads = f", {args.threads} PyTorch thread(s)" if args.threads is not None else ""
    print(f"notebooks on {os.cpu_count()} CPU cores, {mode}{threads}\n")
    print(f"| notebook | wall s | peak kernel RSS GB | of it anonymous GB | within {wall_target:.0f} s / "
          f"{rss_target} GB | problems |")
    print("|---|---|---|---|---|---|")
    for path in paths:
        with PeakKernelRSS() as rss:
            run = run_notebook(path, env=env, budget_s=1800 if args.imagenet_weights else 600,
                               cwd=ROOT / "notebooks", artifact_dir=ROOT / "artifacts" / "bench-notebooks")
        gb = rss.peak / 2**30
        ok = run.wall_s <= wall_target and gb <= rss_target
        problems = "; ".join(p for p in run.problems() if "budget" not in p)[:120]
        anon = f"{rss.peak_anon / 2**30:.2f}" if rss.peak_anon else "n/a"
        print(f"| {path.name} | {run.wall_s:.1f} | {gb:.2f} | {anon} | {'yes' if ok else 'NO'} | {problems} |",
              flush=True)


if __name__ == "__main__":
    main()
