"""``cxr-isi judge``: a verdict for a model trained anywhere (one module per command)."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Annotated

import typer
from rich.markup import escape
from rich.table import Table

from cxr_isi.choices import FAIL_ON
from cxr_isi.cli.common import (
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


def _fail_on(value: str | None) -> str | None:
    """``--fail-on`` checked before any work: one of the gates, else one line naming them."""
    if value is not None and value not in FAIL_ON:
        err.print(f"[bold red]error:[/] --fail-on {escape(value)}: one of {', '.join(FAIL_ON)}", highlight=False,
                  soft_wrap=True)
        raise typer.Exit(2)
    return value


@app.command()
@friendly
@outputs(out_dir="folder", model_card="file")
def judge(
    model: Annotated[Path, typer.Argument(help="The model: TorchScript, .pt2, .onnx, a cxr-isi best.pt, or a state dict with --arch.", show_default=False)],
    manifest: Annotated[Path, typer.Option("--manifest", "-m", help="Labelled test images (with sources where known).")],
    out_dir: Annotated[Path, typer.Option("--out", "-o", help="Folder for summary.json, judge.json, scores.csv, report.html.")],
    positive: PositiveOpt = None,
    negative: NegativeOpt = None,
    where: WhereOpt = None,
    arch: Annotated[str | None, typer.Option(help="Architecture of a state dict: torchvision:NAME, timm:NAME, xrv:densenet121.")] = None,
    spec: Annotated[Path | None, typer.Option("--spec", help="YAML: size, channels, layout, normalise, mean, std, resize, output, positive_index, head, onnx_output.")] = None,
    size: Annotated[int | None, typer.Option(help="Input size in pixels (default: the format's).")] = None,
    channels: Annotated[int | None, typer.Option(help="Input channels, 1 or 3 (default: the format's).")] = None,
    normalise: Annotated[str | None, typer.Option(help="none | imagenet | xrv | Keras' tf, caffe, torch (default: the format's).")] = None,
    layout: Annotated[str | None, typer.Option(help="nchw | nhwc: where the channels are in the input (default: read off the model).")] = None,
    output: Annotated[str | None, typer.Option(help="logit | probability | softmax (default logit).")] = None,
    positive_index: Annotated[int | None, typer.Option(help="The positive output column where there are several.")] = None,
    head: Annotated[str | None, typer.Option(help="The positive output by name (a multi-label head).")] = None,
    onnx_output: Annotated[str | None, typer.Option(help="Which ONNX output to read where there are several.")] = None,
    remedy: Annotated[str | None, typer.Option(help="dfr: refit the last layer on --balance-on (no backbone retraining), write the model again and judge it too.")] = None,
    balance_on: Annotated[Path | None, typer.Option("--balance-on", help="With --remedy dfr: images of both classes from several sources, the same labels.")] = None,
    swap_pairs: Annotated[int, typer.Option(callback=at_least("--swap-pairs", 1), help="Opposite-label pairs for the lung swap.")] = 48,
    map_images: Annotated[int, typer.Option(callback=at_least("--map-images", 0), help="Positive images for the occlusion and gradient maps (0: none).")] = 16,
    seed: SeedOpt = 0,
    fail_on: Annotated[str | None, typer.Option("--fail-on", callback=_fail_on, help="Exit with status 3 (after writing everything) when the verdict is this kind: outside (reads outside the lungs, alone or beside them), source (the source, inside or outside the lungs), any (any shortcut the rule names), inconclusive. For CI pipelines.")] = None,
    model_card: Annotated[Path | None, typer.Option("--model-card", help="Also write a Markdown section for the model's card: the verdict, the image-set AUCs with intervals, the rule, the versions.")] = None,
) -> None:
    """Judge a model trained anywhere: lungs, or outside them?

    Judge a model trained anywhere: does it read the lungs, or outside them?"""
    from cxr_isi.api import judge as run_judge

    m, _ = load_dataset(manifest, None, positive, negative, where)
    options: dict = {"size": size, "channels": channels, "normalise": normalise, "layout": layout, "output": output,
               "positive_index": positive_index, "head": head, "onnx_output": onnx_output}
    verdict = run_judge(model, m, out=out_dir, arch=arch, spec=spec, seed=seed, swap_pairs=swap_pairs,
                        map_images=map_images, progress=sys.stderr.isatty(), inputs=[manifest], remedy=remedy,
                        balance_on=balance_on,
                        **{k: v for k, v in options.items() if v is not None})
    t = Table(title=escape(f"{verdict.model}: what does it read?"))
    for c in ("image set", "AUC (95% CI)", "DeLong p vs original"):
        t.add_column(c)
    for name, a in verdict.auc.items():
        t.add_row(name, "not computed" if a["auc"] is None or a["auc"] != a["auc"] else
                  f"{a['auc']:.3f} (no interval)" if a.get("ci_low") is None else
                  f"{a['auc']:.3f} ({_fmt(a['ci_low'], 2)}-{_fmt(a['ci_high'], 2)})",
                  "-" if a["delong_p"] is None else _fmt(a["delong_p"], 3))
    out.print(t)
    what = f" ({verdict.what})" if verdict.what else ""
    out.print(f"[bold]verdict:[/] {verdict.kind}{what}: {escape(verdict.reason)}", soft_wrap=True)
    summary = json.loads((verdict.out_dir / "summary.json").read_text())
    if summary.get("split_note"):
        out.print(escape(summary["split_note"]), soft_wrap=True, highlight=False)
    out.print(escape(f"report: {verdict.out_dir / 'report.html'}"), highlight=False)
    if model_card is not None:
        from cxr_isi.report.model_card import write_model_card

        out.print(escape(f"model card section: {write_model_card(verdict.out_dir, model_card)}"), highlight=False)
    if verdict.remedy:
        r = verdict.remedy
        out.print(f"[bold]remedy (DFR):[/] {escape(r['sentence'])}", soft_wrap=True)
        beside = f" (judge it with --spec {r['written']['spec']}: its input handling)" if r["written"].get("spec") else ""
        out.print(escape(f"the refitted model: {r['written']['model']}{beside}; its report: "
                         f"{verdict.out_dir / 'dfr' / 'report.html'}"), soft_wrap=True, highlight=False)
    if fail_on:
        from cxr_isi.verdict.model import GATE_EXIT, gate

        if gate(verdict.kind, verdict.what, fail_on):  # after everything is written: the report explains it
            err.print(escape(f"refused by --fail-on {fail_on}: {verdict.kind}{what}: {verdict.reason}"),
                      highlight=False, soft_wrap=True)
            raise typer.Exit(GATE_EXIT)
