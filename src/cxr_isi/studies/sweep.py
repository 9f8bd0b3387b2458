"""The dose-response sweep: how much intra-source imbalance it takes for a model to read the
sources, and how faint a source's mark may be before it stops.

At each level of an axis a phantom is made and the protocol's core runs on it: k-fold
cross-validation of ``original`` and ``lungs_boxed_out``, each fold's ``original`` model also
tested on an independent ``balanced`` phantom (the cross test; the same set at every level). Two
axes: ``majority_share`` (0.5, every source both classes equally, to 1.0, every source one class)
at full fingerprint strength, and ``fingerprint_strength`` (0, sources alike, to 1, full styles)
at majority share 1.0. Every level is an ordinary run folder under ``OUT/levels/`` (resumable:
a rerun skips what is done); the numbers are gathered into ``OUT/sweep.csv`` (one AUC per
level, variant, test set and fold) and ``OUT/sweep_audit.csv`` (the audit's Cramér's V and
source-only AUC per level: what predicts a shortcut before any training).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pandas as pd
from pydantic import Field, ValidationInfo, field_validator

from cxr_isi._io import write_csv
from cxr_isi.config import Seed, StrictModel, config_dir, parse_model
from cxr_isi.errors import CxrIsiError
from cxr_isi.evaluate.metrics import mean_ci
from cxr_isi.logs import get_logger
from cxr_isi.studies.curves import SERIES
from cxr_isi.study.config import ExperimentConfig, load_experiment
from cxr_isi.study.runfolder import CV, RESULTS, RunFolder
from cxr_isi.verdict.dataset import verdict_for

log = get_logger("studies")
AXES = ("majority_share", "fingerprint_strength")
RANGES = {"majority_share": (0.5, 1.0), "fingerprint_strength": (0.0, 2.0)}  # the phantom's own bounds
TRAIN, TEST = "isi", "balanced"  # the swept phantom, the independent cross-test phantom


class SweepConfig(StrictModel):
    """A sweep: the levels of each axis, and the study each level runs (defaults: the demo's
    phantom size, model and training, so a bare sweep runs on a laptop)."""

    majority_share: list[float] = Field(default_factory=list)
    fingerprint_strength: list[float] = Field(default_factory=list)
    folds: int = Field(5, ge=2, le=20)
    n: int | None = Field(None, ge=8)  # phantoms per level (default: the base study's)
    base: Path | None = None  # an experiment YAML with a synthetic dataset (default: the demo)
    seed: Seed = 0

    @field_validator("majority_share", "fingerprint_strength")
    @classmethod
    def _levels(cls, v: list[float], info: ValidationInfo) -> list[float]:
        low, high = RANGES[str(info.field_name)]
        for x in v:
            if not low <= x <= high:
                raise ValueError(f"{str(info.field_name).replace('_', ' ')} {x} is outside [{low:g}, {high:g}]")
        return sorted(set(v))


def _base(cfg: SweepConfig) -> ExperimentConfig:
    path = cfg.base or config_dir() / "demo.yaml"
    base = load_experiment(path)
    synthetic = [d for d in base.datasets if d.synthetic is not None]
    if not synthetic:
        raise CxrIsiError(f"{path}: a sweep needs a synthetic dataset to vary; this config has none")
    return base


def level_config(cfg: SweepConfig, axis: str, level: float) -> ExperimentConfig:
    """The study run at one level of one axis.

    Parameters
    ----------
    cfg : SweepConfig
    axis : {"majority_share", "fingerprint_strength"}
    level : float

    Returns
    -------
    ExperimentConfig
        The swept phantom (``isi``) and the cross-test phantom (``balanced``, a test set only),
        the protocol's core on them; no explanations, probes or fixed box.
    """
    if axis not in AXES:
        raise CxrIsiError(f"unknown sweep axis {axis!r}; one of {', '.join(AXES)}")
    base = _base(cfg)
    phantom = next(d for d in base.datasets if d.synthetic is not None).synthetic
    assert phantom is not None
    common = {"n": cfg.n or phantom.n, "size": phantom.size, "disease_strength": phantom.disease_strength,
              "n_sources": phantom.n_sources, "disease_extent": phantom.disease_extent}
    swept = {"majority_share": level, "fingerprint_strength": 1.0} if axis == "majority_share" else \
        {"majority_share": 1.0, "fingerprint_strength": level}
    data = base.model_dump(mode="json", exclude_unset=True)
    data.update({
        "name": f"sweep_{axis}_{level:g}",
        "description": f"dose-response sweep: {axis} = {level:g}",
        "seed": cfg.seed,
        "datasets": [
            {"name": TRAIN, "title": f"Phantom, {axis.replace('_', ' ')} {level:g}",
             "synthetic": {"preset": "isi", "seed": cfg.seed, **common, **swept}},
            {"name": TEST, "title": "Phantom, intra-source balanced (cross test)", "train": False,
             "synthetic": {"preset": "balanced", "seed": cfg.seed + 1, **common}}],
        "variants": ["original"],
        "cv": {"folds": cfg.folds, "variants": ["original", "lungs_boxed_out"], "cross": True},
        "cross": [{"train": TRAIN, "test": TEST}],
        "fixed_box": {"enabled": False},
        "probes": {"enabled": False},
        "explain": {"enabled": False},
    })
    return parse_model(ExperimentConfig, data, f"sweep level {axis} = {level:g}")


def requested(cfg: SweepConfig) -> list[tuple[str, float]]:
    """(axis, level) of every point of the curves, in order."""
    return ([("majority_share", x) for x in cfg.majority_share]
            + [("fingerprint_strength", x) for x in cfg.fingerprint_strength])


def run_of(cfg: SweepConfig, axis: str, level: float) -> tuple[str, float]:
    """The run behind a point: strength 1.0 is the share axis's 1.0 when that is swept (the same
    phantom, run once)."""
    if axis == "fingerprint_strength" and level == 1.0 and 1.0 in cfg.majority_share:
        return "majority_share", 1.0
    return axis, level


def levels(cfg: SweepConfig) -> list[tuple[str, float]]:
    """(axis, level) of every run, in order, each once."""
    out = list(dict.fromkeys(run_of(cfg, a, x) for a, x in requested(cfg)))
    if not out:
        raise CxrIsiError("a sweep needs levels: --majority-share and/or --fingerprint-strength")
    return out


def level_dir(out: Path, axis: str, level: float) -> Path:
    return Path(out) / "levels" / f"{axis}_{level:g}"


def run_sweep(cfg: SweepConfig, out: str | Path, *, executor: str = "sequential", n_jobs: int = 1,
              progress: bool = True) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Run every level (resuming finished ones) and gather the numbers.

    Parameters
    ----------
    cfg : SweepConfig
    out : path
        The sweep folder: ``levels/<axis>_<level>/`` run folders, ``sweep.csv``,
        ``sweep_audit.csv``.
    executor, n_jobs, progress
        As for :func:`~cxr_isi.study.runner.run_experiment`.

    Returns
    -------
    (DataFrame, DataFrame)
        ``sweep.csv`` (``axis, level, variant, test, fold, auc``) and ``sweep_audit.csv``
        (``axis, level, cramers_v, source_only_auc, audit_verdict``).
    """
    from cxr_isi.study.runner import check_executor, run_experiment

    check_executor(executor, None, n_jobs)
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    todo = levels(cfg)
    for i, (axis, level) in enumerate(todo, 1):
        log.info("sweep level %d of %d: %s = %g", i, len(todo), axis, level)
        run_experiment(None, level_dir(out, axis, level), executor=executor, n_jobs=n_jobs,
                       progress=progress, config=level_config(cfg, axis, level))
    return gather(cfg, out)


