"""``cxr-isi``: every command with one line of help; errors are one line, exit status 2."""

from __future__ import annotations

import functools
import os
import shutil
import signal
import sys
import threading
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from cxr_isi import __version__
from cxr_isi.choices import check_choice
from cxr_isi.errors import CxrIsiError
from cxr_isi.logs import setup_logging

app = typer.Typer(
    name="cxr-isi",
    help="Did a chest X-ray classifier learn the disease, or where the images came from?",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
out = Console()
err = Console(stderr=True)

ManifestArg = Annotated[Path | None, typer.Argument(help="Manifest (CSV or Parquet).", show_default=False)]
ConfigOpt = Annotated[Path | None, typer.Option("--config", "-c", help="Dataset YAML: manifest, filter, labels.")]
PositiveOpt = Annotated[list[str] | None, typer.Option("--positive", "-p", help="Label counted positive (repeat).")]
NegativeOpt = Annotated[list[str] | None, typer.Option("--negative", "-n", help="Label counted negative (repeat); default: all others.")]
WhereOpt = Annotated[list[str] | None, typer.Option("--where", "-w", help="Keep rows: 'col=a,b & col2=c' (repeat = OR).")]
SEED_MAX = 2**32 - 1


def at_least(option: str, low: float, high: float | None = None):
    """A parameter callback: a number outside ``[low, high]`` (or NaN) is one line on stderr and
    exit status 2 (typer's own range check prints a usage box over several lines)."""

    def check(value):
        if value is not None and not (low <= value and (high is None or value <= high)):
            span = f"from {low} to {high}" if high is not None else f"{low} or more"
            err.print(f"[bold red]error:[/] {option} {value}: must be {span}", highlight=False, soft_wrap=True)
            raise typer.Exit(2)
        return value

    return check


SeedOpt = Annotated[int, typer.Option(help="Seed for every random choice.", callback=at_least("--seed", 0, SEED_MAX))]
CacheOpt = Annotated[Path | None, typer.Option("--cache", help="Cache folder (default $CXR_ISI_CACHE or ~/.cache/cxr_isi).")]


def _version(value: bool) -> None:
    if value:
        out.print(f"cxr-isi {__version__}")
        raise typer.Exit()


@app.callback()
def main(
    verbose: Annotated[int, typer.Option("--verbose", "-v", count=True, help="More log output.")] = 0,
    version: Annotated[bool, typer.Option("--version", callback=_version, is_eager=True,
                                          help="Print the version and exit.")] = False,
) -> None:
    """Did a chest X-ray classifier learn the disease, or where the images came from?"""
    setup_logging(verbosity=verbose)


def friendly(fn):
    """Turn the package's errors into one line on stderr and exit status 2."""

    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        main_thread = threading.current_thread() is threading.main_thread()
        before = signal.signal(signal.SIGTERM, _terminated) if main_thread else None
        try:
            return fn(*args, **kwargs)
        except Terminated:
            err.print("terminated; what was finished is kept, run the same command to resume")
            raise typer.Exit(143) from None
        except CxrIsiError as exc:
            err.print(f"[bold red]error:[/] {escape(str(exc))}", highlight=False, soft_wrap=True)
            raise typer.Exit(2) from None
        except OSError as exc:  # an output path that is a folder, a file, under a file, not writable...
            err.print(f"[bold red]error:[/] {escape(_os_message(exc))}", highlight=False, soft_wrap=True)
            raise typer.Exit(2) from None
        except KeyboardInterrupt:
            err.print("interrupted; what was finished is kept, run the same command to resume")
            raise typer.Exit(130) from None
        finally:
            if main_thread:
                signal.signal(signal.SIGTERM, before)

    return wrapper


class Terminated(KeyboardInterrupt):
    """SIGTERM (a scheduler's or a ``kill``'s stop): unwound like Ctrl-C, so pools shut down,
    finished work is saved and the command says so in one line."""


def _terminated(signum, frame) -> None:
    raise Terminated()


_OPTION = {"out_path": "--out", "out_dir": "--out", "json_out": "--json", "figure": "--figure", "csv_out": "--csv", "preview": "--preview"}


def outputs(**kinds: str):
    """Check a command's output options (``name="file"``, ``"figure"``: a file named .png, .svg or
    .pdf, or ``"folder"``) before it does any work:
    a wrong one is a one-line error naming the path (under :func:`friendly`). An output file that
    is one of the command's own input files (by any path: ``./``, ``..``, a link) is refused: no
    command writes over its input."""
    from cxr_isi._io import check_not_input, check_output

    def deco(fn):
        @functools.wraps(fn)
        def wrapper(*args, **kwargs):
            given = [v for k, v in kwargs.items() if k not in kinds for v in (v if isinstance(v, list) else [v])
                     if isinstance(v, Path)]
            for name, kind in kinds.items():
                if kwargs.get(name) is not None:
                    check_output(kwargs[name], folder=kind == "folder", option=_OPTION[name])
                    if kind in ("file", "figure"):
                        check_not_input(kwargs[name], given, option=_OPTION[name])
                    if kind == "figure" and Path(kwargs[name]).suffix.lower() not in (".png", ".svg", ".pdf"):
                        raise CxrIsiError(f"{_OPTION[name]} {kwargs[name]}: a figure is written as .png, .svg or .pdf")
            new = [_first_missing(Path(kwargs[name])) for name in kinds if kwargs.get(name) is not None]
            try:
                return fn(*args, **kwargs)
            except BaseException:
                for made in new:  # a failed command leaves no empty output folder behind
                    if made is not None:
                        _remove_if_empty(made)
                raise

        return wrapper

    return deco


def _first_missing(path: Path) -> Path | None:
    """The outermost folder of ``path`` (itself included) that does not exist yet."""
    missing = None
    for p in (path, *path.absolute().parents):
        if os.path.lexists(p):
            break
        missing = p
    return missing


def _remove_if_empty(top: Path) -> None:
    """Remove ``top`` when it holds nothing but empty folders and run locks; anything written
    stays."""
    if not top.is_dir():
        return
    entries = list(top.rglob("*"))
    if all(e.is_dir() or e.name == ".lock" for e in entries):
        shutil.rmtree(top, ignore_errors=True)


def _os_message(exc: OSError) -> str:
    """One line for a file-system error: the path and what is wrong with it."""
    where = exc.filename or ""
    if isinstance(exc, FileExistsError) and where and Path(where).is_file():
        return f"{where}: is a file, not a folder (a part of this path is a file)"
    what = {IsADirectoryError: "is a folder, not a file", NotADirectoryError: "a part of this path is a file, "
            "not a folder", FileExistsError: "already exists", PermissionError: "cannot be written (permission "
            "denied)", FileNotFoundError: "not found"}.get(type(exc), (exc.strerror or str(exc)).lower())
    return f"{where}: {what}" if where else what


def label_mapping(positive: list[str] | None, negative: list[str] | None):
    """The binary mapping from --positive/--negative (None without --positive); bad lists are
    one-line errors."""
    from cxr_isi.config import parse_model
    from cxr_isi.data import LabelMapping

    if negative and not positive:
        raise CxrIsiError("--negative needs --positive too")
    if not positive:
        return None
    return parse_model(LabelMapping, {"positive": positive, "negative": negative or None},
                       "--positive/--negative")


def load_dataset(manifest: Path | None, config: Path | None, positive: list[str] | None,
                 negative: list[str] | None, where: list[str] | None):
    """A manifest with its label mapping, from a dataset YAML or from CLI options."""
    from cxr_isi.data import Manifest, parse_where
    from cxr_isi.data.spec import DatasetSpec

    if config is not None:
        if manifest is not None or positive or negative or where:
            raise CxrIsiError("give either --config or MANIFEST with --positive/--negative/--where")
        spec = DatasetSpec.from_yaml(config)
        return spec.load(), spec.filter
    if manifest is None:
        raise CxrIsiError("no dataset: give MANIFEST or --config DATASET.yaml")
    m = Manifest.read(manifest)
    row_filter = parse_where(where)
    if row_filter.clauses:
        m = m.filter(row_filter)
    mapping = label_mapping(positive, negative)
    if mapping is not None:
        mapping.check_present(m.frame["label"], str(manifest))
    return m.with_labels(mapping), row_filter.to_data()


def _fmt(x: float, nd: int = 3) -> str:
    return "n/a" if x != x else f"{x:.{nd}f}"


def print_audit(result) -> None:
    table = Table(title="Images per source and label (the paper's Table 1)", show_lines=False)
    label_cols = [c for c in result.table.columns if c.startswith("label:")]
    table.add_column("source")
    for c in label_cols:
        table.add_column(c.split(":", 1)[1], justify="right")
    table.add_column("positive", justify="right")
    table.add_column("negative", justify="right")
    table.add_column("positive share", justify="right")
    table.add_column("", justify="left")
    for src, row in result.table.iterrows():
        table.add_row(str(src), *[str(int(row[c])) for c in label_cols], str(int(row["n_positive"])),
                      str(int(row["n_negative"])), f"{row['positive_share']:.2f}",
                      "[yellow]single class[/]" if row["single_class"] else "")
    out.print(table)
    figs = Table(title="How much the source tells of the label", show_header=True)
    figs.add_column("figure")
    figs.add_column("value", justify="right")
    for name, value in [("images", str(result.n_images)), ("patients", str(result.n_patients)),
                        ("sources", str(result.n_sources)),
                        ("positive / negative", f"{result.n_positive} / {result.n_images - result.n_positive}"),
                        ("Cramér's V (source, label)", _fmt(result.cramers_v)),
                        ("normalised mutual information", _fmt(result.nmi)),
                        ("share of images in single-class sources", _fmt(result.single_class_fraction)),
                        ("source-only AUC (out-of-fold)", _fmt(result.source_only_auc))]:
        figs.add_row(name, value)
    out.print(figs)
    if not result.acquisition.empty:
        acq = Table(title="Acquisition properties against the label (out-of-fold)")
        for c in ("property", "kind", "values", "AUC", "out-of-fold AUC", ""):
            acq.add_column(c, justify="left" if c in ("property", "kind", "") else "right")
        for r in result.acquisition.to_dict("records"):
            acq.add_row(r["property"], r["kind"], str(r["n_values"]), _fmt(r["auc"], 2),
                        _fmt(r["oof_auc"], 2), f"[red]{r['note']}[/]" if r["flagged"] else r["note"])
        out.print(acq)
    for w in result.warnings:
        err.print(f"[yellow]warning:[/] {escape(str(w))}", highlight=False)
    colour = {"balanced": "green", "imbalanced": "yellow"}.get(result.verdict, "red")
    out.print(f"[bold {colour}]{result.headline()}[/]", highlight=False)


@app.command()
@friendly
@outputs(json_out="file")
def audit(
    manifest: ManifestArg = None,
    config: ConfigOpt = None,
    positive: PositiveOpt = None,
    negative: NegativeOpt = None,
    where: WhereOpt = None,
    json_out: Annotated[Path | None, typer.Option("--json", help="Write the figures as JSON here.")] = None,
    folds: Annotated[int, typer.Option(help="Folds of the out-of-fold AUCs.")] = 5,
    seed: SeedOpt = 0,
    read_files: Annotated[bool, typer.Option("--files/--no-files", "--check-files/--no-check-files", help="Check the files and read image headers for size, bit depth, format (--no-files: the manifest-only figures, no image touched).")] = True,
    header_sample: Annotated[int, typer.Option(callback=at_least("--header-sample", 0), help="Above this many images, read the headers of a random sample this size (0: all).")] = 50_000,
) -> None:
    """Audit the source-by-label structure: Table 1, Cramér's V, source-only AUC, confounders."""
    from cxr_isi._io import write_json
    from cxr_isi.audit import audit_manifest

    m, row_filter = load_dataset(manifest, config, positive, negative, where)
    if read_files:
        m.check_files()
    result = audit_manifest(m, n_splits=folds, seed=seed, read_files=read_files,
                            progress=sys.stderr.isatty(), row_filter=row_filter, header_sample=header_sample)
    print_audit(result)
    if json_out:
        write_json(json_out, {"manifest": m.origin, **result.as_dict()})
        out.print(f"figures written to {json_out}")


@app.command()
@friendly
@outputs(out_path="file")
def balance(
    manifest: ManifestArg = None,
    out_path: Annotated[Path, typer.Option("--out", "-o", help="Where to write the balanced manifest.")] = ...,  # type: ignore[assignment]  # typer: required
    config: ConfigOpt = None,
    positive: PositiveOpt = None,
    negative: NegativeOpt = None,
    where: WhereOpt = None,
    seed: SeedOpt = 0,
) -> None:
    """Write the intra-source balanced subset (each source's classes equalised)."""
    from cxr_isi.audit import balance_sources
    from cxr_isi.audit.imbalance import cramers_v

    m, _ = load_dataset(manifest, config, positive, negative, where)
    b = balance_sources(m, seed=seed)
    b.write(out_path)
    y = b.y
    out.print(f"kept {len(b)} of {len(m)} images from {b.frame['source'].nunique()} of "
              f"{m.frame['source'].nunique()} sources ({int(y.sum())} positive, {int(len(y) - y.sum())} "
              f"negative; Cramér's V {cramers_v(b.frame['source'].to_numpy(), y):.2f}) -> {out_path}")


@app.command()
@friendly
@outputs(json_out="file", csv_out="file")
def duplicates(
    manifest: Annotated[Path, typer.Argument(help="Manifest (CSV or Parquet).")],
    other: Annotated[Path | None, typer.Argument(help="A second manifest: report the images it shares with the first.")] = None,
    json_out: Annotated[Path | None, typer.Option("--json", help="Write the pairs as JSON here.")] = None,
    csv_out: Annotated[Path | None, typer.Option("--csv", help="Write the pairs as CSV here.")] = None,
    max_distance: Annotated[int, typer.Option(help="Largest perceptual-hash distance (bits of 64).", callback=at_least("--max-distance", 0, 64))] = 6,
    min_correlation: Annotated[float, typer.Option(help="Smallest thumbnail correlation that confirms a pair.", callback=at_least("--min-correlation", 0, 1))] = 0.97,
    cache: CacheOpt = None,
    jobs: Annotated[int | None, typer.Option(help="Worker processes (default: all cores).", callback=at_least("--jobs", 1))] = None,
) -> None:
    """Find near-duplicate images within and across sources and across train/test; with OTHER,
    the images of OTHER that MANIFEST also holds (what a cross-dataset test must leave out)."""
    from cxr_isi._io import write_json
    from cxr_isi.audit import find_near_duplicates
    from cxr_isi.data import Manifest

    m = Manifest.read(manifest)
    if other is not None:
        from cxr_isi.audit import find_overlap

        shared = find_overlap(m, Manifest.read(other), cache, max_distance=max_distance,
                              min_correlation=min_correlation, progress=sys.stderr.isatty())
        n_other = len(Manifest.read(other))
        out.print(f"{len(shared)} of the {n_other} images of {other} are in {manifest}")
        for how, n in shared["how"].str.replace(r" \(.*", "", regex=True).value_counts().items():
            out.print(f"  {n} {how}")
        for r in shared.head(20).to_dict("records"):
            out.print(f"  {_short(r['path'])} = {_short(r['twin'])} ({r['how']})", highlight=False)
        if csv_out:
            shared.to_csv(csv_out, index=False)
        if json_out:
            write_json(json_out, {"manifest": str(manifest), "other": str(other), "n_other": n_other,
                                  "n_shared": len(shared), "shared": shared.to_dict("records")})
        for written in (csv_out, json_out):
            if written:
                out.print(f"shared images -> {written}")
        return
    pairs, failures = find_near_duplicates(m, cache, max_distance=max_distance,
                                           min_correlation=min_correlation, jobs=jobs,
                                           progress=sys.stderr.isatty())
    table = Table(title=f"{len(pairs)} near-duplicate pairs")
    for c in ("image a", "image b", "distance", "corr", "problem"):
        table.add_column(c)
    for r in pairs.head(50).to_dict("records"):
        problems = [w for w, f in (("across sources", "across_sources"), ("two patients", "across_patients"),
                                   ("labels differ", "label_conflict"), ("train/test leak", "across_split"))
                    if r[f]]
        table.add_row(_short(r["path_a"]), _short(r["path_b"]), str(r["hash_distance"]),
                      f"{r['correlation']:.3f}", ", ".join(problems) or "same patient")
    out.print(table)
    for _path, why in failures:
        err.print(f"[yellow]skipped:[/] {escape(str(why))}", highlight=False)
    if csv_out:
        pairs.to_csv(csv_out, index=False)
    if json_out:
        write_json(json_out, {"manifest": m.origin, "n_images": len(m), "n_pairs": len(pairs),
                              "max_distance": max_distance, "min_correlation": min_correlation,
                              "pairs": pairs.to_dict("records"),
                              "unreadable": [{"path": p, "error": e} for p, e in failures]})
    for written in (csv_out, json_out):
        if written:
            out.print(f"pairs -> {written}")


def _short(path: str, keep: int = 2) -> str:
    return str(Path(*Path(path).parts[-keep:]))


@app.command()
@friendly
@outputs(out_path="file")
def split(
    manifest: Annotated[Path, typer.Argument(help="Manifest (CSV or Parquet).")],
    out_path: Annotated[Path, typer.Option("--out", "-o", help="Where to write the manifest with split/fold.")],
    test_size: Annotated[float, typer.Option(help="Share of patients held out for test.")] = 0.1,
    val_size: Annotated[float, typer.Option(help="Share held out for validation (0: none).")] = 0.0,
    folds: Annotated[int, typer.Option(help="Also assign k folds (0: none).")] = 0,
    positive: PositiveOpt = None,
    negative: NegativeOpt = None,
    seed: SeedOpt = 0,
) -> None:
    """Write patient-grouped, label-stratified train/test split and k folds."""
    from cxr_isi.data import Manifest
    from cxr_isi.data.splits import assign_folds, assign_split

    m = Manifest.read(manifest)
    if positive:
        m = m.with_labels(label_mapping(positive, negative))
    m = assign_split(m, test_size=test_size, val_size=val_size, seed=seed)
    if folds:
        m = assign_folds(m, k=folds, seed=seed)
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
    jobs: Annotated[int | None, typer.Option(help="Worker processes (default: all cores).", callback=at_least("--jobs", 1))] = None,
) -> None:
    """Decode and resize every image once into the memory-mapped cache (resumable)."""
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
    """Turn a public dataset, as published, into a manifest (QaTa, BIMCV, ieee8023, Kermany, ...)."""
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


