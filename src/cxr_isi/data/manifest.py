"""The manifest: one row per image with ``path, label, source, patient_id``.

Optional columns ``mask_path, view, split, fold`` have a meaning to the package; any other column
is kept as it is and written back out. Relative paths resolve against the manifest's folder.
"""

from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from cxr_isi._io import atomic_write, file_key
from cxr_isi.data.labels import LabelMapping
from cxr_isi.errors import ManifestError

REQUIRED_COLUMNS = ("path", "label", "source", "patient_id")
OPTIONAL_COLUMNS = ("mask_path", "view", "split", "fold")
PATH_COLUMNS = ("path", "mask_path", "infection_mask_path", "marker_mask_path", "border_mask_path",
                "dataset_mask_path")
SPLITS = ("train", "val", "test")


@dataclass(frozen=True)
class RowFilter:
    """Rows kept by a filter: the union (OR) of clauses, each an AND of ``column in values``.

    As YAML: ``[{dataset: [ieee8023, figure1], label: [covid]}, {dataset: [kermany], label:
    [normal]}]``. Data, not code: no expression is ever evaluated.
    """

    clauses: tuple[tuple[tuple[str, tuple[str, ...]], ...], ...] = ()

    @classmethod
    def from_data(cls, data: Any) -> RowFilter:
        """From YAML-like data (a mapping ``{col: [values]}`` or a list of them, OR-ed); a string
        (or a list of them) is the CLI's ``"col=a,b & col2=c"``; anything else is refused."""
        if not data:
            return cls()
        if isinstance(data, str):
            data = [data]
        if isinstance(data, list) and all(isinstance(c, str) for c in data):
            return parse_where([str(c) for c in data])
        if isinstance(data, dict):
            data = [data]
        if not isinstance(data, list) or not all(isinstance(c, dict) for c in data):
            raise ManifestError(f"where {data!r}: expected 'col=a,b & col2=c', a mapping {{col: [values]}}, "
                                "or a list of either (OR)")
        clauses = []
        for clause in data:
            items = []
            for col, vals in clause.items():
                vals = [vals] if isinstance(vals, str | int | float) else list(vals)
                items.append((str(col), tuple(str(v) for v in vals)))
            clauses.append(tuple(items))
        return cls(tuple(clauses))

    def to_data(self) -> list[dict[str, list[str]]]:
        return [{c: list(v) for c, v in clause} for clause in self.clauses]

    def mask(self, frame: pd.DataFrame, where: str) -> np.ndarray:
        if not self.clauses:
            return np.ones(len(frame), dtype=bool)
        keep = np.zeros(len(frame), dtype=bool)
        for clause in self.clauses:
            m = np.ones(len(frame), dtype=bool)
            for col, vals in clause:
                if col not in frame.columns:
                    raise ManifestError(
                        f"{where}: filter names column {col!r}, which the manifest does not have "
                        f"(columns: {', '.join(frame.columns)})"
                    )
                m &= frame[col].astype(str).isin(vals).to_numpy()
            keep |= m
        return keep


def parse_where(clauses: list[str] | None) -> RowFilter:
    """Parse CLI filters: each ``--where "col=a,b & col2=c"`` is one OR-ed clause."""
    data = []
    for text in clauses or []:
        clause: dict[str, list[str]] = {}
        for cond in text.split("&"):
            cond = cond.strip()
            if not cond:
                continue
            if "=" not in cond:
                raise ManifestError(f"--where {text!r}: expected column=value[,value...], got {cond!r}")
            col, _, vals = cond.partition("=")
            clause[col.strip()] = [v.strip() for v in vals.split(",") if v.strip()]
        data.append(clause)
    return RowFilter.from_data(data)


