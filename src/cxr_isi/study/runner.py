"""``cxr-isi run CONFIG.yaml --out RUN_DIR``: prepare the datasets, run the grid of jobs on an
executor, and collect every number into ``RUN_DIR/results.csv``.

Executors: ``sequential`` (in this process), ``process`` (a local pool of ``--jobs N`` spawned
workers sharing the cores) and ``ray`` (each job a Ray task asking for the CPUs and GPUs of
``resources``; ``--address`` joins a running cluster, whose workers must see ``RUN_DIR`` on shared
storage). A run killed at any moment and started again with the same command skips what is
finished and ends with the same numbers.
"""

from __future__ import annotations

import json
import shutil
import tempfile
import time
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import TYPE_CHECKING

import yaml

if TYPE_CHECKING:
    import pandas as pd

from cxr_isi._environment import environment
from cxr_isi._io import atomic_write, file_lock
from cxr_isi.data.manifest import Manifest
from cxr_isi.errors import CxrIsiError
from cxr_isi.logs import get_logger
from cxr_isi.progress import progress_bar
from cxr_isi.study.config import ExperimentConfig, load_experiment
from cxr_isi.study.jobs import run_job
from cxr_isi.study.plan import Job, dataset_identity, plan_jobs, prepare_datasets
from cxr_isi.study.results import collect_results
from cxr_isi.study.runfolder import EXCLUDED, RunFolder

log = get_logger("study")
EXECUTORS = ("sequential", "process", "ray")


def _sequential(run_dir: Path, jobs: list[Job], config_json: str, n_jobs: int, **_) -> Iterable[dict]:
    for job in jobs:
        yield run_job(str(run_dir), job.as_dict(), config_json)


def _process_pool(run_dir: Path, jobs: list[Job], config_json: str, n_jobs: int, **_) -> Iterable[dict]:
    from concurrent.futures import as_completed

    from cxr_isi._pool import ProcessPool

    # a stop ends the running jobs: they resume from their last saved epoch
    with ProcessPool(n_jobs, stop="terminate") as pool:
        for f in as_completed(pool.submit_all(run_job, [(str(run_dir), j.as_dict(), config_json) for j in jobs])):
            yield f.result()


def _ray(run_dir: Path, jobs: list[Job], config_json: str, n_jobs: int, address: str | None = None,
         resources=None, **_) -> Iterable[dict]:
    try:
        import ray
    except ImportError:
        raise CxrIsiError("--executor ray needs Ray: pip install 'cxr-isi[ray]'") from None
    started = not ray.is_initialized()
    if started:
        kw = {"address": address} if address else {"num_cpus": n_jobs if n_jobs > 1 else None}
        ray.init(include_dashboard=False, log_to_driver=False, configure_logging=False, **kw)
    try:
        cpus = resources.cpus_per_job if resources else 1.0
        gpus = resources.gpus_per_job if resources else 0.0
        task = ray.remote(num_cpus=cpus, num_gpus=gpus, max_retries=2)(run_job)
        pending = [task.remote(str(run_dir), j.as_dict(), config_json) for j in jobs]
        while pending:
            done, pending = ray.wait(pending, num_returns=1)
            yield ray.get(done[0])
    finally:
        if started:
            ray.shutdown()


_RUNNERS: dict[str, Callable[..., Iterable[dict]]] = {
    "sequential": _sequential, "process": _process_pool, "ray": _ray}


def run_experiment(config_path: str | Path | None, run_dir: str | Path, *, executor: str = "sequential",
                   n_jobs: int = 1, address: str | None = None, progress: bool = True,
                   config: ExperimentConfig | None = None) -> dict:
    """Run (or resume) the whole study of ``config_path`` into ``run_dir``.

    Parameters
    ----------
    config_path : path or None
        The experiment YAML (recorded in the run folder); None with ``config`` (a study made in
        code, as each level of a sweep).
    run_dir : path
        The run folder; a rerun resumes it.
    executor : {"sequential", "process", "ray"}
    n_jobs : int
        Jobs at once.
    address : str, optional
        A Ray cluster to join.
    progress : bool
    config : ExperimentConfig, optional
        Use this instead of reading ``config_path`` (the demo points its datasets elsewhere).

    Returns
    -------
    dict
        ``results`` (DataFrame), ``jobs`` (list of Job), ``run`` (the run record).
    """
    check_executor(executor, address, n_jobs)
    if config is None:
        if config_path is None:
            raise CxrIsiError("run_experiment needs a config file or a config")
        config = load_experiment(config_path)
    cfg = config
    run = RunFolder(Path(run_dir))
    run.root.mkdir(parents=True, exist_ok=True)
    with file_lock(run.lock, busy=f"{run.root}: another cxr-isi run is working in this folder; wait for "
                   "it or use another --out"):
        return _run(cfg, config_path, run, executor, n_jobs, address, progress)


