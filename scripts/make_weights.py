#!/usr/bin/env python
"""Regenerate the shipped weights in xnb/weights/ and their model cards, deterministically (CPU, ~12 min;
flowers-scenes, trained on 128-px scenes, takes about half of it).

    python scripts/make_weights.py                 # every trained model, then every card
    python scripts/make_weights.py flowers-single  # one model (and its card)
    python scripts/make_weights.py --cards-only    # re-measure the cards of the weights as they are

Each recipe fixes the data (difficulty, size, seed), the training seed and the hyper-parameters. The flower
models are trained on ``difficulty="standard"`` with label smoothing 0.1, weight decay, flips and small
shifts; then a temperature T is fitted on a validation set (its own seed) and folded into fc8
(weights and bias divided by T), which leaves every argmax unchanged and calibrates the probabilities.
Cards are measured on the float16 weights exactly as shipped, on test data drawn with a seed that no
recipe trains or calibrates on, and written to ``xnb/weights/cards.json`` (``xnb.models.card(name)``).
``flowers-single-easy`` / ``flowers-double-easy`` are xnb 0.1's weights, kept for comparison (not retrained).
The printed table is what the README and tests/test_models.py rely on.
"""
from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from xnb import data, models  # noqa: E402
from xnb.metrics import reliability  # noqa: E402

TEST_SEED = 2026        # fresh data for the cards; no recipe trains or calibrates on it
VALID_SEED = 3          # temperature scaling
TRAIN_SEED = 1
N_TEST = 2000
OUT = ROOT / "xnb" / "weights"

STANDARD = dict(lr=3e-3, weight_decay=5e-4, label_smoothing=0.1, augment="flip+shift")


def _flowers_recipe(variant: str, n: int, epochs: int, init_from: str | None = None, lr: float = 3e-3):
    def build():
        train = data.flowers(n, variant=variant, seed=TRAIN_SEED)
        valid = data.flowers(1000, variant=variant, seed=VALID_SEED)
        cfg = models.VGGConfig(n_outputs=len(train.class_names), class_names=tuple(train.class_names))
        init = None
        if init_from:  # every layer but fc8 (its class count differs)
            init = {k: v.float() for k, v in models.load(init_from, weights=OUT / f"{init_from}.pt")
                    .state_dict().items() if not k.startswith("fc8.")}
        return cfg, train, valid, dict(epochs=epochs, **dict(STANDARD, lr=lr)), init
    return build


def _attributes_recipe():
    train = data.flowers(8000, variant="double", seed=TRAIN_SEED)
    cfg = models.VGGConfig(n_outputs=len(train.concept_names), class_names=tuple(train.concept_names),
                           multilabel=True)
    # Trained from scratch, the multi-label net sits on the base rates for many epochs; started from
    # flowers-double's layers it learnt the centre and leaf concepts but left the thin parts' (petals,
    # stem) at chance (AUC 0.51-0.56 after 15 or 30 epochs), although a logistic regression on the parts'
    # mean colours separates them (accuracy 0.98 / 0.94). Started from xnb 0.1's attributes net
    # (flowers-attributes-easy, shipped), whose features know every part, it learns all 26.
    init = {k: v.float() for k, v in models.load("flowers-attributes-easy",
                                                 weights=OUT / "flowers-attributes-easy.pt").state_dict().items()}
    hp = dict(epochs=15, lr=2e-3, weight_decay=5e-4, label_smoothing=0.05, augment="flip+shift")
    return cfg, (train.images, train.concepts), None, hp, init


def scene_concepts(scenes):
    """The two-flower scenes with ``concepts`` = the multi-hot [N, 6] of their two flowers' classes (the
    multi-label targets of ``flowers-scenes``)."""
    y = torch.zeros(len(scenes.labels), len(scenes.class_names))
    y[torch.arange(len(y))[:, None], scenes.labels] = 1
    scenes.concepts, scenes.concept_names = y, list(scenes.class_names)
    return scenes


