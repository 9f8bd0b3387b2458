"""The shortcut monitor's figure: each image set's AUC over the epochs with its 95% band, in the
report's style, and the epoch from which the model scores without the lungs."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from cxr_isi.lungs.hideseek import image_set_title
from cxr_isi.report.figures import _plt, save

COLOURS = {"original": "tab:blue", "lungs_removed": "tab:orange", "lungs_boxed_out": "tab:red",
           "lungs_boxed_out_fixed_box": "tab:purple"}


def epoch_figure(table: pd.DataFrame, out: Path, first_outside: int | None = None) -> Path:
    """AUC against epoch, one line per image set with its interval as a band.

    Parameters
    ----------
    table : DataFrame
        The monitor's table (``epoch``, ``<set>_auc``, ``<set>_ci_low``, ``<set>_ci_high``).
    out : Path
        The PNG (an SVG beside it).
    first_outside : int, optional
        The first epoch whose boxed-out interval lies above chance: marked.

    Returns
    -------
    Path
    """
    plt = _plt()
    fig, ax = plt.subplots(figsize=(6.4, 4.2))
    x = table["epoch"].to_numpy(float)
    for name, colour in COLOURS.items():
        if f"{name}_auc" not in table.columns:
            continue
        ax.plot(x, table[f"{name}_auc"].to_numpy(float), "o-", color=colour, label=image_set_title(name), ms=4)
        low = pd.to_numeric(table[f"{name}_ci_low"], errors="coerce").to_numpy(float)
        high = pd.to_numeric(table[f"{name}_ci_high"], errors="coerce").to_numpy(float)
        ok = np.isfinite(low) & np.isfinite(high)
        ax.fill_between(x[ok], low[ok], high[ok], color=colour, alpha=0.15, linewidth=0)
    ax.axhline(0.5, color="0.5", lw=0.8, ls=":")
    if first_outside is not None:
        ax.axvline(first_outside, color="tab:red", lw=1, alpha=0.6)
        ax.annotate(f"scores without the lungs from epoch {first_outside}", (first_outside, 0.52), color="tab:red",
                    fontsize=8, xytext=(3, 0), textcoords="offset points")
    ax.set_xlabel("epoch")
    ax.set_ylabel("AUC on the held-out images (95% band)")
    ax.set_ylim(0, 1.02)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8, loc="lower right")
    ax.set_title("What the model reads while it trains", fontsize=10)
    fig.tight_layout()
    return save(fig, out)
