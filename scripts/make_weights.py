#!/usr/bin/env python
"""Regenerate the shipped weights in xnb/weights/ deterministically (CPU, a few minutes in all).

    python scripts/make_weights.py            # every model
    python scripts/make_weights.py digits     # one

Each recipe fixes the data seed, the training seed and the hyper-parameters; the test set uses a seed
never used for training. The printed table is what the README and tests/test_models.py rely on.
"""
from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from xnb import data, models  # noqa: E402

TEST_SEED = 2026  # fresh data for evaluation; no recipe trains on it
OUT = ROOT / "xnb" / "weights"


def _flowers_recipe(variant: str, n: int, epochs: int):
    def build():
        train = data.flowers(n, variant=variant, seed=1)
        test = data.flowers(1000, variant=variant, seed=TEST_SEED)
        cfg = models.VGGConfig(n_outputs=len(train.class_names), class_names=tuple(train.class_names))
        return cfg, train, test, dict(epochs=epochs, lr=3e-3)
    return build


def _attributes_recipe():
    train = data.flowers(8000, variant="double", seed=1)
    test = data.flowers(1000, variant="double", seed=TEST_SEED)
    cfg = models.VGGConfig(n_outputs=len(train.concept_names), class_names=tuple(train.concept_names),
                           multilabel=True)
    # Trained from scratch, the multi-label net sits on the base rates for many epochs (its features
    # carry too little about the small parts at first); starting from flowers-double's layers (all but
    # fc8) it learns every concept. So flowers-double must be built first (RECIPES order).
    init = {k: v.float() for k, v in models.load("flowers-double", weights=OUT / "flowers-double.pt")
            .state_dict().items() if not k.startswith("fc8.")}
    return cfg, (train.images, train.concepts), (test.images, test.concepts), dict(epochs=40, lr=2e-3), init


def _digits_recipe():
    train = data.digits("train", seed=0)
    test = data.digits("test", seed=0)
    cfg = models.VGGConfig(in_channels=1, n_outputs=10, input_size=32, pool_size=2,
                           class_names=tuple(train.class_names))
    return cfg, train, test, dict(epochs=40, lr=3e-3)


RECIPES = {
    "flowers-single": _flowers_recipe("single", 6000, 8),
    "flowers-double": _flowers_recipe("double", 9000, 10),
    "digits": _digits_recipe,
    "flowers-attributes": _attributes_recipe,
}


def make(name: str, out_dir: Path) -> dict:
    global OUT
    OUT = out_dir
    cfg, train, test, hp, *init = RECIPES[name]()
    torch.manual_seed(0)
    model = models.SmallVGG(cfg)
    if init:
        model.load_state_dict(init[0], strict=False)
    t0 = time.time()
    models.train(model, train, seed=0, **hp)
    seconds = time.time() - t0
    path = out_dir / f"{name}.pt"
    models.save(model, path)
    # evaluate the weights exactly as shipped (float16 round trip)
    shipped = models.load(name, weights=path)
    score = models.evaluate(shipped, test)
    score.pop("confusion", None)
    score.pop("auc", None)
    return {"name": name, "seconds": round(seconds, 1), "bytes": path.stat().st_size, **score}


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("names", nargs="*", help=f"models to (re)train, among {list(RECIPES)}")
    parser.add_argument("--out", default=str(ROOT / "xnb" / "weights"))
    args = parser.parse_args(argv)
    torch.use_deterministic_algorithms(True)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    for name in args.names or list(RECIPES):
        row = make(name, out)
        print(" | ".join(f"{k}={v:.4f}" if isinstance(v, float) else f"{k}={v}" for k, v in row.items()),
              flush=True)


if __name__ == "__main__":
    main()
