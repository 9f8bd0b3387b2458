"""The surface every model shares, and the table factories register in.

Every model is a :class:`Classifier`: a convolutional ``features`` trunk, global average
pooling, and a linear layer to one logit. ``forward_features`` gives the last feature map,
``cam_layer`` the block Grad-CAM explains, ``forward_head`` the logit, ``reset_classifier`` a
fresh head. This module imports torch; the CLI imports it only inside the commands that train.

Grayscale is handled once, in :class:`GrayInput`: the single channel is repeated to three and
normalised with ImageNet's statistics, so a pretrained first convolution applies unchanged
(models trained from scratch take the same path: one input convention for all).
"""

from __future__ import annotations

from collections.abc import Callable

import torch
import torch.nn as nn

MODELS: dict[str, Callable[[], Classifier]] = {}
IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)


class GrayInput(nn.Module):
    """(N, 1, H, W) in [0, 1] -> three channels, ImageNet-normalised."""

    def __init__(self):
        super().__init__()
        self.register_buffer("mean", torch.tensor(IMAGENET_MEAN).view(1, 3, 1, 1))
        self.register_buffer("std", torch.tensor(IMAGENET_STD).view(1, 3, 1, 1))

    def forward(self, x):
        if x.shape[1] == 1:
            x = x.expand(-1, 3, -1, -1)
        return (x - self.mean) / self.std


class Classifier(nn.Module):
    """Trunk -> global average pooling -> linear -> one logit per image."""

    def __init__(self, features: nn.Module, num_features: int, cam_layer: str):
        super().__init__()
        self.input = GrayInput()
        self.features = features
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.head = nn.Linear(num_features, 1)
        self.num_features = num_features
        self.cam_layer_name = cam_layer
        self.name = "model"

    @property
    def cam_layer(self) -> nn.Module:
        """The last convolutional block: the layer Grad-CAM explains."""
        return self.features.get_submodule(self.cam_layer_name)

    def forward_features(self, x):
        return self.features(self.input(x))

    def forward_head(self, f):
        return self.head(torch.flatten(self.pool(f), 1)).squeeze(1)

    def forward(self, x):
        return self.forward_head(self.forward_features(x))

    def reset_classifier(self) -> None:
        self.head = nn.Linear(self.num_features, 1)


def register_model(name: str):
    """Decorator: ``@register_model("vgg16_gap")`` over a factory ``() -> Classifier``."""

    def deco(fn):
        MODELS[name] = fn
        return fn

    return deco
