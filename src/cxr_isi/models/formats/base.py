"""The small base every model format builds on: :class:`Scorer` (one interface for any model),
the torch wrapping that turns gray images into what a model takes (:class:`Preprocess`) and its
output into the positive class's log-odds (:class:`PositiveLogOdds`), :class:`TorchScorer` for any ``torch.nn.Module``,
and :class:`ModelFormat`, the one thing a format module defines: which files it reads (by their
content) and the scorer it builds from one.
"""

from __future__ import annotations

import re
import zipfile
from functools import cached_property
from pathlib import Path
from typing import ClassVar

import numpy as np
import torch
import torch.nn as nn
from scipy.special import expit

from cxr_isi.errors import CxrIsiError
from cxr_isi.models.classifier import IMAGENET_MEAN, IMAGENET_STD
from cxr_isi.models.spec import CAFFE_MEAN, XRV_RANGE, ModelSpec, ModelSpecError

HDF5_SIGNATURE = b"\x89HDF\r\n\x1a\n"
NO_FEATURES = ("DFR refits the last layer on the model's features, and a {fmt} model keeps none: give its weights as "
               "a state dict with --arch (torch.save(model.state_dict(), ...)), a Keras .keras file, or a cxr-isi "
               "best.pt")


def head_rows(weight: np.ndarray, bias: float, width: int, col: int,
              output: str) -> tuple[np.ndarray, np.ndarray, list[int]]:
    """A logistic head on the features (``weight``, ``bias``: DFR's refit) as the rows of a last
    layer of ``width`` outputs whose column ``col`` is the positive class: that column's row, and
    for a two-column softmax the other column's opposite (halved, so that the softmax is the
    logistic's probability).

    Parameters
    ----------
    weight : array (D,)
    bias : float
    width : int
        The layer's outputs.
    col : int
        The positive column.
    output : str
        The spec's ``output`` (``softmax`` or a logit kind).

    Returns
    -------
    (array (K, D), array (K,), list of int)
        The rows, their biases and the columns they go to.
    """
    if output == "softmax":
        if width != 2:
            raise CxrIsiError(f"DFR on a softmax head of {width} outputs is not defined here; only one logit, a "
                              "multi-label head or a two-class softmax")
        order = [1 - col, col]
        return np.stack([-weight / 2, weight / 2])[order], np.array([-bias / 2, bias / 2])[order], [0, 1]
    return weight[None, :], np.array([bias]), [col]


def write_head(layer, rows: np.ndarray, biases: np.ndarray, cols: list[int]) -> None:
    """Write :func:`head_rows` into a ``torch.nn.Linear`` (in place, no gradient): the one place
    a refitted head enters a torch model (``cxr-isi remedy``'s DFR and ``judge --remedy dfr``)."""
    with torch.no_grad():
        for row, c in enumerate(cols):
            layer.weight[c] = torch.from_numpy(rows[row]).to(layer.weight.dtype)
            layer.bias[c] = float(biases[row])


