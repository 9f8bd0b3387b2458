"""Any classifier, one way in: a :class:`Scorer` gives the positive class's probability for gray
images, whatever made the model.

The people cxr-isi exists for arrive with a model trained in their own code. Every probe that
judges a model takes a scorer, not a checkpoint of ours:

- ``log_odds(images)``: the positive class's log-odds, float64, for float images ``(N, H, W)``
  in [0, 1] at the spec's size (every format): what every AUC and map ranks by, since a
  probability ties images beyond a logit of about 37; ``score(images)``: its probability;
- ``features(images)``: the pooled penultimate layer (the input of the last linear layer), where
  the format keeps its layers (cxr-isi checkpoints, torchvision and timm state dicts, Keras);
- ``torch_module()``: the same log-odds as a differentiable ``torch.nn.Module`` of
  ``(N, 1, H, W)``, where the format allows gradients (everything but ONNX).

Formats, one module each under :mod:`cxr_isi.models.formats` (:func:`load_scorer` tells them apart
by content, then by suffix): cxr-isi checkpoints, TorchScript (``torch.jit.save``),
``torch.export`` programs (``.pt2``), ONNX (onnxruntime), Keras 3 on the torch backend (``.keras``,
``.h5``), and a state dict (``.pt``, ``.pth``, ``.safetensors``) with a torchvision or timm
architecture name, or torchxrayvision's DenseNet. Files are read with ``weights_only=True``; a
pickled whole model is refused (it would run its pickled code).

A :class:`ModelSpec` says what the model expects: input size, channels and layout, normalisation,
resize mode, and what its output is. Wrong specs are found on the first batch and said in one line.
"""

from __future__ import annotations

from pathlib import Path

from cxr_isi.errors import CxrIsiError
from cxr_isi.models.formats import FORMATS as _REGISTRY
from cxr_isi.models.formats.base import (
    ModelFile,
    PositiveLogOdds,
    Preprocess,
    Scorer,
    TorchScorer,
    positive_log_odds,
    positive_probability,
)
from cxr_isi.models.formats.onnx import OnnxScorer
from cxr_isi.models.spec import ModelSpec, ModelSpecError, read_spec

FORMATS = _REGISTRY
__all__ = ["FORMATS", "ModelSpec", "ModelSpecError", "OnnxScorer", "PositiveLogOdds", "Preprocess", "Scorer",
           "TorchScorer", "load_scorer", "positive_log_odds", "positive_probability", "read_spec"]


def load_scorer(path: str | Path, *, arch: str | None = None, spec: ModelSpec | None = None) -> Scorer:
    """A :class:`Scorer` for any supported model file.

    Parameters
    ----------
    path : path
        The model: a cxr-isi ``best.pt``, TorchScript, a ``torch.export`` ``.pt2``, an ``.onnx``,
        a Keras ``.keras`` or ``.h5``, or a state dict (``.pt``, ``.pth``, ``.safetensors``) with
        ``arch``. The format is told by the file's content (:mod:`cxr_isi.models.formats`).
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
    by_arch = [f for f in FORMATS.values() if f.arch_prefix and arch and arch.startswith(f.arch_prefix)]
    if by_arch:
        return by_arch[0].load(ModelFile(path), arch=arch, spec=spec)
    if not path.exists():
        raise CxrIsiError(f"{path}: model file not found")
    if path.is_dir():
        raise CxrIsiError(f"{path}: is a folder; give the model file")
    file = ModelFile(path)
    file.check_intact()
    for fmt in FORMATS.values():
        if fmt.claims(file):
            return fmt.load(file, arch=arch, spec=spec)
    raise CxrIsiError(f"{path}: no model format reads this file")  # the state dict claims every file
