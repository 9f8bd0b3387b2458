"""``cxr-isi report``: the HTML report of a run (self-contained) and its summary."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from cxr_isi.cli.common import app, friendly, out, print_verdicts


@app.command()
@friendly
def report(
    run_dir: Annotated[Path, typer.Argument(help="A run folder made by cxr-isi run.")],
    sweep_dir: Annotated[Path | None, typer.Option("--sweep", help="A cxr-isi sweep folder whose dose-response curves the report shows.")] = None,
) -> None:
    """Write a run's HTML report and summary.json.

    Write RUN_DIR/report.html (self-contained) and RUN_DIR/summary.json."""
    from cxr_isi.report.html import check_sweep, write_report
    from cxr_isi.study.summary import write_summary

    check_sweep(sweep_dir)
    write_summary(run_dir)  # decided first, from what the folder holds now; then rendered
    result = write_report(run_dir, sweep_dir=sweep_dir)
    print_verdicts(result["summary"])
    if result["missing"]:
        out.print(f"[yellow]not in this run:[/] {' '.join(result['missing'])}")
    out.print(f"report: {result['report']}")
