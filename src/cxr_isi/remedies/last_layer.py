"""Deep feature reweighting on a model trained anywhere (``cxr-isi judge MODEL --remedy dfr
--balance-on MANIFEST``): its last layer refitted on group-balanced features of a manifest the
user names, its backbone untouched, through the judge's scorer (any format that keeps its
layers: a state dict with ``--arch``, a cxr-isi ``best.pt``, torchxrayvision, Keras).

The refit is :func:`cxr_isi.train.remedies.refit_head` (the same as the ``dfr`` remedy of
``cxr-isi remedy``). The positive column of the head takes the new weights; a two-column softmax
head takes them halved, with opposite signs, so that its softmax is the refitted logistic's
probability.
"""

from __future__ import annotations

import copy
import json
import warnings
from pathlib import Path

import numpy as np
import yaml

from cxr_isi.data.manifest import Manifest
from cxr_isi.data.resize import read_squares
from cxr_isi.errors import CxrIsiError
from cxr_isi.models.scorer import Scorer, TorchScorer
from cxr_isi.train.remedies import group_ids, refit_head

NO_FEATURES = ("DFR refits the last layer on the model's features, and a {fmt} model keeps none: give its weights as "
               "a state dict with --arch (torch.save(model.state_dict(), ...)), a Keras .keras file, or a cxr-isi "
               "best.pt")


def _rows(weight: np.ndarray, bias: float, width: int, col: int, output: str) -> tuple[np.ndarray, np.ndarray]:
    """The head's new weight rows and biases: the positive column's, and for a two-column
    softmax the other column's opposite (halved, so the softmax is the logistic's probability)."""
    if output == "softmax":
        if width != 2:
            raise CxrIsiError(f"DFR on a softmax head of {width} outputs is not defined here; only one logit, a "
                              "multi-label head or a two-class softmax")
        return np.stack([-weight / 2, weight / 2])[[1 - col, col]], np.array([-bias / 2, bias / 2])[[1 - col, col]]
    return weight[None, :], np.array([bias])


def refit_last_layer(scorer: Scorer, manifest: Manifest, *, seed: int = 0) -> tuple[Scorer, dict]:
    """The scorer with its last layer refitted on ``manifest`` (labels attached; groups are
    source x label), and the refit's record (images, groups, per group).

    Raises
    ------
    CxrIsiError
        The format keeps no features (one line saying how to export one that does).
    """
    if not scorer.supports_features:
        raise CxrIsiError(f"{scorer.origin}: " + NO_FEATURES.format(fmt=scorer.format))
    size = int(scorer.spec.size or 224)
    images = read_squares(manifest.paths, size, scorer.spec.resize)
    _, feats = scorer.log_odds_and_features(images)
    groups, names = group_ids(manifest)
    head = refit_head(np.asarray(feats, dtype=np.float64), manifest.y, groups, seed)
    record = {k: v for k, v in head.items() if k not in ("weight", "bias")} | {"groups": names}
    if scorer.format == "keras":
        return _keras(scorer, head), record
    if not isinstance(scorer, TorchScorer):
        raise CxrIsiError(f"{scorer.origin}: " + NO_FEATURES.format(fmt=scorer.format))
    import torch

    model = copy.deepcopy(scorer.model)
    name = next(n for n, m in scorer.model.named_modules() if m is scorer.feature_layer)
    layer = model.get_submodule(name)
    col = scorer.spec.column(int(layer.weight.shape[0]), scorer.origin)
    w, b = _rows(head["weight"], head["bias"], int(layer.weight.shape[0]), col, scorer.spec.output)
    cols = [col] if len(w) == 1 else [0, 1]
    with torch.no_grad():
        for row, c in enumerate(cols):
            layer.weight[c] = torch.from_numpy(w[row]).to(layer.weight.dtype)
            layer.bias[c] = float(b[row])
    refitted = TorchScorer(model.eval(), scorer.spec, f"{scorer.name} + DFR", scorer.format, feature_layer=layer,
                           origin=scorer.origin)
    return refitted, record


def _keras(scorer, head: dict):
    from cxr_isi.models.formats.keras import KerasScorer, _features_model, import_keras

    keras = import_keras()
    model = scorer.inner.keras_model
    clone = keras.models.clone_model(model)
    clone.set_weights(model.get_weights())
    dense = [layer for layer in clone.layers if isinstance(layer, keras.layers.Dense)][-1]
    kernel, bias = (np.array(v) for v in dense.get_weights())
    col = scorer.spec.column(kernel.shape[1], scorer.origin)
    w, b = _rows(head["weight"], head["bias"], kernel.shape[1], col, scorer.spec.output)
    cols = [col] if len(w) == 1 else [0, 1]
    for row, c in enumerate(cols):
        kernel[:, c], bias[c] = w[row], b[row]
    dense.set_weights([kernel, bias])
    return KerasScorer(clone, scorer.spec, f"{scorer.name} + DFR", scorer.origin, _features_model(keras, clone))


def save_refitted(scorer: Scorer, record: dict, out: Path) -> dict:
    """The refitted model written again, whole, where the format allows (TorchScript for a torch
    model, ``.keras`` for Keras), and ``dfr_head.json`` (the record); the paths written."""
    out.mkdir(parents=True, exist_ok=True)
    written = {"head": str(out / "dfr_head.json")}
    (out / "dfr_head.json").write_text(json.dumps(record, indent=2, default=str))
    # the input handling the model was judged with (size, channels, normalisation, output): a
    # format's defaults (TorchScript's: 3 channels, ImageNet) would score it wrongly (issue #43)
    spec_file = out / "model_dfr.spec.yaml"
    spec_file.write_text(yaml.safe_dump(scorer.spec.model_dump(exclude_none=True), sort_keys=False))
    written["spec"] = str(spec_file)
    if scorer.format == "keras":
        path = out / "model_dfr.keras"
        scorer.inner.keras_model.save(path)  # type: ignore[attr-defined]
        return {**written, "model": str(path)}
    import torch

    from cxr_isi.models.formats.base import Preprocess

    size = int(scorer.spec.size or 224)
    example = Preprocess(scorer.spec)(torch.zeros(2, 1, size, size))
    path = out / "model_dfr.ts"
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            torch.jit.save(torch.jit.trace(scorer.model.eval(), example), str(path))  # type: ignore[attr-defined]
    except Exception as exc:  # noqa: BLE001 - a model tracing cannot follow keeps its weights instead
        path = out / "model_dfr_state_dict.pt"
        torch.save(scorer.model.state_dict(), path)  # type: ignore[attr-defined]
        written["note"] = f"not traceable as TorchScript ({type(exc).__name__}); its state dict is written"
    return {**written, "model": str(path)}
