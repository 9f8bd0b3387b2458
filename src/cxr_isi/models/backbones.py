"""The registered models: the paper's ``vgg16_gap``, ``resnet50`` and ``densenet121`` (torchvision
trunks), and ``small_cnn`` for CPU work and tests."""

from __future__ import annotations

from cxr_isi.models.classifier import Classifier, register_model


@register_model("vgg16_gap")
def vgg16_gap() -> Classifier:
    """VGG-16's convolutional part; the first fully connected layer replaced by global average
    pooling, then a linear layer to one logit (Zhang et al. 2023); every weight trainable."""
    from torchvision.models import vgg16

    return Classifier(vgg16(weights=None).features, 512, cam_layer="29")


@register_model("resnet50")
def resnet50() -> Classifier:
    """ResNet-50 trunk (up to layer4), global average pooling, one logit."""
    import torch.nn as nn
    from torchvision.models import resnet50 as tv

    r = tv(weights=None)
    trunk = nn.Sequential()
    for name in ("conv1", "bn1", "relu", "maxpool", "layer1", "layer2", "layer3", "layer4"):
        trunk.add_module(name, getattr(r, name))
    return Classifier(trunk, 2048, cam_layer="layer4")


@register_model("densenet121")
def densenet121() -> Classifier:
    """DenseNet-121 features with the final ReLU, global average pooling, one logit."""
    import torch.nn as nn
    from torchvision.models import densenet121 as tv

    trunk = nn.Sequential(tv(weights=None).features, nn.ReLU(inplace=False))
    return Classifier(trunk, 1024, cam_layer="0.denseblock4")


def _small_cnn(norm) -> Classifier:
    import torch.nn as nn

    layers, cin = [], 3
    for cout in (16, 32, 64, 128):
        layers += [nn.Conv2d(cin, cout, 3, padding=1, bias=False), norm(cout), nn.ReLU(),
                   nn.Conv2d(cout, cout, 3, padding=1, bias=False), norm(cout), nn.ReLU(),
                   nn.MaxPool2d(2)]
        cin = cout
    trunk = nn.Sequential(*layers[:-1])  # no pooling after the last block: a 16x16 map at 128 px
    return Classifier(trunk, 128, cam_layer=str(len(layers) - 2))


@register_model("small_cnn")
def small_cnn() -> Classifier:
    """A compact VGG-style network (4 blocks of two 3x3 convolutions, 16 to 128 channels) for
    CPU studies at 64-128 px and for tests."""
    import torch.nn as nn

    return _small_cnn(nn.BatchNorm2d)


@register_model("small_cnn_gn")
def small_cnn_gn() -> Classifier:
    """``small_cnn`` with GroupNorm (8 groups) in place of BatchNorm: its output does not depend
    on the batch, so training with N processes of batch b equals one process of batch N*b (on a
    CPU, where SyncBatchNorm does not run), and tiny per-GPU batches are safe."""
    import torch.nn as nn

    return _small_cnn(lambda c: nn.GroupNorm(8, c))
