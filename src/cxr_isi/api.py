"""The Python API: what the command line does, from a notebook, with typed results.

    import cxr_isi as ci
    audit = ci.audit_dataset("manifest.csv", positive=["covid"])
    run = ci.run_experiment("configs/demo.yaml", out="runs/demo")
    report = ci.write_report(run)
    report.verdicts["isi"].kind          # 'source shortcut'

Everything here is exported lazily from the package (``import cxr_isi`` stays fast: torch is
imported only by the calls that train or explain).
"""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

import pandas as pd

from cxr_isi.audit.dataset import audit_dataset as audit_dataset  # re-exported: ci.audit_dataset
from cxr_isi.data.importers import ImportResult
from cxr_isi.data.labels import LabelMapping
from cxr_isi.data.manifest import Manifest
from cxr_isi.errors import CxrIsiError
from cxr_isi.report.html import Report
from cxr_isi.studies.error_rates import ErrorRatesResult
from cxr_isi.studies.external import ExternalResult
from cxr_isi.studies.sweep import SweepResult
from cxr_isi.study.remedies import RemedyResult, remedy_result
from cxr_isi.study.runfolder import RunFolder
from cxr_isi.study.tables import RunResult, run_result
from cxr_isi.verdict.kinds import DatasetVerdict

# the face of the package: its calls, and the results they return (each defined beside what makes it)
__all__ = ["DatasetVerdict", "ErrorRatesResult", "ExternalResult", "Report", "RemedyResult", "RunResult",
           "SweepResult", "audit_dataset", "error_rates", "external", "fails_gate", "import_dataset", "judge",
           "load_run", "model_card", "phantoms", "read_manifest", "remedy", "run_experiment", "sweep",
           "write_report"]


def _checked(fn):
    """Check a call's arguments against its annotations before any work starts (strict: a string
    where a number or a list is meant is refused, not coerced), as the CLI checks its options; a
    wrong argument is one line naming it. For the calls that start long work (processes, grids)."""
    import functools

    from pydantic import ConfigDict, ValidationError, validate_call

    validated = validate_call(fn, config=ConfigDict(strict=True, arbitrary_types_allowed=True))

    @functools.wraps(fn)
    def call(*args, **kwargs):
        try:
            return validated(*args, **kwargs)
        except ValidationError as err:
            first = err.errors()[0]
            key = ".".join(str(p) for p in first["loc"])
            raise CxrIsiError(f"cxr_isi.{fn.__name__}: {key}={first.get('input')!r}: {first['msg']}") from None

    return call


def read_manifest(path: str | Path) -> Manifest:
    """A manifest (CSV or Parquet; ``path, label, source, patient_id`` and any other columns).

    Parameters
    ----------
    path : str or Path

    Returns
    -------
    Manifest
    """
    return Manifest.read(path)


def import_dataset(name: str, root: str | Path, *, out: str | Path | None = None, keep_missing: bool = False,
                   keep_unknown: bool = False, **options) -> ImportResult:
    """A public dataset, as published, as a manifest (``cxr-isi import``).

    Parameters
    ----------
    name : str
        The importer (``qata-cov19``, ``bimcv``, ``covid-chestxray``, ``figure1``, ``kermany``, ...).
    root : str or Path
        The folder the dataset was unpacked into.
    out : str or Path, optional
        Also write the manifest here and ``IMPORT.json`` beside it.
    keep_missing, keep_unknown : bool
        Keep rows whose image file is absent / whose finding is unknown.
    **options
        The importer's options (``include_ct=True``, ...).

    Returns
    -------
    ImportResult
        ``.manifest`` and ``.report`` (rows read, kept, dropped by reason, each dropped row).
    """
    from cxr_isi.data.importers import check_import_record
    from cxr_isi.data.importers import import_dataset as run

    if out is not None:
        check_import_record(out)
    result = run(name, root, keep_missing=keep_missing, keep_unknown=keep_unknown, **options)
    if out is not None:
        result.manifest.write(out)
        result.report.write_beside(out)
    return result


