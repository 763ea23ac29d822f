"""Small CNNs with shipped weights, training, and pretrained torchvision models.

The shipped family is VGG-like so that every paper's method has what it needs:
conv + ReLU + max-pool blocks, one stride-2 convolution (``conv3``, it produces the
deconvnet grid artefact that the µ-Lasso paper fixes), and three fully-connected
layers ``fc6``/``fc7``/``fc8`` (SRAE explains ``fc6``; the contrast layer of
contrastive excitation backprop is ``relu7``, as ``relu7`` is for VGG16).

>>> import xnb
>>> model = xnb.models.load("flowers-single")
>>> [name for name, _ in model.named_children()][:4]
['conv1', 'relu1', 'pool1', 'conv2']
"""
from __future__ import annotations

import json
import os
from collections import OrderedDict
from dataclasses import dataclass, asdict
from importlib import resources
from pathlib import Path
from typing import Any, Mapping

import numpy as np
import torch
from torch import nn

from ._check import check_int, check_positive, resolve_device

__all__ = [
    "SmallVGG",
    "VGGConfig",
    "card",
    "calibration",
    "names",
    "load",
    "with_input_normalization",
    "train",
    "evaluate",
    "save",
    "predict",
    "imagenet_normalize",
    "PRETRAINED",
    "SHIPPED",
]


@dataclass(frozen=True)
class VGGConfig:
    """Architecture of a :class:`SmallVGG` (stored beside the weights)."""

    in_channels: int = 3
    n_outputs: int = 6
    widths: tuple = (16, 32, 64, 64)
    fc: tuple = (128, 128)
    pool_size: int = 4
    dropout: float = 0.25
    input_size: int = 64
    multilabel: bool = False
    class_names: tuple = ()

    def to_dict(self) -> dict:
        d = asdict(self)
        d["widths"] = list(self.widths)
        d["fc"] = list(self.fc)
        d["class_names"] = list(self.class_names)
        return d

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> "VGGConfig":
        known = {f for f in cls.__dataclass_fields__}
        unknown = set(d) - known
        if unknown:
            raise ValueError(f"config: unknown keys {sorted(unknown)}; known: {sorted(known)}")
        d = dict(d)
        for key in ("widths", "fc", "class_names"):
            if key in d:
                d[key] = tuple(d[key])
        return cls(**d)


class SmallVGG(nn.Sequential):
    """A VGG-style CNN with readable layer names.

    Layout (64×64 input, default widths)::

        conv1 relu1 pool1          16×32×32
        conv2 relu2 pool2          32×16×16
        conv3 (stride 2) relu3     64×8×8
        conv4 relu4 pool4          64×4×4
        avgpool (adaptive, 4×4)    64×4×4   (lets 128-px scenes through)
        flatten
        fc6 relu6 drop6            128
        fc7 relu7 drop7            128
        fc8                        n_outputs (pre-softmax logits)

    It is an ``nn.Sequential`` of named children, so ``model.conv3`` or
    ``dict(model.named_modules())["relu7"]`` address layers directly.
    """

    def __init__(self, config: VGGConfig | None = None, **kwargs):
        if config is None:
            config = VGGConfig(**kwargs)
        elif kwargs:
            raise TypeError("SmallVGG: pass either a VGGConfig or keyword arguments, not both")
        if len(config.widths) != 4:
            raise ValueError(f"widths: need 4 conv widths, got {config.widths!r}")
        if len(config.fc) != 2:
            raise ValueError(f"fc: need 2 hidden fully-connected widths, got {config.fc!r}")
        w1, w2, w3, w4 = config.widths
        f6, f7 = config.fc
        p = config.pool_size
        layers = OrderedDict(
            [
                ("conv1", nn.Conv2d(config.in_channels, w1, 3, padding=1)),
                ("relu1", nn.ReLU()),
                ("pool1", nn.MaxPool2d(2)),
                ("conv2", nn.Conv2d(w1, w2, 3, padding=1)),
                ("relu2", nn.ReLU()),
                ("pool2", nn.MaxPool2d(2)),
                ("conv3", nn.Conv2d(w2, w3, 3, stride=2, padding=1)),
                ("relu3", nn.ReLU()),
                ("conv4", nn.Conv2d(w3, w4, 3, padding=1)),
                ("relu4", nn.ReLU()),
                ("pool4", nn.MaxPool2d(2)),
                ("avgpool", nn.AdaptiveAvgPool2d(p)),
                ("flatten", nn.Flatten()),
                ("fc6", nn.Linear(w4 * p * p, f6)),
                ("relu6", nn.ReLU()),
                ("drop6", nn.Dropout(config.dropout)),
                ("fc7", nn.Linear(f6, f7)),
                ("relu7", nn.ReLU()),
                ("drop7", nn.Dropout(config.dropout)),
                ("fc8", nn.Linear(f7, config.n_outputs)),
            ]
        )
        super().__init__(layers)
        self.config = config

    @property
    def class_names(self) -> list[str]:
        return list(self.config.class_names)


