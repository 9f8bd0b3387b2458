"""torchxrayvision's DenseNets (``--arch xrv:NAME``), their weights read from a local file: never
downloaded. Its multi-label head names its outputs; ``--head`` says which is positive."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch

from cxr_isi.errors import CxrIsiError
from cxr_isi.models.formats.base import ModelFile, ModelFormat, Scorer, TorchScorer, register_format
from cxr_isi.models.formats.state_dict import last_linear, load_state_dict, state_dict_of
from cxr_isi.models.spec import ModelSpec, ModelSpecError


class _Stand(dict):
    """What a pickled module class is read as: nothing of the named class is imported or called
    (its ``__init__`` could create folders or download weights); the object's saved state is
    kept as data, from which only tensors are taken."""

    def __init__(self, *args, **kwargs):
        super().__init__()

    def __setstate__(self, state):
        self["state"] = state


STAND_IN = ("torchxrayvision.", "torch.nn.modules.")  # classes read as data (their state), never imported


def _tensors(obj, prefix: str = "", out: dict | None = None) -> dict:
    """The persistent parameters and buffers of a module tree read as :class:`_Stand` objects,
    by their dotted names (as ``state_dict()`` names them)."""
    out = {} if out is None else out
    state = obj.get("state") if isinstance(obj, _Stand) else None
    if not isinstance(state, dict):
        return out
    skip = state.get("_non_persistent_buffers_set") or set()
    for key in ("_parameters", "_buffers"):
        for name, value in (state.get(key) or {}).items():
            if isinstance(value, torch.Tensor) and name not in skip:
                out[prefix + name] = value
    for name, child in (state.get("_modules") or {}).items():
        _tensors(child, f"{prefix}{name}.", out)
    return out


def _xrv_state(path: Path) -> dict:
    """The weights in a torchxrayvision file. Its published files are pickled whole models; they
    are read with ``weights_only=True`` and every module class the file names (torch.nn's and
    torchxrayvision's) read as a stand-in that keeps its state as data: no class named by the file
    is imported or called, so reading it cannot write, download or run anything. Any other class
    in the file is refused."""
    import pickle

    try:
        obj = torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError:
        try:
            names = torch.serialization.get_unsafe_globals_in_checkpoint(str(path))
        except Exception:  # noqa: BLE001 - not a zip checkpoint at all
            raise CxrIsiError(f"{path}: not a torchxrayvision weights file") from None
        foreign = [n for n in names if not n.startswith(STAND_IN)]
        if foreign:
            raise CxrIsiError(f"{path}: holds classes other than torch.nn's and torchxrayvision's modules "
                              f"({foreign[0]}); cxr-isi runs no pickled code") from None
        stand_ins: list[Callable[..., Any] | tuple[Callable[..., Any], str]] = [
            (type(n.rpartition(".")[2], (_Stand,), {}), n) for n in names]
        try:
            with torch.serialization.safe_globals(stand_ins):
                obj = torch.load(path, map_location="cpu", weights_only=True)
        except Exception as exc:  # noqa: BLE001 - a damaged file or a state no module has
            raise CxrIsiError(f"{path}: not a torchxrayvision weights file ({type(exc).__name__})") from None
        found = _tensors(obj)
        if not found:
            raise CxrIsiError(f"{path}: no module weights in this file") from None
        return state_dict_of(found, path)
    except Exception as exc:  # noqa: BLE001 - zip, EOF errors of a damaged file
        raise CxrIsiError(f"{path}: not a torchxrayvision weights file ({type(exc).__name__})") from None
    return state_dict_of(obj.state_dict() if hasattr(obj, "state_dict") else obj, path)


def xrv_scorer(path: Path, arch: str, spec: ModelSpec) -> Scorer:
    """torchxrayvision's DenseNet (``xrv:densenet121-res224-all`` and the other names it
    publishes) with its weights read from ``path``: never downloaded."""
    try:
        import torchxrayvision as xrv
    except ImportError:
        raise CxrIsiError(f"--arch {arch}: needs the torchxrayvision package (pip install torchxrayvision)") from None
    name = arch.split(":", 1)[1]
    known = [k for k in xrv.models.model_urls if k.startswith("densenet")]
    if name not in known:
        raise CxrIsiError(f"--arch {arch}: torchxrayvision has no DenseNet weights {name!r} "
                          f"(one of {', '.join(known)})")
    if not path.is_file():
        file = Path(xrv.models.model_urls[name]["weights_url"]).name
        raise CxrIsiError(f"{path}: torchxrayvision weights not found; cxr-isi never downloads them: copy {file} "
                          f"(torchxrayvision keeps it under ~/.torchxrayvision/models_data/) to this path")
    labels = list(xrv.models.model_urls[name]["labels"])
    model = xrv.models.DenseNet(weights=None, num_classes=len(labels))
    model.pathologies = model.targets = labels
    load_state_dict(model, {k: v for k, v in _xrv_state(path).items() if k != "op_threshs"}, arch, path)
    spec = spec.filled(size=224, channels=1, normalise="xrv", class_names=labels)
    if spec.head is None and spec.positive_index is None:
        raise ModelSpecError(f"{path}: a torchxrayvision model gives {len(labels)} outputs; name the positive one "
                             f"with --head (one of {', '.join(n for n in labels if n)})")
    _, head = last_linear(model)
    return TorchScorer(model, spec, path.name, Xrv.name, feature_layer=head, origin=str(path))


@register_format
class Xrv(ModelFormat):
    """Chosen by ``--arch xrv:NAME`` (its files are pickled whole models; only the tensors are
    kept)."""

    name = "torchxrayvision"
    order = 100
    features = True
    gradients = True
    arch_prefix = "xrv:"

    def claims(self, file: ModelFile) -> bool:
        return False  # by --arch only: its files look like any pickled model

    def load(self, file: ModelFile, *, arch: str | None, spec: ModelSpec) -> Scorer:
        return xrv_scorer(file.path, arch or "", spec)