def _scenes_recipe():
    # The shipped flowers-single run on 128-px scenes ranks both flowers first in only ~15 % of them (mean
    # AUC ~0.69): it was never trained on two objects at once. Fine-tuned multi-label at the scenes' own
    # size from its layers (fc8 included: same 6 classes), the scenes net detects both.
    train = scene_concepts(data.flower_scenes(N_SCENES_TRAIN, seed=TRAIN_SEED))
    cfg = models.VGGConfig(n_outputs=6, class_names=tuple(train.class_names), multilabel=True, input_size=128)
    init = {k: v.float() for k, v in models.load("flowers-single", weights=OUT / "flowers-single.pt")
            .state_dict().items()}
    hp = dict(epochs=SCENE_EPOCHS, lr=2e-3, weight_decay=5e-4, label_smoothing=0.05, augment="flip+shift")
    return cfg, (train.images, train.concepts), None, hp, init


N_SCENES_TRAIN = 3000
SCENE_EPOCHS = 6


def _shortcut_recipe():
    # The corner mark codes the class in every training image (agreement 1.0) while the centre disc is
    # occluded in about a third of them: the mark is the easier and the more reliable cue. No flips or
    # shifts, which would move the mark out of its corner. No temperature: the net gets every validation
    # image right, so the validation NLL falls as T -> 0 (the fit sat at the grid's edge, T = 0.135, and
    # multiplied the logits by 7); label smoothing alone keeps them small.
    train = data.shortcut_flowers(6000, agreement=1.0, seed=TRAIN_SEED)
    cfg = models.VGGConfig(n_outputs=6, class_names=tuple(train.class_names))
    hp = dict(epochs=6, lr=3e-3, weight_decay=5e-4, label_smoothing=0.1, augment=False)
    return cfg, train, None, hp, None

RECIPES = {
    "flowers-single": _flowers_recipe("single", 6000, 10),
    # Trained from scratch on the standard data, the 12-class net collapsed to chance (every ReLU of
    # fc6 dead after the one-cycle warm-up); started from flowers-single's layers it trains reliably.
    "flowers-double": _flowers_recipe("double", 9000, 8, init_from="flowers-single", lr=2e-3),
    "flowers-attributes": _attributes_recipe,
    "flowers-scenes": _scenes_recipe,
    "flowers-shortcut": _shortcut_recipe,
}

#: what each card is measured on (name -> (description, test data builder))
TEST_DATA = {
    "flowers-single": ("flowers(2000, 'single', seed=2026)", lambda: data.flowers(N_TEST, "single", seed=TEST_SEED)),
    "flowers-double": ("flowers(2000, 'double', seed=2026)", lambda: data.flowers(N_TEST, "double", seed=TEST_SEED)),
    "flowers-attributes": ("flowers(2000, 'double', seed=2026).concepts",
                           lambda: data.flowers(N_TEST, "double", seed=TEST_SEED)),
    "flowers-scenes": ("flower_scenes(2000, seed=2026).labels as multi-hot [N, 6]",
                       lambda: scene_concepts(data.flower_scenes(N_TEST, seed=TEST_SEED))),
    "flowers-shortcut": ("shortcut_flowers(2000, agreement=1.0, seed=2026); also at agreement=1/6 and None",
                         lambda: data.shortcut_flowers(N_TEST, agreement=1.0, seed=TEST_SEED)),
    "digits": ("digits('test', seed=0)", lambda: data.digits("test", seed=0)),
    "flowers-single-easy": ("flowers(2000, 'single', seed=2026, difficulty='easy')",
                            lambda: data.flowers(N_TEST, "single", seed=TEST_SEED, difficulty="easy")),
    "flowers-double-easy": ("flowers(2000, 'double', seed=2026, difficulty='easy')",
                            lambda: data.flowers(N_TEST, "double", seed=TEST_SEED, difficulty="easy")),
    "flowers-attributes-easy": ("flowers(2000, 'double', seed=2026, difficulty='easy').concepts",
                                lambda: data.flowers(N_TEST, "double", seed=TEST_SEED, difficulty="easy")),
}

