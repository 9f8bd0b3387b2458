"""Any classifier, one way in: a :class:`Scorer` gives the positive class's probability for gray
images, whatever made the model.

The people cxr-isi exists for arrive with a model trained in their own code. Every probe that
judges a model takes a scorer, not a checkpoint of ours:

- ``score(images)``: probability of the positive class, for float images ``(N, H, W)`` in [0, 1]
  at the spec's size (every format);
- ``features(images)``: the pooled penultimate layer (the input of the last linear layer), where
  the format keeps its layers (cxr-isi checkpoints, torchvision and timm state dicts);
- ``torch_module()``: the same probability as a differentiable ``torch.nn.Module`` of
  ``(N, 1, H, W)``, where the format allows gradients (everything but ONNX).

Formats (:func:`load_scorer` tells them apart by content, then by suffix): cxr-isi checkpoints,
TorchScript (``torch.jit.save``), ``torch.export`` programs (``.pt2``), ONNX (onnxruntime), and a
state dict (``.pt``, ``.pth``, ``.safetensors``) with a torchvision or timm architecture name, or
torchxrayvision's DenseNet. Files are read with ``weights_only=True``; a pickled whole model is
refused (it would run its pickled code).

A :class:`ModelSpec` says what the model expects: input size and channels, normalisation,
resize mode, and what its output is. Wrong specs are found on the first batch and said in one line.
"""

from __future__ import annotations

import re
import zipfile
from pathlib import Path
from typing import Literal

import numpy as np
import torch
import torch.nn as nn
from pydantic import Field, model_validator

from cxr_isi.choices import ResizeMode
from cxr_isi.config import StrictModel, load_config
from cxr_isi.errors import CxrIsiError
from cxr_isi.models.registry import IMAGENET_MEAN, IMAGENET_STD

FORMATS = ("cxr-isi", "torchscript", "export", "onnx", "state_dict", "torchxrayvision")
# torchxrayvision reads [0, 1] images as [-1024, 1024] (its ``normalize(img, 255)`` on 8-bit images).
XRV_RANGE = 1024.0


class ModelSpecError(CxrIsiError):
    """A model and its spec disagree (channels, size, output width)."""


class ModelSpec(StrictModel):
    """What a model expects and what it gives.

    Fields left ``None`` take the format's default (:func:`load_scorer` fills them): a cxr-isi
    checkpoint knows its own; timm's ``pretrained_cfg`` gives size, mean and std; ONNX gives
    channels and size where its input shape fixes them; otherwise 224 px, 3 channels, ImageNet's
    mean and std.

    Attributes
    ----------
    size : int
        Square input side in pixels.
    channels : {1, 3}
        Gray images are repeated to three channels when the model takes three.
    normalise : {"none", "imagenet", "custom", "xrv"}
        ``custom`` uses ``mean``/``std``; ``xrv`` is torchxrayvision's [-1024, 1024].
    mean, std : list of float, optional
        Per channel (or one value for all), for ``custom``.
    resize : {"pad", "squeeze", "crop"}
        How an image becomes a square (as everywhere in cxr-isi).
    output : {"logit", "probability", "softmax"}
        ``logit``: sigmoid of the positive column (one column, or a multi-label head);
        ``probability``: the column as is; ``softmax``: softmax over the columns.
    positive_index : int, optional
        The positive column where the model gives more than one.
    head : str, optional
        The positive column by name (a multi-label head), looked up in ``class_names``.
    class_names : list of str, optional
        Column names (torchxrayvision models carry their own).
    onnx_output : str, optional
        Which output of an ONNX graph to read when it has several.
    """

    size: int | None = Field(default=None, ge=8, le=4096)
    channels: Literal[1, 3] | None = None
    normalise: Literal["none", "imagenet", "custom", "xrv"] | None = None
    mean: list[float] | None = None
    std: list[float] | None = None
    resize: ResizeMode = "pad"
    output: Literal["logit", "probability", "softmax"] = "logit"
    positive_index: int | None = Field(default=None, ge=0)
    head: str | None = None
    class_names: list[str] | None = None
    onnx_output: str | None = None

    @model_validator(mode="after")
    def _custom_needs_values(self) -> ModelSpec:
        if self.normalise == "custom" and (not self.mean or not self.std):
            raise ValueError("normalise: custom needs mean and std")
        if self.std and any(s <= 0 for s in self.std):
            raise ValueError("std values must be positive")
        return self

    def filled(self, **defaults) -> ModelSpec:
        """This spec with its unset fields (None) taken from ``defaults``."""
        return self.model_copy(update={k: v for k, v in defaults.items() if getattr(self, k) is None})

    def column(self, width: int, where: str) -> int:
        """The positive column of an output ``width`` columns wide; one line when it is not said."""
        if self.head is not None:
            names = self.class_names or []
            if self.head not in names:
                raise ModelSpecError(f"{where}: no output named {self.head!r}" + (
                    f" (the model's outputs: {', '.join(names)})" if names else " (the model names no outputs; "
                    "give class_names in the spec, or --positive-index)"))
            index = names.index(self.head)
        elif self.positive_index is not None:
            index = self.positive_index
        elif width == 1:
            return 0
        elif self.output == "softmax" and width == 2:
            return 1
        else:
            raise ModelSpecError(f"{where}: the model gives {width} outputs per image; say which is the positive "
                                 "class (--positive-index I, or --head NAME for a multi-label head)")
        if index >= width:
            raise ModelSpecError(f"{where}: positive output {index} asked for, but the model gives {width} "
                                 f"output{'s' if width > 1 else ''} per image")
        return index


