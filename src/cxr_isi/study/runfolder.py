"""The layout of a run folder, in one place: every path, reader, writer and identity stamp.

The runner writes through :class:`RunFolder` and the report reads through it, so a change of
layout is a change of this file only::

    RUN/
      config.json  config.yaml  config.source.yaml   the study as run
      run.json  jobs.json  .lock                     sessions, times, environment; the grid
      data/<dataset>/                                a generated phantom set
      datasets/<dataset>/manifest.csv                prepared rows (masks, split, fold, image_id)
      datasets/<dataset>/audit.json  prepared.json   its audit; its identity stamp
      datasets/<dataset>/lungs/                      predicted lung masks and lungs.csv
      jobs/<job>/train/best.pt                       the trained model (and the training folder)
      jobs/<job>/eval/<evaluation>/predictions.csv   one score per test image
      jobs/<job>/eval/<evaluation>/metrics.json      its figures
      jobs/<job>/job.json  error.txt                 written last: the job is finished; or why not
      jobs/<job>/attempts.jsonl                      each start: host, process, Ray node, time
      explain/<test>__<variant>__<model>/<method>/   panels, lung_attention.csv, unit.json
      probes/<probe>/<dataset>/                      each probe's result.json and figures
      results.csv  results.parquet  cv.csv  delong.csv  lung_attention.csv  probes.csv
      explain_truth.csv  explain_sanity.csv  explain_separation.csv   maps against the truth
      report.html  summary.json  figures/
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from cxr_isi._io import atomic_write, read_csv_or_empty, write_csv, write_json

SPLIT = "split"  # the single split of experiment 1
CV = "cv"  # k-fold cross-validation

CONFIG_JSON, CONFIG_YAML, CONFIG_SOURCE = "config.json", "config.yaml", "config.source.yaml"
RUN_RECORD, JOB_LIST, LOCK = "run.json", "jobs.json", ".lock"
RESULTS, RESULTS_PARQUET, CV_TABLE, DELONG_TABLE = "results.csv", "results.parquet", "cv.csv", "delong.csv"
ATTENTION, PROBES, EXCLUDED = "lung_attention.csv", "probes.csv", "excluded.csv"
TRUTH, SANITY, SEPARATION = "explain_truth.csv", "explain_sanity.csv", "explain_separation.csv"
REPORT, SUMMARY, FIGURES = "report.html", "summary.json", "figures"
MANIFEST, AUDIT, PREPARED = "manifest.csv", "audit.json", "prepared.json"
JOB_DONE, JOB_ERROR, PREDICTIONS, METRICS = "job.json", "error.txt", "predictions.csv", "metrics.json"
ATTEMPTS = "attempts.jsonl"
UNIT_STAMP, PROBE_RESULT, CHECKPOINT = "unit.json", "result.json", "best.pt"


def read_json(path: Path) -> Any:
    """A JSON file's content; None when it is absent, empty or damaged (a killed writer)."""
    try:
        return json.loads(Path(path).read_text())
    except (FileNotFoundError, json.JSONDecodeError, UnicodeDecodeError):
        return None


def stamp_matches(path: Path, identity: object) -> bool:
    """Whether the stamp at ``path`` records ``identity`` (what decides the stamped output)."""
    stamp = read_json(path)
    return isinstance(stamp, dict) and stamp.get("identity") == json.loads(json.dumps(identity, default=str))


def write_stamp(path: Path, identity: object, **extra) -> None:
    """Mark the output beside ``path`` as made from ``identity``; written last, atomically."""
    write_json(path, {"identity": identity, **extra})


