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
