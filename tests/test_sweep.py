"""The dose-response sweep on tiny phantoms: the boxed-out AUC rises with the imbalance, the
audit's figures rise with it, and the files, the figure and the crossing are written."""

import pandas as pd
import pytest
import yaml
from typer.testing import CliRunner

pytest.importorskip("torch")
from cxr_isi.cli.main import app  # noqa: E402
from tests.grids import tiny  # noqa: E402


@pytest.fixture(scope="module")
def swept(tmp_path_factory):
    root = tmp_path_factory.mktemp("sweep")
    base = tiny(train={"size": 48, "epochs": 6, "patience": 6, "batch_size": 8, "threads": 1})
    base["datasets"] = [{"name": "ph", "synthetic": {"preset": "isi", "n": 48, "size": 64, "seed": 0}}]
    base["cross"] = []
    (root / "base.yaml").write_text(yaml.safe_dump(base))
    (root / "sweep.yaml").write_text(yaml.safe_dump({"sweep": {
        "majority_share": [0.5, 1.0], "fingerprint_strength": [1.0], "folds": 3, "base": "base.yaml"}}))
    result = CliRunner().invoke(app, ["sweep", "--config", str(root / "sweep.yaml"), "--out", str(root / "out")])
    assert result.exit_code == 0, result.output
    return root / "out", result.output


@pytest.mark.slow
def test_the_boxed_out_auc_follows_the_imbalance(swept):
    out, output = swept
    sweep = pd.read_csv(out / "sweep.csv")
    assert list(sweep.columns) == ["axis", "level", "variant", "test", "fold", "auc"]
    share = sweep[sweep["axis"] == "majority_share"]
    # two levels x (original, boxed out, the cross test on the balanced phantom) x three folds (with
    # two, a t interval over folds spans 0-1 unless both agree: the verdict would be inconclusive)
    assert len(share) == 18 and set(share["test"]) == {"own", "balanced"}
    boxed = share[(share["variant"] == "lungs_boxed_out")].groupby("level")["auc"].mean()
    assert boxed[1.0] > boxed[0.5] + 0.25 and boxed[1.0] > 0.8
    # the strength axis's 1.0 is the share axis's 1.0: the same runs, reported on both axes
    strength = sweep[sweep["axis"] == "fingerprint_strength"]
    assert (strength["auc"].to_numpy() == share[share["level"] == 1.0]["auc"].to_numpy()).all()
    audit = pd.read_csv(out / "sweep_audit.csv").set_index(["axis", "level"])
    assert audit.loc[("majority_share", 1.0), "cramers_v"] == pytest.approx(1.0)
    assert audit.loc[("majority_share", 0.5), "cramers_v"] < 0.2
    summary = pd.read_csv(out / "sweep_summary.csv").set_index(["axis", "level"])
    assert summary.loc[("majority_share", 1.0), "verdict"] == "shortcut"
    assert summary.loc[("majority_share", 0.5), "verdict"] != "shortcut"
    assert "majority share: the verdict turns shortcut" in output.replace("\n", " ")
    assert (out / "sweep.png").stat().st_size > 10_000 and (out / "sweep.svg").is_file()
    assert sorted(p.name for p in (out / "levels").iterdir()) == ["majority_share_0.5", "majority_share_1"]


@pytest.mark.slow
def test_a_finished_sweep_resumes_to_the_same_numbers(swept, tmp_path):
    out, _ = swept
    before = pd.read_csv(out / "sweep.csv")
    again = CliRunner().invoke(app, ["sweep", "--config", str(out.parent / "sweep.yaml"), "--out", str(out)])
    assert again.exit_code == 0, again.output
    pd.testing.assert_frame_equal(before, pd.read_csv(out / "sweep.csv"))


def test_sweep_refuses_bad_levels_in_one_line(tmp_path):
    runner = CliRunner()
    bad = runner.invoke(app, ["sweep", "--majority-share", "0.3", "--out", str(tmp_path / "o")])
    assert bad.exit_code != 0 and "outside [0.5, 1]" in bad.output
    none = runner.invoke(app, ["sweep", "--out", str(tmp_path / "o2")])
    assert none.exit_code != 0 and "needs levels" in none.output
    assert "Traceback" not in bad.output + none.output
