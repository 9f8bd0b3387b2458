"""The report's figures (matplotlib), each saved as PNG and SVG: ROC curves per dataset and
variant (the paper's Figures 4 and 5), the cross-dataset test (Figure 6) and the
cross-validation mean ROC with its 95% band and Youden points (Figures 7 to 9)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from cxr_isi.evaluate.metrics import cv_summary, roc
from cxr_isi.lungs.hideseek import image_set_title
from cxr_isi.verdict.kinds import PLAIN

COLOURS = {"original": "#1f77b4", "lungs_isolated": "#2ca02c", "lungs_framed": "#9467bd",
           "lungs_removed": "#ff7f0e", "lungs_boxed_out": "#d62728"}
_MORE = ("#8c564b", "#e377c2", "#17becf", "#bcbd22", "#7f7f7f")


def set_style(name: str, taken: set[str] | None = None) -> dict:
    """Colour and line style of an image set's curve: the base set's colour, dashed with the
    fixed box, dotted when tiles are shuffled; a colour another curve of the panel already has
    (``taken``) is replaced by an unused one, so no two curves look alike."""
    base = name.split("_fixed_box")[0].split("_blocks")[0]
    colour = COLOURS.get(base, _MORE[0])
    if taken is not None:
        if colour in taken:
            colour = next((c for c in (*COLOURS.values(), *_MORE) if c not in taken), colour)
        taken.add(colour)
    ls = ":" if "_blocks" in name else "--" if "_fixed_box" in name else "-"
    return {"c": colour, "ls": ls}


def _plt():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def save(fig, out: Path) -> Path:
    """PNG (embedded in the page) and SVG beside it."""
    out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out.with_suffix(".png"), dpi=110)
    fig.savefig(out.with_suffix(".svg"))
    _plt().close(fig)
    return out.with_suffix(".png")


def _axes(ax, title: str) -> None:
    ax.plot([0, 1], [0, 1], ls=":", c="grey", lw=0.8)
    ax.set_xlim(0, 1)
    ax.set_ylim(0, 1.01)
    ax.set_xlabel("1 - specificity (FPR)")
    ax.set_ylabel("sensitivity (TPR)")
    ax.set_title(title, fontsize=10)
    ax.set_aspect("equal")


def roc_panels(curves: dict[str, dict[str, tuple[np.ndarray, np.ndarray]]], out: Path,
               titles: dict[str, str] | None = None) -> Path:
    """One panel per dataset, one curve per variant, AUC in the legend."""
    plt = _plt()
    fig, axes = plt.subplots(1, len(curves), figsize=(4.2 * len(curves), 4.2), squeeze=False)
    for ax, (name, by_variant) in zip(axes[0], curves.items(), strict=True):
        taken: set[str] = set()
        for variant, (y, s) in by_variant.items():
            r = roc(y, s)
            ax.plot(r["fpr"], r["tpr"], lw=1.6, **set_style(variant, taken),
                    label=f"{image_set_title(variant)} (AUC {r['auc']:.3f})")
        _axes(ax, (titles or {}).get(name, name))
        ax.legend(loc="lower right", fontsize=7.5)
    fig.tight_layout()
    return save(fig, out)


def cross_panels(pairs: dict[str, tuple[np.ndarray, np.ndarray, dict]], out: Path) -> Path:
    """The cross-dataset test: one ROC per (trained on -> tested on), with the Youden point."""
    plt = _plt()
    fig, ax = plt.subplots(figsize=(4.6, 4.4))
    for (label, (y, s, point)), c in zip(pairs.items(), ("#1f77b4", "#d62728", "#2ca02c", "#9467bd"),
                                         strict=False):
        r = roc(y, s)
        ax.plot(r["fpr"], r["tpr"], c=c, lw=1.6, label=f"{label} (AUC {r['auc']:.3f})")
        ax.plot(1 - point["specificity"], point["sensitivity"], "o", c=c, ms=5)
    _axes(ax, "cross-dataset test (dot: Youden cut-off)")
    ax.legend(loc="lower right", fontsize=7.5)
    fig.tight_layout()
    return save(fig, out)


def cv_panels(groups: dict[str, dict[str, list[tuple[np.ndarray, np.ndarray]]]], out: Path) -> Path:
    """Per group (a dataset, or a cross pair), the mean ROC of each variant over the folds with
    its 95% band, and the mean Youden point."""
    plt = _plt()
    fig, axes = plt.subplots(1, len(groups), figsize=(4.2 * len(groups), 4.2), squeeze=False)
    for ax, (name, by_variant) in zip(axes[0], groups.items(), strict=True):
        taken: set[str] = set()
        for variant, folds in by_variant.items():
            s = cv_summary(folds)
            style = set_style(variant, taken)
            c = style["c"]
            ax.plot(s["fpr"], s["tpr_mean"], lw=1.6, **style, label=f"{image_set_title(variant)} "
                    f"(AUC {s['auc_mean']:.3f} ± {s['auc_std']:.3f})")
            ax.fill_between(s["fpr"], s["tpr_low"], s["tpr_high"], color=c, alpha=0.18, lw=0)
            ax.plot(s["youden_fpr"], s["youden_tpr"], "o", c=c, ms=5)
        _axes(ax, name)
        ax.legend(loc="lower right", fontsize=7.5)
    fig.tight_layout()
    return save(fig, out)


def source_label_bars(audit: dict, out: Path, title: str) -> Path:
    """Images per source, split by class: the picture of intra-source imbalance."""
    plt = _plt()
    sources = audit["sources"]
    names = [s["source"] for s in sources]
    pos = np.array([s["n_positive"] for s in sources])
    neg = np.array([s["n_negative"] for s in sources])
    fig, ax = plt.subplots(figsize=(5.2, 0.35 * len(names) + 1.2))
    yy = np.arange(len(names))
    ax.barh(yy, pos, color="#d62728", label="positive")
    ax.barh(yy, neg, left=pos, color="#1f77b4", label="negative")
    ax.set_yticks(yy, [n if len(n) <= 28 else n[:26] + "…" for n in names], fontsize=7)
    ax.invert_yaxis()
    ax.set_xlabel("images")
    ax.set_title(title, fontsize=10)
    ax.legend(fontsize=7, loc="lower right")
    fig.tight_layout()
    return save(fig, out)


def attention_bars(table: pd.DataFrame, out: Path) -> Path:
    """Share of Grad-CAM / LIME mass inside the lungs against the lung-area baseline."""
    plt = _plt()
    labels = [f"{r.train_dataset} on {r.test_dataset}\n{r.method}" for r in table.itertuples()]
    fig, ax = plt.subplots(figsize=(max(4.5, 1.1 * len(table)), 3.4))
    x = np.arange(len(table))
    err = np.vstack([table["inside_share"] - table["ci_low"], table["ci_high"] - table["inside_share"]])
    ax.bar(x - 0.2, table["inside_share"], 0.4, yerr=np.clip(err, 0, None), color="#2ca02c",
           label="attention inside the lungs", capsize=3)
    ax.bar(x + 0.2, table["lung_area_share"], 0.4, color="#bbbbbb", label="lung area (chance)")
    ax.set_xticks(x, labels, fontsize=7)
    ax.set_ylim(0, 1)
    ax.set_ylabel("share")
    ax.legend(fontsize=7)
    fig.tight_layout()
    return save(fig, out)


def remedy_figure(table: pd.DataFrame, out: Path, title: str) -> Path:
    """AUC elsewhere by remedy (each external set, and the sources left out one at a time), each
    with its 95% interval; plain training's as a dashed line per measure."""
    plt = _plt()
    elsewhere = [m for m in dict.fromkeys(table["measure"]) if m not in ("home", "boxed_out")]
    remedies = list(dict.fromkeys(table["remedy"]))
    fig, ax = plt.subplots(figsize=(max(5.0, 1.3 * len(remedies) + 2), 3.6))
    for j, measure in enumerate(elsewhere):
        rows = table[table["measure"] == measure].set_index("remedy")
        colour = _MORE[j % len(_MORE)] if j else "#1f77b4"
        label = "left-out sources (mean)" if measure == "loso" else measure
        xs = [i + (j - (len(elsewhere) - 1) / 2) * 0.18 for i, r in enumerate(remedies) if r in rows.index]
        got = [rows.loc[r] for r in remedies if r in rows.index]
        ys = [float(g["value"]) if g["value"] is not None and g["value"] == g["value"] else np.nan for g in got]
        low = [y - float(g["ci_low"]) if g["ci_low"] is not None and g["ci_low"] == g["ci_low"] else 0
               for y, g in zip(ys, got, strict=True)]
        high = [float(g["ci_high"]) - y if g["ci_high"] is not None and g["ci_high"] == g["ci_high"] else 0
                for y, g in zip(ys, got, strict=True)]
        ax.errorbar(xs, ys, yerr=[low, high], fmt="o", color=colour, capsize=3, label=label)
        if PLAIN in rows.index and rows.loc[PLAIN]["value"] is not None:
            ax.axhline(float(rows.loc[PLAIN]["value"]), color=colour, ls="--", lw=0.8)
    ax.axhline(0.5, color="grey", lw=0.8, ls=":")
    ax.set_xticks(range(len(remedies)), [r.replace("_", " ") for r in remedies])
    ax.set_ylim(0, 1.02)
    ax.set_ylabel("AUC elsewhere (95% CI)")
    ax.set_title(title, fontsize=10)
    if elsewhere:
        ax.legend(fontsize=8, loc="lower right")
    fig.tight_layout()
    return save(fig, out)
