"""Metrics of the protocol: ROC/AUC, DeLong's test, Youden's cut-off, cross-validation summaries."""

from cxr_isi.evaluate.metrics import (
    auc_ci,
    cv_summary,
    delong_test,
    operating_point,
    roc,
    youden,
)

__all__ = ["auc_ci", "cv_summary", "delong_test", "operating_point", "roc", "youden"]
