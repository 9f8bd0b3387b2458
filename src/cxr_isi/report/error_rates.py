"""The error-rate benchmark's rendering (issue 27): the documentation's tables (``error_rates.md``) and
the power figure (``error_rates.png``) from the rates :mod:`cxr_isi.studies.error_rates` reads
off every finished case (each case's verdict by the run's own rule). The rates shipped with this
version, quoted under the rule in every report, live beside the rule
(:mod:`cxr_isi.verdict.error_rates`)."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from cxr_isi._io import write_json
from cxr_isi.evaluate.metrics import proportion_ci
from cxr_isi.studies.cases import GEOMETRY, NULL_ALIKE, NULL_BALANCED, SHARE, STRENGTH, rate_of
from cxr_isi.verdict.error_rates import rate_text
from cxr_isi.verdict.kinds import KINDS

TITLES = {NULL_BALANCED: "null: sources balanced", NULL_ALIKE: "null: sources alike",
          SHARE: "source shortcut: majority share", STRENGTH: "source shortcut: fingerprint strength",
          GEOMETRY: "protocol leak: lung geometry"}


def markdown(r: pd.DataFrame, probes: pd.DataFrame, goals: list[dict], power: list[dict]) -> str:
    """The documentation's tables: verdicts per case and level, the probes on null data, the targets."""
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
            m = rate_of(r, case)
            if m["rate"] is not None:
                ax.axhline(1 - m["rate"], color=colour, ls="--",
                           label=f"false alarms, {TITLES[case]}: {1 - m['rate']:.0%}")
        g = rate_of(r, GEOMETRY)
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


def write_error_rates(out: str | Path, result: dict) -> dict:
    """Draw the figure and write the documentation's tables of the benchmark's result (every
    finished case's verdict, decided by :func:`cxr_isi.studies.error_rates.error_rate_tables`);
    returns the JSON's content (``cases`` and ``rates`` as records, ``targets``, ``power``,
    ``thresholds``, ``figure``)."""
    out = Path(out)
    result = dict(result)
    r, p = pd.DataFrame(result["rates"]), pd.DataFrame(result["probes"])
    (out / "error_rates.md").write_text(markdown(r, p, result["targets"], result["power"]) if len(r)
                                        else "no finished case\n")
    fig = figure(r, out / "error_rates.png") if len(r) else None
    result["figure"] = str(fig) if fig else None
    write_json(out / "error_rates.json", {k: v for k, v in result.items() if k != "measured"})
    return result
