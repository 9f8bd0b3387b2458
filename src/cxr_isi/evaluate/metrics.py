"""ROC and AUC (scikit-learn), DeLong's variance and paired test, Youden's cut-off, and the
cross-validation summary (mean ROC on one FPR grid with a 95% band).

DeLong et al. (1988) is written here, in the fast form of Sun & Xu (2014), because neither
scikit-learn, SciPy nor statsmodels offer it; the tests check it against bootstrap estimates.
"""

from __future__ import annotations

import numpy as np
from scipy import stats
from sklearn.metrics import roc_auc_score, roc_curve


def roc(y: np.ndarray, s: np.ndarray) -> dict:
    """FPR, TPR, thresholds and AUC.

    Parameters
    ----------
    y : array of 0/1
        Binary labels (1 = positive).
    s : array of float
        Scores, higher = more positive.

    Returns
    -------
    dict
        ``fpr``, ``tpr``, ``thresholds`` (scikit-learn's ``roc_curve``) and ``auc``.
    """
    fpr, tpr, thr = roc_curve(y, s)
    return {"fpr": fpr, "tpr": tpr, "thresholds": thr, "auc": float(roc_auc_score(y, s))}


def operating_point(y: np.ndarray, s: np.ndarray, threshold: float) -> dict:
    """Sensitivity, specificity and accuracy when ``s >= threshold`` is called positive.

    Parameters
    ----------
    y : array of 0/1
        Binary labels (1 = positive).
    s : array of float
        Scores, higher = more positive.
    threshold : float

    Returns
    -------
    dict
        ``threshold``, ``sensitivity``, ``specificity``, ``accuracy``.
    """
    y = np.asarray(y).astype(int)
    pred = np.asarray(s) >= threshold
    tp, tn = int((pred & (y == 1)).sum()), int((~pred & (y == 0)).sum())
    pos, neg = int((y == 1).sum()), int((y == 0).sum())
    return {"threshold": float(threshold), "sensitivity": tp / pos if pos else float("nan"),
            "specificity": tn / neg if neg else float("nan"), "accuracy": (tp + tn) / len(y)}


def youden(y: np.ndarray, s: np.ndarray) -> dict:
    """The cut-off maximising sensitivity + specificity - 1, with the figures there.

    Parameters
    ----------
    y : array of 0/1
        Binary labels (1 = positive).
    s : array of float
        Scores, higher = more positive.

    Returns
    -------
    dict
        ``threshold``, ``sensitivity``, ``specificity``, ``accuracy`` there, ``youden_index``,
        ``fpr``, ``tpr``.
    """
    fpr, tpr, thr = roc_curve(y, s)
    k = int(np.argmax(tpr - fpr))
    point = operating_point(y, s, thr[k] if np.isfinite(thr[k]) else np.max(s))
    return {**point, "youden_index": float(tpr[k] - fpr[k]), "fpr": float(fpr[k]), "tpr": float(tpr[k])}