lungs_app = typer.Typer(help="Lung segmentation: train, evaluate, segment a study.", no_args_is_help=True)
app.add_typer(lungs_app, name="lungs", help="Lung segmentation: train, evaluate and segment (shipped U-Net).")


@lungs_app.command("train")
@friendly
@outputs(out_dir="folder")
def lungs_train(
    manifest: Annotated[Path, typer.Argument(help="Manifest with mask_path (manual masks).")],
    out_dir: Annotated[Path, typer.Option("--out", "-o", help="Run folder: best.pt, last.pt, metrics.json.")],
    epochs: Annotated[int, typer.Option(help="Most epochs (early stopping on validation Dice).", callback=at_least("--epochs", 1))] = 40,
    size: Annotated[int, typer.Option(help="Input size.")] = 256,
    synthetic: Annotated[int, typer.Option(help="Phantoms added to the training split.", callback=at_least("--synthetic", 0))] = 300,
    seed: SeedOpt = 0,
) -> None:
    """Train the lung U-Net (patient-grouped validation, early stopping, resumable)."""
    from cxr_isi.data import Manifest
    from cxr_isi.lungs.segmentation import train_lung_segmenter

    metrics = train_lung_segmenter(Manifest.read(manifest), out_dir, size=size, epochs=epochs,
                                   synthetic=synthetic, seed=seed, progress=sys.stderr.isatty())
    out.print(f"held-out patients: mean Dice {metrics['test_mean_dice']:.4f}, IoU "
              f"{metrics['test_mean_iou']:.4f}; best checkpoint {out_dir / 'best.pt'}")


