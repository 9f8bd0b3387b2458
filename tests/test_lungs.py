"""Lung segmentation: post-processing and QC, the shipped U-Net, the study step, the dataset."""

import json

import numpy as np
import pandas as pd
import pytest
from PIL import Image
from typer.testing import CliRunner

from cxr_isi.cli.main import app
from cxr_isi.data import LabelMapping, Manifest
from cxr_isi.errors import CxrIsiError
from cxr_isi.lungs.postprocess import QCThresholds, clean_mask, dice, iou, lung_geometry
from cxr_isi.synth import SynthConfig, generate

torch = pytest.importorskip("torch")
pytest.importorskip("monai")
from cxr_isi.lungs.dataset import HideSeekDataset  # noqa: E402
from cxr_isi.lungs.hideseek import apply_variant  # noqa: E402
from cxr_isi.lungs.segmentation import evaluate, get_segmenter, load_pairs, segment_manifest  # noqa: E402
from cxr_isi.lungs.unet import SHIPPED, UNetSegmenter  # noqa: E402

runner = CliRunner()


def two_lungs(size=64):
    m = np.zeros((size, size), bool)
    m[10:50, 6:26] = True
    m[12:52, 36:58] = True
    return m


def test_clean_mask_keeps_two_largest_and_fills_holes():
    m = two_lungs()
    m[30, 15] = False  # a hole
    m[2:4, 2:4] = True  # a speck
    c, n = clean_mask(m)
    assert n == 3 and c[30, 15] and not c[2:4, 2:4].any()


def test_geometry_tells_lungs_apart_and_flags_bad_masks():
    g = lung_geometry(two_lungs())
    assert g.ok and g.right_box == (10, 50, 6, 26) and g.left_box == (12, 52, 36, 58)
    assert g.union_box == (10, 52, 6, 58) and g.n_components == 2
    cases = {
        "empty mask": np.zeros((64, 64), bool),
        "one lung only": two_lungs() & (np.arange(64) < 30)[None, :],
        "above 60%": np.ones((64, 64), bool),
        "lungs unbalanced": two_lungs() & ~((np.arange(64)[:, None] > 16) & (np.arange(64)[None, :] > 30)),
    }
    for why, mask in cases.items():
        flags = lung_geometry(mask).flags
        assert any(why in f for f in flags), (why, flags)
    assert "whole image" in "; ".join(lung_geometry(np.ones((64, 64), bool)).flags)


def test_dice_and_iou():
    a = np.zeros((10, 10), bool)
    b = a.copy()
    a[:5] = True
    b[:4] = True
    assert dice(a, b) == pytest.approx(2 * 40 / 90) and iou(a, b) == pytest.approx(40 / 50)
    assert dice(np.zeros(4, bool), np.zeros(4, bool)) == 1.0


def test_checkpoint_errors(tmp_path):
    with pytest.raises(CxrIsiError, match="absent.pt: lung segmenter checkpoint not found"):
        UNetSegmenter(tmp_path / "absent.pt").load()
    (tmp_path / "bad.pt").write_bytes(b"\x00garbage" * 10)
    with pytest.raises(CxrIsiError, match="bad.pt: corrupted or not a PyTorch checkpoint"):
        UNetSegmenter(tmp_path / "bad.pt").load()
    torch.save({"state_dict": {}}, tmp_path / "other.pt")
    with pytest.raises(CxrIsiError, match="other.pt: not a cxr-isi lung U-Net checkpoint"):
        UNetSegmenter(tmp_path / "other.pt").load()
    with pytest.raises(CxrIsiError, match="unknown segmentation backend"):
        get_segmenter("sam")


needs_weights = pytest.mark.skipif(not SHIPPED.is_file(), reason=f"shipped weights missing at {SHIPPED}")


@pytest.fixture(scope="module")
def phantoms(tmp_path_factory):
    root = tmp_path_factory.mktemp("ph")
    return generate(SynthConfig(preset="balanced", n=40, size=256, seed=777), root, jobs=1)