class RunFolder:
    """Paths, readers and writers of one run folder (see the module docstring)."""

    def __init__(self, root: str | Path):
        self.root = Path(root)

    def __repr__(self) -> str:
        return f"RunFolder({str(self.root)!r})"

    # -- the study --------------------------------------------------------------------------
    @property
    def config_json(self) -> Path:
        return self.root / CONFIG_JSON

    @property
    def config_yaml(self) -> Path:
        return self.root / CONFIG_YAML

    @property
    def config_source(self) -> Path:
        return self.root / CONFIG_SOURCE

    @property
    def lock(self) -> Path:
        return self.root / LOCK

    def is_run(self) -> bool:
        return self.config_json.is_file()

    def config(self) -> dict:
        return read_json(self.config_json) or {}

    def run_record(self) -> dict:
        return read_json(self.root / RUN_RECORD) or {}

    def write_run_record(self, record: dict) -> None:
        write_json(self.root / RUN_RECORD, record)

    def write_job_list(self, jobs: list[dict]) -> None:
        write_json(self.root / JOB_LIST, jobs)

    def job_list(self) -> list[dict]:
        """The grid as planned (``jobs.json``); empty before the run planned it."""
        jobs = read_json(self.root / JOB_LIST)
        return jobs if isinstance(jobs, list) else []

    # -- datasets ---------------------------------------------------------------------------
    def synth_dir(self, dataset: str) -> Path:
        return self.root / "data" / dataset

    def dataset_dir(self, dataset: str) -> Path:
        return self.root / "datasets" / dataset

    def prepared_manifest(self, dataset: str) -> Path:
        return self.dataset_dir(dataset) / MANIFEST

    def prepared_stamp(self, dataset: str) -> Path:
        return self.dataset_dir(dataset) / PREPARED

    def lungs_dir(self, dataset: str) -> Path:
        return self.dataset_dir(dataset) / "lungs"

    def lung_table(self, dataset: str) -> pd.DataFrame:
        """The segmenter's ``lungs.csv`` (boxes, area, QC) of a prepared dataset."""
        return read_csv_or_empty(self.lungs_dir(dataset) / "lungs.csv")

    def excluded_path(self, dataset: str) -> Path:
        return self.dataset_dir(dataset) / EXCLUDED

    def write_excluded(self, dataset: str, frame: pd.DataFrame) -> None:
        write_csv(self.excluded_path(dataset), frame)

    def excluded(self) -> pd.DataFrame:
        """Every dataset's images left out of its jobs, with the reason (``dataset, path, reason``)."""
        root = self.root / "datasets"
        parts = [read_csv_or_empty(p) for p in sorted(root.glob(f"*/{EXCLUDED}"))] if root.is_dir() else []
        parts = [p for p in parts if len(p)]
        return pd.concat(parts, ignore_index=True) if parts else pd.DataFrame(columns=["dataset", "path", "reason"])

    def overlap_path(self, test: str, train: str) -> Path:
        """The images of ``test`` that ``train`` also holds (``path, twin, how``)."""
        return self.dataset_dir(test) / f"overlap_with_{train}.csv"

    def overlap(self, test: str, train: str) -> dict[str, str]:
        """Each image of ``test`` that ``train`` also holds, with its twin there."""
        path = self.overlap_path(test, train)
        if not path.exists():
            return {}
        frame = pd.read_csv(path, dtype=str)
        return dict(zip(frame["path"], frame["twin"], strict=True))

    def audit_path(self, dataset: str) -> Path:
        return self.dataset_dir(dataset) / AUDIT

    def audit(self, dataset: str) -> dict | None:
        return read_json(self.audit_path(dataset))

    def prepared(self, dataset: str) -> dict:
        """The prepared dataset's record (identity, image counts, the fixed box)."""
        return read_json(self.prepared_stamp(dataset)) or {}

    # -- jobs -------------------------------------------------------------------------------
    def job_dir(self, job_id: str) -> Path:
        return self.root / "jobs" / job_id

    def train_dir(self, job_id: str) -> Path:
        return self.job_dir(job_id) / "train"

    def checkpoint(self, job_id: str) -> Path:
        return self.train_dir(job_id) / CHECKPOINT

    def eval_dir(self, job_id: str, evaluation: str) -> Path:
        return self.job_dir(job_id) / "eval" / evaluation

    def predictions_rel(self, job_id: str, evaluation: str) -> str:
        """The predictions' path relative to the run (what ``results.csv`` records)."""
        return (self.eval_dir(job_id, evaluation) / PREDICTIONS).relative_to(self.root).as_posix()

    def job_record(self, job_id: str) -> dict | None:
        """``job.json`` of a finished job; None when absent or damaged (then the job reruns)."""
        record = read_json(self.job_dir(job_id) / JOB_DONE)
        return record if isinstance(record, dict) and "train_metrics" in record else None

    def write_job_record(self, job_id: str, record: dict) -> None:
        write_json(self.job_dir(job_id) / JOB_DONE, record)

    def note_attempt(self, job_id: str, where: dict) -> None:
        """Append one line to the job's ``attempts.jsonl``: where and when it (re)started. A job
        retried after a lost node shows both machines."""
        path = self.job_dir(job_id) / ATTEMPTS
        path.parent.mkdir(parents=True, exist_ok=True)
        with path.open("a") as f:  # one short line per start, by one process at a time
            f.write(json.dumps(where) + "\n")

    def attempts(self, job_id: str) -> list[dict]:
        """The job's starts, oldest first (a torn last line is skipped)."""
        path = self.job_dir(job_id) / ATTEMPTS
        if not path.exists():
            return []
        out = []
        for line in path.read_text().splitlines():
            try:
                out.append(json.loads(line))
            except json.JSONDecodeError:
                continue
        return out

    def write_job_error(self, job_id: str, text: str) -> Path:
        return atomic_write(self.job_dir(job_id) / JOB_ERROR, lambda p: p.write_text(text))

    def job_error_path(self, job_id: str) -> Path:
        return self.job_dir(job_id) / JOB_ERROR

    def clear_job_error(self, job_id: str) -> None:
        self.job_error_path(job_id).unlink(missing_ok=True)

    def metrics(self, job_id: str, evaluation: str) -> dict | None:
        m = read_json(self.eval_dir(job_id, evaluation) / METRICS)
        return m if isinstance(m, dict) else None

    def write_evaluation(self, job_id: str, evaluation: str, predictions: pd.DataFrame, metrics: dict) -> None:
        """Predictions first, metrics last: metrics mark the evaluation as done."""
        d = self.eval_dir(job_id, evaluation)
        write_csv(d / PREDICTIONS, predictions)
        write_json(d / METRICS, metrics)

    def is_done(self, job) -> bool:
        """Trained and every evaluation written (its metrics and its predictions)."""
        return self.job_record(job.id) is not None and all(self.evaluated(job.id, e.id) for e in job.evaluations)

    def evaluated(self, job_id: str, evaluation: str) -> bool:
        """Both halves of an evaluation are there: its metrics and the predictions they came from."""
        return self.metrics(job_id, evaluation) is not None and (
            self.eval_dir(job_id, evaluation) / PREDICTIONS).is_file()

    def predictions(self, rel: str) -> pd.DataFrame:
        """A predictions table (``id, label, score, source, patient_id``) by its recorded path."""
        return pd.read_csv(self.root / rel, dtype={"id": str, "source": str, "patient_id": str})

    def labels_scores(self, rel: str) -> tuple[np.ndarray, np.ndarray]:
        p = self.predictions(rel)
        return p["label"].to_numpy(), p["score"].to_numpy()

    def fold_predictions(self, rows: pd.DataFrame) -> list[tuple[np.ndarray, np.ndarray]]:
        """``(labels, scores)`` of each fold of one cross-validated group, in fold order."""
        return [self.labels_scores(p) for p in rows.sort_values("fold")["predictions"]]

    # -- explanations and probes ------------------------------------------------------------
    def explain_dir(self, test: str, variant: str, model: str, method: str) -> Path:
        return self.root / "explain" / f"{test}__{variant}__{model}" / method

    def explain_panels(self) -> list[tuple[str, str, str, str, Path]]:
        """``(test, variant, model, method, png)`` of every explanation panel written."""
        root = self.root / "explain"
        out = []
        for p in sorted(root.glob("*/*/*.png")) if root.is_dir() else []:
            test, variant, model = p.parent.parent.name.split("__")
            out.append((test, variant, model, p.parent.name, p))
        return out

    def probe_dir(self, probe: str, dataset: str) -> Path:
        return self.root / "probes" / probe / dataset

    # -- tables -----------------------------------------------------------------------------
    def write_table(self, name: str, frame: pd.DataFrame) -> Path:
        path = self.root / name
        if name == RESULTS and len(frame):
            atomic_write(self.root / RESULTS_PARQUET, lambda p: frame.to_parquet(p, index=False))
        return write_csv(path, frame)

    def table(self, name: str) -> pd.DataFrame:
        frame = read_csv_or_empty(self.root / name)
        if "fold" in frame.columns:
            frame["fold"] = frame["fold"].astype("Int64")
        return frame

    # -- the report -------------------------------------------------------------------------
    @property
    def report_path(self) -> Path:
        return self.root / REPORT

    @property
    def summary_path(self) -> Path:
        return self.root / SUMMARY

    @property
    def figures_dir(self) -> Path:
        return self.root / FIGURES
