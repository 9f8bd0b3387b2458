"""Importers: turn public datasets' own folder layouts, as their publishers ship them, into
cxr-isi manifests.

Each importer is one function ``(root, **options) -> Imported`` registered under a name; its
docstring shows the layout(s) it accepts and its label, source and patient rules. The importer
reads what the files say; :func:`import_dataset` then applies what every dataset needs alike:
the root the user unpacked (a doubled top folder, ``__MACOSX/``, ``._*`` files), typed options,
what the publisher got wrong (duplicate rows kept once, rows whose file is absent, unknown
findings), and one report of rows read, kept and dropped by reason (``IMPORT.json`` beside the
manifest). ``cxr-isi import NAME ROOT --out M.csv`` runs one.
"""

from __future__ import annotations

import csv
import io
import os
import typing
from collections import Counter
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path

import pandas as pd

from cxr_isi.data.manifest import Manifest
from cxr_isi.errors import ImporterError
from cxr_isi.logs import get_logger

log = get_logger("importers")
IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".dcm", ".dicom", ".tif", ".tiff", ".bmp")
UNKNOWN = "unknown"  # the label of a row whose finding the publisher left open (todo, blank, Unknown)
_JUNK = ("__MACOSX",)  # what archive tools leave beside the data


@dataclass
class Imported:
    """What an importer found: one row per image (``path, label, source, patient_id`` and
    more; ``line`` is the row's line in the publisher's table, where there is one), the layout
    version it recognised, and the rows it set aside itself (``reason, line, path, detail``)."""

    frame: pd.DataFrame
    version: str = ""
    dropped: list[dict] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    rows_read: int | None = None


@dataclass
class ImportReport:
    """One import's summary: rows read, kept, and dropped by reason, with each dropped row."""

    importer: str
    root: str
    dataset_version: str
    rows_read: int
    rows_kept: int
    dropped_by_reason: dict[str, int]
    labels: dict[str, int]
    sources: dict[str, int]
    warnings: list[str]
    dropped: list[dict]

    def as_dict(self) -> dict:
        return asdict(self)

    def write(self, path: str | Path) -> Path:
        from cxr_isi._io import write_json

        return write_json(path, self.as_dict())

    def write_beside(self, manifest_path: str | Path) -> Path:
        """``IMPORT.json`` beside the manifest it reports on, naming it; refused (before anything is
        written: call :func:`check_import_record` first) where it would replace another import's."""
        from cxr_isi._io import write_json

        manifest_path = Path(manifest_path)
        return write_json(manifest_path.parent / IMPORT_RECORD, {**self.as_dict(), "manifest": manifest_path.name})


IMPORT_RECORD = "IMPORT.json"


def check_import_record(manifest_path: str | Path) -> None:
    """Refuse an import whose ``IMPORT.json`` would replace the record of another manifest in the
    same folder (a record without a name counts as another's unless the manifest is rewritten)."""
    import json

    manifest_path = Path(manifest_path)
    record = manifest_path.parent / IMPORT_RECORD
    if not record.is_file():
        return
    try:
        named = json.loads(record.read_text()).get("manifest")
    except (ValueError, AttributeError, OSError):
        named = None
    if named == manifest_path.name or (named is None and manifest_path.exists()):
        return
    raise ImporterError(f"{record}: holds the import record of {named or 'another manifest'}; write "
                        f"{manifest_path.name} to a folder of its own (one import per folder)")


@dataclass
class ImportResult:
    """The manifest an import made and its report."""

    manifest: Manifest
    report: ImportReport


Importer = Callable[..., Imported]
IMPORTERS: dict[str, Importer] = {}


def register(name: str) -> Callable[[Importer], Importer]:
    def deco(fn: Importer) -> Importer:
        IMPORTERS[name] = fn
        return fn

    return deco


_TRUE, _FALSE = {"true", "yes", "1", "on", "y"}, {"false", "no", "0", "off", "n"}


def _typed(name: str, key: str, value: object, kind: object) -> object:
    """An option's value as its importer's annotation says (``--opt`` gives strings)."""
    if not isinstance(value, str):
        return value
    kinds = set(typing.get_args(kind)) or {kind}
    if bool in kinds:
        low = value.strip().lower()
        if low in _TRUE:
            return True
        if low in _FALSE:
            return False
        raise ImporterError(f"importer {name!r}: option {key}={value!r} is not a boolean (true or false)")
    for number in (int, float):
        if number in kinds:
            try:
                return number(value)
            except ValueError:
                raise ImporterError(f"importer {name!r}: option {key}={value!r} is not a {number.__name__}") from None
    return value