def read_spec(path: str | Path) -> ModelSpec:
    """A :class:`ModelSpec` from a small YAML file (``--spec``)."""
    return load_config(ModelSpec, path)


class Scorer:
    """Base class: a model behind one interface. Subclasses implement :meth:`_raw_scores`.

    Attributes
    ----------
    name : str
        What the report calls the model (its file name).
    format : str
        One of :data:`FORMATS`.
    spec : ModelSpec
        Complete (no unset field).
    """

    def __init__(self, name: str, format: str, spec: ModelSpec, origin: str | None = None):
        self.name = name
        self.format = format
        self.spec = spec
        self.origin = origin or name  # what an error names: the model file

    @property
    def supports_features(self) -> bool:
        return False

    @property
    def supports_gradients(self) -> bool:
        return self.torch_module() is not None

    def score(self, images: np.ndarray, batch_size: int = 32) -> np.ndarray:
        """Positive-class probabilities ``(N,)`` for gray images ``(N, H, W)`` in [0, 1]."""
        images = np.asarray(images, dtype=np.float32)
        if images.ndim != 3:
            raise ModelSpecError(f"{self.origin}: images must be (N, H, W) gray arrays, got shape {images.shape}")
        out = [self._raw_scores(images[i : i + batch_size]) for i in range(0, len(images), batch_size)]
        scores = np.concatenate(out).astype(np.float64) if out else np.empty(0)
        bad = int(np.isnan(scores).sum())
        if bad:
            raise ModelSpecError(f"{self.origin}: {bad} of {len(scores)} scores are NaN (the model's output, with "
                                 f"its spec's normalisation {self.spec.normalise!r})")
        return scores

    def features(self, images: np.ndarray, batch_size: int = 32) -> np.ndarray | None:
        """Pooled penultimate features ``(N, C)``; None where the format does not keep layers."""
        return self.score_and_features(images, batch_size)[1]

    def score_and_features(self, images: np.ndarray, batch_size: int = 32) -> tuple[np.ndarray, np.ndarray | None]:
        """:meth:`score` and :meth:`features` in one pass over the images (features None where
        the format does not keep layers)."""
        return self.score(images, batch_size), None

    def torch_module(self):
        """A differentiable module ``(N, 1, H, W) -> (N,)`` probabilities; None for ONNX."""
        return None

    def _raw_scores(self, images: np.ndarray) -> np.ndarray:
        raise NotImplementedError

    def describe(self) -> dict:
        """The model and its spec, as the report records them."""
        return {"name": self.name, "format": self.format, "spec": self.spec.model_dump(),
                "features": self.supports_features, "gradients": self.supports_gradients}