# ---------------------------------------------------------------------------
# shipped models

#: name -> (dataset recipe, description). The recipes live in scripts/make_weights.py.
SHIPPED: dict[str, str] = {
    "flowers-single": "6 classes, the colour of the centre disc (xnb.data.flowers(variant='single'), "
                      "difficulty='standard'; label smoothing 0.1)",
    "flowers-double": "12 classes, colour × part (xnb.data.flowers(variant='double'), difficulty='standard'; "
                      "label smoothing 0.1)",
    "digits": "10 classes, scikit-learn's handwritten digits upsampled to 32×32",
    "flowers-attributes": "multi-label: every part×colour concept of xnb.data.flowers(variant='double'), "
                          "difficulty='standard'",
    "flowers-scenes": "multi-label: the two flowers' classes of xnb.data.flower_scenes (128×128 two-flower "
                      "scenes, difficulty='standard'); fine-tuned from flowers-single",
    "flowers-shortcut": "6 classes as flowers-single, trained on xnb.data.shortcut_flowers(agreement=1.0): a "
                        "corner mark codes the class in every training image (a shortcut; notebook 06)",
    "flowers-single-easy": "xnb 0.1's flowers-single: trained on difficulty='easy' without label smoothing "
                           "(over-confident: logits in the hundreds)",
    "flowers-double-easy": "xnb 0.1's flowers-double: trained on difficulty='easy' without label smoothing",
    "flowers-attributes-easy": "xnb 0.1's flowers-attributes: the 26 concepts on difficulty='easy'",
}

#: Keys every model card has (see :func:`card`).
CARD_KEYS = ("accuracy", "ece", "logit_p99", "n_test", "seed", "recipe")

#: torchvision ImageNet models available with ``pretrained=True`` (online once, or a local state dict).
PRETRAINED: dict[str, str] = {
    "vgg16": "VGG16_Weights.IMAGENET1K_V1",
    "alexnet": "AlexNet_Weights.IMAGENET1K_V1",
    "resnet18": "ResNet18_Weights.IMAGENET1K_V1",
}


def card(name: str) -> dict:
    """The model card of a shipped model: what it was trained on and how it scores on fresh data.

    Written by ``scripts/make_weights.py`` beside the weights (``xnb/weights/cards.json``), from the
    float16 weights exactly as shipped, on a test set drawn with a seed no recipe trains on. Keys:
    ``accuracy`` (single-label; ``None`` for multi-label), ``mean_auc`` (multi-label), ``ece``
    (expected calibration error, 15 equal-width bins), ``logit_p99`` (99th percentile of |logit|),
    ``median_confidence``, ``n_test``, ``seed`` (of the test data), ``test_data``, ``recipe`` (data,
    epochs, learning rate, weight decay, label smoothing, augmentation).
    """
    if not isinstance(name, str):
        raise TypeError(f"name: expected a string, one of {list(SHIPPED)}, got {type(name).__name__}")
    if name not in SHIPPED:
        raise ValueError(f"name: no card for {name!r}; shipped models: {list(SHIPPED)}")
    cards = _cards()
    if name not in cards:
        raise FileNotFoundError(f"no card for {name!r} in {_weights_path('cards').with_suffix('.json')}; "
                                f"regenerate with `make weights`")
    return json.loads(json.dumps(cards[name]))  # a deep copy


def _cards() -> dict:
    path = _weights_path("cards").with_suffix(".json")
    return json.loads(path.read_text()) if path.is_file() else {}