class Scorer:
    """Base class: a model behind one interface. Subclasses implement :meth:`_raw_log_odds`.

    Every figure that ranks images (an AUC, a map) reads :meth:`log_odds`: a probability, even in
    float64, is exactly 1 beyond a logit of about 37, and images the model ranks apart would tie
    there; :meth:`score` (the probability) is for what needs one (a cut-off, the lung swap).

    Attributes
    ----------
    name : str
        What the report calls the model (its file name).
    format : str
        The :class:`ModelFormat`'s name that loaded it (``cxr_isi.models.formats.FORMATS``).
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

    def log_odds(self, images: np.ndarray, batch_size: int = 32) -> np.ndarray:
        """The positive class's log-odds ``(N,)``, float64, for gray images ``(N, H, W)`` in [0, 1]."""
        images = np.asarray(images, dtype=np.float32)
        if images.ndim != 3:
            raise ModelSpecError(f"{self.origin}: images must be (N, H, W) gray arrays, got shape {images.shape}")
        out = [self._raw_log_odds(images[i : i + batch_size]) for i in range(0, len(images), batch_size)]
        return self._checked(np.concatenate(out).astype(np.float64) if out else np.empty(0))

    def score(self, images: np.ndarray, batch_size: int = 32) -> np.ndarray:
        """Positive-class probabilities ``(N,)``, float64, for gray images ``(N, H, W)`` in [0, 1]."""
        return expit(self.log_odds(images, batch_size))

    def _checked(self, log_odds: np.ndarray) -> np.ndarray:
        bad = int(np.isnan(log_odds).sum())
        if bad:
            raise ModelSpecError(f"{self.origin}: {bad} of {len(log_odds)} scores are NaN (the model's output, with "
                                 f"its spec's normalisation {self.spec.normalise!r})")
        return log_odds

    def features(self, images: np.ndarray, batch_size: int = 32) -> np.ndarray | None:
        """Pooled penultimate features ``(N, C)``; None where the format does not keep layers."""
        return self.log_odds_and_features(images, batch_size)[1]

    def log_odds_and_features(self, images: np.ndarray,
                              batch_size: int = 32) -> tuple[np.ndarray, np.ndarray | None]:
        """:meth:`log_odds` and :meth:`features` in one pass over the images (features None where
        the format does not keep layers)."""
        return self.log_odds(images, batch_size), None

    def score_and_features(self, images: np.ndarray, batch_size: int = 32) -> tuple[np.ndarray, np.ndarray | None]:
        """:meth:`score` and :meth:`features` in one pass over the images."""
        lo, feats = self.log_odds_and_features(images, batch_size)
        return expit(lo), feats

    def torch_module(self):
        """A differentiable module ``(N, 1, H, W) -> (N,)`` log-odds; None for ONNX."""
        return None

    def with_head(self, weight: np.ndarray, bias: float) -> Scorer:
        """A copy of this model whose last layer is the logistic head ``weight``, ``bias`` on its
        features (DFR), in the positive column (:func:`head_rows`); the model itself untouched.
        Each format that keeps its layers says how its head is written; the others refuse in one
        line."""
        raise CxrIsiError(f"{self.origin}: " + NO_FEATURES.format(fmt=self.format))

    def save_whole(self, out: Path) -> tuple[Path, str | None]:
        """This model written whole under ``out`` in its format's own kind of file (for a model
        :meth:`with_head` made); the path, and a note where it had to fall back."""
        raise CxrIsiError(f"{self.origin}: a {self.format} model cannot be written again by cxr-isi")

    def _raw_log_odds(self, images: np.ndarray) -> np.ndarray:
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
        self.scale = {"tf": 2.0, "caffe": 255.0}.get(spec.normalise or "", 1.0)  # [0, 1] -> [0, 2] or 0-255
        self.nhwc = spec.layout == "nhwc"
        if spec.normalise in ("imagenet", "torch"):
            mean, std = list(IMAGENET_MEAN), list(IMAGENET_STD)
        elif spec.normalise == "tf":
            mean, std = [1.0], [1.0]
        elif spec.normalise == "caffe":
            mean, std = list(CAFFE_MEAN), [1.0, 1.0, 1.0]
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
        x = (x * self.scale - self.mean) / self.std
        return x.permute(0, 2, 3, 1) if self.nhwc else x

class PositiveLogOdds(nn.Module):
    """Preprocess -> model -> the positive column as log-odds ``(N,)``, float64."""

    def __init__(self, model, spec: ModelSpec, where: str):
        super().__init__()
        self.pre = Preprocess(spec)
        self.model = model
        self.spec = spec
        self.where = where

    def forward(self, x):
        return self.log_odds(self.model(self.pre(x)))

    def log_odds(self, out):
        """The positive column of a model's output as log-odds ``(N,)``."""
        return positive_log_odds(out, self.spec, self.where)

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


# the nearest float64 below 1: a probability output of exactly 0 or 1 gets finite log-odds (about
# -745 and +36.7), so AUCs and maps never meet an infinity
_P_LOW, _P_HIGH = np.nextafter(0.0, 1.0), np.nextafter(1.0, 0.0)


def _output_matrix(out, where: str):
    out = _first_tensor(out)
    if not isinstance(out, torch.Tensor):
        out = torch.as_tensor(np.asarray(out))
    if out.ndim == 1:
        out = out[:, None]
    if out.ndim != 2:
        raise ModelSpecError(f"{where}: the model's output has shape {tuple(out.shape)}; a classifier gives "
                             "(images, classes)")
    return out


