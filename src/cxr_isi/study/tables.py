"""Every table and record of a run folder, read once: what the verdicts are decided from
(:mod:`cxr_isi.study.summary`) and what the report renders (:mod:`cxr_isi.report.html`), which
decides nothing and so reads the folder through here, not through the summary's rules."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from cxr_isi.study.probes import read_probe_results
from cxr_isi.study.results import checked_results
from cxr_isi.study.runfolder import ATTENTION, CV_TABLE, DELONG_TABLE, RunFolder


def load_run(run_dir: Path) -> dict:
    """Every table and record of a run folder; a missing piece is an empty table or None."""
    run = RunFolder(run_dir)
    results = checked_results(run)  # the records and the table, checked against what they came from
    config = run.config()
    if results.empty:  # a run killed before its tables were written: read its finished jobs
        from cxr_isi.study.plan import Job
        from cxr_isi.study.results import results_table

        results = results_table(run, [Job.from_dict(j) for j in run.job_list()])
    return {"dir": run.root, "folder": run, "config": config, "run": run.run_record(),
            "results": results, "cv": run.table(CV_TABLE), "delong": run.table(DELONG_TABLE),
            "attention": run.table(ATTENTION),
            "audits": {d["name"]: run.audit(d["name"]) for d in config.get("datasets", [])},
            "probes": read_probe_results(run.root)}


@dataclass(frozen=True)
class RunResult:
    """A run folder and the tables its study wrote.

    Attributes
    ----------
    path : Path
        The run folder.
    results : DataFrame
        One row per job and test set (``results.csv``): AUC with its DeLong interval, operating
        points, the image set, the fold.
    cv : DataFrame
        The cross-validation summary (``cv.csv``): AUC mean, standard deviation, t interval.
    delong : DataFrame
        Original against lungs-boxed-out on the same images (``delong.csv``).
    probes : DataFrame
        One row per probe and dataset (``probes.csv``): estimate, interval, sentence.
    record : dict
        ``run.json``: executor, times per stage, versions, hardware.
    """

    path: Path
    results: pd.DataFrame
    cv: pd.DataFrame
    delong: pd.DataFrame
    probes: pd.DataFrame
    record: dict


def run_result(path: str | Path) -> RunResult:
    """The tables of a run folder (finished or not), checked: a path that is no run folder is
    one line.

    Parameters
    ----------
    path : str or Path

    Returns
    -------
    RunResult
    """
    from cxr_isi.errors import CxrIsiError
    from cxr_isi.study.runfolder import PROBES

    run = RunFolder(path)
    if not run.root.is_dir():
        what = "is a file, not a run folder" if run.root.exists() else "no such run folder"
        raise CxrIsiError(f"{run.root}: {what}")
    if not run.is_run():
        raise CxrIsiError(f"{run.root}: not a run folder (no config.json; make one with cxr-isi run)")
    return RunResult(path=run.root, results=checked_results(run), cv=run.table(CV_TABLE),
                     delong=run.table(DELONG_TABLE), probes=run.table(PROBES), record=run.run_record())