def import_dataset(name: str, root: str | Path, *, keep_missing: bool = False, keep_unknown: bool = False,
                   **options) -> ImportResult:
    """Run the importer ``name`` on the folder the user unpacked, and check what it found.

    Parameters
    ----------
    name : str
        A registered importer (``cxr-isi import --list``).
    root : path
        The dataset's folder as unpacked (or, for ``csv``, the CSV file).
    keep_missing : bool
        Keep rows whose image file is absent (default: dropped and listed).
    keep_unknown : bool
        Keep rows whose finding is unknown (label ``unknown``; default: dropped and listed).
    **options
        The importer's own options, typed by its signature (strings such as ``"false"`` are
        parsed; a value of the wrong type is an error naming it).

    Returns
    -------
    ImportResult
        The manifest (absolute paths, a ``dataset_version`` column) and the report.
    """
    if name not in IMPORTERS:
        raise ImporterError(f"unknown importer {name!r}; one of: {', '.join(sorted(IMPORTERS))}")
    fn = IMPORTERS[name]
    import inspect

    params = inspect.signature(fn).parameters
    unknown = [k for k in options if k not in params]
    if unknown:
        allowed = [p for p in params if p != "root"]
        raise ImporterError(f"importer {name!r} has no option {unknown[0]!r} (options: {allowed})")
    hints = typing.get_type_hints(fn)
    options = {k: _typed(name, k, v, hints.get(k, str)) for k, v in options.items()}
    root = Path(os.path.abspath(root))
    if not root.exists():
        raise ImporterError(f"{root}: not found")
    if name != "csv" and not root.is_dir():
        raise ImporterError(f"{root}: is a file; the {name} importer takes the folder the dataset was unpacked into")
    found = fn(root, **options)
    return _finish(name, root, found, keep_missing=keep_missing, keep_unknown=keep_unknown)


def set_aside(frame: pd.DataFrame, mask: pd.Series, reason: str, detail: Callable[[pd.Series], str] | str,
              into: list[dict], path: str = "path") -> pd.DataFrame:
    """``frame`` without the rows of ``mask``, each recorded in ``into`` as ``reason, line, path,
    detail`` (``line``: the row's line in the publisher's table, where known)."""
    for _, row in frame[mask].iterrows():
        into.append({"reason": reason, "line": _line(row.get("line")),
                     "path": str(row.get(path, "")), "detail": detail(row) if callable(detail) else detail})
    return frame[~mask].reset_index(drop=True)


def run_importer(name: str, root: str | Path, **options) -> Manifest:
    """:func:`import_dataset`'s manifest alone."""
    return import_dataset(name, root, **options).manifest


def _finish(name: str, root: Path, found: Imported, *, keep_missing: bool, keep_unknown: bool) -> ImportResult:
    frame = found.frame.reset_index(drop=True).copy()
    dropped = list(found.dropped)
    warnings = list(found.warnings)
    rows_read = found.rows_read if found.rows_read is not None else len(frame) + len(dropped)
    if "line" not in frame.columns:
        frame["line"] = pd.Series([None] * len(frame), dtype=object)

    if len(frame):
        frame["path"] = frame["path"].astype(str)
        first_line = frame.groupby("path", sort=False)["line"].first()
        frame = set_aside(frame, frame["path"].duplicated(keep="first"), "duplicate row",
                          lambda r: f"the same file as line {_line(first_line[r['path']])} (kept once)"
                          + (f"; patient {r['patient_id']}" if "patient_id" in r else ""), dropped)
        if not keep_unknown:
            frame = set_aside(frame, frame["label"].astype(str) == UNKNOWN, "unknown finding",
                              lambda r: f"finding {r.get('orig_label', '')!r}".replace("''", "left open"), dropped)
        absent = ~frame["path"].map(os.path.isfile)
        if keep_missing:
            if absent.any():
                warnings.append(f"{int(absent.sum())} rows kept whose image file is absent (--keep-missing), "
                                f"first: {frame['path'][absent].iloc[0]}")
        else:
            frame = set_aside(frame, absent, "file absent", "no such file", dropped)
    by_reason = dict(Counter(d["reason"] for d in dropped))
    if frame.empty:
        why = ", ".join(f"{n} {r}" for r, n in by_reason.items()) or "none found"
        raise ImporterError(f"{root}: no image left to import ({rows_read} rows read; dropped: {why})")
    frame["dataset_version"] = found.version
    if frame["line"].isna().all():
        frame = frame.drop(columns="line")
    manifest = Manifest.from_frame(frame, origin=f"{name} importer at {root}")
    for w in warnings:
        log.warning("%s", w)
    if by_reason:
        log.warning("%s: %d of %d rows dropped (%s)", name, len(dropped), rows_read,
                    ", ".join(f"{n} {r}" for r, n in by_reason.items()))
    report = ImportReport(
        importer=name, root=str(root), dataset_version=found.version, rows_read=int(rows_read),
        rows_kept=len(manifest), dropped_by_reason=by_reason,
        labels={str(k): int(v) for k, v in manifest.frame["label"].value_counts().items()},
        sources={str(k): int(v) for k, v in manifest.frame["source"].value_counts().items()},
        warnings=warnings, dropped=dropped)
    return ImportResult(manifest, report)