@dataclass
class Manifest:
    """A validated table of images; ``frame`` holds absolute paths.

    Build one with :meth:`read` (CSV or Parquet) or :meth:`from_frame`; both check the columns,
    empty values, duplicate paths and the ``split``/``fold`` values, and say which row is wrong.
    """

    frame: pd.DataFrame
    origin: str = "manifest"
    label_mapping: LabelMapping | None = field(default=None)

    # -- construction -----------------------------------------------------------------
    @classmethod
    def read(cls, path: str | Path) -> Manifest:
        """Read a CSV or Parquet manifest; relative paths resolve against its folder."""
        path = Path(path)
        if not path.exists():
            raise ManifestError(f"{path}: manifest not found")
        if path.is_dir():
            raise ManifestError(f"{path}: is a folder; give the manifest file (CSV or Parquet)")
        try:
            if path.suffix.lower() in (".parquet", ".pq"):
                frame = pd.read_parquet(path)
                frame = frame.astype({c: str for c in frame.columns if c in REQUIRED_COLUMNS})
            else:
                frame = pd.read_csv(path, dtype=str, keep_default_na=False)
        except pd.errors.EmptyDataError:
            raise ManifestError(f"{path}: manifest is empty (no header, no rows)") from None
        except (pd.errors.ParserError, UnicodeDecodeError, OSError, ValueError) as exc:
            first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
            raise ManifestError(f"{path}: cannot parse manifest ({first})") from None
        return cls.from_frame(frame, root=path.parent, origin=str(path))

    @classmethod
    def from_frame(
        cls, frame: pd.DataFrame, root: str | Path | None = None, origin: str = "manifest"
    ) -> Manifest:
        """Validate a DataFrame; relative paths resolve against ``root`` (default: cwd)."""
        frame = frame.copy()
        missing = [c for c in REQUIRED_COLUMNS if c not in frame.columns]
        if missing:
            raise ManifestError(
                f"{origin}: missing required column{'s' if len(missing) > 1 else ''} "
                f"{', '.join(repr(m) for m in missing)} (has: {', '.join(map(str, frame.columns))})"
            )
        if len(frame) == 0:
            raise ManifestError(f"{origin}: manifest has a header but no rows")
        frame = frame.reset_index(drop=True)
        for col in REQUIRED_COLUMNS:
            frame[col] = frame[col].astype(str).str.strip()
            empty = (frame[col] == "") | (frame[col].str.lower().isin(["nan", "none"]))
            if empty.any():
                i = int(np.flatnonzero(empty.to_numpy())[0])
                raise ManifestError(f"{origin} row {i + 1}: empty {col!r} ({int(empty.sum())} rows)")
        base = Path(root) if root is not None else Path.cwd()
        for col in PATH_COLUMNS:
            if col in frame.columns:
                frame[col] = [_resolve(v, base) for v in frame[col]]
        dup = frame["path"].duplicated(keep=False)
        if dup.any():
            first = int(np.flatnonzero(dup.to_numpy())[0])
            path = frame["path"].iloc[first]
            twin = int(np.flatnonzero((frame["path"] == path).to_numpy())[1])
            raise ManifestError(f"{origin} rows {first + 1} and {twin + 1}: duplicate path {path}")
        _check_one_file_one_row(frame, origin)
        if "split" in frame.columns:
            frame["split"] = frame["split"].fillna("").astype(str).str.strip().str.lower()
            bad = ~frame["split"].isin((*SPLITS, ""))
            if bad.any():
                i = int(np.flatnonzero(bad.to_numpy())[0])
                raise ManifestError(
                    f"{origin} row {i + 1}: split {frame['split'].iloc[i]!r} is not one of {SPLITS}"
                )
        if "fold" in frame.columns:
            frame["fold"] = _int_column(frame["fold"], "fold", origin)
        return cls(frame=frame, origin=origin)

    # -- basic access -----------------------------------------------------------------
    def __len__(self) -> int:
        return len(self.frame)

    def files_stamp(self) -> str:
        """A digest of every file the rows name (images and masks): path, byte size and
        modification time, the key the image cache decides by. Results stamped with it are
        redone, never reused, when a file changes under the same manifest."""
        h = hashlib.sha256()
        for col in PATH_COLUMNS:
            if col not in self.frame.columns:
                continue
            for path in self.frame[col]:
                if path:
                    h.update(f"{col}\t{path}\t{file_key(path)}\n".encode())
        return h.hexdigest()

    @property
    def paths(self) -> list[str]:
        return self.frame["path"].tolist()

    def has(self, column: str) -> bool:
        return column in self.frame.columns and bool((self.frame[column].astype(str) != "").any())

    def with_frame(self, frame: pd.DataFrame) -> Manifest:
        """Same origin and mapping, another (already validated) frame."""
        return Manifest(frame.reset_index(drop=True), self.origin, self.label_mapping)

    # -- checks and selections --------------------------------------------------------
    def check_files(self, column: str = "path") -> None:
        """Raise naming the first row whose file does not exist."""
        if column not in self.frame.columns:
            return
        values = self.frame[column].astype(str)
        missing = [i for i, p in enumerate(values) if p and not os.path.isfile(p)]
        if missing:
            i = missing[0]
            more = f" (and {len(missing) - 1} more)" if len(missing) > 1 else ""
            raise ManifestError(f"{self.origin} row {i + 1}: file not found: {values.iloc[i]}{more}")

    def filter(self, row_filter: RowFilter) -> Manifest:
        """Rows that pass ``row_filter``; an empty result is an error."""
        keep = row_filter.mask(self.frame, self.origin)
        if not keep.any():
            raise ManifestError(f"{self.origin}: no rows pass the filter {row_filter.to_data()}")
        return self.with_frame(self.frame[keep])

    def with_labels(self, mapping: LabelMapping | None) -> Manifest:
        """Attach the binary mapping (inferred when the labels are already binary)."""
        mapping = mapping or LabelMapping.from_labels(self.frame["label"], self.origin)
        mapping.encode(self.frame["label"], self.origin)  # raises on unknown labels
        return Manifest(self.frame, self.origin, mapping)

    @property
    def y(self) -> np.ndarray:
        """Binary labels (1 = positive) under the attached mapping."""
        if self.label_mapping is None:
            raise ManifestError(f"{self.origin}: no label mapping attached (say which labels are positive)")
        return self.label_mapping.encode(self.frame["label"], self.origin)

    # -- output -----------------------------------------------------------------------
    def write(self, path: str | Path, within: str | Path | None = None) -> Path:
        """Write CSV or Parquet (by suffix), paths relative to the output folder where possible.

        With ``within`` (a run folder), only paths inside it are relative and the others absolute,
        so the folder can be moved to any depth and still find both."""
        path = Path(path).absolute()
        home = None if within is None else os.path.abspath(within)
        frame = self.frame.copy()
        for col in PATH_COLUMNS:
            if col in frame.columns:
                frame[col] = [v if home is not None and v and not _inside(v, home) else _relative(v, path.parent)
                              for v in frame[col]]
        if path.suffix.lower() in (".parquet", ".pq"):
            return atomic_write(path, lambda p: frame.to_parquet(p, index=False))
        return atomic_write(path, lambda p: frame.to_csv(p, index=False))