def phantoms(preset: str = "isi", *, n: int = 240, size: int = 128, seed: int = 0, out: str | Path,
          **settings) -> Manifest:
    """Synthetic phantoms with a known answer (see ``cxr-isi synth``), written under ``out``.

    (Named ``phantoms``, not ``synth``: ``cxr_isi.synth`` is the stage package.)

    Parameters
    ----------
    preset : {"isi", "balanced", "mild", "strong"}
    n, size, seed : int
    out : str or Path
        The folder for the images, masks and ``manifest.csv``.
    **settings
        Further :class:`cxr_isi.synth.SynthConfig` fields (``fingerprint_strength``...).

    Returns
    -------
    Manifest
    """
    from cxr_isi.synth import SynthConfig, generate

    return generate(SynthConfig(preset=preset, n=n, size=size, seed=seed, **settings), Path(out))


load_run = run_result  # ci.load_run(path): a run folder's tables, made beside them (cxr_isi.study.tables)


@_checked
def run_experiment(config: str | Path, *, out: str | Path, executor: str = "sequential", jobs: int = 1,
                   address: str | None = None, progress: bool = False) -> RunResult:
    """Run (or resume) the whole study of an experiment YAML into a run folder.

    Parameters
    ----------
    config : str or Path
        An experiment config (``configs/demo.yaml``...).
    out : str or Path
        The run folder; a rerun skips what is finished.
    executor : {"sequential", "process", "ray"}
    jobs : int
        Jobs at once (the process pool's size).
    address : str, optional
        A Ray cluster to join.
    progress : bool
        Show progress bars.

    Returns
    -------
    RunResult
    """
    from cxr_isi.study.runner import run_experiment as _run

    _run(config, out, executor=executor, n_jobs=jobs, address=address, progress=progress)
    return load_run(out)


def write_report(run: RunResult | str | Path, sweep: str | Path | None = None,
                 sections: list[tuple[str, Callable[[dict], object]]] | None = None) -> Report:
    """Decide a run folder's verdicts (``summary.json``) and render its ``report.html``.

    Parameters
    ----------
    run : RunResult or path
    sweep : path, optional
        A sweep folder (:func:`sweep`) whose dose-response curves the report shows.
    sections : list of (str, callable), optional
        Sections of one's own after the report's: a title and a function of the summary
        (``summary.json`` as a dict) that returns the content (``docs/guide/extending.md``).

    Returns
    -------
    Report
    """
    from cxr_isi.report.html import check_sweep
    from cxr_isi.report.html import write_report as _write
    from cxr_isi.study.summary import write_summary

    path = run.path if isinstance(run, RunResult) else Path(run)
    check_sweep(sweep)
    write_summary(path)  # decided first, from what the folder holds now; then rendered
    written = _write(path, sweep_dir=sweep, sections=sections or ())
    return Report.from_written(written, RunFolder(path).summary_path)


