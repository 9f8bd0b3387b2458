"""The probes of what a model reads, each on phantoms (or on scores) whose answer is known, and
the verdict rule that combines them."""

import tempfile
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from scipy import ndimage

torch = pytest.importorskip("torch")
from cxr_isi.data import LabelMapping  # noqa: E402
from cxr_isi.lungs.hideseek import dataset_box, lungs_boxed_out, shuffle_blocks  # noqa: E402
from cxr_isi.lungs.postprocess import lung_geometry  # noqa: E402
from cxr_isi.probes import PROBES, ProbeInput, confounders, get_probe, per_source, source  # noqa: E402
from cxr_isi.probes.swap import swap_lungs  # noqa: E402
from cxr_isi.synth import SynthConfig, generate  # noqa: E402
from cxr_isi.train import TrainConfig  # noqa: E402
from cxr_isi.train.loop import fit  # noqa: E402
from cxr_isi.verdict.dataset import ACQUISITION, GEOMETRY, INCONCLUSIVE, NONE, SOURCE, verdict_kind  # noqa: E402

MAPPING = LabelMapping(positive=["covid"], negative=["normal"])
SIZE = 64


def _lungs_table(manifest, shrink_positives: int = 0) -> tuple[pd.DataFrame, object]:
    """``lungs.csv`` from the phantoms' true masks; with ``shrink_positives`` the positives' masks
    are eroded that many pixels (disease shrinking what a segmenter calls lung)."""
    from PIL import Image

    rows, frame = [], manifest.frame.copy()
    out = []
    for path, mpath, y in zip(frame["path"], frame["mask_path"], manifest.y, strict=True):
        m = np.asarray(Image.open(mpath)) > 127
        if shrink_positives and y == 1:
            m = ndimage.binary_erosion(m, iterations=shrink_positives)
            new = str(mpath).replace(".png", "_shrunk.png")
            Image.fromarray(m.astype(np.uint8) * 255).save(new)
            mpath = new
        rows.append({"path": path, **lung_geometry(m).as_row()})
        out.append(mpath)
    frame["mask_path"] = out
    return pd.DataFrame(rows), manifest.with_frame(frame)


def _input(manifest, lungs=None, **kw) -> ProbeInput:
    base = dict(dataset="d", title="d", manifest=manifest, lungs=lungs if lungs is not None else pd.DataFrame(),
                segmentation_size=SIZE, audit=None, checkpoints={}, predictions={}, fold_predictions={},
                size=SIZE, resize="pad", out_dir=Path(tempfile.mkdtemp()), seed=0,
                settings={"swap_pairs": 24, "acquisition_block": 8})
    base.update(kw)
    return ProbeInput(**base)


@pytest.fixture(scope="module")
def phantoms(tmp_path_factory):
    root = tmp_path_factory.mktemp("probes")
    sets = {}
    for preset in ("isi", "balanced"):
        m = generate(SynthConfig(preset=preset, n=200, size=SIZE, seed=3), root / preset, jobs=1).with_labels(MAPPING)
        frame = m.frame.copy()
        frame["image_id"] = [f"{preset}_{i}" for i in range(len(frame))]
        sets[preset] = m.with_frame(frame)
    return root, sets


@pytest.fixture(scope="module")
def trained(phantoms):
    """small_cnn on the original images of each preset, and on tile-shuffled isi images without
    the lungs (the acquisition probe's model), and the same on balanced."""
    root, sets = phantoms
    out = {}
    for name, preset, extra in (("isi", "isi", {}), ("balanced", "balanced", {}),
                                ("isi_shuffled", "isi", {"scramble_block": 8}),
                                ("balanced_shuffled", "balanced", {"scramble_block": 8})):
        variant = "lungs_boxed_out" if "scramble_block" in extra else "original"
        if variant != "original":
            extra = {**extra, "box_mode": "dataset", "fixed_box": (0.15, 0.85, 0.1, 0.9)}
        cfg = TrainConfig(model="small_cnn", variant=variant, size=SIZE, epochs=10, patience=4, batch_size=16,
                          threads=1, **extra)
        metrics = fit(sets[preset], cfg, root / f"run_{name}", progress=False)
        out[name] = (root / f"run_{name}", metrics)
    return out


