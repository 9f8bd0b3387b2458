"""The verdict's own room: both rules read plain evidence and return a Decision (kind, reason,
the evidence read); their thresholds are listed in one place and are the ones their texts state."""

import pytest

from cxr_isi.verdict import dataset, model
from cxr_isi.verdict.kinds import (
    INCONCLUSIVE,
    KINDS,
    MODEL_KINDS,
    NONE,
    READS_BOTH,
    READS_LUNGS,
    READS_OUTSIDE,
    SOURCE,
    Decision,
)
from cxr_isi.verdict.thresholds import dataset_thresholds, model_thresholds


def _auc(auc, low, high, where="5-fold mean"):
    return {"auc": auc, "ci_low": low, "ci_high": high, "from": where}


@pytest.mark.parametrize("boxed, fixed, audit, kind", [
    (_auc(0.95, 0.9, 0.99), _auc(0.93, 0.88, 0.97), {"verdict": "severely imbalanced"}, SOURCE),
    (_auc(0.55, 0.45, 0.65), _auc(0.5, 0.4, 0.6), {"verdict": "balanced"}, NONE),
    (_auc(0.75, 0.50, 0.95), _auc(0.7, 0.5, 0.9), {"verdict": "balanced"}, INCONCLUSIVE),
])
def test_the_dataset_rule_decides_from_plain_evidence(boxed, fixed, audit, kind):
    d = dataset.decide(boxed, fixed, audit, {})
    assert isinstance(d, Decision) and d.kind == kind and d.kind in KINDS
    assert (d.kind, d.reason) == dataset.verdict_kind(boxed, fixed, audit, {})
    assert d.strength == dataset.verdict_for(boxed["auc"], boxed["ci_low"])
    assert d.evidence[0]["probe"] == "lungs_boxed_out" and d.evidence[0]["figure"] == boxed["auc"]
    assert d.evidence[1]["probe"] == "fixed_box" and d.evidence[1]["ci_low"] == fixed["ci_low"]


def test_the_model_rule_decides_from_plain_evidence():
    auc = {"original": _auc(0.95, 0.9, 0.99), "lungs_boxed_out": _auc(0.93, 0.85, 0.98),
           "lungs_boxed_out_fixed_box": _auc(0.92, 0.84, 0.97)}
    d = model.decide(auc, None, True, {}, [{"probe": "auc_original", "figure": 0.95}])
    assert (d.kind, d.what) == (READS_OUTSIDE, "the source") and d.kind in MODEL_KINDS
    assert d.evidence == [{"probe": "auc_original", "figure": 0.95}]
    chance = {**auc, "lungs_boxed_out": _auc(0.5, 0.4, 0.6), "lungs_boxed_out_fixed_box": _auc(0.52, 0.41, 0.63)}
    maps = {"occlusion": {"n": 8, "inside_share": 0.6, "ci_low": 0.5, "ci_high": 0.7, "lung_area_share": 0.3}}
    lungs = model.decide(chance, None, False, maps)
    assert lungs.kind == READS_LUNGS and "not above chance (every interval holds 0.5" in lungs.reason
    # issue #42: the fixed box still above chance is read, not left out: the model reads both
    both = model.decide({**chance, "lungs_boxed_out_fixed_box": _auc(0.80, 0.66, 0.94)}, None, False, maps)
    assert both.kind == READS_BOTH and both.what == "the frame" and "fixed box 0.80 (95% CI 0.66-0.94)" in both.reason
    assert "not above chance" not in both.reason
    weak = {**auc, "original": _auc(0.6, 0.45, 0.75)}
    assert model.decide(weak, None, True, maps).kind == INCONCLUSIVE


def test_each_rule_states_the_thresholds_it_decides_with():
    for value in dataset_thresholds().values():
        assert f"{value:.2f}" in dataset.RULE, value
    for key in ("separates_low", "boxed_out_low", "split_by_class_v", "swap_source_shift",
                "swap_source_gap"):
        assert f"{model_thresholds()[key]:g}" in model.RULE, key
    assert dataset.thresholds() == dataset_thresholds() and model.thresholds() == model_thresholds()
