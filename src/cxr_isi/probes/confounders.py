"""Probe 7: is the residual boxed-out AUC one acquisition property?

For each property the audit flags (view, image size, aspect ratio, a manifest column such as the
device), or that predicts the label even weakly (AUC at least 0.10 from chance), the
lungs-boxed-out model's AUC within each level of it (PA only, AP only; numeric properties in
tertiles), pooled as the image-weighted mean over levels with both classes. Folds are scored
separately (their scores are not on one scale) and summarised by a t interval; a single split
stands alone. A shortcut that vanishes within levels (the within-level AUC 0.15 below the overall
one and at most 0.70) is that property.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from sklearn.metrics import roc_auc_score

from cxr_isi.evaluate.metrics import mean_ci
from cxr_isi.evaluate.text import interval_text
from cxr_isi.probes.base import Probe, ProbeInput, ProbeResult

NAME = "confounders"
MEASURE = "lungs-boxed-out AUC within levels of the flagged property that explains most"
DROP, CEILING = 0.15, 0.70
WEAK = 0.10
VERSION = 2


def _predicts(row: dict) -> bool:
    """Flagged by the audit, or predicting the label at least weakly (AUC 0.60 away from chance
    either way): a weak confounder can still carry a boxed-out model."""
    aucs = [a for a in (row.get("auc"), row.get("oof_auc")) if a is not None and a == a]
    return bool(row.get("flagged")) or any(abs(a - 0.5) >= WEAK for a in aucs)


def property_levels(values: pd.Series) -> pd.Series:
    """The levels a property is held fixed within: tertiles of a numeric one with more than three
    values, else its values."""
    if pd.api.types.is_numeric_dtype(values) and values.nunique() > 3:
        return pd.qcut(values, 3, labels=False, duplicates="drop").astype("Int64").astype(str)
    return values.astype(str)


def within_level_auc(pred: pd.DataFrame, level: pd.Series) -> tuple[float, float]:
    """(overall AUC, image-weighted mean AUC within levels with at least two of each class)."""
    y, s = pred["label"].to_numpy(), pred["score"].to_numpy()
    overall = float(roc_auc_score(y, s)) if len(np.unique(y)) == 2 else np.nan
    total, weight = 0.0, 0
    for _, idx in pred.groupby(level.to_numpy()).groups.items():
        g = pred.loc[idx]
        if min((g["label"] == 1).sum(), (g["label"] == 0).sum()) >= 2:
            total += len(g) * roc_auc_score(g["label"], g["score"])
            weight += len(g)
    return overall, (total / weight if weight else np.nan)


def lowest_within(usable: pd.DataFrame, name: str, listed: str) -> tuple[pd.Series, str]:
    """The candidate within whose levels the boxed-out AUC is lowest, and the sentence: it is the
    shortcut where it ``explains``, else none of ``listed`` alone is (the text before "the
    boxed-out AUC stays")."""
    best = usable.sort_values("auc_within_levels").iloc[0]
    text = interval_text(best["auc_within_levels"], best["ci_low"], best["ci_high"])
    if best["explains"]:
        return best, (f"Within levels of {best[name]} the boxed-out AUC falls from {best['auc_overall']:.2f} to "
                      f"{text}: the shortcut outside the lungs is {best[name]}.")
    return best, (f"{listed} the boxed-out AUC stays (lowest: {best[name]}, {text}, overall "
                  f"{best['auc_overall']:.2f}): none of them alone explains it.")


def run(inp: ProbeInput) -> ProbeResult:
    from cxr_isi.audit.acquisition import acquisition_properties

    flagged = [a["property"] for a in (inp.audit or {}).get("acquisition", []) if _predicts(a)]
    if not flagged:
        return ProbeResult.not_applicable(NAME, inp.dataset, MEASURE, "No acquisition property of the audit "
                                          "predicts the label (AUC within 0.40-0.60).")
    folds = inp.fold_predictions.get("lungs_boxed_out") or (
        [inp.predictions["lungs_boxed_out"]] if "lungs_boxed_out" in inp.predictions else [])
    if not folds:
        return ProbeResult.not_applicable(NAME, inp.dataset, MEASURE, "No lungs-boxed-out predictions.")
    props, _ = acquisition_properties(inp.manifest, read_files=True)
    props.index = inp.manifest.frame["image_id"].astype(str).to_numpy()
    rows = []
    for prop in [p for p in flagged if p in props.columns]:
        levels = property_levels(props[prop])
        per_fold = []
        for pred in folds:
            pred = pred[pred["id"].astype(str).isin(levels.index)].reset_index(drop=True)
            overall, within = within_level_auc(pred, levels.loc[pred["id"].astype(str)].reset_index(drop=True))
            per_fold.append((overall, within))
        o = mean_ci([a for a, _ in per_fold])
        w = mean_ci([b for _, b in per_fold])
        explains = bool(o["mean"] == o["mean"] and w["mean"] == w["mean"] and o["mean"] - w["mean"] >= DROP
                        and w["mean"] <= CEILING)
        rows.append({"property": prop, "levels": int(levels.nunique()), "auc_overall": o["mean"],
                     "auc_within_levels": w["mean"], "ci_low": w["ci_low"], "ci_high": w["ci_high"],
                     "explains": explains})
    table = pd.DataFrame(rows)
    usable = table.dropna(subset=["auc_within_levels"]) if len(table) else table
    if usable.empty:
        return ProbeResult.not_applicable(NAME, inp.dataset, MEASURE, "No level of a flagged property holds both "
                                          "classes in the test images.")
    best, sentence = lowest_within(usable, "property", "Within levels of each property that predicts the label "
                                   f"({', '.join(usable['property'])})")
    return ProbeResult(NAME, inp.dataset, MEASURE, float(best["auc_within_levels"]), best["ci_low"],
                       best["ci_high"], int(sum(len(f) for f in folds)), bool(best["explains"]), sentence,
                       details={"properties": table.to_dict("records"), "folds": len(folds)})


PROBE = Probe(NAME, MEASURE, run, rank=60, version=VERSION, tried="the audit's flagged properties")
