"""Importers: turn public datasets' own folder layouts into cxr-isi manifests.

Each importer is one function ``(root, **options) -> Manifest`` registered under a name; its
docstring shows the layout it expects. ``cxr-isi import NAME ROOT --out M.csv`` runs one.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from cxr_isi.data.manifest import Manifest
from cxr_isi.errors import ImporterError

Importer = Callable[..., Manifest]
IMPORTERS: dict[str, Importer] = {}
IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".dcm", ".dicom", ".tif", ".tiff", ".bmp")


def register(name: str) -> Callable[[Importer], Importer]:
    def deco(fn: Importer) -> Importer:
        IMPORTERS[name] = fn
        return fn

    return deco


def run_importer(name: str, root: str | Path, **options) -> Manifest:
    """Run the importer ``name`` on ``root``; unknown names and options are clear errors."""
    import inspect

    if name not in IMPORTERS:
        raise ImporterError(f"unknown importer {name!r}; one of: {', '.join(sorted(IMPORTERS))}")
    fn = IMPORTERS[name]
    params = inspect.signature(fn).parameters
    unknown = [k for k in options if k not in params]
    if unknown:
        allowed = [p for p in params if p != "root"]
        raise ImporterError(f"importer {name!r} has no option {unknown[0]!r} (options: {allowed})")
    root = Path(root)
    if not root.exists():
        raise ImporterError(f"{root}: not found")
    return fn(root, **options)


def describe(name: str) -> str:
    """First line of an importer's docstring."""
    return (IMPORTERS[name].__doc__ or "").strip().splitlines()[0]


def list_images(folder: Path, recursive: bool = True) -> list[Path]:
    """Image files under ``folder`` in a stable order."""
    it = folder.rglob("*") if recursive else folder.glob("*")
    return sorted(p for p in it if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES)


def require(path: Path, what: str, importer: str) -> Path:
    if not path.exists():
        raise ImporterError(f"{path}: not found; the {importer} importer expects {what} there")
    return path


# Registration happens on import of these modules.
from cxr_isi.data.importers import covid, generic, public  # noqa: E402,F401

__all__ = ["IMPORTERS", "describe", "register", "run_importer"]


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
