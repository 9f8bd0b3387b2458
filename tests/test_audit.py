import numpy as np
import pandas as pd
import pytest
from scipy.stats import chi2_contingency

from cxr_isi.audit import (
    audit_manifest,
    balance_sources,
    cramers_v,
    out_of_fold_rate_scores,
    verdict,
)
from cxr_isi.data import LabelMapping, Manifest
from tests.conftest import manifest_frame


def _audit(plan, per_patient=1, **extra_cols):
    frame = manifest_frame(plan, images_per_patient=per_patient)
    for k, v in extra_cols.items():
        frame[k] = v(frame)
    m = Manifest.from_frame(frame, origin="toy.csv").with_labels(LabelMapping(positive=["covid"]))
    return audit_manifest(m, read_files=False, seed=0)


def test_fully_intra_source_imbalanced():
    r = _audit({"s1": (40, 0), "s2": (30, 0), "s3": (0, 35), "s4": (0, 35)})
    assert r.cramers_v == pytest.approx(1.0)
    assert r.single_class_fraction == 1.0
    assert r.source_only_auc == pytest.approx(1.0)
    assert r.verdict == "severely imbalanced"
    assert "4 of 4 sources give a single class" in r.warnings[0]
    assert r.table.loc["s1", "single_class"] and r.table.loc["s1", "label:covid"] == 40


def test_balanced_sources():
    r = _audit({"s1": (20, 20), "s2": (30, 30), "s3": (25, 25)})
    assert r.cramers_v == pytest.approx(0.0, abs=1e-12)
    assert r.single_class_fraction == 0
    assert r.source_only_auc < 0.6
    assert r.verdict == "balanced"
    assert r.headline().startswith("Intra-source balanced")


def test_partly_imbalanced_and_cramers_v_matches_chi2():
    plan = {"s1": (30, 10), "s2": (10, 30), "s3": (20, 20)}
    r = _audit(plan)
    table = np.array([v for v in plan.values()])
    chi2 = chi2_contingency(table, correction=False)[0]
    assert r.cramers_v == pytest.approx(np.sqrt(chi2 / table.sum()))
    assert r.verdict == "imbalanced"
    assert 0.6 < r.source_only_auc < 0.85


def test_verdict_thresholds():
    assert verdict(0.95, 0.0)[0] == "severely imbalanced"
    assert verdict(0.2, 0.6)[0] == "severely imbalanced"
    assert verdict(0.2, 0.0)[0] == "imbalanced"
    assert verdict(0.05, 0.15)[0] == "imbalanced"
    assert verdict(0.05, 0.05)[0] == "balanced"
    assert cramers_v(np.array(["a"] * 6), np.array([0, 1] * 3)) == 0.0


def test_source_only_scores_are_out_of_fold():
    # two sources, each a single patient: no fold sees the held-out patient's source
    y = np.array([1] * 10 + [0] * 10)
    sources = np.array(["a"] * 10 + ["b"] * 10)
    groups = np.array([f"p{i}" for i in range(20)])
    scores = out_of_fold_rate_scores(sources, y, groups, n_splits=5, seed=0)
    assert scores is not None and np.allclose(scores[:10], 1) and np.allclose(scores[10:], 0)
    # a value unseen in the training folds gets the prior, not its own label
    solo = np.array([f"u{i}" for i in range(20)])
    s2 = out_of_fold_rate_scores(solo, y, groups, n_splits=5, seed=0)
    assert np.all((s2 > 0.3) & (s2 < 0.7))


def test_numeric_acquisition_confounder_is_flagged():
    r = _audit({"h": (60, 60)},
               orig_h=lambda f: np.where(f["label"] == "covid", 2000, 1500)
               + np.arange(len(f)) % 300,
               view=lambda f: ["PA"] * len(f))
    acq = r.acquisition.set_index("property")
    assert r.verdict == "balanced"
    assert acq.loc["orig_h", "flagged"] and acq.loc["orig_h", "auc"] > 0.9
    assert acq.loc["view", "note"] == "constant" and not acq.loc["view", "flagged"]
    assert "orig_h" in r.headline()


def test_categorical_confounder_and_json():
    r = _audit({"s1": (30, 30), "s2": (30, 30)},
               mask_kind=lambda f: np.where(f["label"] == "covid", "manual", "model"))
    d = r.as_dict()
    for key in ("n_images", "n_sources", "cramers_v", "single_class_fraction", "source_only_auc",
                "verdict", "sources", "label_mapping", "acquisition"):
        assert key in d
    assert d["flagged_properties"] == ["mask_kind"]
    assert d["label_mapping"] == {"positive": ["covid"], "negative": None}
    assert {s["source"]: s["n_positive"] for s in d["sources"]} == {"s1": 30, "s2": 30}


def test_balance_gives_balanced_subset_and_is_seeded():
    frame = manifest_frame({"s1": (40, 10), "s2": (5, 25), "s3": (30, 0)})
    m = Manifest.from_frame(frame).with_labels(LabelMapping(positive=["covid"]))
    b = balance_sources(m, seed=0)
    counts = pd.crosstab(b.frame["source"], b.y)
    assert counts.to_dict() == {0: {"s1": 10, "s2": 5}, 1: {"s1": 10, "s2": 5}}
    assert audit_manifest(b, read_files=False).verdict == "balanced"
    assert b.paths == balance_sources(m, seed=0).paths
    assert b.paths != balance_sources(m, seed=1).paths


