"""The sweep's curves as data: which results each curve reads, its legend and colour, and where
the verdicts (decided by :func:`cxr_isi.studies.sweep.sweep_summary`) turn ``shortcut``. Shared by
the sweep and its rendering (:mod:`cxr_isi.report.sweep`); nothing here imports a rule."""

from __future__ import annotations

import pandas as pd

from cxr_isi.verdict.kinds import SHORTCUT

SERIES = {"lungs_boxed_out": ("lungs_boxed_out", "own", "lungs boxed out (k-fold)", "tab:red"),
          "original": ("original", "own", "original (k-fold)", "tab:blue"),
          "cross": ("original", "balanced", "original, tested on the balanced phantom", "tab:green")}


def crossing(summary: pd.DataFrame, axis: str) -> float | None:
    """The lowest level of ``axis`` from which the verdict is ``shortcut`` at it and at every
    level above; None when the highest level is not a shortcut."""
    s = summary[summary["axis"] == axis].sort_values("level")
    found = None
    for level, verdict in zip(s["level"][::-1], s["verdict"][::-1], strict=True):
        if verdict != SHORTCUT:
            break
        found = float(level)
    return found