@_checked
def remedy(manifest: str | Path, *, positive: list[str] | str, out: str | Path,
           negative: list[str] | str | None = None, external: list[str | Path] | str | Path | None = None,
           remedies: list[str] | None = None, seeds: int = 1, model: str = "small_cnn", size: int = 128,
           epochs: int = 20, seed: int = 0, where: str | dict | list | None = None, loso_min_per_class: int = 5,
           balance: str = "subsample", group_robust: str = "dro", loso: bool = True, jobs: int = 1,
           progress: bool = False) -> RemedyResult:
    """Train plain and each remedy on a dataset, measure them elsewhere, and say which helped
    (``cxr-isi remedy``). Writes a run folder with its report ("What to do").

    Parameters
    ----------
    manifest : path
        The dataset (image, label, source, patient).
    positive, negative : str or list of str
        The labels of each class.
    out : path
        The run folder; a rerun resumes it.
    external : path or list of paths, optional
        Datasets from elsewhere with the same labels, scored whole (the measuring stick).
    remedies : list of str, optional
        Of ``balance``, ``lungs_only``, ``group_dro``, ``dfr`` (default: all).
    seeds : int
        Training seeds per remedy (the same split); several give t intervals over seeds.
    model, size, epochs, seed : as for a run.
    where : dict or list, optional
        A row filter on ``manifest`` (as ``audit_dataset`` takes it).
    loso_min_per_class : int
        A source is left out one at a time (LOSO) where it gives this many images of each class.
    balance : {"subsample", "weight"}
    group_robust : {"dro", "sampling"}
    loso : bool
        Leave each qualifying source out once (False: the external sets alone measure).
    jobs : int
        Jobs at once (a process pool).

    Returns
    -------
    RemedyResult
    """
    from cxr_isi.data.manifest import RowFilter
    from cxr_isi.study.remedies import remedy_config
    from cxr_isi.study.runner import run_experiment as _run

    m = Manifest.read(manifest)
    mapping = LabelMapping(positive=[positive] if isinstance(positive, str) else list(positive),
                           negative=[negative] if isinstance(negative, str) else negative)
    mapping.check_present(m.frame["label"], str(manifest))
    if isinstance(seeds, bool) or not isinstance(seeds, int) or seeds < 1:
        raise CxrIsiError(f"seeds={seeds!r}: give a whole number of training seeds, 1 or more")
    if remedies is not None and not list(remedies):
        raise CxrIsiError("--remedies is empty: name one or more of balance, lungs_only, group_dro, dfr, or leave "
                          "it out for all of them")
    ext = [] if external is None else [external] if isinstance(external, (str, Path)) else list(external)
    rows = RowFilter.from_data(where).to_data() if where else []
    from cxr_isi.remedies import refuse
    from cxr_isi.study.config import RemediesConfig

    kept = (m.filter(RowFilter.from_data(rows)) if rows else m).with_labels(mapping)
    refuse(kept.frame, kept.y, remedies if remedies is not None else RemediesConfig().names, str(manifest))
    cfg = remedy_config(Path(manifest), mapping, external=[Path(p) for p in ext], remedies=remedies, seeds=seeds,
                        model=model, size=size, epochs=epochs, seed=seed, where=rows,
                        loso_min_per_class=loso_min_per_class, balance=balance, group_robust=group_robust,
                        loso=loso)
    from cxr_isi.study.plan import check_dataset, load_dataset
    from cxr_isi.study.runner import remedy_loso

    home = cfg.datasets[0]  # what the split leaves to train on, checked before anything is written
    remedy_loso(cfg, {home.name: check_dataset(load_dataset(home, Path(out)), home, 0, cfg)})
    _run(None, out, executor="process" if jobs > 1 else "sequential", n_jobs=jobs, progress=progress, config=cfg)
    write_report(out)
    return remedy_result(out)


@_checked
def sweep(*, out: str | Path, majority_share: list[float] | None = None,
          fingerprint_strength: list[float] | None = None, folds: int = 5, n: int | None = None,
          base: str | Path | None = None, seed: int = 0, executor: str = "sequential", jobs: int = 1,
          progress: bool = False) -> SweepResult:
    """Run the dose-response sweep on phantoms (as ``cxr-isi sweep``).

    Parameters
    ----------
    out : str or Path
        The sweep folder; a rerun resumes it.
    majority_share, fingerprint_strength : list of float
        The levels of each axis (the strength axis at majority share 1.0).
    folds : int
        Folds per level.
    n : int, optional
        Phantoms per level (default: the base study's).
    base : path, optional
        An experiment YAML with a synthetic dataset (default: the demo).
    seed : int
    executor : {"sequential", "process", "ray"}
    jobs : int
    progress : bool

    Returns
    -------
    SweepResult
    """
    from cxr_isi.report.sweep import write_sweep
    from cxr_isi.studies.sweep import SweepConfig, run_sweep, write_sweep_summary

    cfg = SweepConfig(majority_share=majority_share or [], fingerprint_strength=fingerprint_strength or [],
                      folds=folds, n=n, base=Path(base) if base else None, seed=seed)
    table, audit = run_sweep(cfg, out, executor=executor, n_jobs=jobs, progress=progress)
    summary, figure, sentences = write_sweep(Path(out), write_sweep_summary(out, table, audit))
    return SweepResult(path=Path(out), sweep=table, audit=audit, summary=summary, figure=figure,
                       sentences=sentences)


