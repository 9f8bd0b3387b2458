"""What will it score elsewhere? The external-AUC estimate: its leave-one-pair-out discipline (a
pair's estimate never sees its own external AUC), PEst as published, and the smoke benchmark
end to end (phantom pairs trained, tested elsewhere, read back)."""

import json

import numpy as np
import pandas as pd
import pytest

from cxr_isi.evaluate import external as est
from cxr_isi.probes.pest import pest


def _pairs(n: int = 12, seed: int = 0) -> pd.DataFrame:
    """Pairs whose external AUC follows the line of the estimate's form, with noise."""
    rng = np.random.default_rng(seed)
    internal = rng.uniform(0.8, 1.0, n)
    fixed = rng.uniform(0.5, 1.0, n)
    acq = rng.uniform(0.5, 0.9, n)
    external = np.clip(0.2 + 0.7 * internal - 0.5 * (fixed - 0.5) - 0.1 * (acq - 0.5) + rng.normal(0, 0.02, n), 0, 1)
    return pd.DataFrame({"internal": internal, "fixed_box": fixed, "acquisition": acq, "external": external},
                        index=[f"p{i}" for i in range(n)])


def test_a_pair_s_estimate_and_interval_never_see_its_own_external_auc():
    pairs = _pairs()
    before = est.leave_one_pair_out(pairs)
    for i in range(len(pairs)):
        changed = pairs.copy()
        changed.iloc[i, changed.columns.get_loc("external")] = 1.0 - changed["external"].iloc[i]
        after = est.leave_one_pair_out(changed)
        assert after.iloc[i].to_dict() == pytest.approx(before.iloc[i].to_dict()), i
        others = [j for j in range(len(pairs)) if j != i]
        assert not np.allclose(after.iloc[others]["estimate"], before.iloc[others]["estimate"])


def test_the_line_recovers_a_known_one_and_its_interval_covers():
    pairs = _pairs(40, seed=1)
    coef = est.fit(pairs)
    assert coef == pytest.approx([0.2, 0.7, -0.5, -0.1], abs=0.1)
    lopo = est.leave_one_pair_out(pairs)
    joined = pairs.join(lopo)
    errors = est.errors(joined, "estimate", "ci_low", "ci_high")
    assert errors["mae"] < 0.03 and errors["coverage"] >= 0.85
    model = est.shipped_model(pairs)
    e = est.estimate(model, 0.95, 0.9, 0.6)
    assert e["ci_low"] < e["estimate"] < e["ci_high"] and e["ci_high"] - e["ci_low"] == pytest.approx(
        2 * model["half_width"], abs=1e-9)
    assert est.estimate(model, 0.95, float("nan"), 0.6) is None
    assert "fitted on 40 pairs" in est.formula(model)
    with pytest.raises(ValueError, match="at least"):
        est.leave_one_pair_out(pairs.head(4))


def test_pest_is_the_published_formula():
    p = pest({"auc": 0.95, "se": 0.01}, {"auc": 0.70, "se": 0.02})
    assert p["estimate"] == pytest.approx(0.95 - 0.70 + 0.5)
    assert p["ci_low"] < p["estimate"] < p["ci_high"]


@pytest.mark.slow
def test_smoke_benchmark_end_to_end(tmp_path):
    """Six tiny phantom pairs trained at home and tested elsewhere (their figures are too noisy to
    mean anything: the mechanics are checked); every figure read back, each pair's estimate by
    leave-one-pair-out, the line and the tables written."""
    pytest.importorskip("torch")
    import cxr_isi as ci
    from cxr_isi.studies.external import pairs, smoke_config

    result = ci.external(out=tmp_path, smoke=True, jobs=2)  # the API, as cxr-isi external --smoke
    table = pd.read_csv(tmp_path / "external_pairs.csv")
    assert len(table) == len(result.pairs) == len(pairs(smoke_config())) == 6
    for col in ("internal", "fixed_box", "acquisition", "shuffled", "external", "pest", "estimate"):
        assert table[col].notna().all(), col
    assert ((table["ci_low"] <= table["estimate"]) & (table["estimate"] <= table["ci_high"])).all()
    assert result.model["pairs"] == 6 and result.errors["all"]["this estimate"]["n"] == 6
    assert (tmp_path / "external.md").read_text().count("| ") > 10
    # leave-one-pair-out on the benchmark's own table: altering a pair's external AUC leaves its estimate
    usable = table.set_index("pair")[[*est.FEATURES, "external"]]
    base = est.leave_one_pair_out(usable)
    changed = usable.copy()
    changed.loc["majority_share_1_seed0", "external"] = 0.99
    assert est.leave_one_pair_out(changed).loc["majority_share_1_seed0"].to_dict() == pytest.approx(
        base.loc["majority_share_1_seed0"].to_dict())
    json.loads((tmp_path / "external.json").read_text())


def test_a_run_s_summary_carries_the_shipped_estimate_beside_pest(monkeypatch):
    """The line shipped with this version, on a run's figures at home (results.csv rows), gives
    the expected AUC elsewhere with its interval, PEst beside it where its model ran."""
    from cxr_isi.study.elsewhere import estimate_for, sentence, shipped

    model = shipped()
    assert model is not None and model["pairs"] >= 30 and set(model["coefficients"]) == {"intercept", *est.FEATURES}

    def row(variant, auc, test="d"):
        return {"protocol": "split", "train_dataset": "d", "test_dataset": test, "variant": variant, "auc": auc,
                "auc_se": 0.01, "auc_ci_low": auc - 0.02, "auc_ci_high": min(1.0, auc + 0.02), "n": 100}

    results = pd.DataFrame([row("original", 0.99), row("lungs_boxed_out_fixed_box", 0.95),
                            row("lungs_boxed_out_fixed_box_blocks16", 0.9), row("original_blocks64", 0.8)])
    e = estimate_for(results, "d", 64)
    line = e["line"]
    assert line["ci_low"] <= line["estimate"] <= line["ci_high"] and e["internal"] == 0.99
    assert e["pest"]["estimate"] == pytest.approx(0.99 - 0.8 + 0.5)
    # the shipped line's interval is about +/- 0.6: it says nothing, so no number is shown
    assert model["half_width"] > 0.15 and e["status"] == "unknown" and e["estimate"] is None
    text = sentence(e)
    assert text.startswith("expected AUC on data from elsewhere: unknown (") and "measured at home 0.99" in text
    assert "carries no information" in text and f"{line['ci_low']:.2f}" in text
    narrow = {**model, "half_width": 0.1}
    monkeypatch.setattr("cxr_isi.study.elsewhere.shipped", lambda: narrow)
    e = estimate_for(results, "d", 64)
    assert e["status"] == "estimated" and e["ci_low"] <= e["estimate"] <= e["ci_high"]
    assert sentence(e).startswith(f"expected AUC on data from elsewhere: {e['estimate']:.2f} (95% interval")
    assert estimate_for(results[results["variant"] != "lungs_boxed_out_fixed_box"], "d", 64) is None
