"""A Ray cluster that loses a node mid-job: the job reruns on the node left and the study ends
with the numbers of a sequential run.

Two nodes on this machine (Ray's own ``ray.cluster_utils.Cluster``, which starts a head and a
second raylet as ``ray start`` does, each with one CPU), the run folder shared; the study runs as
the user runs it, ``cxr-isi run CONFIG --executor ray --address ADDRESS``, in a child process.
When a job running on the second node has trained two epochs, that node's raylet and workers are
killed (``remove_node(allow_graceful=False)``); Ray retries the task on the head, which resumes
the job's training from its ``last.pt`` on the shared folder.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time

import pandas as pd
import pytest

pytest.importorskip("torch")
ray = pytest.importorskip("ray")
from ray.cluster_utils import Cluster  # noqa: E402

from cxr_isi.study.runfolder import RunFolder, read_json  # noqa: E402
from cxr_isi.study.runner import run_experiment  # noqa: E402
from tests.grids import NUMBERS, numbers, tiny, write_config  # noqa: E402

HANG_GUARD_S = 900  # a last-resort guard against a hang, never what decides the test
FAST_FAILURE_DETECTION = {"health_check_period_ms": 500, "health_check_failure_threshold": 3,
                          "health_check_initial_delay_ms": 0}


def _study(root):
    data = tiny(cv={"folds": 0}, cross=[], variants=["original"],
                train={"size": 64, "epochs": 10, "patience": 10, "batch_size": 8, "threads": 1})
    for d in data["datasets"]:
        d["synthetic"]["n"] = 64
    return write_config(root / "study.yaml", data)


def _training_on(run: RunFolder, node_id: str) -> str | None:
    """A job whose latest start is on ``node_id`` and that has trained two epochs, not finished."""
    for job_dir in sorted((run.root / "jobs").glob("*")) if (run.root / "jobs").exists() else []:
        attempts = run.attempts(job_dir.name)
        history = read_json(job_dir / "train" / "history.json") or {}
        if (attempts and attempts[-1].get("ray_node") == node_id and history.get("epoch", 0) >= 2
                and not history.get("finished") and run.job_record(job_dir.name) is None):
            return job_dir.name
    return None


@pytest.mark.slow
def test_a_lost_node_reruns_its_job_on_the_head_with_the_same_numbers(tmp_path):
    config = _study(tmp_path)
    run_experiment(config, tmp_path / "sequential", progress=False)
    cluster = Cluster(initialize_head=True, head_node_args={
        "num_cpus": 1, "include_dashboard": False, "_system_config": FAST_FAILURE_DETECTION})
    try:
        second = cluster.add_node(num_cpus=1)
        cluster.wait_for_nodes()
        run = RunFolder(tmp_path / "cluster")
        env = {**os.environ, "OMP_NUM_THREADS": "1", "HF_HUB_OFFLINE": "1"}
        driver = subprocess.Popen(
            [sys.executable, "-m", "cxr_isi.cli.main", "run", str(config), "--out", str(run.root),
             "--executor", "ray", "--address", cluster.address],
            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env)
        lost = None
        # wait on the event (a job on the second node has trained two epochs of ten), not on the
        # clock: the guard only stops a hang, well above the slowest loaded machine
        guard = time.monotonic() + HANG_GUARD_S
        while lost is None and driver.poll() is None and time.monotonic() < guard:
            lost = _training_on(run, second.node_id)
            time.sleep(0.05)
        assert lost is not None, ("no job was seen training on the second node" + (
            f" (the run ended first: {driver.communicate()[0][-1500:]})" if driver.poll() is not None
            else f" within the {HANG_GUARD_S} s hang guard"))
        cluster.remove_node(second, allow_graceful=False)
        output, _ = driver.communicate(timeout=HANG_GUARD_S)
        assert driver.returncode == 0, output[-3000:]
    finally:
        cluster.shutdown()
    attempts = run.attempts(lost)
    assert [a.get("ray_node") for a in attempts][0] == second.node_id
    assert attempts[-1]["ray_node"] != second.node_id  # rerun on the node left
    record = run.job_record(lost)
    assert record is not None and record["ray_node"] == attempts[-1]["ray_node"]
    ref, got = numbers(tmp_path / "sequential"), numbers(run.root)
    assert list(got["job_id"]) == list(ref["job_id"]) and len(ref) >= 2
    pd.testing.assert_frame_equal(ref[NUMBERS], got[NUMBERS])