@_checked
def error_rates(*, out: str | Path, smoke: bool = False, seeds: int | None = None, power_seeds: int | None = None,
                first_seed: int | None = None, jobs: int = 2, progress: bool = False) -> ErrorRatesResult:
    """Measure the verdict's false alarms and power over seeds (as ``cxr-isi error-rates``).

    Parameters
    ----------
    out : str or Path
        The benchmark folder; a rerun resumes it.
    smoke : bool
        The 3-seed smoke version (small phantoms; about 2 minutes on 2 cores).
    seeds, power_seeds, first_seed : int, optional
        Seeds per null case and for the geometry leak (default 20), per shortcut level
        (default 5), and the first seed (default 100).
    jobs : int
        Cases at once.
    progress : bool

    Returns
    -------
    ErrorRatesResult
    """
    from cxr_isi.report.error_rates import write_error_rates
    from cxr_isi.studies.error_rates import error_rate_tables, error_rates_config, run_error_rates

    cfg = error_rates_config(smoke=smoke, seeds=seeds, power_seeds=power_seeds, first_seed=first_seed,
                             where="cxr_isi.error_rates")
    run_error_rates(cfg, out, n_jobs=jobs, progress=progress)
    r = write_error_rates(out, error_rate_tables(out, cfg))
    path = Path(out)
    return ErrorRatesResult(path=path, cases=pd.read_csv(path / "error_rates_cases.csv"),
                            rates=pd.DataFrame(r["rates"]), probes=pd.DataFrame(r["probes"]),
                            targets=r["targets"], thresholds=r["thresholds"],
                            figure=Path(r["figure"]) if r["figure"] else None)


@_checked
def external(*, out: str | Path, smoke: bool = False, seeds: int | None = None, real: bool = True, jobs: int = 2,
             progress: bool = False) -> ExternalResult:
    """What will a model score elsewhere? Run the pairs with a known external AUC and check the
    estimate against them (as ``cxr-isi external``).

    Parameters
    ----------
    out : str or Path
        The benchmark folder; a rerun resumes it.
    smoke : bool
        The 6-pair phantom smoke version.
    seeds : int, optional
        Seeds per phantom level and preset pair (default 3).
    real : bool
        Include the real pairs of ``../shared/data`` (cxr256, nih256) where present.
    jobs : int
        Pairs at once.
    progress : bool

    Returns
    -------
    ExternalResult
    """
    from cxr_isi.report.external import write_external
    from cxr_isi.studies.external import external_config, external_tables, run_external

    cfg = external_config(smoke=smoke, seeds=seeds, block=None if real or smoke else {"real": False},
                          where="cxr_isi.external")
    run_external(cfg, out, n_jobs=jobs, progress=progress)
    r = write_external(out, external_tables(out, cfg))
    path = Path(out)
    return ExternalResult(path=path, pairs=pd.read_csv(path / "external_pairs.csv"), errors=r["errors"],
                          model=r["model"], targets=r["targets"])


def _refuse_shared(fitted: Manifest, judged: Manifest, what: str) -> None:
    """A refit must never be scored on images it was fitted on (a gain measured there says
    nothing): one line counting the images the two share, by path or by content. (Patient ids are
    not compared: two datasets' ids coincide by chance, phantoms' among them.)"""
    from cxr_isi.study.plan import file_sha256

    def digests(m: Manifest) -> set[str]:
        return {file_sha256(Path(p)) for p in m.paths}

    same_path = {os.path.realpath(p) for p in fitted.paths} & {os.path.realpath(p) for p in judged.paths}
    shared = max(len(same_path), len(digests(fitted) & digests(judged)))
    if shared:
        raise CxrIsiError(f"{fitted.origin}: {what} shares {shared} images with the judged set {judged.origin}; a "
                          "refit is never scored on what it was fitted on: give images the judged set does not hold")


