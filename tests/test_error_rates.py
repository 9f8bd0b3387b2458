"""The verdict's error rates (issue 27): the smoke benchmark end to end, and the rates, intervals
and power levels computed from a table whose answer is known."""

import json

import numpy as np
import pandas as pd
import pytest

import cxr_isi as ci
from cxr_isi.studies.error_rates import (
    GEOMETRY,
    NULL_ALIKE,
    NULL_BALANCED,
    SHARE,
    STRENGTH,
    ErrorRatesConfig,
    case_config,
    cases,
    power_level,
    probe_rates,
    rates,
)
from cxr_isi.verdict.dataset import GEOMETRY as GEOMETRY_KIND
from cxr_isi.verdict.dataset import NONE, RULE, SOURCE, thresholds


def test_cases_cover_every_kind_once_per_seed_and_share_the_full_shortcut():
    cfg = ErrorRatesConfig(null_seeds=2, power_seeds=1, geometry_seeds=1, majority_share=[0.9, 1.0],
                           fingerprint_strength=[0.1, 1.0], first_seed=7)
    got = [(c.case, c.level, c.seed) for c in cases(cfg)]
    assert got == [(NULL_BALANCED, 0.5, 7), (NULL_BALANCED, 0.5, 8), (NULL_ALIKE, 0.0, 7), (NULL_ALIKE, 0.0, 8),
                   (GEOMETRY, 0.2, 7), (SHARE, 0.9, 7), (SHARE, 1.0, 7), (STRENGTH, 0.1, 7)]  # strength 1 = share 1
    geometry = case_config(cfg, cases(cfg)[4]).datasets[0].synthetic
    assert (geometry.lung_shrink, geometry.fingerprint_strength, geometry.share) == (0.2, 0.0, 0.5)
    alike = case_config(cfg, cases(cfg)[2]).datasets[0].synthetic
    assert (alike.fingerprint_strength, alike.share) == (0.0, 1.0)


def test_strength_zero_is_refused_as_a_shortcut_level():
    with pytest.raises(ValueError, match="fingerprint strengths of a shortcut"):
        ErrorRatesConfig(fingerprint_strength=[0.0])


def _table():
    rows = []
    for level, right in ((0.6, 0), (0.7, 3), (0.8, 4), (0.9, 5), (1.0, 5)):
        rows += [{"case": SHARE, "level": level, "seed": s, "truth": SOURCE,
                  "verdict": SOURCE if s < right else NONE, "right": s < right} for s in range(5)]
    rows += [{"case": NULL_BALANCED, "level": 0.5, "seed": s, "truth": NONE, "verdict": NONE if s else SOURCE,
              "right": bool(s), "geometry_auc": 0.5, "geometry_ci_low": 0.3 if s else 0.55, "geometry_ci_high": 0.7,
              "geometry_explains": False} for s in range(10)]
    return pd.DataFrame(rows)


def test_rates_count_every_verdict_with_wilson_intervals():
    r = rates(_table())
    null = r[r["case"] == NULL_BALANCED].iloc[0]
    assert (null["seeds"], null["right"], null[SOURCE], null[NONE]) == (10, 9, 1, 9)
    assert null["ci_low"] < 0.9 < null["ci_high"] <= 1.0
    p = probe_rates(_table())
    g = p[(p["case"] == "all nulls") & (p["probe"] == "geometry")].iloc[0]
    assert (g["fires"], g["excludes_chance"], g["seeds"]) == (0, 1, 10)


def test_power_level_and_its_interval():
    p = power_level(rates(_table()), SHARE)
    # 4/5 first reaches 80% at 0.8; its Wilson upper bound reaches 80% from 0.7 (3/5: 88%), the lower from none
    assert p["level"] == 0.8
    assert p["ci_low"] == 0.7
    assert p["ci_high"] is None  # even 5 of 5 has a lower bound of 57%


