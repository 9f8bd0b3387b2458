"""``summary.json``: per dataset the evidence a run gathered and the verdict the dataset rule
(:mod:`cxr_isi.verdict.dataset`) gives on it; the cross-dataset figures.

The deciding figures are read here from the run folder: the lungs-boxed-out AUC with its 95%
interval (the cross-validation mean with a t interval over folds when the run has it, else the
single split's test AUC with DeLong's interval), the same with the fixed box, the audit and every
probe's record. The rule itself, and every threshold it decides with, live in the verdict's room.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from cxr_isi._io import write_json
from cxr_isi.errors import CxrIsiError
from cxr_isi.evaluate.metrics import mean_ci
from cxr_isi.lungs.hideseek import FIXED_BOX
from cxr_isi.study.elsewhere import estimate_for
from cxr_isi.study.elsewhere import sentence as external_sentence
from cxr_isi.study.runfolder import CV, SPLIT, RunFolder
from cxr_isi.study.tables import load_run
from cxr_isi.verdict import cross as cross_rule
from cxr_isi.verdict import dataset as rule
from cxr_isi.verdict.error_rates import measured_sentence

FIXED = FIXED_BOX
__all__ = ["load_run", "summarise", "write_summary"]


def write_summary(run_dir: str | Path) -> dict:
    """Decide every verdict of a run folder from what is on disk and write ``summary.json``: the
    run's last stage (and ``cxr-isi report``'s first, for a folder an older version ran). The
    report renders this file; it decides nothing.

    Parameters
    ----------
    run_dir : path

    Returns
    -------
    dict
        The summary written.
    """
    folder = RunFolder(run_dir)
    if not folder.is_run():
        raise CxrIsiError(f"{folder.root}: not a run folder (no config.json; make one with cxr-isi run)")
    summary = summarise(load_run(folder.root))
    write_json(folder.summary_path, summary)
    return summary


def _own(results: pd.DataFrame, dataset: str, variant: str, protocol: str, model: str | None = None) -> pd.DataFrame:
    if results.empty:
        return results
    r = results[(results["train_dataset"] == dataset) & (results["test_dataset"] == dataset)
                & (results["variant"] == variant) & (results["protocol"] == protocol)]
    return r[r["model"] == model] if model else r


def _auc(run: dict, dataset: str, variant: str, model: str | None) -> dict:
    """The deciding AUC of a variant with its 95% interval and where it comes from."""
    cv = run["cv"]
    if not cv.empty:
        row = cv[(cv["train_dataset"] == dataset) & (cv["test_dataset"] == dataset)
                 & (cv["variant"] == variant) & (cv["model"] == model)]
        if len(row):
            r = row.iloc[0]
            return {"auc": float(r["auc_mean"]), "ci_low": _num(r.get("auc_ci_low")),
                    "ci_high": _num(r.get("auc_ci_high")), "from": f"{int(r['folds'])}-fold mean"}
    row = _own(run["results"], dataset, variant, SPLIT, model)
    if len(row):
        r = row.iloc[0]
        return {"auc": float(r["auc"]), "ci_low": _num(r.get("auc_ci_low")), "ci_high": _num(r.get("auc_ci_high")),
                "from": "test split"}
    return {"auc": float("nan"), "ci_low": None, "ci_high": None, "from": "not run"}


def _num(v) -> float | None:
    try:
        v = float(v)
    except (TypeError, ValueError):
        return None
    return v if v == v else None


def summarise(run: dict) -> dict:
    """``summary.json``: per dataset the verdict and its numbers; the cross-dataset figures."""
    cfg = run["config"]
    models = cfg.get("models", [])
    model = models[0] if models else None
    out = {"run": str(run["dir"]), "name": cfg.get("name"), "model": model, "datasets": {}, "cross": [],
           "rule": rule.RULE, "rule_error_rates": measured_sentence()}
    for d in cfg.get("datasets", []):
        name = d["name"]
        title = d.get("title") or name
        boxed_ci = _auc(run, name, "lungs_boxed_out", model)
        fixed_ci = _auc(run, name, FIXED, model)
        original_ci = _auc(run, name, "original", model)
        boxed, original = boxed_ci["auc"], original_ci["auc"]
        audit = run["audits"].get(name) or {}
        probes = run.get("probes", {}).get(name, {})
        decision = rule.decide(boxed_ci, fixed_ci, audit, probes)
        v, kind, reason = decision.strength or rule.INCOMPLETE, decision.kind, decision.reason
        split_aucs = {}
        for variant in cfg.get("variants", []):
            row = _own(run["results"], name, variant, SPLIT, model)
            split_aucs[variant] = float(row["auc"].iloc[0]) if len(row) else None
        out["datasets"][name] = {
            "title": title, "verdict": v, "verdict_kind": kind, "reason": reason,
            "sentence": f"{title}: {kind}: {reason}.",
            "strength": rule.sentence(title, v, boxed, original, boxed_ci["ci_low"]),
            "note": rule.confounder_note(audit, v) if not probes else "",
            "auc_original": original, "auc_original_ci": [original_ci["ci_low"], original_ci["ci_high"]],
            "auc_lungs_boxed_out": boxed, "auc_lungs_boxed_out_ci": [boxed_ci["ci_low"], boxed_ci["ci_high"]],
            "auc_lungs_boxed_out_fixed_box": fixed_ci["auc"],
            "auc_lungs_boxed_out_fixed_box_ci": [fixed_ci["ci_low"], fixed_ci["ci_high"]],
            "auc_from": boxed_ci["from"], "auc_original_from": original_ci["from"],
            "test_auc_by_variant": split_aucs,
            "evidence": decision.evidence,
            "audit_verdict": audit.get("verdict"), "cramers_v": audit.get("cramers_v"),
            "source_only_auc": audit.get("source_only_auc"),
            "flagged_properties": audit.get("flagged_properties", []),
            "external_estimate": _external(run, name),
            "remedies": _remedies(run, name),
        }
    res = run["results"]
    if not res.empty:
        cross = res[(res["train_dataset"] != res["test_dataset"]) & (res["model"] == model)
                    & res["protocol"].isin([SPLIT, CV])]
        for (a, b), g in cross.groupby(["train_dataset", "test_dataset"]):
            split = g[g["protocol"] == SPLIT]
            folds = g[g["protocol"] == CV]
            ci = mean_ci(folds["auc"].to_numpy()) if len(folds) else {}
            out["cross"].append({
                "train": a, "test": b,
                "auc": float(split["auc"].iloc[0]) if len(split) else None,
                "auc_ci": [_num(split["auc_ci_low"].iloc[0]), _num(split["auc_ci_high"].iloc[0])]
                if len(split) and "auc_ci_low" in split.columns else [None, None],
                "cv_auc_ci": [ci.get("ci_low"), ci.get("ci_high")],
                "sensitivity": float(split["sensitivity_at_05"].iloc[0]) if len(split) else None,
                "specificity": float(split["specificity_at_05"].iloc[0]) if len(split) else None,
                "cv_auc_mean": float(folds["auc"].mean()) if len(folds) else None,
                "cv_auc_std": float(folds["auc"].std(ddof=1)) if len(folds) > 1 else None,
                "cv_accuracy_mean": float(folds["accuracy"].mean()) if len(folds) else None,
                "cv_sensitivity_mean": float(folds["sensitivity_at_05"].mean()) if len(folds) else None,
                "cv_specificity_mean": float(folds["specificity_at_05"].mean()) if len(folds) else None})
            c = out["cross"][-1]
            cv = c["cv_auc_mean"] is not None
            decision = cross_rule.decide(
                a, b, c["cv_auc_mean"] if cv else c["auc"], tuple(c["cv_auc_ci"] if cv else c["auc_ci"]),
                c["cv_sensitivity_mean" if cv else "sensitivity"], c["cv_specificity_mean" if cv else "specificity"],
                where="cross-validation mean " if cv else "")
            c.update(kind=decision.kind, sentence=decision.reason)
    return out


def _remedies(run: dict, dataset: str) -> dict | None:
    """The dataset's "What to do" (:mod:`cxr_isi.study.remedies`); None where no remedy ran."""
    from cxr_isi.study.remedies import remedy_summary

    res = run["results"]
    if res.empty or "remedy" not in res.columns:
        return None
    external = [d["name"] for d in run["config"].get("datasets", []) if not d.get("train", True)]
    mine = res[(res["train_dataset"] == dataset) & (res["protocol"] == "loso")]
    left_out = sorted(mine["holdout"].dropna().astype(str).unique()) if len(mine) else []
    return remedy_summary(run["folder"], res, dataset, external, left_out)


def _external(run: dict, dataset: str) -> dict | None:
    """The dataset's expected AUC on data from elsewhere (:mod:`cxr_isi.study.elsewhere`), with
    its sentence; None where the run lacks the figures it needs."""
    size = (run["config"].get("train") or {}).get("size")
    e = estimate_for(run["results"], dataset, size) if not run["results"].empty else None
    if e is not None:
        e["sentence"] = external_sentence(e)
    return e
