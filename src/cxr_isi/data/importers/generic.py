"""Importers for layouts that are not a named dataset: any CSV, and a folder per class."""

from __future__ import annotations

import re
from pathlib import Path

import pandas as pd

from cxr_isi.data.importers import Imported, list_images, read_table, register, require
from cxr_isi.data.manifest import PATH_COLUMNS, _resolve
from cxr_isi.errors import ImporterError


@register("csv")
def generic_csv(root: Path, csv: str | None = None, path_col: str = "path",
                label_col: str = "label", source_col: str = "source",
                patient_col: str = "patient_id", source: str | None = None) -> Imported:
    """Any CSV with a path and a label column; other columns are renamed or filled.

    Layout: ``ROOT`` is the CSV file itself (or a folder with ``csv=NAME``); paths in it are
    relative to the CSV's folder. Columns named by ``path_col``, ``label_col``, ``source_col``,
    ``patient_col`` become ``path, label, source, patient_id``; a missing source column takes the
    constant ``source`` (default: the CSV's file name), a missing patient column gives each image
    its own patient (say so in your methods: images of one patient may then cross a split).
    """
    file = Path(root) / csv if csv else Path(root)
    if file.is_dir():
        raise ImporterError(f"{file}: is a folder; pass the CSV file, or csv=NAME")
    frame, warnings = read_table(require(file, "a CSV file", "csv"))
    for col in (path_col, label_col):
        if col not in frame.columns:
            has = ", ".join(c for c in frame.columns if c != "line")
            raise ImporterError(f"{file}: no column {col!r} (has: {has})")
    frame = frame.rename(columns={path_col: "path", label_col: "label"})
    if source_col in frame.columns:
        frame = frame.rename(columns={source_col: "source"})
    else:
        frame["source"] = source or file.stem
    if patient_col in frame.columns:
        frame = frame.rename(columns={patient_col: "patient_id"})
    else:
        frame["patient_id"] = [Path(p).stem for p in frame["path"]]
    for col in PATH_COLUMNS:  # relative to the CSV, not to the working folder
        if col in frame.columns:
            frame[col] = [_resolve(p, file.parent) for p in frame[col]]
    return Imported(frame, version="csv", warnings=warnings)


@register("folders")
def folder_per_class(root: Path, source: str | None = None,
                     patient_regex: str | None = None) -> Imported:
    """One folder per class: ``ROOT/<label>/**/<image>``.

    Layout: every immediate sub-folder of ``ROOT`` is a label; images may sit deeper. Source is
    ``source`` or the name of ``ROOT``. Patient: the first group of ``patient_regex`` matched on
    the file name, else the file name without suffix.
    """
    pattern = re.compile(patient_regex) if patient_regex else None
    rows = []
    for label_dir in sorted(p for p in root.iterdir() if p.is_dir() and not p.name.startswith((".", "__"))):
        for img in list_images(label_dir):
            pid = img.stem
            if pattern is not None:
                m = pattern.search(img.name)
                if not m:
                    raise ImporterError(f"{img}: file name does not match patient_regex {patient_regex!r}")
                pid = m.group(1) if m.groups() else m.group(0)
            rows.append({"path": str(img), "label": label_dir.name,
                         "source": source or root.name, "patient_id": pid})
    if not rows:
        raise ImporterError(f"{root}: no images in class folders (expected ROOT/<label>/<image>)")
    return Imported(pd.DataFrame(rows), version="folders")