class Preprocess(nn.Module):
    """(N, 1, H, W) in [0, 1] -> what the model takes: channels and normalisation."""

    def __init__(self, spec: ModelSpec):
        super().__init__()
        self.channels = int(spec.channels or 3)
        self.xrv = spec.normalise == "xrv"
        if spec.normalise == "imagenet":
            mean, std = list(IMAGENET_MEAN), list(IMAGENET_STD)
        elif spec.normalise == "custom":
            mean, std = list(spec.mean or []), list(spec.std or [])
        else:
            mean, std = [0.0], [1.0]
        if self.channels == 1:
            mean, std = mean[:1], std[:1]
        elif len(mean) == 1:
            mean, std = mean * 3, std * 3
        if len(mean) != self.channels or len(std) != self.channels:
            raise ModelSpecError(f"mean/std give {len(mean)} values; the spec says {self.channels} channels")
        self.register_buffer("mean", torch.tensor(mean, dtype=torch.float32).view(1, -1, 1, 1))
        self.register_buffer("std", torch.tensor(std, dtype=torch.float32).view(1, -1, 1, 1))

    def forward(self, x):
        if self.xrv:
            x = (2 * x - 1) * XRV_RANGE
        if self.channels == 3:
            x = x.expand(-1, 3, -1, -1)
        return (x - self.mean) / self.std

class PositiveProbability(nn.Module):
    """Preprocess -> model -> the positive column as a probability ``(N,)``."""

    def __init__(self, model, spec: ModelSpec, where: str):
        super().__init__()
        self.pre = Preprocess(spec)
        self.model = model
        self.spec = spec
        self.where = where

    def forward(self, x):
        return positive_probability(self.model(self.pre(x)), self.spec, self.where)

    def train(self, mode: bool = True):
        self.training = mode
        self.pre.train(mode)
        try:
            self.model.train(mode)
        except NotImplementedError:  # an exported program keeps the mode it was traced in
            pass
        return self


def _first_tensor(out):
    """A model's output as one tensor (the first of a tuple or list, ``logits`` of a dict)."""
    if isinstance(out, (tuple, list)):
        out = out[0]
    if isinstance(out, dict):
        out = out.get("logits", next(iter(out.values())))
    return out


def positive_probability(out, spec: ModelSpec, where: str):
    """The positive class's probability ``(N,)`` from a model's output (torch or numpy), by the
    spec's ``output`` and positive column."""
    out = _first_tensor(out)
    if not isinstance(out, torch.Tensor):
        out = torch.as_tensor(np.asarray(out))
    if out.ndim == 1:
        out = out[:, None]
    if out.ndim != 2:
        raise ModelSpecError(f"{where}: the model's output has shape {tuple(out.shape)}; a classifier gives "
                             "(images, classes)")
    col = spec.column(out.shape[1], where)
    if spec.output == "softmax":
        return torch.softmax(out.float(), dim=1)[:, col]
    if spec.output == "probability":
        p = out[:, col].float()
        if p.numel() and (p.min() < -1e-6 or p.max() > 1 + 1e-6):
            raise ModelSpecError(f"{where}: outputs from {float(p.min()):.3g} to {float(p.max()):.3g} are not "
                                 "probabilities; use --output logit")
        return p
    return torch.sigmoid(out[:, col].float())


_SHAPE_ERRORS = (
    (re.compile(r"expected input\[[^\]]*\] to have (\d+) channels, but got (\d+)"),
     "the model expects {0} input channels, the spec gives {1} (set channels: {0})"),
    (re.compile(r"mat1 and mat2 shapes cannot be multiplied"),
     "the model's layers do not fit an input of {size} px (set size to what it was trained on)"),
)


def _explain_failure(exc: Exception, spec: ModelSpec, where: str, shape) -> ModelSpecError:
    text = str(exc)
    for pattern, message in _SHAPE_ERRORS:
        found = pattern.search(text)
        if found:
            return ModelSpecError(f"{where}: " + message.format(*found.groups(), size=spec.size))
    first = text.strip().splitlines()[0] if text.strip() else type(exc).__name__
    return ModelSpecError(f"{where}: the model fails on a batch of shape {tuple(shape)} "
                          f"({first[:200]}); check the spec's size and channels")


