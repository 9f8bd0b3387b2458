"""The dose-response curves of a sweep: AUC against intra-source imbalance (or fingerprint
strength) with 95% bands, the audit's figures on the same axis, and where the verdict turns
``shortcut``."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from cxr_isi.report.figures import _plt, save
from cxr_isi.studies.curves import SERIES, crossing
from cxr_isi.verdict.kinds import INCONCLUSIVE, SHORTCUT
from cxr_isi.verdict.thresholds import CHANCE_LOW, SHORTCUT_AUC

AXIS_TITLES = {"majority_share": "majority share of each source's class (0.5 balanced, 1.0 ISI)",
               "fingerprint_strength": "fingerprint strength (at majority share 1.0)"}


def crossing_sentence(summary: pd.DataFrame, axis: str) -> str:
    """One sentence: where the verdict turns ``shortcut`` on this axis and what the audit
    showed there."""
    words = axis.replace("_", " ")
    at = crossing(summary, axis)
    s = summary[summary["axis"] == axis].sort_values("level")
    if s.empty:
        return f"{words}: no level ran."
    top = s.iloc[-1]
    if at is None and top["verdict"] == INCONCLUSIVE:
        return (f"{words}: no crossing can be told: at the top level {top['level']:g} the boxed-out AUC "
                f"{top['lungs_boxed_out_auc']:.2f} [{top['lungs_boxed_out_ci_low']:.2f}, "
                f"{top['lungs_boxed_out_ci_high']:.2f}] has an interval reaching {CHANCE_LOW} (inconclusive; "
                "more folds or phantoms per level narrow it).")
    if at is None:
        return (f"{words}: the verdict never turns {SHORTCUT} up to {s['level'].max():g} (boxed-out AUC "
                f"{s['lungs_boxed_out_auc'].iloc[-1]:.2f} at the top level).")
    row = s[s["level"] == at].iloc[0]
    audit = (f"; the audit there: Cramér's V {row['cramers_v']:.2f}, source-only AUC {row['source_only_auc']:.2f}"
             if row["cramers_v"] == row["cramers_v"] else "")
    return (f"{words}: the verdict turns {SHORTCUT} (boxed-out AUC >= {SHORTCUT_AUC:.2f}) at {at:g} "
            f"(boxed-out AUC {row['lungs_boxed_out_auc']:.2f} [{row['lungs_boxed_out_ci_low']:.2f}, "
            f"{row['lungs_boxed_out_ci_high']:.2f}]){audit}.")


def sweep_figure(summary: pd.DataFrame, out: Path) -> Path:
    """One panel per axis: the three AUC curves with 95% bands, the audit's Cramér's V and
    source-only AUC dashed on the same x axis, the shortcut threshold and the crossing."""
    plt = _plt()
    axes_present = [a for a in ("majority_share", "fingerprint_strength") if a in set(summary["axis"])]
    fig, axs = plt.subplots(1, len(axes_present), figsize=(6.2 * len(axes_present), 5.0), squeeze=False)
    for ax, axis in zip(axs[0], axes_present, strict=True):
        s = summary[summary["axis"] == axis].sort_values("level")
        x = s["level"].to_numpy()
        for key, (_, _, label, colour) in SERIES.items():
            mean = s[f"{key}_auc"].to_numpy(float)
            ax.plot(x, mean, "o-", color=colour, label=label)
            low, high = s[f"{key}_ci_low"].to_numpy(float), s[f"{key}_ci_high"].to_numpy(float)
            ok = np.isfinite(low) & np.isfinite(high)
            ax.fill_between(x[ok], low[ok], high[ok], color=colour, alpha=0.15, linewidth=0)
        ax.plot(x, s["cramers_v"], "s--", color="0.35", label="audit: Cramér's V (source x label)")
        ax.plot(x, s["source_only_auc"], "^--", color="0.6", label="audit: source-only AUC")
        ax.axhline(SHORTCUT_AUC, color="tab:red", lw=0.8, ls=":")
        ax.axhline(0.5, color="0.5", lw=0.8, ls=":")
        at = crossing(summary, axis)
        if at is not None:
            ax.axvline(at, color="tab:red", lw=1, alpha=0.6)
            ax.annotate(f"shortcut from {at:g}", (at, SHORTCUT_AUC), color="tab:red", fontsize=8, ha="right",
                        va="bottom", xytext=(-3, 2), textcoords="offset points")
        if axis == "fingerprint_strength" and (x > 0).any() and x[x > 0].min() < 0.1:
            low = float(x[x > 0].min())
            ax.set_xscale("symlog", linthresh=low)  # faint marks, spread out
            ax.set_xlim(-0.3 * low, float(x.max()) * 1.2)
            ax.set_xticks(x)
            ax.set_xticklabels([f"{v:g}" for v in x], fontsize=7)
        ax.set_xlabel(AXIS_TITLES.get(axis, axis))
        ax.set_ylabel("AUC / audit figure")
        ax.set_ylim(0, 1.02)
        ax.grid(alpha=0.3)
    handles, labels = axs[0][0].get_legend_handles_labels()
    fig.legend(handles, labels, fontsize=8, loc="lower center", ncol=3, frameon=False)
    fig.suptitle("How much imbalance does it take? (phantoms, mean over folds, 95% bands)", fontsize=10)
    fig.subplots_adjust(bottom=0.24, top=0.9, wspace=0.22)
    return save(fig, out)


def write_sweep(out: Path, summary: pd.DataFrame) -> tuple[pd.DataFrame, Path, list[str]]:
    """``sweep.png`` (and ``.svg``) and ``sweep.txt`` in ``out``: the curves and the crossing
    sentences of a sweep's summary (its verdicts decided by
    :func:`~cxr_isi.studies.sweep.write_sweep_summary`).

    Parameters
    ----------
    out : path
        The sweep folder.
    summary : DataFrame
        ``sweep_summary.csv``.

    Returns
    -------
    (DataFrame, path, list of str)
        The summary, the figure, one sentence per axis.
    """
    figure = sweep_figure(summary, Path(out) / "sweep.png")
    sentences = [crossing_sentence(summary, a) for a in ("majority_share", "fingerprint_strength")
                 if a in set(summary["axis"])]
    (Path(out) / "sweep.txt").write_text("\n".join(sentences) + "\n")
    return summary, figure, sentences
