"""Faults a hostile-but-honest user hits: each gets one line naming the file and the problem,
and nothing already computed is lost."""

import json

import pandas as pd
import pytest
from typer.testing import CliRunner

from cxr_isi.cli.main import app
from cxr_isi.data import Manifest
from cxr_isi.errors import ManifestError
from tests.conftest import gradient, write_png

runner = CliRunner()


@pytest.fixture
def toy(tmp_path):
    rows = []
    for i in range(40):
        write_png(tmp_path / f"img/{i}.png", gradient(32, 30, seed=i))
        rows.append({"path": f"img/{i}.png", "label": "covid" if (i // 4) % 2 else "normal", "source": f"s{i % 4}",
                     "patient_id": f"p{i}"})
    pd.DataFrame(rows).to_csv(tmp_path / "m.csv", index=False)
    return tmp_path


def _one_line_error(r, *words):
    assert r.exit_code == 2, r.output
    assert "Traceback" not in r.output and "error:" in r.output, r.output
    text = " ".join(r.output[r.output.index("error:"):].split())  # the error ends the output (what came
    # before it, e.g. the audit's tables, was computed and shown)
    for w in words:
        assert w in text, (w, r.output)


def test_duplicate_paths_name_the_pair(toy):
    m = pd.read_csv(toy / "m.csv")
    m.loc[40] = m.loc[0]  # row 41 repeats row 1, row 2 is unique
    m.to_csv(toy / "dup.csv", index=False)
    with pytest.raises(ManifestError, match=r"rows 1 and 41: duplicate path"):
        Manifest.read(toy / "dup.csv")


def test_a_positive_label_that_matches_nothing_is_named(toy):
    r = runner.invoke(app, ["audit", str(toy / "m.csv"), "-p", "COVID", "--no-files"])
    _one_line_error(r, "['COVID']", "covid", "case-sensitive")


def test_two_labels_with_a_conventional_negative_need_no_option(toy):
    r = runner.invoke(app, ["audit", str(toy / "m.csv"), "--no-files", "--json", str(toy / "a.json")])
    assert r.exit_code == 0, r.output
    assert json.loads((toy / "a.json").read_text())["label_mapping"] == {"positive": ["covid"], "negative": ["normal"]}


@pytest.mark.parametrize("where, words", [
    ("a_folder", ["is a folder, not a file"]),
    ("a_file/under", ["a part of this path is a file"]),
])
def test_output_path_mistakes_are_one_line(toy, where, words):
    (toy / "a_folder").mkdir()
    (toy / "a_file").write_text("x")
    for args in (["split", str(toy / "m.csv"), "-p", "covid", "--out", str(toy / where)],
                 ["balance", str(toy / "m.csv"), "-p", "covid", "--out", str(toy / where)],
                 ["audit", str(toy / "m.csv"), "-p", "covid", "--no-files", "--json", str(toy / where)]):
        _one_line_error(runner.invoke(app, args), *words)


def test_an_empty_job_record_reruns_the_job(tmp_path):
    from cxr_isi.experiments.runfolder import RunFolder

    run = RunFolder(tmp_path)
    (tmp_path / "jobs" / "j1").mkdir(parents=True)
    (tmp_path / "jobs" / "j1" / "job.json").write_text("")
    assert run.job_record("j1") is None  # unfinished: the runner trains it again
    (tmp_path / "jobs" / "j1" / "job.json").write_text('{"train_metrics": {}}')
    assert run.job_record("j1") == {"train_metrics": {}}


def test_synth_refuses_a_folder_holding_a_dataset(tmp_path):
    args = ["synth", "--preset", "isi", "--n", "8", "--size", "32", "--out", str(tmp_path / "d")]
    assert runner.invoke(app, args).exit_code == 0
    before = (tmp_path / "d" / "manifest.csv").read_bytes()
    _one_line_error(runner.invoke(app, [*args[:4], "4", *args[5:]]), "not empty", "--overwrite")
    assert (tmp_path / "d" / "manifest.csv").read_bytes() == before  # the earlier dataset is intact
    r = runner.invoke(app, [*args[:4], "4", *args[5:], "--overwrite"])
    assert r.exit_code == 0 and len(pd.read_csv(tmp_path / "d" / "manifest.csv")) == 4
    assert len(list((tmp_path / "d").rglob("*.png"))) == 8  # 4 images and 4 masks, nothing left over


def test_no_command_overwrites_its_input_manifest(tmp_path):
    from cxr_isi.synth import SynthConfig, generate

    generate(SynthConfig(preset="isi", n=4, size=32), tmp_path / "d", jobs=1)
    before = (tmp_path / "d" / "manifest.csv").read_bytes()
    r = runner.invoke(app, ["lungs", "segment", str(tmp_path / "d" / "manifest.csv"), "--out", str(tmp_path / "d")])
    _one_line_error(r, "is the input manifest")
    assert (tmp_path / "d" / "manifest.csv").read_bytes() == before


def test_explain_refuses_n_zero(tmp_path):
    r = runner.invoke(app, ["explain", "--checkpoint", str(tmp_path / "x.pt"), "--manifest", str(tmp_path / "m.csv"),
                            "--method", "gradcam", "--n", "0", "--out", str(tmp_path / "o")])
    assert r.exit_code == 2 and "--n" in r.output


@pytest.mark.slow
def test_an_unreadable_image_is_left_out_of_the_study_and_listed(tmp_path):
    """One truncated PNG among the phantoms: every job runs on the rest, the image is listed with
    its reason in RUN/excluded.csv and the report, nothing blames its lung mask."""
    from cxr_isi.experiments.runner import run_experiment
    from cxr_isi.report.html import write_report
    from cxr_isi.synth import SynthConfig, generate
    from tests.grids import tiny, write_config

    m = generate(SynthConfig(preset="isi", n=40, size=64, seed=0), tmp_path / "data", jobs=1)
    broken = m.frame["path"].iloc[3]
    data = open(broken, "rb").read()
    open(broken, "wb").write(data[: len(data) // 3])
    ds = {"name": "isi", "manifest": str(m.origin), "labels": {"positive": ["covid"], "negative": ["normal"]}}
    cfg = write_config(tmp_path / "t.yaml", tiny(datasets=[ds], cross=[], cv={"folds": 0},
                                                  variants=["original", "lungs_boxed_out"]))
    run_experiment(cfg, tmp_path / "run", progress=False)
    excluded = pd.read_csv(tmp_path / "run" / "excluded.csv")
    assert list(excluded["path"]) == [broken] and "unreadable" in excluded["reason"].iloc[0]
    results = pd.read_csv(tmp_path / "run" / "results.csv")
    assert len(results) == 2 and results["auc"].notna().all()
    assert "Images left out (1)" in write_report(tmp_path / "run")["report"].read_text()
