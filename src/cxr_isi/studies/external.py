"""Pairs whose external AUC is known: train at home (A), measure what a run measures there, test
elsewhere (B). The benchmark behind :mod:`cxr_isi.evaluate.external`'s estimate and its baseline,
PEst (``cxr-isi external``).

Every pair is one ordinary, resumable run folder under ``OUT/pairs/<pair>/``: ``small_cnn`` on
A's original images, the fixed-box lungs-boxed-out model, the tile-shuffled model without the
lungs (the ``acquisition`` probe) and PEst's pixel-shuffled model (the ``pest`` probe), all on A's
single split; the original model also tested on B. The pairs (:func:`pairs`):

- ``majority_share`` and ``fingerprint_strength`` (the sweep's axes; A a phantom at that level,
  B a ``balanced`` phantom of other sources: another seed, other styles), ``seeds`` each;
- ``preset``: the phantom presets against each other (isi, strong, mild, balanced; A and B of
  different seeds, so of different sources);
- ``real``: cxr256's ``isi`` <-> Kermany (its normal patients split in halves between the two:
  they shared every normal image) and Kermany <-> ``nih256``, both directions, where
  ``../shared/data`` is present (skipped with a warning otherwise).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd
from pydantic import Field

from cxr_isi._io import write_csv, write_json
from cxr_isi.config import StrictModel, parse_model
from cxr_isi.errors import CxrIsiError
from cxr_isi.evaluate import external as est
from cxr_isi.logs import get_logger
from cxr_isi.probes.pest import pest
from cxr_isi.study.config import ExperimentConfig
from cxr_isi.study.elsewhere import home_figures, split_row
from cxr_isi.study.runfolder import RESULTS, RunFolder

log = get_logger("studies")
SHARE, STRENGTH, PRESET, REAL = "majority_share", "fingerprint_strength", "preset", "real"
KINDS = (SHARE, STRENGTH, PRESET, REAL)
TARGETS = {"mae": 0.05, "coverage": 0.90}
HOME, ELSEWHERE = "home", "elsewhere"
PRESET_PAIRS = (("isi", "balanced"), ("balanced", "isi"), ("isi", "mild"), ("mild", "strong"), ("strong", "isi"),
                ("mild", "balanced"))
REAL_PAIRS = (("isi", "kermany_half"), ("kermany_half", "isi"), ("kermany", "nih"), ("nih", "kermany"))


class ExternalConfig(StrictModel):
    """The pairs and the small study each runs (defaults: the benchmark of issue 24)."""

    seeds: int = Field(3, ge=1, le=100)
    first_seed: int = Field(300, ge=0)
    majority_share: list[float] = Field(default_factory=lambda: [0.5, 0.7, 0.9, 1.0])
    fingerprint_strength: list[float] = Field(default_factory=lambda: [0.1, 0.3])
    presets: bool = True
    real: bool = True
    shared: Path | None = None  # ../shared/data beside the checkout when None
    n: int = Field(240, ge=16)
    size: int = Field(64, ge=32, le=256)
    epochs: int = Field(5, ge=1)
    real_size: int = Field(96, ge=32, le=512)
    real_epochs: int = Field(10, ge=1)
    disease_strength: float = Field(0.6, ge=0.0, le=3.0)


def smoke_config() -> ExternalConfig:
    """``make test``'s version: 6 phantom pairs of 64 images at 48 px, 3 epochs, no presets and
    no real pairs (the mechanics, not figures to read)."""
    return ExternalConfig(seeds=1, first_seed=0, majority_share=[0.5, 0.6, 0.75, 0.9, 1.0],
                          fingerprint_strength=[0.3], presets=False, real=False, n=64, size=48, epochs=3)


def external_config(*, smoke: bool = False, block: dict | None = None, seeds: int | None = None,
                    where: str = "cxr-isi external") -> ExternalConfig:
    """The benchmark's settings: the defaults (or the smoke version's), a YAML's block, the seeds."""
    data: dict = smoke_config().model_dump() if smoke else {}
    data.update(block or {})
    if seeds is not None:
        data["seeds"] = seeds
    return parse_model(ExternalConfig, data, where)


