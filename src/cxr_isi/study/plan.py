"""From a config to jobs: the prepared datasets (lung masks, split, folds) and the grid of
training jobs, each with a stable id made from everything that decides its numbers.

A job trains one (dataset, variant, model, fold) and then scores its test sets: its own
dataset's held-out part and, for a cross-dataset pair, the other dataset's matching part (its
test split, or the same fold index in cross-validation). Two runs of the same config give the
same ids, so a restarted run finds its finished jobs and skips them.
"""

from __future__ import annotations

import hashlib
import json
import os
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from cxr_isi._io import write_json
from cxr_isi.data.cache import cache_pairs
from cxr_isi.data.manifest import Manifest
from cxr_isi.data.splits import assign_folds, assign_split
from cxr_isi.errors import ConfigError, CxrIsiError
from cxr_isi.logs import get_logger
from cxr_isi.study.config import DatasetConfig, ExperimentConfig
from cxr_isi.study.runfolder import CV, MANIFEST, SPLIT, RunFolder, stamp_matches, write_stamp

log = get_logger("study")


def stable_hash(data: object, n: int = 10) -> str:
    """Hex digest of canonical JSON: equal settings give equal ids on every machine."""
    text = json.dumps(data, sort_keys=True, default=str, separators=(",", ":"))
    return hashlib.sha256(text.encode()).hexdigest()[:n]


def file_sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def segmentation_identity(cfg: ExperimentConfig) -> dict:
    """The segmentation settings that decide a job's numbers. A setting added later counts only
    away from its default, so that runs made before it keep their job ids and resume."""
    seg = cfg.segmentation.model_dump(mode="json")
    if seg.get("qc_policy") == "keep":
        seg.pop("qc_policy")
    return seg


def dataset_identity(d: DatasetConfig) -> dict:
    """What decides a dataset's rows and labels: the manifest's bytes, filter and mapping, and the
    files it names (:meth:`~cxr_isi.data.Manifest.files_stamp`: an image or mask changed under the
    same manifest redoes the segmentation and every job that read it); or the phantom settings."""
    if d.synthetic is not None:
        return {"synthetic": d.synthetic.model_dump()}
    if d.manifest is None or not d.manifest.is_file():
        raise ConfigError(f"dataset {d.name}: manifest {d.manifest} not found")
    return {"manifest_sha256": file_sha256(d.manifest), "filter": d.filter,
            "labels": d.label_mapping.model_dump(), "files": d.rows().files_stamp()}


@dataclass(frozen=True)
class Evaluation:
    """One test set scored by one trained model (in ``variant``, where it is not the image set
    the model trained on: a remedy's model tested without the lungs)."""

    id: str
    dataset: str
    fold: int | None
    variant: str | None = None


@dataclass(frozen=True)
class Job:
    """One training run and the test sets its model scores."""

    id: str
    protocol: str  # "split" (experiment 1) or "cv"
    dataset: str
    variant: str  # the hide-and-seek set
    model: str
    fold: int | None
    train: dict  # the TrainConfig as data, model and variant filled in
    evaluations: tuple[Evaluation, ...] = field(default_factory=tuple)
    remedy: str | None = None  # protocols "remedy" and "loso": plain or the remedy trained
    holdout: str | None = None  # protocol "loso": the source left out of training and tested on

    @property
    def image_set(self) -> str:
        """The variant's name in results: marked when its box is the dataset's fixed box or its
        pixels are shuffled (the acquisition probe)."""
        from cxr_isi.lungs.hideseek import image_set_name

        return image_set_name(self.variant, self.train.get("box_mode", "union"), self.train.get("scramble_block"))

    def as_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict) -> Job:
        return cls(**{**d, "evaluations": tuple(Evaluation(**e) for e in d["evaluations"])})


def _job_id(dataset: str, image_set: str, model: str, fold: int | None, settings: dict) -> str:
    part = SPLIT if fold is None else f"fold{fold}"
    return f"{dataset}__{image_set}__{model}__{part}__{stable_hash(settings, 8)}"


