"""Every number of a run in three tables, the single source for the report.

- ``results.csv`` / ``results.parquet``: one row per job and test set (``train_dataset,
  test_dataset, variant, model, fold, auc`` and every operating-point figure).
- ``cv.csv``: per (train, test, variant, model) the cross-validation summary: AUC mean,
  standard deviation and 95% t interval over folds, the mean Youden point and its accuracy.
- ``delong.csv``: original vs lungs-boxed-out on the same images, by DeLong's paired test, on the
  single split's test set and on each cross-validation fold.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from cxr_isi.evaluate.metrics import cv_summary, delong_test, mean_ci
from cxr_isi.experiments.config import ExperimentConfig
from cxr_isi.experiments.plan import Job
from cxr_isi.experiments.runfolder import CV, CV_TABLE, DELONG_TABLE, RESULTS, SPLIT, RunFolder


def results_table(run: RunFolder, jobs: list[Job]) -> pd.DataFrame:
    """One row per finished (job, test set); unfinished ones are left out."""
    rows = []
    for job in jobs:
        train = (run.job_record(job.id) or {}).get("train_metrics", {})
        for e in job.evaluations:
            m = run.metrics(job.id, e.id)
            if m is None:
                continue
            m.pop("evaluation", None)
            m.pop("test_dataset", None)
            rows.append({"protocol": job.protocol, "train_dataset": job.dataset, "test_dataset": e.dataset,
                         "variant": job.image_set, "model": job.model, "fold": job.fold, **m,
                         "val_auc": train.get("val_auc"), "epochs": train.get("epochs"),
                         "best_epoch": train.get("best_epoch"), "train_seconds": train.get("seconds"),
                         "images_per_second": train.get("images_per_second"),
                         "job_id": job.id, "predictions": run.predictions_rel(job.id, e.id)})
    frame = pd.DataFrame(rows)
    if len(frame):
        frame["fold"] = frame["fold"].astype("Int64")
        frame = frame.replace({None: np.nan})
    return frame


def cv_table(run: RunFolder, results: pd.DataFrame) -> pd.DataFrame:
    """The k-fold summary of every (train, test, variant, model) with all folds finished."""
    rows = []
    if results.empty:
        return pd.DataFrame()
    cv = results[results["protocol"] == CV]
    for (train, test, variant, model), g in cv.groupby(["train_dataset", "test_dataset", "variant", "model"]):
        folds = run.fold_predictions(g)
        if any(len(np.unique(y)) < 2 for y, _ in folds):
            continue
        s = cv_summary(folds)
        ci = mean_ci(s["aucs"])
        rows.append({"train_dataset": train, "test_dataset": test, "variant": variant, "model": model,
                     "folds": len(folds), "auc_mean": s["auc_mean"], "auc_std": s["auc_std"],
                     "auc_ci_low": ci["ci_low"], "auc_ci_high": ci["ci_high"],
                     "youden_fpr": s["youden_fpr"], "youden_tpr": s["youden_tpr"],
                     "youden_accuracy": s["youden_accuracy"],
                     "sensitivity_mean": float(g["sensitivity"].mean()),
                     "specificity_mean": float(g["specificity"].mean()),
                     "accuracy_mean": float(g["accuracy"].mean())})
    return pd.DataFrame(rows)


def delong_table(run: RunFolder, results: pd.DataFrame, a: str = "original",
                 b: str = "lungs_boxed_out") -> pd.DataFrame:
    """Variant ``a`` vs ``b`` of each (dataset, model) on the images both scored: the single
    split's test set, and each cross-validation fold on its own (scores of different fold models
    are not on one scale, so folds are never pooled)."""
    rows = []
    if results.empty:
        return pd.DataFrame()
    own = results[results["train_dataset"] == results["test_dataset"]]
    for (protocol, dataset, model), g in own.groupby(["protocol", "train_dataset", "model"], sort=False):
        k = g["fold"].fillna(-1).astype(int)  # -1: the single split
        va = dict(zip(k[g["variant"] == a], g.loc[g["variant"] == a, "predictions"], strict=True))
        vb = dict(zip(k[g["variant"] == b], g.loc[g["variant"] == b, "predictions"], strict=True))
        for fold in sorted(set(va) & set(vb)):
            pa, pb = run.predictions(va[fold]), run.predictions(vb[fold])
            both = pa.merge(pb, on="id", suffixes=("_a", "_b"))
            y = both["label_a"].to_numpy()
            if len(np.unique(y)) < 2:
                continue
            t = delong_test(y, both["score_a"].to_numpy(), both["score_b"].to_numpy())
            rows.append({"protocol": protocol, "scope": "test split" if protocol == SPLIT else f"fold {fold}",
                         "dataset": dataset, "model": model, "fold": fold if fold >= 0 else None, "n": len(both),
                         f"auc_{a}": t["auc_1"], f"auc_{b}": t["auc_2"], "difference": t["difference"],
                         "z": t["z"], "p_value": t["p_value"], "significant": bool(t["p_value"] < 0.05)})
    frame = pd.DataFrame(rows)
    if len(frame):
        frame["fold"] = frame["fold"].astype("Int64")
    return frame


def collect_results(cfg: ExperimentConfig, run_dir: Path, jobs: list[Job]) -> pd.DataFrame:
    """Write ``results.csv`` (and Parquet), ``cv.csv`` and ``delong.csv``; return the results."""
    run = RunFolder(run_dir)
    results = results_table(run, jobs)
    run.write_table(RESULTS, results)
    run.write_table(CV_TABLE, cv_table(run, results))
    run.write_table(DELONG_TABLE, delong_table(run, results))
    return results