def check_executor(executor: str, address: str | None = None, n_jobs: int = 1) -> None:
    """Refuse an unknown executor, fewer than one job at once, and a cluster address that the
    executor would ignore (before any work: ``run --check`` and ``--plan`` say it too).

    Parameters
    ----------
    executor : str
        ``sequential``, ``process`` or ``ray``.
    address : str, optional
        A Ray cluster's address.
    n_jobs : int
        Jobs at once.

    Returns
    -------
    None

    Raises
    ------
    CxrIsiError
        One line naming the option.
    """
    if isinstance(n_jobs, bool) or not isinstance(n_jobs, int) or n_jobs < 1:
        raise CxrIsiError(f"jobs {n_jobs!r}: must be a whole number, 1 or more")
    if executor not in EXECUTORS:
        raise CxrIsiError(f"unknown executor {executor!r}; one of {', '.join(EXECUTORS)}")
    if address and executor != "ray":
        raise CxrIsiError(f"--address {address}: a Ray cluster's address, used only with --executor ray "
                          f"(this run's executor is {executor})")


def _run(cfg: ExperimentConfig, config_path, run: RunFolder, executor: str, n_jobs: int, address: str | None,
         progress: bool) -> dict:
    config_json = cfg.to_json()
    times: dict[str, float] = {}
    started = time.time()
    t = time.perf_counter()
    identities = {d.name: dataset_identity(d) for d in cfg.datasets}  # once: it reads every file's key
    paths = prepare_datasets(cfg, run.root, progress=progress, identities=identities)
    times["prepare"] = time.perf_counter() - t
    jobs = plan_jobs(cfg, identities, remedy_loso(cfg, {n: Manifest.read(p) for n, p in paths.items()}))
    # the folder's settings are rewritten only once every check before training has passed: a
    # refused run leaves the config of the run that happened (and says one thing, not two)
    if run.is_run() and run.config() != json.loads(config_json):
        log.warning("%s holds a run of other settings; finished jobs whose settings changed will "
                    "not be reused (their ids differ)", run.root)
    atomic_write(run.config_json, lambda p: p.write_text(config_json))
    atomic_write(run.config_yaml,
                 lambda p: p.write_text(yaml.safe_dump(json.loads(config_json), sort_keys=False)))
    source = run.config_source
    if config_path is not None and Path(config_path).is_file() and not (
            source.exists() and source.samefile(config_path)):
        shutil.copyfile(config_path, source)
    todo = [j for j in jobs if not run.is_done(j)]
    log.info("%d jobs, %d finished already, %d to run (%s)", len(jobs), len(jobs) - len(todo),
             len(todo), executor)
    run.write_job_list([j.as_dict() for j in jobs])
    t = time.perf_counter()
    failed: list[dict] = []
    with progress_bar(progress) as bar:
        task = bar.add_task(f"training and testing ({executor})", total=len(jobs),
                            completed=len(jobs) - len(todo))
        for result in _RUNNERS[executor](run.root, todo, config_json, max(1, n_jobs), address=address,
                                         resources=cfg.resources):
            if "error" in result:
                failed.append(result)
                log.error("job %s failed: %s", result["id"], result["error"])
            auc = result.get("val_auc")
            bar.update(task, advance=1, description=f"{result['id'][:48]}: val AUC "
                       f"{auc:.3f}" if auc is not None else result["id"][:48])
    times["jobs"] = time.perf_counter() - t
    t = time.perf_counter()
    if cfg.explain.enabled and not failed:
        from cxr_isi.study.explain import explain_models

        explain_models(cfg, run.root, jobs, paths)
    times["explain"] = time.perf_counter() - t
    t = time.perf_counter()
    if cfg.probes.enabled and cfg.probes.names:
        from cxr_isi.study.probes import run_probes

        run_probes(cfg, run.root, jobs)
    if cfg.remedies.enabled and not failed:
        from cxr_isi.study.remedy_judge import remedy_verdicts

        remedy_verdicts(cfg, run.root, jobs)
    times["probes"] = time.perf_counter() - t
    results = collect_results(cfg, run.root, jobs)
    run.write_table(EXCLUDED, run.excluded())
    record: dict = {"config": str(config_path) if config_path else None, "executor": executor,
              "n_jobs": n_jobs, "threads_per_job": cfg.train.threads or cfg.resources.threads_per_job,
              "address": address, "n_grid_jobs": len(jobs),
              "n_run_now": len(todo), "started": started, "finished": time.time(),
              "seconds": {k: round(v, 1) for k, v in times.items()}, "environment": environment()}
    history = run.run_record().get("history", [])
    session = {k: record[k] for k in ("executor", "n_run_now", "started", "finished", "seconds")}
    run.write_run_record({**record, "history": [*history, session]})
    from cxr_isi.study.summary import write_summary

    write_summary(run.root)  # the last stage: every verdict decided on what is now on disk (failed jobs too)
    if failed:
        first = failed[0]
        raise CxrIsiError(f"{len(failed)} of {len(todo)} jobs failed, the others are kept; first: "
                          f"{first['id']}: {first['error']} (see {run.job_error_path(first['id'])})")
    return {"results": results, "jobs": jobs, "run": record}


