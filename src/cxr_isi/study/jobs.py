"""One job, run anywhere: train (resuming a killed run) and score its test sets.

``run_job`` takes plain data and a run folder, so the same function runs in-process, in a
process pool or as a Ray task. Everything it writes lands atomically through :class:`RunFolder`: the job record is
written last and marks the job finished; each test set's metrics mark that score.
"""

from __future__ import annotations

import os
import socket
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd

from cxr_isi.study.config import ExperimentConfig
from cxr_isi.study.plan import Job, fixed_box_of, job_manifest
from cxr_isi.study.runfolder import RunFolder


def score_metrics(y: np.ndarray, s: np.ndarray) -> dict:
    """AUC with DeLong's interval, and sensitivity / specificity / accuracy at Youden's cut-off
    and at 0.5."""
    from cxr_isi.evaluate.metrics import auc_ci, operating_point, youden

    out = {"n": len(y), "n_positive": int(y.sum()), "n_negative": int((y == 0).sum())}
    if len(np.unique(y)) < 2:
        return {**out, "auc": float("nan")}
    ci = auc_ci(y, s)
    yd = youden(y, s)
    half = operating_point(y, s, 0.5)
    return {**out, "auc": ci["auc"], "auc_se": ci["se"], "auc_ci_low": ci["ci_low"],
            "auc_ci_high": ci["ci_high"], "youden_threshold": yd["threshold"],
            "youden_index": yd["youden_index"], "sensitivity": yd["sensitivity"],
            "specificity": yd["specificity"], "accuracy": yd["accuracy"],
            "sensitivity_at_05": half["sensitivity"], "specificity_at_05": half["specificity"],
            "accuracy_at_05": half["accuracy"]}


def run_job(run_dir: str, job_data: dict, config_json: str) -> dict:
    """Train the job's model unless finished, then score every test set not yet scored.

    A failure is returned (and written to ``jobs/<id>/error.txt``), not raised, so one bad job
    does not stop the others."""
    import traceback

    from cxr_isi.errors import CxrIsiError

    try:
        return _run_job(Path(run_dir), job_data, config_json)
    except Exception as exc:  # noqa: BLE001 (reported to the driver, which names the job)
        RunFolder(Path(run_dir)).write_job_error(job_data["id"], traceback.format_exc())
        msg = str(exc) if isinstance(exc, CxrIsiError) else f"{type(exc).__name__}: {exc}"
        return {"id": job_data["id"], "error": msg.splitlines()[0] if msg else type(exc).__name__}


def where_am_i() -> dict:
    """The host, process and (in a Ray task) the Ray node running this code."""
    where = {"host": socket.gethostname(), "pid": os.getpid(), "time": time.time()}
    ray = sys.modules.get("ray")
    if ray is not None and ray.is_initialized():
        where["ray_node"] = ray.get_runtime_context().get_node_id()
    return where


def _run_job(run_dir: Path, job_data: dict, config_json: str) -> dict:
    import torch

    from cxr_isi.train.config import TrainConfig
    from cxr_isi.train.loop import fit, predict

    job = Job.from_dict(job_data)
    cfg = ExperimentConfig.model_validate_json(config_json)
    torch.set_num_threads(cfg.train.threads or cfg.resources.threads_per_job)  # pinned: same numbers anywhere
    datasets = {d.name: d for d in cfg.datasets}
    run = RunFolder(run_dir)
    train_dir = run.train_dir(job.id)
    t0 = time.perf_counter()
    train_part = job_manifest(run.prepared_manifest(job.dataset), datasets[job.dataset], job.fold, "train",
                              holdout=job.holdout)
    record = run.job_record(job.id)
    where = where_am_i()
    if record is not None:
        trained = record["train_metrics"]
    else:
        run.note_attempt(job.id, where)
        train = dict(job.train)
        if train.get("box_mode") == "dataset":
            train["fixed_box"] = fixed_box_of(run.root, job.dataset, cfg)
        trained = fit(train_part, TrainConfig.model_validate(train), train_dir, progress=False)
    for e in job.evaluations:
        if run.evaluated(job.id, e.id):
            continue
        # a remedy's model is measured on the whole of a test-only (external) set: more images, a
        # narrower interval; the study's cross test keeps that set's test split, as before
        part = "all" if job.remedy and not datasets[e.dataset].train else "test"
        test = job_manifest(run.prepared_manifest(e.dataset), datasets[e.dataset], e.fold, part,
                            holdout=job.holdout if e.dataset == job.dataset else None)
        seen = at_home = 0
        if e.dataset != job.dataset:  # datasets share images (compiled from the same collections):
            # never test on one the model saw, nor on its near-duplicate (found before any job); a
            # remedy's "elsewhere" also leaves out what home holds in its own test split (a score
            # there is home's again, not another hospital's); the study's cross test keeps those
            trained_on = set(train_part.frame["path"])
            overlap = run.overlap(e.dataset, job.dataset)
            shared = trained_on | {p for p, twin in overlap.items() if twin in trained_on}
            unseen = ~test.frame["path"].isin(shared)
            elsewhere = unseen & ~test.frame["path"].isin(set(overlap)) if job.remedy else unseen
            seen, at_home = int((~unseen).sum()), int((unseen & ~elsewhere).sum())
            test = test.with_frame(test.frame[elsewhere])
        pred = predict(run.checkpoint(job.id), test, variant=e.variant or job.variant)
        ids = test.frame.set_index("path")
        frame = pd.DataFrame({"id": ids.loc[pred["path"], "image_id"].to_numpy(),
                              "label": pred["label"].to_numpy(), "score": pred["score"].to_numpy(),
                              "source": ids.loc[pred["path"], "source"].to_numpy(),
                              "patient_id": ids.loc[pred["path"], "patient_id"].to_numpy()})
        metrics = score_metrics(frame["label"].to_numpy(), frame["score"].to_numpy())
        metrics["left_out"] = len(test) - len(frame)  # e.g. an empty lung mask on a masked set
        metrics["left_out_seen_in_training"] = seen
        metrics["left_out_held_by_home"] = at_home
        run.write_evaluation(job.id, e.id, frame, {"evaluation": e.id, "test_dataset": e.dataset,
                                                   **({"test_variant": e.variant} if e.variant else {}), **metrics})
    run.clear_job_error(job.id)
    if record is None:
        run.write_job_record(job.id, {"job": job.as_dict(), "train_metrics": trained,
                                      "seconds": round(time.perf_counter() - t0, 2), **where})
    return {"id": job.id, "val_auc": trained.get("val_auc"), "test_auc": trained.get("test_auc")}