def _line(value) -> int | None:
    return None if value is None or pd.isna(value) else int(value)


def describe(name: str) -> str:
    """First line of an importer's docstring."""
    return (IMPORTERS[name].__doc__ or "").strip().splitlines()[0]


def visible(p: Path) -> bool:
    """Not archive debris: no ``__MACOSX`` folder on the way, no ``._*`` or hidden file."""
    return not any(part in _JUNK or part.startswith(".") for part in p.parts[-4:])


def list_images(folder: Path, recursive: bool = True) -> list[Path]:
    """Image files under ``folder`` in a stable order, archive debris left out."""
    it = folder.rglob("*") if recursive else folder.glob("*")
    return sorted(p for p in it if p.suffix.lower() in IMAGE_SUFFIXES and visible(p.relative_to(folder))
                  and p.is_file())


def find_below(root: Path, test: Callable[[Path], bool], depth: int = 3) -> list[Path]:
    """Folders at or below ``root`` (at most ``depth`` levels, archive debris skipped) for
    which ``test`` holds, shallowest first; a match is not searched further. This is how an
    importer finds its dataset from the folder the user unpacked (``chest_xray/chest_xray/``)."""
    found, level = [], [root]
    for _ in range(depth + 1):
        nxt = []
        for d in level:
            if test(d):
                found.append(d)
            else:
                try:
                    nxt += sorted(p for p in d.iterdir() if p.is_dir() and p.name not in _JUNK
                                  and not p.name.startswith("."))
                except OSError:
                    continue
        level = nxt
    return found


def read_table(path: Path, sep: str = ",") -> tuple[pd.DataFrame, list[str]]:
    """A publisher's CSV/TSV as strings, with each row's line in the file (``line``; a quoted
    field may span lines) and the warnings it gave: a file that is not UTF-8 is read as
    Windows-1252 (Latin-1 where that fails) with a warning, never a traceback."""
    raw = path.read_bytes()
    warnings = []
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        try:
            text, encoding = raw.decode("cp1252"), "Windows-1252"
        except UnicodeDecodeError:
            text, encoding = raw.decode("latin-1"), "Latin-1"  # decodes any bytes
        warnings.append(f"{path}: not UTF-8 (byte {raw[exc.start]:#x} at offset {exc.start}); read as {encoding}")
    lines = []
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=sep)
    prev = 0
    for record in reader:
        if record and any(v.strip() for v in record):
            lines.append(prev + 1)
        prev = reader.line_num
    try:
        frame = pd.read_csv(io.StringIO(text), sep=sep, dtype=str, keep_default_na=False,
                            skip_blank_lines=True)
    except (pd.errors.ParserError, ValueError) as exc:
        raise ImporterError(f"{path}: not a readable table ({str(exc).splitlines()[0]})") from None
    frame.columns = [str(c).strip() for c in frame.columns]
    frame = frame.loc[:, [not c.startswith("Unnamed:") for c in frame.columns]]
    body = lines[1:]
    frame["line"] = body if len(body) == len(frame) else [i + 2 for i in range(len(frame))]
    return frame, warnings


def require(path: Path, what: str, importer: str) -> Path:
    if not path.exists():
        raise ImporterError(f"{path}: not found; the {importer} importer expects {what} there")
    return path


def require_columns(frame: pd.DataFrame, columns: list[str], file: Path) -> None:
    missing = [c for c in columns if c not in frame.columns]
    if missing:
        has = ", ".join(c for c in frame.columns if c != "line")
        raise ImporterError(f"{file}: missing column {missing[0]!r} (has: {has})")


# Registration happens on import of these modules.
from cxr_isi.data.importers import covid, generic, public  # noqa: E402,F401

__all__ = ["IMPORTERS", "ImportReport", "ImportResult", "Imported", "describe", "import_dataset", "register",
           "run_importer"]


def parse_options(pairs: list[str] | None) -> dict[str, str]:
    """``["key=value", ...]`` (the CLI's repeated ``--opt``) as a dict; anything else is a
    one-line error naming it."""
    options: dict[str, str] = {}
    for o in pairs or []:
        if "=" not in o:
            raise ImporterError(f"--opt {o!r}: expected key=value")
        k, _, v = o.partition("=")
        options[k.strip()] = v.strip()
    return options