@dataclass(frozen=True)
class Pair:
    """One pair: its kind, level (or names), seed, and the two datasets' config blocks."""

    kind: str
    level: str
    seed: int
    home: dict = field(hash=False, compare=False)
    elsewhere: dict = field(hash=False, compare=False)

    @property
    def name(self) -> str:
        return f"{self.kind}_{self.level}_seed{self.seed}"


def _shared(cfg: ExternalConfig) -> Path:
    return cfg.shared or Path(__file__).resolve().parents[3] / ".." / "shared" / "data"


def real_manifests(shared: Path, out: Path) -> dict[str, dict]:
    """The real pairs' datasets. cxr256's ``isi`` and ``balanced`` share Kermany's normal images,
    so a test of one on the other would find every negative already seen (and leave them out):
    here Kermany's normal patients are split in two halves (sorted ids, alternately), ``isi``
    takes one and ``kermany_half`` the other, written as manifests under ``out/data/``.
    ``kermany`` (all of Kermany) and ``nih`` (nih256) are the pneumonia pair."""
    from cxr_isi.data.manifest import Manifest

    cxr = Manifest.read(shared / "cxr256" / "manifest.csv")
    f = cxr.frame
    normals = f[(f["dataset"] == "kermany") & (f["label"] == "normal")]
    patients = sorted(normals["patient_id"].astype(str).unique())
    half_a, half_b = set(patients[::2]), set(patients[1::2])
    covid = f[f["dataset"].isin(["ieee8023", "figure1"]) & (f["label"] == "covid")]
    pneumonia = f[(f["dataset"] == "kermany") & (f["label"] == "other_pneumonia")]
    data = Path(out) / "data"
    data.mkdir(parents=True, exist_ok=True)
    isi = cxr.with_frame(pd.concat([covid, normals[normals["patient_id"].astype(str).isin(half_a)]]))
    half = cxr.with_frame(pd.concat([pneumonia, normals[normals["patient_id"].astype(str).isin(half_b)]]))
    isi.write(data / "isi.csv")
    half.write(data / "kermany_half.csv")
    return {
        "isi": {"manifest": str(data / "isi.csv"), "labels": {"positive": ["covid"], "negative": ["normal"]}},
        "kermany_half": {"manifest": str(data / "kermany_half.csv"),
                         "labels": {"positive": ["other_pneumonia"], "negative": ["normal"]}},
        "kermany": {"manifest": str(shared / "cxr256" / "manifest.csv"), "filter": [{"dataset": ["kermany"]}],
                    "labels": {"positive": ["other_pneumonia"], "negative": ["normal"]}},
        "nih": {"manifest": str(shared / "nih256" / "manifest.csv"),
                "labels": {"positive": ["pneumonia"], "negative": ["normal"]}},
    }


def pairs(cfg: ExternalConfig, folder: Path | None = None) -> list[Pair]:
    """Every pair of the benchmark, in the order they run (the real pairs, the longest, first);
    with ``folder`` (the benchmark's) the real pairs' manifests are written there
    (:func:`real_manifests`), without it their datasets are left empty (names only)."""
    out: list[Pair] = []
    if cfg.real:
        shared = _shared(cfg)
        if (shared / "cxr256" / "manifest.csv").is_file() and (shared / "nih256" / "manifest.csv").is_file():
            real = real_manifests(shared, folder) if folder is not None else {}
            out += [Pair(REAL, f"{a}-{b}", 0, real.get(a, {}), real.get(b, {})) for a, b in REAL_PAIRS]
        else:
            log.warning("%s: no cxr256/nih256 there; the real pairs are skipped", shared)
    common = {"n": cfg.n, "size": cfg.size, "disease_strength": cfg.disease_strength}
    for k in range(cfg.first_seed, cfg.first_seed + cfg.seeds):
        away = {"preset": "balanced", "seed": k + 1000, **common}
        out += [Pair(SHARE, f"{x:g}", k, {"preset": "isi", "majority_share": x, "seed": k, **common}, away)
                for x in cfg.majority_share]
        out += [Pair(STRENGTH, f"{x:g}", k, {"preset": "isi", "fingerprint_strength": x, "seed": k, **common}, away)
                for x in cfg.fingerprint_strength if not (x == 1.0 and 1.0 in cfg.majority_share)]
        if cfg.presets:
            out += [Pair(PRESET, f"{a}-{b}", k, {"preset": a, "seed": k, **common},
                         {"preset": b, "seed": k + 2000, **common}) for a, b in PRESET_PAIRS]
    return out


