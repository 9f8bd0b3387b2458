"""``cxr-isi``: every command with one line of help; errors are one line, exit status 2."""

from __future__ import annotations

import functools
import sys
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from cxr_isi import __version__
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
SeedOpt = Annotated[int, typer.Option(help="Seed for every random choice.")]
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
        try:
            return fn(*args, **kwargs)
        except CxrIsiError as exc:
            err.print(f"[bold red]error:[/] {exc}", highlight=False, soft_wrap=True)
            raise typer.Exit(2) from None
        except KeyboardInterrupt:
            err.print("interrupted; what was finished is kept, run the same command to resume")
            raise typer.Exit(130) from None

    return wrapper


def load_dataset(manifest: Path | None, config: Path | None, positive: list[str] | None,
                 negative: list[str] | None, where: list[str] | None):
    """A manifest with its label mapping, from a dataset YAML or from CLI options."""
    from cxr_isi.data import LabelMapping, Manifest, parse_where
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
    mapping = LabelMapping(positive=positive, negative=negative or None) if positive else None
    if negative and not positive:
        raise CxrIsiError("--negative needs --positive too")
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
        err.print(f"[yellow]warning:[/] {w}", highlight=False)
    colour = {"balanced": "green", "imbalanced": "yellow"}.get(result.verdict, "red")
    out.print(f"[bold {colour}]{result.headline()}[/]", highlight=False)


@app.command()
@friendly
def audit(
    manifest: ManifestArg = None,
    config: ConfigOpt = None,
    positive: PositiveOpt = None,
    negative: NegativeOpt = None,
    where: WhereOpt = None,
    json_out: Annotated[Path | None, typer.Option("--json", help="Write the figures as JSON here.")] = None,
    folds: Annotated[int, typer.Option(help="Folds of the out-of-fold AUCs.")] = 5,
    seed: SeedOpt = 0,
    read_files: Annotated[bool, typer.Option("--files/--no-files", help="Read image headers for size, bit depth, format.")] = True,
) -> None:
    """Audit the source-by-label structure: Table 1, Cramér's V, source-only AUC, confounders."""
    from cxr_isi._io import write_json
    from cxr_isi.audit import audit_manifest

    m, row_filter = load_dataset(manifest, config, positive, negative, where)
    if read_files:
        m.check_files()
    result = audit_manifest(m, n_splits=folds, seed=seed, read_files=read_files,
                            progress=sys.stderr.isatty(), row_filter=row_filter)
    print_audit(result)
    if json_out:
        write_json(json_out, {"manifest": m.origin, **result.as_dict()})
        out.print(f"figures written to {json_out}")


@app.command()
@friendly
def balance(
    manifest: ManifestArg = None,
    out_path: Annotated[Path, typer.Option("--out", "-o", help="Where to write the balanced manifest.")] = ...,
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
def duplicates(
    manifest: Annotated[Path, typer.Argument(help="Manifest (CSV or Parquet).")],
    json_out: Annotated[Path | None, typer.Option("--json", help="Write the pairs as JSON here.")] = None,
    csv_out: Annotated[Path | None, typer.Option("--csv", help="Write the pairs as CSV here.")] = None,
    max_distance: Annotated[int, typer.Option(help="Largest perceptual-hash distance (bits of 64).")] = 6,
    min_correlation: Annotated[float, typer.Option(help="Smallest thumbnail correlation that confirms a pair.")] = 0.97,
    cache: CacheOpt = None,
    jobs: Annotated[int | None, typer.Option(help="Worker processes (default: all cores).")] = None,
) -> None:
    """Find near-duplicate images within and across sources and across train/test."""
    from cxr_isi._io import write_json
    from cxr_isi.audit import find_near_duplicates
    from cxr_isi.data import Manifest

    m = Manifest.read(manifest)
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
    for path, why in failures:
        err.print(f"[yellow]skipped:[/] {why}", highlight=False)
    if csv_out:
        pairs.to_csv(csv_out, index=False)
    if json_out:
        write_json(json_out, {"manifest": m.origin, "n_images": len(m), "n_pairs": len(pairs),
                              "max_distance": max_distance, "min_correlation": min_correlation,
                              "pairs": pairs.to_dict("records"),
                              "unreadable": [{"path": p, "error": e} for p, e in failures]})


def _short(path: str, keep: int = 2) -> str:
    return str(Path(*Path(path).parts[-keep:]))


@app.command()
@friendly
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
    from cxr_isi.data import LabelMapping, Manifest
    from cxr_isi.data.splits import assign_folds, assign_split

    m = Manifest.read(manifest)
    if positive:
        m = m.with_labels(LabelMapping(positive=positive, negative=negative or None))
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
    jobs: Annotated[int | None, typer.Option(help="Worker processes (default: all cores).")] = None,
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
            err.print(f"[yellow]skipped:[/] {why}", highlight=False)
        out.print(f"{kind}s: {rep.n_built} built, {rep.n_reused} reused, {len(rep.failures)} failed "
                  f"in {rep.seconds:.1f} s -> {c.dir}")


@app.command("import")
@friendly
def import_(
    name: Annotated[str, typer.Argument(help="Importer; see --list.")] = "",
    root: Annotated[Path | None, typer.Argument(help="The dataset's folder (or CSV file).")] = None,
    out_path: Annotated[Path | None, typer.Option("--out", "-o", help="Manifest to write (.csv or .parquet).")] = None,
    opt: Annotated[list[str] | None, typer.Option("--opt", help="Importer option key=value (repeat).")] = None,
    list_: Annotated[bool, typer.Option("--list", help="List the importers and their layouts.")] = False,
) -> None:
    """Turn a public dataset's own layout into a manifest (Kermany, BIMCV, QaTa, ...)."""
    from cxr_isi.data.importers import IMPORTERS, describe, run_importer

    if list_ or not name:
        t = Table(title="importers")
        t.add_column("name")
        t.add_column("dataset")
        for n in sorted(IMPORTERS):
            t.add_row(n, describe(n))
        out.print(t)
        return
    if root is None or out_path is None:
        raise CxrIsiError("usage: cxr-isi import NAME ROOT --out MANIFEST.csv [--opt key=value]")
    options = {}
    for o in opt or []:
        if "=" not in o:
            raise CxrIsiError(f"--opt {o!r}: expected key=value")
        k, _, v = o.partition("=")
        options[k.strip()] = v.strip()
    m = run_importer(name, root, **options)
    m.write(out_path)
    counts = m.frame["label"].value_counts().to_dict()
    out.print(f"{len(m)} images, {m.frame['patient_id'].nunique()} patients, labels {counts} -> {out_path}")


@app.command()
@friendly
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
    jobs: Annotated[int | None, typer.Option(help="Worker processes (default: all cores).")] = None,
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
def demo(
    out_dir: Annotated[Path, typer.Option("--out", help="Where the demo writes its results.")] = Path("demo_out"),
    data: Annotated[Path | None, typer.Option(help="cxr256 folder (default ../shared/data/cxr256).")] = None,
) -> None:
    """Generate and audit the synthetic presets, and the real cxr256 subsets when present."""
    from cxr_isi.demo import run_demo

    run_demo(out_dir, data, print_audit=print_audit, console=out)


if __name__ == "__main__":  # pragma: no cover
    app()
