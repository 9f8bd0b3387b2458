"""The experiment config: the paper's whole study as data (YAML), validated by pydantic.

Every error names the offending key (``datasets.1.labels.positive: ...``). What can only be
checked against the data (a single class after filtering, more folds than patients in a class)
is checked by :func:`cxr_isi.study.plan.check_datasets` before any training starts.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Literal

from pydantic import Field, field_validator, model_validator

from cxr_isi.choices import VARIANTS, QCPolicy, check_variant
from cxr_isi.config import Seed, StrictModel, load_config
from cxr_isi.data.labels import LabelMapping
from cxr_isi.data.manifest import Manifest, RowFilter
from cxr_isi.synth.generate import SynthConfig
from cxr_isi.train.config import TrainConfig


class DatasetConfig(StrictModel):
    """A dataset: a manifest (relative to the config's folder) with a filter and a label
    mapping, or a synthetic phantom set generated into the run folder."""

    name: str = Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")
    title: str | None = None
    manifest: Path | None = None
    filter: list[dict[str, list[str] | str]] = Field(default_factory=list)
    labels: LabelMapping | None = None
    synthetic: SynthConfig | None = None
    # false: a test set only (the other side of a cross-dataset test); no model is trained on it
    train: bool = True

    @model_validator(mode="after")
    def _one_source(self) -> DatasetConfig:
        if (self.manifest is None) == (self.synthetic is None):
            raise ValueError("give exactly one of manifest or synthetic")
        if self.synthetic is not None and self.filter:
            raise ValueError("filter applies to a manifest, not to a synthetic set")
        return self

    def resolve(self, base: Path) -> DatasetConfig:
        if self.manifest is None or self.manifest.is_absolute():
            return self
        # lexically, not resolve(): configs/ may be a link and ".." means the link's parent
        return self.model_copy(update={"manifest": Path(os.path.normpath(base / self.manifest))})

    def rows(self) -> Manifest:
        """The manifest's rows that this dataset keeps (its ``filter`` applied); no labels attached."""
        assert self.manifest is not None, "a phantom dataset has no manifest until it is generated"
        manifest = Manifest.read(self.manifest)
        return manifest.filter(RowFilter.from_data(self.filter)) if self.filter else manifest

    @property
    def label_mapping(self) -> LabelMapping:
        if self.labels is not None:
            return self.labels
        if self.synthetic is not None:
            return LabelMapping(positive=[self.synthetic.positive_label],
                                negative=[self.synthetic.negative_label])
        raise ValueError(f"dataset {self.name}: labels are needed")


class SplitConfig(StrictModel):
    """The single split of experiment 1 (patient-grouped, label-stratified). A manifest's own
    ``split`` column is kept when it has one; validation is carved out of train. ``by_source``
    stratifies the label within each source, for the split and the folds alike (false: the label
    alone, as runs before 2026-11-30 did; see :mod:`cxr_isi.data.splits`)."""

    test_size: float = Field(0.15, gt=0, lt=0.5)
    val_size: float = Field(0.1, gt=0, lt=0.5)
    by_source: bool = True


class CVConfig(StrictModel):
    """k-fold cross-validation (patients never span folds) of ``variants`` on every dataset,
    and of the cross-dataset test when ``cross`` is set. ``folds: 0`` turns it off."""

    folds: int = Field(5, ge=0, le=20)
    variants: list[str] = Field(default_factory=lambda: ["original", "lungs_boxed_out"])
    cross: bool = True

    @field_validator("folds")
    @classmethod
    def _not_one(cls, v: int) -> int:
        if v == 1:
            raise ValueError("one fold is not cross-validation; use 0 (off) or at least 2")
        return v


class CrossPair(StrictModel):
    """Train on ``train``'s images, test on ``test``'s (the cross-dataset test)."""

    train: str
    test: str


class ExplainConfig(StrictModel):
    """Explanations of the single-split models: Grad-CAM lung attention over ``n_images``
    positive test images, LIME panels on ``lime_images`` of them (LIME costs seconds per image).
    Where a dataset holds the truth (phantoms: lesion, marker and border masks) every map is
    also scored against it."""

    enabled: bool = False
    methods: list[str] = Field(default_factory=lambda: ["gradcam", "lime"])
    variants: list[str] = Field(default_factory=lambda: ["original"])
    n_images: int = Field(24, ge=1)
    lime_images: int = Field(4, ge=1)
    lime_samples: int = Field(1000, ge=50)
    ig_steps: int = Field(32, ge=2)  # Integrated Gradients' steps along the path (captum's Gauss-Legendre)
    # the model-randomisation test (Adebayo et al. 2018) for every method: maps of the model
    # with its weights re-drawn, compared with the trained model's
    sanity: bool = True

    @field_validator("methods")
    @classmethod
    def _methods(cls, v: list[str]) -> list[str]:
        from cxr_isi.explain.run import METHODS

        return _one_of(v, METHODS, "method")


class FixedBoxConfig(StrictModel):
    """The control for the protocol's own leak: ``variants`` also run with one box for every image
    of a dataset (edges at ``quantile`` of the per-image union boxes), on the single split and,
    with ``cv``, in cross-validation (for those of ``cv.variants``)."""

    enabled: bool = False
    variants: list[str] = Field(default_factory=lambda: ["lungs_boxed_out", "lungs_framed"])
    quantile: float = Field(0.95, gt=0.5, le=1.0)
    cv: bool = True

    @field_validator("variants")
    @classmethod
    def _boxed(cls, v: list[str]) -> list[str]:
        from cxr_isi.lungs.hideseek import BOXED

        return _one_of(v, BOXED, "image set with a box")


def _default_probes() -> list[str]:
    """The probes a config that names none runs: every declared probe but those declared
    ``default=False`` (PEst, which trains one more model per dataset)."""
    from cxr_isi.probes import probes

    return [p.name for p in probes().values() if p.default]


class ProbesConfig(StrictModel):
    """What the model reads: the probes run after training (``cxr_isi.probes``), and their
    settings. ``acquisition`` adds one training job per dataset (pixels shuffled within tiles of
    ``acquisition_block`` pixels at the training size). ``causes`` looks for burned-in text with
    Tesseract when ``ocr`` (in ``ocr_jobs`` processes); without Tesseract it says so and goes on."""

    enabled: bool = False
    names: list[str] = Field(default_factory=lambda: _default_probes())
    swap_pairs: int = Field(48, ge=4)
    acquisition_block: int = Field(16, ge=2)
    ocr: bool = True
    ocr_jobs: int = Field(2, ge=1)

    @field_validator("names")
    @classmethod
    def _names(cls, v: list[str]) -> list[str]:
        from cxr_isi.probes import PROBES

        return _one_of(v, PROBES, "probe")


class SegmentationConfig(StrictModel):
    """The lung segmenter run on every image before the image sets are derived."""

    checkpoint: Path | None = None  # None: the U-Net shipped with cxr-isi
    size: int = Field(256, ge=32, le=1024)
    qc_policy: QCPolicy = "keep"  # images flagged by lung QC: keep, drop, or union (the union box)


class ResourcesConfig(StrictModel):
    """What one job asks of the executor (Ray schedules on it), and the CPU threads it computes
    with. The thread count is pinned, never derived from the machine or its load: different
    thread counts round differently, and the same seed must give the same numbers with one job
    at a time or many (``train.threads``, when set, wins)."""

    cpus_per_job: float = Field(1.0, gt=0)
    gpus_per_job: float = Field(0.0, ge=0)
    threads_per_job: int = Field(1, ge=1)


class RemediesConfig(StrictModel):
    """What to do about a shortcut (:mod:`cxr_isi.remedies`): each of ``names`` trained on the
    original images of every dataset beside plain training, on the same split, ``seeds`` times
    (training seeds from the run's seed on), each model scored at home, at test time without the
    lungs (lungs-boxed-out), on every test-only dataset (``train: false``: the external sets) and,
    with ``loso``, leave-one-source-out on each source that gives ``loso_min_per_class`` images of
    each class. ``balance``, ``group_robust`` and ``dro_step`` choose how the remedies that take
    them work."""

    enabled: bool = False
    names: list[str] = Field(default_factory=lambda: ["balance", "lungs_only", "group_dro", "dfr"])
    seeds: int = Field(1, ge=1, le=20)
    loso: bool = True
    loso_min_per_class: int = Field(5, ge=2)
    balance: Literal["subsample", "weight"] = "subsample"
    group_robust: Literal["dro", "sampling"] = "dro"
    dro_step: float = Field(0.01, gt=0)

    @field_validator("names")
    @classmethod
    def _names(cls, v: list[str]) -> list[str]:
        from cxr_isi.remedies import (
            REMEDIES,
            catalogue,  # noqa: F401  (registers them)
        )

        return _one_of(_no_repeats(v), tuple(REMEDIES), "remedy")


def _train_defaults() -> TrainConfig:
    return TrainConfig()


class ExperimentConfig(StrictModel):
    """``cxr-isi run CONFIG.yaml --out RUN_DIR``: datasets x models x variants, the single
    split, k-fold CV, the cross-dataset pairs, training settings and explanations."""

    name: str = "experiment"
    description: str = ""
    seed: Seed = 0
    datasets: list[DatasetConfig] = Field(min_length=1)
    models: list[str] = Field(default_factory=lambda: ["small_cnn"], min_length=1)
    variants: list[str] = Field(default_factory=lambda: list(VARIANTS))  # [] : no single split
    split: SplitConfig = Field(default_factory=SplitConfig)
    cv: CVConfig = Field(default_factory=CVConfig)
    cross: list[CrossPair] = Field(default_factory=list)
    train: TrainConfig = Field(default_factory=_train_defaults)
    segmentation: SegmentationConfig = Field(default_factory=SegmentationConfig)
    explain: ExplainConfig = Field(default_factory=ExplainConfig)
    fixed_box: FixedBoxConfig = Field(default_factory=FixedBoxConfig)
    probes: ProbesConfig = Field(default_factory=ProbesConfig)
    resources: ResourcesConfig = Field(default_factory=ResourcesConfig)
    remedies: RemediesConfig = Field(default_factory=RemediesConfig)

    def to_json(self) -> str:
        """The config as JSON that validates again (``train`` without the per-job fields); the
        remedies' settings only where set away from their defaults, so that a run made before
        they existed reads as the same config."""
        import json

        from cxr_isi.train.config import REMEDY_FIELDS

        data = json.loads(self.model_dump_json(exclude={"train": {"model", "variant"}}))
        for key, default in REMEDY_FIELDS.items():
            if data["train"].get(key) == default:
                data["train"].pop(key)
        if self.remedies == RemediesConfig():
            data.pop("remedies")
        return json.dumps(data)

    @field_validator("variants")
    @classmethod
    def _variants(cls, v: list[str]) -> list[str]:
        return _known_variants(v)

    @field_validator("models")
    @classmethod
    def _models(cls, v: list[str]) -> list[str]:
        from cxr_isi.models import list_models

        known = list_models()
        for m in v:
            if m not in known:
                raise ValueError(f"unknown model {m!r}; one of {', '.join(known)}")
        return _no_repeats(v)

    @field_validator("train")
    @classmethod
    def _train(cls, v: TrainConfig) -> TrainConfig:
        if "model" in v.model_fields_set or "variant" in v.model_fields_set:
            raise ValueError("set models and variants at the top level, not under train")
        return v

    @model_validator(mode="after")
    def _references(self) -> ExperimentConfig:
        names = [d.name for d in self.datasets]
        dup = {n for n in names if names.count(n) > 1}
        if dup:
            raise ValueError(f"datasets: name {sorted(dup)[0]!r} is used twice")
        for i, pair in enumerate(self.cross):
            for side in ("train", "test"):
                if getattr(pair, side) not in names:
                    raise ValueError(f"cross.{i}.{side}: no dataset named {getattr(pair, side)!r} "
                                     f"(datasets: {', '.join(names)})")
            if pair.train == pair.test:
                raise ValueError(f"cross.{i}: train and test are the same dataset")
            if not next(d for d in self.datasets if d.name == pair.train).train:
                raise ValueError(f"cross.{i}.train: {pair.train!r} is a test set only (train: false)")
        if not any(d.train for d in self.datasets):
            raise ValueError("datasets: every dataset is a test set only (train: false); train on one")
        _known_variants(self.cv.variants, "cv.variants")
        _known_variants(self.explain.variants, "explain.variants")
        return self


def _one_of(values: list[str], known: tuple[str, ...], what: str) -> list[str]:
    for v in values:
        if v not in known:
            raise ValueError(f"unknown {what} {v!r}; one of {', '.join(known)}")
    return values


def _no_repeats(v: list[str], key: str = "") -> list[str]:
    """A list entry named twice would train one job folder twice at once and count its folds
    twice (a narrower, wrong interval): refused."""
    twice = sorted({x for x in v if v.count(x) > 1})
    if twice:
        raise ValueError(f"{key + ': ' if key else ''}{twice[0]!r} is listed twice")
    return v


def _known_variants(v: list[str], key: str = "") -> list[str]:
    for name in v:
        check_variant(name, key)
    return _no_repeats(v, key)


def load_experiment(path: str | Path) -> ExperimentConfig:
    """Read and validate an experiment YAML; manifests resolve against its folder.

    Parameters
    ----------
    path : path

    Returns
    -------
    ExperimentConfig
        Its manifests and segmentation checkpoint as absolute paths.
    """
    cfg = load_config(ExperimentConfig, path)
    base = Path(path).absolute().parent  # not resolve(): configs/ may be a link, its relative paths are its own
    seg = cfg.segmentation
    if seg.checkpoint is not None and not seg.checkpoint.is_absolute():
        seg = seg.model_copy(update={"checkpoint": Path(os.path.normpath(base / seg.checkpoint))})
    return cfg.model_copy(update={"datasets": [_with_labels(d.resolve(base)) for d in cfg.datasets],
                                  "segmentation": seg})


def _with_labels(d: DatasetConfig) -> DatasetConfig:
    """A manifest dataset without ``labels:`` takes them as every command does: an already binary
    manifest, or two labels of which one is a conventional negative (said in a warning); anything
    else is one line asking for ``labels:``. The run records the mapping it used."""
    if d.labels is not None or d.manifest is None:
        return d
    return d.model_copy(update={"labels": LabelMapping.from_labels(d.rows().frame["label"], where=str(d.manifest))})