@lungs_app.command("eval")
@friendly
@outputs(json_out="file")
def lungs_eval(
    manifest: Annotated[Path, typer.Argument(help="Manifest with mask_path.")],
    checkpoint: Annotated[Path | None, typer.Option(help="U-Net checkpoint (default: shipped).")] = None,
    json_out: Annotated[Path | None, typer.Option("--json", help="Per-image and mean Dice/IoU as JSON.")] = None,
    split: Annotated[str | None, typer.Option(help="Only rows of this split (e.g. test).")] = None,
    size: Annotated[int, typer.Option(help="Cache size the images are read at.")] = 256,
) -> None:
    """Dice and IoU of the segmenter against the manifest's masks, per image and overall."""
    from cxr_isi._io import write_json
    from cxr_isi.data import Manifest
    from cxr_isi.lungs.export import evaluate_manifest

    scores, summary = evaluate_manifest(Manifest.read(manifest), checkpoint, split=split, size=size,
                                        progress=sys.stderr.isatty())
    out.print(f"{summary['n_images']} images: mean Dice {summary['mean_dice']:.4f}, mean IoU "
              f"{summary['mean_iou']:.4f}, lowest Dice {summary['min_dice']:.4f}")
    if json_out:
        write_json(json_out, {"manifest": str(manifest), **summary, "images": scores.to_dict("records")})
        out.print(f"per-image scores -> {json_out}")


