"""The verdict per dataset, from the run's tables: can a model read the label without the lungs?

The deciding number is the AUC of the lungs-boxed-out set (the cross-validation mean when the
run has it, else the single split's test AUC). Thresholds, stated so a reader can disagree:

- ``shortcut``: boxed-out AUC >= 0.80. The labels are readable from outside the lungs, which
  cannot be the disease; a dataset whose sources split by class (intra-source imbalance) does this.
- ``no shortcut found``: boxed-out AUC <= 0.65 (near chance): without the lungs the model fails.
- ``partial shortcut``: in between.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from cxr_isi.experiments.runfolder import ATTENTION, CV, CV_TABLE, DELONG_TABLE, RESULTS, SPLIT, RunFolder

SHORTCUT, PARTIAL, NONE, INCOMPLETE = "shortcut", "partial shortcut", "no shortcut found", "incomplete"
SHORTCUT_AUC, CHANCE_AUC = 0.80, 0.65


def load_run(run_dir: Path) -> dict:
    """Every table and record of a run folder; a missing piece is an empty table or None."""
    run = RunFolder(run_dir)
    config = run.config()
    return {"dir": run.root, "folder": run, "config": config, "run": run.run_record(),
            "results": run.table(RESULTS), "cv": run.table(CV_TABLE), "delong": run.table(DELONG_TABLE),
            "attention": run.table(ATTENTION),
            "audits": {d["name"]: run.audit(d["name"]) for d in config.get("datasets", [])}}


def _own(results: pd.DataFrame, dataset: str, variant: str, protocol: str, model: str | None = None) -> pd.DataFrame:
    if results.empty:
        return results
    r = results[(results["train_dataset"] == dataset) & (results["test_dataset"] == dataset)
                & (results["variant"] == variant) & (results["protocol"] == protocol)]
    return r[r["model"] == model] if model else r


def _auc(run: dict, dataset: str, variant: str, model: str) -> tuple[float, str]:
    """The deciding AUC of a variant and where it comes from."""
    cv = run["cv"]
    if not cv.empty:
        row = cv[(cv["train_dataset"] == dataset) & (cv["test_dataset"] == dataset)
                 & (cv["variant"] == variant) & (cv["model"] == model)]
        if len(row):
            return float(row["auc_mean"].iloc[0]), f"{int(row['folds'].iloc[0])}-fold mean"
    row = _own(run["results"], dataset, variant, SPLIT, model)
    if len(row):
        return float(row["auc"].iloc[0]), "test split"
    return float("nan"), "not run"


def verdict_for(boxed_out: float) -> str:
    if boxed_out != boxed_out:
        return INCOMPLETE
    if boxed_out >= SHORTCUT_AUC:
        return SHORTCUT
    if boxed_out <= CHANCE_AUC:
        return NONE
    return PARTIAL


def sentence(title: str, verdict: str, boxed: float, original: float) -> str:
    orig = f"original {original:.2f}" if original == original else "original not run"
    if verdict == SHORTCUT:
        return (f"{title}: a model that never sees the lungs scores AUC {boxed:.2f} ({orig}): "
                "the labels can be read from outside the lungs.")
    if verdict == NONE:
        return (f"{title}: without the lungs a model scores AUC {boxed:.2f}, near chance ({orig}): "
                "it needs the lungs; no shortcut outside them was found.")
    if verdict == PARTIAL:
        return (f"{title}: without the lungs a model still scores AUC {boxed:.2f} ({orig}): part of "
                "what separates the classes lies outside the lungs.")
    return f"{title}: no lungs-boxed-out result in this run, so no verdict."


def summarise(run: dict) -> dict:
    """``summary.json``: per dataset the verdict and its numbers; the cross-dataset figures."""
    cfg = run["config"]
    models = cfg.get("models", [])
    model = models[0] if models else None
    out = {"run": str(run["dir"]), "name": cfg.get("name"), "model": model, "datasets": {}, "cross": []}
    for d in cfg.get("datasets", []):
        name = d["name"]
        title = d.get("title") or name
        boxed, boxed_from = _auc(run, name, "lungs_boxed_out", model)
        original, original_from = _auc(run, name, "original", model)
        v = verdict_for(boxed)
        audit = run["audits"].get(name) or {}
        split_aucs = {}
        for variant in cfg.get("variants", []):
            row = _own(run["results"], name, variant, SPLIT, model)
            split_aucs[variant] = float(row["auc"].iloc[0]) if len(row) else None
        out["datasets"][name] = {
            "title": title, "verdict": v, "sentence": sentence(title, v, boxed, original),
            "note": confounder_note(audit, v),
            "auc_original": original, "auc_lungs_boxed_out": boxed, "auc_from": boxed_from,
            "auc_original_from": original_from, "test_auc_by_variant": split_aucs,
            "audit_verdict": audit.get("verdict"), "cramers_v": audit.get("cramers_v"),
            "source_only_auc": audit.get("source_only_auc"),
            "flagged_properties": audit.get("flagged_properties", []),
        }
    res = run["results"]
    if not res.empty:
        cross = res[(res["train_dataset"] != res["test_dataset"]) & (res["model"] == model)]
        for (a, b), g in cross.groupby(["train_dataset", "test_dataset"]):
            split = g[g["protocol"] == SPLIT]
            folds = g[g["protocol"] == CV]
            out["cross"].append({
                "train": a, "test": b,
                "auc": float(split["auc"].iloc[0]) if len(split) else None,
                "sensitivity": float(split["sensitivity_at_05"].iloc[0]) if len(split) else None,
                "specificity": float(split["specificity_at_05"].iloc[0]) if len(split) else None,
                "cv_auc_mean": float(folds["auc"].mean()) if len(folds) else None,
                "cv_auc_std": float(folds["auc"].std(ddof=1)) if len(folds) > 1 else None,
                "cv_accuracy_mean": float(folds["accuracy"].mean()) if len(folds) else None,
                "cv_sensitivity_mean": float(folds["sensitivity_at_05"].mean()) if len(folds) else None,
                "cv_specificity_mean": float(folds["specificity_at_05"].mean()) if len(folds) else None})
    return out


def confounder_note(audit: dict, verdict: str) -> str:
    """Why a dataset whose sources are balanced still carries a shortcut (or why an imbalanced
    one shows none): the audit's acquisition figures are the first place to look."""
    if not audit:
        return ""
    flagged = [a for a in audit.get("acquisition", []) if a.get("flagged")]
    named = ", ".join(f"{a['property']} (AUC {max(a['auc'], 1 - a['auc']):.2f})" for a in flagged[:4]
                      if a.get("auc") is not None)
    if audit.get("verdict") == "balanced" and verdict in (SHORTCUT, PARTIAL):
        if named:
            return ("Its sources are balanced, yet the label is readable outside the lungs; the audit finds "
                    f"acquisition properties that predict the label: {named}. The shortcut is in how the "
                    "classes were imaged, not in where they came from.")
        return ("Its sources are balanced, yet the label is readable outside the lungs: look for what "
                "differs between the classes outside the lungs (age, positioning, devices, image size).")
    if audit.get("verdict") != "balanced" and verdict == NONE:
        return ("Its sources split by class, yet no shortcut outside the lungs was found: the sources' "
                "marks may be too weak to learn at this size, or hidden by the box.")
    return ""


def cross_sentence(c: dict) -> str:
    cv = c.get("cv_auc_mean") is not None
    auc = c["cv_auc_mean"] if cv else c["auc"]
    if auc is None or not np.isfinite(auc):
        return f"Trained on {c['train']}, tested on {c['test']}: no result."
    key = "cv_{}_mean" if cv else "{}"
    sens, spec = c.get(key.format("sensitivity")), c.get(key.format("specificity"))
    word = "transfers" if auc >= 0.8 else ("is near chance" if auc <= 0.65 else "transfers partly")
    at = (f", sensitivity {sens:.2f} and specificity {spec:.2f} at 0.5" if sens is not None and spec is not None
          and np.isfinite(sens) and np.isfinite(spec) else "")
    where = "cross-validation mean " if cv else ""
    return f"Trained on {c['train']}, tested on {c['test']}: {where}AUC {auc:.2f}{at}: the model {word}."