class TorchScorer(Scorer):
    """A ``torch.nn.Module`` (eager, TorchScript or an exported program's module).

    Parameters
    ----------
    model : torch.nn.Module
        Takes the preprocessed batch, gives the output the spec describes.
    spec : ModelSpec
        Complete.
    name, format : str
    feature_layer : torch.nn.Module, optional
        The last linear layer; its input is what :meth:`features` returns.
    """

    def __init__(self, model, spec: ModelSpec, name: str, format: str, feature_layer=None,
                 fixed_batch: int | None = None, origin: str | None = None):
        super().__init__(name, format, spec, origin)
        self.module = PositiveProbability(model, spec, self.origin).eval()
        try:  # channels_last: 1.5x faster inference on this CPU (ResNet-50 at 224: 17 -> 26 img/s)
            self.module.to(memory_format=torch.channels_last)
        except (RuntimeError, NotImplementedError, AttributeError):
            pass  # a format that keeps its own layout
        self.feature_layer = feature_layer
        self.fixed_batch = fixed_batch

    @property
    def supports_features(self) -> bool:
        return self.feature_layer is not None

    def torch_module(self):
        return self.module

    def _run(self, images: np.ndarray):
        x = torch.from_numpy(np.ascontiguousarray(images, dtype=np.float32)).unsqueeze(1)
        try:
            with torch.inference_mode():
                if self.fixed_batch is None:
                    return self.module(x)
                # a program exported with a static batch: fed in chunks of that size, the last padded
                b, n = self.fixed_batch, len(x)
                pad = torch.cat([x, x[-1:].expand((-n) % b, -1, -1, -1)]) if n % b else x
                return torch.cat([self.module(pad[i : i + b]) for i in range(0, len(pad), b)])[:n]
        except ModelSpecError:
            raise
        except (RuntimeError, ValueError, TypeError, IndexError, AssertionError) as exc:
            raise _explain_failure(exc, self.spec, self.origin, (len(images), self.spec.channels,
                                                                *images.shape[1:])) from None

    def _raw_scores(self, images: np.ndarray) -> np.ndarray:
        return self._run(images).numpy()

    def score_and_features(self, images: np.ndarray, batch_size: int = 32) -> tuple[np.ndarray, np.ndarray | None]:
        if self.feature_layer is None:
            return self.score(images, batch_size), None
        caught: list = []

        def hook(_module, args):
            f = args[0].detach()
            caught.append((f.mean(dim=(-2, -1)) if f.ndim == 4 else f.flatten(1)).numpy())

        handle = self.feature_layer.register_forward_pre_hook(hook)
        try:
            scores = self.score(images, batch_size)
        finally:
            handle.remove()
        return scores, (np.concatenate(caught) if caught else np.empty((0, 0), np.float32))