@lungs_app.command("segment")
@friendly
@outputs(out_dir="folder")
def lungs_segment(
    manifest: Annotated[Path, typer.Argument(help="Manifest of the study.")],
    out_dir: Annotated[Path, typer.Option("--out", "-o", help="Masks, lungs.csv and a manifest using them.")],
    checkpoint: Annotated[Path | None, typer.Option(help="U-Net checkpoint (default: shipped).")] = None,
    size: Annotated[int, typer.Option(help="Cache size (the masks share its geometry).")] = 256,
    resize: Annotated[str, typer.Option(help="pad | squeeze | crop (as the cache).")] = "pad",
    policy: Annotated[str, typer.Option(help="Images failing lung QC: keep | drop | union (use the union box).")] = "keep",
) -> None:
    """Segment every image with one model: masks, boxes, QC flags (resumable)."""
    from cxr_isi.data import Manifest
    from cxr_isi.lungs.postprocess import QCThresholds
    from cxr_isi.lungs.segmentation import get_segmenter, segment_manifest

    check_choice("QC policy", policy, "--policy")
    m = segment_manifest(Manifest.read(manifest), out_dir, segmenter=get_segmenter("unet", checkpoint),
                         size=size, resize=resize, thresholds=QCThresholds(policy=policy),
                         progress=sys.stderr.isatty())
    flagged = int((m.frame["lung_qc"] != "").sum()) if "lung_qc" in m.frame.columns else 0
    out.print(f"{len(m)} images segmented, {flagged} flagged by lung QC -> {out_dir / 'manifest.csv'}")