def gather(cfg: SweepConfig, out: Path) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Read the finished levels' results into the two sweep tables (and write them)."""
    rows, audits = [], []
    for axis, level in requested(cfg):
        run = RunFolder(level_dir(out, *run_of(cfg, axis, level)))
        if not run.is_run():
            continue
        results = run.table(RESULTS)
        cv = results[(results["protocol"] == CV) & (results["train_dataset"] == TRAIN)] if len(results) else results
        audit = run.audit(TRAIN) or {}
        for r in cv.itertuples():
            rows.append({"axis": axis, "level": level, "variant": r.variant,
                         "test": "own" if r.test_dataset == TRAIN else r.test_dataset,
                         "fold": int(r.fold), "auc": float(r.auc)})
        audits.append({"axis": axis, "level": level, "cramers_v": audit.get("cramers_v"),
                       "source_only_auc": audit.get("source_only_auc"), "audit_verdict": audit.get("verdict")})
    sweep = pd.DataFrame(rows, columns=["axis", "level", "variant", "test", "fold", "auc"])
    sweep = sweep.sort_values(["axis", "level", "variant", "test", "fold"]).reset_index(drop=True)
    audit_table = pd.DataFrame(audits, columns=["axis", "level", "cramers_v", "source_only_auc", "audit_verdict"])
    audit_table = audit_table.sort_values(["axis", "level"]).reset_index(drop=True)
    write_csv(out / "sweep.csv", sweep)
    write_csv(out / "sweep_audit.csv", audit_table)
    return sweep, audit_table


