"""The model rule's error-rate benchmark (issue 42, ``benchmarks/model_error_rates.py``): a smoke
version of it (one model of one case), its resume that checks content, and the measured rates
that ship with the rule and are quoted beside it."""

from __future__ import annotations

import json

import pytest

pytest.importorskip("torch")

from benchmarks import model_error_rates as bench  # noqa: E402

from cxr_isi.verdict.error_rates import MODEL_MEASURED, model_measured_sentence  # noqa: E402
from cxr_isi.verdict.kinds import MODEL_KINDS  # noqa: E402
from cxr_isi.verdict.thresholds import model_thresholds  # noqa: E402


@pytest.mark.slow
def test_the_smoke_benchmark_judges_a_plainly_trained_model_and_resumes_only_what_still_hashes_the_same(tmp_path):
    args = [str(tmp_path), "--seeds", "1", "--first-seed", "3", "--cases", "source", "--families",
            "torch small CNN", "--n", "96"]
    s = bench.main(args)
    unit = json.loads(next((tmp_path / "units").glob("*/unit.json")).read_text())
    assert unit["kind"] in MODEL_KINDS and bench.decided_now(unit) == unit["kind"]
    row = next(r for r in s["rows"] if r["case"] == "source" and r["family"] == "all")
    assert row["n"] == 1 and sum(row["counts"].values()) == 1
    assert s["target"]["n"] == 1 and s["target"]["k"] == int(unit["kind"] == "reads the lungs")
    assert s["thresholds"] == model_thresholds()
    page = (tmp_path / "model-error-rates.md").read_text()
    assert "| source (outside the lungs: the source) | torch small CNN | 1 |" in page
    model = tmp_path / "units" / "source__torch_small_cnn__seed3" / "model" / "model.ts"
    stamp = model.stat().st_mtime_ns
    bench.main(args)  # finished: reused, not trained again
    assert model.stat().st_mtime_ns == stamp
    model.write_bytes(model.read_bytes() + b"\0")  # its bytes changed: made again, never passed off as old
    bench.main(args)
    again = json.loads((model.parent.parent / "unit.json").read_text())
    assert again["model_sha256"] == bench._sha256(model) and model.stat().st_mtime_ns != stamp


def test_the_measured_rates_ship_with_the_rule_they_measured_and_meet_the_target():
    """The judge quotes the shipped rates beside its rule; they were measured with today's
    thresholds (a changed threshold makes them unknown until the benchmark runs again)."""
    m = json.loads(MODEL_MEASURED.read_text())
    assert m["thresholds"] == model_thresholds(), "thresholds changed: run benchmarks/model_error_rates.py --write"
    assert m["n_models"] >= 4 * 3 * 10 and min(m["seeds"]["per_case"].values()) >= 10
    t = m["target"]
    assert t["n"] >= 30 and t["rate"] <= t["at_most"]
    sentence = model_measured_sentence()
    assert f"({t['k']} of {t['n']})" in sentence and "unknown" not in sentence


def test_a_changed_threshold_makes_the_quoted_rates_unknown(monkeypatch):
    from cxr_isi.verdict import error_rates

    monkeypatch.setattr(error_rates, "model_thresholds", lambda: {**model_thresholds(), "boxed_out_low": 0.7})
    said = error_rates.model_measured_sentence()
    assert "boxed_out_low 0.75 -> 0.7" in said and "unknown" in said