class OnnxScorer(Scorer):
    """An ONNX graph run by onnxruntime on the CPU; scores only (no layers, no gradients)."""

    def __init__(self, path: Path, spec: ModelSpec, name: str):
        try:
            import onnxruntime as ort
        except ImportError:
            raise CxrIsiError(f"{path}: reading ONNX models needs onnxruntime (pip install 'cxr-isi[judge]')") from None
        try:
            self.session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
        except Exception as exc:  # noqa: BLE001 - onnxruntime raises its own error types for a bad graph
            first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
            raise CxrIsiError(f"{path}: not a readable ONNX model ({first[:200]})") from None
        inputs = self.session.get_inputs()
        if len(inputs) != 1:
            raise ModelSpecError(f"{path}: the ONNX model has {len(inputs)} inputs "
                                 f"({', '.join(i.name for i in inputs)}); cxr-isi feeds one image batch")
        shape = list(inputs[0].shape)
        if len(shape) != 4:
            raise ModelSpecError(f"{path}: the ONNX input has shape {shape}; an image model takes (N, C, H, W)")
        fixed = _fixed_input(shape, spec, path)
        channels, height = fixed[1], fixed[2]
        if height is None and spec.size is None:
            raise ModelSpecError(f"{path}: the ONNX input's height and width are dynamic; give the size it was "
                                 "trained at (--size, or size: in --spec)")
        outputs = [o.name for o in self.session.get_outputs()]
        if spec.onnx_output is not None and spec.onnx_output not in outputs:
            raise ModelSpecError(f"{path}: no ONNX output named {spec.onnx_output!r} (outputs: {', '.join(outputs)})")
        if spec.onnx_output is None and len(outputs) > 1:
            raise ModelSpecError(f"{path}: the ONNX model has {len(outputs)} outputs ({', '.join(outputs)}); "
                                 "name the one to read (--onnx-output NAME)")
        spec = spec.filled(channels=channels or 3, size=height, normalise="imagenet")
        super().__init__(name, "onnx", spec, str(path))
        self.input_name = inputs[0].name
        self.output_name = spec.onnx_output or outputs[0]
        self.one_at_a_time = fixed[0] == 1
        self.pre = Preprocess(spec)

    def _raw_scores(self, images: np.ndarray) -> np.ndarray:
        with torch.inference_mode():
            x = self.pre(torch.from_numpy(np.ascontiguousarray(images, dtype=np.float32)).unsqueeze(1)).numpy()
        chunks = [x[i : i + 1] for i in range(len(x))] if self.one_at_a_time else [x]
        outs = []
        for c in chunks:
            try:
                outs.append(self.session.run([self.output_name], {self.input_name: c})[0])
            except Exception as exc:  # noqa: BLE001 - onnxruntime's errors for a wrong shape or type
                raise _explain_failure(exc, self.spec, self.origin, c.shape) from None
        return positive_probability(np.concatenate(outs), self.spec, self.origin).numpy()


# -- loading ------------------------------------------------------------------------------------

def _fixed_input(shape: list, spec: ModelSpec, path: Path) -> list[int | None]:
    """An exported graph's input shape ``(N, C, H, W)``, ints where fixed and None where dynamic,
    checked against the spec: a fixed channel count or side that the spec contradicts is one line."""
    fixed = [d if isinstance(d, int) else None for d in shape]
    _, channels, height, width = fixed
    if channels is not None and spec.channels not in (None, channels):
        raise ModelSpecError(f"{path}: the model expects {channels} input channels, the spec gives "
                             f"{spec.channels} (set channels: {channels})")
    if height is not None and width is not None and height != width:
        raise ModelSpecError(f"{path}: the model's input is {height}x{width}; cxr-isi feeds square images")
    if height is not None and spec.size not in (None, height):
        raise ModelSpecError(f"{path}: the model expects {height} px inputs, the spec gives {spec.size} "
                             f"(set size: {height})")
    return fixed


def _kind_of(path: Path) -> str:
    """The format a model file holds, by its content (zip archives' entries), then its suffix."""
    suffix = path.suffix.lower()
    if suffix == ".onnx":
        return "onnx"
    if suffix == ".safetensors":
        return "safetensors"
    if zipfile.is_zipfile(path):
        try:
            with zipfile.ZipFile(path) as z:
                names = z.namelist()
        except (zipfile.BadZipFile, OSError):
            names = []
        if any("/serialized_exported_program" in n or n.endswith("/archive_format") for n in names):
            return "export"
        if any("/code/__torch__" in n for n in names) and any(n.endswith("/constants.pkl") for n in names):
            return "torchscript"
    if suffix == ".pt2":
        return "export"
    return "torch"


def _pickled_model_error(path: Path) -> CxrIsiError:
    return CxrIsiError(
        f"{path}: a pickled whole model (torch.save(model)); cxr-isi runs no pickled code: export it with "
        "torch.jit.save(torch.jit.script(model), 'model.ts') or torch.export.save(torch.export.export(model, "
        "(example,)), 'model.pt2'), or save model.state_dict() and pass --arch NAME")


def _read_torch_file(path: Path):
    """``torch.load(weights_only=True)``; a pickled model and a file that is no checkpoint each get
    their one line."""
    import pickle

    try:
        return torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # noqa: BLE001 - zip, EOF and unpickling errors all mean "not a model"
        if isinstance(exc, pickle.UnpicklingError) and ("Unsupported global" in str(exc) or "GLOBAL" in str(exc)):
            raise _pickled_model_error(path) from None
        raise CxrIsiError(f"{path}: not a model file (neither TorchScript, ONNX, torch.export nor a "
                          "checkpoint)") from None