def names() -> list[str]:
    """Every name :func:`load` accepts: the shipped small CNNs, then the torchvision ones."""
    return list(SHIPPED) + list(PRETRAINED)


def _weights_path(name: str) -> Path:
    return Path(str(resources.files("xnb") / "weights" / f"{name}.pt"))


def save(model: SmallVGG, path: str | os.PathLike, half: bool = True) -> None:
    """Save a :class:`SmallVGG` as ``{"config": ..., "state_dict": ...}`` (float16 by default: half the bytes,
    accuracy unchanged for these nets)."""
    if not isinstance(model, SmallVGG):
        raise TypeError(f"model: expected a SmallVGG, got {type(model).__name__}")
    sd = {k: (v.detach().cpu().half() if half and v.is_floating_point() else v.detach().cpu())
          for k, v in model.state_dict().items()}
    torch.save({"format": "xnb-smallvgg-1", "config": model.config.to_dict(), "state_dict": sd}, path)


def _load_state(model: nn.Module, state_dict: Mapping[str, torch.Tensor], what: str, assign: bool = False) -> None:
    """load_state_dict with an error that says which architecture the weights are for."""
    expected = model.state_dict()
    missing = sorted(set(expected) - set(state_dict))
    unexpected = sorted(set(state_dict) - set(expected))
    wrong = sorted(k for k in set(expected) & set(state_dict)
                   if tuple(expected[k].shape) != tuple(state_dict[k].shape))
    if missing or unexpected or wrong:
        parts = []
        if missing:
            parts.append(f"missing keys {missing[:5]}{'...' if len(missing) > 5 else ''}")
        if unexpected:
            parts.append(f"unexpected keys {unexpected[:5]}{'...' if len(unexpected) > 5 else ''}")
        if wrong:
            k = wrong[0]
            parts.append(f"shape mismatch at {k!r}: weights {tuple(state_dict[k].shape)} vs model "
                         f"{tuple(expected[k].shape)}")
        raise ValueError(f"state_dict: these weights are not for {what} ({'; '.join(parts)})")
    model.load_state_dict({k: v.to(expected[k].dtype) for k, v in state_dict.items()}, assign=assign)


def _load_smallvgg(path: Path) -> SmallVGG:
    blob = torch.load(path, map_location="cpu", weights_only=True)
    if not isinstance(blob, dict) or "config" not in blob or "state_dict" not in blob:
        raise ValueError(f"{path}: not an xnb SmallVGG weights file (expected keys 'config', 'state_dict')")
    model = SmallVGG(VGGConfig.from_dict(blob["config"]))
    _load_state(model, blob["state_dict"], f"SmallVGG {model.config}")
    return model


_IMAGENET_MEAN_DEFAULT = (0.485, 0.456, 0.406)
_IMAGENET_STD_DEFAULT = (0.229, 0.224, 0.225)


