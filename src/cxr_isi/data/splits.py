"""Patient-grouped, label-stratified splits (scikit-learn ``StratifiedGroupKFold``), and the checks
that refuse a split the protocol forbids: one patient on both sides, or a fold with one class.

By default the strata are source x label, not the label alone. With the label alone, a source
whose classes happen to fall unevenly into train leaves the opposite imbalance in test (its
totals are fixed), so a model that reads the source scores *below* chance on data where the
source says nothing of the label, with a confidence interval that excludes 0.5 (measured: 3 of 3
``balanced`` phantoms, AUC 0.31-0.34). Stratifying each source's classes keeps its class ratio
alike on both sides; ``by_source=False`` gives the label-only strata of earlier versions.
"""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
from sklearn.model_selection import StratifiedGroupKFold

from cxr_isi.data.manifest import Manifest
from cxr_isi.errors import SplitError


def _strata(manifest: Manifest) -> np.ndarray:
    """Stratify on the binary task when a mapping is attached, else on the raw labels."""
    if manifest.label_mapping is not None:
        return manifest.y
    return manifest.frame["label"].astype(str).to_numpy()


def _split_strata(manifest: Manifest, by_source: bool, k: int) -> np.ndarray:
    """What the splitter balances: the label, crossed with the source when asked, the manifest has
    more than one source, and some source x label cell holds ``k`` images (below that the
    splitter cannot stratify at all: the label alone, as a few images per source give)."""
    strata = _strata(manifest)
    sources = manifest.frame["source"].astype(str).to_numpy() if "source" in manifest.frame.columns else None
    if not by_source or sources is None or len(np.unique(sources)) < 2:
        return strata
    joint = np.char.add(np.char.add(sources.astype(str), "\x1f"), strata.astype(str))
    return joint if np.unique(joint, return_counts=True)[1].max() >= k else strata


def _folds(k: int, seed: int, x_len: int, strata: np.ndarray, groups: np.ndarray):
    """``StratifiedGroupKFold`` over the strata; a source x label cell smaller than ``k`` is
    spread as far as it goes (scikit-learn's warning about it says nothing the checks do not)."""
    cv = StratifiedGroupKFold(n_splits=k, shuffle=True, random_state=seed)
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="The least populated class", category=UserWarning)
        return list(cv.split(np.zeros(x_len), strata, groups))


def _class_name(manifest: Manifest, value) -> str:
    if manifest.label_mapping is not None:
        return "positive" if int(value) == 1 else "negative"
    return repr(str(value))


def _check_patients_per_class(manifest: Manifest, strata: np.ndarray, k: int, need: str | None = None) -> None:
    """Refuse a class with fewer patients than ``k`` groups; ``need`` says what the ``k`` groups are
    for when they are not folds the user asked for (a held-out share)."""
    frame = pd.DataFrame({"p": manifest.frame["patient_id"].to_numpy(), "s": strata})
    per_class = frame.groupby("s")["p"].nunique()
    small = per_class[per_class < k]
    if len(small):
        cls, n = small.index[0], int(small.iloc[0])
        raise SplitError(
            f"{manifest.origin}: class {_class_name(manifest, cls)} has {n} patient{'s' if n != 1 else ''}"
            + (f", fewer than the {k} folds asked for" if need is None else f"; {need} needs at least {k} "
                                                                                 "(a larger share needs fewer)")
        )


def assign_folds(manifest: Manifest, k: int = 5, seed: int = 0, by_source: bool = True) -> Manifest:
    """Write a ``fold`` column (0..k-1): patients never span folds, labels stratified (within
    each source, with ``by_source``; see the module's note)."""
    if k < 2:
        raise SplitError(f"{manifest.origin}: need at least 2 folds, got {k}")
    strata = _strata(manifest)
    _check_patients_per_class(manifest, strata, k)
    fold = np.full(len(manifest), -1, dtype=np.int64)
    groups = manifest.frame["patient_id"].to_numpy()
    for i, (_, test) in enumerate(_folds(k, seed, len(strata), _split_strata(manifest, by_source, k), groups)):
        fold[test] = i
    frame = manifest.frame.copy()
    frame["fold"] = pd.array(fold, dtype="Int64")
    out = manifest.with_frame(frame)
    check_folds(out)
    return out


