"""Training: the known answer on the phantoms, resume equals uninterrupted, bad input, predict."""

import json

import numpy as np
import pandas as pd
import pytest

torch = pytest.importorskip("torch")
from typer.testing import CliRunner  # noqa: E402

from cxr_isi.cli.main import app  # noqa: E402
from cxr_isi.data import LabelMapping  # noqa: E402
from cxr_isi.errors import CxrIsiError  # noqa: E402
from cxr_isi.synth import SynthConfig, generate  # noqa: E402
from cxr_isi.train import TrainConfig, loop  # noqa: E402

MAPPING = LabelMapping(positive=["covid"], negative=["normal"])


@pytest.fixture(scope="module")
def phantoms(tmp_path_factory):
    root = tmp_path_factory.mktemp("train")
    return {p: generate(SynthConfig(preset=p, n=240, size=96, seed=0), root / p, jobs=2).with_labels(MAPPING)
            for p in ("isi", "balanced")}


def _fit(m, variant, out, **kw):
    cfg = TrainConfig(model="small_cnn", variant=variant, size=96, epochs=kw.pop("epochs", 8),
                      patience=3, batch_size=32, **kw)
    return loop.fit(m, cfg, out, progress=False)


def test_known_answer(phantoms, tmp_path):
    """The paper's direction on data whose truth is known."""
    isi = _fit(phantoms["isi"], "lungs_boxed_out", tmp_path / "a")
    assert isi["test_auc"] >= 0.95  # the source fingerprint is enough
    blind = _fit(phantoms["balanced"], "lungs_boxed_out", tmp_path / "b")
    assert blind["test_auc"] <= 0.65  # nothing outside the lungs tells the classes apart
    seeing = _fit(phantoms["balanced"], "original", tmp_path / "c")
    assert seeing["test_auc"] >= 0.85  # the disease is learnable where it is
    m = json.loads((tmp_path / "c/metrics.json").read_text())
    for key in ("val_auc", "test_auc", "epochs", "seconds", "images_per_second", "label_mapping"):
        assert key in m
    assert m["label_mapping"] == {"positive": ["covid"], "negative": ["normal"]}
    scores = pd.read_csv(tmp_path / "c/predictions_test.csv")
    assert len(scores) == m["n_test"] and scores["score"].between(0, 1).all()


def test_resume_after_interruption_gives_the_same_numbers(phantoms, tmp_path, monkeypatch):
    small = phantoms["balanced"].with_frame(phantoms["balanced"].frame.head(160))
    whole = _fit(small, "original", tmp_path / "whole", epochs=3)
    calls = {"n": 0}
    real_score = loop.score

    def interrupted(*a, **k):
        calls["n"] += 1
        if calls["n"] == 2:  # dies during the second epoch's validation, after epoch 1 was saved
            raise KeyboardInterrupt
        return real_score(*a, **k)

    monkeypatch.setattr(loop, "score", interrupted)
    with pytest.raises(KeyboardInterrupt):
        _fit(small, "original", tmp_path / "again", epochs=3)
    monkeypatch.setattr(loop, "score", real_score)
    resumed = _fit(small, "original", tmp_path / "again", epochs=3)
    assert resumed["epochs"] == whole["epochs"]
    assert resumed["val_auc"] == pytest.approx(whole["val_auc"], abs=1e-12)
    a = pd.read_csv(tmp_path / "whole/predictions_val.csv")["score"]
    b = pd.read_csv(tmp_path / "again/predictions_val.csv")["score"]
    np.testing.assert_allclose(a, b, rtol=0, atol=1e-6)
    with pytest.raises(CxrIsiError, match="holds a run with other settings"):
        _fit(small, "original", tmp_path / "again", epochs=4)


def test_bad_input(phantoms, tmp_path):
    m = phantoms["isi"]
    split = [("train" if i % 3 else "val") if y == 1 else ("val" if i % 2 else "test")
             for i, y in enumerate(m.y)]
    one_class = m.with_frame(m.frame.assign(split=split))
    with pytest.raises(CxrIsiError, match=r"the train split has a single class \(positive only"):
        _fit(one_class, "original", tmp_path / "x")
    with pytest.raises(CxrIsiError, match="unknown variant 'lungs_hidden'"):
        _fit(m, "lungs_hidden", tmp_path / "y")


def test_cli_train_predict_and_bad_checkpoints(phantoms, tmp_path):
    man = tmp_path / "m.csv"
    phantoms["isi"].with_frame(phantoms["isi"].frame.head(120)).write(man)
    runner = CliRunner()
    r = runner.invoke(app, ["train", "--manifest", str(man), "-p", "covid", "--variant", "lungs_removed",
                            "--model", "small_cnn", "--size", "64", "--weights", "none", "--epochs", "2",
                            "--out", str(tmp_path / "run")])
    assert r.exit_code == 0, r.output
    assert "validation AUC" in r.output
    r = runner.invoke(app, ["predict", "--checkpoint", str(tmp_path / "run/best.pt"), "--manifest", str(man),
                            "--out", str(tmp_path / "scores.csv")])
    assert r.exit_code == 0, r.output
    scores = pd.read_csv(tmp_path / "scores.csv")
    assert len(scores) == 120 and set(scores.columns) == {"path", "label", "score"}
    test = pd.read_csv(tmp_path / "run/predictions_test.csv").merge(scores, on="path")
    np.testing.assert_allclose(test["score_x"], test["score_y"], atol=1e-5)
    (tmp_path / "broken.pt").write_bytes(b"\x80\x04 broken")
    r = runner.invoke(app, ["predict", "--checkpoint", str(tmp_path / "broken.pt"), "--manifest", str(man),
                            "--out", str(tmp_path / "s2.csv")])
    assert r.exit_code == 2 and "corrupted or not a PyTorch checkpoint" in r.output, r.output
    # the resume checkpoint scores too (the last epoch's weights), one score per image
    r = runner.invoke(app, ["predict", "--checkpoint", str(tmp_path / "run/last.pt"), "--manifest", str(man),
                            "--out", str(tmp_path / "s2.csv")])
    assert r.exit_code == 0, r.output
    assert len(pd.read_csv(tmp_path / "s2.csv")) == 120
    seg = tmp_path / "lung_unet.pt"
    torch.save({"format": "cxr_isi.lungs.unet/1"}, seg)
    r = runner.invoke(app, ["predict", "--checkpoint", str(seg), "--manifest", str(man), "--out",
                            str(tmp_path / "s3.csv")])
    assert r.exit_code == 2 and "not a cxr-isi classifier checkpoint" in r.output
    r = runner.invoke(app, ["train", "--manifest", str(man), "-p", "covid", "--variant", "lungs",
                            "--out", str(tmp_path / "bad")])
    assert r.exit_code == 2 and "unknown variant" in r.output


def test_gpu_benchmark_script_dry_run_on_cpu():
    """The GPU benchmark runs end to end (on the CPU, tiny) so it is ready when a GPU is lent."""
    import importlib.util
    from pathlib import Path

    path = Path(__file__).resolve().parents[1] / "benchmarks" / "gpu_train.py"
    spec = importlib.util.spec_from_file_location("gpu_train", path)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    r = mod.main(["--device", "cpu", "--size", "64", "--batch", "4", "--steps", "2", "--images", "16"])
    assert r["img_per_s_resident"] > 0 and r["img_per_s_loader"] > 0 and r["gflop_per_image"] > 0
    assert mod.peak_tflops("NVIDIA H100 80GB HBM3", None) == 989.4
