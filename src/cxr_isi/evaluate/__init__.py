"""Metrics of the protocol: ROC/AUC, DeLong's test, Youden's cut-off, cross-validation summaries,
intervals for fold means and rates, calibration."""

from cxr_isi.evaluate.metrics import (
    auc_ci,
    cv_summary,
    delong_test,
    expected_calibration_error,
    mean_ci,
    operating_point,
    proportion_ci,
    roc,
    youden,
)

__all__ = ["auc_ci", "cv_summary", "delong_test", "expected_calibration_error", "mean_ci", "operating_point",
           "proportion_ci", "roc", "youden"]
