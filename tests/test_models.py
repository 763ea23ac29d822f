"""Shipped models: accuracy on fresh data, loading, training determinism, pretrained paths offline."""
from __future__ import annotations

import urllib.error
from pathlib import Path

import pytest
import torch
import torchvision

from xnb import data, models

FRESH_SEED = 4242  # never used by scripts/make_weights.py


def test_names_lists_shipped_and_pretrained():
    assert models.names() == ["flowers-single", "flowers-double", "digits", "flowers-attributes",
                              "flowers-scenes", "flowers-shortcut", "flowers-single-easy", "flowers-double-easy", "flowers-attributes-easy",
                              "vgg16", "alexnet", "resnet18"]


@pytest.mark.parametrize("name", list(models.SHIPPED))
def test_shipped_weights_load_in_eval_mode(name):
    m = models.load(name)
    assert not m.training and all(not mod.training for mod in m.modules())
    assert m.config.class_names  # class (or concept) names travel with the weights
    assert models._weights_path(name).stat().st_size < 1_500_000


@pytest.fixture(scope="module", params=["single", "double"])
def fresh(request):
    """A fresh standard test set (a seed no recipe uses) and the shipped model for it."""
    variant = request.param
    return variant, data.flowers(1000, variant=variant, seed=FRESH_SEED), models.load(f"flowers-{variant}")


def test_flower_models_are_accurate_but_not_perfect_on_fresh_data(fresh):
    variant, test, m = fresh
    assert m.class_names == test.class_names
    acc = models.evaluate(m, test)["accuracy"]
    assert 0.90 <= acc <= 0.99, f"flowers-{variant}: accuracy {acc:.3f} outside the calibrated test bed's 0.90-0.99"


def test_flower_models_are_calibrated(fresh):
    variant, test, m = fresh
    cal = models.calibration(m, test)
    assert cal["logit_p99"] < 20, f"flowers-{variant}: 99th percentile |logit| {cal['logit_p99']:.1f}"
    assert cal["ece"] < 0.08, f"flowers-{variant}: expected calibration error {cal['ece']:.3f}"
    assert cal["median_confidence"] < 0.9995  # not saturated, as xnb 0.1's models were (0.99998)
    rel = cal["reliability"]
    assert rel.count.sum() == len(test) and rel.ece == pytest.approx(cal["ece"])


def test_easy_models_are_the_over_confident_ones():
    """Kept for comparison: xnb 0.1's weights saturate (logits of hundreds) on the data they were made for."""
    test = data.flowers(300, seed=FRESH_SEED, difficulty="easy")
    cal = models.calibration(models.load("flowers-single-easy"), test)
    assert cal["accuracy"] > 0.95 and cal["logit_p99"] > 20 and cal["median_confidence"] > 0.999


def test_cards_match_the_shipped_weights():
    for name in models.SHIPPED:
        card = models.card(name)
        assert set(models.CARD_KEYS) <= set(card), name
        assert card["n_test"] > 0 and card["recipe"]
    single = models.card("flowers-single")
    assert 0.90 <= single["accuracy"] <= 0.99 and single["ece"] < 0.08 and single["logit_p99"] < 20
    assert models.card("flowers-attributes")["mean_auc"] >= 0.95
    scenes = models.card("flowers-scenes")
    # mean ROC-AUC over the 6 classes ≥ 0.9; the weakest are orange / yellow centres (close hues, ~0.8)
    assert scenes["mean_auc"] >= 0.9 and scenes["min_auc"] >= 0.75 and scenes["ece"] < 0.08
    assert scenes["both_named"] > 0.5  # both flowers are the two top outputs in most scenes
    # the card's numbers are reproducible from the weights: re-measure one on its own test data
    test = data.flowers(single["n_test"], "single", seed=single["seed"])
    cal = models.calibration(models.load("flowers-single"), test)
    assert cal["accuracy"] == pytest.approx(single["accuracy"], abs=1e-9)
    assert cal["ece"] == pytest.approx(single["ece"], abs=1e-6)
    card = models.card("flowers-single")
    card["accuracy"] = -1
    assert models.card("flowers-single")["accuracy"] == single["accuracy"]  # a copy, not the store
    with pytest.raises(ValueError, match="no card for 'vgg16'.*flowers-single"):
        models.card("vgg16")
    with pytest.raises(TypeError, match="name"):
        models.card(None)


