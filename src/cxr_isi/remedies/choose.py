"""A remedy by name, and which remedies some data allow."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from cxr_isi.audit.imbalance import sources_with_both
from cxr_isi.data.labels import LabelMapping
from cxr_isi.data.manifest import Manifest
from cxr_isi.errors import CxrIsiError, ManifestError
from cxr_isi.remedies import catalogue  # noqa: F401  (registers them)
from cxr_isi.remedies.base import REMEDIES, Remedy


def get_remedy(name: str) -> Remedy:
    """The remedy named ``name``; an unknown name is one line naming those there are."""
    if name not in REMEDIES:
        raise CxrIsiError(f"unknown remedy {name!r}; one of {', '.join(REMEDIES)}")
    return REMEDIES[name]


def refuse(frame: pd.DataFrame, y: np.ndarray, names: list[str], where: str) -> list[str]:
    """The remedies of ``names`` these data allow; where no source gives both classes, the ones
    that need one are refused in one line (the data cannot tell the source from the label, and no
    remedy can: what would is a source that gives both classes)."""
    wanted = [get_remedy(n) for n in names]
    if not sources_with_both(frame, y) and any(r.needs_both_classes for r in wanted):
        blocked = [r.name for r in wanted if r.needs_both_classes]
        raise CxrIsiError(f"{where}: no source gives both classes, so these data cannot tell the source from the "
                          f"label and no remedy can: {', '.join(blocked)} refused (balancing keeps nothing; "
                          "source x label groups are the labels), and no source could be left out to measure one; "
                          "what would: images of both classes from at least one source")
    return [r.name for r in wanted]


def check_external(path: Path, mapping: LabelMapping, what: str = "--external",
                   home_labels: set[str] | None = None) -> Manifest:
    """An external (or balance-on) manifest that can measure a model trained with ``mapping``:
    the same labels, both classes present; anything else is one line naming the file. Where the
    negatives are "every other label", ``home_labels`` (the labels the model was trained on) say
    which those are: a negative of another name, or a label home never had, is refused too."""
    m = Manifest.read(path)
    labels = set(m.frame["label"].astype(str))
    known = set(mapping.positive) | set(mapping.negative or [])
    if not mapping.negative and home_labels:
        known = set(home_labels)
        if labels & set(mapping.positive) and labels - known:
            raise ManifestError(f"{path}: {what} has labels the model was not trained on "
                                f"({sorted(labels - known)[:5]}; home's: {sorted(known)[:8]}); give a manifest with "
                                "the same labels, or filter it first")
    if not labels & set(mapping.positive):
        raise ManifestError(f"{path}: {what} has no image of the positive label(s) {mapping.positive} (its labels: "
                            f"{sorted(labels)[:8]}); it cannot measure this model")
    if mapping.negative and not labels & set(mapping.negative):
        raise ManifestError(f"{path}: {what} has no image of the negative label(s) {mapping.negative} (its labels: "
                            f"{sorted(labels)[:8]}); an AUC needs both classes")
    if mapping.negative and labels - known:
        raise ManifestError(f"{path}: {what} has labels the model was not trained on ({sorted(labels - known)[:5]}); "
                            "give a manifest with the same labels, or filter it first")
    y = m.with_labels(mapping).y
    if len(np.unique(y)) < 2:
        raise ManifestError(f"{path}: {what} holds one class only ({len(y)} images); an AUC needs both")
    return m
