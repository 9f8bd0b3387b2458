"""A state dict (``.pt``, ``.pth``, ``.safetensors``): weights without their model, built again
from a torchvision or timm architecture name (``--arch``). Scores, features (the input of the
last linear layer) and gradients. Also the fallback for any other file: what is not a state
dict is refused in one line, a pickled whole model among them (it would run its pickled code)."""

from __future__ import annotations

from pathlib import Path

import torch
import torch.nn as nn

from cxr_isi.errors import CxrIsiError
from cxr_isi.models.classifier import IMAGENET_MEAN
from cxr_isi.models.formats.base import ModelFile, ModelFormat, Scorer, TorchScorer, register_format
from cxr_isi.models.spec import ModelSpec


def state_dict_of(obj, path: Path) -> dict:
    """The tensors of a state dict (unwrapped from ``state_dict``/``model`` keys and a
    ``module.`` prefix, as DataParallel and Lightning leave them)."""
    if isinstance(obj, dict):
        for key in ("state_dict", "model_state_dict", "model"):
            if isinstance(obj.get(key), dict):
                obj = obj[key]
                break
    if not isinstance(obj, dict) or not obj or not all(isinstance(v, torch.Tensor) for v in obj.values()):
        raise CxrIsiError(f"{path}: not a state dict of tensors (a {type(obj).__name__})")
    for prefix in ("module.", "model."):
        if all(k.startswith(prefix) for k in obj):
            obj = {k[len(prefix):]: v for k, v in obj.items()}
    return obj


def last_linear(model):
    """Name and module of the last ``nn.Linear`` (the classifier), or (None, None)."""
    found = (None, None)
    for name, module in model.named_modules():
        if isinstance(module, nn.Linear):
            found = (name, module)
    return found


def _build_architecture(arch: str, num_classes: int, in_chans: int, where: Path):
    """A torchvision or timm model by name (``torchvision:NAME``, ``timm:NAME`` or a bare name,
    torchvision's first), no pretrained weights; with timm's ``pretrained_cfg`` where it has one."""
    family, _, name = arch.partition(":") if ":" in arch else ("", "", arch)
    if family not in ("", "torchvision", "timm"):
        raise CxrIsiError(f"--arch {arch}: unknown family {family!r}; use torchvision:NAME, timm:NAME or "
                          "xrv:densenet121")
    if family in ("", "torchvision"):
        import torchvision

        if name in torchvision.models.list_models():
            if in_chans != 3:
                raise CxrIsiError(f"{where}: the state dict's first convolution takes {in_chans} channels; "
                                  f"torchvision's {name} takes 3 (use timm:{name}, which builds any channel count)")
            return torchvision.models.get_model(name, weights=None, num_classes=num_classes), {}
        if family == "torchvision":
            raise CxrIsiError(f"--arch {arch}: torchvision has no model {name!r}")
    try:
        import timm
    except ImportError:
        raise CxrIsiError(f"--arch {arch}: not a torchvision model, and timm is not installed "
                          "(pip install timm)") from None
    if not timm.is_model(name):
        raise CxrIsiError(f"--arch {arch}: neither torchvision nor timm knows this architecture")
    model = timm.create_model(name, pretrained=False, num_classes=num_classes, in_chans=in_chans)
    return model, dict(getattr(model, "pretrained_cfg", {}) or {})


def load_state_dict(model, state: dict, arch: str, where: Path) -> None:
    """``load_state_dict`` strictly, with the first mismatches named in one line."""
    own = model.state_dict()
    missing = [k for k in own if k not in state]
    unexpected = [k for k in state if k not in own]
    shapes = [f"{k} {tuple(state[k].shape)} vs {tuple(own[k].shape)}" for k in own
              if k in state and tuple(state[k].shape) != tuple(own[k].shape)]
    if missing or unexpected or shapes:
        parts = []
        for label, keys in (("missing", missing), ("unexpected", unexpected), ("shape", shapes)):
            if keys:
                parts.append(f"{len(keys)} {label} ({', '.join(keys[:3])}{', ...' if len(keys) > 3 else ''})")
        raise CxrIsiError(f"{where}: its keys do not fit {arch}: " + "; ".join(parts))
    model.load_state_dict(state)


def _from_state_dict(state: dict, arch: str, spec: ModelSpec, path: Path) -> Scorer:
    convs = [v for k, v in state.items() if k.endswith("weight") and v.ndim == 4]
    in_chans = int(convs[0].shape[1]) if convs else int(spec.channels or 3)
    model, cfg = _build_architecture(arch, 1, in_chans, path)
    head_name, _ = last_linear(model)
    width = int(state[f"{head_name}.weight"].shape[0]) if f"{head_name}.weight" in state else 1
    if width != 1:  # built again with the state dict's number of outputs
        model, cfg = _build_architecture(arch, width, in_chans, path)
    load_state_dict(model, {k: v.float() if v.is_floating_point() else v for k, v in state.items()}, arch, path)
    size = cfg.get("input_size", (in_chans, 224, 224))[-1]
    mean, std = cfg.get("mean"), cfg.get("std")
    if mean and std and tuple(mean) != IMAGENET_MEAN and spec.normalise is None:
        spec = spec.filled(normalise="custom", mean=list(mean), std=list(std))
    spec = spec.filled(size=int(size), channels=in_chans if in_chans in (1, 3) else None, normalise="imagenet")
    if spec.channels is None:
        raise CxrIsiError(f"{path}: the first convolution takes {in_chans} channels; cxr-isi feeds 1 or 3")
    _, head = last_linear(model)
    return TorchScorer(model, spec, path.name, StateDict.name, feature_layer=head, origin=str(path))


def read_state(file: ModelFile):
    """The file's tensors: ``safetensors`` by its own reader, anything else by
    ``torch.load(weights_only=True)``."""
    path = file.path
    if file.suffix != ".safetensors":
        return file.torch_object
    try:
        from safetensors.torch import load_file
    except ImportError:
        raise CxrIsiError(f"{path}: reading .safetensors needs the safetensors package") from None
    try:
        return load_file(str(path))
    except Exception as exc:  # noqa: BLE001 - safetensors' errors for a damaged header
        raise CxrIsiError(f"{path}: not a readable safetensors file ({type(exc).__name__})") from None


@register_format
class StateDict(ModelFormat):
    """Any file the formats before it left: a state dict, or a one-line refusal."""

    name = "state_dict"
    order = 90
    features = True
    gradients = True

    def claims(self, file: ModelFile) -> bool:
        return True

    def load(self, file: ModelFile, *, arch: str | None, spec: ModelSpec) -> Scorer:
        state = read_state(file)
        if arch is None:
            raise CxrIsiError(f"{file.path}: a state dict (weights without their model); say the architecture with "
                              "--arch NAME (torchvision:resnet50, timm:densenet121, ...)")
        return _from_state_dict(state_dict_of(state, file.path), arch, spec, file.path)