def _state_dict_of(obj, path: Path) -> dict:
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


def _last_linear(model):
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


def _load_state_dict(model, state: dict, arch: str, where: Path) -> None:
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
    head_name, _ = _last_linear(model)
    width = int(state[f"{head_name}.weight"].shape[0]) if f"{head_name}.weight" in state else 1
    if width != 1:  # built again with the state dict's number of outputs
        model, cfg = _build_architecture(arch, width, in_chans, path)
    _load_state_dict(model, {k: v.float() if v.is_floating_point() else v for k, v in state.items()}, arch, path)
    size = cfg.get("input_size", (in_chans, 224, 224))[-1]
    mean, std = cfg.get("mean"), cfg.get("std")
    if mean and std and tuple(mean) != IMAGENET_MEAN and spec.normalise is None:
        spec = spec.filled(normalise="custom", mean=list(mean), std=list(std))
    spec = spec.filled(size=int(size), channels=in_chans if in_chans in (1, 3) else None, normalise="imagenet")
    if spec.channels is None:
        raise CxrIsiError(f"{path}: the first convolution takes {in_chans} channels; cxr-isi feeds 1 or 3")
    _, head = _last_linear(model)
    return TorchScorer(model, spec, path.name, "state_dict", feature_layer=head, origin=str(path))


def _xrv_state(path: Path) -> dict:
    """The weights in a torchxrayvision file. Its published files are pickled whole models; they
    are read with ``weights_only=True`` all the same, allowing only torch.nn's and
    torchxrayvision's own classes (any other class in the file is refused: it would run code)."""
    import importlib
    import pickle

    try:
        obj = torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError:
        try:
            names = torch.serialization.get_unsafe_globals_in_checkpoint(str(path))
        except Exception:  # noqa: BLE001 - not a zip checkpoint at all
            raise CxrIsiError(f"{path}: not a torchxrayvision weights file") from None
        allowed = ("torch.nn.", "torchxrayvision.", "collections.OrderedDict", "torch._utils.")
        foreign = [n for n in names if not n.startswith(allowed)]
        if foreign:
            raise CxrIsiError(f"{path}: holds classes other than torch.nn's and torchxrayvision's ({foreign[0]}); "
                              "cxr-isi runs no pickled code") from None
        found = []
        for n in names:
            module, _, attr = n.rpartition(".")
            found.append(getattr(importlib.import_module(module), attr))
        with torch.serialization.safe_globals(found):
            obj = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # noqa: BLE001 - zip, EOF errors of a damaged file
        raise CxrIsiError(f"{path}: not a torchxrayvision weights file ({type(exc).__name__})") from None
    return _state_dict_of(obj.state_dict() if hasattr(obj, "state_dict") else obj, path)


def _xrv_scorer(path: Path, arch: str, spec: ModelSpec) -> Scorer:
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
    _load_state_dict(model, {k: v for k, v in _xrv_state(path).items() if k != "op_threshs"}, arch, path)
    spec = spec.filled(size=224, channels=1, normalise="xrv", class_names=labels)
    if spec.head is None and spec.positive_index is None:
        raise ModelSpecError(f"{path}: a torchxrayvision model gives {len(labels)} outputs; name the positive one "
                             f"with --head (one of {', '.join(n for n in labels if n)})")
    _, head = _last_linear(model)
    return TorchScorer(model, spec, path.name, "torchxrayvision", feature_layer=head, origin=str(path))


def _exported_input_shape(program, path: Path) -> list:
    """The shape of an exported program's one image input (ints where static, symbols where not)."""
    names = list(program.graph_signature.user_inputs)
    shapes = [list(n.meta["val"].shape) for n in program.graph.nodes
              if n.op == "placeholder" and n.name in names and "val" in n.meta]
    if len(shapes) != 1 or len(shapes[0]) != 4:
        raise ModelSpecError(f"{path}: the exported program takes {len(names)} input(s) "
                             f"{[tuple(s) for s in shapes]}; cxr-isi feeds one (N, C, H, W) image batch")
    return shapes[0]