def _grid(cfg: ExperimentConfig) -> list[tuple[int | None, str, dict]]:
    """(fold, variant, training overrides) of every job, experiment 1 first: the configured
    variants, the fixed-box controls, the jobs the probes declare (the acquisition probe's
    tile-shuffled images, PEst's pixel-shuffled images); then the folds."""
    fixed = {"box_mode": "dataset"}
    grid: list[tuple[int | None, str, dict]] = [(None, v, {}) for v in cfg.variants]
    if cfg.fixed_box.enabled:
        grid += [(None, v, fixed) for v in cfg.fixed_box.variants]
    if cfg.probes.enabled:  # the training jobs the probes declare (acquisition: tiles shuffled; PEst: pixels)
        from cxr_isi.probes import probes

        grid += [(None, *p.job(cfg)) for p in probes().values() if p.job is not None and p.name in cfg.probes.names]
    if cfg.cv.folds:
        cv_sets: list[tuple[str, dict]] = [(v, {}) for v in cfg.cv.variants]
        if cfg.fixed_box.enabled and cfg.fixed_box.cv:
            cv_sets += [(v, fixed) for v in cfg.fixed_box.variants if v in cfg.cv.variants]
        grid += [(k, v, extra) for v, extra in cv_sets for k in range(cfg.cv.folds)]
    return grid


def plan_jobs(cfg: ExperimentConfig, identities: dict[str, dict],
              loso: dict[str, list[str]] | None = None) -> list[Job]:
    """Every job of the grid in a fixed order: experiment 1 first, then cross-validation, then
    (``remedies.enabled``) plain training and the remedies, ``loso`` naming per dataset the
    sources to leave out one at a time (:func:`loso_sources`)."""
    from cxr_isi.lungs.hideseek import image_set_name

    cross_tests: dict[str, list[str]] = {}
    for pair in cfg.cross:
        cross_tests.setdefault(pair.train, []).append(pair.test)
    common = {"seed": cfg.seed, "split": cfg.split.model_dump(), "folds": cfg.cv.folds,
              "segmentation": segmentation_identity(cfg)}
    jobs: list[Job] = []
    for fold, variant, extra in _grid(cfg):
        for d in (d for d in cfg.datasets if d.train):
            for model in cfg.models:
                train = json.loads(cfg.train.model_copy(update={"model": model, "variant": variant,
                                                                "seed": cfg.seed, **extra}).settings_json())
                settings = {**common, "dataset": identities[d.name], "train": train, "fold": fold}
                if train["box_mode"] == "dataset":
                    settings["fixed_box_quantile"] = cfg.fixed_box.quantile
                image_set = image_set_name(variant, train["box_mode"], train.get("scramble_block"))
                jid = _job_id(d.name, image_set, model, fold, settings)
                tests = [d.name]
                if image_set == "original" and (fold is None or cfg.cv.cross):
                    tests += cross_tests.get(d.name, [])
                evals = tuple(Evaluation(id=f"{t}__{stable_hash([jid, identities[t]], 8)}", dataset=t,
                                         fold=fold) for t in tests)
                jobs.append(Job(id=jid, protocol=SPLIT if fold is None else CV, dataset=d.name,
                                variant=variant, model=model, fold=fold, train=train, evaluations=evals))
    if cfg.remedies.enabled:
        jobs += _remedy_jobs(cfg, identities, common, loso or {})
    return jobs


def remedy_names(cfg: ExperimentConfig) -> list[str]:
    """Plain training, then every remedy of the config."""
    from cxr_isi.remedies import PLAIN

    return [PLAIN, *cfg.remedies.names]


