"""Where outside the lungs, and what: the region map and the named causes, each on images whose
answer is known (a marker burned into one corner, a word written on one class, bright dots,
a band of soft tissue of known width), and the verdict that names them."""

import shutil
import tempfile
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from PIL import Image, ImageDraw, ImageFont

from cxr_isi.data import LabelMapping
from cxr_isi.lungs.hideseek import dataset_box, lung_boxes
from cxr_isi.probes import ProbeInput, causes, regions
from cxr_isi.synth import SynthConfig, generate
from cxr_isi.verdict.dataset import CAUSE, INCONCLUSIVE, NONE, verdict_kind

MAPPING = LabelMapping(positive=["covid"], negative=["normal"])
SIZE = 64
BOX = (0.25, 0.75, 0.2, 0.8)


def _box_of(manifest) -> tuple[float, float, float, float]:
    masks = [np.asarray(Image.open(p)) > 127 for p in manifest.frame["mask_path"]]
    return dataset_box(np.array([np.array(lung_boxes(m, "union")[0]) / m.shape[0] for m in masks]))


def _images(manifest) -> np.ndarray:
    return np.stack([np.asarray(Image.open(p), np.float32) / 255 for p in manifest.frame["path"]])


@pytest.fixture(scope="module")
def marked(tmp_path_factory):
    """Phantoms alike in every way but one: the sources leaning positive burn their marker into
    the bottom-left corner (isi: every source one class; balanced: the same marks on both)."""
    root = tmp_path_factory.mktemp("marked")
    return {preset: generate(SynthConfig(preset=preset, n=160, size=SIZE, seed=3, fingerprint="marker",
                                         marker_corner="bl"), root / preset, jobs=1).with_labels(MAPPING)
            for preset in ("isi", "balanced")}


def test_region_map_ranks_the_marked_corner_first_and_leaves_balanced_at_chance(marked):
    m = marked["isi"]
    table = regions.region_map(_images(m), m.y, m.frame["patient_id"].to_numpy(), _box_of(m))
    grid = table[table["kind"] == "grid"].dropna(subset=["auc"]).sort_values("auc", ascending=False)
    bands = table[table["kind"] == "band"].dropna(subset=["auc"]).sort_values("auc", ascending=False)
    assert grid["region"].iloc[0] == "bottom-left corner", grid.head(3)
    assert bands["region"].iloc[0] in ("bottom band", "left band"), bands
    assert "bottom-left corner" in regions.carrying(table)["region"].tolist()
    assert "bottom-left corner" in regions.where_text(table)
    far = table.set_index("region").loc["top-right corner"]
    assert far["auc"] < 0.7  # the corner with no mark carries nothing
    m = marked["balanced"]
    table = regions.region_map(_images(m), m.y, m.frame["patient_id"].to_numpy(), _box_of(m))
    assert regions.carrying(table).empty, table
    assert table["auc"].max() < 0.7 and regions.where_text(table) == ""


def test_regions_under_the_box_are_not_scored_and_the_grid_covers_the_image():
    regs = regions.regions(64)
    assert len(regs) == 20 and {r.kind for r in regs} == {"grid", "band"}
    cover = np.zeros((64, 64), int)
    for r in regs:
        if r.kind == "grid":
            cover[r.y0:r.y1, r.x0:r.x1] += 1
    assert (cover == 1).all()
    rng = np.random.default_rng(0)
    images = rng.random((40, 64, 64)).astype(np.float32)
    y = np.arange(40) % 2
    table = regions.region_map(images, y, np.arange(40).astype(str), (0.0, 1.0, 0.0, 1.0))
    assert table["auc"].isna().all()
    assert regions.result_of(table, "d", 40).estimate is None


