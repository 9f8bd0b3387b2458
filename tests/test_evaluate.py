"""Metrics against independent computations (scikit-learn, bootstrap, hand-made cases)."""

import numpy as np
import pytest
from sklearn.metrics import roc_auc_score

from cxr_isi.evaluate import auc_ci, cv_summary, delong_test, operating_point, roc, youden


def _data(n=300, shift=1.0, seed=0):
    rng = np.random.default_rng(seed)
    y = rng.integers(0, 2, n)
    latent = rng.normal(size=n)
    s1 = y * shift + latent + rng.normal(scale=0.6, size=n)
    s2 = y * shift * 0.5 + latent + rng.normal(scale=0.6, size=n)  # correlated, weaker
    return y, s1, s2


def _bootstrap(y, fn, reps=1500, seed=1):
    rng = np.random.default_rng(seed)
    out = []
    for _ in range(reps):
        i = rng.integers(0, len(y), len(y))
        if len(np.unique(y[i])) == 2:
            out.append(fn(i))
    return np.array(out)


def test_delong_auc_and_se_match_sklearn_and_bootstrap():
    y, s1, _ = _data()
    ci = auc_ci(y, s1)
    assert ci["auc"] == pytest.approx(roc_auc_score(y, s1), abs=1e-12)
    boot = _bootstrap(y, lambda i: roc_auc_score(y[i], s1[i]))
    assert ci["se"] == pytest.approx(boot.std(), rel=0.15)
    assert ci["ci_low"] < ci["auc"] < ci["ci_high"]


def test_delong_paired_test_against_bootstrap_and_null():
    y, s1, s2 = _data()
    t = delong_test(y, s1, s2)
    diffs = _bootstrap(y, lambda i: roc_auc_score(y[i], s1[i]) - roc_auc_score(y[i], s2[i]))
    assert t["difference"] == pytest.approx(roc_auc_score(y, s1) - roc_auc_score(y, s2), abs=1e-12)
    assert abs(t["z"]) == pytest.approx(abs(t["difference"]) / diffs.std(), rel=0.2)
    assert t["p_value"] < 0.01
    same = delong_test(y, s1, s1)
    assert same["p_value"] == 1.0 and same["difference"] == 0
    rng = np.random.default_rng(5)  # two equally good, independent scorers: no difference
    a, b = y + rng.normal(size=len(y)), y + rng.normal(size=len(y))
    assert delong_test(y, a, b)["p_value"] > 0.05


def test_ties_are_handled_like_sklearn():
    y = np.array([0, 0, 1, 1, 0, 1, 1, 0])
    s = np.array([0.1, 0.5, 0.5, 0.9, 0.5, 0.7, 0.1, 0.2])
    assert auc_ci(y, s)["auc"] == pytest.approx(roc_auc_score(y, s))


def test_youden_and_operating_points():
    y = np.array([0, 0, 0, 1, 1, 1])
    s = np.array([0.1, 0.2, 0.3, 0.6, 0.7, 0.8])
    j = youden(y, s)
    assert j["sensitivity"] == 1 and j["specificity"] == 1 and j["accuracy"] == 1
    assert 0.3 < j["threshold"] <= 0.6
    half = operating_point(y, np.array([0.6, 0.2, 0.3, 0.4, 0.7, 0.8]), 0.5)
    assert half["sensitivity"] == pytest.approx(2 / 3) and half["specificity"] == pytest.approx(2 / 3)
    r = roc(y, s)
    assert r["auc"] == 1.0 and r["fpr"][0] == 0


def test_cv_summary():
    folds = [_data(120, seed=k)[:2] for k in range(5)]
    summary = cv_summary(folds)
    aucs = [roc_auc_score(y, s) for y, s in folds]
    assert summary["auc_mean"] == pytest.approx(np.mean(aucs))
    assert summary["auc_std"] == pytest.approx(np.std(aucs, ddof=1))
    assert summary["fpr"].shape == summary["tpr_mean"].shape == (101,)
    assert (summary["tpr_low"] <= summary["tpr_mean"] + 1e-12).all()
    assert (summary["tpr_mean"] <= summary["tpr_high"] + 1e-12).all()
    assert summary["tpr_mean"][0] == 0 and summary["tpr_mean"][-1] == 1
    assert 0 < summary["youden_fpr"] < summary["youden_tpr"] < 1


def test_delong_against_a_value_worked_by_hand():
    """y = [1, 1, 0, 0], s = [0.9, 0.4, 0.5, 0.1]: AUC 0.75; structural components
    V10 = [1, 0.5], V01 = [0.5, 1], variance 0.125/2 + 0.125/2 = 0.125 (DeLong et al. 1988)."""
    from cxr_isi.evaluate.metrics import auc_ci

    ci = auc_ci(np.array([1, 1, 0, 0]), np.array([0.9, 0.4, 0.5, 0.1]))
    assert ci["auc"] == pytest.approx(0.75) and ci["se"] == pytest.approx(0.125 ** 0.5)
    tied = auc_ci(np.array([1, 1, 0, 0]), np.array([0.5, 0.9, 0.5, 0.1]))  # a tie counts one half
    assert tied["auc"] == pytest.approx(0.875)


def test_a_mean_that_can_be_negative_keeps_its_interval_unclipped():
    from cxr_isi.evaluate.metrics import mean_ci

    shifts = [-0.2, -0.1, -0.3, -0.25]
    free = mean_ci(shifts, clip=False)
    assert free["ci_low"] < free["mean"] < free["ci_high"] < 0
    clipped = mean_ci(shifts)  # AUCs and rates: [0, 1]
    assert clipped["ci_low"] == 0.0 and clipped["ci_high"] == free["ci_high"]


def test_one_interval_formatter_says_a_missing_interval_and_never_hides_it():
    from cxr_isi.evaluate.text import interval_text

    assert interval_text(0.912, 0.85, 0.96) == "0.91 (95% CI 0.85-0.96)"
    assert interval_text(0.912, 0.85, 0.96, level=0.975) == "0.91 (97.5% CI 0.85-0.96)"
    assert interval_text(0.05, -0.01, 0.11, style="to", signed=True) == "+0.05 (95% CI -0.01 to +0.11)"
    assert interval_text(0.9456, 0.901, 0.99, digits=3, style="short") == "0.946 (0.90-0.99)"
    assert interval_text(None, 0.1, 0.2) == "n/a" and interval_text(float("nan"), None, None, absent="–") == "–"
    said = " (no interval: too few images)"
    assert interval_text(0.9, None, None, without=said) == "0.90" + said
    nan = float("nan")
    assert interval_text(0.9, nan, nan, unknown=" (95% CI unknown: one value)") == "0.90 (95% CI unknown: one value)"
    assert interval_text(0.9, nan, 0.95) == "0.90"
    with pytest.raises(ValueError, match="style"):
        interval_text(0.9, 0.8, 0.95, style="long")
