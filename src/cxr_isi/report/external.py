"""The external-AUC benchmark's tables (issue 24), and the estimate a run's summary carries.

From every finished pair of ``cxr-isi external``: the figures at home (the original model's test
AUC, the fixed-box and tile-shuffled AUCs, PEst's pixel-shuffled AUC), the AUC measured
elsewhere, then per pair this project's estimate and interval by leave-one-pair-out
(:mod:`cxr_isi.evaluate.external`) beside PEst's, and each estimator's mean absolute error and
interval coverage, over all pairs and over the real ones alone.

Files written into the benchmark folder: ``external_pairs.csv`` (one row per pair),
``external.json`` (all of it: the fitted line, the errors, the targets), ``external.md`` (the
README's tables) and ``external_model.json``: the line fitted on every pair with its interval's
half-width, which ships beside this module as ``external_model.json`` (copy a new one there to
ship new figures) and gives every run's summary its "expected AUC on data from elsewhere".
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd

from cxr_isi._io import write_csv, write_json
from cxr_isi.evaluate import external as est
from cxr_isi.experiments.external import ELSEWHERE, HOME, REAL, ExternalConfig, Pair, pair_dir, pairs
from cxr_isi.experiments.runfolder import RESULTS, RunFolder
from cxr_isi.logs import get_logger
from cxr_isi.probes.pest import pest

log = get_logger("report")
SHIPPED = Path(__file__).with_name("external_model.json")
TARGETS = {"mae": 0.05, "coverage": 0.90}
FIXED, ACQ = "lungs_boxed_out_fixed_box", "lungs_boxed_out_fixed_box_blocks"


def _split_row(results: pd.DataFrame, train: str, test: str, variant: str) -> dict | None:
    r = results[(results["protocol"] == "split") & (results["train_dataset"] == train)
                & (results["test_dataset"] == test) & (results["variant"] == variant)]
    if r.empty:
        return None
    row = r.iloc[0]
    return {"auc": float(row["auc"]), "se": float(row.get("auc_se", np.nan)), "ci_low": float(row["auc_ci_low"]),
            "ci_high": float(row["auc_ci_high"]), "n": int(row["n"])}


def home_figures(results: pd.DataFrame, dataset: str, size: int | None = None) -> dict:
    """What a run measures at home for ``dataset``: ``internal``, ``fixed_box``, ``acquisition``,
    ``shuffled`` (PEst's model) as ``auc_ci``-like dicts, each None where it did not run."""
    variants = set(results["variant"]) if len(results) else set()
    acq = next((v for v in sorted(variants) if v.startswith(ACQ)), None)
    shuffled = f"original_blocks{size}" if size else next((v for v in sorted(variants)
                                                            if v.startswith("original_blocks")), None)
    return {"internal": _split_row(results, dataset, dataset, "original"),
            "fixed_box": _split_row(results, dataset, dataset, FIXED),
            "acquisition": _split_row(results, dataset, dataset, acq) if acq else None,
            "shuffled": _split_row(results, dataset, dataset, shuffled) if shuffled else None}


def pair_row(out: Path, pair: Pair) -> dict | None:
    """One finished pair's figures (None when its run folder holds no results yet)."""
    folder = RunFolder(pair_dir(out, pair))
    results = folder.table(RESULTS)
    if results.empty:
        return None
    home = home_figures(results, HOME)
    away = _split_row(results, HOME, ELSEWHERE, "original")
    auc = lambda f: None if f is None else f["auc"]  # noqa: E731
    row = {"pair": pair.name, "kind": pair.kind, "level": pair.level, "seed": pair.seed, "real": pair.kind == REAL,
           "internal": auc(home["internal"]), "fixed_box": auc(home["fixed_box"]),
           "acquisition": auc(home["acquisition"]), "shuffled": auc(home["shuffled"]),
           "external": auc(away), "external_n": None if away is None else away["n"]}
    if home["internal"] and home["shuffled"]:
        p = pest(home["internal"], home["shuffled"])
        row.update(pest=p["estimate"], pest_low=p["ci_low"], pest_high=p["ci_high"])
    return row


def pair_table(out: Path, cfg: ExternalConfig) -> pd.DataFrame:
    """Every finished pair's row, with this project's leave-one-pair-out estimate beside PEst."""
    rows = [r for r in (pair_row(Path(out), p) for p in pairs(cfg)) if r is not None]
    table = pd.DataFrame(rows)
    if table.empty:
        return table
    usable = table.dropna(subset=[*est.FEATURES, "external"])
    if len(usable) >= len(est.FEATURES) + 3:
        lopo = est.leave_one_pair_out(usable)
        table = table.join(lopo)
    return table


def summary_of(table: pd.DataFrame) -> dict:
    """Mean absolute error and coverage of each estimator, over all pairs and the real ones."""
    out = {}
    for scope, t in (("all", table), ("real", table[table["real"]] if len(table) else table)):
        out[scope] = {name: est.errors(t, col, lo, hi) if col in t.columns else {"n": 0}
                      for name, (col, lo, hi) in {"this estimate": ("estimate", "ci_low", "ci_high"),
                                                  "PEst": ("pest", "pest_low", "pest_high"),
                                                  "internal AUC": ("internal", "internal", "internal")}.items()}
    return out


def markdown(table: pd.DataFrame, errors: dict, model: dict | None) -> str:
    """The README's tables: per pair, then the errors."""
    f = lambda v: "–" if v is None or v != v else f"{v:.2f}"  # noqa: E731
    lines = ["| pair | at home | fixed box | tile-shuffled | PEst | this estimate (95%) | measured elsewhere |",
             "|---|---|---|---|---|---|---|"]
    for r in table.itertuples():
        interval = f" ({f(getattr(r, 'ci_low', None))}-{f(getattr(r, 'ci_high', None))})"
        lines.append(f"| {r.pair} | {f(r.internal)} | {f(r.fixed_box)} | {f(r.acquisition)} | "
                     f"{f(getattr(r, 'pest', None))} | {f(getattr(r, 'estimate', None))}{interval} | {f(r.external)} |")
    lines += ["", "| pairs | estimator | n | mean absolute error | 95% interval covers |", "|---|---|---|---|---|"]
    for scope, by in errors.items():
        for name, e in by.items():
            if e.get("n"):
                cover = "–" if name == "internal AUC" else f"{e['coverage']:.0%}"
                lines.append(f"| {scope} | {name} | {e['n']} | {e['mae']:.3f} | {cover} |")
    if model:
        lines += ["", f"The line a run uses: {est.formula(model)}."]
    return "\n".join(lines) + "\n"


def write_external(out: str | Path, cfg: ExternalConfig) -> dict:
    """Read every finished pair; write the tables, the JSON and the shipped-model candidate."""
    out = Path(out)
    table = pair_table(out, cfg)
    if table.empty:
        raise ValueError(f"{out}: no finished pair to read")
    errors = summary_of(table)
    usable = table.dropna(subset=[*est.FEATURES, "external"])
    model = est.shipped_model(usable) if len(usable) >= len(est.FEATURES) + 3 else None
    targets = []
    mine, base = errors["all"]["this estimate"], errors["all"]["PEst"]
    if mine.get("n"):
        targets = [{"target": f"mean absolute error <= {TARGETS['mae']}", "measured": mine["mae"],
                    "met": bool(mine["mae"] <= TARGETS["mae"])},
                   {"target": "below PEst's on the same pairs", "measured": mine["mae"],
                    "met": bool(base.get("n") and mine["mae"] < base["mae"])},
                   {"target": f"95% intervals cover >= {TARGETS['coverage']:.0%}", "measured": mine["coverage"],
                    "met": bool(mine["coverage"] >= TARGETS["coverage"])}]
    write_csv(out / "external_pairs.csv", table)
    result = {"config": cfg.model_dump(mode="json"), "pairs": table.to_dict("records"), "errors": errors,
              "model": model, "targets": targets}
    write_json(out / "external.json", result)
    if model:
        write_json(out / "external_model.json", model)
    (out / "external.md").write_text(markdown(table, errors, model))
    return result


def shipped() -> dict | None:
    """The line shipped with this version (None when absent or unreadable)."""
    try:
        return json.loads(SHIPPED.read_text())
    except (OSError, ValueError):
        return None


def estimate_for(results: pd.DataFrame, dataset: str, size: int | None = None) -> dict | None:
    """A run's "expected AUC on data from elsewhere" for ``dataset``: the shipped line on its
    figures at home, with PEst's where its pixel-shuffled model ran; None without the line or
    the figures (the fixed box and the acquisition probe)."""
    model = shipped()
    home = home_figures(results, dataset, size)
    if model is None or not home["internal"]:
        return None
    auc = lambda k: None if home[k] is None else home[k]["auc"]  # noqa: E731
    e = est.estimate(model, auc("internal"), auc("fixed_box"), auc("acquisition"))
    if e is None:
        return None
    e.update(internal=auc("internal"), internal_ci=[home["internal"]["ci_low"], home["internal"]["ci_high"]],
             formula=est.formula(model))
    if home["shuffled"]:
        e["pest"] = pest(home["internal"], home["shuffled"])
    return e


def sentence(e: dict) -> str:
    """``expected AUC on data from elsewhere: 0.xx (95% interval a-b); measured at home 0.xx``."""
    text = (f"expected AUC on data from elsewhere: {e['estimate']:.2f} ({e['confidence']:.0%} interval "
            f"{e['ci_low']:.2f}-{e['ci_high']:.2f}); measured at home {e['internal']:.2f}")
    if e.get("pest"):
        text += f" (PEst: {e['pest']['estimate']:.2f})"
    return text