def test_the_probe_draws_its_map_and_names_regions_in_its_sentence(marked, tmp_path):
    m = marked["isi"]
    frame = m.frame.assign(image_id=[f"i{i}" for i in range(len(m))])
    inp = ProbeInput(dataset="d", title="d", manifest=m.with_frame(frame), lungs=pd.DataFrame(),
                     segmentation_size=SIZE, audit=None, checkpoints={}, predictions={}, fold_predictions={},
                     size=SIZE, resize="pad", out_dir=tmp_path, seed=0, settings={}, fixed_box=_box_of(m))
    r = regions.run(inp)
    assert r.figure and Path(r.figure).is_file() and "bottom-left corner" in r.sentence
    assert r.ci_low < r.estimate < r.ci_high and r.details["confidence"] < 0.999


# -- named causes -----------------------------------------------------------------------------


def _body(n: int, size: int = 128, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Plain 'chests': a bright body band with two dark lungs, faint noise; and the lung masks."""
    rng = np.random.default_rng(seed)
    img = np.full((n, size, size), 0.03, np.float32)
    img[:, :, size // 8: size - size // 8] = 0.6
    masks = np.zeros((n, size, size), bool)
    masks[:, size // 4: 3 * size // 4, size // 4: size // 2 - size // 16] = True  # a mediastinum wider than
    masks[:, size // 4: 3 * size // 4, size // 2 + size // 16: 3 * size // 4] = True  # the top-hat
    img[masks] = 0.2
    img += rng.normal(0, 0.01, img.shape).astype(np.float32)
    return np.clip(img, 0, 1), masks


def test_soft_tissue_width_is_the_band_between_lung_and_body_edge():
    img, masks = _body(4)
    wide = img.copy()
    wide[:2, :, 4:16] = 0.6  # the first two bodies reach further out on both sides
    wide[:2, :, 112:124] = 0.6
    t = causes.soft_tissue(wide, masks)
    base = (128 // 4 - 128 // 8 - 2) / 128  # lung edge to body edge, starting 2 px out
    assert t["soft_tissue_width"].iloc[2:].sub(base).abs().max() < 0.02
    assert (t["soft_tissue_width"].iloc[:2] > base + 0.07).all()


def test_bright_objects_are_counted_outside_the_box_only():
    img, _ = _body(6)
    for k in range(3):  # three small dots on the first images, outside the box
        img[:3, 8 + 10 * k: 10 + 10 * k, 20:22] = 1.0
    img[3:, 60:62, 60:62] = 1.0  # one dot under the box on the others
    hidden = np.zeros((128, 128), bool)
    hidden[40:90, 40:90] = True
    counts = causes.bright_objects(img, hidden)
    assert counts[:3].tolist() == [3, 3, 3] and counts[3:].tolist() == [0, 0, 0]


def _write_word(img: np.ndarray, word: str) -> np.ndarray:
    pil = Image.fromarray((img * 255).astype(np.uint8))
    ImageDraw.Draw(pil).text((6, 4), word, fill=255, font=ImageFont.load_default(size=14))
    return np.asarray(pil, np.float32) / 255


@pytest.mark.skipif(causes.tesseract_missing() is not None, reason="Tesseract OCR is not installed "
                    "(apt-get install tesseract-ocr; .ci/run installs it)")
def test_ocr_finds_a_burned_in_word_that_predicts_the_label():
    img, masks = _body(24)
    y = np.arange(24) % 2
    img = np.stack([_write_word(im, "PORTABLE") if lab else im for im, lab in zip(img, y, strict=True)])
    table, warnings = causes.cause_table(img, masks, (0.25, 0.75, 0.2, 0.8), text=True, jobs=1)
    assert warnings == []
    found = table["text_found"] == "yes"
    assert found[y == 1].mean() >= 0.8 and found[y == 0].mean() <= 0.1, table[["text_found", "text_words"]]
    assert table.loc[y == 1, "word_PORTABLE"].mean() >= 0.8
    assert set(table.loc[found, "text_place"]) == {"top-left"}
    scores = causes.score_causes(table, y, np.array(["s"] * 24))
    row = scores.set_index("measure").loc["text_found"]
    assert row["auc"] >= 0.9 and row["ci_low"] > 0.5 and row["positives"] > row["negatives"]
    assert causes.place_by_class(table, y)["top-left"]["positives"] >= 0.8


def test_a_missing_tesseract_is_one_line_and_the_other_causes_go_on(monkeypatch):
    monkeypatch.setattr(shutil, "which", lambda name: None)
    img, masks = _body(4)
    table, warnings = causes.cause_table(img, masks, BOX, text=True)
    assert len(warnings) == 1 and "\n" not in warnings[0] and "apt-get install tesseract-ocr" in warnings[0]
    assert {"bright_objects", "soft_tissue_width"} <= set(table.columns) and "text_found" not in table.columns


def _cause_input(tmp_path, reads_dots: bool) -> ProbeInput:
    """Images with bright dots on 85% of positives and 15% of negatives; lungs-boxed-out
    predictions that read the dots (or the label itself)."""
    n = 80
    rng = np.random.default_rng(1)
    y = np.arange(n) % 2
    img, masks = _body(n, seed=2)
    dots = rng.random(n) < np.where(y == 1, 0.85, 0.15)
    img[dots, 8:10, 20:22] = 1.0
    img[dots, 118:120, 30:32] = 1.0
    rows = []
    for k in range(n):
        p, mp = tmp_path / f"i{k}.png", tmp_path / f"m{k}.png"
        Image.fromarray((img[k] * 255).astype(np.uint8)).save(p)
        Image.fromarray(masks[k].astype(np.uint8) * 255).save(mp)
        rows.append({"path": str(p), "mask_path": str(mp), "label": "covid" if y[k] else "normal",
                     "source": "s", "patient_id": f"p{k}", "image_id": f"i{k}"})
    from cxr_isi.data.manifest import Manifest

    m = Manifest.from_frame(pd.DataFrame(rows)).with_labels(MAPPING)
    score = dots * 0.6 + rng.random(n) * 0.3 if reads_dots else y * 0.6 + rng.random(n) * 0.3
    folds = [pd.DataFrame({"id": [f"i{k}" for k in idx], "label": y[idx], "score": score[idx]})
             for idx in np.array_split(rng.permutation(n), 4)]
    return ProbeInput(dataset="d", title="d", manifest=m, lungs=pd.DataFrame(), segmentation_size=128, audit=None,
                      checkpoints={}, predictions={}, fold_predictions={"lungs_boxed_out": folds}, size=128,
                      resize="pad", out_dir=Path(tempfile.mkdtemp(dir=tmp_path)), seed=0,
                      settings={"ocr": False}, fixed_box=BOX)


def test_the_causes_probe_names_a_cause_that_explains_the_residual(tmp_path):
    r = causes.run(_cause_input(tmp_path, reads_dots=True))
    assert r.explains and "small bright objects" in r.sentence and r.estimate <= 0.7, r.sentence
    assert r.figure and Path(r.figure).is_file()
    assert (Path(r.figure).parent / "causes.csv").is_file()
    r = causes.run(_cause_input(tmp_path, reads_dots=False))
    assert not r.explains and "none of them alone explains it" in r.sentence


def _auc(a, lo=None, hi=None):
    return {"auc": a, "ci_low": lo, "ci_high": hi, "from": "5-fold mean"}


def test_the_verdict_names_the_cause_and_the_place():
    where = {"details": {"where": "top band, AUC 0.78 (95% CI 0.71-0.85)"}}
    explained = {"explains": True, "sentence": "Within levels of burned-in text the AUC falls."}
    boxed, fixed = _auc(0.84, 0.80, 0.88), _auc(0.73, 0.65, 0.80)
    kind, reason = verdict_kind(boxed, fixed, {"verdict": "balanced"}, {"causes": explained, "regions": where})
    assert kind == CAUSE and "burned-in text" in reason and reason.endswith("where: top band, AUC 0.78 (95% CI "
                                                                           "0.71-0.85)")
    kind, reason = verdict_kind(boxed, fixed, {"verdict": "balanced"}, {"regions": where})
    assert kind == INCONCLUSIVE and "where: top band" in reason
    kind, reason = verdict_kind(_auc(0.55, 0.45, 0.65), fixed, {"verdict": "balanced"}, {"regions": where})
    assert kind == NONE and "where" not in reason