def _resolve(value: object, base: Path) -> str:
    text = "" if value is None or (isinstance(value, float) and np.isnan(value)) else str(value).strip()
    if not text:
        return ""
    return os.path.abspath(os.path.join(base, os.path.expanduser(text)))


def _real_paths(paths: pd.Series) -> list[str]:
    """Each path with its links resolved: one ``realpath`` per folder, one ``lstat`` per file."""
    folders: dict[str, str] = {}
    out = []
    for p in paths:
        head, tail = os.path.split(p)
        if head not in folders:
            folders[head] = os.path.realpath(head)
        joined = os.path.join(folders[head], tail)
        out.append(os.path.realpath(joined) if os.path.islink(joined) else joined)
    return out


def _check_one_file_one_row(frame: pd.DataFrame, origin: str) -> None:
    """Refuse one image file reached by two paths (a link, or a linked folder): it would be
    counted twice, possibly under two labels or patients, and could sit on both sides of a split."""
    real = pd.Series(_real_paths(frame["path"]), index=frame.index)
    dup = real.duplicated(keep=False)
    if not dup.any():
        return
    first = int(np.flatnonzero(dup.to_numpy())[0])
    twin = int(np.flatnonzero((real == real.iloc[first]).to_numpy())[1])
    a, b = frame.iloc[first], frame.iloc[twin]
    differ = [f"{c} {a[c]!r} and {b[c]!r}" for c in ("label", "patient_id", "source") if a[c] != b[c]]
    raise ManifestError(f"{origin} rows {first + 1} and {twin + 1}: one image file by two paths ({a['path']} and "
                        f"{b['path']} are both {real.iloc[first]})" + (f", under {'; '.join(differ)}" if differ else "")
                        + "; keep one row")


def _inside(value: str, home: str) -> bool:
    try:
        return os.path.commonpath([os.path.abspath(value), home]) == home
    except ValueError:  # another drive on Windows
        return False


def _relative(value: str, base: Path) -> str:
    if not value:
        return value
    try:
        return os.path.relpath(value, base)
    except ValueError:  # another drive on Windows
        return value


def _int_column(col: pd.Series, name: str, origin: str) -> pd.Series:
    text = col.astype(str).str.strip().replace({"nan": "", "None": "", "<NA>": ""})
    out = pd.to_numeric(text.replace("", np.nan), errors="coerce")
    bad = out.isna() & (text != "")
    if bad.any():
        i = int(np.flatnonzero(bad.to_numpy())[0])
        raise ManifestError(f"{origin} row {i + 1}: {name} {text.iloc[i]!r} is not an integer")
    return out.astype("Int64")
