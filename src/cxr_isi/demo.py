"""``cxr-isi demo``: the main job on data at hand.

Until the synthetic phantom and the full protocol land, the demo audits the two reference
subsets of the real ``cxr256`` collection side by side (an intra-source imbalanced one and a
balanced one), looks for near-duplicates, and writes every figure as JSON.
"""

from __future__ import annotations

from pathlib import Path

from rich.console import Console
from rich.table import Table

from cxr_isi._io import write_json
from cxr_isi.errors import CxrIsiError

SUBSETS = ("cxr256_isi", "cxr256_balanced")


def find_cxr256(data: Path | None = None) -> Path:
    """The cxr256 folder: ``data``, else ``../shared/data/cxr256`` from here or the repository."""
    candidates = [data] if data else [
        Path.cwd() / "../shared/data/cxr256",
        Path(__file__).resolve().parents[3] / "../shared/data/cxr256",
    ]
    for c in candidates:
        if c is not None and (c / "manifest.csv").is_file():
            return c.resolve()
    where = data or "../shared/data/cxr256"
    raise CxrIsiError(f"{where}: no cxr256 manifest.csv there; pass --data PATH to the collection")


def config_dir() -> Path:
    return Path(__file__).resolve().parents[2] / "configs" / "datasets"


def run_demo(out_dir: Path, data: Path | None, print_audit, console: Console) -> dict:
    from cxr_isi.audit import audit_manifest, find_near_duplicates
    from cxr_isi.data import Manifest
    from cxr_isi.data.spec import DatasetSpec

    root = find_cxr256(data)
    out_dir.mkdir(parents=True, exist_ok=True)
    summary = {}
    for name in SUBSETS:
        spec = DatasetSpec.from_yaml(config_dir() / f"{name}.yaml")
        spec = spec.model_copy(update={"manifest": root / "manifest.csv"})
        manifest = spec.load()
        console.rule(f"[bold]{name}")
        result = audit_manifest(manifest, row_filter=spec.filter)
        print_audit(result)
        write_json(out_dir / f"audit_{name}.json", result.as_dict())
        summary[name] = result
    console.rule("[bold]near-duplicates")
    pairs, _ = find_near_duplicates(Manifest.read(root / "manifest.csv"))
    pairs.to_csv(out_dir / "duplicates.csv", index=False)
    console.print(f"{len(pairs)} near-duplicate pairs ({int(pairs['across_sources'].sum())} across "
                  f"sources, {int(pairs['label_conflict'].sum())} with two different labels) -> "
                  f"{out_dir / 'duplicates.csv'}")
    table = Table(title="Verdicts")
    for c in ("dataset", "verdict", "Cramér's V", "source-only AUC", "confounders"):
        table.add_column(c)
    for name, r in summary.items():
        table.add_row(name, r.verdict, f"{r.cramers_v:.2f}", f"{r.source_only_auc:.2f}",
                      ", ".join(r.flagged_properties) or "-")
    console.print(table)
    console.print(f"figures: {out_dir}/audit_*.json")
    return summary
