"""The audit: how much of the label can be told from where an image came from, before training."""

import sys
import warnings
from types import ModuleType

from cxr_isi.audit.acquisition import acquisition_properties, property_aucs
from cxr_isi.audit.balance import balance_sources
from cxr_isi.audit.dataset import audit_dataset, audit_manifest
from cxr_isi.audit.duplicates import find_near_duplicates, find_overlap
from cxr_isi.audit.imbalance import (
    THRESHOLDS,
    AuditResult,
    cramers_v,
    intra_source_imbalance,
    out_of_fold_rate_scores,
    source_label_table,
    verdict,
)

__all__ = [
    "THRESHOLDS", "AuditResult", "acquisition_properties", "audit_dataset", "audit_manifest", "balance_sources",
    "cramers_v", "find_near_duplicates", "find_overlap", "intra_source_imbalance", "out_of_fold_rate_scores",
    "property_aucs", "source_label_table", "verdict",
]


class _CallableAudit(ModuleType):
    """``ci.audit(...)``, the API's name before 0.2, kept working: ``cxr_isi.audit`` is this stage's
    package (the import system binds it onto ``cxr_isi``), so the old call lands on the module. It
    runs :func:`audit_dataset` (in this stage: nothing here imports the API) and says the new name."""

    def __call__(self, *args, **kwargs):
        warnings.warn("ci.audit(...) is now ci.audit_dataset(...) (cxr_isi.audit is the audit stage's "
                      "package); the old name will go in a later release", DeprecationWarning, stacklevel=2)
        return audit_dataset(*args, **kwargs)


sys.modules[__name__].__class__ = _CallableAudit
