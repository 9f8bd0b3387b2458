"""The verdict's error rates over seeds (issue 27): every case's verdict read by the run's own rule
(:func:`cxr_isi.report.summary.summarise`), then false alarms, each probe's false-positive rate and
how often its interval excludes chance on null data, power per shortcut level, the geometry leak's
detection rate, all with Wilson intervals; a table, a figure and the targets met or missed.

Files written into the benchmark folder: ``error_rates_cases.csv`` (one row per case: verdict,
figures, intervals), ``error_rates.csv`` (one row per case kind and level: rate of the right
verdict with its interval and the count of every other kind), ``error_rates_probes.csv`` (per
probe on the null cases), ``error_rates.json`` (all of it, the thresholds the rule ran with and
the targets), ``error_rates.png`` and ``error_rates.md`` (the README's tables), and
``error_rates_summary.json``: the few figures a report quotes beside the rule. The summary of the
benchmark behind this version ships as ``measured_error_rates.json`` beside this module (copy a
new ``error_rates_summary.json`` there to ship new figures); every report quotes it, and says so
when the rule's thresholds are no longer those it was measured with.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from cxr_isi._io import write_csv, write_json
from cxr_isi.evaluate.metrics import proportion_ci
from cxr_isi.experiments.error_rates import (
    CASES,
    DATASET,
    GEOMETRY,
    NULL_ALIKE,
    NULL_BALANCED,
    SHARE,
    STRENGTH,
    Case,
    ErrorRatesConfig,
    case_dir,
    cases,
)
from cxr_isi.experiments.runfolder import RunFolder
from cxr_isi.logs import get_logger
from cxr_isi.report.summary import (
    KINDS,
    PARTIAL,
    SHORTCUT,
    SOURCE_FIXED_AUC,
    _num,
    load_run,
    summarise,
    thresholds,
    verdict_for,
)

log = get_logger("report")
NULLS = (NULL_BALANCED, NULL_ALIKE)
PROBES = ("lungs_boxed_out", "fixed_box", "geometry", "acquisition", "confounders")
TITLES = {NULL_BALANCED: "null: sources balanced", NULL_ALIKE: "null: sources alike",
          SHARE: "source shortcut: majority share", STRENGTH: "source shortcut: fingerprint strength",
          GEOMETRY: "protocol leak: lung geometry"}
MEASURED = Path(__file__).with_name("measured_error_rates.json")
TARGETS = {"false_alarm_rate": 0.05, "false_alarm_upper": 0.15, "probe_false_positive_rate": 0.10,
           "probe_interval_excludes_chance": 0.05, "power_at_share_0.9": 0.80, "power_at_strength_0.1": 0.80,
           "geometry_named": 0.80}


def case_row(out: Path, case: Case) -> dict | None:
    """A finished case's verdict and figures (None while it has not finished)."""
    folder = RunFolder(case_dir(out, case))
    if not folder.is_run() or not folder.run_record().get("finished"):
        return None
    s = summarise(load_run(folder.root))["datasets"][DATASET]
    row = {"case": case.case, "level": case.level, "seed": case.seed, "truth": case.truth,
           "verdict": s["verdict_kind"], "right": s["verdict_kind"] == case.truth,
           "audit": s["audit_verdict"], "reason": s["reason"]}
    for e in s["evidence"]:
        if e["probe"] in PROBES:
            row.update({f"{e['probe']}_auc": e["figure"], f"{e['probe']}_ci_low": e["ci_low"],
                        f"{e['probe']}_ci_high": e["ci_high"], f"{e['probe']}_explains": e.get("explains")})
    return row


def _fires(row: pd.Series, probe: str) -> bool:
    """Whether a figure passes its own threshold in the rule: the boxed-out AUC above chance
    (step 2), the fixed box at the source threshold (step 3), a probe's ``explains``."""
    auc = _num(row.get(f"{probe}_auc"))
    if probe == "lungs_boxed_out":  # past step 2: neither chance nor an interval reaching it
        return auc is not None and verdict_for(auc, _num(row.get(f"{probe}_ci_low"))) in (SHORTCUT, PARTIAL)
    if probe == "fixed_box":
        return auc is not None and auc >= SOURCE_FIXED_AUC
    return bool(row.get(f"{probe}_explains") is True)


