"""The phantom: determinism, the source-by-class plan, anatomy and masks, and the known answer."""

import filecmp

import numpy as np
import pandas as pd
import pytest
from PIL import Image
from scipy import ndimage
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import roc_auc_score
from sklearn.model_selection import StratifiedKFold, cross_val_predict
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler
from typer.testing import CliRunner

from cxr_isi.audit import audit_manifest
from cxr_isi.cli.main import app
from cxr_isi.data import LabelMapping
from cxr_isi.lungs.hideseek import apply_variant
from cxr_isi.synth import SynthConfig, apply_fingerprint, generate, make_styles, render_chest, source_plan


def test_same_arguments_same_bytes(tmp_path):
    cfg = SynthConfig(preset="isi", n=12, size=64, seed=5)
    a = generate(cfg, tmp_path / "a", jobs=1)
    generate(cfg, tmp_path / "b", jobs=2)
    for rel in pd.read_csv(tmp_path / "a/manifest.csv")[["path", "mask_path"]].to_numpy().ravel():
        assert filecmp.cmp(tmp_path / "a" / rel, tmp_path / "b" / rel, shallow=False), rel
    assert (tmp_path / "a/manifest.csv").read_text() == (tmp_path / "b/manifest.csv").read_text()
    c = generate(SynthConfig(preset="isi", n=12, size=64, seed=6), tmp_path / "c", jobs=1)
    first = a.frame["path"].iloc[0].split("/images/")[-1]
    other = [p for p in c.frame["path"] if p.endswith(first.split("/")[-1])][0]
    assert Image.open(a.frame["path"].iloc[0]).tobytes() != Image.open(other).tobytes()


@pytest.mark.parametrize("share", [1.0, 0.75, 0.5])
def test_plan_is_balanced_overall_and_per_source_as_asked(share):
    src, lab = source_plan(400, 4, share, seed=0)
    assert lab.mean() == 0.5
    for s in range(4):
        own = lab[src == s]
        assert max(own.mean(), 1 - own.mean()) == pytest.approx(share)


def test_lungs_are_drawn_where_the_mask_says():
    for seed in range(6):
        img, mask, _ = render_chest(128, np.random.default_rng(seed))
        labels, n = ndimage.label(mask)
        sizes = sorted(ndimage.sum_labels(mask, labels, range(1, n + 1)), reverse=True)
        assert n == 2 and sizes[1] > 0.3 * sizes[0]  # two lungs of comparable size
        assert 0.12 < mask.mean() < 0.45
        ring = ndimage.binary_dilation(mask, iterations=6) & ~ndimage.binary_dilation(mask, iterations=2)
        assert img[ndimage.binary_erosion(mask, iterations=2)].mean() < img[ring].mean() - 0.1
        left = mask[:, :64].sum()
        assert 0.3 < left / mask.sum() < 0.7  # one lung on each side


def test_disease_only_inside_the_lungs():
    healthy, mask, _ = render_chest(128, np.random.default_rng(3), disease=0.0)
    sick, mask2, params = render_chest(128, np.random.default_rng(3), disease=0.4)
    np.testing.assert_array_equal(mask, mask2)
    diff = sick - healthy
    assert np.abs(diff[~mask]).max() == 0
    assert diff[mask].mean() > 0.02 and params["n_lesions"] > 0


def test_fingerprint_strength_zero_makes_sources_alike():
    img, _, _ = render_chest(64, np.random.default_rng(0))
    styles = make_styles(4, seed=0)
    outs = [apply_fingerprint(img, s, np.random.default_rng(9), strength=0.0) for s in styles]
    for o in outs[1:]:
        np.testing.assert_array_equal(o, outs[0])
    full = [apply_fingerprint(img, s, np.random.default_rng(9), strength=1.0) for s in styles]
    assert min(np.abs(a - b).mean() for i, a in enumerate(full) for b in full[i + 1 :]) > 0.01


def _load(m):
    f = m.frame
    imgs = np.stack([np.asarray(Image.open(p), dtype=np.float32) / 255 for p in f["path"]])
    masks = np.stack([np.asarray(Image.open(p)) > 0 for p in f["mask_path"]])
    return imgs, masks, (f["label"] == "covid").to_numpy().astype(int)


