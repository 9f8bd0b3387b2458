"""``cxr-isi lungs train|eval|segment`` and ``hideseek``: the lungs found and hidden."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated

import typer

from cxr_isi.choices import check_choice
from cxr_isi.cli.common import (
    SeedOpt,
    app,
    at_least,
    friendly,
    out,
    outputs,
)

lungs_app = typer.Typer(help="Lung segmentation: train, evaluate, segment a study.", no_args_is_help=True)
app.add_typer(lungs_app, name="lungs", help="Lung segmentation: train, evaluate, segment (U-Net).")


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
    """Train the lung U-Net (resumable).

    Train the lung U-Net (patient-grouped validation, early stopping, resumable)."""
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
    """Dice and IoU of the segmenter against given masks.

    Dice and IoU of the segmenter against the manifest's masks, per image and overall."""
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
    """Segment the lungs of every image: masks, boxes, QC flags.

    Segment every image with one model: masks, boxes, QC flags (resumable)."""
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
    """Write the five hide-and-seek image sets as PNG folders.

    Write the ROI hide-and-seek image sets as PNG folders (the training reads them on the fly).

    An image whose mask cannot hide its lungs (empty, or the whole image) is left out and named."""
    from cxr_isi.data import Manifest
    from cxr_isi.lungs.export import write_image_sets

    written = write_image_sets(Manifest.read(manifest), out_dir, variant, size=size, resize=resize,
                               box_mode=box_mode, policy=policy, figure=figure, progress=sys.stderr.isatty())
    out.print(f"{written} images x {len(variant)} variant(s) -> {out_dir}")
