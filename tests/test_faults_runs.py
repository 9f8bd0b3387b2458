"""Faults of a long run and of its record: a cache build stopped by Ctrl-C or SIGTERM, a run
folder whose tables were edited, damaged or moved. Beside tests/test_faults.py (its helpers),
in a file of its own so the two spread over the test workers."""

import os
import re

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from cxr_isi.cli.main import app
from cxr_isi.errors import CxrIsiError
from tests.conftest import write_png
from tests.test_faults import _hashes, _one_line_error

runner = CliRunner()


MANY = 1000


@pytest.fixture(scope="module")
def many_images(tmp_path_factory, n=MANY, side=1024):
    """Enough large images that a two-worker cache build takes seconds: well past the first index
    save (after 2 s), so the signal comes mid-build (600 of 768 px took 2.1 s on an idle machine,
    and the first save was the last)."""
    root = tmp_path_factory.mktemp("many")
    rows = []
    for i in range(n):
        yy, xx = np.mgrid[0:side, 0:side]
        write_png(root / f"img/{i}.png", ((xx * (i + 1) + yy * 3) % 251).astype(np.uint8))
        rows.append({"path": f"img/{i}.png", "label": "covid" if i % 2 else "normal", "source": "s",
                     "patient_id": f"p{i}"})
    pd.DataFrame(rows).to_csv(root / "m.csv", index=False)
    return root / "m.csv"


@pytest.mark.slow
@pytest.mark.parametrize("sig, code, word", [("SIGINT", 130, "interrupted"), ("SIGINT2", 130, "interrupted"),
                                             ("SIGTERM", 143, "terminated")])
