"""``cxr-isi audit``, ``balance``, ``duplicates``: the dataset's structure before any training."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated

import typer
from rich.markup import escape
from rich.table import Table

from cxr_isi.cli.common import (
    CacheOpt,
    ConfigOpt,
    ManifestArg,
    NegativeOpt,
    PositiveOpt,
    SeedOpt,
    WhereOpt,
    _fmt,
    app,
    at_least,
    err,
    friendly,
    load_dataset,
    out,
    outputs,
)


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
    """Source-by-label structure before training: is there ISI?

    Audit the source-by-label structure: Table 1, Cramér's V, source-only AUC, confounders."""
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
    """Write the intra-source balanced subset.

    Write the intra-source balanced subset (each source's classes equalised)."""
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
    """Find near-duplicates (and the images OTHER shares with it).

    Find near-duplicate images within and across sources and across train/test; with OTHER,
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
