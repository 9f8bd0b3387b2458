"""``cxr-isi train``, ``predict``, ``explain``: a classifier trained, applied and explained."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from cxr_isi.cli.common import (
    SEED_MAX,
    ConfigOpt,
    NegativeOpt,
    PositiveOpt,
    SeedOpt,
    WhereOpt,
    _fmt,
    app,
    at_least,
    friendly,
    label_mapping,
    load_dataset,
    out,
    outputs,
)


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
    """Train a classifier on one image set.

    Train a classifier on one image set (the paper's VGG-16 with GAP, or another backbone).

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
    ig_steps: Annotated[int, typer.Option(help="Integrated Gradients steps along the path.", callback=at_least("--ig-steps", 2))] = 32,
    sanity: Annotated[bool, typer.Option("--sanity", help="Also the model-randomisation test (maps of the model with re-drawn weights; twice the time).")] = False,
    seed: SeedOpt = 0,
) -> None:
    """Explain trained models; measure their attention in the lungs.

    Explain trained models (LIME, Grad-CAM, Integrated Gradients) and measure their attention
    inside the lungs; where the manifest holds the truth (phantoms: lesion, marker and border
    masks), also against it."""
    from cxr_isi.data import Manifest
    from cxr_isi.explain.run import explain_run

    m = Manifest.read(manifest)
    if positive:
        m = m.with_labels(label_mapping(positive, negative).check_present(m.frame["label"], m.origin))
    out_dir.mkdir(parents=True, exist_ok=True)
    table = explain_run(checkpoint, m, out_dir, method, n_images=n, ids=ids, seed=seed,
                        num_samples=num_samples, sanity=sanity, ig_steps=ig_steps)
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
