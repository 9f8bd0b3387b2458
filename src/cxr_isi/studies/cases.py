"""The error-rate benchmark's cases by name, and a rate read off its table: what the benchmark
(:mod:`cxr_isi.studies.error_rates`, which decides each case's verdict) and its rendering
(:mod:`cxr_isi.report.error_rates`, which decides nothing) share. Nothing here imports a rule."""

from __future__ import annotations

import numpy as np
import pandas as pd

from cxr_isi.evaluate.metrics import proportion_ci

NULL_BALANCED, NULL_ALIKE, SHARE, STRENGTH, GEOMETRY = (
    "null_balanced", "null_alike", "majority_share", "fingerprint_strength", "geometry")
CASES = (NULL_BALANCED, NULL_ALIKE, SHARE, STRENGTH, GEOMETRY)


def rate_of(r: pd.DataFrame, case: str, level: float | None = None) -> dict:
    """How often a case's verdict was right (at one level, or over all), with its Wilson interval."""
    g = r[r["case"] == case]
    if level is not None:
        g = g[np.isclose(g["level"], level)]
    if g.empty:
        return {"rate": None, "ci_low": None, "ci_high": None, "seeds": 0}
    k, n = int(g["right"].sum()), int(g["seeds"].sum())
    ci = proportion_ci(k, n)
    return {"rate": ci["rate"], "ci_low": ci["ci_low"], "ci_high": ci["ci_high"], "seeds": n}