def _remedy_jobs(cfg: ExperimentConfig, identities: dict[str, dict], common: dict,
                 loso: dict[str, list[str]]) -> list[Job]:
    """Plain training and each remedy on the original images of every trained dataset (the same
    split, ``remedies.seeds`` training seeds): scored at home, at home without the lungs, on every
    test-only dataset; then each again leaving out each source that gives both classes (LOSO)."""
    from cxr_isi.remedies import PLAIN, get_remedy

    options = cfg.remedies.model_dump()
    external = [d.name for d in cfg.datasets if not d.train]
    jobs: list[Job] = []
    for name in remedy_names(cfg):
        remedy = None if name == PLAIN else get_remedy(name)
        variant = remedy.variant("original") if remedy else "original"
        overrides = remedy.train_overrides(options) if remedy else {}
        for k in range(cfg.remedies.seeds):
            for d in (d for d in cfg.datasets if d.train):
                for model in cfg.models:
                    train = json.loads(cfg.train.model_copy(update={
                        "model": model, "variant": variant, "seed": cfg.seed + k, **overrides}).settings_json())
                    for holdout in [None, *(loso.get(d.name, []) if cfg.remedies.loso else [])]:
                        protocol = "remedy" if holdout is None else "loso"
                        settings = {**common, "dataset": identities[d.name], "train": train, "fold": None,
                                    "protocol": protocol, "remedy": name, "holdout": holdout}
                        part = f"{name}_seed{k}" + (f"_without_{stable_hash(holdout, 6)}" if holdout else "")
                        jid = f"{d.name}__{protocol}__{part}__{model}__{stable_hash(settings, 8)}"
                        tests: list[tuple[str, str | None]] = [(d.name, None)]
                        if holdout is None:
                            tests += [(d.name, "lungs_boxed_out")] + [(t, None) for t in external]
                        evals = tuple(Evaluation(id=f"{t}{'_' + v if v else ''}__"
                                                    f"{stable_hash([jid, identities[t], v], 8)}",
                                                 dataset=t, fold=None, variant=v) for t, v in tests)
                        jobs.append(Job(id=jid, protocol=protocol, dataset=d.name, variant=variant, model=model,
                                        fold=None, train=train, evaluations=evals, remedy=name, holdout=holdout))
    return jobs


def loso_sources(manifest: Manifest, min_per_class: int) -> list[str]:
    """The sources a leave-one-source-out test can use: each gives ``min_per_class`` images of
    each class."""
    from cxr_isi.audit.imbalance import sources_with_both

    return sources_with_both(manifest.frame, manifest.y, min_per_class)


# -- datasets --------------------------------------------------------------------------


def load_dataset(d: DatasetConfig, run_dir: Path, scratch: Path | None = None) -> Manifest:
    """The dataset's rows with the label mapping attached; a phantom set is generated into
    ``run_dir/data/<name>`` once (kept when its settings have not changed). With ``scratch``
    nothing is written under ``run_dir``: a phantom set not there already is made in ``scratch``
    (``run --check`` and ``--plan`` write nothing)."""
    if d.synthetic is not None:
        from cxr_isi.synth.generate import generate

        out = RunFolder(run_dir).synth_dir(d.name)
        stamp = out / "synth.json"  # the phantom generator's own record of its settings
        done = stamp.is_file() and json.loads(stamp.read_text()).get("config") == d.synthetic.model_dump()
        if not done and scratch is not None:
            out = RunFolder(scratch).synth_dir(d.name)
        manifest = (Manifest.read(out / MANIFEST) if done
                    else generate(d.synthetic, out, jobs=1))
        root = out
    else:
        assert d.manifest is not None  # a config gives a manifest or a phantom (validated)
        manifest = d.rows()
        root = d.manifest.parent
    frame = manifest.frame.copy()
    frame["image_id"] = [os.path.relpath(p, root) for p in frame["path"]]
    return manifest.with_frame(frame).with_labels(d.label_mapping)


