"""The experiment runner: config errors before training, stable job ids, resume after SIGKILL,
the three executors giving the same numbers, and the paper's direction on the phantoms."""

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import pytest

torch = pytest.importorskip("torch")
from typer.testing import CliRunner  # noqa: E402

from cxr_isi.cli.main import app  # noqa: E402
from cxr_isi.errors import ConfigError  # noqa: E402
from cxr_isi.study import load_experiment  # noqa: E402
from cxr_isi.study.config import ExperimentConfig  # noqa: E402
from cxr_isi.study.plan import dataset_identity, plan_jobs  # noqa: E402
from cxr_isi.study.runner import check_experiment, run_experiment  # noqa: E402
from tests.grids import NUMBERS, numbers, tiny, write_config  # noqa: E402


@pytest.fixture(scope="module")
def reference(tmp_path_factory):
    """The tiny grid, uninterrupted, in-process."""
    root = tmp_path_factory.mktemp("ref")
    cfg = write_config(root / "tiny.yaml", tiny())
    result = run_experiment(cfg, root / "run", progress=False)
    return root / "run", result


# -- config errors, all before any training ------------------------------------------


@pytest.mark.parametrize("change, words", [
    ({"datsets": []}, ["datsets", "Extra inputs are not permitted"]),
    ({"variants": ["original", "lungs_hidden"]}, ["variants", "lungs_hidden"]),
    ({"models": ["vgg19"]}, ["models", "vgg19"]),
    ({"cross": [{"train": "isi", "test": "nope"}]}, ["cross.0.test", "nope"]),
    ({"train": {"model": "small_cnn"}}, ["train", "top level"]),
    ({"cv": {"folds": 1}}, ["cv.folds"]),
    ({"datasets": [{"name": "isi", "train": False, "synthetic": {"preset": "isi", "n": 40, "size": 64}},
                   {"name": "bal", "synthetic": {"preset": "balanced", "n": 40, "size": 64}}]},
     ["cross.0.train", "test set only"]),
    ({"datasets": [{"name": "isi", "train": False, "synthetic": {"preset": "isi", "n": 40, "size": 64}}],
      "cross": []}, ["every dataset is a test set only"]),
])
def test_bad_config_names_the_key(tmp_path, change, words):
    cfg = write_config(tmp_path / "bad.yaml", tiny(**change))
    with pytest.raises(ConfigError) as exc:
        load_experiment(cfg)
    for w in words:
        assert w in str(exc.value)
    assert "\n" not in str(exc.value)


def test_a_test_only_dataset_gets_no_job_but_its_cross_evaluations():
    cfg = ExperimentConfig.model_validate(tiny(datasets=[
        {"name": "isi", "synthetic": {"preset": "isi", "n": 40, "size": 64, "seed": 0}},
        {"name": "bal", "train": False, "synthetic": {"preset": "balanced", "n": 40, "size": 64, "seed": 1}}]))
    jobs = plan_jobs(cfg, {d.name: dataset_identity(d) for d in cfg.datasets})
    assert jobs and {j.dataset for j in jobs} == {"isi"}
    assert any(e.dataset == "bal" for j in jobs for e in j.evaluations)


def test_single_class_and_too_many_folds_refused_before_training(tmp_path):
    from cxr_isi.synth import SynthConfig, generate

    m = generate(SynthConfig(preset="isi", n=24, size=64), tmp_path / "data", jobs=1)
    covid_only = {"name": "c", "manifest": str(m.origin), "filter": [{"label": ["covid"]}],
                  "labels": {"positive": ["covid"], "negative": ["normal"]}}
    cfg = write_config(tmp_path / "one.yaml", tiny(datasets=[covid_only], cross=[]))
    runner = CliRunner()
    res = runner.invoke(app, ["run", str(cfg), "--out", str(tmp_path / "run1")])
    assert res.exit_code == 2
    assert "datasets.0 (c): a single class after filtering (positive only" in res.output
    assert not (tmp_path / "run1" / "jobs").exists()
    many = {**covid_only, "filter": []}
    cfg = write_config(tmp_path / "folds.yaml", tiny(datasets=[many], cross=[], cv={"folds": 30}))
    res = runner.invoke(app, ["run", str(cfg), "--out", str(tmp_path / "run2")])
    assert res.exit_code == 2
    assert "cv.folds" in res.output  # 30 folds is over the config's limit of 20
    cfg = write_config(tmp_path / "folds.yaml", tiny(datasets=[many], cross=[], cv={"folds": 20}))
    res = runner.invoke(app, ["run", str(cfg), "--out", str(tmp_path / "run3")])
    assert res.exit_code == 2
    assert "patients, fewer than the 20 folds" in res.output
    assert not (tmp_path / "run3" / "jobs").exists()