@app.command()
@friendly
@outputs(out_dir="folder", figure="figure")
def hideseek(
    manifest: Annotated[Path, typer.Argument(help="Manifest with lung masks (from cxr-isi lungs segment).")],
    out_dir: Annotated[Path, typer.Option("--out", "-o", help="Folder for one PNG folder per variant.")],
    variant: Annotated[list[str], typer.Option(help="original | lungs_isolated | lungs_framed | lungs_removed | lungs_boxed_out (repeat).")] = ["lungs_boxed_out"],
    size: Annotated[int, typer.Option(help="Cache size.")] = 256,
    resize: Annotated[str, typer.Option(help="pad | squeeze | crop.")] = "pad",
    box_mode: Annotated[str, typer.Option(help="union | per_lung | dataset (one box for every image).")] = "union",
    policy: Annotated[str, typer.Option(help="What an image flagged by lung QC becomes: union (its union box) | drop | keep.")] = "union",
    figure: Annotated[Path | None, typer.Option(help="Also save the five sets of the first image (Figure 3).")] = None,
) -> None:
    """Write the ROI hide-and-seek image sets as PNG folders (the training reads them on the fly).

    An image whose mask cannot hide its lungs (empty, or the whole image) is left out and named."""
    from cxr_isi.data import Manifest
    from cxr_isi.lungs.export import write_image_sets

    written = write_image_sets(Manifest.read(manifest), out_dir, variant, size=size, resize=resize,
                               box_mode=box_mode, policy=policy, figure=figure, progress=sys.stderr.isatty())
    out.print(f"{written} images x {len(variant)} variant(s) -> {out_dir}")


@app.command()
@friendly
@outputs(out_dir="folder")
def train(
    manifest: Annotated[Path | None, typer.Option("--manifest", "-m", help="Manifest (with split, or one is made).")] = None,
    out_dir: Annotated[Path, typer.Option("--out", "-o", help="Run folder (resumes if it holds the same run).")] = Path("runs/train"),
    variant: Annotated[str | None, typer.Option(help="original | lungs_isolated | lungs_framed | lungs_removed | lungs_boxed_out.")] = None,
    model: Annotated[str | None, typer.Option(help="vgg16_gap | resnet50 | densenet121 | small_cnn | small_cnn_gn.")] = None,
    size: Annotated[int | None, typer.Option(help="Square input size (512 as the paper; 128 on CPU).")] = None,
    weights: Annotated[str | None, typer.Option(help="imagenet | none | PATH.")] = None,
    epochs: Annotated[int | None, typer.Option(help="Most epochs (early stopping on validation AUC).", callback=at_least("--epochs", 1))] = None,
    batch_size: Annotated[int | None, typer.Option(help="Batch size.", callback=at_least("--batch-size", 2))] = None,
    lr: Annotated[float | None, typer.Option(help="Learning rate.")] = None,
    train_config: Annotated[Path | None, typer.Option("--train-config", help="Training settings YAML (CLI options override it).")] = None,
    config: ConfigOpt = None,
    positive: PositiveOpt = None,
    negative: NegativeOpt = None,
    where: WhereOpt = None,
    seed: Annotated[int | None, typer.Option(help="Seed for every random choice.", callback=at_least("--seed", 0, SEED_MAX))] = None,
    pause_after: Annotated[int | None, typer.Option("--pause-after", callback=at_least("--pause-after", 1), help="Stop after this many epochs, leaving the run resumable (a wall-time limit; or continue under torchrun / in one process).")] = None,
) -> None:
    """Train a classifier on one image set (the paper's VGG-16 with GAP, or another backbone).

    Under ``torchrun --nproc_per_node N`` the same command trains with DistributedDataParallel,
    ``--batch-size`` images per process; a run resumes in either mode when the global batch
    (processes x batch size) is the same."""
    from cxr_isi.config import load_config, parse_model
    from cxr_isi.train import TrainConfig
    from cxr_isi.train.loop import fit

    m, _ = load_dataset(manifest, config, positive, negative, where)
    base = load_config(TrainConfig, train_config).model_dump() if train_config else {}
    given = {"variant": variant, "model": model, "size": size, "weights": weights, "epochs": epochs,
             "batch_size": batch_size, "lr": lr, "seed": seed}
    cfg = parse_model(TrainConfig, {**base, **{k: v for k, v in given.items() if v is not None}},
                      "cxr-isi train")
    metrics = fit(m, cfg, out_dir, progress=sys.stderr.isatty(), pause_after=pause_after)
    if "paused_at_epoch" in metrics:
        out.print(f"paused at epoch {metrics['paused_at_epoch']} of {metrics['epochs']}; the same command "
                  f"continues it -> {out_dir}")
    elif metrics:
        test = f", test AUC {metrics['test_auc']:.3f}" if "test_auc" in metrics else ""
        out.print(f"{cfg.model} on {cfg.variant}: validation AUC {metrics['val_auc']:.3f}{test}, "
                  f"{metrics['epochs']} epochs, {metrics['images_per_second']:.0f} img/s -> {out_dir}")


@app.command()
@friendly
@outputs(out_path="file")
def predict(
    checkpoint: Annotated[Path, typer.Option("--checkpoint", help="best.pt of a training run.")],
    manifest: Annotated[Path, typer.Option("--manifest", "-m", help="Images to score.")],
    out_path: Annotated[Path, typer.Option("--out", "-o", help="scores.csv: path, label, score.")],
    variant: Annotated[str | None, typer.Option(help="Image set (default: the one trained on).")] = None,
    batch_size: Annotated[int, typer.Option(help="Batch size.", callback=at_least("--batch-size", 1))] = 64,
) -> None:
    """Score every image of a manifest with a trained checkpoint."""
    from cxr_isi.data import Manifest
    from cxr_isi.train.loop import predict as run_predict

    scores = run_predict(checkpoint, Manifest.read(manifest), variant, batch_size=batch_size,
                         progress=sys.stderr.isatty())
    out_path.parent.mkdir(parents=True, exist_ok=True)
    scores.to_csv(out_path, index=False)
    out.print(f"{len(scores)} scores -> {out_path}")


