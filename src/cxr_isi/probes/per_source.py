"""Probe 6: per source, and a cut-off carried to a source it was not chosen on.

On the single split's test predictions of the original-trained and lungs-boxed-out models: AUC
(DeLong interval), sensitivity and specificity at the test set's Youden cut-off, and expected
calibration error, per source. Where at least three sources give both classes, leave one source
out: the Youden cut-off is chosen on the other sources' images and carried to the held-out one;
the drop in accuracy against that source's own best cut-off says how much a threshold tuned
elsewhere is worth there (the estimate, a t interval over sources).
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from scipy.special import expit

from cxr_isi.evaluate.metrics import auc_ci, expected_calibration_error, mean_ci, operating_point, youden
from cxr_isi.evaluate.text import interval_text
from cxr_isi.probes.base import Probe, ProbeInput, ProbeResult

NAME = "per_source"
MEASURE = "accuracy lost when the cut-off is chosen on the other sources (leave one source out)"


def _ranking(pred: pd.DataFrame) -> str:
    """The column to rank and cut by: ``log_odds`` where given (a probability ties images beyond
    a logit of about 37), else ``score``."""
    return "log_odds" if "log_odds" in pred.columns else "score"


def per_source_table(pred: pd.DataFrame) -> pd.DataFrame:
    """One row per source: images, classes, AUC with interval, sensitivity and specificity at the
    whole test set's Youden cut-off, calibration error (of ``score``, the probability).

    ``pred`` has ``label``, ``score`` and ``source``, and optionally ``log_odds``, which the AUCs
    and cut-offs then rank by."""
    rank = _ranking(pred)
    y, s = pred["label"].to_numpy(), pred[rank].to_numpy()
    cut = youden(y, s)["threshold"] if len(np.unique(y)) == 2 else (0.0 if rank == "log_odds" else 0.5)
    rows = []
    for source, g in pred.groupby("source", sort=True):
        gy, gs = g["label"].to_numpy(), g[rank].to_numpy()
        both = min((gy == 1).sum(), (gy == 0).sum()) >= 2
        ci = auc_ci(gy, gs) if both else {"auc": np.nan, "ci_low": np.nan, "ci_high": np.nan}
        op = operating_point(gy, gs, cut)
        rows.append({"source": source, "n": len(g), "n_positive": int((gy == 1).sum()),
                     "n_negative": int((gy == 0).sum()), "auc": ci["auc"], "auc_ci_low": ci["ci_low"],
                     "auc_ci_high": ci["ci_high"], "sensitivity": op["sensitivity"],
                     "specificity": op["specificity"],
                     "ece": expected_calibration_error(gy, g["score"].to_numpy())})
    return pd.DataFrame(rows)


def leave_one_source_out(pred: pd.DataFrame) -> pd.DataFrame:
    """Per source with both classes (at least three such sources): accuracy at a cut-off chosen
    on the others against the source's own Youden accuracy."""
    both = [s for s, g in pred.groupby("source") if min((g["label"] == 1).sum(), (g["label"] == 0).sum()) >= 2]
    if len(both) < 3:
        return pd.DataFrame()
    rows, rank = [], _ranking(pred)
    for source in both:
        held, rest = pred[pred["source"] == source], pred[pred["source"] != source]
        cut = youden(rest["label"].to_numpy(), rest[rank].to_numpy())["threshold"]
        carried = operating_point(held["label"].to_numpy(), held[rank].to_numpy(), cut)
        own = youden(held["label"].to_numpy(), held[rank].to_numpy())
        rows.append({"source": source, "cutoff_from_others": float(expit(cut)) if rank == "log_odds" else cut,
                     "accuracy_carried": carried["accuracy"],
                     "accuracy_own_cutoff": own["accuracy"], "drop": own["accuracy"] - carried["accuracy"]})
    return pd.DataFrame(rows)


def run(inp: ProbeInput) -> ProbeResult:
    tables = {k: per_source_table(p) for k, p in inp.predictions.items() if k in ("original", "lungs_boxed_out")}
    if not tables:
        return ProbeResult.not_applicable(NAME, inp.dataset, MEASURE, "No single-split test predictions.")
    pred = inp.predictions.get("original", next(iter(inp.predictions.values())))
    loso = leave_one_source_out(pred)
    details = {k: t.to_dict("records") for k, t in tables.items()}
    details["leave_one_source_out"] = loso.to_dict("records")
    orig = tables.get("original", next(iter(tables.values())))
    n_both = int(((orig["n_positive"] > 0) & (orig["n_negative"] > 0)).sum())
    if loso.empty:
        single = int(((orig["n_positive"] == 0) | (orig["n_negative"] == 0)).sum())
        why = (f"{len(orig)} source(s) in the test split, {n_both} with both classes "
               f"({single} give one class only): no leave-one-source-out test (needs three with both).")
        aucs = orig["auc"].dropna()
        if len(aucs):
            why += f" Per-source AUC of the original-trained model: {aucs.min():.2f} to {aucs.max():.2f}."
        result = ProbeResult.not_applicable(NAME, inp.dataset, MEASURE, why)
        result.details = details
        return result
    ci = mean_ci(loso["drop"].to_numpy())
    sentence = (f"A cut-off chosen on the other sources loses {interval_text(ci['mean'], ci['ci_low'], ci['ci_high'])} "
                f"accuracy on the held-out source (mean over {len(loso)} sources; per-source AUC "
                f"{orig['auc'].min():.2f} to {orig['auc'].max():.2f}).")
    return ProbeResult(NAME, inp.dataset, MEASURE, ci["mean"], ci["ci_low"], ci["ci_high"], len(pred), None,
                       sentence, details=details)


PROBE = Probe(NAME, MEASURE, run, rank=50)
