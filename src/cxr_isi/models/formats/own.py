"""cxr-isi's own classifier checkpoints (``best.pt``): the checkpoint says its architecture, size
and resize; the model takes one channel and normalises inside
(:class:`~cxr_isi.models.classifier.GrayInput`)."""

from __future__ import annotations

from pathlib import Path

from cxr_isi.models.formats.base import ModelFile, ModelFormat, Scorer, TorchScorer, register_format
from cxr_isi.models.registry import read_classifier
from cxr_isi.models.spec import ModelSpec, ModelSpecError
from cxr_isi.models.weights import CHECKPOINT_FORMAT


def own_checkpoint(path: Path, spec: ModelSpec) -> Scorer:
    """A cxr-isi ``best.pt``: the checkpoint says its size and resize; the model takes one channel
    and normalises inside (:class:`~cxr_isi.models.registry.GrayInput`)."""
    import json

    model, settings, mapping = read_classifier(path)
    cfg = json.loads(settings)  # the training config as data (``train`` sits above this layer)
    own = ModelSpec(size=int(cfg["size"]), channels=1, normalise="none", resize=cfg.get("resize", "pad"),
                    output="logit")
    if spec.size not in (None, own.size):
        raise ModelSpecError(f"{path}: this checkpoint was trained at {own.size} px, the spec gives {spec.size}")
    fixed = sorted(k for k in spec.model_fields_set - {"size", "resize"}
                   if getattr(spec, k) is not None and getattr(spec, k) != getattr(own, k, None))
    if fixed:
        raise ModelSpecError(f"{path}: a cxr-isi checkpoint says itself what it takes and gives (one channel, its own "
                             f"normalisation, one logit for its positive labels); leave out {', '.join(fixed)}")
    scorer = TorchScorer(model, own, path.name, Own.name, feature_layer=model.head, origin=str(path))
    scorer.label_mapping = mapping  # type: ignore[attr-defined]
    scorer.variant = cfg.get("variant", "original")  # type: ignore[attr-defined]
    return scorer


@register_format
class Own(ModelFormat):
    """A checkpoint whose record says ``format: cxr_isi.classifier/1``."""

    name = "cxr-isi"
    order = 50
    features = True
    gradients = True

    def claims(self, file: ModelFile) -> bool:
        if file.suffix == ".safetensors":
            return False
        obj = file.torch_object
        return isinstance(obj, dict) and obj.get("format") == CHECKPOINT_FORMAT

    def load(self, file: ModelFile, *, arch: str | None, spec: ModelSpec) -> Scorer:
        return own_checkpoint(file.path, spec)