def _with_split(run_dir, manifest):
    from cxr_isi.data import Manifest

    split = Manifest.read(run_dir / "split.csv").frame
    frame = manifest.frame.copy()
    frame["split"] = frame["path"].map(dict(zip(split["path"], split["split"], strict=True)))
    assert (frame["split"] == "test").sum() >= 20
    return manifest.with_frame(frame)


# -- the image sets the probes rest on -------------------------------------------------------


@pytest.mark.parametrize("backend", ["numpy", "torch"])
def test_fixed_box_hides_the_same_region_whatever_the_mask(backend):
    img = np.random.default_rng(0).random((2, 20, 20)).astype(np.float32)
    masks = np.zeros((2, 20, 20), bool)
    masks[0, 5:8, 5:8] = True
    masks[1, 2:18, 3:17] = True
    box = dataset_box(np.array([[0.1, 0.9, 0.2, 0.8], [0.3, 0.6, 0.3, 0.6]]), quantile=1.0)
    assert box == (0.1, 0.9, 0.2, 0.8)
    x, m = (torch.from_numpy(img), torch.from_numpy(masks)) if backend == "torch" else (img, masks)
    out = lungs_boxed_out(x, m, box_mode="dataset", box=box)
    out = out.numpy() if backend == "torch" else out
    hidden = out == 0
    assert (hidden[0] == hidden[1]).all() and hidden[0, 2:18, 4:16].all() and not hidden[0, 0].any()
    with pytest.raises(ValueError, match="needs the dataset's box"):
        lungs_boxed_out(img, masks, box_mode="dataset")


def test_shuffled_tiles_keep_their_pixels_and_lose_their_layout():
    img = np.arange(24 * 24, dtype=np.float32).reshape(24, 24)
    out = shuffle_blocks(img, 8, seed=1)
    for r in range(0, 24, 8):
        for c in range(0, 24, 8):
            tile = np.s_[r:r + 8, c:c + 8]
            np.testing.assert_array_equal(np.sort(out[tile].ravel()), np.sort(img[tile].ravel()))
    assert (out != img).mean() > 0.9
    np.testing.assert_array_equal(out, shuffle_blocks(img, 8, seed=1))
    assert not np.array_equal(out, shuffle_blocks(img, 8, seed=2))


def test_a_swap_puts_the_donors_lungs_in_the_frame():
    frame, lungs = np.full((32, 32), 0.1, np.float32), np.full((32, 32), 0.5, np.float32)
    fm, lm = np.zeros((32, 32), bool), np.zeros((32, 32), bool)
    fm[8:24, 6:26] = True
    lm[4:28, 4:28] = True
    frame[fm], lungs[lm] = 0.2, 0.9
    out = swap_lungs(frame, fm, lungs, lm)
    assert out[16, 16] == pytest.approx(0.9, abs=1e-3)  # the donor's lungs inside the frame's box
    assert out[1, 1] == pytest.approx(0.1) and out[30, 30] == pytest.approx(0.1)  # the frame kept


# -- each probe, known answers --------------------------------------------------------------


def test_geometry_probe_finds_a_mask_that_shrinks_with_disease(phantoms):
    _, sets = phantoms
    m = sets["balanced"]
    plain, plain_m = _lungs_table(m)
    leak, leak_m = _lungs_table(m, shrink_positives=3)
    run = get_probe("geometry")
    honest = run(_input(plain_m, plain))
    leaky = run(_input(leak_m, leak))
    assert leaky.estimate >= 0.9 and leaky.explains and leaky.ci_low > 0.8
    assert honest.estimate <= 0.7 and not honest.explains
    assert honest.ci_low < honest.estimate < honest.ci_high