def test_shortcut_model_reads_the_mark_not_the_flower():
    """flowers-shortcut (notebook 06) learnt the corner mark: right when the mark agrees, near chance when
    it is random, and it follows a mark that names another class; fresh data, not the card's."""
    sc = models.load("flowers-shortcut")
    agree = data.shortcut_flowers(300, agreement=1.0, seed=FRESH_SEED)
    rand = data.shortcut_flowers(300, agreement=1 / 6, seed=FRESH_SEED)
    assert models.evaluate(sc, agree)["accuracy"] >= 0.95
    assert models.evaluate(sc, rand)["accuracy"] <= 0.4
    off = rand.shortcut_labels != rand.labels
    pred = models.predict(sc, rand.images).argmax(1)
    assert float((pred[off] == rand.shortcut_labels[off]).float().mean()) >= 0.8
    card = models.card("flowers-shortcut")
    assert card["accuracy"] >= 0.95 and card["accuracy_random_mark"] <= 0.4 and card["logit_p99"] < 20
    # the flowers-single model never saw a mark: a random one does not change its accuracy much
    single = models.load("flowers-single")
    assert abs(models.evaluate(single, rand)["accuracy"] - models.evaluate(single, agree)["accuracy"]) < 0.1


def test_digits_model_reaches_95_percent_on_held_out_split():
    test = data.digits("test", seed=0)
    assert models.evaluate(models.load("digits"), test)["accuracy"] >= 0.95


def test_attributes_model_mean_auc():
    test = data.flowers(600, variant="double", seed=FRESH_SEED)
    m = models.load("flowers-attributes")
    assert m.class_names == test.concept_names
    assert models.evaluate(m, (test.images, test.concepts))["mean_auc"] >= 0.95


def test_scenes_model_detects_both_flowers():
    # multi-label on 128-px two-flower scenes: every class's ROC-AUC (does the scene hold a flower of it?)
    test = data.flower_scenes(300, seed=FRESH_SEED)
    m = models.load("flowers-scenes")
    assert m.class_names == test.class_names and m.config.multilabel
    y = torch.zeros(len(test.labels), 6)
    y[torch.arange(len(y))[:, None], test.labels] = 1
    res = models.evaluate(m, (test.images, y))
    assert res["mean_auc"] >= 0.9 and min(res["auc"]) >= 0.75
    # unlike flowers-single, trained on one flower per image
    assert models.evaluate(models.load("flowers-single"), (test.images, y))["mean_auc"] < res["mean_auc"] - 0.1


def test_label_smoothing_and_shift_augmentation():
    ds = data.flowers(64, seed=3, difficulty="easy")
    torch.manual_seed(0)
    a = models.SmallVGG(n_outputs=6)
    b = models.SmallVGG(n_outputs=6)
    b.load_state_dict(a.state_dict())
    ha = models.train(a, ds, epochs=1, batch_size=16, progress=False)
    hb = models.train(b, ds, epochs=1, batch_size=16, progress=False, label_smoothing=0.1, augment="flip+shift")
    assert ha != hb
    with pytest.raises(ValueError, match="augment.*flip\\+shift"):
        models.train(a, ds, augment="rotate")
    with pytest.raises(ValueError, match="label_smoothing"):
        models.train(a, ds, label_smoothing=1.0)


def test_random_shift_moves_content_and_repeats_edges():
    x = torch.arange(2 * 1 * 4 * 4, dtype=torch.float32).view(2, 1, 4, 4)
    gen = torch.Generator().manual_seed(0)
    y = models._random_shift(x, 1, gen)
    assert y.shape == x.shape
    for i in range(2):  # each output is the input shifted by (dr, dc) in {-1,0,1}², edges repeated
        found = False
        for dr in (-1, 0, 1):
            for dc in (-1, 0, 1):
                r = (torch.arange(4) - dr).clamp(0, 3)
                c = (torch.arange(4) - dc).clamp(0, 3)
                found |= torch.equal(y[i, 0], x[i, 0][r][:, c])
        assert found


def test_confusion_matrix_counts():
    test = data.flowers(120, seed=FRESH_SEED)
    res = models.evaluate(models.load("flowers-single"), test)
    cm = res["confusion"]
    assert cm.sum() == 120 and cm.shape == (6, 6)
    assert float(cm.diag().sum()) / 120 == pytest.approx(res["accuracy"])


def test_training_is_deterministic_by_seed():
    ds = data.flowers(64, seed=3)

    def run(seed):
        torch.manual_seed(123)  # same init; the training seed alone must decide the rest
        m = models.SmallVGG(n_outputs=6)
        hist = models.train(m, ds, epochs=1, seed=seed, batch_size=16, progress=False)
        return m, hist

    a, ha = run(0)
    b, hb = run(0)
    c, _ = run(1)
    assert ha == hb
    assert all(torch.equal(p, q) for p, q in zip(a.parameters(), b.parameters()))
    assert not all(torch.equal(p, q) for p, q in zip(a.parameters(), c.parameters()))
    assert not a.training