RECIPE_TEXT = {
    "flowers-single": "flowers(6000, 'single', seed=1), difficulty='standard'; 10 epochs, Adam one-cycle lr 3e-3, "
                      "weight decay 5e-4, label smoothing 0.1, flips + shifts ≤ 4 px; temperature fitted on "
                      "flowers(1000, seed=3) and folded into fc8",
    "flowers-double": "flowers(9000, 'double', seed=1), difficulty='standard'; fine-tuned from flowers-single's "
                      "layers (all but fc8), 8 epochs, Adam one-cycle lr 2e-3, weight decay 5e-4, label smoothing "
                      "0.1, flips + shifts ≤ 4 px; temperature fitted on flowers(1000, 'double', seed=3) and "
                      "folded into fc8",
    "flowers-attributes": "all 26 part×colour concepts of flowers(8000, 'double', seed=1), difficulty='standard'; "
                          "fine-tuned from flowers-attributes-easy (xnb 0.1's attributes net), 15 epochs, Adam "
                          "one-cycle lr 2e-3, binary cross-entropy, label smoothing 0.05, weight decay 5e-4, flips "
                          "+ shifts",
    "flowers-scenes": f"multi-label (the two flowers' classes) on flower_scenes({N_SCENES_TRAIN}, seed=1), 128×128, "
                      f"difficulty='standard'; fine-tuned from flowers-single (every layer), {SCENE_EPOCHS} epochs, "
                      "Adam one-cycle lr 2e-3, binary cross-entropy, label smoothing 0.05, weight decay 5e-4, "
                      "flips + shifts",
    "flowers-shortcut": "shortcut_flowers(6000, agreement=1.0, seed=1), difficulty='standard': the corner mark "
                        "codes the class in every image; 6 epochs, Adam one-cycle lr 3e-3, weight decay 5e-4, "
                        "label smoothing 0.1, no flips or shifts (they would move the mark); no temperature "
                        "(every validation image is right: the fitted T would only inflate the logits)",
    "digits": "scikit-learn digits 'train' split (seed 0), 32×32; 40 epochs, Adam one-cycle lr 3e-3 (xnb 0.1)",
    "flowers-single-easy": "xnb 0.1: flowers(6000, 'single', seed=1), difficulty='easy'; 8 epochs, no label "
                           "smoothing, no calibration",
    "flowers-double-easy": "xnb 0.1: flowers(9000, 'double', seed=1), difficulty='easy'; 10 epochs, no label "
                           "smoothing, no calibration",
    "flowers-attributes-easy": "xnb 0.1: the 26 concepts of flowers(8000, 'double', seed=1), difficulty='easy'; "
                               "fine-tuned from flowers-double-easy, 40 epochs",
}


def fit_temperature(model: models.SmallVGG, valid) -> float:
    """T minimising the validation NLL of softmax(logits / T) (a 1-D search over log T)."""
    logits = models.predict(model, valid.images).double()
    y = valid.labels
    grid = torch.linspace(-2.0, 2.0, 401, dtype=torch.float64)
    nll = torch.stack([torch.nn.functional.cross_entropy(logits / t.exp(), y) for t in grid])
    return float(grid[int(nll.argmin())].exp())


def _fold_temperature(model: models.SmallVGG, t: float) -> None:
    with torch.no_grad():
        model.fc8.weight.div_(t)
        model.fc8.bias.div_(t)


def make(name: str, out_dir: Path) -> dict:
    global OUT
    OUT = out_dir
    cfg, train, valid, hp, init = RECIPES[name]()
    torch.manual_seed(0)
    model = models.SmallVGG(cfg)
    if init:
        model.load_state_dict(init, strict=False)
    t0 = time.time()
    models.train(model, train, seed=0, progress=False, **hp)
    seconds = time.time() - t0
    temperature = None
    if valid is not None:
        temperature = fit_temperature(model, valid)
        _fold_temperature(model, temperature)
    models.save(model, out_dir / f"{name}.pt")
    return {"name": name, "train_s": round(seconds, 1), "temperature": temperature}