def load_scorer(path: str | Path, *, arch: str | None = None, spec: ModelSpec | None = None) -> Scorer:
    """A :class:`Scorer` for any supported model file.

    Parameters
    ----------
    path : path
        The model: a cxr-isi ``best.pt``, TorchScript, a ``torch.export`` ``.pt2``, an ``.onnx``,
        or a state dict (``.pt``, ``.pth``, ``.safetensors``) with ``arch``.
    arch : str, optional
        For a state dict: ``torchvision:NAME``, ``timm:NAME`` (or a bare name), or
        ``xrv:densenet121`` (torchxrayvision, with ``path`` its weights file).
    spec : ModelSpec, optional
        What the model expects; unset fields take the format's defaults.

    Returns
    -------
    Scorer
    """
    path = Path(path)
    spec = spec or ModelSpec()
    if arch and arch.startswith("xrv:"):
        return _xrv_scorer(path, arch, spec)
    if not path.exists():
        raise CxrIsiError(f"{path}: model file not found")
    if path.is_dir():
        raise CxrIsiError(f"{path}: is a folder; give the model file")
    kind = _kind_of(path)
    if kind == "onnx":
        return OnnxScorer(path, spec, path.name)
    if kind == "torchscript":
        try:
            module = torch.jit.load(str(path), map_location="cpu")
        except Exception as exc:  # noqa: BLE001 - TorchScript's own errors for a damaged archive
            raise CxrIsiError(f"{path}: damaged TorchScript archive ({type(exc).__name__})") from None
        return TorchScorer(module, spec.filled(size=224, channels=3, normalise="imagenet"), path.name, "torchscript",
                           origin=str(path))
    if kind == "export":
        try:
            program = torch.export.load(str(path))
        except Exception as exc:  # noqa: BLE001 - torch.export's errors for a damaged archive
            raise CxrIsiError(f"{path}: not a readable torch.export program ({type(exc).__name__})") from None
        fixed = _fixed_input(_exported_input_shape(program, path), spec, path)
        spec = spec.filled(size=fixed[2] or 224, channels=fixed[1] or 3, normalise="imagenet")
        return TorchScorer(program.module(), spec, path.name, "export", fixed_batch=fixed[0],
                           origin=str(path))
    if kind == "safetensors":
        try:
            from safetensors.torch import load_file
        except ImportError:
            raise CxrIsiError(f"{path}: reading .safetensors needs the safetensors package") from None
        try:
            state = load_file(str(path))
        except Exception as exc:  # noqa: BLE001 - safetensors' errors for a damaged header
            raise CxrIsiError(f"{path}: not a readable safetensors file ({type(exc).__name__})") from None
    else:
        state = _read_torch_file(path)
    from cxr_isi.models.weights import CHECKPOINT_FORMAT

    if isinstance(state, dict) and state.get("format") == CHECKPOINT_FORMAT:
        return _own_checkpoint(path, spec)
    if arch is None:
        raise CxrIsiError(f"{path}: a state dict (weights without their model); say the architecture with "
                          "--arch NAME (torchvision:resnet50, timm:densenet121, ...)")
    return _from_state_dict(_state_dict_of(state, path), arch, spec, path)


def _own_checkpoint(path: Path, spec: ModelSpec) -> Scorer:
    """A cxr-isi ``best.pt``: the checkpoint says its size and resize; the model takes one channel
    and normalises inside (:class:`~cxr_isi.models.registry.GrayInput`)."""
    import json

    from cxr_isi.models.weights import read_classifier

    model, settings, mapping = read_classifier(path)
    cfg = json.loads(settings)  # the training config as data (``train`` sits above this layer)
    own = ModelSpec(size=int(cfg["size"]), channels=1, normalise="none", resize=cfg.get("resize", "pad"),
                    output="logit")
    if spec.size not in (None, own.size):
        raise ModelSpecError(f"{path}: this checkpoint was trained at {own.size} px, the spec gives {spec.size}")
    scorer = TorchScorer(model, own, path.name, "cxr-isi", feature_layer=model.head, origin=str(path))
    scorer.label_mapping = mapping  # type: ignore[attr-defined]
    scorer.variant = cfg.get("variant", "original")  # type: ignore[attr-defined]
    return scorer
