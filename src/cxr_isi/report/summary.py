"""The verdict per dataset, from the run's tables and probes: can a model read the label without
the lungs, and if so, what does it read?

The deciding number is the AUC of the lungs-boxed-out set with its 95% interval (the
cross-validation mean with a t interval over folds when the run has it, else the single split's
test AUC with DeLong's interval). Its strength (``verdict``), with cut-offs stated so a reader can
disagree: ``shortcut`` at >= 0.80, ``no shortcut found`` at <= 0.65, ``partial shortcut`` between.

What it is (``verdict_kind``), decided in this order (:data:`RULE`):

1. no lungs-boxed-out result: ``inconclusive``;
2. boxed-out AUC <= 0.65: ``no shortcut found``; its interval reaching 0.55: ``inconclusive``;
3. the audit finds the sources split by class and the boxed-out AUC with the *fixed* box (one
   box for every image) stays >= 0.75 (the per-image box's AUC where the run has no fixed box):
   ``source shortcut``;
4. the lung geometry alone predicts the label (probe ``geometry`` >= 0.70) and the fixed box
   brings the boxed-out AUC to <= 0.65: ``protocol leak: lung geometry``;
5. the tile-shuffled model reads the label (probe ``acquisition``) or the residual vanishes
   within levels of a flagged property (probe ``confounders``): ``acquisition shortcut``;
6. the residual vanishes within levels of a cause the ``causes`` probe sees (burned-in text,
   small bright objects, soft tissue beside the lungs), with the confounders' thresholds:
   ``named cause``, the reason naming it;
7. otherwise: ``inconclusive`` (readable outside the lungs, explained by no probe).

From step 3 on, where the ``regions`` probe finds regions outside the fixed box that carry the
label, the reason ends with them ("where: top band, AUC 0.78 (95% CI 0.71-0.85)").
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from cxr_isi.evaluate.metrics import mean_ci
from cxr_isi.experiments.probes import read_probe_results
from cxr_isi.experiments.results import checked_results
from cxr_isi.experiments.runfolder import ATTENTION, CV, CV_TABLE, DELONG_TABLE, SPLIT, RunFolder
from cxr_isi.probes import acquisition, confounders, geometry, regions
from cxr_isi.probes.base import fmt_ci

SHORTCUT, PARTIAL, NONE, INCOMPLETE = "shortcut", "partial shortcut", "no shortcut found", "incomplete"
SHORTCUT_AUC, CHANCE_AUC = 0.80, 0.65
SOURCE, ACQUISITION, GEOMETRY, CAUSE, INCONCLUSIVE = ("source shortcut", "acquisition shortcut",
                                                      "protocol leak: lung geometry", "named cause", "inconclusive")
KINDS = (SOURCE, ACQUISITION, GEOMETRY, CAUSE, NONE, INCONCLUSIVE)
SOURCE_FIXED_AUC, CHANCE_LOW = 0.75, 0.55
RULE = ("The verdict names what the model reads, in this order: (1) no lungs-boxed-out result: inconclusive; "
        f"(2) boxed-out AUC <= {CHANCE_AUC:.2f}: no shortcut found, or its 95% interval reaching {CHANCE_LOW:.2f}: "
        "inconclusive; (3) the audit finds the sources split by class and the boxed-out AUC with the fixed box "
        f"(one box for every image) stays >= {SOURCE_FIXED_AUC:.2f}: source shortcut; (4) the lung mask's geometry "
        f"alone predicts the label (AUC >= {geometry.EXPLAINS_AUC:.2f}) and the fixed box brings the boxed-out AUC to "
        f"<= {CHANCE_AUC:.2f}: protocol leak: lung geometry; (5) a model on tile-shuffled images reads the label "
        f"(AUC >= {acquisition.EXPLAINS_AUC:.2f}, interval above {acquisition.EXPLAINS_LOW:.2f}), or the boxed-out "
        "AUC falls by "
        f">= {confounders.DROP:.2f} to <= {confounders.CEILING:.2f} within levels of a flagged acquisition property: "
        "acquisition shortcut; (6) the boxed-out AUC falls as in (5) within levels of a cause seen outside the "
        "lungs (burned-in text, small bright objects, soft tissue beside the lungs): named cause; (7) otherwise: "
        "inconclusive (readable outside the lungs, explained by no probe). From (3) on, the regions outside the "
        f"fixed box that carry the label (AUC >= {regions.CARRIES_AUC:.2f}, Bonferroni interval above "
        f"{regions.CARRIES_LOW:.2f}) are named. "
        f"Its strength by the boxed-out AUC: shortcut at >= {SHORTCUT_AUC:.2f}, partial between {CHANCE_AUC:.2f} "
        f"and {SHORTCUT_AUC:.2f}.")


def thresholds() -> dict[str, float]:
    """Every threshold :data:`RULE` decides with (the ones the error rates were measured with)."""
    return {"shortcut_auc": SHORTCUT_AUC, "chance_auc": CHANCE_AUC, "chance_low": CHANCE_LOW,
            "source_fixed_auc": SOURCE_FIXED_AUC, "geometry_auc": geometry.EXPLAINS_AUC,
            "acquisition_auc": acquisition.EXPLAINS_AUC, "acquisition_low": acquisition.EXPLAINS_LOW,
            "confounder_drop": confounders.DROP, "confounder_ceiling": confounders.CEILING}


FIXED = "lungs_boxed_out_fixed_box"
# what each probe that can explain a residual tried, for an inconclusive verdict's reason
TRIED = {"geometry": "the lung mask's geometry", "acquisition": "tile-shuffled intensities",
         "confounders": "the audit's flagged properties", "causes": "burned-in text, small bright objects and "
         "soft tissue beside the lungs"}


def load_run(run_dir: Path) -> dict:
    """Every table and record of a run folder; a missing piece is an empty table or None."""
    run = RunFolder(run_dir)
    results = checked_results(run)  # the records and the table, checked against what they came from
    config = run.config()
    if results.empty:  # a run killed before its tables were written: read its finished jobs
        from cxr_isi.experiments.plan import Job
        from cxr_isi.experiments.results import results_table

        results = results_table(run, [Job.from_dict(j) for j in run.job_list()])
    return {"dir": run.root, "folder": run, "config": config, "run": run.run_record(),
            "results": results, "cv": run.table(CV_TABLE), "delong": run.table(DELONG_TABLE),
            "attention": run.table(ATTENTION),
            "audits": {d["name"]: run.audit(d["name"]) for d in config.get("datasets", [])},
            "probes": read_probe_results(run.root)}


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


def verdict_for(boxed_out: float, ci_low: float | None = None) -> str:
    """How strong the shortcut is by the boxed-out AUC; a figure above chance whose 95% interval
    reaches ``CHANCE_LOW`` is inconclusive, as in the run's verdict (:data:`RULE` step 2)."""
    if boxed_out != boxed_out:
        return INCOMPLETE
    if boxed_out > CHANCE_AUC and ci_low is not None and ci_low == ci_low and ci_low <= CHANCE_LOW:
        return INCONCLUSIVE
    if boxed_out >= SHORTCUT_AUC:
        return SHORTCUT
    if boxed_out <= CHANCE_AUC:
        return NONE
    return PARTIAL


