"""Pretrained and local weights: ``none``, ``imagenet`` (torchvision's, from the torch cache or
downloaded where the machine is online), or a local file; always ``weights_only=True``."""

from __future__ import annotations

import socket
from pathlib import Path

import torch

from cxr_isi._checkpoints import read_checkpoint
from cxr_isi.errors import CxrIsiError
from cxr_isi.models.classifier import Classifier

CHECKPOINT_FORMAT = "cxr_isi.classifier/1"


def _imagenet_spec(name: str):
    """torchvision weights enum and the map from its keys to this package's trunk keys."""
    from torchvision import models as tv

    if name == "vgg16_gap":
        return tv.VGG16_Weights.IMAGENET1K_V1, lambda k: k if k.startswith("features.") else None
    if name == "resnet50":
        return tv.ResNet50_Weights.IMAGENET1K_V2, lambda k: None if k.startswith("fc.") else f"features.{k}"
    if name == "densenet121":
        return (tv.DenseNet121_Weights.IMAGENET1K_V1,
                lambda k: f"features.0.{k[len('features.'):]}" if k.startswith("features.") else None)
    raise CxrIsiError(f"no ImageNet weights for {name}; use --weights none or a local file")


def imagenet_state_dict(name: str, timeout: float = 15.0) -> dict:
    """torchvision's ImageNet weights: the torch cache first, then a bounded download."""
    weights, _ = _imagenet_spec(name)
    cached = Path(torch.hub.get_dir()) / "checkpoints" / Path(weights.url).name
    if cached.is_file():
        return torch.load(cached, map_location="cpu", weights_only=True)
    old = socket.getdefaulttimeout()
    socket.setdefaulttimeout(timeout)  # never hang on a machine without network
    try:
        return weights.get_state_dict(progress=False, check_hash=True)
    except Exception as exc:  # noqa: BLE001 - urllib, ssl and socket errors all mean "offline"
        raise CxrIsiError(
            f"ImageNet weights for {name} are not in the torch cache ({cached}) and could not be "
            f"downloaded ({type(exc).__name__}); fetch {weights.url} on a machine that is online "
            "and put it there, or pass --weights PATH, or --weights none") from None
    finally:
        socket.setdefaulttimeout(old)


def load_weights(model: Classifier, weights: str | Path) -> Classifier:
    """Load ``weights`` into ``model`` and return it."""
    w = str(weights)
    if w == "none":
        return model
    if w == "imagenet":
        _, key_map = _imagenet_spec(model.name)
        state = {key_map(k): v for k, v in imagenet_state_dict(model.name).items()}
        state = {k: v for k, v in state.items() if k is not None}
        missing, unexpected = model.load_state_dict(state, strict=False)
        trunk_missing = [k for k in missing if k.startswith("features.")]
        if trunk_missing or unexpected:
            raise CxrIsiError(f"ImageNet weights do not fit {model.name}: {len(trunk_missing)} "
                              f"missing, {len(unexpected)} unexpected keys")
        return model
    path = Path(w)
    if not path.is_file():
        raise CxrIsiError(f"{path}: weights file not found (use none, imagenet or a file)")
    state = read_checkpoint(path)
    if state.get("format") == CHECKPOINT_FORMAT:
        if state["model"] != model.name:
            raise CxrIsiError(f"{path}: a checkpoint of {state['model']}, not of {model.name}")
        state = state["state_dict"]
    try:
        model.load_state_dict(state)
    except RuntimeError:
        raise CxrIsiError(f"{path}: its weights do not fit {model.name} (keys or shapes differ)") from None
    return model