def test_lung_swap_follows_the_frame_on_isi_and_the_lungs_on_balanced(phantoms, trained, tmp_path):
    _, sets = phantoms
    run = get_probe("lung_swap")
    results = {}
    for name in ("isi", "balanced"):
        run_dir, _ = trained[name]
        m = _with_split(run_dir, sets[name])
        results[name] = run(_input(m, checkpoints={"original": run_dir / "best.pt"}, out_dir=tmp_path / name))
    isi, bal = results["isi"], results["balanced"]
    assert isi.estimate >= 0.8, isi.sentence
    assert bal.details["lung_following"]["rate"] >= 0.7, bal.sentence
    assert isi.ci_low <= isi.estimate <= isi.ci_high
    for r in results.values():
        assert abs(r.details["same_label_shift"]["mean"]) <= 0.1, r.sentence
        assert (tmp_path / r.dataset).exists() or r.figure


def test_acquisition_probe_reads_exposure_from_shuffled_tiles(phantoms, trained):
    _, sets = phantoms
    run_dir, metrics = trained["isi_shuffled"]
    pred = pd.read_csv(run_dir / "predictions_test.csv")
    key = "lungs_boxed_out_fixed_box_blocks8"
    result = get_probe("acquisition")(_input(sets["isi"], predictions={key: pred}))
    assert result.estimate >= 0.8 and result.explains  # the sources' exposure and noise remain
    run_dir, _ = trained["balanced_shuffled"]
    pred = pd.read_csv(run_dir / "predictions_test.csv")
    blind = get_probe("acquisition")(_input(sets["balanced"], predictions={key: pred}))
    assert blind.estimate < 0.75 and not blind.explains, blind.sentence  # the lesions are hidden with the lungs


def test_source_probe_on_features():
    rng = np.random.default_rng(0)
    src = np.repeat(np.array(["a", "b", "c"]), 40)
    groups = np.arange(len(src)).astype(str)
    marked = np.eye(3)[np.searchsorted(["a", "b", "c"], src)] + rng.normal(0, 0.3, (len(src), 3))
    assert source.source_auc(marked, src, groups, seed=0)["auc"] >= 0.95
    blind = source.source_auc(rng.normal(size=(len(src), 3)), src, groups, seed=0)
    assert blind["auc"] <= 0.6 and blind["ci_low"] < blind["auc"] < blind["ci_high"]  # out of fold: no source


def test_source_probe_on_the_isi_model(phantoms, trained):
    _, sets = phantoms
    run_dir, _ = trained["isi"]
    result = get_probe("source")(_input(sets["isi"], checkpoints={"original": run_dir / "best.pt"}))
    assert result.estimate >= 0.8, result.sentence  # the isi model's features carry the source
    one = sets["balanced"].with_frame(sets["balanced"].frame.assign(source="one"))
    assert get_probe("source")(_input(one, checkpoints={"original": run_dir / "best.pt"})).estimate is None


def test_per_source_leave_one_out_sees_a_source_with_its_own_scale():
    rng = np.random.default_rng(0)
    rows = []
    for s, (neg, pos) in (("a", (0.2, 0.5)), ("b", (0.2, 0.5)), ("c", (0.2, 0.5)), ("d", (0.6, 0.9))):
        y = rng.integers(0, 2, 60)
        score = np.where(y == 1, pos, neg) + rng.normal(0, 0.02, 60)
        rows.append(pd.DataFrame({"label": y, "score": score, "source": s}))
    pred = pd.concat(rows, ignore_index=True)
    loso = per_source.leave_one_source_out(pred).set_index("source")
    assert loso.loc["d", "drop"] >= 0.3 and loso.loc["a", "drop"] <= 0.1
    table = per_source.per_source_table(pred).set_index("source")
    assert (table["auc"] > 0.95).all() and set(table.columns) >= {"sensitivity", "specificity", "ece"}
    few = pred[pred["source"].isin(["a", "b"])]
    assert per_source.leave_one_source_out(few).empty


def test_calibration_error():
    from cxr_isi.evaluate import expected_calibration_error

    y = np.r_[np.ones(90), np.zeros(10)]
    assert expected_calibration_error(y, np.full(100, 0.9)) == pytest.approx(0.0)
    assert expected_calibration_error(np.r_[np.ones(50), np.zeros(50)], np.full(100, 0.9)) == pytest.approx(0.4)


