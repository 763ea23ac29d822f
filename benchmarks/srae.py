"""SRAE on the shipped flowers-single model (fc6 after its ReLU): Table 1 (faithfulness, orthogonality,
locality) and Table 3 (masking accuracy) for several classes and seeds, printed as tables.

    .venv/bin/python benchmarks/srae.py [--classes 0 1 2 3 4 5] [--seeds 0 1 2] [--n-train 2000]
    .venv/bin/python benchmarks/srae.py --claims [--quick] [--seeds 0 1 2]   # the paired claims table only

Each fit is timed (the notebook needs them in seconds on 2 CPU cores).
"""
from __future__ import annotations

import argparse
import time

import numpy as np
import torch

from xnb import data, models, srae


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--classes", type=int, nargs="+", default=[0, 2, 4])
    ap.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    ap.add_argument("--n-train", type=int, default=2000)
    ap.add_argument("--n-test", type=int, default=600)
    ap.add_argument("--n-eval", type=int, default=30)
    ap.add_argument("--epochs", type=int, default=20)
    ap.add_argument("--methods", nargs="+", default=list(srae.METHODS))
    ap.add_argument("--claims", action="store_true", help="print srae.claims() (SRAE vs baselines paired over seeds)")
    ap.add_argument("--quick", action="store_true", help="with --claims: the quick sizes")
    args = ap.parse_args()
    if args.claims:
        import pandas as pd

        from xnb import claims as xclaims
        t = time.perf_counter()
        out = srae.claims(seeds=tuple(args.seeds), quick=args.quick)
        cols = ["claim", "ours (mean ± sd)", "per seed", "wins", "verdict"]  # SRAE / baseline, paired by seed
        with pd.option_context("display.max_colwidth", 70, "display.width", 250):
            print(xclaims.table(out)[cols].to_string(index=False, justify="left"))
        print(f"\n{time.perf_counter() - t:.1f} s (noisy: shared CPU)")
        return
    model = models.load("flowers-single")
    train, test = data.flowers(args.n_train, seed=100), data.flowers(args.n_test, seed=101)
    Z, L = srae.features(model, "relu6", train, return_output=True)
    Zt, Lt = srae.features(model, "relu6", test, return_output=True)
    fit = dict(hidden=(64, 32), epochs=args.epochs, batch_size=50, progress=False)
    rows = {m: [] for m in args.methods}
    rows3 = ["SRAE (all x-features)", "SRAE (top x-feature)", "EB on y"]
    masking = {m: {g: [] for g in (1, 5, 10, 30)} for m in rows3}
    kept = {m: {g: [] for g in (1, 5, 10, 30)} for m in rows3}
    for c in args.classes:
        pos, post = train.labels == c, test.labels == c
        idx = torch.nonzero(post).flatten()[: args.n_eval]
        hy = srae.class_heatmaps(model, test.images[idx], c, saliency_layer="pool2")
        for seed in args.seeds:
            for m in args.methods:
                kw = {} if m == "Lasso" else dict(fit, seed=seed)
                t = time.perf_counter()
                est = srae.METHODS[m](**kw).fit(Z, L[:, c], positive=pos)
                dt = time.perf_counter() - t
                r = srae.evaluate(est, model, "relu6", test.images, Zt, Lt, c, post, test.keypoints, test.boxes,
                                  saliency_layer="pool2", n_eval=args.n_eval)
                r["fit_s"] = dt
                rows[m].append(r)
                print(f"class {c} seed {seed} {m:5s} fit {dt:4.1f}s F_reg {r['F_reg']:7.3f} F_cls {r['F_cls']:.4f} "
                      f"O1 {r['O1']:.3f} O2 {r['O2']:.3f} loc {r['locality']:.3f} used {r['n_used']}", flush=True)
                if m == "SRAE":
                    top = int(est.contributions(Zt[idx]).mean(0).argmax())
                    for name, h in [(rows3[0], r["maps"]), (rows3[1], r["maps"][:, top])]:
                        for g in masking[name]:
                            masking[name][g].append(srae.masking_accuracy(model, test.images[idx], h, test.labels[idx], g))
                            kept[name][g].append(srae.kept_fraction(h, g))
        for g in masking["EB on y"]:
            masking["EB on y"][g].append(srae.masking_accuracy(model, test.images[idx], hy, test.labels[idx], g))
            kept["EB on y"][g].append(srae.kept_fraction(hy, g))
    print("\nTable 1 (mean ± sd over classes × seeds; O1, O2, locality on positives)")
    print(f"{'':10s}" + "".join(f"{m:>18s}" for m in args.methods))
    for key in ("F_reg", "F_reg_pos", "F_cls", "O1", "O2", "locality", "n_used", "fit_s"):
        cells = []
        for m in args.methods:
            v = np.array([r[key] for r in rows[m]], dtype=float)
            v = v[np.isfinite(v)]
            cells.append(f"{v.mean():9.3f} ± {v.std():5.3f}" if len(v) else "n/a")
        print(f"{key:10s}" + "".join(f"{c:>18s}" for c in cells))
    print("\nTable 3 (masking accuracy on positives; in brackets the fraction of pixels kept)")
    for m in rows3:
        print(f"{m:22s}" + "".join(f"  γ={g}%: {np.mean(v):.3f} ({np.mean(kept[m][g]):.2f})"
                                   for g, v in masking[m].items()))


if __name__ == "__main__":
    main()