def measure_card(name: str, out_dir: Path, temperature=None) -> dict:
    """Card of the weights as shipped (float16 round trip), on fresh test data."""
    path = out_dir / f"{name}.pt"
    model = models.load(name, weights=path)
    what, build = TEST_DATA[name]
    test = build()
    card = {"n_test": len(test), "seed": TEST_SEED if "flowers" in name else 0, "test_data": what,
            "recipe": RECIPE_TEXT[name], "bytes": path.stat().st_size}
    if model.config.multilabel:
        logits = models.predict(model, test.images).double()
        res = models.evaluate(model, (test.images, test.concepts))
        # binary calibration over every (image, concept) output: two-class logits [0, z]
        z = logits.flatten()
        rel = reliability(torch.stack([torch.zeros_like(z), z], 1), test.concepts.flatten().long())
        card.update(accuracy=None, mean_auc=res["mean_auc"], min_auc=float(min(res["auc"])), ece=rel.ece,
                    ece_kind="binary, over every (image, concept) output",
                    logit_p99=float(logits.abs().flatten().quantile(0.99)))
        if hasattr(test, "boxes") and test.labels.ndim == 2:  # scenes: are both flowers the top two outputs?
            top2 = logits.topk(2, 1).indices.sort(1).values
            card["both_named"] = float((top2 == test.labels.sort(1).values).all(1).double().mean())
    else:
        cal = models.calibration(model, test)
        card.update(accuracy=cal["accuracy"], ece=cal["ece"], logit_p99=cal["logit_p99"],
                    median_confidence=cal["median_confidence"], ece_kind="top-label, 15 equal-width bins")
    if name == "flowers-shortcut":
        # the shortcut's bill: accuracy when the mark says nothing (random code) or is absent, and how
        # often the prediction follows a mark that names another class
        rand = data.shortcut_flowers(N_TEST, agreement=1 / 6, seed=TEST_SEED)
        none = data.shortcut_flowers(N_TEST, agreement=None, seed=TEST_SEED)
        pred = models.predict(model, rand.images).argmax(1)
        off = rand.shortcut_labels != rand.labels
        card.update(accuracy_random_mark=models.evaluate(model, rand)["accuracy"],
                    accuracy_no_mark=models.evaluate(model, none)["accuracy"],
                    follows_mark=float((pred[off] == rand.shortcut_labels[off]).double().mean()))
    if temperature is not None:
        card["temperature"] = temperature
    return card


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("names", nargs="*", help=f"models to (re)train, among {list(RECIPES)}")
    parser.add_argument("--out", default=str(ROOT / "xnb" / "weights"))
    parser.add_argument("--cards-only", action="store_true", help="only re-measure the cards")
    args = parser.parse_args(argv)
    for n in args.names:
        if n not in RECIPES:
            parser.error(f"unknown model {n!r}; trained here: {list(RECIPES)}")
    torch.use_deterministic_algorithms(True)
    torch.set_num_threads(2)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    card_path = out / "cards.json"
    cards = json.loads(card_path.read_text()) if card_path.is_file() else {}
    temps = {k: v.get("temperature") for k, v in cards.items()}
    todo = [] if args.cards_only else (args.names or list(RECIPES))
    for name in todo:
        row = make(name, out)
        temps[name] = row["temperature"]
        print(" | ".join(f"{k}={v}" for k, v in row.items()), flush=True)
    for name in (todo if todo and args.names else TEST_DATA):
        if not (out / f"{name}.pt").is_file():
            continue
        cards[name] = measure_card(name, out, temps.get(name))
        c = cards[name]
        score = f"accuracy={c['accuracy']:.4f}" if c["accuracy"] is not None else f"mean_auc={c['mean_auc']:.4f}"
        print(f"{name}: {score} ece={c['ece']:.4f} logit_p99={c['logit_p99']:.2f} n_test={c['n_test']}", flush=True)
    card_path.write_text(json.dumps({k: cards[k] for k in TEST_DATA if k in cards}, indent=1) + "\n")
    print(f"wrote {card_path}")


if __name__ == "__main__":
    main()
