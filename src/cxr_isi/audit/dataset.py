"""The audit of a dataset as a user names it: a manifest (or its path), the positive labels, a
row filter (the notebook's ``ci.audit_dataset``; it lives in the audit stage, so the stage never
reaches up to the API)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from cxr_isi.audit.imbalance import AuditResult, audit_manifest
from cxr_isi.data.labels import LabelMapping
from cxr_isi.data.manifest import Manifest, RowFilter


def audit_dataset(manifest: str | Path | Manifest, *, positive: list[str] | str,
                  negative: list[str] | str | None = None, where: Any = None, seed: int = 0, folds: int = 5,
                  read_files: bool = True) -> AuditResult:
    """Audit the source-by-label structure of a dataset before any training.

    Parameters
    ----------
    manifest : path or Manifest
    positive : list of str, or str
        Labels of the positive class (a string is one label).
    negative : list of str, or str, optional
        Labels of the negative class (default: every other label).
    where : str, list of str, dict or list of dict, optional
        Rows kept: an OR of clauses, each an AND of ``column: [values]``; a string is written as
        the CLI's ``--where`` (``"source=A,B & view=PA"``).
    seed, folds : int
        For the out-of-fold AUCs.
    read_files : bool
        Read image headers (size, bit depth, format) as acquisition properties.

    Returns
    -------
    AuditResult
        Table 1, Cramér's V, NMI, single-class share, source-only AUC, acquisition confounders
        and the verdict (``as_dict()`` for JSON).
    """
    positive = [positive] if isinstance(positive, str) else positive
    negative = [negative] if isinstance(negative, str) else negative
    m = manifest if isinstance(manifest, Manifest) else Manifest.read(manifest)
    row_filter = RowFilter.from_data(where)
    if row_filter.clauses:
        m = m.filter(row_filter)
    m = m.with_labels(LabelMapping(positive=positive, negative=negative).check_present(m.frame["label"], m.origin))
    return audit_manifest(m, n_splits=folds, seed=seed, read_files=read_files, row_filter=row_filter.to_data())
