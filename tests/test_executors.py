"""The three executors give the same numbers: in-process, a process pool, a local Ray instance."""

import json
import os

import pandas as pd
import pytest

torch = pytest.importorskip("torch")
from cxr_isi.study.runner import run_experiment  # noqa: E402
from tests.grids import NUMBERS, numbers, tiny, write_config  # noqa: E402


@pytest.fixture(scope="module")
def grid(tmp_path_factory):
    """The tiny grid without cross-validation (four jobs), run in this process."""
    root = tmp_path_factory.mktemp("executors")
    cfg = write_config(root / "tiny.yaml", tiny(cv={"folds": 0}))
    run_experiment(cfg, root / "sequential", progress=False)
    return cfg, numbers(root / "sequential")


@pytest.mark.slow
def test_process_pool_gives_the_same_numbers(grid, tmp_path):
    cfg, ref = grid
    run_experiment(cfg, tmp_path / "run", executor="process", n_jobs=2, progress=False)
    got = numbers(tmp_path / "run")
    assert list(got["job_id"]) == list(ref["job_id"])
    pd.testing.assert_frame_equal(ref[NUMBERS], got[NUMBERS])


@pytest.mark.slow
def test_ray_runs_the_grid_on_a_local_instance(grid, tmp_path):
    pytest.importorskip("ray")
    cfg, ref = grid
    run_experiment(cfg, tmp_path / "run", executor="ray", n_jobs=2, progress=False)
    got = numbers(tmp_path / "run")
    assert list(got["job_id"]) == list(ref["job_id"])
    pd.testing.assert_frame_equal(ref[NUMBERS], got[NUMBERS])
    pids = {json.loads(p.read_text())["pid"] for p in (tmp_path / "run").glob("jobs/*/job.json")}
    assert len(pids) >= 1 and os.getpid() not in pids  # ran in Ray workers


def test_unknown_executor_is_one_line(tmp_path):
    from cxr_isi.errors import CxrIsiError

    with pytest.raises(CxrIsiError, match="unknown executor 'dask'"):
        run_experiment(write_config(tmp_path / "t.yaml", tiny()), tmp_path / "run", executor="dask")


@pytest.mark.slow
def test_same_seed_same_numbers_with_one_job_or_two_and_twice(tmp_path):
    """No ``train.threads`` in the config: the runner pins the thread count per job
    (``resources.threads_per_job``), so one job at a time, two at a time and a second run agree
    to the last digit."""
    data = tiny(cv={"folds": 0}, cross=[])
    data["train"].pop("threads")
    cfg = write_config(tmp_path / "t.yaml", data)
    run_experiment(cfg, tmp_path / "one", progress=False)
    run_experiment(cfg, tmp_path / "two", executor="process", n_jobs=2, progress=False)
    run_experiment(cfg, tmp_path / "again", progress=False)
    ref = numbers(tmp_path / "one")
    for other in ("two", "again"):
        pd.testing.assert_frame_equal(ref[NUMBERS], numbers(tmp_path / other)[NUMBERS])
    assert json.loads((tmp_path / "two" / "run.json").read_text())["threads_per_job"] == 1


@pytest.mark.slow
def test_the_probes_give_the_same_figures_in_fresh_processes_and_other_folders(tmp_path):
    """The tile-shuffled acquisition job drew its shuffle from the image's absolute path, so two
    demo runs in two folders disagreed (0.457 against 0.549). Every probe, run twice in fresh
    processes into run folders at different places, now gives every figure equal."""
    import subprocess
    import sys

    data = tiny(datasets=[tiny()["datasets"][1]], cv={"folds": 0}, cross=[], variants=["original", "lungs_boxed_out"])
    data["fixed_box"] = {"enabled": True, "variants": ["lungs_boxed_out"]}
    data["probes"] = {"enabled": True, "swap_pairs": 6, "acquisition_block": 8}
    cfg = write_config(tmp_path / "t.yaml", data)
    runs = [tmp_path / "a", tmp_path / "deeper" / "elsewhere" / "b"]
    for run in runs:
        subprocess.run([sys.executable, "-m", "cxr_isi.cli.main", "run", str(cfg), "--out", str(run)], check=True,
                       capture_output=True, text=True)
    first, second = (numbers(r) for r in runs)
    assert any(first["variant"].str.contains("blocks")), first["variant"].tolist()  # the acquisition job ran
    pd.testing.assert_frame_equal(first[NUMBERS], second[NUMBERS])
    probes = [pd.read_csv(r / "probes.csv").drop(columns=["sentence"], errors="ignore") for r in runs]
    assert len(probes[0]) >= 4
    pd.testing.assert_frame_equal(probes[0], probes[1])
