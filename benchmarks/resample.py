#!/usr/bin/env python
"""Input resampling speed on the shipped flower model, printed as a table.

(a) all six metrics for all conv layers of ``flowers-single`` for one image with n = 50 copies
    (one batched forward over the clean image + 50 copies, streaming statistics, then scores);
    target: median <= 0.5 s on 2 CPU cores;
(b) the same statistics from 50 separate single-image forward passes (+ the clean image) versus the
    batched pass: the ">= 5x faster batched" target is for a GPU only (printed with --device cuda); on a
    CPU the small model's forward is compute-bound (measured ceiling ~1.3x), so the ratio is printed
    without a target;
(c) for reference: the patches (batched deconvnet) of every unit of each conv layer, in one pass and
    chunked (``batch_size`` = 8 units per deconvnet pass: memory bounded by 8 image copies, whatever the
    number of units; same boxes — checked).

    python benchmarks/resample.py [--reps 20] [--threads 2] [--device cpu]
"""
from __future__ import annotations

import argparse
import time
import warnings

import numpy as np
import torch

warnings.filterwarnings("ignore")


def timed(fn, reps):
    fn()  # warm-up
    ts = []
    for _ in range(reps):
        t = time.perf_counter()
        fn()
        ts.append(time.perf_counter() - t)
    return np.asarray(ts)


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--reps", type=int, default=20)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--n", type=int, default=50)
    ap.add_argument("--device", default="cpu")
    args = ap.parse_args(argv)
    torch.set_num_threads(args.threads)

    import xnb
    from xnb import data, models, resample as R

    model = models.load("flowers-single", device=args.device)
    x = data.flowers(1, seed=7).images
    convs = [i.name for i in xnb.layers(model) if i.kind == "conv"]

    def batched():
        return R.neuron_importance_all(model, x, convs, n=args.n)

    def separate():
        # the same statistics, one forward pass per copy (batch_size=1 streams them one by one)
        return R.neuron_importance_all(model, x, convs, n=args.n, batch_size=1)

    def forwards_only_batched():
        rows = torch.cat([x, R.perturb(x, args.n)]).to(args.device)
        with torch.no_grad(), xnb.capture(model, convs, detach=True):
            model(rows)

    def forwards_only_separate():
        rows = torch.cat([x, R.perturb(x, args.n)]).to(args.device)
        with torch.no_grad(), xnb.capture(model, convs, detach=True):
            for i in range(len(rows)):
                model(rows[i:i + 1])

    a = batched()
    b = separate()
    # same statistics up to float32 round-off of batched vs single-image convolutions
    same_top = all(R.top_neurons(a[l][m], 5) == R.top_neurons(b[l][m], 5) for l in a for m in a[l])
    rel = 0.0
    for l in a:
        for m in a[l]:
            fin = torch.isfinite(b[l][m])
            if fin.any():
                d = (a[l][m] - b[l][m])[fin].abs() / b[l][m][fin].abs().clamp(min=1e-12)
                rel = max(rel, float(d.max()))

    t_all = timed(batched, args.reps)
    t_sep = timed(separate, max(3, args.reps // 4))
    t_fb = timed(forwards_only_batched, args.reps)
    t_fs = timed(forwards_only_separate, max(3, args.reps // 4))
    t_patch = {l: timed(lambda l=l: R.patches(model, x, l), max(3, args.reps // 4)) for l in convs}
    t_chunk = {l: timed(lambda l=l: R.patches(model, x, l, batch_size=8), max(3, args.reps // 4)) for l in convs}
    same_boxes = all(np.array_equal(R.patches(model, x, l).boxes, R.patches(model, x, l, batch_size=8).boxes)
                     for l in convs)

    med = lambda t: 1000 * float(np.median(t))
    p95 = lambda t: 1000 * float(np.percentile(t, 95))
    print(f"\ninput resampling on flowers-single, 1 image 64x64, n = {args.n}, {args.threads} thread(s), "
          f"device {args.device}, layers {', '.join(convs)}\n")
    print(f"{'what':62s} {'median ms':>10s} {'p95 ms':>8s}  target")
    print("-" * 100)
    ok_a = med(t_all) <= 500
    print(f"{'(a) 6 metrics x ' + str(len(convs)) + ' conv layers, one batched pass':62s} {med(t_all):10.1f} "
          f"{p95(t_all):8.1f}  <= 500 ms: {'met' if ok_a else 'NOT met'}")
    print(f"{'(b) same, 51 separate forward passes (batch_size=1)':62s} {med(t_sep):10.1f} {p95(t_sep):8.1f}")
    r = med(t_sep) / med(t_all)
    gpu = str(args.device).startswith("cuda")
    target = lambda v: (f">= 5x: {'met' if v >= 5 else 'NOT met'}" if gpu
                        else "(no target on a CPU: compute-bound)")
    print(f"{'    speed-up of the batched pass':62s} {r:10.1f}x {'':8s}  {target(r)}")
    print(f"{'(b) forward passes only: one batch of 51':62s} {med(t_fb):10.1f} {p95(t_fb):8.1f}")
    print(f"{'(b) forward passes only: 51 single-image passes':62s} {med(t_fs):10.1f} {p95(t_fs):8.1f}")
    r2 = med(t_fs) / med(t_fb)
    print(f"{'    speed-up of the batched forward':62s} {r2:10.1f}x {'':8s}  {target(r2)}")
    print(f"{'    batched vs separate: largest relative score difference':62s} {rel:10.2e}   "
          f"same top-5 everywhere: {same_top}")
    for l, t in t_patch.items():
        n_units = dict((i.name, i) for i in xnb.layers(model))[l].output_shape[0]
        print(f"{'(c) patches of all ' + str(n_units) + ' units of ' + l + ' (batched deconvnet)':62s} "
              f"{med(t):10.1f} {p95(t):8.1f}")
        t8 = t_chunk[l]
        print(f"{'    same, batch_size=8 (8 units per deconvnet pass)':62s} {med(t8):10.1f} {p95(t8):8.1f}")
    print(f"{'    chunked vs one pass: same boxes':62s} {str(same_boxes):>10s}")


if __name__ == "__main__":
    main()