def _excludes_chance(row: pd.Series, probe: str) -> bool:
    low, high = _num(row.get(f"{probe}_ci_low")), _num(row.get(f"{probe}_ci_high"))
    return (low is not None and low > 0.5) or (high is not None and high < 0.5)


def rates(table: pd.DataFrame) -> pd.DataFrame:
    """Per case kind and level: the rate of the right verdict (Wilson 95%) and every kind's count."""
    rows = []
    for (case, level), g in table.groupby(["case", "level"], sort=False):
        r = proportion_ci(int(g["right"].sum()), len(g))
        rows.append({"case": case, "level": float(level), "truth": g["truth"].iloc[0], "seeds": len(g),
                     "right": r["k"], "rate": r["rate"], "ci_low": r["ci_low"], "ci_high": r["ci_high"],
                     **{kind: int((g["verdict"] == kind).sum()) for kind in KINDS}})
    return pd.DataFrame(rows)


def probe_rates(table: pd.DataFrame) -> pd.DataFrame:
    """On the null cases, per probe: how often it fires at its threshold and how often its 95%
    interval excludes 0.5 (either side), each with its Wilson interval."""
    null = table[table["case"].isin(NULLS)]
    rows = []
    for case, g in [("all nulls", null), *[(c, null[null["case"] == c]) for c in NULLS]]:
        for probe in PROBES:
            if f"{probe}_auc" not in g.columns:
                continue
            have = g[g[f"{probe}_auc"].notna()]
            fires = proportion_ci(sum(_fires(r, probe) for _, r in have.iterrows()), len(have))
            excl = proportion_ci(sum(_excludes_chance(r, probe) for _, r in have.iterrows()), len(have))
            rows.append({"case": case, "probe": probe, "seeds": len(have),
                         "mean_auc": float(have[f"{probe}_auc"].mean()) if len(have) else float("nan"),
                         "fires": fires["k"], "fire_rate": fires["rate"], "fire_ci_low": fires["ci_low"],
                         "fire_ci_high": fires["ci_high"], "excludes_chance": excl["k"],
                         "excludes_rate": excl["rate"], "excludes_ci_low": excl["ci_low"],
                         "excludes_ci_high": excl["ci_high"]})
    return pd.DataFrame(rows)


def power_level(r: pd.DataFrame, axis: str, power: float = 0.8) -> dict:
    """The lowest level of ``axis`` whose share of right verdicts reaches ``power``, with an
    interval: from the lowest level whose Wilson upper bound reaches it to the lowest whose
    lower bound does (None where none does)."""
    s = r[r["case"] == axis].sort_values("level")

    def first(col: str) -> float | None:
        hit = s[s[col] >= power]
        return float(hit["level"].iloc[0]) if len(hit) else None

    return {"axis": axis, "power": power, "level": first("rate"), "ci_low": first("ci_high"),
            "ci_high": first("ci_low")}


def _rate_of(r: pd.DataFrame, case: str, level: float | None = None) -> dict:
    g = r[r["case"] == case]
    if level is not None:
        g = g[np.isclose(g["level"], level)]
    if g.empty:
        return {"rate": None, "ci_low": None, "ci_high": None, "seeds": 0}
    k, n = int(g["right"].sum()), int(g["seeds"].sum())
    ci = proportion_ci(k, n)
    return {"rate": ci["rate"], "ci_low": ci["ci_low"], "ci_high": ci["ci_high"], "seeds": n}