def load(name: str, pretrained: bool | str | os.PathLike = True, weights: str | os.PathLike | None = None,
         device: str | torch.device | None = None, normalize: bool = False) -> nn.Module:
    """Load a model by name, in eval mode.

    Parameters
    ----------
    name : one of :func:`names`. The shipped small CNNs (``"flowers-single"``, ``"flowers-double"``,
        ``"digits"``, ``"flowers-attributes"``) load offline from weights inside the package.
        ``"vgg16"``, ``"alexnet"``, ``"resnet18"`` are torchvision ImageNet models.
    pretrained : for torchvision models: load ImageNet weights (downloaded once by torchvision when the
        machine is online) — or from ``weights``, a local state-dict path (a path given here is read as
        ``weights=``). ``False`` gives random weights, and contradicts a ``weights`` path (ValueError).
    weights : a local ``.pt``/``.pth`` state dict (torchvision models) or xnb weights file (shipped ones).
    device : where to put the model (default CPU).
    normalize : torchvision models expect inputs normalised with the ImageNet mean/std, while the images
        of :mod:`xnb.data` are in [0, 1]. ``normalize=True`` makes the model normalise its own input
        (:func:`with_input_normalization`): every layer keeps its torchvision name (``features.28``, not
        ``1.features.28`` as inside an ``nn.Sequential(Normalize, model)``), no hook is added, and
        every xnb module can be given [0, 1] images. Otherwise normalise with :func:`imagenet_normalize`.
    """
    if not isinstance(name, str):
        raise TypeError(f"name: expected a string, one of {names()}, got {type(name).__name__}")
    if name not in SHIPPED and name not in PRETRAINED:
        raise ValueError(f"name: unknown model {name!r}; known models: {names()}")
    if isinstance(pretrained, (str, os.PathLike)):  # a path: the weights to load
        if not Path(pretrained).is_file():
            raise TypeError(f"pretrained: expected True or False, or the path of a weights file; "
                            f"{str(pretrained)!r} is not a file")
        if weights is not None and Path(weights) != Path(pretrained):
            raise ValueError(f"pretrained, weights: two different weight files given ({pretrained!s} and "
                             f"{weights!s}); pass one, as weights=")
        pretrained, weights = True, pretrained
    if not isinstance(pretrained, bool):
        raise TypeError(f"pretrained: expected True, False or a path to weights, got {pretrained!r}")
    if not pretrained and weights is not None:
        raise ValueError(f"pretrained, weights: pretrained=False asks for random weights, but weights="
                         f"{weights!s} was given; drop pretrained=False to load that file")
    if not isinstance(normalize, bool):
        raise TypeError(f"normalize: expected True or False, got {normalize!r}")
    device = resolve_device(device)
    if name in SHIPPED:
        path = Path(weights) if weights is not None else _weights_path(name)
        if not path.is_file():
            raise FileNotFoundError(
                f"weights: {path} does not exist. The shipped weights are regenerated with "
                f"`make weights` (scripts/make_weights.py)." if weights is None else
                f"weights: {path} does not exist")
        model = _load_smallvgg(path)
    else:
        model = _load_torchvision(name, pretrained, weights)
    if normalize:
        model = with_input_normalization(model)
    return model.to(device).eval()


class _InputNormalized:
    """Mixin put in front of a model's own class by :func:`with_input_normalization`."""

    def forward(self, x, *args, **kwargs):
        return super().forward((x - self.input_mean) / self.input_std, *args, **kwargs)


_NORMALIZED_CLASSES: dict = {}


def with_input_normalization(model: nn.Module, mean=_IMAGENET_MEAN_DEFAULT, std=_IMAGENET_STD_DEFAULT) -> nn.Module:
    """Make ``model`` normalise its input, ``(x - mean) / std`` per channel, as the first step of its own
    forward pass, and return it (the same object).

    The model's class becomes a subclass of its class (``isinstance`` still holds) whose ``forward`` first
    normalises; ``mean``/``std`` are non-persistent buffers ``input_mean``/``input_std`` (they follow
    ``.to(device)`` and stay out of ``state_dict()``). Layer names, parameters and hooks are unchanged,
    so explanations are of the [0, 1] image a user sees. Calling it twice raises ValueError.
    """
    if not isinstance(model, nn.Module):
        raise TypeError(f"model: expected a torch.nn.Module, got {type(model).__name__}")
    if isinstance(model, _InputNormalized):
        raise ValueError("model: already normalises its input")
    mean_t = torch.as_tensor(mean, dtype=torch.float32).reshape(1, -1, 1, 1)
    std_t = torch.as_tensor(std, dtype=torch.float32).reshape(1, -1, 1, 1)
    if mean_t.shape != std_t.shape:
        raise ValueError(f"mean, std: expected one value per channel each, got {mean_t.numel()} and "
                         f"{std_t.numel()}")
    if not torch.isfinite(mean_t).all() or not torch.isfinite(std_t).all() or (std_t <= 0).any():
        raise ValueError("std: expected finite, positive values (and a finite mean)")
    cls = type(model)
    if cls not in _NORMALIZED_CLASSES:
        _NORMALIZED_CLASSES[cls] = type(cls.__name__, (_InputNormalized, cls),
                                        {"__module__": cls.__module__, "__qualname__": cls.__qualname__})
    p0 = next(model.parameters(), None)
    device = p0.device if p0 is not None else torch.device("cpu")
    model.register_buffer("input_mean", mean_t.to(device), persistent=False)
    model.register_buffer("input_std", std_t.to(device), persistent=False)
    model.__class__ = _NORMALIZED_CLASSES[cls]
    return model