def test_rule_prints_every_threshold_it_decides_with():
    for name, value in thresholds().items():
        assert f"{value:.2f}" in RULE, name


@pytest.mark.slow
def test_smoke_benchmark_end_to_end(tmp_path):
    """The 3-seed smoke version (`cxr-isi error-rates --smoke`): every case runs and is read by the
    run's own rule; the full shortcut is named every time, null data almost never alarms, the
    geometry leak is named in most seeds; a rerun resumes without training."""
    out = tmp_path / "er"
    result = ci.error_rates(out=out, smoke=True, jobs=2)
    assert len(result.cases) == 12
    by = result.cases.groupby("case")["verdict"]
    assert (by.get_group(SHARE) == SOURCE).all()
    nulls = pd.concat([by.get_group(NULL_BALANCED), by.get_group(NULL_ALIKE)])
    assert (nulls == NONE).sum() >= 5, nulls.tolist()
    assert (by.get_group(GEOMETRY) == GEOMETRY_KIND).sum() >= 2, by.get_group(GEOMETRY).tolist()
    assert result.thresholds == thresholds()
    stored = json.loads((out / "error_rates.json").read_text())
    assert stored["finished"] == 12 and not stored["missing"]
    assert {t["target"] for t in result.targets} >= {"false alarms of the verdict on null data", "geometry leak named"}
    assert (out / "error_rates.png").stat().st_size > 10_000
    assert "| null: sources balanced | 0.5 | 3 |" in (out / "error_rates.md").read_text()
    stamps = {p: p.stat().st_mtime_ns for p in out.glob("cases/*/jobs/*/train/best.pt")}
    assert len(stamps) == 12 * 9
    again = ci.error_rates(out=out, smoke=True, jobs=2)
    assert {p: p.stat().st_mtime_ns for p in out.glob("cases/*/jobs/*/train/best.pt")} == stamps
    assert np.array_equal(again.cases["verdict"].to_numpy(), result.cases["verdict"].to_numpy())


def test_cli_refuses_a_config_without_its_block_or_with_a_bad_value(tmp_path):
    from typer.testing import CliRunner

    from cxr_isi.cli.main import app

    runner = CliRunner()
    y = tmp_path / "c.yaml"
    y.write_text("sweep: {folds: 3}\n")
    r = runner.invoke(app, ["error-rates", "--out", str(tmp_path / "o"), "--config", str(y)])
    assert r.exit_code == 2 and "no error_rates: block" in r.output, r.output
    y.write_text("error_rates: {n: 2}\n")
    r = runner.invoke(app, ["error-rates", "--out", str(tmp_path / "o"), "--config", str(y)])
    lines = r.output.strip().splitlines()
    assert r.exit_code == 2 and "16" in r.output and len(lines) == 1, r.output
    assert not (tmp_path / "o").exists()  # nothing computed, no folder left behind


def test_the_shipped_error_rates_were_measured_with_the_rule_s_thresholds(monkeypatch):
    """The report quotes the shipped benchmark beside the rule; a threshold changed without
    measuring again fails here, and the report says the rates are unknown."""
    from cxr_isi.verdict import error_rates

    shipped = error_rates.measured()
    assert shipped is not None, f"{error_rates.MEASURED} is missing"
    assert shipped["thresholds"] == thresholds()
    sentence = error_rates.measured_sentence()
    assert sentence.startswith("How often this rule is wrong") and "%" in sentence
    assert shipped["seeds"]["null"] >= 20 and shipped["seeds"]["power"] >= 5 and shipped["seeds"]["geometry"] >= 20
    changed = {**shipped, "thresholds": {**shipped["thresholds"], "geometry_auc": 0.6}}
    monkeypatch.setattr(error_rates, "measured", lambda *path: changed)
    assert "geometry_auc 0.6 -> 0.7" in error_rates.measured_sentence()
    assert "unknown" in error_rates.measured_sentence()