def test_overlap_of_two_datasets_by_file_bids_session_and_near_identical_image(tmp_path):
    """QaTa-COV19 holds BIMCV+ images under other names: found by subject and session; a
    re-encoded copy is found by its pixels; an unrelated image is not."""
    from cxr_isi.audit import find_overlap
    from cxr_isi.data import Manifest
    from tests.conftest import gradient, write_png

    for i in range(4):
        write_png(tmp_path / f"a/{i}.png", gradient(64, 64, seed=i))
    write_png(tmp_path / "b/bids.png", gradient(64, 64, seed=7))
    from PIL import Image

    Image.open(tmp_path / "a/1.png").resize((80, 80)).save(tmp_path / "b/copy.jpg", quality=90)
    write_png(tmp_path / "b/new.png", gradient(64, 64, seed=9))
    a = Manifest.from_frame(pd.DataFrame({
        "path": [str(tmp_path / f"a/{i}.png") for i in range(4)], "label": "covid", "source": "BIMCV",
        "patient_id": ["bimcv_S1", "bimcv_S2", "bimcv_S3", "bimcv_S4"], "session": ["E1", "E2", "E3", "E4"]}))
    b = Manifest.from_frame(pd.DataFrame({
        "path": [str(tmp_path / "b/bids.png"), str(tmp_path / "b/copy.jpg"), str(tmp_path / "b/new.png"),
                 str(tmp_path / "a/3.png")],
        "label": "covid", "source": ["BIMCV", "qata:covid", "qata:covid", "x"],
        "patient_id": ["bimcv_S1", "q1", "q2", "bimcv_S4"], "session": ["E1", "", "", "E4"]}))
    found = find_overlap(a, b).set_index("path")
    assert set(found.index) == {str(tmp_path / p) for p in ("b/bids.png", "b/copy.jpg", "a/3.png")}
    assert found.loc[str(tmp_path / "b/bids.png"), "how"].startswith("same BIDS subject and session")
    assert found.loc[str(tmp_path / "b/copy.jpg"), "twin"] == str(tmp_path / "a/1.png")
    assert found.loc[str(tmp_path / "a/3.png"), "how"] == "same file"


def test_multi_index_search_finds_the_exact_search_pairs():
    """Random 64-bit hashes with planted near-duplicates at 0 to 9 bits: the multi-index search
    returns exactly the all-pairs search's pairs, for several distances."""
    from cxr_isi.audit.duplicates import candidate_pairs, multi_index_pairs

    rng = np.random.default_rng(3)
    h = rng.integers(0, 2**63, 6000, dtype=np.int64).astype(np.uint64) << np.uint64(1)
    for _ in range(300):
        a, b = rng.integers(0, len(h), 2)
        h[b] = h[a] ^ np.uint64(sum(1 << int(x) for x in rng.choice(64, rng.integers(0, 10), replace=False)))
    for d in (0, 3, 6, 9):
        exact = candidate_pairs(h, d)
        exact = exact[np.lexsort((exact[:, 1], exact[:, 0]))]
        assert np.array_equal(multi_index_pairs(h, d), exact) and len(exact) >= 20, d


def test_grouped_folds_keep_patients_whole_on_both_paths(monkeypatch):
    """Above MANY_PATIENTS the folds come from GroupKFold: still patient-grouped, every row
    tested once, the same folds for the same seed."""
    import cxr_isi.audit.imbalance as imb

    rng = np.random.default_rng(0)
    groups = np.array([f"p{i // 3}" for i in range(600)])
    y = (rng.random(600) < 0.4).astype(int)
    for many in (10_000, 50):
        monkeypatch.setattr(imb, "MANY_PATIENTS", many)
        folds = imb.grouped_folds(y, groups, 5, seed=1)
        tested = np.concatenate([t for _, t in folds])
        assert len(folds) == 5 and sorted(tested) == list(range(600))
        for train, test in folds:
            assert not set(groups[train]) & set(groups[test])
        again = imb.grouped_folds(y, groups, 5, seed=1)
        assert all(np.array_equal(a[1], b[1]) for a, b in zip(folds, again, strict=True))


def test_file_headers_read_from_a_stated_sample_above_the_threshold(tmp_path):
    """Sizes that separate the classes are found from a sample of the headers; the warning says
    how many were read; the sample is fixed by the seed."""
    from tests.conftest import write_png

    rows = []
    for i in range(40):
        label = "covid" if i % 2 else "normal"
        side = 48 if label == "covid" else 32
        rows.append({"path": str(write_png(tmp_path / f"{i}.png", np.full((side, side), i, np.uint8))),
                     "label": label, "source": "h", "patient_id": f"p{i}"})
    m = Manifest.from_frame(pd.DataFrame(rows)).with_labels(LabelMapping(positive=["covid"]))
    runs = [audit_manifest(m, read_files=True, header_sample=16, seed=s) for s in (0, 0, 1)]
    acq = runs[0].acquisition.set_index("property")
    assert acq.loc["width", "n_images"] == 16 and acq.loc["width", "auc"] == 1.0
    assert any("sample of 16 of 40 images (seed 0)" in w for w in runs[0].warnings)
    assert runs[0].acquisition.equals(runs[1].acquisition)
    whole = audit_manifest(m, read_files=True, header_sample=0).acquisition.set_index("property")
    assert whole.loc["width", "n_images"] == 40
    assert not any("sample" in w for w in audit_manifest(m, header_sample=0).warnings)