def pair_config(cfg: ExternalConfig, pair: Pair) -> ExperimentConfig:
    """The study run on one pair: what a run measures at home, and the test elsewhere."""
    real = pair.kind == REAL
    size, epochs = (cfg.real_size, cfg.real_epochs) if real else (cfg.size, cfg.epochs)

    def dataset(name: str, block: dict, train: bool) -> dict:
        d = {"name": name, "title": f"{name}: {pair.name}", "train": train}
        return {**d, **block} if real else {**d, "synthetic": block}

    data = {
        "name": f"external_{pair.name}",
        "description": f"external AUC pair {pair.name}",
        "seed": pair.seed,
        "datasets": [dataset(HOME, pair.home, True), dataset(ELSEWHERE, pair.elsewhere, False)],
        "models": ["small_cnn"],
        "variants": ["original"],
        "split": {"test_size": 0.25, "val_size": 0.15},
        "cv": {"folds": 0},
        "cross": [{"train": HOME, "test": ELSEWHERE}],
        "train": {"size": size, "epochs": epochs, "patience": 3, "batch_size": 16 if not real else 32, "lr": 0.001},
        "segmentation": {"size": 256 if real else 128},
        "fixed_box": {"enabled": True, "variants": ["lungs_boxed_out"], "cv": False},
        "probes": {"enabled": True, "names": ["acquisition", "pest"],
                   "acquisition_block": 16 if size % 16 == 0 else 8},
        "explain": {"enabled": False},
    }
    return parse_model(ExperimentConfig, data, f"external pair {pair.name}")


def pair_dir(out: Path, pair: Pair) -> Path:
    return Path(out) / "pairs" / pair.name


def _run_pair(cfg_data: dict, out: str, pair: Pair) -> str:
    from cxr_isi.study.runner import run_experiment

    run_experiment(None, pair_dir(Path(out), pair), progress=False,
                   config=pair_config(ExternalConfig(**cfg_data), pair))
    return pair.name


def run_external(cfg: ExternalConfig, out: str | Path, *, n_jobs: int = 2, progress: bool = True) -> list[Pair]:
    """Run every pair (resuming finished ones), ``n_jobs`` pairs at once, each in its own process
    with one thread; returns the pairs in order."""
    from cxr_isi.studies.casepool import run_studies
    from cxr_isi.study.runner import check_executor

    check_executor("process", None, n_jobs)
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    todo = pairs(cfg, out)
    if not todo:
        raise CxrIsiError("no pairs: every kind is off")
    run_studies(todo, _run_pair, cfg.model_dump(mode="json"), out, n_jobs=n_jobs, progress=progress,
                what="external-AUC pairs")
    return todo


# -- reading the finished pairs ----------------------------------------------------------------

def pair_row(out: Path, pair: Pair) -> dict | None:
    """One finished pair's figures (None when its run folder holds no results yet)."""
    folder = RunFolder(pair_dir(out, pair))
    results = folder.table(RESULTS)
    if results.empty:
        return None
    home = home_figures(results, HOME)
    away = split_row(results, HOME, ELSEWHERE, "original")
    auc = lambda f: None if f is None else f["auc"]  # noqa: E731
    row = {"pair": pair.name, "kind": pair.kind, "level": pair.level, "seed": pair.seed, "real": pair.kind == REAL,
           "internal": auc(home["internal"]), "fixed_box": auc(home["fixed_box"]),
           "acquisition": auc(home["acquisition"]), "shuffled": auc(home["shuffled"]),
           "external": auc(away), "external_n": None if away is None else away["n"]}
    if home["internal"] and home["shuffled"]:
        p = pest(home["internal"], home["shuffled"])
        row.update(pest=p["estimate"], pest_low=p["ci_low"], pest_high=p["ci_high"])
    return row


