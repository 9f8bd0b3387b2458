"""``cxr-isi demo``: the whole protocol on data at hand, from images to a verdict.

By default it runs ``configs/demo.yaml`` (the two synthetic presets, where the truth is known):
audit, lung segmentation with the shipped U-Net, the five image sets, training, the
cross-dataset test, cross-validation, explanations, and the report. ``--real`` runs
``configs/cxr256.yaml`` on the real collection at ``../shared/data/cxr256`` (or ``--data``).
"""

from __future__ import annotations

import os
import time
from pathlib import Path

from rich.console import Console

from cxr_isi.config import config_dir
from cxr_isi.errors import CxrIsiError


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


def demo_config(real: bool, data: Path | None):
    """The experiment config of the demo, with the real data's manifest pointed at ``data``."""
    from cxr_isi.study import load_experiment

    if not real:
        return config_dir() / "demo.yaml", load_experiment(config_dir() / "demo.yaml")
    root = find_cxr256(data)
    if root is None:
        raise CxrIsiError("real data not found at ../shared/data/cxr256; pass --data PATH")
    path = config_dir() / "cxr256.yaml"
    cfg = load_experiment(path)
    datasets = []
    for d in cfg.datasets:  # each collection found beside cxr256 (nih256 is its sibling in ../shared/data)
        if d.manifest is None:
            continue
        where = root.parent / d.manifest.parent.name / "manifest.csv"
        if where.is_file():
            datasets.append(d.model_copy(update={"manifest": where}))
        else:
            Console(stderr=True).print(f"[yellow]{where} not found: dataset {d.name} left out of the demo")
    names = {d.name for d in datasets}
    cross = [c for c in cfg.cross if c.train in names and c.test in names]
    return path, cfg.model_copy(update={"datasets": datasets, "cross": cross})


def run_demo(out_dir: Path, *, real: bool = False, data: Path | None = None, jobs: int | None = None,
             console: Console, progress: bool = True) -> dict:
    """Run the study of the demo config into ``out_dir``, write the report, print the verdicts."""
    from cxr_isi.report.html import write_report
    from cxr_isi.report.terminal import print_verdicts
    from cxr_isi.study.runner import run_experiment

    path, cfg = demo_config(real, data)
    jobs = jobs or max(1, min(4, os.cpu_count() or 1))
    console.rule(f"[bold]cxr-isi demo: {cfg.description or cfg.name}")
    console.print(f"config {path}; {len(cfg.datasets)} datasets, {len(cfg.variants)} image sets, "
                  f"{cfg.cv.folds}-fold cross-validation, {jobs} jobs at once -> {out_dir}")
    started = time.perf_counter()
    done = run_experiment(path, out_dir, executor="process" if jobs > 1 else "sequential", n_jobs=jobs,
                          progress=progress, config=cfg)
    t = time.perf_counter()
    result = write_report(out_dir)
    report_seconds = time.perf_counter() - t
    print_verdicts(result["summary"], console)
    console.print(f"report: {result['report']}")
    console.print(time_spent(done["run"]["seconds"], report_seconds, time.perf_counter() - started,
                             done["results"]), highlight=False)
    return result["summary"]


def time_spent(stages: dict, report_seconds: float, total: float, results) -> str:
    """Where the demo's time went: each stage, and the image sets whose training cost most."""
    parts = [f"{name} {seconds:.0f} s" for name, seconds in
             (("preparation", stages.get("prepare", 0)), ("training and testing", stages.get("jobs", 0)),
              ("explanations", stages.get("explain", 0)), ("probes", stages.get("probes", 0)),
              ("report", report_seconds))]
    line = f"time: {total / 60:.1f} min ({', '.join(parts)})"
    if results is not None and len(results) and "train_seconds" in results.columns:
        jobs = results.drop_duplicates("job_id")
        top = jobs.groupby(["protocol", "variant"])["train_seconds"].sum().sort_values(ascending=False).head(3)
        line += "; training (one core's seconds), most: " + ", ".join(
            f"{variant} ({protocol}) {seconds:.0f} s" for (protocol, variant), seconds in top.items())
    return line