def test_job_ids_are_stable_and_follow_the_settings(tmp_path):
    cfg = load_experiment(write_config(tmp_path / "a.yaml", tiny()))
    ident = {d.name: dataset_identity(d) for d in cfg.datasets}
    a, b = plan_jobs(cfg, ident), plan_jobs(cfg, ident)
    assert [j.id for j in a] == [j.id for j in b]
    assert len({j.id for j in a}) == len(a) == 2 * 2 + 2 * 2  # split x 2 variants + 2 folds, per dataset
    more = load_experiment(write_config(tmp_path / "b.yaml", tiny(train={**tiny()["train"], "epochs": 3})))
    assert not {j.id for j in a} & {j.id for j in plan_jobs(more, ident)}
    cross = [e for j in a for e in j.evaluations if e.dataset != j.dataset]
    assert {(e.dataset, e.fold) for e in cross} == {("bal", None), ("bal", 0), ("bal", 1)}
    jobs = check_experiment(tmp_path / "a.yaml", tmp_path / "check")
    assert [j.id for j in jobs] == [j.id for j in a]
    # --plan: the same jobs, the images each reads, a time from the measured rates
    from cxr_isi.study.estimate import training_rate
    from cxr_isi.study.runner import plan_experiment

    costs = plan_experiment(tmp_path / "a.yaml", tmp_path / "check").set_index("job")
    assert list(costs.index) == [j.id for j in a] and (costs["seconds"] > 0).all()
    isi_split = costs[(costs["dataset"] == "isi") & (costs["fold"] == "split")].iloc[0]
    assert (isi_split["train_images"], isi_split["test_images"]) == (30, 10 + 10)  # its own test and bal's
    assert costs.loc[costs["fold"] == "fold 0", "train_images"].tolist() == [20, 20]
    assert training_rate("vgg16_gap", 512) == pytest.approx(2.9 * (224 / 512) ** 2)
    r = CliRunner().invoke(app, ["run", str(tmp_path / "a.yaml"), "--plan", "--out", str(tmp_path / "check"),
                                 "-j", "2"])
    assert r.exit_code == 0 and "8 jobs" in r.output and "on 2 workers" in r.output, r.output


# -- a run, its files, resume ----------------------------------------------------------


def test_run_writes_every_number(reference):
    run, result = reference
    r = pd.read_csv(run / "results.csv")
    for col in ("train_dataset", "test_dataset", "variant", "model", "fold", "auc", "sensitivity",
                "specificity", "accuracy", "youden_threshold", "auc_ci_low", "accuracy_at_05"):
        assert col in r.columns
    assert len(r) == len(result["jobs"]) + 3  # every job on its own test set, plus 3 cross tests
    assert set(r.loc[r["train_dataset"] != r["test_dataset"], "variant"]) == {"original"}
    assert r["auc"].between(0, 1).all()
    pred = pd.read_csv(run / r["predictions"].iloc[0])
    assert list(pred.columns[:3]) == ["id", "label", "score"]
    assert pred["score"].between(0, 1).all() and len(pred) == r["n"].iloc[0]
    folds = r[(r["protocol"] == "cv") & (r["train_dataset"] == "isi") & (r["test_dataset"] == "isi")]
    ids = [set(pd.read_csv(run / p)["id"]) for p in folds["predictions"]]
    assert not ids[0] & ids[1]  # each image tested once across folds
    cv = pd.read_csv(run / "cv.csv")
    assert {"auc_mean", "auc_std", "youden_accuracy"} <= set(cv.columns) and len(cv) == 3
    assert (run / "delong.csv").is_file() and (run / "results.parquet").is_file()
    assert (run / "datasets" / "isi" / "audit.json").is_file()


def test_rerun_skips_finished_jobs(reference):
    run, _ = reference
    best = sorted(run.glob("jobs/*/train/best.pt"))
    before = {p: p.stat().st_mtime_ns for p in best}
    again = run_experiment(run / "config.source.yaml", run, progress=False)
    assert again["run"]["n_run_now"] == 0
    assert {p: p.stat().st_mtime_ns for p in best} == before


def _wait_for(condition, proc, limit: float = 600) -> None:
    """Poll the run folder until ``condition`` holds; the run must still be going."""
    start = time.monotonic()
    while not condition():
        assert proc.poll() is None, "the run ended before reaching the state to kill it in"
        assert time.monotonic() - start < limit, "the run never reached the state to kill it in"
        time.sleep(0.05)