def _ci_text(a: dict) -> str:
    return fmt_ci(a["auc"], a["ci_low"], a["ci_high"])


def verdict_kind(boxed: dict, fixed: dict, audit: dict | None, probes: dict[str, dict]) -> tuple[str, str]:
    """What the model reads, by :data:`RULE`; the kind and the reason in one sentence (ending
    with the regions that carry the label, where the ``regions`` probe found any)."""
    kind, reason = _kind(boxed, fixed, audit, probes)
    where = ((probes.get("regions") or {}).get("details") or {}).get("where")
    if where and verdict_for(boxed["auc"], boxed["ci_low"]) not in (INCOMPLETE, NONE, INCONCLUSIVE):  # past step 2
        reason = f"{reason.rstrip('.')}; where: {where}"
    return kind, reason


def _kind(boxed: dict, fixed: dict, audit: dict | None, probes: dict[str, dict]) -> tuple[str, str]:
    b, f = boxed["auc"], fixed["auc"]
    if b != b:
        return INCONCLUSIVE, "no lungs-boxed-out result in this run"
    if b <= CHANCE_AUC:
        return NONE, f"without the lungs a model scores AUC {_ci_text(boxed)}, near chance"
    if boxed["ci_low"] is not None and boxed["ci_low"] <= CHANCE_LOW:
        return INCONCLUSIVE, f"the boxed-out AUC {_ci_text(boxed)} has an interval that reaches chance"
    audit = audit or {}
    split_by_class = audit.get("verdict") not in (None, "balanced")
    geometry, acquisition, confounders = (probes.get(k) or {} for k in ("geometry", "acquisition", "confounders"))
    decisive = f if f == f else b
    if split_by_class and decisive >= SOURCE_FIXED_AUC:
        where = (f"with one fixed box for every image it stays at {_ci_text(fixed)}" if f == f
                 else "no fixed-box control ran")
        return SOURCE, (f"the sources split by class (audit: {audit.get('verdict')}) and a model without the lungs "
                        f"scores AUC {_ci_text(boxed)}; {where}")
    if geometry.get("explains") and f == f and f <= CHANCE_AUC:
        return GEOMETRY, (f"the lung mask alone predicts the label (AUC {geometry['estimate']:.2f}) and with one fixed "
                          f"box for every image the boxed-out AUC falls from {b:.2f} to {_ci_text(fixed)}: the "
                          "per-image box, not the image, carried the label")
    if acquisition.get("explains") or confounders.get("explains"):
        why = [p["sentence"] for p in (acquisition, confounders) if p.get("explains")]
        return ACQUISITION, f"boxed-out AUC {_ci_text(boxed)}; " + " ".join(why)
    causes = probes.get("causes") or {}
    if causes.get("explains"):
        return CAUSE, f"boxed-out AUC {_ci_text(boxed)}; {causes['sentence']}"
    tried = [what for name, what in TRIED.items() if (probes.get(name) or {}).get("explains") is False]
    return INCONCLUSIVE, (f"the label is readable outside the lungs (boxed-out AUC {_ci_text(boxed)}"
                          + (f", fixed box {_ci_text(fixed)}" if f == f else "")
                          + ") and no probe of this run explains it"
                          + (f" (tried: {', '.join(tried)})" if tried else ""))


