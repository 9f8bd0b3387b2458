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

from cxr_isi.errors import CxrIsiError
from cxr_isi.evaluate.metrics import cv_summary, delong_test, mean_ci
from cxr_isi.study.config import ExperimentConfig
from cxr_isi.study.plan import Job
from cxr_isi.study.runfolder import CV, CV_TABLE, DELONG_TABLE, RESULTS, SPLIT, RunFolder


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
            test_variant = m.pop("test_variant", None) or job.variant
            extra = ({"remedy": job.remedy, "seed": job.train.get("seed"), "holdout": job.holdout,
                      "test_variant": test_variant} if job.remedy else {})
            rows.append({"protocol": job.protocol, "train_dataset": job.dataset, "test_dataset": e.dataset,
                         "variant": job.image_set, "model": job.model, "fold": job.fold, **extra, **m,
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


# What the report reads of each row; a results.csv without them is not this tool's.
RESULT_COLUMNS = ("protocol", "train_dataset", "test_dataset", "variant", "model", "fold", "n", "auc",
                  "auc_ci_low", "auc_ci_high", "predictions")


def checked_results(run: RunFolder) -> pd.DataFrame:
    """``results.csv`` of a run, refused in one line when it is not what the run computed.

    The report and :func:`cxr_isi.load_run` print these numbers as the run's, so each is checked
    against what it was computed from: the run's records are JSON objects, the table has its
    columns, agrees with ``results.parquet`` (written beside it in the same step), and each row's
    AUC and image count are those of its predictions file. An edited, mixed or damaged file is an
    error naming it, never a number passed on.

    Parameters
    ----------
    run : RunFolder

    Returns
    -------
    DataFrame
        The results (empty for a run with no finished job).

    Raises
    ------
    CxrIsiError
        Naming the file and what disagrees.
    """
    from sklearn.metrics import roc_auc_score

    from cxr_isi.study.runfolder import RESULTS_PARQUET, RUN_RECORD, read_json

    redo = "rerun the same cxr-isi run command to rewrite it"
    for path, must in ((run.config_json, True), (run.root / RUN_RECORD, False)):
        if not path.exists() and not must:
            continue
        if not isinstance(read_json(path), dict):
            raise CxrIsiError(f"{path}: damaged (not a JSON object as cxr-isi writes it); {redo}")
    path = run.root / RESULTS
    try:
        results = run.table(RESULTS)
    except (ValueError, TypeError, pd.errors.ParserError) as exc:
        raise CxrIsiError(f"{path}: not a results table ({str(exc).splitlines()[0]}); {redo}") from None
    if results.empty:
        return results
    missing = [c for c in RESULT_COLUMNS if c not in results.columns]
    if missing:
        raise CxrIsiError(f"{path}: not a cxr-isi results table (no column {', '.join(missing)}); {redo}")
    parquet = run.root / RESULTS_PARQUET
    if parquet.exists():
        try:
            other = pd.read_parquet(parquet)
        except Exception as exc:  # pyarrow raises its own types for a damaged file
            raise CxrIsiError(f"{parquet}: damaged ({type(exc).__name__}); {redo}") from None
        _same_results(path, results, parquet, other, redo)
    for i, row in enumerate(results.itertuples(index=False)):
        where = f"{path} row {i + 1} ({row.train_dataset} -> {row.test_dataset}, {row.variant})"
        job = run.job_dir(str(row.job_id)) if "job_id" in results.columns else "its job folder"
        redo_job = f"delete {job} and rerun the same cxr-isi run command to redo that job"
        try:
            p = run.predictions(str(row.predictions))
            y, s = p["label"].to_numpy(int), p["score"].to_numpy(float)
        except FileNotFoundError:
            raise CxrIsiError(f"{where}: its predictions {row.predictions} are missing; {redo_job}") from None
        except (OSError, KeyError, ValueError, TypeError, pd.errors.ParserError) as exc:
            why = f"no column {exc}" if isinstance(exc, KeyError) else (str(exc).splitlines() or ["damaged"])[0]
            raise CxrIsiError(f"{where}: its predictions {row.predictions} cannot be read ({why}); "
                              f"{redo_job}") from None
        auc = roc_auc_score(y, s) if len(np.unique(y)) == 2 else float("nan")
        if len(y) != row.n or not (np.isclose(auc, row.auc, atol=1e-6) or (auc != auc and row.auc != row.auc)):
            raise CxrIsiError(f"{where}: says AUC {row.auc:.4f} on {row.n} images, its predictions give "
                              f"{auc:.4f} on {len(y)}; the table or the predictions were changed; {redo_job}")
    return results


def _same_results(path: Path, results: pd.DataFrame, parquet: Path, other: pd.DataFrame, redo: str) -> None:
    keys = [c for c in ("job_id", "test_dataset", "predictions") if c in results.columns and c in other.columns]
    if len(results) != len(other) or sorted(results.columns) != sorted(other.columns):
        raise CxrIsiError(f"{path}: disagrees with {parquet.name} ({len(results)} rows against {len(other)}); {redo}")
    a = results.sort_values(keys).reset_index(drop=True) if keys else results
    b = other.sort_values(keys).reset_index(drop=True)[list(a.columns)] if keys else other[list(a.columns)]
    for c in a.columns:
        x, y = a[c], b[c]
        if pd.api.types.is_numeric_dtype(x) and pd.api.types.is_numeric_dtype(y):
            same = np.isclose(x.astype(float), y.astype(float), rtol=1e-9, atol=1e-9, equal_nan=True)
        else:
            same = ((x.astype(str) == y.astype(str)).fillna(False) | (x.isna() & y.isna())).to_numpy(dtype=bool)
        if not same.all():
            i = int(np.flatnonzero(~same)[0])
            raise CxrIsiError(f"{path}: disagrees with {parquet.name} in column {c} ({x.iloc[i]} against "
                               f"{y.iloc[i]}); one of them was changed; {redo}")