def _check_judge_args(*, spec_type: type, **given) -> None:
    """``ci.judge``'s arguments checked before any work, as the CLI checks its options and
    :func:`_checked` checks the other long calls (by hand here: its spec may be a ``ModelSpec``,
    whose module imports torch, which this module must not at import time): one line naming the
    argument."""
    path = (str, os.PathLike)

    def whole(v, low: int) -> bool:
        return isinstance(v, int) and not isinstance(v, bool) and v >= low

    def labels(v) -> bool:
        return v is None or isinstance(v, str) or (isinstance(v, (list, tuple)) and all(isinstance(x, str) for x in v))

    checks = {"model": (isinstance(given["model"], path), "a path to the model file"),
              "manifest": (isinstance(given["manifest"], (*path, Manifest)), "a path to a manifest, or a Manifest"),
              "out": (isinstance(given["out"], path), "a path to the output folder"),
              "positive": (labels(given["positive"]), "a label or a list of labels"),
              "negative": (labels(given["negative"]), "a label or a list of labels"),
              "arch": (given["arch"] is None or isinstance(given["arch"], str), "a name such as torchvision:resnet50"),
              "spec": (given["spec"] is None or isinstance(given["spec"], (*path, dict, spec_type)),
                       "a YAML path, a dict or a ModelSpec"),
              "seed": (whole(given["seed"], 0), "a whole number, 0 or more"),
              "swap_pairs": (whole(given["swap_pairs"], 1), "a whole number, 1 or more"),
              "map_images": (whole(given["map_images"], 0), "a whole number, 0 or more (0: no maps)"),
              "inputs": (given["inputs"] is None or (isinstance(given["inputs"], (list, tuple))
                                                     and all(isinstance(x, path) for x in given["inputs"])),
                         "a list of paths"),
              "balance_on": (given["balance_on"] is None or isinstance(given["balance_on"], path), "a path")}
    for key, (ok, what) in checks.items():
        if not ok:
            raise CxrIsiError(f"cxr_isi.judge: {key}={given[key]!r}: give {what}")


def judge(model: str | Path, manifest: str | Path | Manifest, *, out: str | Path,
          positive: list[str] | str | None = None, negative: list[str] | None = None, arch: str | None = None,
          spec: str | Path | dict | None = None, seed: int = 0, swap_pairs: int = 48, map_images: int = 16,
          progress: bool = False, inputs: list[str | Path] | None = None, remedy: str | None = None,
          balance_on: str | Path | None = None, **spec_options):
    """Judge a model trained anywhere on labelled test images: does it read the lungs?

    Nothing is retrained: the shipped U-Net segments the lungs, the model scores the five image
    sets and the fixed box, the lung swap with its controls, the source from its features and
    scores, occlusion and gradient maps; a verdict by a written rule
    (``cxr_isi.verdict.model.RULE``). Writes ``summary.json``, ``judge.json``,
    ``scores.csv`` and ``report.html`` under ``out``.

    Parameters
    ----------
    model : str or Path
        TorchScript, ``torch.export`` ``.pt2``, ``.onnx``, a cxr-isi ``best.pt``, or a state dict
        (``.pt``, ``.pth``, ``.safetensors``) with ``arch``.
    manifest : str, Path or Manifest
        Test images: path, label, source, patient_id.
    out : str or Path
        Output folder.
    positive, negative : list of str, optional
        The labels of each class (a single string is one label). Needed unless the manifest
        already has a mapping or binary labels.
    arch : str, optional
        ``torchvision:NAME``, ``timm:NAME`` or ``xrv:densenet121`` for a state dict.
    spec : path, dict or ModelSpec, optional
        What the model expects (:class:`~cxr_isi.models.scorer.ModelSpec`); ``spec_options``
        (``size=``, ``channels=``, ``normalise=``, ``output=``, ``positive_index=``, ``head=``...)
        override it.
    seed : int
    swap_pairs, map_images : int
        Lung-swap pairs; images for the maps.
    remedy : {"dfr"}, optional
        Refit the model's last layer on group-balanced features of ``balance_on`` (deep feature
        reweighting; no backbone retraining), write it again under ``out/dfr/`` and judge it too;
        ``out/remedy.json`` compares the two (the verdict's ``remedy``).
    balance_on : path, optional
        The manifest DFR refits on: the same labels, both classes, sources named.

    Returns
    -------
    ModelVerdict
        ``kind``, ``reason``, ``what``, ``auc`` per image set, ``evidence``, ``out_dir``; with a
        remedy, ``remedy`` holds the comparison.
    """
    from cxr_isi.config import load_yaml, parse_model
    from cxr_isi.models.scorer import ModelSpec, load_scorer
    from cxr_isi.report.judge import write_judge_report
    from cxr_isi.study.judge import judge_model

    _check_judge_args(model=model, manifest=manifest, out=out, positive=positive, negative=negative, arch=arch,
                      spec=spec, seed=seed, swap_pairs=swap_pairs, map_images=map_images, inputs=inputs,
                      balance_on=balance_on, spec_type=ModelSpec)
    if isinstance(positive, str):
        positive = [positive]
    if isinstance(spec, ModelSpec):
        data = spec.model_dump(exclude_unset=True)
    elif isinstance(spec, dict):
        data = dict(spec)
    else:
        data = load_yaml(spec) if spec is not None else {}
    model_spec = parse_model(ModelSpec, {**data, **spec_options}, str(spec or "spec"))
    m = manifest if isinstance(manifest, Manifest) else Manifest.read(manifest)
    if positive:
        m = m.with_labels(LabelMapping(positive=positive, negative=negative).check_present(m.frame["label"], m.origin))
    elif m.label_mapping is None:
        m = m.with_labels(None)
    given = [Path(model)] + [Path(p) for p in (inputs or [])]
    if not isinstance(manifest, Manifest):
        given.append(Path(manifest))
    if remedy not in (None, "dfr"):
        raise CxrIsiError(f"--remedy {remedy}: judge refits the last layer only (dfr); the other remedies retrain "
                          "and run with cxr-isi remedy")
    if balance_on is not None and remedy is None:
        raise CxrIsiError(f"--balance-on {balance_on}: only --remedy dfr reads it (it refits the last layer on it); "
                          "give --remedy dfr, or leave --balance-on out")
    balance = None
    if remedy:
        from cxr_isi.remedies import check_external

        if balance_on is None or m.label_mapping is None:
            raise CxrIsiError("--remedy dfr needs --balance-on MANIFEST (images of both classes from several sources, "
                              "with the same labels) and the labels (-p)")
        balance = check_external(Path(balance_on), m.label_mapping, "--balance-on",
                                 home_labels=set(m.frame["label"].astype(str))).with_labels(m.label_mapping)
        balance.check_files()
        from cxr_isi.data.splits import rows_marked_test
        from cxr_isi.remedies import refuse

        refuse(balance.frame, balance.y, ["dfr"], f"{balance_on} (--balance-on)")

        _refuse_shared(balance, rows_marked_test(m)[0], "--balance-on")
        given.append(Path(balance_on))
    scorer = load_scorer(model, arch=arch, spec=model_spec)
    if remedy and not scorer.supports_features:
        from cxr_isi.remedies.last_layer import NO_FEATURES

        raise CxrIsiError(f"{model}: " + NO_FEATURES.format(fmt=scorer.format))
    verdict = judge_model(scorer, m, out, seed=seed, swap_pairs=swap_pairs, map_images=map_images, progress=progress,
                          inputs=given)
    write_judge_report(out)
    if balance is not None:
        import dataclasses

        from cxr_isi.study.judge import judge_dfr

        found = judge_dfr(scorer, m, balance, out, verdict, seed=seed, swap_pairs=swap_pairs, map_images=map_images,
                          progress=progress)
        write_judge_report(Path(out) / "dfr")
        verdict = dataclasses.replace(verdict, remedy=found)
    return verdict