@app.command()
@friendly
@outputs(out_dir="folder")
def explain(
    checkpoint: Annotated[list[Path], typer.Option("--checkpoint", help="best.pt of a run (repeat to compare two models).")],
    manifest: Annotated[Path, typer.Option("--manifest", "-m", help="Images (with lung masks for the lung score).")],
    out_dir: Annotated[Path, typer.Option("--out", "-o", help="Overlays and lung_attention.csv.")],
    method: Annotated[list[str], typer.Option(help="gradcam | gradcam++ | lime | integrated_gradients (repeat).")] = ["gradcam"],
    ids: Annotated[list[str] | None, typer.Option("--ids", help="File names to explain (default: positive test images).")] = None,
    n: Annotated[int, typer.Option("--n", callback=at_least("--n", 1), help="How many images when --ids is not given (at least 1).")] = 8,
    positive: PositiveOpt = None,
    negative: NegativeOpt = None,
    num_samples: Annotated[int, typer.Option(help="LIME perturbations per image.", callback=at_least("--num-samples", 1))] = 1000,
    sanity: Annotated[bool, typer.Option("--sanity", help="Also the model-randomisation test (maps of the model with re-drawn weights; twice the time).")] = False,
    seed: SeedOpt = 0,
) -> None:
    """Explain trained models (LIME, Grad-CAM, Integrated Gradients) and measure their attention
    inside the lungs; where the manifest holds the truth (phantoms: lesion, marker and border
    masks), also against it."""
    from cxr_isi.data import Manifest
    from cxr_isi.explain.run import explain_run

    m = Manifest.read(manifest)
    if positive:
        m = m.with_labels(label_mapping(positive, negative).check_present(m.frame["label"], m.origin))
    out_dir.mkdir(parents=True, exist_ok=True)
    table = explain_run(checkpoint, m, out_dir, method, n_images=n, ids=ids, seed=seed,
                        num_samples=num_samples, sanity=sanity)
    if len(table):
        t = Table(title="Attention inside the lungs (positive class, positive images)")
        for c in ("run", "variant", "method", "inside share", "95% CI", "lung area", "pointing", "empty maps"):
            t.add_column(c)
        for r in table.to_dict("records"):
            t.add_row(r["train_dataset"], r["variant"], r["method"], _fmt(r["inside_share"], 2),
                      f"{_fmt(r['ci_low'], 2)}-{_fmt(r['ci_high'], 2)}", _fmt(r["lung_area_share"], 2),
                      _fmt(r["pointing_game"], 2), f"{r['n_empty']} of {r['n'] + r['n_empty']}")
        out.print(t)
    else:
        out.print("[yellow]no lung masks: overlays written without the lung attention score[/]")
    print_truth(out_dir)
    out.print(f"overlays -> {out_dir}")


def print_truth(out_dir: Path) -> None:
    """The maps against the truth and the randomisation test, where ``explain`` wrote them."""
    import pandas as pd

    from cxr_isi.explain.truth import RANDOMISATION_FAILS_AT

    if (out_dir / "truth.csv").is_file():
        truth = pd.read_csv(out_dir / "truth.csv")
        t = Table(title="Relevance in the true regions (share of positive relevance; chance = area)")
        for c in ("run", "method", "region", "mass", "95% CI", "area (chance)", "pointing", "above chance"):
            t.add_column(c)
        for r in truth[truth["region"] != "lungs"].to_dict("records"):
            t.add_row(r["train_dataset"], r["method"], r["region"], _fmt(r["mass"], 2),
                      f"{_fmt(r['mass_ci_low'], 2)}-{_fmt(r['mass_ci_high'], 2)}", _fmt(r["area"], 2),
                      _fmt(r["pointing"], 2), "yes" if r["above_chance"] else "no")
        out.print(t)
    if (out_dir / "randomisation.csv").is_file():
        for r in pd.read_csv(out_dir / "randomisation.csv").to_dict("records"):
            failed = r["rank_correlation"] > RANDOMISATION_FAILS_AT
            out.print(f"randomisation test, {r['train_dataset']} {r['method']}: rank correlation with the "
                      f"randomised model's maps {_fmt(r['rank_correlation'], 2)} -> "
                      + ("[red]fails[/] (the maps show the image, not the model)" if failed else "passes"))


@app.command()
@friendly
@outputs(out_dir="folder", preview="figure")
def synth(
    out_dir: Annotated[Path, typer.Option("--out", "-o", help="Folder for images, masks and manifest.csv.")],
    preset: Annotated[str, typer.Option(help="isi (every source one class) | balanced | mild | strong.")] = "isi",
    n: Annotated[int, typer.Option("--n", help="Number of images.")] = 400,
    size: Annotated[int, typer.Option(help="Square side in pixels.")] = 256,
    seed: SeedOpt = 0,
    sources: Annotated[int, typer.Option(help="Number of sources.")] = 4,
    majority_share: Annotated[float | None, typer.Option(help="Share of each source's images in its majority class (0.5 to 1); overrides the preset.")] = None,
    fingerprint_strength: Annotated[float, typer.Option(help="0: sources look alike; 1: full source styles.")] = 1.0,
    disease_extent: Annotated[float, typer.Option(help="Share of lung area the opacities aim to cover.")] = 0.35,
    disease_strength: Annotated[float, typer.Option(help="Density of the opacities (1 = default).")] = 1.0,
    preview: Annotated[Path | None, typer.Option(help="Also write a contact sheet PNG of 8 images with masks.")] = None,
    jobs: Annotated[int | None, typer.Option(help="Worker processes (default: all cores).", callback=at_least("--jobs", 1))] = None,
    overwrite: Annotated[bool, typer.Option("--overwrite", help="Clear a non-empty --out folder first.")] = False,
) -> None:
    """Generate the synthetic multi-source phantom with a chosen intra-source imbalance."""
    from pydantic import ValidationError

    from cxr_isi.config import format_validation_error
    from cxr_isi.synth import SynthConfig, generate

    try:
        config = SynthConfig(preset=preset, n=n, size=size, seed=seed, n_sources=sources,
                             majority_share=majority_share, fingerprint_strength=fingerprint_strength,
                             disease_extent=disease_extent, disease_strength=disease_strength)
    except ValidationError as exc:
        raise CxrIsiError(format_validation_error(exc, "cxr-isi synth")) from None
    if out_dir.is_dir() and any(out_dir.iterdir()):
        if not overwrite:
            raise CxrIsiError(f"{out_dir}: the folder is not empty (an earlier dataset?); use another --out, or "
                              "--overwrite to clear it")
        import shutil

        shutil.rmtree(out_dir)
    m = generate(config, out_dir, jobs=jobs, progress=sys.stderr.isatty())
    if preview:
        from cxr_isi.synth.preview import contact_sheet

        contact_sheet({preset: m}, preview)
    counts = m.frame.groupby(["source", "label"]).size().unstack(fill_value=0)
    out.print(f"{len(m)} images ({config.share:.0%} of each source in its majority class) -> "
              f"{out_dir / 'manifest.csv'}")
    out.print(counts.to_string())