def test_confounder_probe_names_a_property_that_explains_the_score(phantoms):
    _, sets = phantoms
    m = sets["balanced"]
    rng = np.random.default_rng(0)
    view = np.where(rng.random(len(m)) < 0.8, np.where(m.y == 1, "AP", "PA"), np.where(m.y == 1, "PA", "AP"))
    m = m.with_frame(m.frame.assign(view=view))
    audit = {"acquisition": [{"property": "view", "flagged": True}]}
    ids = m.frame["image_id"].to_numpy()
    reads_view = pd.DataFrame({"id": ids, "label": m.y, "score": (view == "AP") * 0.6 + rng.random(len(m)) * 0.3})
    reads_disease = reads_view.assign(score=m.y * 0.6 + rng.random(len(m)) * 0.5)
    r = confounders.run(_input(m, audit=audit, predictions={"lungs_boxed_out": reads_view}))
    assert r.explains and r.estimate <= 0.65 and "view" in r.sentence
    r = confounders.run(_input(m, audit=audit, predictions={"lungs_boxed_out": reads_disease}))
    assert not r.explains and r.estimate >= 0.8
    assert confounders.run(_input(m, audit={"acquisition": []})).estimate is None


def test_every_registered_probe_says_when_it_does_not_apply(phantoms):
    _, sets = phantoms
    for name in PROBES:
        result = get_probe(name)(_input(sets["isi"]))
        assert result.probe == name and result.sentence
        assert result.estimate is None or result.ci_low is None or result.ci_low <= result.estimate


# -- the verdict ----------------------------------------------------------------------------


def _auc(a, lo=None, hi=None):
    return {"auc": a, "ci_low": lo, "ci_high": hi, "from": "5-fold mean"}


NAN = _auc(float("nan"))


@pytest.mark.parametrize("boxed, fixed, audit, probes, kind", [
    (_auc(0.99, 0.98, 1.0), _auc(0.98, 0.96, 1.0), {"verdict": "severely imbalanced"}, {}, SOURCE),
    (_auc(0.50, 0.40, 0.60), _auc(0.5, 0.4, 0.6), {"verdict": "balanced"}, {}, NONE),
    (_auc(0.95, 0.90, 0.99), _auc(0.55, 0.45, 0.65), {"verdict": "balanced"},
     {"geometry": {"explains": True, "estimate": 0.9}}, GEOMETRY),
    (_auc(0.90, 0.85, 0.95), _auc(0.88, 0.80, 0.95), {"verdict": "balanced"},
     {"acquisition": {"explains": True, "sentence": "tiles read it."}}, ACQUISITION),
    (_auc(0.90, 0.85, 0.95), _auc(0.88, 0.80, 0.95), {"verdict": "balanced"}, {}, INCONCLUSIVE),
    (_auc(0.75, 0.50, 0.95), NAN, {"verdict": "balanced"}, {}, INCONCLUSIVE),
    (NAN, NAN, None, {}, INCONCLUSIVE),
])
def test_verdict_kind_follows_the_rule(boxed, fixed, audit, probes, kind):
    got, reason = verdict_kind(boxed, fixed, audit, probes)
    assert got == kind and reason


def test_the_source_probes_auc_is_scikit_learns():
    """The probe's rank-based macro AUC gives scikit-learn's figures (binary and one-vs-rest,
    with ties), at a fraction of the cost."""
    from sklearn.metrics import roc_auc_score

    from cxr_isi.probes.source import _macro_auc

    rng = np.random.default_rng(0)
    for k in (2, 3, 5):
        classes = np.array([f"s{i}" for i in range(k)])
        y = classes[rng.integers(0, k, 120)]
        p = rng.integers(1, 6, (120, k)).astype(float)  # few values: ties
        p /= p.sum(axis=1, keepdims=True)
        expected = (roc_auc_score(y == classes[1], p[:, 1]) if k == 2
                    else roc_auc_score(y, p, multi_class="ovr", average="macro", labels=classes))
        assert abs(_macro_auc(y, p, classes) - expected) < 1e-12, k
