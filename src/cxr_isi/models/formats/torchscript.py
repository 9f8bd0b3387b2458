"""TorchScript archives (``torch.jit.save``): a zip holding the compiled code. Scores and
gradients; no named layers to read features from. The input's layout is found on the first batch."""

from __future__ import annotations

import warnings

import torch

from cxr_isi.errors import CxrIsiError
from cxr_isi.models.formats.base import ModelFile, ModelFormat, Scorer, TorchScorer, register_format
from cxr_isi.models.spec import ModelSpec


@register_format
class TorchScript(ModelFormat):
    """A zip archive with compiled code (``code/__torch__``) and ``constants.pkl``."""

    name = "torchscript"
    order = 30
    gradients = True

    def claims(self, file: ModelFile) -> bool:
        names = file.zip_names
        return any("/code/__torch__" in n for n in names) and any(n.endswith("/constants.pkl") for n in names)

    def load(self, file: ModelFile, *, arch: str | None, spec: ModelSpec) -> Scorer:
        try:
            with warnings.catch_warnings():  # torch deprecates the format; users still ship it, and a
                # warning on every load tells them nothing they can act on while judging
                warnings.filterwarnings("ignore", message=".*torch.jit.load.*deprecated", category=FutureWarning)
                module = torch.jit.load(str(file.path), map_location="cpu")
        except Exception as exc:  # noqa: BLE001 - TorchScript's own errors for a damaged archive
            raise CxrIsiError(f"{file.path}: damaged TorchScript archive ({type(exc).__name__})") from None
        return TorchScorer(module, spec.filled(size=224, channels=3, normalise="imagenet"), file.path.name,
                           self.name, origin=str(file.path))