def _read_state(path: Path) -> dict:
    """A state dict read memory-mapped: its tensors are pages of the file, read when used, not a copy."""
    try:
        sd = torch.load(path, map_location="cpu", weights_only=True, mmap=True)
    except RuntimeError:  # a legacy (non-zip) file cannot be mapped
        sd = torch.load(path, map_location="cpu", weights_only=True)
    if isinstance(sd, dict) and "state_dict" in sd and isinstance(sd["state_dict"], dict):
        sd = sd["state_dict"]
    return sd


def _assign_state(builder, state_dict, what: str) -> nn.Module:
    """The model built without allocating its random initial weights (meta device), then given the
    state dict's tensors themselves (``assign=True``): VGG16's 528 MB are held once, not twice."""
    with torch.device("meta"):
        model = builder(weights=None)
    _load_state(model, state_dict, what, assign=True)
    left = [k for k, t in list(model.named_parameters()) + list(model.named_buffers()) if t.is_meta]
    if left:  # a buffer the state dict does not hold (non-persistent): build the usual way instead
        model = builder(weights=None)
        _load_state(model, state_dict, what)
    return model


def _load_torchvision(name: str, pretrained: bool, weights) -> nn.Module:
    import torchvision

    builder = getattr(torchvision.models, name)
    if weights is not None:
        path = Path(weights)
        if not path.is_file():
            raise FileNotFoundError(f"weights: {path} does not exist (expected a state dict saved with "
                                    f"torch.save(model.state_dict(), path) for torchvision {name})")
        return _assign_state(builder, _read_state(path), f"torchvision {name}")
    if not pretrained:
        return builder(weights=None)
    enum_name, member = PRETRAINED[name].split(".")
    wenum = getattr(torchvision.models, enum_name)[member]
    cached = Path(torch.hub.get_dir()) / "checkpoints" / Path(wenum.url).name
    if cached.is_file():  # torchvision's cache: read it mapped, as a local file
        return _assign_state(builder, _read_state(cached), f"torchvision {name}")
    try:
        sd = torch.hub.load_state_dict_from_url(wenum.url, progress=False, check_hash=True)
    except Exception as exc:  # urllib/socket/SSL errors: say what failed and what to do instead
        raise RuntimeError(
            f"Could not get the pretrained ImageNet weights for {name!r} ({wenum.url}): "
            f"{type(exc).__name__}: {exc}. This machine looks offline. Either run once on a machine "
            f"with internet access (torchvision caches the file under "
            f"{Path(torch.hub.get_dir()) / 'checkpoints'}), copy that file here, or pass a local "
            f"state dict: xnb.models.load({name!r}, weights='path/to/{Path(wenum.url).name}')."
        ) from None
    return _assign_state(builder, sd, f"torchvision {name}")


_IMAGENET_MEAN = _IMAGENET_MEAN_DEFAULT
_IMAGENET_STD = _IMAGENET_STD_DEFAULT


def imagenet_normalize(images: torch.Tensor) -> torch.Tensor:
    """Normalise [0,1] RGB images [N,3,H,W] with the ImageNet mean and std (torchvision models)."""
    if not isinstance(images, torch.Tensor):
        raise TypeError(f"images: expected a torch.Tensor, got {type(images).__name__}")
    if images.ndim != 4 or images.shape[1] != 3:
        raise ValueError(f"images: expected shape [N,3,H,W], got {tuple(images.shape)}")
    mean = torch.tensor(_IMAGENET_MEAN, device=images.device, dtype=images.dtype).view(1, 3, 1, 1)
    std = torch.tensor(_IMAGENET_STD, device=images.device, dtype=images.dtype).view(1, 3, 1, 1)
    return (images - mean) / std


# ---------------------------------------------------------------------------
# training


def _as_xy(dataset):
    """(images, targets) tensors from an xnb ImageSet or a (images, targets) pair."""
    if isinstance(dataset, (tuple, list)) and len(dataset) == 2:
        x, y = dataset
    elif hasattr(dataset, "images") and hasattr(dataset, "labels"):
        x, y = dataset.images, dataset.labels
    else:
        raise TypeError("dataset: expected an xnb.data ImageSet or a pair (images, targets)")
    if not isinstance(x, torch.Tensor) or not isinstance(y, torch.Tensor):
        raise TypeError("dataset: images and targets must be torch tensors")
    if x.ndim != 4:
        raise ValueError(f"dataset: images must be [N,C,H,W], got {tuple(x.shape)}")
    if len(x) != len(y):
        raise ValueError(f"dataset: {len(x)} images but {len(y)} targets")
    if not torch.isfinite(x).all():
        raise ValueError("dataset: images contain NaN or inf")
    return x, y


