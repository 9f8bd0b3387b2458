"""Acceptance checks on the real cxr256 collection (skipped with a reason when it is absent)."""

from pathlib import Path

import pandas as pd
import pytest

from cxr_isi.audit import audit_manifest, balance_sources, find_near_duplicates
from cxr_isi.data import LabelMapping, Manifest, parse_where
from cxr_isi.data.importers import run_importer
from cxr_isi.data.spec import DatasetSpec

pytestmark = pytest.mark.realdata
CONFIGS = Path(__file__).resolve().parents[1] / "configs" / "datasets"


def _spec(name, cxr256):
    spec = DatasetSpec.from_yaml(CONFIGS / f"{name}.yaml")
    return spec.model_copy(update={"manifest": cxr256 / "manifest.csv"})


def test_isi_subset_is_severely_imbalanced(cxr256):
    r = audit_manifest(_spec("cxr256_isi", cxr256).load())
    assert r.verdict == "severely imbalanced"
    assert r.cramers_v > 0.9 and r.single_class_fraction == 1.0
    assert r.source_only_auc > 0.95
    assert r.n_images == 427 + 35 + 400 - 0  # ieee8023 + figure1 covid, kermany normal


def test_kermany_subset_is_balanced_and_its_size_confounder_flagged(cxr256):
    r = audit_manifest(_spec("cxr256_balanced", cxr256).load())
    assert r.verdict == "balanced" and r.n_sources == 1
    acq = r.acquisition.set_index("property")
    assert acq.loc["orig_h", "flagged"]
    assert abs(acq.loc["orig_h", "auc"] - 0.5) > 0.4  # about 0.94 separation, either direction
    assert acq.loc["width", "note"] == "constant"  # the files themselves are all 256 x 256
    assert "orig_h" in r.headline()


def test_near_duplicates_found(cxr256):
    m = Manifest.read(cxr256 / "manifest.csv")
    pairs, failures = find_near_duplicates(m)
    assert failures == []
    known = pd.read_csv(cxr256 / "near_duplicates.csv")
    key = {frozenset((str(cxr256 / a), str(cxr256 / b))) for a, b in zip(known.path_a, known.path_b, strict=True)}
    found = {frozenset((a, b)) for a, b in zip(pairs.path_a, pairs.path_b, strict=True)}
    assert len(key & found) >= 7
    assert len(found - key) <= 20
    kermany_covid = pairs[pairs["path_a"].str.contains("COVID-00020") | pairs["path_b"].str.contains("COVID-00020")]
    assert kermany_covid["label_conflict"].any() and kermany_covid["across_sources"].any()


def test_covid_chestxray_importer_reproduces_the_manifest(cxr256, tmp_path):
    ref = pd.read_csv(cxr256 / "manifest.csv", dtype=str, keep_default_na=False)
    ref = ref[(ref["dataset"] == "ieee8023") & ~ref["origin"].str.contains("github.com")]
    meta = pd.DataFrame({
        "patientid": ref["patient_id"].str.removeprefix("ieee8023_"), "finding": ref["orig_label"],
        "view": ref["view"], "modality": "X-ray", "folder": "images/ieee8023",
        "filename": ref["path"].str.rsplit("/", n=1).str[-1], "url": ref["origin"],
    })
    meta.to_csv(tmp_path / "metadata.csv", index=False)
    (tmp_path / "images").symlink_to(cxr256 / "images")
    m = run_importer("covid-chestxray", tmp_path)
    # the collection's own labels, but ARDS alone: a syndrome, not a pneumonia (#17)
    expected = ref["label"].where(ref["orig_label"] != "ARDS", "other")
    assert m.frame["label"].tolist() == expected.tolist() and (expected == "other").sum() == 4
    assert m.frame["source"].tolist() == ref["source"].tolist()
    assert m.frame["patient_id"].tolist() == ref["patient_id"].tolist()
    m.check_files()


def test_generic_csv_importer_on_the_manifest(cxr256):
    m = run_importer("csv", cxr256 / "manifest.csv")
    ref = Manifest.read(cxr256 / "manifest.csv")
    assert m.paths == ref.paths and len(m) == 1428
    m.check_files()


