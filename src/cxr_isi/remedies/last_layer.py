"""Deep feature reweighting on a model trained anywhere (``cxr-isi judge MODEL --remedy dfr
--balance-on MANIFEST``): its last layer refitted on group-balanced features of a manifest the
user names, its backbone untouched, through the judge's scorer (any format that keeps its
layers: a state dict with ``--arch``, a cxr-isi ``best.pt``, torchxrayvision, Keras).

The refit is :func:`cxr_isi.train.remedies.refit_head` (the same as the ``dfr`` remedy of
``cxr-isi remedy``); each format writes it into its head (:meth:`Scorer.with_head
<cxr_isi.models.scorer.Scorer.with_head>`, :func:`~cxr_isi.models.formats.base.head_rows`: the
positive column takes the new weights; a two-column softmax head takes them halved, with opposite
signs, so that its softmax is the refitted logistic's probability).
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import yaml

from cxr_isi.data.manifest import Manifest
from cxr_isi.data.resize import read_squares
from cxr_isi.errors import CxrIsiError
from cxr_isi.models.formats.base import NO_FEATURES
from cxr_isi.models.scorer import Scorer
from cxr_isi.train.remedies import group_ids, refit_head


def refit_last_layer(scorer: Scorer, manifest: Manifest, *, seed: int = 0) -> tuple[Scorer, dict]:
    """The scorer with its last layer refitted on ``manifest`` (labels attached; groups are
    source x label), and the refit's record (images, groups, per group). The format writes the
    head (:meth:`~cxr_isi.models.scorer.Scorer.with_head`).

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
    return scorer.with_head(head["weight"], head["bias"]), record


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
    path, note = scorer.save_whole(out)
    if note:
        written["note"] = note
    return {**written, "model": str(path)}
