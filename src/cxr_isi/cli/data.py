"""``cxr-isi split``, ``cache``, ``import``: a dataset made ready (splits, the image cache, public datasets as published)."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated

import typer
from rich.markup import escape
from rich.table import Table

from cxr_isi.cli.common import (
    CacheOpt,
    NegativeOpt,
    PositiveOpt,
    SeedOpt,
    app,
    at_least,
    err,
    friendly,
    label_mapping,
    out,
    outputs,
)
from cxr_isi.errors import CxrIsiError


@app.command()
@friendly
@outputs(out_path="file")
def split(
    manifest: Annotated[Path, typer.Argument(help="Manifest (CSV or Parquet).")],
    out_path: Annotated[Path, typer.Option("--out", "-o", help="Where to write the manifest with split/fold.")],
    test_size: Annotated[float, typer.Option(help="Share of patients held out for test.")] = 0.1,
    val_size: Annotated[float, typer.Option(help="Share held out for validation (0: none).")] = 0.0,
    folds: Annotated[int, typer.Option(help="Also assign k folds (0: none).")] = 0,
    by_source: Annotated[bool, typer.Option("--by-source/--label-only", help="Stratify the label within each source (default), or the label alone.")] = True,
    positive: PositiveOpt = None,
    negative: NegativeOpt = None,
    seed: SeedOpt = 0,
) -> None:
    """Write a patient-grouped train/test split and k folds.

    Write a patient-grouped train/test split and k folds, the label stratified within each
    source (so a source's class ratio is alike on both sides)."""
    from cxr_isi.data import Manifest
    from cxr_isi.data.splits import assign_folds, assign_split

    m = Manifest.read(manifest)
    if positive:
        m = m.with_labels(label_mapping(positive, negative))
    m = assign_split(m, test_size=test_size, val_size=val_size, seed=seed, by_source=by_source)
    if folds:
        m = assign_folds(m, k=folds, seed=seed, by_source=by_source)
    m.write(out_path)
    counts = m.frame["split"].value_counts().to_dict()
    out.print(f"split {counts}" + (f", {folds} folds" if folds else "") + f" -> {out_path}")


@app.command()
@friendly
def cache(
    manifest: Annotated[Path, typer.Argument(help="Manifest (CSV or Parquet).")],
    size: Annotated[int, typer.Option(help="Square side in pixels (512 as the paper; 256/128 on CPU).")] = 512,
    resize: Annotated[str, typer.Option(help="pad (keep aspect ratio) | squeeze | crop.")] = "pad",
    masks: Annotated[bool, typer.Option("--masks/--no-masks", help="Also cache mask_path.")] = True,
    cache_dir: CacheOpt = None,
    jobs: Annotated[int | None, typer.Option(help="Worker processes (default: one per 1,000 images to cache, up to all cores).", callback=at_least("--jobs", 1))] = None,
) -> None:
    """Decode and resize every image once into the image cache.

    Decode and resize every image once into the memory-mapped cache (resumable)."""
    from cxr_isi.data import Manifest
    from cxr_isi.data.cache import ImageCache

    m = Manifest.read(manifest)
    kinds = [("image", m.paths)]
    if masks and m.has("mask_path"):
        kinds.append(("mask", [p for p in m.frame["mask_path"] if p]))
    for kind, paths in kinds:
        c = ImageCache(cache_dir, size=size, resize=resize, kind=kind)
        rep = c.update(paths, jobs=jobs, progress=sys.stderr.isatty())
        for _, why in rep.failures:
            err.print(f"[yellow]skipped:[/] {escape(str(why))}", highlight=False)
        if c.rebuilt:
            err.print(f"[yellow]rebuilt:[/] the {kind} cache was damaged ({c.rebuilt})", highlight=False)
        out.print(f"{kind}s: {rep.n_built} built, {rep.n_reused} reused, {len(rep.failures)} failed "
                  f"in {rep.seconds:.1f} s -> {c.dir}")


@app.command("import")
@friendly
@outputs(out_path="file")
def import_(
    name: Annotated[str, typer.Argument(help="Importer; see --list.")] = "",
    root: Annotated[Path | None, typer.Argument(help="The dataset's folder as unpacked (or CSV file).")] = None,
    out_path: Annotated[Path | None, typer.Option("--out", "-o", help="Manifest to write (.csv or .parquet); IMPORT.json goes beside it.")] = None,
    opt: Annotated[list[str] | None, typer.Option("--opt", help="Importer option key=value (repeat).")] = None,
    dry_run: Annotated[bool, typer.Option("--dry-run", help="Say what would be imported; write nothing.")] = False,
    keep_missing: Annotated[bool, typer.Option("--keep-missing", help="Keep rows whose image file is absent.")] = False,
    keep_unknown: Annotated[bool, typer.Option("--keep-unknown", help="Keep rows whose finding is unknown (label 'unknown').")] = False,
    list_: Annotated[bool, typer.Option("--list", help="List the importers and their layouts.")] = False,
) -> None:
    """Turn a public dataset, as published, into a manifest.

    Turn a public dataset, as published, into a manifest (QaTa, BIMCV, ieee8023, Kermany, ...)."""
    from cxr_isi.data.importers import IMPORTERS, check_import_record, describe, import_dataset, parse_options

    if list_ or not name:
        t = Table(title="importers")
        t.add_column("name")
        t.add_column("dataset")
        for n in sorted(IMPORTERS):
            t.add_row(n, describe(n))
        out.print(t)
        return
    if root is None or (out_path is None and not dry_run):
        raise CxrIsiError("usage: cxr-isi import NAME ROOT --out MANIFEST.csv [--opt key=value] [--dry-run]")
    if out_path is not None and not dry_run:
        check_import_record(out_path)
    result = import_dataset(name, root, keep_missing=keep_missing, keep_unknown=keep_unknown, **parse_options(opt))
    print_import(result.report)
    if dry_run:
        out.print("dry run: nothing written")
        return
    assert out_path is not None
    result.manifest.write(out_path)
    report = result.report.write_beside(out_path)
    m = result.manifest
    out.print(f"{len(m)} images, {m.frame['patient_id'].nunique()} patients -> {out_path}; report -> {report}")


def print_import(rep) -> None:
    out.print(f"{rep.importer} ({rep.dataset_version or 'layout'}) at {rep.root}: {rep.rows_read} rows read, "
              f"{rep.rows_kept} kept")
    t = Table(title="images per label and source")
    t.add_column("label")
    t.add_column("images", justify="right")
    for k, v in rep.labels.items():
        t.add_row(k, str(v))
    out.print(t)
    out.print("sources: " + ", ".join(f"{k} {v}" for k, v in rep.sources.items()), soft_wrap=True)
    if rep.dropped_by_reason:
        d = Table(title="left out, by reason (all in IMPORT.json)")
        for c in ("reason", "rows", "first (line: file, detail)"):
            d.add_column(c)
        for reason, n in rep.dropped_by_reason.items():
            first = next(x for x in rep.dropped if x["reason"] == reason)
            where = f"line {first['line']}: " if first["line"] else ""
            d.add_row(reason, str(n), f"{where}{Path(first['path']).name}, {first['detail']}")
        out.print(d)