def check_dataset(manifest: Manifest, d: DatasetConfig, index: int, cfg: ExperimentConfig) -> Manifest:
    """Refuse, before any training, a dataset the grid cannot use; assign the split and folds."""
    key = f"datasets.{index} ({d.name})"
    y = manifest.y
    if len(np.unique(y)) < 2:
        which = "positive" if y[0] == 1 else "negative"
        raise ConfigError(f"{key}: a single class after filtering ({which} only, {len(y)} images); "
                          f"labels: {d.label_mapping.model_dump()}")
    try:
        frame = manifest.frame
        if "split" in frame.columns and (frame["split"] != "").any():
            split = manifest
        else:
            split = assign_split(manifest, test_size=cfg.split.test_size, val_size=cfg.split.val_size,
                                 seed=cfg.seed, by_source=cfg.split.by_source)
        if cfg.cv.folds:
            folded = assign_folds(manifest, k=cfg.cv.folds, seed=cfg.seed, by_source=cfg.split.by_source)
            frame = split.frame.copy()
            frame["fold"] = folded.frame["fold"].to_numpy()
            split = split.with_frame(frame)
    except CxrIsiError as exc:
        raise ConfigError(f"{key}: {exc}") from None
    return split


def prepare_datasets(cfg: ExperimentConfig, run_dir: Path, progress: bool = True,
                     identities: dict[str, dict] | None = None) -> dict[str, Path]:
    """Check every dataset, then segment the lungs of every image with the configured U-Net and
    write ``datasets/<name>/manifest.csv`` (masks, ``split``, ``fold``, ``image_id``) and the
    audit. Resumable: a prepared dataset with the same identity is kept. ``identities``: each
    dataset's :func:`dataset_identity` where the caller has it (it reads every file's key)."""
    from cxr_isi.audit import audit_manifest
    from cxr_isi.lungs.postprocess import QCThresholds
    from cxr_isi.lungs.segmentation import get_segmenter, segment_manifest

    checked = {}
    for i, d in enumerate(cfg.datasets):
        checked[d.name] = check_dataset(load_dataset(d, run_dir), d, i, cfg)
    paths, segmenter = {}, None
    run = RunFolder(run_dir)
    for d in cfg.datasets:
        stamp = run.prepared_stamp(d.name)
        known = (identities or {}).get(d.name)
        identity = {"dataset": known or dataset_identity(d), "seed": cfg.seed, "split": cfg.split.model_dump(),
                    "folds": cfg.cv.folds, "segmentation": segmentation_identity(cfg)}
        paths[d.name] = run.prepared_manifest(d.name)
        if stamp_matches(stamp, identity):
            continue
        if stamp.exists():
            log.warning("%s: its manifest, files, split or segmentation changed since this run folder prepared "
                        "it; segmenting again, and its jobs run again (new ids)", d.name)
        if segmenter is None:
            segmenter = get_segmenter("unet", cfg.segmentation.checkpoint)
        m = checked[d.name]
        log.info("segmenting the lungs of %d images of %s", len(m), d.name)
        seg = segment_manifest(m, run.lungs_dir(d.name), segmenter=segmenter, size=cfg.segmentation.size,
                               thresholds=QCThresholds(policy=cfg.segmentation.qc_policy), progress=progress)
        seg = _exclude_unusable(m, seg, run, d.name)
        seg.write(paths[d.name], within=run.root)
        audit = audit_manifest(m, row_filter=d.filter, seed=cfg.seed)  # the dataset as given, not our masks
        write_json(run.audit_path(d.name), audit.as_dict())
        write_stamp(stamp, identity, n_images=len(seg), n_flagged=int((seg.frame["lung_qc"] != "").sum()))
    for d in cfg.datasets:  # cached here once, so parallel jobs only read
        frame = Manifest.read(paths[d.name]).frame
        frame = frame[frame["mask_path"] != ""]
        cache_pairs(frame["path"].tolist(), frame["mask_path"].tolist(), size=cfg.train.size,
                    resize=cfg.train.resize, progress=progress, origin=str(paths[d.name]))
    find_cross_overlaps(cfg, run, paths, progress)
    return paths


