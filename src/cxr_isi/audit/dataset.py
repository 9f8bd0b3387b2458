"""The whole audit of a dataset: :func:`audit_manifest` (the source-by-label figures of
:mod:`~cxr_isi.audit.imbalance` and the acquisition properties of
:mod:`~cxr_isi.audit.acquisition`), and :func:`audit_dataset`, the same as a user names it: a
manifest (or its path), the positive labels, a row filter (the notebook's ``ci.audit_dataset``; it
lives in the audit stage, so the stage never reaches up to the API)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from cxr_isi.audit.acquisition import HEADER_SAMPLE, acquisition_properties, property_aucs
from cxr_isi.audit.imbalance import AuditResult, intra_source_imbalance
from cxr_isi.data.labels import LabelMapping
from cxr_isi.data.manifest import Manifest, RowFilter
from cxr_isi.errors import ManifestError


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


def audit_manifest(manifest: Manifest, *, n_splits: int = 5, seed: int = 0,
                   read_files: bool = True, progress: bool = False,
                   row_filter: list | None = None, header_sample: int | None = None) -> AuditResult:
    """Audit a manifest with a label mapping attached (see :meth:`Manifest.with_labels`).

    Parameters
    ----------
    manifest : Manifest
        With a label mapping attached.
    n_splits, seed : int
        For the out-of-fold AUCs.
    read_files : bool
        Read image headers (size, bit depth, format) as acquisition properties.
    progress : bool
    row_filter : list, optional
        Recorded with the result.
    header_sample : int, optional
        Above this many images, read the headers of a random sample of this size (default
        :data:`~cxr_isi.audit.acquisition.HEADER_SAMPLE`; 0 reads every header).

    Returns
    -------
    AuditResult
    """
    if n_splits < 2:
        raise ManifestError(f"{manifest.origin}: {n_splits} fold(s) asked for; the out-of-fold AUCs need 2 or more")
    y = manifest.y
    frame = manifest.frame
    if len(np.unique(y)) < 2:
        raise ManifestError(f"{manifest.origin}: only one class after mapping; nothing to audit")
    groups = frame["patient_id"].astype(str).to_numpy()
    figures = intra_source_imbalance(frame["source"].to_numpy(), frame["label"], y, groups,
                                     n_splits, seed)
    table = figures["table"]
    single = table[table["single_class"]]
    warnings = []
    if len(single):
        named = ", ".join(f"{s} ({int(r['n'])}, {'positive' if r['n_positive'] else 'negative'})"
                          for s, r in single.head(5).iterrows())
        more = f" and {len(single) - 5} more" if len(single) > 5 else ""
        warnings.append(f"{len(single)} of {len(table)} sources give a single class: {named}{more}")
    props, prop_warnings = acquisition_properties(
        manifest, read_files=read_files, progress=progress, seed=seed,
        header_sample=HEADER_SAMPLE if header_sample is None else header_sample)
    warnings += prop_warnings
    acquisition = property_aucs(props, y, groups, n_splits=n_splits, seed=seed)
    return AuditResult(
        n_images=len(frame), n_sources=int(frame["source"].nunique()),
        n_patients=int(frame["patient_id"].nunique()), n_positive=int(y.sum()),
        table=figures["table"], cramers_v=figures["cramers_v"], nmi=figures["nmi"],
        single_class_fraction=figures["single_class_fraction"],
        source_only_auc=figures["source_only_auc"], verdict=figures["verdict"],
        verdict_reason=figures["verdict_reason"], acquisition=acquisition,
        label_mapping=manifest.label_mapping.as_record() if manifest.label_mapping else {}, row_filter=row_filter or [],
        warnings=warnings,
    )