def _delong(y: np.ndarray, scores: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """AUCs and their covariance for ``scores`` (k, n) on labels ``y`` (Sun & Xu 2014)."""
    y = np.asarray(y).astype(bool)
    pos, neg = scores[:, y], scores[:, ~y]
    m, n = pos.shape[1], neg.shape[1]
    k = scores.shape[0]
    tx = np.stack([stats.rankdata(pos[r]) for r in range(k)])
    ty = np.stack([stats.rankdata(neg[r]) for r in range(k)])
    tz = np.stack([stats.rankdata(np.concatenate([pos[r], neg[r]])) for r in range(k)])
    aucs = tz[:, :m].sum(axis=1) / m / n - (m + 1.0) / 2.0 / n
    v01 = (tz[:, :m] - tx) / n
    v10 = 1.0 - (tz[:, m:] - ty) / m
    cov = np.atleast_2d(np.cov(v01)) / m + np.atleast_2d(np.cov(v10)) / n
    return aucs, cov


def auc_ci(y: np.ndarray, s: np.ndarray, confidence: float = 0.95) -> dict:
    """AUC with DeLong's standard error and a normal confidence interval (clipped to [0, 1]).

    Parameters
    ----------
    y : array of 0/1
        Binary labels (1 = positive).
    s : array of float
        Scores, higher = more positive.
    confidence : float

    Returns
    -------
    dict
        ``auc``, ``se`` (DeLong), ``ci_low``, ``ci_high``.
    """
    aucs, cov = _delong(y, np.asarray(s, dtype=float)[None])
    se = float(np.sqrt(cov[0, 0]))
    z = stats.norm.ppf(0.5 + confidence / 2)
    return {"auc": float(aucs[0]), "se": se, "ci_low": max(0.0, float(aucs[0] - z * se)),
            "ci_high": min(1.0, float(aucs[0] + z * se))}


def delong_test(y: np.ndarray, s1: np.ndarray, s2: np.ndarray) -> dict:
    """Two-sided paired test of AUC(s1) = AUC(s2) on the same images.

    Parameters
    ----------
    y : array of 0/1
    s1, s2 : array of float
        Two models' scores of the same images.

    Returns
    -------
    dict
        ``auc_1``, ``auc_2``, ``difference``, ``z``, ``p_value``, and the difference's 95%
        interval ``ci_low``, ``ci_high`` (its DeLong standard error ``se``).
    """
    aucs, cov = _delong(y, np.vstack([np.asarray(s1, float), np.asarray(s2, float)]))
    var = cov[0, 0] + cov[1, 1] - 2 * cov[0, 1]
    diff = float(aucs[0] - aucs[1])
    if var <= 0:
        z, p = (0.0, 1.0) if diff == 0 else (float("inf"), 0.0)
    else:
        z = diff / float(np.sqrt(var))
        p = float(2 * stats.norm.sf(abs(z)))
    se = float(np.sqrt(max(var, 0.0)))
    half = float(stats.norm.ppf(0.975)) * se
    return {"auc_1": float(aucs[0]), "auc_2": float(aucs[1]), "difference": diff, "z": z, "p_value": p,
            "se": se, "ci_low": diff - half, "ci_high": diff + half}


def cv_summary(folds: list[tuple[np.ndarray, np.ndarray]], grid_points: int = 101,
               confidence: float = 0.95) -> dict:
    """Each fold's ROC interpolated on one FPR grid; the mean ROC with a t band across folds,
    AUC mean and standard deviation, and the mean Youden point.

    Parameters
    ----------
    folds : list of (labels, scores)
        One pair per fold; folds are never pooled (their scores are not on one scale).
    grid_points : int
    confidence : float

    Returns
    -------
    dict
        ``fpr`` grid, ``tpr_mean``, ``tpr_low``, ``tpr_high``, ``auc_mean``, ``auc_std``, ``aucs``,
        ``youden_fpr``, ``youden_tpr``, ``youden_accuracy``.
    """
    grid = np.linspace(0, 1, grid_points)
    tprs, aucs, points = [], [], []
    for y, s in folds:
        fpr, tpr, _ = roc_curve(y, s)
        t = np.interp(grid, fpr, tpr)
        t[0] = 0.0
        tprs.append(t)
        aucs.append(roc_auc_score(y, s))
        points.append(youden(y, s))
    curves = np.array(tprs)
    k = len(folds)
    mean = curves.mean(axis=0)
    mean[-1] = 1.0
    half = (stats.t.ppf(0.5 + confidence / 2, k - 1) * curves.std(axis=0, ddof=1) / np.sqrt(k)
            if k > 1 else np.zeros_like(mean))
    return {"fpr": grid, "tpr_mean": mean, "tpr_low": np.clip(mean - half, 0, 1),
            "tpr_high": np.clip(mean + half, 0, 1), "auc_mean": float(np.mean(aucs)),
            "auc_std": float(np.std(aucs, ddof=1)) if k > 1 else 0.0, "aucs": [float(a) for a in aucs],
            "youden_fpr": float(np.mean([p["fpr"] for p in points])),
            "youden_tpr": float(np.mean([p["tpr"] for p in points])),
            "youden_accuracy": float(np.mean([p["accuracy"] for p in points]))}


def mean_ci(values, confidence: float = 0.95, clip: bool = True) -> dict:
    """Mean of per-fold figures with a t interval over the folds (clipped to [0, 1], as AUCs and
    rates are; ``clip=False`` for a figure that can be negative, such as a score shift).

    Parameters
    ----------
    values : sequence of float
        One figure per fold; NaNs are ignored.
    confidence : float
    clip : bool

    Returns
    -------
    dict
        ``mean``, ``std``, ``n``, ``ci_low``, ``ci_high`` (NaN bounds with fewer than two values).
    """
    v = np.asarray([x for x in values if x == x], dtype=float)
    k = len(v)
    if k == 0:
        return {"mean": float("nan"), "std": float("nan"), "n": 0, "ci_low": float("nan"), "ci_high": float("nan")}
    mean = float(v.mean())
    if k < 2:
        return {"mean": mean, "std": float("nan"), "n": 1, "ci_low": float("nan"), "ci_high": float("nan")}
    std = float(v.std(ddof=1))
    half = float(stats.t.ppf(0.5 + confidence / 2, k - 1) * std / np.sqrt(k))
    low, high = mean - half, mean + half
    if clip:
        low, high = max(0.0, low), min(1.0, high)
    return {"mean": mean, "std": std, "n": k, "ci_low": low, "ci_high": high}


def proportion_ci(k: int, n: int, confidence: float = 0.95) -> dict:
    """A rate ``k / n`` with its Wilson score interval (scipy's ``binomtest``).

    Parameters
    ----------
    k, n : int
        Successes and trials.
    confidence : float

    Returns
    -------
    dict
        ``rate``, ``k``, ``n``, ``ci_low``, ``ci_high`` (NaN when ``n`` is 0).
    """
    if n == 0:
        return {"rate": float("nan"), "k": 0, "n": 0, "ci_low": float("nan"), "ci_high": float("nan")}
    ci = stats.binomtest(int(k), int(n)).proportion_ci(confidence_level=confidence, method="wilson")
    return {"rate": k / n, "k": int(k), "n": int(n), "ci_low": float(ci.low), "ci_high": float(ci.high)}


def expected_calibration_error(y: np.ndarray, s: np.ndarray, bins: int = 10) -> float:
    """Expected calibration error: the image-weighted mean gap between the mean score and the
    positive rate over equal-width score bins. Written here because scikit-learn's
    ``calibration_curve`` returns the bins' rates without their counts, which the weighting needs.

    Parameters
    ----------
    y : array of 0/1
        Binary labels (1 = positive).
    s : array of float
        Scores, higher = more positive.
    bins : int

    Returns
    -------
    float
    """
    y, s = np.asarray(y, float), np.asarray(s, float)
    if not len(y):
        return float("nan")
    idx = np.minimum((s * bins).astype(int), bins - 1)
    gap = 0.0
    for b in np.unique(idx):
        inside = idx == b
        gap += inside.sum() * abs(s[inside].mean() - y[inside].mean())
    return float(gap / len(y))