def test_save_load_round_trip(tmp_path):
    m = models.SmallVGG(n_outputs=3, class_names=("a", "b", "c"))
    path = tmp_path / "m.pt"
    models.save(m, path, half=False)
    m2 = models.load("flowers-single", weights=path)
    assert m2.config == m.config
    for p, q in zip(m.state_dict().values(), m2.state_dict().values()):
        assert torch.equal(p, q)


def test_state_dict_for_another_architecture_is_refused(tmp_path):
    path = tmp_path / "resnet.pt"
    torch.save(torchvision.models.alexnet(weights=None).state_dict(), path)
    with pytest.raises(ValueError, match=r"state_dict: these weights are not for torchvision resnet18"):
        models.load("resnet18", weights=path)


def test_pretrained_from_local_state_dict(tmp_path):
    ref = torchvision.models.resnet18(weights=None)
    path = tmp_path / "resnet18.pth"
    torch.save(ref.state_dict(), path)
    m = models.load("resnet18", weights=path)
    assert not m.training
    for (k, p), q in zip(ref.state_dict().items(), m.state_dict().values()):
        assert torch.equal(p, q), k


def test_local_weights_are_held_once(monkeypatch, tmp_path):
    """The model is built on the meta device (no random initial weights) and given the file's tensors,
    memory-mapped: VGG16's 528 MB were held twice while loading. The torchvision cache is read the same way."""
    ref = torchvision.models.resnet18(weights=None)
    path = tmp_path / "resnet18.pth"
    torch.save(ref.state_dict(), path)
    built_on = []
    real = torchvision.models.resnet18

    def spy(*args, **kwargs):
        built_on.append(torch.empty(0).device.type)
        return real(*args, **kwargs)

    monkeypatch.setattr(torchvision.models, "resnet18", spy)
    m = models.load("resnet18", weights=path)
    assert built_on == ["meta"]
    assert not any(t.is_meta for t in list(m.parameters()) + list(m.buffers()))
    assert all(torch.equal(p, q) for p, q in zip(ref.state_dict().values(), m.state_dict().values()))
    out = m(torch.rand(1, 3, 64, 64))
    out[0, 0].backward()                       # the mapped tensors are usable as parameters
    assert m.conv1.weight.grad is not None
    # pretrained=True with the file in torchvision's cache: the same path, no download attempted
    monkeypatch.setenv("TORCH_HOME", str(tmp_path))
    (tmp_path / "hub" / "checkpoints").mkdir(parents=True)
    fname = Path(torchvision.models.ResNet18_Weights.IMAGENET1K_V1.url).name
    torch.save(ref.state_dict(), tmp_path / "hub" / "checkpoints" / fname)
    monkeypatch.setattr(torch.hub, "load_state_dict_from_url", lambda *a, **k: pytest.fail("downloaded"))
    cached = models.load("resnet18", pretrained=True)
    assert built_on == ["meta", "meta"] and torch.equal(cached.fc.weight, ref.fc.weight)


def test_pretrained_offline_error_says_what_to_do(monkeypatch, tmp_path):
    monkeypatch.setenv("TORCH_HOME", str(tmp_path))  # no cached file

    def offline(*args, **kwargs):
        raise urllib.error.URLError("[Errno -3] Temporary failure in name resolution")

    monkeypatch.setattr(torch.hub, "load_state_dict_from_url", offline)
    with pytest.raises(RuntimeError) as info:
        models.load("vgg16", pretrained=True)
    msg = str(info.value)
    assert "vgg16" in msg and "offline" in msg and "weights=" in msg and "URLError" in msg
    assert info.value.__cause__ is None and info.value.__suppress_context__  # no raw urllib traceback


def test_bad_arguments():
    with pytest.raises(ValueError, match=r"name: unknown model 'vgg19'; known models: \['flowers-single'"):
        models.load("vgg19")
    with pytest.raises(TypeError, match="name: expected a string"):
        models.load(3)
    with pytest.raises(TypeError, match="pretrained: expected True or False"):
        models.load("vgg16", pretrained="yes")
    with pytest.raises(FileNotFoundError, match="weights: .* does not exist"):
        models.load("resnet18", weights="/nonexistent/file.pth")
    with pytest.raises(ValueError, match="device: 'cuda:7' requested but CUDA is not available|device"):
        if not torch.cuda.is_available():
            models.load("digits", device="cuda:7")
        else:
            raise ValueError("device")
    m = models.SmallVGG()
    with pytest.raises(ValueError, match="epochs: must be >= 1"):
        models.train(m, data.flowers(8), epochs=0)
    with pytest.raises(TypeError, match="seed: expected an integer"):
        models.train(m, data.flowers(8), seed=1.5)
    with pytest.raises(ValueError, match="dataset: 8 images but 3 targets"):
        models.train(m, (torch.rand(8, 3, 64, 64), torch.zeros(3, dtype=torch.long)))