def targets(r: pd.DataFrame, probes: pd.DataFrame) -> list[dict]:
    """Each of issue 27's targets: what it asks, what was measured, met or not (None: not run)."""
    null = r[r["case"].isin(NULLS)]
    k, n = int(null["seeds"].sum() - null["right"].sum()), int(null["seeds"].sum())
    fa = proportion_ci(k, n)
    allp = probes[probes["case"] == "all nulls"] if len(probes) else probes
    out = [{"target": "false alarms of the verdict on null data", "asked": "<= 5% (upper bound <= 15%)",
            "measured": fa, "met": None if n == 0 else bool(fa["rate"] <= TARGETS["false_alarm_rate"]
                                                             and fa["ci_high"] <= TARGETS["false_alarm_upper"])}]
    for p in allp.itertuples():
        if not p.seeds:  # never applicable here (confounders: the audit flags no property on phantoms)
            continue
        out.append({"target": f"{p.probe}: fires on null data", "asked": "<= 10%",
                    "measured": {"rate": p.fire_rate, "ci_low": p.fire_ci_low, "ci_high": p.fire_ci_high,
                                 "k": p.fires, "n": p.seeds},
                    "met": bool(p.fire_rate <= TARGETS["probe_false_positive_rate"])})
        out.append({"target": f"{p.probe}: 95% interval excludes 0.5 on null data", "asked": "<= 5%",
                    "measured": {"rate": p.excludes_rate, "ci_low": p.excludes_ci_low,
                                 "ci_high": p.excludes_ci_high, "k": p.excludes_chance, "n": p.seeds},
                    "met": bool(p.excludes_rate <= TARGETS["probe_interval_excludes_chance"])})
    for case, level, key in ((SHARE, 0.9, "power_at_share_0.9"), (STRENGTH, 0.1, "power_at_strength_0.1")):
        m = _rate_of(r, case, level)
        out.append({"target": f"power at {case.replace('_', ' ')} {level:g}", "asked": ">= 80%", "measured": m,
                    "met": None if m["rate"] is None else bool(m["rate"] >= TARGETS[key])})
    g = _rate_of(r, GEOMETRY)
    out.append({"target": "geometry leak named", "asked": ">= 80%", "measured": g,
                "met": None if g["rate"] is None else bool(g["rate"] >= TARGETS["geometry_named"])})
    return out


def rate_text(m: dict) -> str:
    """``12% (5%-25%)``: a rate with its interval, or ``not run``."""
    if m.get("rate") is None or m["rate"] != m["rate"]:
        return "not run"
    return f"{m['rate']:.0%} ({m['ci_low']:.0%}-{m['ci_high']:.0%})"


def markdown(r: pd.DataFrame, probes: pd.DataFrame, goals: list[dict], power: list[dict]) -> str:
    """The README's tables: verdicts per case and level, the probes on null data, the targets."""
    lines = ["| case | level | seeds | right verdict | rate (95% Wilson) | other verdicts |",
             "|---|---:|---:|---|---|---|"]
    for x in r.to_dict("records"):
        others = ", ".join(f"{kind} {x[kind]}" for kind in KINDS if kind != x["truth"] and x[kind])
        lines.append(f"| {TITLES.get(x['case'], x['case'])} | {x['level']:g} | {x['seeds']} | {x['truth']} | "
                     f"{rate_text(x)} | {others or '-'} |")
    lines += ["", "| probe (null data) | seeds | mean AUC | fires at its threshold | interval excludes 0.5 |",
              "|---|---:|---:|---|---|"]
    for p in probes[probes["case"] == "all nulls"].itertuples():
        if not p.seeds:
            lines.append(f"| {p.probe} | 0 | - | not applicable on these phantoms | - |")
            continue
        fires = {"rate": p.fire_rate, "ci_low": p.fire_ci_low, "ci_high": p.fire_ci_high}
        excludes = {"rate": p.excludes_rate, "ci_low": p.excludes_ci_low, "ci_high": p.excludes_ci_high}
        lines.append(f"| {p.probe} | {p.seeds} | {p.mean_auc:.2f} | {rate_text(fires)} | {rate_text(excludes)} |")
    lines += ["", "| target | asked | measured | met |", "|---|---|---|---|"]
    for g in goals:
        met = {True: "yes", False: "**no**", None: "not run"}[g["met"]]
        lines.append(f"| {g['target']} | {g['asked']} | {rate_text(g['measured'])} | {met} |")
    for p in power:
        if p["ci_low"] is None:
            continue
        s = r[r["case"] == p["axis"]]
        seeds = int(s["seeds"].max()) if len(s) else 0
        top = (f"{p['ci_high']:g}, the lowest whose lower bound does" if p["ci_high"] is not None else
               f"beyond the levels run: with {seeds} seeds a level, even {seeds} of {seeds} bounds the rate "
               f"only from {proportion_ci(seeds, seeds)['ci_low']:.0%}")
        lines += ["", f"Power reaches 80% on {p['axis'].replace('_', ' ')} at "
                      f"{'none of the levels run' if p['level'] is None else format(p['level'], 'g')} (interval: "
                      f"from {p['ci_low']:g}, the lowest level whose Wilson upper bound reaches 80%, to {top})."]
    return "\n".join(lines) + "\n"


