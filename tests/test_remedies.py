"""What to do about a shortcut (``cxr-isi remedy``): the remedies' mechanics on data whose answer
is known, the remedy rule on tables whose answer is known, and each bad input as one line with
nothing written. The full known-answer figures (seeds, shares, the balanced control) are the
benchmark's (``benchmarks/remedies_known_answer.py``, docs/guide/remedies.md)."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from cxr_isi.data import LabelMapping, Manifest
from cxr_isi.errors import CxrIsiError
from cxr_isi.verdict import remedy as rule

MAPPING = LabelMapping(positive=["covid"], negative=["normal"])
runner = CliRunner()


def _manifest(tmp_path, cells: dict[tuple[str, str], int], labelled: bool = True) -> Manifest:
    rows = [{"path": str(tmp_path / f"{s}_{label}_{i}.png"), "label": label, "source": s,
             "patient_id": f"{s}{label}{i}"} for (s, label), n in cells.items() for i in range(n)]
    frame = pd.DataFrame(rows)
    frame.to_csv(tmp_path / "m.csv", index=False)
    m = Manifest.read(tmp_path / "m.csv")
    return m.with_labels(MAPPING) if labelled else m


def test_within_source_balance_keeps_the_rarer_class_count_of_each_source(tmp_path):
    from cxr_isi.train.remedies import balance_weights, balance_within_sources

    m = _manifest(tmp_path, {("A", "covid"): 9, ("A", "normal"): 3, ("B", "covid"): 2, ("B", "normal"): 8,
                             ("C", "covid"): 5})
    kept = balance_within_sources(m, seed=1)
    counts = pd.crosstab(kept.frame["source"], kept.frame["label"])
    assert counts.loc["A"].tolist() == [3, 3] and counts.loc["B"].tolist() == [2, 2] and "C" not in counts.index
    assert balance_within_sources(m, seed=1).frame.equals(kept.frame)  # seeded
    w = balance_weights(m, "source")
    frame = m.frame.assign(w=w)
    by = frame.groupby(["source", "label"])["w"].sum()
    assert by[("A", "covid")] == pytest.approx(by[("A", "normal")])
    assert by[("B", "covid")] == pytest.approx(by[("B", "normal")])
    g = balance_weights(m, "group")
    assert np.allclose(frame.assign(g=g).groupby(["source", "label"])["g"].sum(), 1 / 5)
    one = _manifest(tmp_path, {("A", "covid"): 4, ("B", "normal"): 4})
    with pytest.raises(CxrIsiError, match="every source gives a single class"):
        balance_within_sources(one, seed=0)


def test_group_dro_weights_the_worst_group_up():
    import torch

    from cxr_isi.train.remedies import GroupDRO

    dro = GroupDRO(3, step=0.5, device="cpu")
    losses = torch.tensor([0.1, 0.1, 2.0, 2.0])
    groups = torch.tensor([0, 0, 2, 2])
    for _ in range(5):
        dro.loss(losses, groups)
    q = dro.q.numpy()
    assert q[2] > q[0] > 0 and q[1] > 0 and q.sum() == pytest.approx(1.0)
    assert q[2] / q[0] == pytest.approx(np.exp(5 * 0.5 * (2.0 - 0.1)), rel=1e-4)  # eq. 4, five steps
    loss = dro.loss(losses, groups)
    assert float(loss) == pytest.approx(float(dro.q[0] * 0.1 + dro.q[2] * 2.0), rel=1e-5)


def test_dfr_refit_reads_the_feature_that_holds_within_every_group():
    """Feature 0 is the source (it predicts the label where sources are imbalanced), feature 1 the
    disease: refitted on group-balanced data the head weighs the disease, not the source."""
    from cxr_isi.train.remedies import refit_head

    rng = np.random.default_rng(0)
    rows = []
    for source, share in ((0, 0.9), (1, 0.1)):
        for _ in range(200):
            y = int(rng.random() < share)
            rows.append((source + rng.normal(0, 0.1), y + rng.normal(0, 0.8), y, source * 2 + y))
    f = np.array([[a, b] for a, b, _, _ in rows])
    y = np.array([r[2] for r in rows])
    g = np.array([r[3] for r in rows])
    head = refit_head(f, y, g, seed=0)
    assert head["n_groups"] == 4 and head["n_images"] == 4 * head["per_group"]
    assert abs(head["weight"][1]) > 3 * abs(head["weight"][0]), head["weight"]


def _row(remedy, measure, value, diff=None, low=None, high=None, ci=(None, None)):
    return {"remedy": remedy, "measure": measure, "test": measure, "value": value, "ci_low": ci[0],
            "ci_high": ci[1], "n": 1, "images": 100, "diff": diff, "diff_low": low, "diff_high": high}


def test_the_remedy_rule_names_the_best_remedy_or_says_why_none_helped():
    table = [_row("plain", "ext", 0.62, ci=(0.55, 0.69)), _row("balance", "ext", 0.71, 0.09, 0.03, 0.15),
             _row("dfr", "ext", 0.75, 0.13, 0.05, 0.21), _row("group_dro", "ext", 0.55, -0.07, -0.12, -0.02),
             _row("plain", "loso", 0.6)]
    d = rule.decide(table, ["ext"], ["A"])
    assert (d.kind, d.what) == (rule.HELPED, "dfr") and "+0.13" in d.reason and "group_dro" in d.reason  # harmful
    wide = [_row("plain", "loso", 0.62), _row("balance", "loso", 0.7, 0.08, -0.05, 0.21)]
    d = rule.decide(wide, [], ["A", "B"])
    assert d.kind == rule.NONE_HELPED and d.what is None and "reach 0" in d.reason
    good = [_row("plain", "ext", 0.9), _row("balance", "ext", 0.91, 0.01, -0.02, 0.04)]
    assert "already transfers" in rule.decide(good, ["ext"], []).reason
    assert rule.decide([_row("plain", "home", 0.9)], [], []).kind == rule.NOT_MEASURED
    worse = [_row("plain", "external", 0.75), _row("lungs_only", "external", 0.53, -0.22, -0.37, -0.07)]
    d = rule.decide(worse, ["external"], [])
    assert d.kind == rule.NONE_HELPED and "lowered it, each with its interval below 0" in d.reason
    assert "reach 0" not in d.reason and "external set external" not in d.reason
    reversed_there = [_row("plain", "external", 0.25, ci=(0.21, 0.28)),
                      _row("lungs_only", "external", 0.33, 0.08, 0.05, 0.11, ci=(0.29, 0.36))]
    d = rule.decide(reversed_there, ["external"], [])  # a gain that leaves it below chance fixes nothing
    assert d.kind == rule.NONE_HELPED and d.what is None and "still below chance" in d.reason, d.reason


def test_an_external_set_with_one_class_or_other_labels_is_one_line(tmp_path):
    from cxr_isi.remedies import check_external

    _manifest(tmp_path, {("A", "covid"): 3})
    with pytest.raises(CxrIsiError) as err:
        check_external(tmp_path / "m.csv", MAPPING)
    assert "negative" in str(err.value) and "\n" not in str(err.value)
    _manifest(tmp_path, {("A", "covid"): 3, ("A", "pneumonia"): 3, ("A", "normal"): 2}, labelled=False)
    with pytest.raises(CxrIsiError, match="not trained on"):
        check_external(tmp_path / "m.csv", MAPPING)
    _manifest(tmp_path, {("A", "tb"): 3, ("A", "normal"): 3}, labelled=False)
    with pytest.raises(CxrIsiError, match="positive"):
        check_external(tmp_path / "m.csv", MAPPING)


@pytest.fixture(scope="module")
def phantoms(tmp_path_factory):
    from cxr_isi.synth import SynthConfig, generate

    root = tmp_path_factory.mktemp("remedies")
    generate(SynthConfig(preset="isi", majority_share=0.8, n=96, size=64, seed=0), root / "home", jobs=1)
    generate(SynthConfig(preset="isi", n=64, size=64, seed=1), root / "isi", jobs=1)
    generate(SynthConfig(preset="balanced", n=64, size=64, seed=1000), root / "ext", jobs=1)
    return root


def test_bad_input_to_remedy_is_one_line_and_writes_nothing(phantoms, tmp_path):
    from cxr_isi.cli.main import app

    home, ext = str(phantoms / "home" / "manifest.csv"), str(phantoms / "ext" / "manifest.csv")
    cases = [
        ([home, "-p", "covid", "--remedies", "balance,magic"], "unknown remedy 'magic'"),
        ([str(phantoms / "isi" / "manifest.csv"), "-p", "covid"], "no source gives both classes"),
        ([home, "-p", "tb"], "positive label"),
    ]
    for args, said in cases:
        out = tmp_path / "out"
        r = runner.invoke(app, ["remedy", *args, "--out", str(out), "--epochs", "1", "--size", "64"])
        assert r.exit_code == 2 and said in r.output and len(r.output.strip().splitlines()) == 1, r.output
        assert not out.exists(), args
    one_class = tmp_path / "one.csv"
    frame = pd.read_csv(ext)
    frame[frame["label"] == "covid"].to_csv(one_class, index=False)
    r = runner.invoke(app, ["remedy", home, "-p", "covid", "--external", str(one_class), "--out", str(tmp_path / "o2")])
    assert r.exit_code == 2 and "one class" in r.output and len(r.output.strip().splitlines()) == 1, r.output
    assert not (tmp_path / "o2").exists()


@pytest.mark.slow
def test_remedy_runs_each_remedy_beside_plain_and_measures_it_elsewhere(phantoms, tmp_path):
    """Two remedies at the smallest size: every measure of the table is there with its interval
    and its paired difference, LOSO leaves out each source that gives both classes, the report
    has its 'What to do' section, and a rerun reads what is finished (same numbers)."""
    import cxr_isi as ci

    out = tmp_path / "r"
    result = ci.remedy(phantoms / "home" / "manifest.csv", positive="covid", out=out,
                       external=phantoms / "ext" / "manifest.csv", remedies=["balance", "dfr"], size=64, epochs=2,
                       loso_min_per_class=3)
    t = result.table
    assert list(dict.fromkeys(t["remedy"])) == ["plain", "balance", "dfr"]
    assert set(t["measure"]) == {"home", "boxed_out", "external", "loso"}
    ext = t[t["measure"] == "external"]
    assert (ext["images"] == 64).all()  # the external set is scored whole
    assert ext["ci_low"].notna().all() and t[t["remedy"] != "plain"]["diff_low"].notna().all()
    assert result.kind in rule.KINDS and result.sentence
    summary = json.loads((out / "summary.json").read_text())
    remedies = summary["datasets"]["home"]["remedies"]
    assert remedies["sources_left_out"] and remedies["rule"] == rule.RULE
    page = (out / "report.html").read_text()
    assert "What to do" in page and "AUC elsewhere by remedy" in page
    again = ci.remedy(phantoms / "home" / "manifest.csv", positive="covid", out=out,
                      external=phantoms / "ext" / "manifest.csv", remedies=["balance", "dfr"], size=64, epochs=2,
                      loso_min_per_class=3)
    pd.testing.assert_frame_equal(again.table, result.table)


@pytest.mark.parametrize("settings", [{"source_balance": "subsample"}, {"source_balance": "weight"},
                                      {"group_robust": "dro"}, {"group_robust": "sampling"}, {"last_layer": "dfr"}],
                         ids=["subsample", "weight", "dro", "sampling", "dfr"])
def test_every_training_remedy_trains_and_leaves_its_mark(phantoms, tmp_path, settings):
    """Each remedy's training path on tiny phantoms: it trains, scores, and records what it did
    (the subsample's smaller training set, DFR's refit); the same seed gives the same numbers."""
    pytest.importorskip("torch")
    from cxr_isi.train import TrainConfig
    from cxr_isi.train.loop import fit

    m = Manifest.read(phantoms / "home" / "manifest.csv").with_labels(MAPPING)
    cfg = TrainConfig(model="small_cnn", size=32, epochs=2, batch_size=16, patience=2, **settings)
    first = fit(m, cfg, tmp_path / "a", progress=False)
    again = fit(m, cfg, tmp_path / "b", progress=False)
    assert first["val_auc"] == again["val_auc"] and first["n_train"] == again["n_train"]
    plain = TrainConfig(model="small_cnn", size=32, epochs=2, batch_size=16, patience=2)
    assert cfg.settings_json() != plain.settings_json() and "source_balance" not in plain.settings_json()
    if settings.get("source_balance") == "subsample":
        assert first["n_train"] < len(m) * 0.7  # the majority's extra images are left out
    if settings.get("last_layer") == "dfr":
        assert first["dfr"]["n_groups"] >= 2 and first["dfr"]["fitted_on"]