@app.command()
@friendly
@outputs(out_dir="folder")
def run(
    config: Annotated[Path, typer.Argument(help="Experiment YAML (configs/demo.yaml, configs/cxr256.yaml, configs/paper.yaml).")],
    out_dir: Annotated[Path, typer.Option("--out", "-o", help="Run folder; the same command resumes it.")] = Path("runs/experiment"),
    executor: Annotated[str, typer.Option(help="sequential | process | ray.")] = "sequential",
    jobs: Annotated[int, typer.Option("--jobs", "-j", help="Jobs at once (process pool; local Ray).", callback=at_least("--jobs", 1))] = 1,
    address: Annotated[str | None, typer.Option(help="Ray cluster address (with --executor ray).")] = None,
    check: Annotated[bool, typer.Option("--check", help="Validate the config and the datasets, list the jobs, train nothing.")] = False,
    plan: Annotated[bool, typer.Option("--plan", help="Print every job, the images it reads and its estimated time; train nothing.")] = False,
) -> None:
    """Run the whole study of a config: every dataset, variant, model, fold and cross pair."""
    from cxr_isi.experiments.runner import check_executor, check_experiment, plan_experiment, run_experiment

    check_executor(executor, address)
    if plan:
        print_plan(plan_experiment(config, out_dir), jobs)
        return
    if jobs > 1 and executor == "sequential":
        executor = "process"
        out.print(f"--jobs {jobs}: running on a process pool of {jobs} workers (--executor process)")
    if check:
        jobs_ = check_experiment(config, out_dir)
        out.print(f"{config}: valid; {len(jobs_)} jobs "
                  f"({sum(j.protocol == 'split' for j in jobs_)} on the single split, "
                  f"{sum(j.protocol == 'cv' for j in jobs_)} in cross-validation)")
        return
    result = run_experiment(config, out_dir, executor=executor, n_jobs=jobs, address=address,
                            progress=sys.stderr.isatty())
    print_results(result["results"])
    from cxr_isi.experiments.runfolder import RESULTS

    out.print(f"results: {out_dir / RESULTS}; the report: cxr-isi report {out_dir}")


@app.command()
@friendly
@outputs(out_dir="folder")
def sweep(
    out_dir: Annotated[Path, typer.Option("--out", "-o", help="Sweep folder (levels/, sweep.csv, sweep.png); the same command resumes it.")],
    majority_share: Annotated[list[float] | None, typer.Option("--majority-share", help="A level of intra-source imbalance, 0.5 to 1 (repeat).")] = None,
    fingerprint_strength: Annotated[list[float] | None, typer.Option("--fingerprint-strength", help="A level of source-fingerprint strength at majority share 1.0, 0 to 2 (repeat).")] = None,
    config: Annotated[Path | None, typer.Option("--config", "-c", help="YAML with a sweep: block (levels, folds, n, base).")] = None,
    folds: Annotated[int | None, typer.Option(help="Folds per level (default 5).")] = None,
    n: Annotated[int | None, typer.Option("--n", help="Phantoms per level (default: the base study's, the demo's 240).")] = None,
    executor: Annotated[str, typer.Option(help="sequential | process | ray.")] = "sequential",
    jobs: Annotated[int, typer.Option("--jobs", "-j", help="Jobs at once.", callback=at_least("--jobs", 1))] = 1,
    seed: SeedOpt = 0,
) -> None:
    """Dose-response: the protocol's core at each level of intra-source imbalance (or
    fingerprint strength) on phantoms; sweep.csv, the curves with 95% bands, and where the
    verdict turns shortcut."""
    import yaml

    from cxr_isi.config import parse_model
    from cxr_isi.experiments.sweep import SweepConfig, run_sweep
    from cxr_isi.report.sweep import write_sweep

    data: dict = {}
    if config is not None:
        loaded = yaml.safe_load(config.read_text()) or {}
        if not isinstance(loaded, dict) or not isinstance(loaded.get("sweep"), dict):
            raise CxrIsiError(f"{config}: no sweep: block (a mapping) in this YAML")
        data = dict(loaded["sweep"])
        if data.get("base"):
            data["base"] = str((config.parent / data["base"]).resolve())
    given = {"majority_share": majority_share or None, "fingerprint_strength": fingerprint_strength or None,
             "folds": folds, "n": n}
    data.update({k: v for k, v in given.items() if v is not None})
    data.setdefault("seed", seed)
    cfg = parse_model(SweepConfig, data, "cxr-isi sweep")
    if jobs > 1 and executor == "sequential":
        executor = "process"
    table, audit = run_sweep(cfg, out_dir, executor=executor, n_jobs=jobs, progress=sys.stderr.isatty())
    summary, figure, sentences = write_sweep(out_dir, table, audit)
    t = Table(title="dose-response (mean AUC over folds, 95% interval)")
    for c in ("axis", "level", "boxed out", "original", "cross test", "Cramér's V", "source-only AUC", "verdict"):
        t.add_column(c)
    for r in summary.to_dict("records"):
        t.add_row({"majority_share": "share", "fingerprint_strength": "strength"}.get(r["axis"], r["axis"]),
                  f"{r['level']:g}",
                  *(f"{r[k + '_auc']:.2f} [{r[k + '_ci_low']:.2f}, {r[k + '_ci_high']:.2f}]"
                    for k in ("lungs_boxed_out", "original", "cross")),
                  _fmt(r["cramers_v"], 2), _fmt(r["source_only_auc"], 2), r["verdict"])
    out.print(t)
    for line in sentences:
        out.print(line, highlight=False)
    out.print(f"written: {out_dir / 'sweep.csv'}, {figure}")