def model_card(judged: str | Path, path: str | Path | None = None) -> str:
    """The Markdown section for a judged model's card (what ``judge --model-card`` writes): its
    verdict and reason, the image-set AUCs with intervals, the images, the rule and how often it
    is wrong, the versions.

    Parameters
    ----------
    judged : str or Path
        A ``judge`` output folder (its ``judge.json``) or the :class:`ModelVerdict`'s ``out_dir``.
    path : str or Path, optional
        Also write it there.

    Returns
    -------
    str
    """
    from cxr_isi.report.model_card import card_of, write_model_card

    if path is not None:
        write_model_card(judged, path)
    return card_of(judged)


def fails_gate(verdict, fail_on: str) -> bool:
    """Whether a judged model's verdict (a ``ModelVerdict``) is one that ``judge --fail-on fail_on``
    refuses: ``outside``, ``source``, ``any`` or ``inconclusive`` (``cxr_isi.verdict.model.GATES``).
    For a pipeline in Python: ``assert not ci.fails_gate(ci.judge(...), "any")``.

    Parameters
    ----------
    verdict : ModelVerdict
        What :func:`judge` returned (anything with ``kind`` and ``what``).
    fail_on : {"outside", "source", "any", "inconclusive"}

    Returns
    -------
    bool
        True where the gate refuses the model.
    """
    from cxr_isi.verdict.model import GATES, gate

    if fail_on not in GATES:
        raise CxrIsiError(f"fail_on={fail_on!r}: one of {', '.join(GATES)}")
    return gate(verdict.kind, verdict.what, fail_on)