def figure(r: pd.DataFrame, path: Path) -> Path:
    """Power curves (share of seeds naming the source shortcut, Wilson bands) on both axes, with
    the null cases' false-alarm rates and the geometry leak's detection rate as reference lines."""
    from cxr_isi.report.figures import _plt, save

    plt = _plt()
    fig, axes = plt.subplots(1, 2, figsize=(10, 4), sharey=True)
    for ax, axis in zip(axes, (SHARE, STRENGTH), strict=True):
        s = r[r["case"] == axis].sort_values("level")
        if len(s):
            ax.plot(s["level"], s["rate"], "o-", color="tab:red", label="power: source shortcut named")
            ax.fill_between(s["level"], s["ci_low"], s["ci_high"], color="tab:red", alpha=0.15)
        for case, colour in ((NULL_BALANCED, "tab:blue"), (NULL_ALIKE, "tab:green")):
            m = _rate_of(r, case)
            if m["rate"] is not None:
                ax.axhline(1 - m["rate"], color=colour, ls="--",
                           label=f"false alarms, {TITLES[case]}: {1 - m['rate']:.0%}")
        g = _rate_of(r, GEOMETRY)
        if g["rate"] is not None:
            ax.axhline(g["rate"], color="tab:purple", ls=":", label=f"geometry leak named: {g['rate']:.0%}")
        ax.axhline(0.8, color="grey", lw=0.8)
        if axis == STRENGTH:
            ax.set_xscale("log")
            ax.minorticks_off()
        if len(s):
            ax.set_xticks(s["level"].tolist(), [f"{x:g}" for x in s["level"]])
        ax.set_xlabel(axis.replace("_", " ") + (" (at majority share 1.0)" if axis == STRENGTH else ""))
        ax.set_ylim(-0.02, 1.02)
    axes[0].set_ylabel("share of seeds")
    labelled = [ax for ax in axes if ax.get_legend_handles_labels()[0]]
    if labelled:
        labelled[0].legend(fontsize=7, loc="center right")
    fig.suptitle("How often the verdict is right: power and false alarms (95% Wilson bands)")
    return save(fig, path)


def summary_of(result: dict) -> dict:
    """The figures a report quotes: thresholds, seeds, false alarms, power at the targets' levels,
    the geometry leak, and where power reaches 80%."""
    def target(name: str) -> dict | None:
        return next((t["measured"] for t in result["targets"] if t["target"] == name), None)

    cfg = result["config"]
    return {"thresholds": result["thresholds"], "measured": result.get("measured"),
            "seeds": {"null": cfg["null_seeds"], "power": cfg["power_seeds"], "geometry": cfg["geometry_seeds"],
                      "first": cfg["first_seed"]},
            "phantoms": {"n": cfg["n"], "size": cfg["size"], "epochs": cfg["epochs"], "folds": cfg["folds"]},
            "false_alarms": target("false alarms of the verdict on null data"),
            "power_share_0.9": target("power at majority share 0.9"),
            "power_strength_0.1": target("power at fingerprint strength 0.1"),
            "geometry_named": target("geometry leak named"), "power_80": result["power"]}


def measured() -> dict | None:
    """The error-rate summary shipped with this version (None when absent or unreadable)."""
    import json

    try:
        return json.loads(MEASURED.read_text())
    except (OSError, ValueError):
        return None


