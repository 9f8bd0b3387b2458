"""Every table and record of a run folder, read once: what the verdicts are decided from
(:mod:`cxr_isi.study.summary`) and what the report renders (:mod:`cxr_isi.report.html`), which
decides nothing and so reads the folder through here, not through the summary's rules."""

from __future__ import annotations

from pathlib import Path

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