def evidence(boxed: dict, fixed: dict, probes: dict[str, dict]) -> list[dict]:
    """The figures behind a verdict: the boxed-out AUCs and every probe, each with its interval
    and one sentence."""
    out = [{"probe": "lungs_boxed_out", "figure": boxed["auc"], "ci_low": boxed["ci_low"],
            "ci_high": boxed["ci_high"], "sentence": f"lungs-boxed-out AUC ({boxed['from']})"}]
    if fixed["auc"] == fixed["auc"]:
        out.append({"probe": "fixed_box", "figure": fixed["auc"], "ci_low": fixed["ci_low"],
                    "ci_high": fixed["ci_high"], "sentence": f"lungs-boxed-out AUC with one box for every image "
                    f"({fixed['from']})"})
    for name, p in probes.items():
        out.append({"probe": name, "figure": p.get("estimate"), "ci_low": p.get("ci_low"), "ci_high": p.get("ci_high"),
                    "explains": p.get("explains"), "sentence": p.get("sentence", "")})
    return out


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
    if verdict == INCONCLUSIVE:
        return (f"{title}: without the lungs a model scores AUC {boxed:.2f} ({orig}), but its 95% interval "
                f"reaches {CHANCE_LOW}: too few images or folds to tell.")
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
        boxed_ci = _auc(run, name, "lungs_boxed_out", model)
        fixed_ci = _auc(run, name, FIXED, model)
        original_ci = _auc(run, name, "original", model)
        boxed, original = boxed_ci["auc"], original_ci["auc"]
        v = verdict_for(boxed, boxed_ci["ci_low"])
        audit = run["audits"].get(name) or {}
        probes = run.get("probes", {}).get(name, {})
        kind, reason = verdict_kind(boxed_ci, fixed_ci, audit, probes)
        split_aucs = {}
        for variant in cfg.get("variants", []):
            row = _own(run["results"], name, variant, SPLIT, model)
            split_aucs[variant] = float(row["auc"].iloc[0]) if len(row) else None
        out["datasets"][name] = {
            "title": title, "verdict": v, "verdict_kind": kind, "reason": reason,
            "sentence": f"{title}: {kind}: {reason}.",
            "strength": sentence(title, v, boxed, original),
            "note": confounder_note(audit, v) if not probes else "",
            "auc_original": original, "auc_original_ci": [original_ci["ci_low"], original_ci["ci_high"]],
            "auc_lungs_boxed_out": boxed, "auc_lungs_boxed_out_ci": [boxed_ci["ci_low"], boxed_ci["ci_high"]],
            "auc_lungs_boxed_out_fixed_box": fixed_ci["auc"],
            "auc_lungs_boxed_out_fixed_box_ci": [fixed_ci["ci_low"], fixed_ci["ci_high"]],
            "auc_from": boxed_ci["from"], "auc_original_from": original_ci["from"],
            "test_auc_by_variant": split_aucs,
            "evidence": evidence(boxed_ci, fixed_ci, probes),
            "audit_verdict": audit.get("verdict"), "cramers_v": audit.get("cramers_v"),
            "source_only_auc": audit.get("source_only_auc"),
            "flagged_properties": audit.get("flagged_properties", []),
            "external_estimate": _external(run, name),
        }
    res = run["results"]
    if not res.empty:
        cross = res[(res["train_dataset"] != res["test_dataset"]) & (res["model"] == model)]
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
    return out


def _external(run: dict, dataset: str) -> dict | None:
    """The dataset's expected AUC on data from elsewhere (:mod:`cxr_isi.report.external`), with
    its sentence; None where the run lacks the figures it needs."""
    from cxr_isi.report.external import estimate_for
    from cxr_isi.report.external import sentence as external_sentence

    size = (run["config"].get("train") or {}).get("size")
    e = estimate_for(run["results"], dataset, size) if not run["results"].empty else None
    if e is not None:
        e["sentence"] = external_sentence(e)
    return e


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