def _pixel_lr_auc(x, y, grid=16):
    n, s = x.shape[0], x.shape[1]
    feats = x.reshape(n, grid, s // grid, grid, s // grid).mean((2, 4)).reshape(n, -1)
    clf = make_pipeline(StandardScaler(), LogisticRegression(C=0.01, max_iter=3000))
    cv = StratifiedKFold(5, shuffle=True, random_state=0)
    return roc_auc_score(y, cross_val_predict(clf, feats, y, cv=cv, method="predict_proba")[:, 1])


@pytest.fixture(scope="module")
def presets(tmp_path_factory):
    root = tmp_path_factory.mktemp("presets")
    return {p: generate(SynthConfig(preset=p, n=400, size=128, seed=0), root / p, jobs=2)
            for p in ("isi", "balanced")}


def test_known_answer_with_a_plain_classifier(presets):
    """Lung box hidden: the isi preset is still separable (the source), balanced is not;
    lungs alone carry a learnable disease signal."""
    imgs, masks, y = _load(presets["isi"])
    assert _pixel_lr_auc(apply_variant("lungs_boxed_out", imgs, masks), y) >= 0.95
    imgs, masks, y = _load(presets["balanced"])
    assert _pixel_lr_auc(apply_variant("lungs_boxed_out", imgs, masks), y) <= 0.65
    assert _pixel_lr_auc(apply_variant("lungs_isolated", imgs, masks), y) >= 0.8


def test_audit_verdicts_of_the_presets(presets):
    mapping = LabelMapping(positive=["covid"], negative=["normal"])
    isi = audit_manifest(presets["isi"].with_labels(mapping))
    bal = audit_manifest(presets["balanced"].with_labels(mapping))
    assert isi.verdict == "severely imbalanced" and isi.cramers_v == pytest.approx(1.0)
    assert bal.verdict == "balanced" and bal.cramers_v == pytest.approx(0.0)
    assert bal.flagged_properties == []  # nothing but the lungs tells the classes apart


def test_cli_synth_and_bad_arguments(tmp_path):
    r = CliRunner().invoke(app, ["synth", "--out", str(tmp_path / "s"), "--n", "16", "--size", "48",
                                 "--majority-share", "0.75", "--jobs", "1", "--preview",
                                 str(tmp_path / "p.png")])
    assert r.exit_code == 0, r.output
    f = pd.read_csv(tmp_path / "s/manifest.csv")
    assert len(f) == 16 and (tmp_path / "p.png").stat().st_size > 1000
    assert set(f["mask_kind"]) == {"synthetic_truth"}
    bad = CliRunner().invoke(app, ["synth", "--out", str(tmp_path / "x"), "--majority-share", "0.2"])
    assert bad.exit_code == 2 and "majority_share" in bad.output and "greater than or equal to 0.5" in bad.output


def test_demo_picks_its_config(tmp_path, monkeypatch):
    """The demo runs configs/demo.yaml; --real runs configs/cxr256.yaml on the data it finds,
    and says so in one line when there is none."""
    import cxr_isi.demo as demo
    from cxr_isi.errors import CxrIsiError

    path, cfg = demo.demo_config(real=False, data=None)
    assert path.name == "demo.yaml" and all(d.synthetic is not None for d in cfg.datasets)
    assert cfg.explain.enabled and cfg.cv.folds >= 2 and len(cfg.variants) == 5
    monkeypatch.setattr(demo, "find_cxr256", lambda data=None: None)
    with pytest.raises(CxrIsiError, match="real data not found"):
        demo.demo_config(real=True, data=None)
    for name in ("cxr256", "nih256"):  # the collections side by side, as in ../shared/data
        (tmp_path / name).mkdir()
        (tmp_path / name / "manifest.csv").write_text("path,label,source,patient_id\n")
    monkeypatch.setattr(demo, "find_cxr256", lambda data=None: tmp_path / "cxr256")
    path, cfg = demo.demo_config(real=True, data=tmp_path / "cxr256")
    assert path.name == "cxr256.yaml"
    assert {d.name: d.manifest for d in cfg.datasets} == {
        "isi": tmp_path / "cxr256" / "manifest.csv", "balanced": tmp_path / "cxr256" / "manifest.csv",
        "nih": tmp_path / "nih256" / "manifest.csv"}
    (tmp_path / "nih256" / "manifest.csv").unlink()  # a collection that is not there is left out, said once
    path, cfg = demo.demo_config(real=True, data=tmp_path / "cxr256")
    assert [d.name for d in cfg.datasets] == ["isi", "balanced"] and len(cfg.cross) == 2


def test_lung_shrink_makes_positives_lungs_smaller_and_leaves_the_default_alone(tmp_path):
    """The geometry-leak phantom: positives' lung fields smaller (the per-image box carries the
    label); at scale 1.0 the image is the one drawn without the option, byte for byte."""
    from cxr_isi.synth import SynthConfig, generate
    from cxr_isi.synth.phantom import render_chest

    a, ma, _ = render_chest(64, np.random.default_rng(3))
    b, mb, _ = render_chest(64, np.random.default_rng(3), lung_scale=1.0)
    c, mc, _ = render_chest(64, np.random.default_rng(3), lung_scale=0.8)
    assert np.array_equal(a, b) and np.array_equal(ma, mb)
    assert 0.55 < mc.sum() / ma.sum() < 0.75  # about 0.8 squared
    m = generate(SynthConfig(preset="balanced", n=16, size=48, seed=0, fingerprint_strength=0.0, lung_shrink=0.2),
                 tmp_path / "g")
    area = m.frame.assign(a=[np.asarray(Image.open(p)).mean() for p in m.frame["mask_path"]])
    per_label = area.groupby("label")["a"].mean()
    assert per_label["covid"] < 0.75 * per_label["normal"], per_label


def test_a_marker_only_phantom_marks_one_corner_of_the_sources_leaning_positive(tmp_path):
    """The region map's known answer: with ``fingerprint="marker"`` the sources differ in one way,
    a marker that only the sources leaning positive burn, in the corner asked for; the rest of
    the image is drawn as with no fingerprint at all."""
    m = generate(SynthConfig(preset="isi", n=24, size=64, seed=1, fingerprint="marker", marker_corner="tr"),
                 tmp_path / "mark")
    plain = generate(SynthConfig(preset="isi", n=24, size=64, seed=1, fingerprint_strength=0.0), tmp_path / "plain")
    for row, other in zip(m.frame.itertuples(), plain.frame.itertuples(), strict=True):
        mark = np.asarray(Image.open(row.marker_mask_path)) > 127
        assert not (np.asarray(Image.open(row.border_mask_path)) > 127).any()
        img, ref = (np.asarray(Image.open(p), np.int16) for p in (row.path, other.path))
        if row.source in ("source_A", "source_C"):  # leaning positive (source_plan)
            ys, xs = np.nonzero(mark)
            assert mark.any() and ys.max() < 32 and xs.min() >= 32  # top-right
            assert (img[mark] >= ref[mark]).all() and (img[mark] > ref[mark]).any()
        else:
            assert not mark.any()
        assert np.array_equal(img[~mark], ref[~mark])
    assert set(m.frame.loc[m.frame["source"].isin(["source_A", "source_C"]), "label"]) == {"covid"}
