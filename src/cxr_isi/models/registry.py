"""The model registry: one factory per model (:mod:`~cxr_isi.models.backbones`), built with its
weights (:mod:`~cxr_isi.models.weights`); and the classifier checkpoints read back.

Every model is a :class:`~cxr_isi.models.classifier.Classifier` (one surface for all). This
module imports torch; the CLI imports it only inside the commands that train.
"""

from __future__ import annotations

from pathlib import Path

from cxr_isi._checkpoints import read_checkpoint
from cxr_isi.errors import CxrIsiError
from cxr_isi.models import backbones  # noqa: F401  (the factories register on import)
from cxr_isi.models.classifier import IMAGENET_MEAN, IMAGENET_STD, MODELS, Classifier, GrayInput, register_model
from cxr_isi.models.weights import CHECKPOINT_FORMAT, load_weights

__all__ = ["IMAGENET_MEAN", "IMAGENET_STD", "MODELS", "Classifier", "GrayInput", "create_model", "list_models",
           "read_classifier", "register_model"]


def list_models() -> list[str]:
    return sorted(MODELS)


def create_model(name: str, weights: str | Path = "none") -> Classifier:
    """Build a registered model; ``weights`` is ``none``, ``imagenet`` or a local file."""
    if name not in list_models():
        raise CxrIsiError(f"unknown model {name!r}; one of {', '.join(list_models())}")
    model = MODELS[name]()
    model.name = name
    return load_weights(model, weights)


def read_classifier(checkpoint: str | Path) -> tuple[Classifier, str, dict | None]:
    """The model of a cxr-isi classifier checkpoint (``best.pt``, or the engine's ``last.pt``),
    its training settings (JSON text) and its label mapping; one line for any other file."""
    import json

    ck = read_checkpoint(checkpoint)
    settings = ck.get("config") or ck.get("settings")
    if ck.get("format") != CHECKPOINT_FORMAT or "state_dict" not in ck or not settings:
        raise CxrIsiError(f"{checkpoint}: not a cxr-isi classifier checkpoint")
    model = create_model(ck["model"])
    try:
        model.load_state_dict(ck["state_dict"])
    except RuntimeError:
        raise CxrIsiError(f"{checkpoint}: weights do not fit {ck['model']} (damaged checkpoint)") from None
    mapping = json.loads(ck["label_mapping"]) if "label_mapping" in ck else None
    return model.eval(), settings, mapping
