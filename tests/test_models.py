"""Shipped models: accuracy on fresh data, loading, training determinism, pretrained paths offline."""
from __future__ import annotations

import urllib.error

import pytest
import torch
import torchvision

from xnb import data, models

FRESH_SEED = 4242  # never used by scripts/make_weights.py


def test_names_lists_shipped_and_pretrained():
    assert models.names() == ["flowers-single", "flowers-double", "digits", "flowers-attributes",
                              "vgg16", "alexnet", "resnet18"]


@pytest.mark.parametrize("name", ["flowers-single", "flowers-double", "digits", "flowers-attributes"])
def test_shipped_weights_load_in_eval_mode(name):
    m = models.load(name)
    assert not m.training and all(not mod.training for mod in m.modules())
    assert m.config.class_names  # class (or concept) names travel with the weights
    assert models._weights_path(name).stat().st_size < 1_500_000


@pytest.mark.parametrize("variant", ["single", "double"])
def test_flower_models_reach_95_percent_on_fresh_data(variant):
    test = data.flowers(600, variant=variant, seed=FRESH_SEED)
    m = models.load(f"flowers-{variant}")
    assert m.class_names == test.class_names
    assert models.evaluate(m, test)["accuracy"] >= 0.95


def test_digits_model_reaches_95_percent_on_held_out_split():
    test = data.digits("test", seed=0)
    assert models.evaluate(models.load("digits"), test)["accuracy"] >= 0.95


def test_attributes_model_mean_auc():
    test = data.flowers(600, variant="double", seed=FRESH_SEED)
    m = models.load("flowers-attributes")
    assert m.class_names == test.concept_names
    assert models.evaluate(m, (test.images, test.concepts))["mean_auc"] >= 0.95


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
