"""HeatmapExplorer: a thin view over cached computations that survives bad choices."""
from __future__ import annotations

import pytest
import torch

import xnb
from xnb import data, models
from xnb.widgets import HeatmapExplorer

from test_core import assert_unchanged, snapshot


@pytest.fixture(scope="module")
def model():
    return models.load("flowers-single")


@pytest.fixture()
def explorer(model):
    return HeatmapExplorer(model, data.flowers(6, seed=11), methods=["guided_backprop", "gradcam",
                                                                     "contrastive_excitation_backprop"])


def test_first_view_shows_the_prediction(explorer):
    assert explorer.view.value.startswith(b"\x89PNG")
    assert "predicted" in explorer.status.value and explorer.errors.message == ""


def test_threshold_opacity_cmap_never_recompute(explorer):
    n0, misses = explorer.n_backward, explorer.map_cache.misses
    before = explorer.view.value
    explorer.threshold.value = 0.5
    explorer.alpha.value = 0.9
    explorer.cmap.value = "viridis"
    assert explorer.n_backward == n0 and explorer.map_cache.misses == misses
    assert explorer.view.value != before and explorer.view.n_updates >= 3


def test_channel_costs_one_backward_then_none(explorer):
    explorer.layer.value = "conv3"
    assert explorer.channel.max == 63 and not explorer.channel.disabled
    n0 = explorer.n_backward
    explorer.channel.value = 5
    assert explorer.n_backward == n0 + 1
    explorer.channel.value = 0  # drawn when the layer was chosen: cached
    explorer.channel.value = 5  # cached now
    assert explorer.n_backward == n0 + 1
    # map shown equals a direct call
    direct = xnb.attribute(explorer.model, explorer.images[:1], "guided_backprop", layer="conv3", channel=5)
    assert torch.allclose(torch.from_numpy(explorer.heatmap()), direct[0], atol=1e-6)


def test_all_channels_in_batched_passes(explorer):
    explorer.layer.value = "conv4"
    n0 = explorer.n_backward
    computed = explorer.fill_channels()
    assert computed == 63  # channel 0 was already on screen
    assert explorer.n_backward - n0 == -(-63 // explorer.channel_batch)  # ceil(63 / 16) passes
    n1 = explorer.n_backward
    for c in (3, 40, 63):
        explorer.channel.value = c
    assert explorer.n_backward == n1


def test_errors_show_inside_and_the_widget_keeps_working(explorer, model):
    before = snapshot(model)
    explorer.layer.value = "conv3"
    explorer.method.value = "contrastive_excitation_backprop"  # cannot explain a unit
    assert "explains output classes" in explorer.errors.message
    explorer.method.value = "gradcam"
    assert explorer.errors.message == ""
    explorer.layer.value = "(output class)"
    explorer.target.value = 2
    assert "red center" not in explorer.status.value or "explaining class" in explorer.status.value
    assert_unchanged(model, before)


def test_bad_arguments(model):
    d = data.flowers(2, seed=0)
    with pytest.raises(ValueError, match="methods: unknown"):
        HeatmapExplorer(model, d, methods=["nope"])
    with pytest.raises(ValueError, match="layers: unknown layer"):
        HeatmapExplorer(model, d, layers=["conv9"])
    with pytest.raises(TypeError, match="data: expected"):
        HeatmapExplorer(model, [1, 2, 3])
    with pytest.raises(TypeError, match="model: expected a torch.nn.Module"):
        HeatmapExplorer("model", d)