def positive_log_odds(out, spec: ModelSpec, where: str):
    """The positive class's log-odds ``(N,)``, float64, from a model's output (torch or numpy),
    by the spec's ``output`` and positive column: the logit itself, ``z_pos - logsumexp(z_other)``
    for a softmax, ``log(p / (1 - p))`` for a probability."""
    out = _output_matrix(out, where)
    col = spec.column(out.shape[1], where)
    # float64 throughout: a float32 sigmoid is exactly 1 beyond a logit of about 17, and images
    # the model ranks apart would tie (an AUC of 0.50 for a perfect ranker, empty occlusion maps)
    if spec.output == "softmax":
        if out.shape[1] == 1:
            raise ModelSpecError(f"{where}: a softmax over one output is 1 for every image; the model's single "
                                 "output is a logit or a probability (set output: logit or probability)")
        z = out.double()
        others = torch.cat([z[:, :col], z[:, col + 1 :]], dim=1)
        return z[:, col] - torch.logsumexp(others, dim=1)
    if spec.output == "probability":
        p = _probability_column(out, col, where).clamp(float(_P_LOW), float(_P_HIGH))
        return torch.log(p) - torch.log1p(-p)
    return out[:, col].double()


def _probability_column(out, col: int, where: str):
    """Column ``col`` of a probability output, float64, checked to lie in [0, 1]."""
    p = out[:, col].double()
    if p.numel() and (p.min() < -1e-6 or p.max() > 1 + 1e-6):
        raise ModelSpecError(f"{where}: outputs from {float(p.min()):.3g} to {float(p.max()):.3g} are not "
                             "probabilities; use --output logit")
    return p


def positive_probability(out, spec: ModelSpec, where: str):
    """The positive class's probability ``(N,)``, float64 (the sigmoid of
    :func:`positive_log_odds`; a probability output as it is)."""
    if spec.output == "probability":
        out = _output_matrix(out, where)
        return _probability_column(out, spec.column(out.shape[1], where), where)
    return torch.sigmoid(positive_log_odds(out, spec, where))


_CHANNELS = re.compile(r"expected input\[[^\]]*\] to have (\d+) channels, but got (\d+)")
_SHAPE_ERRORS = (
    (re.compile(r"mat1 and mat2 shapes cannot be multiplied"),
     "the model's layers do not fit an input of {size} px (set size to what it was trained on)"),
)


def explain_failure(exc: Exception, spec: ModelSpec, where: str, shape) -> ModelSpecError:
    """A model's failure on a batch as one line: the spec's field to change where the error says
    which (channels, layout, size), else the error's first line."""
    text = str(exc)
    found = _CHANNELS.search(text)
    if found:
        want, got = found.groups()
        if want in ("1", "3") and got not in ("1", "3"):  # a side where the channels should be
            other = "nhwc" if spec.layout != "nhwc" else "nchw"
            words = {"nhwc": "channels-last (N, H, W, C)", "nchw": "channels-first (N, C, H, W)"}
            return ModelSpecError(f"{where}: the model takes {words[other]} input and was given "
                                  f"{words[spec.layout or 'nchw']}; set layout: {other} in the spec")
        return ModelSpecError(f"{where}: the model expects {want} input channels, the spec gives {got} "
                              f"(set channels: {want})")
    for pattern, message in _SHAPE_ERRORS:
        hit = pattern.search(text)
        if hit:
            return ModelSpecError(f"{where}: " + message.format(*hit.groups(), size=spec.size))
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
        # no input shape to read the layout from (TorchScript): channels first, unless the first
        # batch fails that way and succeeds channels-last
        self.find_layout = spec.layout is None
        super().__init__(name, format, spec.filled(layout="nchw"), origin)
        self.model = model
        self.module = self._wrap(self.spec)
        self.feature_layer = feature_layer
        self.fixed_batch = fixed_batch

    def _wrap(self, spec: ModelSpec):
        module = PositiveLogOdds(self.model, spec, self.origin).eval()
        try:  # channels_last: 1.5x faster inference on this CPU (ResNet-50 at 224: 17 -> 26 img/s)
            module.to(memory_format=torch.channels_last)
        except (RuntimeError, NotImplementedError, AttributeError):
            pass  # a format that keeps its own layout
        return module

    @property
    def supports_features(self) -> bool:
        return self.feature_layer is not None

    def with_head(self, weight: np.ndarray, bias: float) -> Scorer:
        if self.feature_layer is None:
            return super().with_head(weight, bias)
        import copy

        model = copy.deepcopy(self.model)
        name = next(n for n, m in self.model.named_modules() if m is self.feature_layer)
        layer = model.get_submodule(name)
        width = int(layer.weight.shape[0])
        write_head(layer, *head_rows(weight, bias, width, self.spec.column(width, self.origin), self.spec.output))
        return TorchScorer(model.eval(), self.spec, f"{self.name} + DFR", self.format, feature_layer=layer,
                           origin=self.origin)

    def save_whole(self, out: Path) -> tuple[Path, str | None]:
        """TorchScript (traced), or the state dict where tracing cannot follow the model."""
        import warnings

        size = int(self.spec.size or 224)
        example = Preprocess(self.spec)(torch.zeros(2, 1, size, size))
        path = out / "model_dfr.ts"
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                torch.jit.save(torch.jit.trace(self.model.eval(), example), str(path))
        except Exception as exc:  # noqa: BLE001 - a model tracing cannot follow keeps its weights instead
            path = out / "model_dfr_state_dict.pt"
            torch.save(self.model.state_dict(), path)
            return path, f"not traceable as TorchScript ({type(exc).__name__}); its state dict is written"
        return path, None

    def torch_module(self):
        if self.fixed_batch is not None:  # a program exported for one batch size takes no other (#43)
            return FixedBatch(self.module, self.fixed_batch)
        return self.module

    def _run(self, images: np.ndarray):
        try:
            out = self._forward(images)
        except ModelSpecError:
            if not self.find_layout:
                raise
            self.find_layout = False
            first, self.spec, self.module = self.spec, self.spec.model_copy(update={"layout": "nhwc"}), None
            self.module = self._wrap(self.spec)
            try:
                out = self._forward(images)
            except ModelSpecError:  # neither layout: the first error is the one to tell
                self.spec, self.module = first, self._wrap(first)
                return self._forward(images)
        self.find_layout = False
        return out

    def _forward(self, images: np.ndarray):
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
            raise explain_failure(exc, self.spec, self.origin, (len(images), self.spec.channels,
                                                                *images.shape[1:])) from None

    def _raw_log_odds(self, images: np.ndarray) -> np.ndarray:
        return self._run(images).numpy()

    def log_odds_and_features(self, images: np.ndarray,
                              batch_size: int = 32) -> tuple[np.ndarray, np.ndarray | None]:
        if self.feature_layer is None:
            return self.log_odds(images, batch_size), None
        caught: list = []

        def hook(_module, args):
            f = args[0].detach()
            caught.append((f.mean(dim=(-2, -1)) if f.ndim == 4 else f.flatten(1)).numpy())

        handle = self.feature_layer.register_forward_pre_hook(hook)
        try:
            scores = self.log_odds(images, batch_size)
        finally:
            handle.remove()
        return scores, (np.concatenate(caught) if caught else np.empty((0, 0), np.float32))


