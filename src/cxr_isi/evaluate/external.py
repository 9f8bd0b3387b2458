"""What will a model score on data from elsewhere? An estimate of the external AUC from what a run
measures at home, fitted and checked on pairs whose external AUC is known.

The form was fixed before any pair was run (nothing here was chosen by looking at the figures
it reports): an ordinary least-squares line

    external AUC ~ b0 + b1 * internal + b2 * (fixed_box - 0.5) + b3 * (acquisition - 0.5)

where ``internal`` is the original model's AUC on its own test split, ``fixed_box`` the AUC of the
model that never sees the lungs (lungs boxed out by one box for every image), and ``acquisition``
the AUC of the tile-shuffled model without the lungs (intensity statistics only): what a model
reads outside the lungs is what a new hospital is least likely to share. The three are on the
single split, as every run with ``fixed_box`` and the ``acquisition`` probe has them.

Checked by leave-one-pair-out: a pair's estimate comes from a line fitted on the other pairs
only (:func:`leave_one_pair_out`), its interval from the other pairs' own leave-one-out errors
(a jackknife interval: the ``(1 - alpha)(1 + 1/m)`` quantile of the absolute errors of the ``m``
other pairs, each predicted by a line fitted without it and without the pair itself), so no pair
is ever scored by a line or an interval that has seen its external AUC.

Hand-written because it is four lines of numpy: scikit-learn's ``LinearRegression`` and
``LeaveOneGroupOut`` would do the fit and the outer loop, not the nested jackknife interval.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

FEATURES = ("internal", "fixed_box", "acquisition")
ALPHA = 0.05


def design(table: pd.DataFrame) -> np.ndarray:
    """The regression's columns: 1, internal, fixed_box - 0.5, acquisition - 0.5."""
    t = table[list(FEATURES)].to_numpy(dtype=float)
    return np.column_stack([np.ones(len(t)), t[:, 0], t[:, 1] - 0.5, t[:, 2] - 0.5])


def fit(table: pd.DataFrame) -> np.ndarray:
    """Least-squares coefficients ``(b0, b1, b2, b3)`` from rows with ``FEATURES`` and
    ``external``."""
    x, y = design(table), table["external"].to_numpy(dtype=float)
    coef, *_ = np.linalg.lstsq(x, y, rcond=None)
    return coef


def predict(coef: np.ndarray, table: pd.DataFrame) -> np.ndarray:
    """The estimate for each row, clipped to [0, 1]."""
    return np.clip(design(table) @ np.asarray(coef, dtype=float), 0.0, 1.0)


def _quantile(errors: np.ndarray, alpha: float = ALPHA) -> float:
    m = len(errors)
    if m == 0:
        return float("nan")
    level = min(1.0, (1 - alpha) * (1 + 1 / m))
    return float(np.quantile(errors, level, method="higher"))


def loo_errors(table: pd.DataFrame) -> np.ndarray:
    """Each row's absolute error when predicted by a line fitted on the other rows."""
    return np.array([abs(float(predict(fit(table.drop(index=table.index[j])), table.iloc[[j]])[0])
                         - float(table["external"].iloc[j])) for j in range(len(table))])


def leave_one_pair_out(table: pd.DataFrame, alpha: float = ALPHA) -> pd.DataFrame:
    """Each pair's estimate and interval from the other pairs only.

    Parameters
    ----------
    table : DataFrame
        One row per pair: ``FEATURES`` and ``external`` (the measured external AUC).
    alpha : float
        The interval is at ``1 - alpha``.

    Returns
    -------
    DataFrame
        ``estimate, ci_low, ci_high`` per row (same index).
    """
    n = len(table)
    if n < len(FEATURES) + 3:
        raise ValueError(f"{n} pairs: the estimate needs at least {len(FEATURES) + 3} to be checked by "
                         "leave-one-pair-out")
    rows = []
    for i in range(n):
        others = table.drop(index=table.index[i])
        est = float(predict(fit(others), table.iloc[[i]])[0])
        q = _quantile(loo_errors(others), alpha)
        rows.append({"estimate": est, "ci_low": max(0.0, est - q), "ci_high": min(1.0, est + q)})
    return pd.DataFrame(rows, index=table.index)


def shipped_model(table: pd.DataFrame, alpha: float = ALPHA) -> dict:
    """The line a run uses: fitted on every pair, with the half-width of its interval from every
    pair's leave-one-out error (the same jackknife as :func:`leave_one_pair_out`)."""
    coef = fit(table)
    return {"coefficients": dict(zip(("intercept", *FEATURES), map(float, coef), strict=True)),
            "half_width": _quantile(loo_errors(table), alpha), "confidence": 1 - alpha, "pairs": len(table)}


def estimate(model: dict, internal: float | None, fixed_box: float | None, acquisition: float | None) -> dict | None:
    """The external AUC a run's figures point to, with its interval (None where one is missing)."""
    values = (internal, fixed_box, acquisition)
    if any(v is None or v != v for v in values):
        return None
    c = model["coefficients"]
    coef = np.array([c["intercept"], *(c[f] for f in FEATURES)])
    est = float(predict(coef, pd.DataFrame([dict(zip(FEATURES, values, strict=True))]))[0])
    q = float(model["half_width"])
    return {"estimate": est, "ci_low": max(0.0, est - q), "ci_high": min(1.0, est + q),
            "confidence": model.get("confidence", 1 - ALPHA)}


def formula(model: dict) -> str:
    """The fitted line in words, as the report prints it."""
    c = model["coefficients"]
    return (f"external AUC = {c['intercept']:.3f} {c['internal']:+.3f} x internal {c['fixed_box']:+.3f} x (fixed box "
            f"- 0.5) {c['acquisition']:+.3f} x (tile-shuffled - 0.5), +/- {model['half_width']:.3f} "
            f"({model.get('confidence', 0.95):.0%}; fitted on {model['pairs']} pairs)")


def errors(table: pd.DataFrame, estimate_col: str, low: str, high: str) -> dict:
    """Mean absolute error and interval coverage of one estimator against ``external``."""
    ok = table[estimate_col].notna() & table["external"].notna()
    t = table[ok]
    if t.empty:
        return {"n": 0, "mae": float("nan"), "coverage": float("nan")}
    err = (t[estimate_col] - t["external"]).abs()
    cover = (t[low] <= t["external"]) & (t["external"] <= t[high])
    return {"n": int(len(t)), "mae": float(err.mean()), "coverage": float(cover.mean()),
            "max_error": float(err.max())}
