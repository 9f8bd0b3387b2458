"""``cxr-isi run``, ``sweep``, ``error-rates``, ``external`` and ``remedy``: the whole study of a
config, its dose-response, how often its verdict is wrong, what it scores elsewhere, and what to
do about a shortcut."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from cxr_isi.cli.common import (
    NegativeOpt,
    PositiveOpt,
    SeedOpt,
    WhereOpt,
    _fmt,
    app,
    at_least,
    friendly,
    out,
    outputs,
    print_results,
)
from cxr_isi.errors import CxrIsiError


@app.command()
@friendly
@outputs(out_dir="folder")
def run(
    config: Annotated[Path, typer.Argument(help="Experiment YAML (configs/demo.yaml, configs/cxr256.yaml, configs/paper.yaml).")],
    out_dir: Annotated[Path, typer.Option("--out", "-o", help="Run folder; the same command resumes it.")] = Path("runs/experiment"),
    executor: Annotated[str, typer.Option(help="sequential | process | ray.")] = "sequential",
    jobs: Annotated[int, typer.Option("--jobs", "-j", help="Jobs at once (process pool; local Ray).", callback=at_least("--jobs", 1))] = 1,
    address: Annotated[str | None, typer.Option(help="Ray cluster address (with --executor ray).")] = None,
    check: Annotated[bool, typer.Option("--check", help="Validate the config and the datasets, list the jobs, train nothing.")] = False,
    plan: Annotated[bool, typer.Option("--plan", help="Print every job, the images it reads and its estimated time; train nothing.")] = False,
) -> None:
    """Run the whole study of a config (resumable).

    Run the whole study of a config: every dataset, variant, model, fold and cross pair."""
    from cxr_isi.study.runner import check_executor, check_experiment, plan_experiment, run_experiment

    check_executor(executor, address)
    if plan:
        print_plan(plan_experiment(config, out_dir), jobs)
        return
    if jobs > 1 and executor == "sequential":
        executor = "process"
        out.print(f"--jobs {jobs}: running on a process pool of {jobs} workers (--executor process)")
    if check:
        jobs_ = check_experiment(config, out_dir)
        out.print(f"{config}: valid; {len(jobs_)} jobs "
                  f"({sum(j.protocol == 'split' for j in jobs_)} on the single split, "
                  f"{sum(j.protocol == 'cv' for j in jobs_)} in cross-validation)")
        return
    result = run_experiment(config, out_dir, executor=executor, n_jobs=jobs, address=address,
                            progress=sys.stderr.isatty())
    print_results(result["results"])
    from cxr_isi.study.runfolder import RESULTS

    out.print(f"results: {out_dir / RESULTS}; the report: cxr-isi report {out_dir}")


@app.command()
@friendly
@outputs(out_dir="folder")
def sweep(
    out_dir: Annotated[Path, typer.Option("--out", "-o", help="Sweep folder (levels/, sweep.csv, sweep.png); the same command resumes it.")],
    majority_share: Annotated[list[float] | None, typer.Option("--majority-share", help="A level of intra-source imbalance, 0.5 to 1 (repeat).")] = None,
    fingerprint_strength: Annotated[list[float] | None, typer.Option("--fingerprint-strength", help="A level of source-fingerprint strength at majority share 1.0, 0 to 2 (repeat).")] = None,
    config: Annotated[Path | None, typer.Option("--config", "-c", help="YAML with a sweep: block (levels, folds, n, base).")] = None,
    folds: Annotated[int | None, typer.Option(help="Folds per level (default 5).")] = None,
    n: Annotated[int | None, typer.Option("--n", help="Phantoms per level (default: the base study's, the demo's 240).")] = None,
    executor: Annotated[str, typer.Option(help="sequential | process | ray.")] = "sequential",
    jobs: Annotated[int, typer.Option("--jobs", "-j", help="Jobs at once.", callback=at_least("--jobs", 1))] = 1,
    seed: SeedOpt = 0,
) -> None:
    """Dose-response of the verdict over imbalance levels (phantoms).

    Dose-response: the protocol's core at each level of intra-source imbalance (or
    fingerprint strength) on phantoms; sweep.csv, the curves with 95% bands, and where the
    verdict turns shortcut."""
    from cxr_isi.config import load_yaml, parse_model
    from cxr_isi.report.sweep import write_sweep
    from cxr_isi.studies.sweep import SweepConfig, run_sweep, write_sweep_summary

    data: dict = {}
    if config is not None:
        loaded = load_yaml(config)
        if not isinstance(loaded, dict) or not isinstance(loaded.get("sweep"), dict):
            raise CxrIsiError(f"{config}: no sweep: block (a mapping) in this YAML")
        data = dict(loaded["sweep"])
        if data.get("base"):
            data["base"] = str((config.parent / data["base"]).resolve())
    given = {"majority_share": majority_share or None, "fingerprint_strength": fingerprint_strength or None,
             "folds": folds, "n": n}
    data.update({k: v for k, v in given.items() if v is not None})
    data.setdefault("seed", seed)
    cfg = parse_model(SweepConfig, data, "cxr-isi sweep")
    if jobs > 1 and executor == "sequential":
        executor = "process"
    table, audit = run_sweep(cfg, out_dir, executor=executor, n_jobs=jobs, progress=sys.stderr.isatty())
    summary, figure, sentences = write_sweep(out_dir, write_sweep_summary(out_dir, table, audit))
    t = Table(title="dose-response (mean AUC over folds, 95% interval)")
    for c in ("axis", "level", "boxed out", "original", "cross test", "Cramér's V", "source-only AUC", "verdict"):
        t.add_column(c)
    for r in summary.to_dict("records"):
        t.add_row({"majority_share": "share", "fingerprint_strength": "strength"}.get(r["axis"], r["axis"]),
                  f"{r['level']:g}",
                  *(f"{r[k + '_auc']:.2f} [{r[k + '_ci_low']:.2f}, {r[k + '_ci_high']:.2f}]"
                    for k in ("lungs_boxed_out", "original", "cross")),
                  _fmt(r["cramers_v"], 2), _fmt(r["source_only_auc"], 2), r["verdict"])
    out.print(t)
    for line in sentences:
        out.print(line, highlight=False)
    out.print(f"written: {out_dir / 'sweep.csv'}, {figure}")


@app.command("error-rates")
@friendly
@outputs(out_dir="folder")
def error_rates(
    out_dir: Annotated[Path, typer.Option("--out", "-o", help="Benchmark folder (cases/, error_rates.*); the same command resumes it.")],
    config: Annotated[Path | None, typer.Option("--config", "-c", help="YAML with an error_rates: block (seeds, levels, sizes).")] = None,
    smoke: Annotated[bool, typer.Option("--smoke", help="The 3-seed smoke version (about 2 minutes on 2 cores).")] = False,
    seeds: Annotated[int | None, typer.Option("--seeds", help="Seeds per null case and for the geometry leak (default 20).", callback=at_least("--seeds", 0))] = None,
    power_seeds: Annotated[int | None, typer.Option("--power-seeds", help="Seeds per shortcut level (default 5).", callback=at_least("--power-seeds", 0))] = None,
    first_seed: Annotated[int | None, typer.Option("--first-seed", help="The first seed (default 100; the smoke version 0).", callback=at_least("--first-seed", 0))] = None,
    jobs: Annotated[int, typer.Option("--jobs", "-j", help="Cases at once.", callback=at_least("--jobs", 1))] = 2,
) -> None:
    """The verdict's false alarms and power, over seeds (phantoms).

    The verdict's error rates on phantoms with a known answer: false alarms on two kinds of null
    data, power over levels of intra-source imbalance and fingerprint strength, the geometry leak;
    every rate with a Wilson interval, the probes' own false-positive rates, the targets met or
    missed (error_rates.md, error_rates.png)."""
    from cxr_isi.config import load_yaml
    from cxr_isi.report.error_rates import write_error_rates
    from cxr_isi.studies.error_rates import error_rate_tables, error_rates_config, run_error_rates
    from cxr_isi.verdict.error_rates import rate_text

    block = None
    if config is not None:
        loaded = load_yaml(config)
        if not isinstance(loaded, dict) or not isinstance(loaded.get("error_rates"), dict):
            raise CxrIsiError(f"{config}: no error_rates: block (a mapping) in this YAML")
        block = loaded["error_rates"]
    cfg = error_rates_config(smoke=smoke, block=block, seeds=seeds, power_seeds=power_seeds, first_seed=first_seed,
                             where=str(config or "cxr-isi error-rates"))
    run_error_rates(cfg, out_dir, n_jobs=jobs, progress=sys.stderr.isatty())
    result = write_error_rates(out_dir, error_rate_tables(out_dir, cfg))
    t = Table(title="the verdict's error rates (95% Wilson intervals)")
    for c in ("target", "asked", "measured", "met"):
        t.add_column(c)
    for g in result["targets"]:
        t.add_row(g["target"], g["asked"], rate_text(g["measured"]), {True: "yes", False: "no", None: "not run"}[g["met"]])
    out.print(t)
    out.print(f"written: {out_dir / 'error_rates.md'}, {result['figure']}")


@app.command("external")
@friendly
@outputs(out_dir="folder")
def external(
    out_dir: Annotated[Path, typer.Option("--out", "-o", help="Benchmark folder (pairs/, external.*); the same command resumes it.")],
    smoke: Annotated[bool, typer.Option("--smoke", help="The 6-pair phantom smoke version (under a minute on 2 cores).")] = False,
    seeds: Annotated[int | None, typer.Option("--seeds", help="Seeds per phantom level and preset pair (default 3).", callback=at_least("--seeds", 1))] = None,
    real: Annotated[bool, typer.Option("--real/--no-real", help="Include the real pairs of ../shared/data (cxr256, nih256).")] = True,
    jobs: Annotated[int, typer.Option("--jobs", "-j", help="Pairs at once.", callback=at_least("--jobs", 1))] = 2,
) -> None:
    """What will a model score elsewhere? Checked on known pairs.

    Train at home, measure what a run measures there, test elsewhere: phantom pairs over the
    sweep's levels and presets, and the real pairs (cxr256 isi <-> balanced, Kermany <-> nih256).
    Per pair this project's estimate (leave-one-pair-out, with its interval) beside PEst and the
    measured external AUC; mean absolute error and coverage (external.md, external_pairs.csv,
    external_model.json: the line runs use)."""
    from cxr_isi.report.external import write_external
    from cxr_isi.studies.external import external_config, external_tables, run_external

    cfg = external_config(smoke=smoke, seeds=seeds, block=None if real or smoke else {"real": False})
    run_external(cfg, out_dir, n_jobs=jobs, progress=sys.stderr.isatty())
    result = write_external(out_dir, external_tables(out_dir, cfg))
    t = Table(title="external AUC: estimators against the measured value")
    for c in ("pairs", "estimator", "n", "mean abs. error", "coverage"):
        t.add_column(c)
    for scope, by in result["errors"].items():
        for name, e in by.items():
            if e.get("n"):
                t.add_row(scope, name, str(e["n"]), f"{e['mae']:.3f}",
                          "–" if name == "internal AUC" else f"{e['coverage']:.0%}")
    out.print(t)
    for g in result["targets"]:
        out.print(f"{g['target']}: {g['measured']:.3f} ({'met' if g['met'] else 'missed'})")
    out.print(f"written: {out_dir / 'external.md'}")


def print_plan(costs, jobs: int) -> None:
    t = Table(title=f"{len(costs)} jobs (time estimated from this project's measured 2-core CPU rates)")
    for c in ("dataset", "image set", "model", "fold", "size", "epochs", "train imgs", "test imgs", "est. time"):
        t.add_column(c, justify="right" if c in ("size", "epochs", "train imgs", "test imgs", "est. time") else "left")
    for r in costs.to_dict("records"):
        t.add_row(r["dataset"], r["image_set"], r["model"], r["fold"], str(r["size"]), str(r["epochs"]),
                  f"{r['train_images']:,}", f"{r['test_images']:,}", _duration(r["seconds"]))
    out.print(t)
    total = costs["seconds"].sum(min_count=1)
    known = costs["seconds"].notna()
    out.print(f"total: {_duration(total)} of training on one process"
              + (f", about {_duration(total / jobs)} on {jobs} workers" if jobs > 1 else "")
              + ("" if known.all() else f"; {int((~known).sum())} jobs have no measured rate (not counted)")
              + "; early stopping can only shorten it")


def _duration(seconds: float) -> str:
    if seconds != seconds:
        return "-"
    if seconds < 90:
        return f"{seconds:.0f} s"
    if seconds < 5400:
        return f"{seconds / 60:.0f} min"
    return f"{seconds / 3600:.1f} h"


@app.command()
@friendly
@outputs(out_dir="folder")
def remedy(
    manifest: Annotated[Path, typer.Argument(help="The dataset: image, label, source, patient.")],
    out_dir: Annotated[Path, typer.Option("--out", "-o", help="Run folder (report.html: 'What to do'); the same command resumes it.")],
    positive: PositiveOpt = None,
    negative: NegativeOpt = None,
    where: WhereOpt = None,
    external: Annotated[list[Path] | None, typer.Option("--external", "-e", help="A dataset from elsewhere with the same labels, scored whole (repeat).")] = None,
    remedies: Annotated[str | None, typer.Option("--remedies", help="Comma-separated: balance, lungs_only, group_dro, dfr (default: all).")] = None,
    seeds: Annotated[int, typer.Option(help="Training seeds per remedy, on the same split.", callback=at_least("--seeds", 1))] = 1,
    model: Annotated[str, typer.Option(help="The classifier trained (small_cnn on a CPU, vgg16_gap as the paper).")] = "small_cnn",
    size: Annotated[int, typer.Option(help="Training side in pixels.", callback=at_least("--size", 32))] = 128,
    epochs: Annotated[int, typer.Option(help="Epochs per model.", callback=at_least("--epochs", 1))] = 20,
    loso: Annotated[bool, typer.Option("--loso/--no-loso", help="Leave out each source with both classes once, as a measure elsewhere.")] = True,
    loso_min: Annotated[int, typer.Option("--loso-min", help="Images of each class a source needs to be left out (LOSO).", callback=at_least("--loso-min", 2))] = 5,
    balance: Annotated[str, typer.Option(help="subsample | weight: how the balance remedy evens each source's classes.")] = "subsample",
    group_robust: Annotated[str, typer.Option("--group-robust", help="dro | sampling: GroupDRO's loss, or every group drawn equally.")] = "dro",
    jobs: Annotated[int, typer.Option("--jobs", "-j", help="Jobs at once (a process pool).", callback=at_least("--jobs", 1))] = 1,
    seed: SeedOpt = 0,
) -> None:
    """What to do about a shortcut: remedies measured elsewhere.

    Train plain and each remedy (intra-source balance, lungs only, group-robust training, last-layer
    retraining) on the same split; measure each at home, without the lungs, on --external sets and
    leaving out one source at a time; say which helped, with paired intervals."""
    import cxr_isi as ci

    names = [n.strip() for n in remedies.split(",") if n.strip()] if remedies is not None else None
    if names == []:
        raise CxrIsiError("--remedies is empty: name one or more of balance, lungs_only, group_dro, dfr, or leave "
                          "it out for all of them")
    if names is not None:
        from cxr_isi.remedies import get_remedy

        for n in names:
            get_remedy(n)  # an unknown name is one line, before anything is written
    if not positive:
        raise CxrIsiError("say which labels are positive: --positive LABEL")
    if balance not in ("subsample", "weight") or group_robust not in ("dro", "sampling"):
        raise CxrIsiError(f"--balance {balance} / --group-robust {group_robust}: use subsample or weight / dro or sampling")
    result = ci.remedy(manifest, positive=positive, negative=negative, out=out_dir, external=external or None,
                       remedies=names, seeds=seeds, model=model, size=size, epochs=epochs, seed=seed,
                       where=where or None, loso_min_per_class=loso_min, balance=balance,
                       group_robust=group_robust, loso=loso, jobs=jobs, progress=sys.stderr.isatty())
    t = Table(title="What to do: each remedy against plain training (AUC, 95% CI; paired difference)")
    for c in ("remedy", "measured on", "AUC (95% CI)", "vs plain (95% CI)"):
        t.add_column(c)
    for r in result.table.itertuples():
        auc = "not computed" if r.value is None or r.value != r.value else (
            f"{r.value:.3f}" + ("" if r.ci_low is None or r.ci_low != r.ci_low else f" ({r.ci_low:.2f}-{r.ci_high:.2f})"))
        diff = "-" if r.diff is None or r.diff != r.diff else (
            f"{r.diff:+.3f}" + ("" if r.diff_low is None or r.diff_low != r.diff_low else
                                f" ({r.diff_low:+.2f} to {r.diff_high:+.2f})"))
        t.add_row(r.remedy, {"home": "home", "boxed_out": "home, lungs boxed out", "loso": "left-out sources"}.get(
            r.measure, r.measure), auc, diff)
    out.print(t)
    out.print(f"[bold]{result.kind}:[/] {result.sentence}.", soft_wrap=True)
    for name, v in result.verdicts.items():
        out.print(f"{name} reads: {v['verdict_kind']}" + (f" ({v['what']})" if v.get("what") else ""), soft_wrap=True)
    out.print(f"the report: {out_dir / 'report.html'}")