class FixedBatch(nn.Module):
    """A module that takes batches of one size only (a ``torch.export`` program exported with a
    static batch) made to take any: the input in chunks of that size, the last padded with copies
    of the last image, the padding's outputs dropped. Differentiable, so Integrated Gradients,
    which feeds many images at once, runs through it (it stopped on torch's guard after minutes)."""

    def __init__(self, module: nn.Module, batch: int):
        super().__init__()
        self.module, self.batch = module, int(batch)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        n, b = len(x), self.batch
        pad = torch.cat([x, x[-1:].expand((-n) % b, *x.shape[1:])]) if n % b else x
        return torch.cat([self.module(pad[i : i + b]) for i in range(0, len(pad), b)])[:n]


def looks_channels_last(shape: list) -> bool:
    """Whether a 4-d input shape reads ``(N, H, W, C)``: 1 or 3 last, a side (or a dynamic
    dimension) second."""
    dims = [d if isinstance(d, int) else None for d in shape]
    return dims[3] in (1, 3) and dims[1] not in (1, 3)


def fixed_input(shape: list, spec: ModelSpec, path: Path) -> tuple[list[int | None], str]:
    """An exported graph's input shape as ``(N, C, H, W)``, ints where fixed and None where
    dynamic, and its layout (the spec's, else read off the shape), checked against the spec: a
    fixed channel count, side or layout that the spec contradicts is one line."""
    fixed = [d if isinstance(d, int) else None for d in shape]
    layout = spec.layout or ("nhwc" if looks_channels_last(shape) else "nchw")
    if spec.layout == "nchw" and looks_channels_last(shape):
        raise ModelSpecError(f"{path}: the model takes channels-last input (N, H, W, C) = "
                             f"{tuple(d if d is not None else '?' for d in fixed)}; the spec says layout: nchw "
                             "(set layout: nhwc, or leave it unset)")
    if layout == "nhwc":
        fixed = [fixed[0], fixed[3], fixed[1], fixed[2]]
    _, channels, height, width = fixed
    if channels is not None and spec.channels not in (None, channels):
        raise ModelSpecError(f"{path}: the model expects {channels} input channels, the spec gives "
                             f"{spec.channels} (set channels: {channels})")
    if height is not None and width is not None and height != width:
        raise ModelSpecError(f"{path}: the model's input is {height}x{width}; cxr-isi feeds square images")
    if height is not None and spec.size not in (None, height):
        raise ModelSpecError(f"{path}: the model expects {height} px inputs, the spec gives {spec.size} "
                             f"(set size: {height})")
    return fixed, layout