def pair_table(out: Path, cfg: ExternalConfig) -> pd.DataFrame:
    """Every finished pair's row, with this project's leave-one-pair-out estimate beside PEst."""
    rows = [r for r in (pair_row(Path(out), p) for p in pairs(cfg)) if r is not None]
    table = pd.DataFrame(rows)
    if table.empty:
        return table
    usable = table.dropna(subset=[*est.FEATURES, "external"])
    if len(usable) >= len(est.FEATURES) + 3:
        lopo = est.leave_one_pair_out(usable)
        table = table.join(lopo)
    return table


def summary_of(table: pd.DataFrame) -> dict:
    """Mean absolute error and coverage of each estimator, over all pairs and the real ones."""
    out = {}
    for scope, t in (("all", table), ("real", table[table["real"]] if len(table) else table)):
        out[scope] = {name: est.errors(t, col, lo, hi) if col in t.columns else {"n": 0}
                      for name, (col, lo, hi) in {"this estimate": ("estimate", "ci_low", "ci_high"),
                                                  "PEst": ("pest", "pest_low", "pest_high"),
                                                  "internal AUC": ("internal", "internal", "internal")}.items()}
    return out


def external_tables(out: str | Path, cfg: ExternalConfig) -> dict:
    """Read every finished pair; write the tables (``external_pairs.csv``), the JSON
    (``external.json``) and the shipped-model candidate (``external_model.json``)."""
    out = Path(out)
    table = pair_table(out, cfg)
    if table.empty:
        raise ValueError(f"{out}: no finished pair to read")
    errors = summary_of(table)
    usable = table.dropna(subset=[*est.FEATURES, "external"])
    model = est.shipped_model(usable) if len(usable) >= len(est.FEATURES) + 3 else None
    targets = []
    mine, base = errors["all"]["this estimate"], errors["all"]["PEst"]
    if mine.get("n"):
        targets = [{"target": f"mean absolute error <= {TARGETS['mae']}", "measured": mine["mae"],
                    "met": bool(mine["mae"] <= TARGETS["mae"])},
                   {"target": "below PEst's on the same pairs", "measured": mine["mae"],
                    "met": bool(base.get("n") and mine["mae"] < base["mae"])},
                   {"target": f"95% intervals cover >= {TARGETS['coverage']:.0%}", "measured": mine["coverage"],
                    "met": bool(mine["coverage"] >= TARGETS["coverage"])}]
    write_csv(out / "external_pairs.csv", table)
    result = {"config": cfg.model_dump(mode="json"), "pairs": table.to_dict("records"), "errors": errors,
              "model": model, "targets": targets}
    write_json(out / "external.json", result)
    if model:
        write_json(out / "external_model.json", model)
    return result


@dataclass
class ExternalResult:
    """The external-AUC benchmark: per pair the figures at home, this project's estimate (by
    leave-one-pair-out, with its interval), PEst's, and the AUC measured elsewhere.

    Attributes
    ----------
    path : Path
        The benchmark folder (``pairs/``, ``external_pairs.csv``, ``external.md``, ...).
    pairs : DataFrame
        One row per pair.
    errors : dict
        Mean absolute error and coverage of each estimator, over all pairs and the real ones.
    model : dict or None
        The line fitted on every pair (what ``external_model.json`` ships).
    targets : list of dict
        Each target, its measured figure and whether it was met.
    """

    path: Path
    pairs: pd.DataFrame
    errors: dict
    model: dict | None
    targets: list[dict]
