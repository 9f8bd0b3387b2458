"""``cxr-isi demo``: the whole protocol from images to a verdict."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated

import typer

from cxr_isi.cli.common import (
    app,
    at_least,
    friendly,
    out,
    outputs,
)


@app.command()
@friendly
@outputs(out_dir="folder")
def demo(
    out_dir: Annotated[Path, typer.Option("--out", help="Run folder of the demo (resumes if it holds the same run).")] = Path("demo_out"),
    real: Annotated[bool, typer.Option("--real", help="Run configs/cxr256.yaml on the real cxr256 collection.")] = False,
    data: Annotated[Path | None, typer.Option(help="cxr256 folder for --real (default ../shared/data/cxr256).")] = None,
    jobs: Annotated[int | None, typer.Option("--jobs", "-j", help="Jobs at once (default: the cores, at most 4).", callback=at_least("--jobs", 1))] = None,
) -> None:
    """The whole protocol on phantoms (or --real data), to a verdict.

    The whole protocol on the synthetic presets (or --real data): audit, lungs, image sets,
    training, cross-dataset test, cross-validation, explanations, and the report."""
    from cxr_isi.demo import run_demo

    run_demo(out_dir, real=real, data=data, jobs=jobs, console=out,
             progress=sys.stderr.isatty())