def print_plan(costs, jobs: int) -> None:
    t = Table(title=f"{len(costs)} jobs (time estimated from this project's measured 2-core CPU rates)")
    for c in ("dataset", "image set", "model", "fold", "size", "epochs", "train imgs", "test imgs", "est. time"):
        t.add_column(c, justify="right" if c in ("size", "epochs", "train imgs", "test imgs", "est. time") else "left")
    for r in costs.to_dict("records"):
        t.add_row(r["dataset"], r["image_set"], r["model"], r["fold"], str(r["size"]), str(r["epochs"]),
                  f"{r['train_images']:,}", f"{r['test_images']:,}", _duration(r["seconds"]))
    out.print(t)
    total = costs["seconds"].sum(min_count=1)
    known = costs["seconds"].notna()
    out.print(f"total: {_duration(total)} of training on one process"
              + (f", about {_duration(total / jobs)} on {jobs} workers" if jobs > 1 else "")
              + ("" if known.all() else f"; {int((~known).sum())} jobs have no measured rate (not counted)")
              + "; early stopping can only shorten it")


def _duration(seconds: float) -> str:
    if seconds != seconds:
        return "-"
    if seconds < 90:
        return f"{seconds:.0f} s"
    if seconds < 5400:
        return f"{seconds / 60:.0f} min"
    return f"{seconds / 3600:.1f} h"


@app.command()
@friendly
def report(
    run_dir: Annotated[Path, typer.Argument(help="A run folder made by cxr-isi run.")],
    sweep_dir: Annotated[Path | None, typer.Option("--sweep", help="A cxr-isi sweep folder whose dose-response curves the report shows.")] = None,
) -> None:
    """Write RUN_DIR/report.html (self-contained) and RUN_DIR/summary.json."""
    from cxr_isi.report.html import write_report

    result = write_report(run_dir, sweep_dir=sweep_dir)
    print_verdicts(result["summary"])
    if result["summary"]["missing"]:
        out.print(f"[yellow]not in this run:[/] {'; '.join(result['summary']['missing'])}")
    out.print(f"report: {result['report']}")


def print_verdicts(summary: dict) -> None:
    table = Table(title="Verdicts: what does a model read?")
    for c in ("dataset", "audit", "verdict", "AUC boxed-out (95% CI)", "fixed box", "AUC original", "from"):
        table.add_column(c)
    for name, d in summary["datasets"].items():
        table.add_row(name, str(d.get("audit_verdict") or "-"), d.get("verdict_kind", d["verdict"]),
                      _with_ci(d["auc_lungs_boxed_out"], d.get("auc_lungs_boxed_out_ci")),
                      _with_ci(d.get("auc_lungs_boxed_out_fixed_box"), d.get("auc_lungs_boxed_out_fixed_box_ci")),
                      _fmt(_num(d["auc_original"]), 3), d["auc_from"])
    out.print(table)
    from cxr_isi.report.summary import cross_sentence

    for c in summary.get("cross", []):
        out.print(cross_sentence(c))


def _with_ci(auc, ci) -> str:
    auc = _num(auc)
    if auc != auc:
        return "-"
    if ci and ci[0] is not None and ci[1] is not None:
        return f"{auc:.3f} ({ci[0]:.2f}-{ci[1]:.2f})"
    return f"{auc:.3f}"


def _num(x) -> float:
    return float("nan") if x is None else float(x)


def print_results(results) -> None:
    if results is None or len(results) == 0:
        out.print("no finished jobs")
        return
    split = results[results["protocol"] == "split"]
    table = Table(title="Test AUC (single split)")
    for c in ("train", "test", "variant", "model", "AUC (95% CI)", "sens", "spec"):
        table.add_column(c)
    for _, r in split.iterrows():
        table.add_row(r["train_dataset"], r["test_dataset"], r["variant"], r["model"],
                      f"{r['auc']:.3f} ({r.get('auc_ci_low', float('nan')):.2f}-{r.get('auc_ci_high', float('nan')):.2f})",
                      _fmt(r.get("sensitivity", float("nan")), 2), _fmt(r.get("specificity", float("nan")), 2))
    out.print(table)


@app.command()
@friendly
@outputs(out_dir="folder")
def demo(
    out_dir: Annotated[Path, typer.Option("--out", help="Run folder of the demo (resumes if it holds the same run).")] = Path("demo_out"),
    real: Annotated[bool, typer.Option("--real", help="Run configs/cxr256.yaml on the real cxr256 collection.")] = False,
    data: Annotated[Path | None, typer.Option(help="cxr256 folder for --real (default ../shared/data/cxr256).")] = None,
    jobs: Annotated[int | None, typer.Option("--jobs", "-j", help="Jobs at once (default: the cores, at most 4).", callback=at_least("--jobs", 1))] = None,
) -> None:
    """The whole protocol on the synthetic presets (or --real data): audit, lungs, image sets,
    training, cross-dataset test, cross-validation, explanations, and the report."""
    from cxr_isi.demo import run_demo

    run_demo(out_dir, real=real, data=data, jobs=jobs, console=out, print_verdicts=print_verdicts,
             progress=sys.stderr.isatty())


if __name__ == "__main__":  # pragma: no cover
    app()


# Commands in modules of their own register themselves on ``app`` when imported.
from cxr_isi.cli import judge as _judge  # noqa: E402,F401