def train(model: nn.Module, dataset, epochs: int = 10, lr: float = 2e-3, seed: int = 0,
          device: str | torch.device | None = None, batch_size: int = 64, weight_decay: float = 1e-4,
          multilabel: bool | None = None, augment: bool | str = False, label_smoothing: float = 0.0,
          progress: bool = True) -> dict:
    """Train ``model`` in place with Adam and a one-cycle learning-rate schedule; returns the history.

    ``dataset`` is an :class:`xnb.data.ImageSet` (or ``(images, targets)``); targets are class indices,
    or a float {0,1} matrix for multi-label training (binary cross-entropy; detected from the targets'
    dtype unless ``multilabel`` is given). Deterministic for a given ``seed`` on CPU.

    augment : ``False``; ``True`` or ``"flip"``: random horizontal flips; ``"flip+shift"``: flips and
        random shifts of up to 1/16 of the image side (edge pixels repeated).
    label_smoothing : ε of label smoothing (targets ``1 - ε + ε/K`` and ``ε/K``; for multi-label,
        ``1 - ε/2`` and ``ε/2``). Keeps logits small and the model calibrated. Leaves the model in eval mode.
    """
    from tqdm.auto import tqdm

    check_int(epochs, "epochs", minimum=1)
    check_int(batch_size, "batch_size", minimum=1)
    check_int(seed, "seed")
    check_positive(lr, "lr")
    augments = (False, True, "flip", "flip+shift")
    if augment not in augments or isinstance(augment, (int, float)) and not isinstance(augment, bool):
        raise ValueError(f"augment: expected one of {list(augments)}, got {augment!r}")
    if isinstance(label_smoothing, bool) or not isinstance(label_smoothing, (int, float)) \
            or not 0.0 <= float(label_smoothing) < 1.0:
        raise ValueError(f"label_smoothing: expected a number in [0, 1), got {label_smoothing!r}")
    shift = augment == "flip+shift"
    if not isinstance(model, nn.Module):
        raise TypeError(f"model: expected a torch.nn.Module, got {type(model).__name__}")
    x, y = _as_xy(dataset)
    if multilabel is None:
        multilabel = y.is_floating_point() and y.ndim == 2
    device = resolve_device(device) if device is not None else next(model.parameters()).device
    gen = torch.Generator().manual_seed(seed)
    model.to(device).train()
    opt = torch.optim.Adam(model.parameters(), lr=lr, weight_decay=weight_decay)
    steps_per_epoch = (len(x) + batch_size - 1) // batch_size
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=lr, total_steps=epochs * steps_per_epoch)
    eps = float(label_smoothing)
    if multilabel:
        bce = nn.BCEWithLogitsLoss()
        loss_fn = (lambda out, t: bce(out, t * (1 - eps) + eps / 2)) if eps else bce
        # Start the output biases at the base rates' log-odds: otherwise the first steps push every
        # logit down by killing the conv features, and the net never recovers (seen on flowers concepts).
        last = [m for m in model.modules() if isinstance(m, nn.Linear)]
        if last and last[-1].bias is not None and last[-1].out_features == y.shape[1]:
            p = y.float().mean(0).clamp(1e-3, 1 - 1e-3)
            with torch.no_grad():
                last[-1].bias.copy_(torch.log(p / (1 - p)))
    else:
        loss_fn = nn.CrossEntropyLoss(label_smoothing=eps)
    history = {"loss": []}
    torch.manual_seed(seed)  # dropout masks
    try:
        bar = tqdm(range(epochs), desc="training", disable=not progress)
        for _ in bar:
            perm = torch.randperm(len(x), generator=gen)
            total = 0.0
            for i in range(0, len(x), batch_size):
                idx = perm[i:i + batch_size]
                xb = x[idx].to(device)
                yb = y[idx].to(device)
                if augment:
                    flip = torch.rand(len(xb), generator=gen) < 0.5
                    xb = torch.where(flip.to(device).view(-1, 1, 1, 1), xb.flip(-1), xb)
                if shift:
                    xb = _random_shift(xb, max(1, xb.shape[-1] // 16), gen)
                opt.zero_grad(set_to_none=True)
                loss = loss_fn(model(xb), yb.float() if multilabel else yb)
                loss.backward()
                opt.step()
                sched.step()
                total += float(loss.detach()) * len(xb)
            history["loss"].append(total / len(x))
            bar.set_postfix(loss=f"{history['loss'][-1]:.4f}")
    finally:
        model.eval()
    return history


def _random_shift(x: torch.Tensor, max_shift: int, gen: torch.Generator) -> torch.Tensor:
    """Shift each image by up to ``max_shift`` pixels in each direction, repeating the edge."""
    n, _, h, w = x.shape
    d = torch.randint(-max_shift, max_shift + 1, (n, 2), generator=gen)
    rows = (torch.arange(h)[None, :] - d[:, :1]).clamp(0, h - 1).to(x.device)   # [n, h]
    cols = (torch.arange(w)[None, :] - d[:, 1:]).clamp(0, w - 1).to(x.device)   # [n, w]
    x = x.gather(2, rows[:, None, :, None].expand(-1, x.shape[1], -1, w))
    return x.gather(3, cols[:, None, None, :].expand(-1, x.shape[1], h, -1))


@torch.no_grad()
def predict(model: nn.Module, images: torch.Tensor, batch_size: int = 256) -> torch.Tensor:
    """Model outputs (logits) for a batch of images, computed in chunks, on the model's device."""
    device = next(model.parameters()).device
    was_training = model.training
    model.eval()
    try:
        out = [model(images[i:i + batch_size].to(device)) for i in range(0, len(images), batch_size)]
    finally:
        model.train(was_training)
    return torch.cat(out)


def calibration(model: nn.Module, dataset, n_bins: int = 15, batch_size: int = 256) -> dict:
    """How trustworthy a single-label model's probabilities are on ``dataset``.

    Returns ``accuracy``, ``ece`` (expected calibration error over ``n_bins`` equal-width bins),
    ``logit_p99`` (99th percentile of |logit| over every output), ``median_confidence`` (median
    top-class probability) and ``reliability`` (:class:`xnb.metrics.Reliability`, for a reliability
    diagram: :func:`xnb.viz.reliability_diagram`).
    """
    from .metrics import reliability

    x, y = _as_xy(dataset)
    if y.is_floating_point():
        raise ValueError("dataset: calibration needs single-label targets (class indices)")
    logits = predict(model, x, batch_size).cpu().double()
    rel = reliability(logits, y, n_bins=n_bins)
    return {"accuracy": float((logits.argmax(1) == y).double().mean()), "ece": rel.ece,
            "logit_p99": float(logits.abs().flatten().quantile(0.99)),
            "median_confidence": float(logits.softmax(1).max(1).values.median()),
            "reliability": rel}


def evaluate(model: nn.Module, dataset, batch_size: int = 256) -> dict:
    """Accuracy (single-label) or mean ROC-AUC over concepts (multi-label), plus the confusion matrix."""
    x, y = _as_xy(dataset)
    logits = predict(model, x, batch_size).cpu()
    if y.is_floating_point() and y.ndim == 2:
        from sklearn.metrics import roc_auc_score

        yt = y.numpy()
        scores = logits.numpy()
        # one AUC per output (NaN where the test set has only one class of it)
        aucs = [float(roc_auc_score(yt[:, k], scores[:, k])) if 0 < yt[:, k].sum() < len(yt) else float("nan")
                for k in range(yt.shape[1])]
        return {"mean_auc": float(np.nanmean(aucs)), "auc": aucs}
    pred = logits.argmax(1)
    n = int(max(int(y.max()), logits.shape[1] - 1)) + 1
    cm = torch.zeros(n, n, dtype=torch.long)
    cm.index_put_((y.long(), pred), torch.ones_like(y, dtype=torch.long), accumulate=True)
    return {"accuracy": float((pred == y).float().mean()), "confusion": cm}