def _checked(config_path: str | Path, run_dir: str | Path) -> tuple[list[Job], dict[str, pd.DataFrame]]:
    from cxr_isi.study.plan import check_dataset, load_dataset

    cfg = load_experiment(config_path)
    with tempfile.TemporaryDirectory() as scratch:  # phantoms to check, never written into the run
        checked = {d.name: check_dataset(load_dataset(d, Path(run_dir), Path(scratch)), d, i, cfg)
                   for i, d in enumerate(cfg.datasets)}
    loso = remedy_loso(cfg, checked)
    return plan_jobs(cfg, {d.name: dataset_identity(d) for d in cfg.datasets}, loso), \
        {n: m.frame for n, m in checked.items()}


def remedy_loso(cfg: ExperimentConfig, manifests: dict[str, Manifest]) -> dict[str, list[str]]:
    """Per trained dataset, the sources a leave-one-source-out test leaves out one at a time; where
    remedies run, those that need a source with both classes are refused first, in one line.

    Parameters
    ----------
    cfg : ExperimentConfig
    manifests : dict
        Dataset name -> its rows (labels attached here).

    Returns
    -------
    dict
        Dataset name -> the sources to leave out (empty where remedies do not run).
    """
    from cxr_isi.audit.imbalance import sources_with_both
    from cxr_isi.remedies import refuse
    from cxr_isi.study.plan import loso_sources

    if not cfg.remedies.enabled:
        return {}
    out = {}
    for d in (d for d in cfg.datasets if d.train):
        m = manifests[d.name].with_labels(d.label_mapping)
        refuse(m.frame, m.y, cfg.remedies.names, f"dataset {d.name}")
        if "split" in m.frame.columns:  # what the split leaves to train on, not only what was given
            train = (m.frame["split"].astype(str) == "train").to_numpy()
            given = sources_with_both(m.frame, m.y)
            if given and not sources_with_both(m.frame[train], m.y[train]):
                refuse(m.frame[train], m.y[train], cfg.remedies.names,
                       f"dataset {d.name}, its training split ({', '.join(given)} "
                       f"{'gives' if len(given) == 1 else 'give'} both classes, but the split sent every image "
                       "of one class to test or validation)")
        out[d.name] = loso_sources(m, cfg.remedies.loso_min_per_class) if cfg.remedies.loso else []
    return out


def plan_experiment(config_path: str | Path, run_dir: str | Path) -> pd.DataFrame:
    """Every job of a config with the images it reads and its estimated time on the 2-core CPU
    (:func:`~cxr_isi.study.estimate.estimate_jobs`), after the checks of
    :func:`check_experiment`; nothing is segmented or trained.

    Parameters
    ----------
    config_path, run_dir : path
        As for :func:`check_experiment`.

    Returns
    -------
    DataFrame
        ``job, dataset, image_set, model, fold, size, epochs, train_images, test_images, seconds``.
    """
    from cxr_isi.study.estimate import estimate_jobs

    return estimate_jobs(*_checked(config_path, run_dir))


def check_experiment(config_path: str | Path, run_dir: str | Path) -> list[Job]:
    """Everything ``run`` refuses before training (config keys, models, variants, classes,
    folds), and the grid of jobs; nothing is segmented or trained.

    Parameters
    ----------
    config_path : path
    run_dir : path
        Where phantom sets would be generated.

    Returns
    -------
    list of Job
        The grid.
    """
    return _checked(config_path, run_dir)[0]
