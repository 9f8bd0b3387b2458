"""Acquisition properties that predict the label: the shortcuts beyond the source name.

Each property is scored against the binary label, patient-grouped and out-of-fold:

- categorical properties (view, format, photometric interpretation, bit depth, mask provenance):
  each image gets its value's positive rate in the other folds (as the source-only predictor);
- numeric properties (width, height, aspect ratio, and their originals where the manifest keeps
  them): the raw value's AUC (below 0.5 means larger values go with negatives), and the same
  out-of-fold rate score on decile bins, which also catches relations that are not monotone.

A property is flagged when its raw AUC is above 0.7 or below 0.3, or its out-of-fold AUC is above
0.7 (out-of-fold rate scores run below 0.5 by chance on balanced values, never by signal).
Properties with one value are listed as constant and never flagged.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
from sklearn.metrics import roc_auc_score

from cxr_isi.audit.imbalance import auc_or_nan, out_of_fold_rate_scores
from cxr_isi.data.manifest import Manifest
from cxr_isi.data.readers import read_info
from cxr_isi.errors import ImageReadError
from cxr_isi.progress import progress_bar

FLAG_HIGH, FLAG_LOW = 0.7, 0.3
# Manifest columns read as acquisition properties when present (the rest are not: a column
# like ``orig_label`` would "predict" the label trivially).
MANIFEST_CATEGORICAL = ("view", "modality", "manufacturer", "mask_kind")
MANIFEST_NUMERIC = ("orig_w", "orig_h")
FILE_NUMERIC = ("width", "height", "aspect_ratio")
FILE_CATEGORICAL = ("bit_depth", "photometric", "format")
# Above this many images the file headers are read from a random sample of this size: a
# property that separates the classes shows on 50,000 images as on a million, and a header
# read costs a file open (minutes per million on local disk, hours on network storage).
HEADER_SAMPLE = 50_000


def acquisition_properties(manifest: Manifest, read_files: bool = True,
                           progress: bool = False, header_sample: int | None = HEADER_SAMPLE,
                           seed: int = 0) -> tuple[pd.DataFrame, list[str]]:
    """A table of acquisition properties per image, and warnings for files that cannot be read.

    Parameters
    ----------
    manifest : Manifest
    read_files : bool
        Read each file's header (width, height, bit depth, photometric, format).
    progress : bool
    header_sample : int, optional
        Read the headers of at most this many images, drawn at random with ``seed`` (the others'
        file properties are missing, which the AUCs skip); None or 0 reads every header. The
        warnings say when a sample was used.
    seed : int

    Returns
    -------
    (DataFrame, list of str)
        One row per image, one column per property; warnings.
    """
    frame = manifest.frame
    props = pd.DataFrame(index=frame.index)
    for col in MANIFEST_CATEGORICAL:
        if col in frame.columns:
            props[col] = frame[col].astype(str).replace({"": "(missing)", "nan": "(missing)"})
    for col in MANIFEST_NUMERIC:
        if col in frame.columns:
            props[col] = pd.to_numeric(frame[col], errors="coerce")
    if {"orig_w", "orig_h"} <= set(props.columns):
        props["orig_aspect_ratio"] = props["orig_w"] / props["orig_h"]
    if "mask_path" in frame.columns:
        props["has_mask"] = (frame["mask_path"].astype(str) != "").map({True: "yes", False: "no"})
    props["file_suffix"] = [Path(p).suffix.lower() or "(none)" for p in frame["path"]]
    warnings: list[str] = []
    if read_files:
        infos, failed = [], []
        rows = np.arange(len(frame))
        if header_sample and len(frame) > header_sample:
            rows = np.sort(np.random.default_rng(seed).choice(len(frame), header_sample, replace=False))
            warnings.append(f"file headers read for a random sample of {header_sample:,} of {len(frame):,} "
                            f"images (seed {seed}); the file properties' AUCs are on that sample")
        paths = frame["path"].to_numpy()
        with progress_bar(progress) as bar:
            task = bar.add_task("reading image headers", total=len(rows))
            for path in paths[rows]:
                try:
                    infos.append(read_info(path).as_dict())
                except ImageReadError as exc:
                    infos.append({})
                    failed.append(str(exc))
                bar.advance(task)
        info = pd.DataFrame(infos, index=frame.index[rows]).reindex(frame.index)
        for col in ("width", "height"):
            if col in info.columns:
                props[col] = pd.to_numeric(info[col], errors="coerce")
        if {"width", "height"} <= set(props.columns):
            props["aspect_ratio"] = props["width"] / props["height"]
        for col in FILE_CATEGORICAL:
            if col in info.columns:
                props[col] = info[col].astype(str).replace({"nan": "(unreadable)"})
        if failed:
            warnings.append(f"{len(failed)} image headers could not be read; first: {failed[0]}")
    return props, warnings


def _is_numeric(series: pd.Series) -> bool:
    return pd.api.types.is_numeric_dtype(series)


def property_aucs(props: pd.DataFrame, y: np.ndarray, groups: np.ndarray, n_splits: int = 5,
                  seed: int = 0) -> pd.DataFrame:
    """How well each property predicts the label (see the module docstring).

    Parameters
    ----------
    props : DataFrame
        From :func:`acquisition_properties`.
    y : array of 0/1
    groups : array
        Patient ids.
    n_splits, seed : int

    Returns
    -------
    DataFrame
        ``property, kind, n_values, n_images, auc, oof_auc, flagged, note``.
    """
    rows = []
    for name in props.columns:
        col = props[name]
        numeric = _is_numeric(col)
        ok = col.notna().to_numpy()
        values, yy, gg = col[ok], y[ok], groups[ok]
        n_values = int(values.nunique())
        row = {"property": name, "kind": "numeric" if numeric else "categorical",
               "n_values": n_values, "n_images": int(ok.sum()), "auc": float("nan"),
               "oof_auc": float("nan"), "flagged": False, "note": ""}
        if n_values < 2 or len(np.unique(yy)) < 2:
            row["note"] = "constant" if n_values < 2 else "one class where known"
            rows.append(row)
            continue
        if numeric:
            row["auc"] = float(roc_auc_score(yy, values.to_numpy(dtype=float)))
            bins = pd.qcut(values, q=min(10, n_values), labels=False, duplicates="drop")
            row["oof_auc"] = auc_or_nan(yy, out_of_fold_rate_scores(bins.to_numpy(), yy, gg,
                                                                   n_splits, seed))
        else:
            row["oof_auc"] = auc_or_nan(yy, out_of_fold_rate_scores(values.to_numpy(), yy, gg,
                                                                   n_splits, seed))
        # A raw AUC below 0.3 is real signal (low values go with positives); an out-of-fold
        # rate score below 0.5 is not: it is the known negative bias of leave-fold-out target
        # encoding on balanced values, so only its high side flags.
        aucs = [a for a in (row["auc"], row["oof_auc"]) if a == a]
        row["flagged"] = bool(row["auc"] > FLAG_HIGH or row["auc"] < FLAG_LOW or row["oof_auc"] > FLAG_HIGH)
        if row["flagged"]:
            best = max(aucs, key=lambda a: abs(a - 0.5))
            row["note"] = f"predicts the label (AUC {best:.2f}" + (
                ": low values go with positives)" if best < 0.5 else ")")
        rows.append(row)
    return pd.DataFrame(rows, columns=["property", "kind", "n_values", "n_images", "auc",
                                       "oof_auc", "flagged", "note"])