def test_balance_real_data(cxr256):
    m = Manifest.read(cxr256 / "manifest.csv").filter(parse_where(["label=covid,normal"]))
    m = m.with_labels(LabelMapping(positive=["covid"], negative=["normal"]))
    before = audit_manifest(m, read_files=False)
    after = audit_manifest(balance_sources(m, seed=0), read_files=False)
    assert before.verdict == "severely imbalanced" and after.verdict == "balanced"
    assert after.cramers_v == pytest.approx(0.0, abs=1e-9)


def test_real_shortcut_survives_boxing_out_the_lungs(cxr256, tmp_path):
    """configs/cxr256.yaml's intra-source imbalanced set, lungs boxed out, single split: the
    label is still readable (the paper's QaTa-COV19 finding on real images), and the report
    says so."""
    import json

    import yaml

    pytest.importorskip("torch")
    from cxr_isi.report.html import write_report
    from cxr_isi.study.runner import run_experiment

    root = Path(__file__).resolve().parents[1]
    data = yaml.safe_load((root / "configs" / "cxr256.yaml").read_text())
    data["datasets"] = [d for d in data["datasets"] if d["name"] == "isi"]
    data["datasets"][0]["manifest"] = str(cxr256 / "manifest.csv")
    data.update(variants=["lungs_boxed_out"], cv={"folds": 0}, cross=[], explain={"enabled": False})
    # two epochs at 64 px (the config trains at 96): test AUC 0.997, 1.000, 0.996 with the config's
    # seed 0, 1, 2, each a shortcut with its border band named (2026-12-06); 151 s at 96 px, about 90 s here
    data["train"].update(epochs=2, patience=2, threads=1, size=64)
    data["probes"]["ocr"] = False  # Tesseract on 862 images would add a minute+; tests/test_where.py reads text
    cfg = tmp_path / "cxr256_isi.yaml"
    cfg.write_text(yaml.safe_dump(data))
    result = run_experiment(cfg, tmp_path / "run", progress=False)
    auc = float(result["results"]["auc"].iloc[0])
    assert auc >= 0.9
    summary = write_report(tmp_path / "run")["summary"]
    assert summary["datasets"]["isi"]["verdict"] == "shortcut"
    assert summary["datasets"]["isi"]["audit_verdict"] == "severely imbalanced"
    # the region map names where outside the fixed box the label is (the film's border bands)
    assert "where: " in summary["datasets"]["isi"]["reason"] and " band, AUC " in summary["datasets"]["isi"]["reason"]
    lungs = json.loads((tmp_path / "run" / "datasets" / "isi" / "prepared.json").read_text())
    assert lungs["n_images"] == 862


def test_shipped_lung_unet_on_held_out_patients(cxr256):
    """Dice on the patients the shipped U-Net never saw (the split it was trained with)."""
    pytest.importorskip("monai")
    from cxr_isi.lungs.segmentation import evaluate, get_segmenter, load_pairs, segmentation_split
    from cxr_isi.lungs.unet import SHIPPED

    if not SHIPPED.is_file():
        pytest.skip(f"shipped weights missing at {SHIPPED}")
    m = segmentation_split(Manifest.read(cxr256 / "manifest.csv"), seed=0)
    held_out = m.with_frame(m.frame[m.frame["split"] == "test"])
    x, y, _ = load_pairs(held_out, size=256)
    scores = evaluate(get_segmenter(), x, y)
    assert len(scores) >= 50
    assert scores["dice"].mean() >= 0.95


def test_small_cnn_learns_kermany_pneumonia_on_cpu(cxr256, tmp_path):
    """Issue acceptance: small_cnn from scratch, CPU, test AUC >= 0.85 in 8 epochs. Asked at
    128 px (168 s in make test); re-measured at 64 px, where it keeps its answer over seeds:
    test AUC 0.997, 0.993, 0.994, 0.995, 0.989 for seeds 0-4 (about 25 s each, 2026-12-06)."""
    pytest.importorskip("torch")
    from cxr_isi.train import TrainConfig
    from cxr_isi.train.loop import fit

    m = _spec("cxr256_balanced", cxr256).load()
    cfg = TrainConfig(model="small_cnn", variant="original", size=64, weights="none", epochs=8,
                      patience=4, batch_size=32, seed=0)
    metrics = fit(m, cfg, tmp_path / "run", progress=False)
    assert metrics["test_auc"] >= 0.85  # its time is a benchmark figure (make bench), not a test