@needs_weights
def test_shipped_unet_on_phantoms(phantoms):
    x, y, _ = load_pairs(phantoms, size=256)
    scores = evaluate(get_segmenter(), x, y)
    assert scores["dice"].mean() >= 0.9


@needs_weights
def test_shipped_unet_is_fast_enough_to_be_used_and_deterministic(phantoms):
    x, _, _ = load_pairs(phantoms, size=256)
    seg = get_segmenter()
    a, b = seg.predict_proba(x[:4]), seg.predict_proba(x[:4])
    np.testing.assert_array_equal(a, b)
    small = seg.predict(x[:2, ::2, ::2])  # any size: resized to the model and back
    assert small.shape == (2, 128, 128) and small.any()


class CountingSegmenter:
    """A stand-in backend: returns fixed lungs and counts the images it was asked about."""

    name = "fixed"

    def __init__(self):
        self.calls = 0

    def predict(self, images, batch_size=16):
        first = self.calls == 0
        self.calls += len(images)
        size = images.shape[-1]
        m = np.zeros(images.shape, bool)
        m[:, size // 6 : size * 5 // 6, size // 8 : size * 3 // 8] = True
        m[:, size // 6 : size * 5 // 6, size * 5 // 8 : size * 7 // 8] = True
        if first and len(images) > 2:
            m[2] = False  # one image gets an empty mask: flagged, not silently used
        return m


def test_segment_manifest_writes_masks_table_and_resumes(phantoms, tmp_path):
    seg = CountingSegmenter()
    m = segment_manifest(phantoms, tmp_path / "seg", segmenter=seg, size=64)
    assert seg.calls == 40
    table = pd.read_csv(tmp_path / "seg/lungs.csv")
    assert len(table) == 40 and (table["ok"].sum() == 39)
    assert m.frame["mask_kind"].unique().tolist() == ["predicted:fixed"]
    assert (m.frame["lung_qc"] != "").sum() == 1 and "empty mask" in "".join(m.frame["lung_qc"])
    assert m.frame["dataset_mask_path"].str.contains("masks/source_").all()  # kept, not used
    again = segment_manifest(phantoms, tmp_path / "seg", segmenter=seg, size=64)
    assert seg.calls == 40 and len(again) == 40
    dropped = segment_manifest(phantoms, tmp_path / "drop", segmenter=CountingSegmenter(), size=64,
                               thresholds=QCThresholds(policy="drop"))
    assert len(dropped) == 39


def test_hideseek_dataset_on_the_fly(phantoms, tmp_path):
    m = phantoms.with_labels(LabelMapping(positive=["covid"]))
    ds = HideSeekDataset(m, "lungs_boxed_out", size=64)
    assert len(ds) == 40 and ds.skipped == {}
    x, y = ds[3]
    assert x.shape == (1, 64, 64) and x.dtype == np.float32 and y in (0, 1)
    img = np.asarray(Image.open(m.paths[3]).resize((64, 64), Image.Resampling.LANCZOS), np.float32) / 255
    mask = np.asarray(Image.open(m.frame["mask_path"].iloc[3]).resize((64, 64))) > 127
    expect = apply_variant("lungs_boxed_out", img, mask)
    assert np.abs(x[0] - expect).mean() < 0.02
    with pytest.raises(CxrIsiError, match="unknown variant 'lungs_only'"):
        HideSeekDataset(m, "lungs_only", size=64)
    no_mask = m.with_frame(m.frame.assign(mask_path=[""] + m.frame["mask_path"].tolist()[1:]))
    with pytest.raises(CxrIsiError, match="row 1: no mask_path"):
        HideSeekDataset(no_mask, "lungs_isolated", size=64)


def test_bad_masks(phantoms, tmp_path):
    frame = phantoms.frame.head(4).copy()
    Image.fromarray(np.zeros((256, 256), np.uint8)).save(tmp_path / "empty.png")
    Image.fromarray(np.zeros((100, 80), np.uint8) + 255).save(tmp_path / "small.png")
    Image.fromarray((np.random.default_rng(0).random((256, 256)) * 255).astype(np.uint8)).save(tmp_path / "grey.png")
    frame["mask_path"] = [str(tmp_path / "empty.png"), frame["mask_path"].iloc[1],
                          str(tmp_path / "grey.png"), frame["mask_path"].iloc[3]]
    m = Manifest.from_frame(frame, origin="bad.csv").with_labels(LabelMapping(positive=["covid"]))
    ds = HideSeekDataset(m, "lungs_isolated", size=64)
    assert len(ds) == 2 and "empty mask" in ds.skipped[m.paths[0]]
    assert m.paths[2] in ds.skipped  # the non-binary mask is refused by the cache
    frame.loc[1, "mask_path"] = str(tmp_path / "small.png")
    m2 = Manifest.from_frame(frame, origin="bad.csv").with_labels(LabelMapping(positive=["covid"]))
    with pytest.raises(CxrIsiError, match=r"bad.csv row 2: mask .*small.png is 80x100 but its image"):
        HideSeekDataset(m2, "lungs_isolated", size=64)


@needs_weights
def test_cli_eval_segment_and_hideseek(phantoms, tmp_path):
    man = tmp_path / "p.csv"
    phantoms.write(man)
    r = runner.invoke(app, ["lungs", "eval", str(man), "--json", str(tmp_path / "e.json")])
    assert r.exit_code == 0, r.output
    d = json.loads((tmp_path / "e.json").read_text())
    assert d["mean_dice"] >= 0.9 and 0 < d["mean_iou"] <= d["mean_dice"] and len(d["images"]) == 40
    r = runner.invoke(app, ["lungs", "segment", str(man), "--out", str(tmp_path / "seg")])
    assert r.exit_code == 0, r.output
    r = runner.invoke(app, ["hideseek", str(tmp_path / "seg/manifest.csv"), "--out", str(tmp_path / "hs"),
                            "--variant", "lungs_removed", "--variant", "lungs_framed",
                            "--figure", str(tmp_path / "fig3.png")])
    assert r.exit_code == 0, r.output
    assert len(list((tmp_path / "hs/lungs_removed").glob("*.png"))) == 40
    assert (tmp_path / "fig3.png").stat().st_size > 5000
    bad = runner.invoke(app, ["hideseek", str(man), "--out", str(tmp_path / "x"), "--variant", "lungs"])
    assert bad.exit_code == 2 and "unknown variant 'lungs'" in bad.output
    # an empty mask hides nothing: that image is left out, never written as "boxed out"; the
    # dataset's fixed box hides the same region of every image
    seg = pd.read_csv(tmp_path / "seg/manifest.csv")
    size = Image.open(Manifest.read(tmp_path / "seg/manifest.csv").frame["path"].iloc[0]).size
    Image.fromarray(np.zeros(size[::-1], np.uint8)).save(tmp_path / "empty.png")
    seg.loc[0, "mask_path"] = str(tmp_path / "empty.png")
    seg.to_csv(tmp_path / "seg/with_empty.csv", index=False)  # beside the original: its relative paths hold
    r = runner.invoke(app, ["hideseek", str(tmp_path / "seg/with_empty.csv"), "--out", str(tmp_path / "hs2"),
                            "--variant", "lungs_boxed_out", "--box-mode", "dataset"])
    assert r.exit_code == 0, r.output
    written = sorted((tmp_path / "hs2/lungs_boxed_out").glob("*.png"))
    assert len(written) == 39 and not any(p.name.startswith("000000_") for p in written)
    hidden = [np.asarray(Image.open(p)) == 0 for p in written[:5]]
    assert all(h[32, 32] for h in hidden) and all((h == hidden[0]).mean() > 0.9 for h in hidden)


def test_lungs_train_smoke_and_resume(tmp_path):
    """The training command's path end to end on phantoms (tiny: the shipped run took 14 min)."""
    ph = generate(SynthConfig(preset="isi", n=48, size=64, seed=11), tmp_path / "ph", jobs=1)
    ph.write(tmp_path / "ph.csv")
    r = runner.invoke(app, ["lungs", "train", str(tmp_path / "ph.csv"), "--out", str(tmp_path / "run"),
                            "--epochs", "1", "--size", "64", "--synthetic", "0"])
    assert r.exit_code == 0, r.output
    metrics = json.loads((tmp_path / "run/metrics.json").read_text())
    assert {"test_mean_dice", "test_mean_iou", "val_dice", "n_train"} <= set(metrics)
    assert 0 <= metrics["test_mean_dice"] <= 1
    history = json.loads((tmp_path / "run/history.json").read_text())
    assert history["epoch"] == 1
    r = runner.invoke(app, ["lungs", "train", str(tmp_path / "ph.csv"), "--out", str(tmp_path / "run"),
                            "--epochs", "1", "--size", "64", "--synthetic", "0"])
    assert r.exit_code == 0, r.output
    history = json.loads((tmp_path / "run/history.json").read_text())
    assert history["epoch"] == 1 and history["finished"]  # a finished run is not trained again
    r = runner.invoke(app, ["lungs", "train", str(tmp_path / "ph.csv"), "--out", str(tmp_path / "run"),
                            "--epochs", "2", "--size", "64", "--synthetic", "0"])
    assert r.exit_code == 2 and "other settings" in r.output and len(r.output.strip().splitlines()) == 1
    assert UNetSegmenter(tmp_path / "run/best.pt").load().input_size_ == 64  # the size it learnt at


@pytest.mark.parametrize("mode", ["pad", "squeeze", "crop"])
@pytest.mark.parametrize("hw", [(90, 60), (60, 90), (64, 64)])
def test_restore_mask_inverts_the_square_geometry(mode, hw):
    from cxr_isi.data.resize import resize_square, restore_mask

    h, w = hw
    truth = np.zeros((h, w), bool)
    truth[h // 5 : 4 * h // 5, w // 6 : w // 2 - 2] = True
    truth[h // 4 : 3 * h // 4, w // 2 + 3 : 5 * w // 6] = True
    square = resize_square(truth.astype(np.float32), 128, mode, is_mask=True) > 0.5
    back = restore_mask(square, h, w, mode)
    assert back.shape == (h, w)
    assert dice(back, truth) > 0.95
    again = resize_square(back.astype(np.float32), 128, mode, is_mask=True) > 0.5
    assert dice(again, square) > 0.97


def test_predicted_masks_fit_non_square_images(tmp_path):
    """The U-Net sees a padded square; its mask is written on the image's own grid, so the
    image sets of a non-square radiograph can be made at any size."""
    from tests.conftest import gradient, write_png

    rows = []
    for i, (h, w) in enumerate([(90, 60), (60, 96), (80, 80)]):
        write_png(tmp_path / f"img{i}.png", gradient(h, w, seed=i))
        rows.append({"path": f"img{i}.png", "label": "covid" if i % 2 else "normal", "source": "s",
                     "patient_id": f"p{i}"})
    m = Manifest.from_frame(pd.DataFrame(rows), root=tmp_path).with_labels(LabelMapping(positive=["covid"]))
    counting = CountingSegmenter()
    counting.calls = 1  # no deliberately empty mask here
    seg = segment_manifest(m, tmp_path / "seg", segmenter=counting, size=64)
    for p, mp in zip(seg.frame["path"], seg.frame["mask_path"], strict=True):
        assert Image.open(mp).size == Image.open(p).size
    ds = HideSeekDataset(seg, "lungs_boxed_out", size=48)
    assert len(ds) == 3 and ds[0][0].shape == (1, 48, 48)
