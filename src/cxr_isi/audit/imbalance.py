"""Intra-source imbalance (ISI): the source-by-label table and how well the source predicts the label.

Formulas (``n_sc`` = images of source ``s`` in class ``c``, ``n`` = all images):

- Cramér's V: ``sqrt(chi2 / (n * (min(S, C) - 1)))`` of the source-by-label contingency table
  (scipy's ``association``); 0 when the source says nothing of the label, 1 when it fixes it.
  With one source or one class it is defined here as 0.
- Normalised mutual information: ``I(source; label) / mean(H(source), H(label))`` (arithmetic
  mean, scikit-learn's ``normalized_mutual_info_score``).
- Single-class fraction: the share of images that sit in sources contributing one class only.
- Source-only AUC: each image is scored by the positive rate of its source, computed on the
  other folds only (patient-grouped, label-stratified k-fold); a source missing from the other
  folds gets their overall positive rate. The AUC of these scores is what a model that knew only
  the source would reach; 0.5 means the source carries no label information.

Verdict (thresholds in :data:`THRESHOLDS`, after Cohen's effect sizes for V with one degree of
freedom: 0.1 small, 0.5 large):

- ``severely imbalanced``: Cramér's V >= 0.5, or at least half the images in single-class sources;
- ``imbalanced``: Cramér's V >= 0.1, or at least 10% of the images in single-class sources;
- ``balanced``: otherwise.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd
from scipy.stats.contingency import association
from sklearn.metrics import normalized_mutual_info_score, roc_auc_score
from sklearn.model_selection import StratifiedGroupKFold

THRESHOLDS = {
    "severe_cramers_v": 0.5,
    "severe_single_class_fraction": 0.5,
    "imbalanced_cramers_v": 0.1,
    "imbalanced_single_class_fraction": 0.1,
}
BALANCED, IMBALANCED, SEVERE = "balanced", "imbalanced", "severely imbalanced"


def source_label_table(sources: pd.Series, labels: pd.Series, y: np.ndarray) -> pd.DataFrame:
    """The paper's Table 1: images per source and label, with each source's class balance.

    Parameters
    ----------
    sources, labels : Series
        Per image.
    y : array of 0/1
        The binary labels under the mapping.

    Returns
    -------
    DataFrame
        One row per source: ``n``, ``n_positive``, ``n_negative``, ``positive_share``,
        ``single_class`` and a ``label:<name>`` count per original label.
    """
    frame = pd.DataFrame({"source": sources.astype(str).to_numpy(),
                          "label": labels.astype(str).to_numpy(), "y": y})
    counts = pd.crosstab(frame["source"], frame["label"])
    g = frame.groupby("source")["y"]
    table = pd.DataFrame({"n": g.size(), "n_positive": g.sum().astype(int)})
    table["n_negative"] = table["n"] - table["n_positive"]
    table["positive_share"] = table["n_positive"] / table["n"]
    table["majority_share"] = np.maximum(table["positive_share"], 1 - table["positive_share"])
    table["single_class"] = (table["n_positive"] == 0) | (table["n_negative"] == 0)
    table = table.join(counts.add_prefix("label:"))
    return table.sort_values(["n", "source"], ascending=[False, True])


def cramers_v(sources: np.ndarray, y: np.ndarray) -> float:
    """Cramér's V between source and binary label (0 with one source or one class).

    Parameters
    ----------
    sources : array
    y : array of 0/1

    Returns
    -------
    float
        In [0, 1] (scipy's ``association``, no continuity correction).
    """
    table = pd.crosstab(np.asarray(sources), np.asarray(y)).to_numpy()
    if min(table.shape) < 2:
        return 0.0
    return float(association(table, method="cramer", correction=False))


def single_class_fraction(table: pd.DataFrame) -> float:
    """Share of images that come from sources giving a single class.

    Parameters
    ----------
    table : DataFrame
        From :func:`source_label_table`.

    Returns
    -------
    float
    """
    return float(table.loc[table["single_class"], "n"].sum() / table["n"].sum())


def patient_folds(y: np.ndarray, groups: np.ndarray, wanted: int) -> int:
    """The most folds (up to ``wanted``) that keep each class in every fold, patients grouped.

    Parameters
    ----------
    y : array of labels
    groups : array
        Patient ids.
    wanted : int

    Returns
    -------
    int
        The smallest number of patients of any class, capped at ``wanted``.
    """
    frame = pd.DataFrame({"y": y, "g": groups})
    return int(min(wanted, frame.groupby("y")["g"].nunique().min()))


MANY_PATIENTS = 10_000  # above this, folds are drawn by GroupKFold (StratifiedGroupKFold is a Python loop per patient)


def grouped_folds(y: np.ndarray, groups: np.ndarray, k: int, seed: int = 0) -> list[tuple[np.ndarray, np.ndarray]]:
    """Patient-grouped k-fold ``(train, test)`` index pairs: scikit-learn's
    ``StratifiedGroupKFold`` up to :data:`MANY_PATIENTS` patients; above, ``GroupKFold`` with
    shuffled groups (scikit-learn >= 1.6) over integer patient codes, whose folds are nearly
    stratified at that many patients and which runs in O(n log n) (``StratifiedGroupKFold``
    loops over patients in Python: 18 s for 100,000 images of 33,000 patients here).

    Parameters
    ----------
    y : array of labels
    groups : array
        Patient ids.
    k, seed : int

    Returns
    -------
    list of (array, array)
    """
    from sklearn.model_selection import GroupKFold

    codes = pd.factorize(np.asarray(groups))[0]
    x = np.zeros(len(codes))
    if codes.max(initial=0) + 1 > MANY_PATIENTS:
        try:
            cv = GroupKFold(n_splits=k, shuffle=True, random_state=seed)
        except TypeError:  # scikit-learn < 1.6: no shuffle, folds by group size
            cv = GroupKFold(n_splits=k)
        return list(cv.split(x, y, codes))
    return list(StratifiedGroupKFold(n_splits=k, shuffle=True, random_state=seed).split(x, y, groups))


def out_of_fold_rate_scores(values: np.ndarray, y: np.ndarray, groups: np.ndarray,
                            n_splits: int = 5, seed: int = 0) -> np.ndarray | None:
    """Score each row by the positive rate of its value in the other folds.

    Hand-written because scikit-learn's ``TargetEncoder`` cross-fits with plain (stratified)
    K-fold and cannot keep a patient's images in one fold. Folds from :func:`grouped_folds`.
    Returns None when fewer than two patients per class exist.

    Parameters
    ----------
    values : array
        The property per image (the source, a view, a size bin).
    y : array of 0/1
    groups : array
        Patient ids: a patient's images stay in one fold.
    n_splits, seed : int

    Returns
    -------
    array of float or None
    """
    y = np.asarray(y)
    k = patient_folds(y, groups, n_splits)
    if k < 2 or len(np.unique(y)) < 2:
        return None
    values = pd.Series(np.asarray(values, dtype=object)).astype(str).to_numpy()
    scores = np.empty(len(y), dtype=np.float64)
    for train, test in grouped_folds(y, groups, k, seed):
        rates = pd.Series(y[train]).groupby(values[train]).mean()
        scores[test] = pd.Series(values[test]).map(rates).fillna(y[train].mean()).to_numpy()
    return scores


def auc_or_nan(y: np.ndarray, scores: np.ndarray | None) -> float:
    """AUC of ``scores``; NaN when they are missing or ``y`` has one class.

    Parameters
    ----------
    y : array of 0/1
    scores : array of float or None

    Returns
    -------
    float
    """
    if scores is None or len(np.unique(y)) < 2:
        return float("nan")
    return float(roc_auc_score(y, scores))


def verdict(cramers: float, single_fraction: float) -> tuple[str, str]:
    """The verdict and the one figure that decided it.

    Parameters
    ----------
    cramers : float
    single_fraction : float
        Share of images in single-class sources.

    Returns
    -------
    (str, str)
        ``balanced``, ``imbalanced`` or ``severely imbalanced``, and the figure that decided it.
    """
    t = THRESHOLDS
    if cramers >= t["severe_cramers_v"]:
        return SEVERE, f"Cramér's V {cramers:.2f} >= {t['severe_cramers_v']}"
    if single_fraction >= t["severe_single_class_fraction"]:
        return SEVERE, f"{single_fraction:.0%} of images in single-class sources"
    if cramers >= t["imbalanced_cramers_v"]:
        return IMBALANCED, f"Cramér's V {cramers:.2f} >= {t['imbalanced_cramers_v']}"
    if single_fraction >= t["imbalanced_single_class_fraction"]:
        return IMBALANCED, f"{single_fraction:.0%} of images in single-class sources"
    return BALANCED, (f"Cramér's V {cramers:.2f} < {t['imbalanced_cramers_v']} and "
                      f"{single_fraction:.0%} of images in single-class sources")


def intra_source_imbalance(sources: np.ndarray, labels: pd.Series, y: np.ndarray,
                           groups: np.ndarray, n_splits: int = 5, seed: int = 0) -> dict:
    """Every source-versus-label figure of the audit, as plain data.

    Parameters
    ----------
    sources : array
    labels : Series
        The original labels (for the table's per-label counts).
    y : array of 0/1
    groups : array
        Patient ids.
    n_splits, seed : int
        For the out-of-fold source-only AUC.

    Returns
    -------
    dict
        ``table``, ``cramers_v``, ``nmi``, ``single_class_fraction``, ``source_only_auc``,
        ``verdict``, ``verdict_reason``.
    """
    sources = np.asarray(sources).astype(str)
    table = source_label_table(pd.Series(sources), labels, y)
    v = cramers_v(sources, y)
    scf = single_class_fraction(table)
    word, reason = verdict(v, scf)
    scores = out_of_fold_rate_scores(sources, y, groups, n_splits, seed)
    return {
        "table": table,
        "cramers_v": v,
        "nmi": float(normalized_mutual_info_score(sources, y)),
        "single_class_fraction": scf,
        "source_only_auc": auc_or_nan(y, scores),
        "verdict": word,
        "verdict_reason": reason,
    }


@dataclass
class AuditResult:
    """Everything ``cxr-isi audit`` reports; :meth:`as_dict` is the JSON output."""

    n_images: int
    n_sources: int
    n_patients: int
    n_positive: int
    table: pd.DataFrame
    cramers_v: float
    nmi: float
    single_class_fraction: float
    source_only_auc: float
    verdict: str
    verdict_reason: str
    acquisition: pd.DataFrame
    label_mapping: dict
    row_filter: list = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)

    @property
    def flagged_properties(self) -> list[str]:
        if self.acquisition.empty:
            return []
        return self.acquisition.loc[self.acquisition["flagged"], "property"].tolist()

    def headline(self) -> str:
        """The verdict line, with its deciding figure and any acquisition confounder."""
        word = {BALANCED: "Intra-source balanced", IMBALANCED: "Intra-source imbalanced",
                SEVERE: "Severely intra-source imbalanced"}[self.verdict]
        auc = self.source_only_auc
        if auc != auc:
            tail = ("the source-only AUC could not be computed (a class has fewer patients than two folds need, "
                    "or there is one source).")
        elif auc <= 0.55:
            tail = f"a source-only predictor does no better than chance (out-of-fold AUC {auc:.2f})."
        else:
            tail = f"a source-only predictor scores AUC {auc:.2f}."
        line = f"{word}: {self.verdict_reason}; {tail}"
        flagged = self.flagged_properties
        if flagged:
            line += f" Acquisition properties that predict the label: {', '.join(flagged)}."
        return line

    def as_dict(self) -> dict:
        sources = []
        for src, row in self.table.iterrows():
            sources.append({
                "source": src, "n": int(row["n"]), "n_positive": int(row["n_positive"]),
                "n_negative": int(row["n_negative"]), "positive_share": float(row["positive_share"]),
                "single_class": bool(row["single_class"]),
                "labels": {c.split(":", 1)[1]: int(row[c]) for c in self.table.columns
                           if c.startswith("label:") and row[c]},
            })
        return {
            "n_images": self.n_images, "n_sources": self.n_sources, "n_patients": self.n_patients,
            "n_positive": self.n_positive, "n_negative": self.n_images - self.n_positive,
            "label_mapping": self.label_mapping, "filter": self.row_filter,
            "cramers_v": self.cramers_v, "nmi": self.nmi,
            "single_class_fraction": self.single_class_fraction,
            "source_only_auc": self.source_only_auc, "verdict": self.verdict,
            "verdict_reason": self.verdict_reason, "headline": self.headline(),
            "thresholds": dict(THRESHOLDS), "sources": sources,
            "acquisition": self.acquisition.to_dict("records"),
            "flagged_properties": self.flagged_properties, "warnings": self.warnings,
        }


def sources_with_both(frame: pd.DataFrame, y: np.ndarray, min_per_class: int = 1) -> list[str]:
    """The sources that give at least ``min_per_class`` images of each class, sorted (the sources
    a remedy can balance, or leave out one at a time).

    Parameters
    ----------
    frame : DataFrame
        Rows with a ``source`` column.
    y : array
        Their labels (1 positive).
    min_per_class : int

    Returns
    -------
    list of str
    """
    table = pd.crosstab(frame["source"].astype(str).to_numpy(), y)
    if table.shape[1] < 2:
        return []
    return sorted(str(s) for s, r in table.iterrows() if r.get(0, 0) >= min_per_class and r.get(1, 0) >= min_per_class)