def measured_sentence() -> str:
    """One sentence for the report beside the rule: how often this rule was wrong where the answer
    is known, or that its thresholds changed since that was measured."""
    m = measured()
    if not m:
        return ""
    if m["thresholds"] != thresholds():
        changed = ", ".join(f"{k} {m['thresholds'].get(k)} -> {v}" for k, v in thresholds().items()
                            if m["thresholds"].get(k) != v)
        return (f"The rule's thresholds changed since its error rates were measured ({changed}): "
                "its false-alarm rate and power are unknown until `cxr-isi error-rates` runs again.")
    seeds, ph, fa = m["seeds"], m["phantoms"], m["false_alarms"]
    p9, p1, g = m["power_share_0.9"] or {}, m["power_strength_0.1"] or {}, m["geometry_named"] or {}
    levels = [f"{p['axis'].replace('_', ' ')} {p['level']:g}" for p in m.get("power_80", [])
              if p.get("level") is not None]
    reach = f" (80% reached from a {' and a '.join(levels)})" if levels else ""
    return (f"How often this rule is wrong, measured with these thresholds on phantoms whose answer is known "
            f"({m.get('measured') or 'this version'}; {ph['n']} phantoms of {ph['size']} px, {ph['folds']}-fold, "
            f"seeds from {seeds['first']}; 95% Wilson intervals): on {fa['n']} datasets with no shortcut it "
            f"said something other than 'no shortcut found' {rate_text(fa)} of the time; it named the source "
            f"shortcut {rate_text(p9)} of the time at a majority share of 0.9 and {rate_text(p1)} at a "
            f"fingerprint strength of 0.1{reach}, and the lung-geometry leak {rate_text(g)}. Measured with the "
            "geometry, acquisition and confounders probes: the causes probe (step 6) and the regions a reason names "
            "were not part of it. Phantoms are not "
            "hospitals: these rates hold for shortcuts like theirs (README: 'How often is the verdict wrong?').")


def _with_shared_point(table: pd.DataFrame, cfg: ErrorRatesConfig) -> pd.DataFrame:
    """The cases of majority share 1.0 also as the strength axis's 1.0 (the same phantoms, run
    once), so both curves end where they meet."""
    if not (1.0 in cfg.majority_share and 1.0 in cfg.fingerprint_strength):
        return table
    shared = table[(table["case"] == SHARE) & np.isclose(table["level"], 1.0)].assign(case=STRENGTH)
    both = pd.concat([table, shared], ignore_index=True)
    order = {c: i for i, c in enumerate(CASES)}
    return both.sort_values(["case", "level", "seed"], key=lambda c: c.map(order) if c.name == "case" else c)


def write_error_rates(out: str | Path, cfg: ErrorRatesConfig) -> dict:
    """Read every finished case and write the tables, the figure and the JSON; returns the JSON's
    content (``cases`` and ``rates`` as records, ``targets``, ``power``, ``thresholds``)."""
    out = Path(out)
    rows, missing = [], []
    for case in cases(cfg):
        row = case_row(out, case)
        (rows.append(row) if row is not None else missing.append(case.name))
    if missing:
        log.warning("%d of %d cases have not finished (first: %s); the rates leave them out",
                    len(missing), len(missing) + len(rows), missing[0])
    table = pd.DataFrame(rows)
    order = {c: i for i, c in enumerate(CASES)}
    if len(table):
        table = table.sort_values(["case", "level", "seed"], key=lambda c: c.map(order) if c.name == "case" else c)
    r = rates(_with_shared_point(table, cfg)) if len(table) else pd.DataFrame()
    p = probe_rates(table) if len(table) else pd.DataFrame()
    goals = targets(r, p) if len(r) else []
    power = [power_level(r, a) for a in (SHARE, STRENGTH)] if len(r) else []
    write_csv(out / "error_rates_cases.csv", table)
    write_csv(out / "error_rates.csv", r)
    write_csv(out / "error_rates_probes.csv", p)
    (out / "error_rates.md").write_text(markdown(r, p, goals, power) if len(r) else "no finished case\n")
    fig = figure(r, out / "error_rates.png") if len(r) else None
    result = {"config": cfg.model_dump(mode="json"), "thresholds": thresholds(), "finished": len(rows),
              "missing": missing, "rates": r.to_dict("records"), "probes": p.to_dict("records"),
              "targets": goals, "power": power, "figure": str(fig) if fig else None}
    write_json(out / "error_rates.json", result)
    if goals:
        import datetime

        result["measured"] = datetime.date.today().isoformat()
        write_json(out / "error_rates_summary.json", summary_of(result))
    return result
