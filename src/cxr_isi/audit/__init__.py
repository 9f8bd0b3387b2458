"""The audit: how much of the label can be told from where an image came from, before training."""

import sys
from types import ModuleType

from cxr_isi.audit.acquisition import acquisition_properties, property_aucs
from cxr_isi.audit.balance import balance_sources
from cxr_isi.audit.duplicates import find_near_duplicates, find_overlap
from cxr_isi.audit.imbalance import (
    THRESHOLDS,
    AuditResult,
    audit_manifest,
    cramers_v,
    intra_source_imbalance,
    out_of_fold_rate_scores,
    source_label_table,
    verdict,
)

__all__ = [
    "THRESHOLDS", "AuditResult", "acquisition_properties", "audit_manifest", "balance_sources",
    "cramers_v", "find_near_duplicates", "find_overlap", "intra_source_imbalance", "out_of_fold_rate_scores",
    "property_aucs", "source_label_table", "verdict",
]


class _CallableAudit(ModuleType):
    """``cxr_isi.audit`` is both this stage's package and the API's ``audit(...)`` function: the
    import system binds the subpackage onto ``cxr_isi`` once anything imports it, so the notebook
    call ``ci.audit("m.csv", positive=[...])`` must work on the module itself."""

    def __call__(self, *args, **kwargs):
        from cxr_isi.api import audit

        return audit(*args, **kwargs)


sys.modules[__name__].__class__ = _CallableAudit