def find_cross_overlaps(cfg: ExperimentConfig, run: RunFolder, paths: dict[str, Path], progress: bool) -> None:
    """Before any cross-dataset test: the test dataset's images the training dataset also holds
    (the same file, BIDS subject and session, or a near-identical image), written per pair as
    ``datasets/<test>/overlap_with_<train>.csv``; the jobs leave them out of the test and count
    them. Resumable: kept while both prepared manifests are unchanged."""
    from cxr_isi.audit.duplicates import find_overlap

    for pair in cfg.cross:
        target = run.overlap_path(pair.test, pair.train)
        stamp = target.with_suffix(".json")
        identity = {"train": file_sha256(paths[pair.train]), "test": file_sha256(paths[pair.test])}
        if target.exists() and stamp_matches(stamp, identity):
            continue
        overlap = find_overlap(Manifest.read(paths[pair.train]), Manifest.read(paths[pair.test]), progress=progress)
        overlap.to_csv(target, index=False)
        write_stamp(stamp, identity, n_overlap=len(overlap))
        if len(overlap):
            log.warning("%s shares %d images with %s (%s); they are left out of its cross-dataset test",
                        pair.test, len(overlap), pair.train, overlap["how"].iloc[0])


def fixed_box_of(run_dir: Path, dataset: str, cfg: ExperimentConfig) -> tuple[float, float, float, float]:
    """The dataset's fixed box (fractions of the side) from the union boxes of its predicted lung
    masks (``lungs.csv``, on the segmentation grid)."""
    from cxr_isi.lungs.hideseek import dataset_box

    table = RunFolder(run_dir).lung_table(dataset)
    boxes = table["union_box"].dropna().astype(str) if "union_box" in table.columns else []
    rows = [[float(v) for v in b.split()] for b in boxes if b.strip()]
    if not rows:
        raise CxrIsiError(f"dataset {dataset}: no lung box to make the fixed box from (every mask empty)")
    return dataset_box(np.array(rows) / cfg.segmentation.size, cfg.fixed_box.quantile)


def _exclude_unusable(given: Manifest, seg: Manifest, run: RunFolder, dataset: str) -> Manifest:
    """Leave out of every job of a dataset the images that cannot be used (unreadable, no lung
    mask, a mask that cannot hide the lungs, dropped by the QC policy), each listed with its
    reason in the dataset's excluded table; the study goes on with the rest."""
    from cxr_isi.lungs.postprocess import cannot_hide

    frame = seg.frame
    unusable = (frame["mask_path"].astype(str) == "")
    unusable |= frame["lung_qc"].astype(str).map(cannot_hide)
    reasons = frame.loc[unusable, "lung_qc"].replace("", "no lung mask").tolist()
    paths = frame.loc[unusable, "path"].tolist()
    dropped = sorted(set(given.frame["path"]) - set(frame["path"]))
    table = run.lung_table(dataset)
    flags = dict(zip(table["path"], table["flags"].astype(str).replace("nan", ""), strict=True)) if len(table) else {}
    paths += dropped
    reasons += [f"dropped by lung QC: {flags.get(p, '')}".rstrip(": ") for p in dropped]
    excluded = pd.DataFrame({"dataset": dataset, "path": paths, "reason": reasons})
    run.write_excluded(dataset, excluded)
    if len(excluded):
        log.warning("%s: %d images left out of every job (%s); see %s", dataset, len(excluded),
                    excluded["reason"].iloc[0], run.excluded_path(dataset))
    return seg.with_frame(frame[~unusable])


def job_manifest(prepared: Path, d: DatasetConfig, fold: int | None, part: str,
                 holdout: str | None = None) -> Manifest:
    """The rows a job trains on (``part="train"``: train and val) or tests on (``"test"``; ``"all"``:
    every row, for a test-only dataset). With
    ``holdout`` (leave-one-source-out): every row of the other sources to train on (their test
    rows too; validation stays validation), every row of that source to test on."""
    m = Manifest.read(prepared).with_labels(d.label_mapping)
    frame = m.frame.copy()
    if holdout is not None:
        there = frame["source"].astype(str) == holdout
        if part == "test":
            return m.with_frame(frame[there])
        frame = frame[~there].copy()
        frame["split"] = frame["split"].replace({"test": "train"})
        return m.with_frame(frame)
    if part == "all":
        return m
    if fold is not None:
        frame["split"] = np.where(frame["fold"].to_numpy() == fold, "test", "train")
    keep = frame["split"] == "test" if part == "test" else frame["split"] != "test"
    return m.with_frame(frame[keep])