class ModelFile:
    """A model file as the formats look at it: its suffix, its first bytes, the entries of a zip
    archive and the object ``torch.load(weights_only=True)`` reads (each read once, when first
    asked for)."""

    def __init__(self, path: Path):
        self.path = path
        self.suffix = path.suffix.lower()

    @cached_property
    def head(self) -> bytes:
        with open(self.path, "rb") as f:
            return f.read(16)

    @cached_property
    def zip_names(self) -> list[str]:
        if not zipfile.is_zipfile(self.path):
            return []
        try:
            with zipfile.ZipFile(self.path) as z:
                return z.namelist()
        except (zipfile.BadZipFile, OSError):
            return []

    def check_intact(self) -> None:
        """A zip archive (TorchScript, ``torch.save``, ``.pt2``, ``.keras``) whose entries fail
        their CRC was changed or cut after it was written: one line, before any of it is read
        (``torch.load`` and Keras read stored entries without checking them)."""
        if not self.zip_names:
            return
        try:
            with zipfile.ZipFile(self.path) as z:
                bad = z.testzip()
        except (zipfile.BadZipFile, OSError, EOFError) as exc:
            bad = f"? ({exc})"
        if bad is not None:
            raise CxrIsiError(f"{self.path}: damaged: its entry {bad} fails its checksum (the file changed or was cut "
                              "after it was written); copy it again from where it was saved")

    @property
    def is_hdf5(self) -> bool:
        return self.head.startswith(HDF5_SIGNATURE)

    @cached_property
    def torch_object(self):
        """``torch.load(weights_only=True)``; a pickled model and a file that is no checkpoint each
        get their one line."""
        import pickle

        try:
            return torch.load(self.path, map_location="cpu", weights_only=True)
        except Exception as exc:  # noqa: BLE001 - zip, EOF and unpickling errors all mean "not a model"
            if isinstance(exc, pickle.UnpicklingError) and ("Unsupported global" in str(exc) or "GLOBAL" in str(exc)):
                raise pickled_model_error(self.path) from None
            raise CxrIsiError(f"{self.path}: not a model file (neither TorchScript, ONNX, torch.export, Keras nor a "
                              "checkpoint)") from None


def pickled_model_error(path: Path) -> CxrIsiError:
    return CxrIsiError(
        f"{path}: a pickled whole model (torch.save(model)); cxr-isi runs no pickled code: export it with "
        "torch.jit.save(torch.jit.script(model), 'model.ts') or torch.export.save(torch.export.export(model, "
        "(example,)), 'model.pt2'), or save model.state_dict() and pass --arch NAME")


class ModelFormat:
    """One way a model arrives. A subclass (one per file under ``models/formats/``) says which
    files it reads, by their content where the content tells, and builds a :class:`Scorer`.

    Attributes
    ----------
    name : str
        What :attr:`Scorer.format` says for its models.
    features, gradients : bool
        Whether its scorers give pooled features and gradients (the conformance test holds
        every format to what it declares).
    arch_prefix : str, optional
        ``--arch`` values this format takes whatever the file (``xrv:``).
    order : int
        When a file is offered to it: lowest first (a format whose test is looser comes later;
        the state dict, which takes whatever is left, last).
    """

    name: ClassVar[str]
    order: ClassVar[int] = 50
    features: ClassVar[bool] = False
    gradients: ClassVar[bool] = False
    arch_prefix: ClassVar[str | None] = None

    def claims(self, file: ModelFile) -> bool:
        """Whether ``file`` is one of this format's."""
        raise NotImplementedError

    def load(self, file: ModelFile, *, arch: str | None, spec: ModelSpec) -> Scorer:
        """The scorer of ``file``; unset fields of ``spec`` take the format's defaults."""
        raise NotImplementedError


FORMATS: dict[str, ModelFormat] = {}


def register_format(cls: type[ModelFormat]) -> type[ModelFormat]:
    """Class decorator: the format joins :data:`FORMATS`, kept in the order files are offered to
    the formats (:attr:`ModelFormat.order`); the first that claims a file reads it."""
    found = {**FORMATS, cls.name: cls()}
    FORMATS.clear()
    FORMATS.update(sorted(found.items(), key=lambda kv: kv[1].order))
    return cls