def assign_split(manifest: Manifest, test_size: float = 0.1, seed: int = 0,
                 val_size: float = 0.0, by_source: bool = True) -> Manifest:
    """Write a ``split`` column (train / val / test), grouped by patient, stratified by label
    (within each source, with ``by_source``; see the module's note).

    ``test_size`` picks ``round(1 / test_size)`` folds and holds one out, so the share is met
    up to the size of patient groups; ``val_size`` carves validation out of the rest the same way.
    """
    if not 0 < test_size < 1:
        raise SplitError(f"{manifest.origin}: test_size must be in (0, 1), got {test_size}")
    split = np.full(len(manifest), "train", dtype=object)
    test_idx = _holdout(manifest, np.arange(len(manifest)), test_size, seed, by_source=by_source)
    split[test_idx] = "test"
    if val_size > 0:
        rest = np.flatnonzero(split == "train")
        share = val_size / (1 - test_size)
        split[rest[_holdout(manifest, rest, share, seed + 1, relative=True, by_source=by_source)]] = "val"
    frame = manifest.frame.copy()
    frame["split"] = split
    out = manifest.with_frame(frame)
    check_split(out)
    return out


def _holdout(manifest: Manifest, rows: np.ndarray, share: float, seed: int,
             relative: bool = False, by_source: bool = True) -> np.ndarray:
    k = max(2, round(1 / share))
    strata = _strata(manifest)[rows]
    groups = manifest.frame["patient_id"].to_numpy()[rows]
    sub = manifest.with_frame(manifest.frame.iloc[rows])
    what = "validation" if relative else "test"
    _check_patients_per_class(sub, strata, k, need=f"holding out 1 in {k} patients per class for {what}")
    _, held = _folds(k, seed, len(rows), _split_strata(sub, by_source, k), groups)[0]
    return held if relative else rows[held]


def check_split(manifest: Manifest) -> None:
    """Refuse a split where a patient has images on two sides; name the patient."""
    frame = manifest.frame
    if "split" not in frame.columns:
        return
    sides = frame[frame["split"] != ""].groupby("patient_id")["split"].nunique()
    leaked = sides[sides > 1]
    if len(leaked):
        pid = leaked.index[0]
        where = sorted(frame.loc[frame["patient_id"] == pid, "split"].unique())
        more = f" ({len(leaked) - 1} more patients too)" if len(leaked) > 1 else ""
        raise SplitError(f"{manifest.origin}: patient {pid!r} is in both {' and '.join(where)}{more}")


def check_folds(manifest: Manifest) -> None:
    """Refuse folds that share a patient or that hold a single class; name the fold."""
    frame = manifest.frame
    if "fold" not in frame.columns:
        return
    assigned = frame["fold"].notna()
    if not assigned.any():
        return
    per_patient = frame[assigned].groupby("patient_id")["fold"].nunique()
    leaked = per_patient[per_patient > 1]
    if len(leaked):
        raise SplitError(f"{manifest.origin}: patient {leaked.index[0]!r} is in more than one fold")
    strata = _strata(manifest)
    for f in sorted(set(frame.loc[assigned, "fold"].astype(int))):
        classes = np.unique(strata[frame["fold"].eq(f).fillna(False).to_numpy(bool)])
        if len(classes) < 2:
            raise SplitError(
                f"{manifest.origin}: fold {f} has a single class "
                f"({_class_name(manifest, classes[0])} only); "
                "its AUC is undefined"
            )


def rows_marked_test(manifest: Manifest) -> tuple[Manifest, str]:
    """The rows a model is judged on: where the manifest has a ``split`` column with values, its
    ``test`` rows alone (read as written by hand too: spaces and case ignored), with a note saying
    how many were left out; a split column without a test row is one line. A manifest without a
    split column is judged whole (note empty).

    Parameters
    ----------
    manifest : Manifest

    Returns
    -------
    (Manifest, str)
        The test rows and the note.
    """
    frame = manifest.frame
    if "split" not in frame.columns or not (frame["split"].astype(str).str.strip() != "").any():
        return manifest, ""
    split = frame["split"].astype(str).str.strip().str.lower()
    if not (split == "test").any():
        raise SplitError(f"{manifest.origin}: its split column has no 'test' row (values: "
                         f"{sorted(split.unique())[:5]}); a model is judged on its test rows only: mark them "
                         "split=test, or drop the column to judge every row")
    kept = manifest.with_frame(frame[(split == "test").to_numpy()])
    return kept, (f"judged on the {len(kept)} rows the manifest's split column marks test; "
                  f"{len(frame) - len(kept)} train/validation rows left out")
