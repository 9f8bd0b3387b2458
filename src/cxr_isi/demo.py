"""``cxr-isi demo``: the main job on data at hand.

Until training and the report land, the demo generates the two synthetic presets (every source
one class; every source both classes) and audits them, then audits the two reference subsets of
the real ``cxr256`` collection when it is present (an intra-source imbalanced one and a balanced
one) and looks for near-duplicates there. Every figure is written as JSON.
"""

from __future__ import annotations

from pathlib import Path

from rich.console import Console
from rich.table import Table

from cxr_isi._io import write_json
from cxr_isi.errors import CxrIsiError

SUBSETS = ("cxr256_isi", "cxr256_balanced")
PRESETS = ("isi", "balanced")


def find_cxr256(data: Path | None = None) -> Path | None:
    """The cxr256 folder: ``data`` (an error if it is not there), else ``../shared/data/cxr256``
    seen from the working folder or the repository, else None."""
    if data is not None:
        if (data / "manifest.csv").is_file():
            return data.resolve()
        raise CxrIsiError(f"{data}: no cxr256 manifest.csv there")
    for c in (Path.cwd() / "../shared/data/cxr256",
              Path(__file__).resolve().parents[3] / "../shared/data/cxr256"):
        if (c / "manifest.csv").is_file():
            return c.resolve()
    return None


def config_dir() -> Path:
    return Path(__file__).resolve().parents[2] / "configs" / "datasets"


def run_demo(out_dir: Path, data: Path | None, print_audit, console: Console, n: int = 400,
             size: int = 128) -> dict:
    from cxr_isi.audit import audit_manifest, find_near_duplicates
    from cxr_isi.data import LabelMapping, Manifest
    from cxr_isi.data.spec import DatasetSpec
    from cxr_isi.synth import SynthConfig, generate
    from cxr_isi.synth.preview import contact_sheet

    out_dir.mkdir(parents=True, exist_ok=True)
    summary = {}
    synth = {}
    for preset in PRESETS:
        console.rule(f"[bold]synthetic preset: {preset}")
        m = generate(SynthConfig(preset=preset, n=n, size=size, seed=0), out_dir / "synth" / preset)
        synth[preset] = m
        result = audit_manifest(m.with_labels(LabelMapping(positive=["covid"], negative=["normal"])))
        print_audit(result)
        write_json(out_dir / f"audit_synth_{preset}.json", result.as_dict())
        summary[f"synth_{preset}"] = result
    contact_sheet(synth, out_dir / "synth_presets.png")
    console.rule("[bold]lungs: the shipped U-Net on the phantoms")
    segmented = segment_synth(synth, out_dir, console, size)
    root = find_cxr256(data)
    if root is None:
        console.print("[yellow]real data not found at ../shared/data/cxr256 (pass --data PATH); "
                      "the real-data audit is skipped[/]")
    else:
        for name in SUBSETS:
            spec = DatasetSpec.from_yaml(config_dir() / f"{name}.yaml")
            spec = spec.model_copy(update={"manifest": root / "manifest.csv"})
            console.rule(f"[bold]{name}")
            result = audit_manifest(spec.load(), row_filter=spec.filter)
            print_audit(result)
            write_json(out_dir / f"audit_{name}.json", result.as_dict())
            summary[name] = result
        console.rule("[bold]near-duplicates in cxr256")
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
    console.print(f"figures: {out_dir}/audit_*.json, {out_dir}/synth_presets.png, "
                  f"{out_dir}/hide_and_seek.png")
    summary["segmentation"] = segmented
    return summary


def segment_synth(synth: dict, out_dir: Path, console: Console, size: int) -> dict:
    """Segment every phantom with the shipped U-Net, score it against the drawn lungs, and draw
    the five image sets of one phantom (the paper's Figure 3)."""
    import numpy as np

    from cxr_isi.data.cache import ImageCache
    from cxr_isi.lungs.figure import hide_and_seek_figure
    from cxr_isi.lungs.postprocess import dice
    from cxr_isi.lungs.segmentation import get_segmenter, segment_manifest

    seg = get_segmenter()
    result, segmented = {}, {}
    masks = ImageCache(size=size, kind="mask")
    for preset, m in synth.items():
        segmented[preset] = segment_manifest(m, out_dir / "lungs" / preset, segmenter=seg, size=size)
        pairs = list(zip(m.frame["mask_path"], segmented[preset].frame["mask_path"], strict=True))
        masks.update([p for pair in pairs for p in pair])
        cached = masks.open()
        scores = [dice(cached.get(b) > 127, cached.get(a) > 127) for a, b in pairs]
        result[preset] = {"mean_dice": float(np.mean(scores)),
                          "flagged": int((segmented[preset].frame["lung_qc"] != "").sum())}
        console.print(f"{preset}: {len(scores)} phantoms segmented, mean Dice against the drawn "
                      f"lungs {result[preset]['mean_dice']:.3f}, {result[preset]['flagged']} "
                      "flagged by QC")
    first = segmented["isi"].frame.iloc[0]
    image = ImageCache(size=size).open().get(first["path"])
    hide_and_seek_figure(np.asarray(image), masks.open().get(first["mask_path"]) > 127,
                         out_dir / "hide_and_seek.png")
    write_json(out_dir / "segmentation.json", result)
    return result