# -- the dose-response table ----------------------------------------------------------------------

def sweep_summary(sweep: pd.DataFrame, audit: pd.DataFrame) -> pd.DataFrame:
    """Per axis and level: each series' mean AUC over the folds with its 95% t interval, the
    audit's figures and the verdict the boxed-out AUC gives.

    Parameters
    ----------
    sweep, audit : DataFrame
        ``sweep.csv`` and ``sweep_audit.csv``.

    Returns
    -------
    DataFrame
        ``axis, level, <series>_auc, <series>_ci_low, <series>_ci_high`` for each series,
        ``cramers_v, source_only_auc, verdict``.
    """
    rows = []
    for (axis, level), g in sweep.groupby(["axis", "level"]):
        row: dict = {"axis": axis, "level": float(level)}
        for key, (variant, test, _, _) in SERIES.items():
            ci = mean_ci(g[(g["variant"] == variant) & (g["test"] == test)]["auc"].to_numpy())
            row.update({f"{key}_auc": ci["mean"], f"{key}_ci_low": ci["ci_low"], f"{key}_ci_high": ci["ci_high"]})
        a = audit[(audit["axis"] == axis) & (audit["level"] == level)]
        row["cramers_v"] = float(a["cramers_v"].iloc[0]) if len(a) else float("nan")
        row["source_only_auc"] = float(a["source_only_auc"].iloc[0]) if len(a) else float("nan")
        row["verdict"] = verdict_for(row["lungs_boxed_out_auc"], row["lungs_boxed_out_ci_low"])
        rows.append(row)
    return pd.DataFrame(rows)


def write_sweep_summary(out: str | Path, sweep: pd.DataFrame, audit: pd.DataFrame) -> pd.DataFrame:
    """:func:`sweep_summary` (each level's verdict decided) written to ``sweep_summary.csv``: what
    the sweep's figure and sentences (:mod:`cxr_isi.report.sweep`) render."""
    summary = sweep_summary(sweep, audit)
    write_csv(Path(out) / "sweep_summary.csv", summary)
    return summary


@dataclass
class SweepResult:
    """A dose-response sweep: per-fold AUCs, the audit per level, the summary with 95%
    intervals and verdicts, the figure and where the verdict turns ``shortcut``."""

    path: Path
    sweep: pd.DataFrame
    audit: pd.DataFrame
    summary: pd.DataFrame
    figure: Path
    sentences: list[str]