def test_cache_stops_cleanly_on_ctrl_c_and_sigterm_and_resumes(many_images, tmp_path, sig, code, word):
    """Ctrl-C (to the whole process group, as a terminal sends it; twice in a row too) or SIGTERM
    during ``cache --jobs 2``: exit within seconds, one line, no traceback, no leaked-semaphore
    warning, no worker left; the next call keeps what was finished."""
    import signal
    import subprocess
    import sys
    import time

    cache = tmp_path / "cc"
    from pathlib import Path

    cmd = [str(Path(sys.executable).parent / "cxr-isi"), "cache", str(many_images), "--size", "256",
           "--jobs", "2", "--cache", str(cache)]
    # started as a terminal starts a command: Ctrl-C at its default. A shell without job control
    # starts a background job (`nohup bash .ci/run &`) with SIGINT ignored, every child inherits
    # that and Python honours it (no KeyboardInterrupt): the build ran to its end, exit 0 (seen)
    p = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, start_new_session=True,
                         preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    # the index is first saved after 2 s of finished chunks: then stop it, mid-build (the guard only
    # stops a hang; the event decides)
    guard = time.monotonic() + 600
    while not (cache / "image-256-pad" / "index.parquet").exists() and time.monotonic() < guard and p.poll() is None:
        time.sleep(0.02)
    assert p.poll() is None, "the build ended before it could be stopped"
    if sig == "SIGTERM":
        p.send_signal(signal.SIGTERM)
    else:
        os.killpg(p.pid, signal.SIGINT)
        if sig == "SIGINT2":
            time.sleep(0.05)
            os.killpg(p.pid, signal.SIGINT)
    try:
        stdout, stderr = p.communicate(timeout=300)  # a hang guard: it exits within seconds when it works
    except subprocess.TimeoutExpired:
        os.killpg(p.pid, signal.SIGKILL)
        pytest.fail("the cache build hung after the signal")
    assert p.returncode == code, stdout + stderr
    assert "Traceback" not in stderr and "leaked" not in stderr and "KeyboardInterrupt" not in stderr, stderr
    assert stderr.strip().splitlines()[-1].startswith(word)
    def alive() -> list[str]:
        states = subprocess.run(["ps", "-o", "stat=", "-g", str(p.pid)], capture_output=True, text=True).stdout
        return [s for s in states.split() if not s.startswith("Z")]

    guard = time.monotonic() + 120  # workers exit on their own once the pool is stopped: wait for that
    while alive() and time.monotonic() < guard:
        time.sleep(0.05)
    assert not alive(), alive()  # no live worker left behind
    done = subprocess.run(cmd, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    built, reused = map(int, re.search(r"(\d+) built, (\d+) reused", done.stdout).groups())
    assert built + reused == MANY and reused > 0 and built > 0, done.stdout  # what was finished before the stop is kept


# -- a run's numbers are the run's: the report and load_run check them ------------------------

@pytest.fixture(scope="module")
def finished_run(tmp_path_factory):
    """One tiny finished run on a manifest outside the run folder."""
    from cxr_isi.study.runner import run_experiment
    from cxr_isi.synth import SynthConfig, generate
    from tests.grids import tiny, write_config

    root = tmp_path_factory.mktemp("finished")
    m = generate(SynthConfig(preset="isi", n=40, size=64, seed=0), root / "data", jobs=1)
    ds = {"name": "isi", "manifest": str(m.origin), "labels": {"positive": ["covid"], "negative": ["normal"]}}
    cfg = write_config(root / "t.yaml", tiny(datasets=[ds], cross=[], cv={"folds": 0},
                                            train={"size": 32, "epochs": 1, "batch_size": 8, "threads": 1}))
    run_experiment(cfg, root / "run", progress=False)
    return root / "run"


def _damage(run, how):
    from cxr_isi.study.runfolder import RESULTS_PARQUET

    results = pd.read_csv(run / "results.csv")
    if how == "config.json garbage":
        (run / "config.json").write_text("{garbage")
    elif how == "run.json a list":
        (run / "run.json").write_text("[1, 2]")
    elif how == "results.csv other columns":
        (run / "results.csv").write_text("a,b\n1,2\n")
    elif how == "results.csv bad fold":
        results["fold"] = "x"
        results.to_csv(run / "results.csv", index=False)
    elif how == "predictions garbage":
        (run / results["predictions"].iloc[0]).write_text("x,y\ngarbage,1\n")
    elif how == "predictions missing":
        (run / results["predictions"].iloc[0]).unlink()
    elif how == "results.csv differs from parquet":
        results.loc[0, "auc"] = 0.123
        results.to_csv(run / "results.csv", index=False)
    elif how == "both tables differ from the predictions":
        results.loc[0, "auc"] = 0.123
        results.to_csv(run / "results.csv", index=False)
        results.to_parquet(run / RESULTS_PARQUET, index=False)


DAMAGE = [("config.json garbage", "config.json: damaged (not a JSON object"),
          ("run.json a list", "run.json: damaged (not a JSON object"),
          ("results.csv other columns", "results.csv: not a cxr-isi results table (no column protocol"),
          ("results.csv bad fold", "results.csv: not a results table"),
          ("predictions garbage", "its predictions jobs/"),
          ("predictions missing", "are missing; delete"),
          ("results.csv differs from parquet", "disagrees with results.parquet in column auc (0.123 against"),
          ("both tables differ from the predictions", "says AUC 0.1230 on")]


@pytest.mark.parametrize("how, words", DAMAGE, ids=[d[0] for d in DAMAGE])
def test_report_refuses_a_run_whose_numbers_do_not_hold(finished_run, tmp_path, how, words):
    import shutil

    import cxr_isi as ci

    run = tmp_path / "run"
    shutil.copytree(finished_run, run)
    _damage(run, how)
    before = _hashes(run)
    _one_line_error(runner.invoke(app, ["report", str(run)]), words)
    assert _hashes(run) == before and not (run / "report.html").exists()
    with pytest.raises(CxrIsiError, match=re.escape(words)):
        ci.load_run(run)


def test_a_run_folder_moved_to_another_depth_is_reported_and_resumed(finished_run, tmp_path):
    import shutil

    from cxr_isi.study.runner import run_experiment

    moved = tmp_path / "a" / "b" / "c" / "run"
    shutil.copytree(finished_run, moved)
    r = runner.invoke(app, ["report", str(moved)])
    assert r.exit_code == 0, r.output
    jobs = {p.name for p in (moved / "jobs").iterdir()}
    result = run_experiment(finished_run.parent / "t.yaml", moved, progress=False)
    assert result["run"]["n_run_now"] == 0 and {p.name for p in (moved / "jobs").iterdir()} == jobs
    prepared = pd.read_csv(moved / "datasets" / "isi" / "manifest.csv")
    assert prepared["path"].map(os.path.isabs).all()  # outside the run: absolute
    assert not prepared["mask_path"].map(os.path.isabs).any()  # inside it: relative to the run