@pytest.mark.slow
def test_sigkill_then_resume_gives_the_same_numbers(reference, tmp_path):
    ref, _ = reference
    cfg = write_config(tmp_path / "tiny.yaml", tiny())
    cmd = [str(Path(sys.executable).parent / "cxr-isi"), "run", str(cfg), "--out", str(tmp_path / "run")]
    env = {**os.environ, "HF_HUB_OFFLINE": "1"}
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                            start_new_session=True)
    # kill in the middle of the grid: after the first job finished, while the next trains (an
    # epoch of it saved): a state the run reaches, whatever the machine's speed
    _wait_for(lambda: list((tmp_path / "run").glob("jobs/*/job.json")), proc)
    _wait_for(lambda: list((tmp_path / "run").glob("jobs/*/train/last.pt"))[1:], proc)
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()
    assert not (tmp_path / "run" / "results.csv").exists()
    done = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-2000:]
    a, b = numbers(ref), numbers(tmp_path / "run")
    assert list(a["job_id"]) == list(b["job_id"])
    pd.testing.assert_frame_equal(a[NUMBERS], b[NUMBERS])


def test_a_failing_job_is_named_and_the_others_kept(tmp_path, monkeypatch):
    cfg = write_config(tmp_path / "tiny.yaml", tiny(variants=["original"], cv={"folds": 0}, cross=[]))
    from cxr_isi.study import jobs as jobs_mod

    real = jobs_mod._run_job

    def flaky(run_dir, job_data, config_json):
        if job_data["dataset"] == "bal":
            raise RuntimeError("disk full")
        return real(run_dir, job_data, config_json)

    monkeypatch.setattr(jobs_mod, "_run_job", flaky)
    with pytest.raises(Exception, match=r"1 of 2 jobs failed.*bal__original.*disk full"):
        run_experiment(cfg, tmp_path / "run", progress=False)
    r = pd.read_csv(tmp_path / "run" / "results.csv")
    assert list(r["train_dataset"]) == ["isi"]
    monkeypatch.setattr(jobs_mod, "_run_job", real)
    again = run_experiment(cfg, tmp_path / "run", progress=False)
    assert again["run"]["n_run_now"] == 1 and len(again["results"]) == 2


def test_cross_test_never_scores_an_image_the_model_trained_on(tmp_path):
    """Two datasets drawn from one collection share images (cxr256's Kermany normals are in
    both of its sets): the cross-dataset test leaves out what the model saw."""
    from cxr_isi.synth import SynthConfig, generate

    m = generate(SynthConfig(preset="balanced", n=48, size=64), tmp_path / "data", jobs=1)
    part = {"name": "part", "manifest": str(m.origin), "filter": [{"source": ["source_A", "source_B"]}],
            "labels": {"positive": ["covid"], "negative": ["normal"]}}
    whole = {**part, "name": "whole", "filter": []}
    cfg = write_config(tmp_path / "overlap.yaml", tiny(datasets=[part, whole], variants=["original"],
                                                       cv={"folds": 0}, cross=[{"train": "part", "test": "whole"}]))
    result = run_experiment(cfg, tmp_path / "run", progress=False)
    r = result["results"]
    cross = r[(r["train_dataset"] == "part") & (r["test_dataset"] == "whole")].iloc[0]
    own = r[(r["train_dataset"] == "whole") & (r["test_dataset"] == "whole")].iloc[0]
    assert cross["left_out_seen_in_training"] > 0
    assert cross["n"] + cross["left_out_seen_in_training"] == own["n"]
    overlap = pd.read_csv(tmp_path / "run" / "datasets" / "whole" / "overlap_with_part.csv")
    assert len(overlap) == 24 and set(overlap["how"]) == {"same file"}  # found before any job, listed
    split = pd.read_csv(tmp_path / "run" / "datasets" / "part" / "manifest.csv")
    trained = set(split.loc[split["split"] != "test", "image_id"])
    assert not trained & set(pd.read_csv(tmp_path / "run" / cross["predictions"])["id"])




def test_one_run_per_folder(tmp_path):
    from cxr_isi._io import file_lock
    from cxr_isi.errors import CxrIsiError

    cfg = write_config(tmp_path / "tiny.yaml", tiny())
    (tmp_path / "run").mkdir()
    with file_lock(tmp_path / "run" / ".lock"):  # as a run in another process holds it
        with pytest.raises(CxrIsiError, match="another cxr-isi run is working in this folder"):
            run_experiment(cfg, tmp_path / "run", progress=False)
    assert not (tmp_path / "run" / "datasets").exists()
