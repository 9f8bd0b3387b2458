"""``cxr-isi judge`` on models trained OUTSIDE cxr-isi (a plain torchvision script,
``tests/plain_model.py``) whose answer is known: a ResNet-18 trained on the ``isi`` phantoms
reads outside the lungs (the sources' marks), one trained on ``balanced`` reads the lungs. Every
format (TorchScript, ONNX, torch.export, state dict) gives the same scores and the same verdict;
cxr-isi's own checkpoints go through the same interface; each bad input is one line, and nothing
is written."""

import hashlib
import json
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

torch = pytest.importorskip("torch")
pytest.importorskip("onnxruntime")
from cxr_isi.cli.main import app  # noqa: E402
from cxr_isi.data import LabelMapping, Manifest  # noqa: E402
from cxr_isi.data.readers import read_image  # noqa: E402
from cxr_isi.errors import CxrIsiError  # noqa: E402
from cxr_isi.models.scorer import ModelSpec, load_scorer  # noqa: E402
from cxr_isi.study.judge import judge_model  # noqa: E402
from cxr_isi.synth import SynthConfig, generate  # noqa: E402
from cxr_isi.verdict.kinds import READS_LUNGS, READS_OUTSIDE  # noqa: E402
from tests.conftest import Payload  # noqa: E402
from tests.figures import INTERVAL_TOLERANCE  # noqa: E402
from tests.plain_model import train_plain  # noqa: E402

SIZE = 64
FORMATS = ("torchscript", "onnx", "export", "state_dict")
runner = CliRunner()


@pytest.fixture(scope="module")
def plain(tmp_path_factory):
    """Phantoms and a ResNet-18 trained on each by a plain torchvision script, in four formats."""
    root = tmp_path_factory.mktemp("judge")
    found = {}
    for preset in ("isi", "balanced"):
        generate(SynthConfig(preset=preset, n=160, size=SIZE, seed=3), root / preset, jobs=1)
        found[preset] = train_plain(root / preset / "manifest.csv", "covid", root / f"model_{preset}", size=SIZE,
                                    epochs=6, seed=0)
    return root, found


def _scorer(files: dict, fmt: str):
    return load_scorer(files[fmt], arch="torchvision:resnet18" if fmt == "state_dict" else None,
                       spec=ModelSpec(size=SIZE))


def _test_manifest(files: dict) -> Manifest:
    return Manifest.read(files["test"]).with_labels(LabelMapping(positive=["covid"]))


def test_every_format_gives_the_same_scores_and_the_same_verdict(plain, tmp_path):
    _, found = plain
    expected = {"isi": (READS_OUTSIDE, "the source"), "balanced": (READS_LUNGS, None)}
    for preset, files in found.items():
        m = _test_manifest(files)
        images = np.stack([read_image(p)[0] for p in m.paths[:24]])
        scores = {fmt: _scorer(files, fmt).score(images) for fmt in FORMATS}
        for fmt in FORMATS[1:]:
            np.testing.assert_allclose(scores[fmt], scores["torchscript"], atol=1e-4, err_msg=f"{preset} {fmt}")
        for fmt in FORMATS:
            v = judge_model(_scorer(files, fmt), m, tmp_path / f"{preset}_{fmt}", map_images=4 if fmt == "onnx" else 0)
            assert (v.kind, v.what) == expected[preset], f"{preset} {fmt}: {v.kind}: {v.reason}"
            assert v.auc["original"]["ci_low"] > 0.6
            if preset == "isi":  # the frame decides: without the lungs the model still scores high
                assert v.auc["lungs_boxed_out"]["auc"] >= 0.9, v.reason
            else:  # the lungs decide: hiding them takes the model to chance
                assert v.auc["lungs_boxed_out"]["ci_low"] < 0.6 < v.auc["original"]["auc"], v.reason
        onnx = json.loads((tmp_path / f"{preset}_onnx" / "judge.json").read_text())
        assert onnx["spec"]["features"] is False and onnx["source_readability"]["features"] is None
        occlusion = onnx["maps"]["occlusion"]
        inside_more = occlusion["inside_share"] > occlusion["lung_area_share"]
        assert inside_more == (preset == "balanced"), occlusion  # the map agrees with the swap


def test_state_dict_models_give_their_features_and_gradients(plain):
    _, found = plain
    files = found["isi"]
    scorer = _scorer(files, "state_dict")
    images = np.stack([read_image(p)[0] for p in _test_manifest(files).paths[:6]])
    feats = scorer.features(images)
    assert feats.shape == (6, 512)  # ResNet-18's pooled features, the input of its fc layer
    x = torch.from_numpy(images).unsqueeze(1).requires_grad_(True)
    scorer.torch_module()(x).sum().backward()
    assert x.grad is not None and float(x.grad.abs().sum()) > 0
    assert _scorer(files, "onnx").torch_module() is None and _scorer(files, "onnx").features(images) is None


def test_cli_judge_writes_its_report_and_leaves_its_inputs_alone(plain, tmp_path):
    _, found = plain
    files = found["isi"]
    before = {p: hashlib.sha256(Path(p).read_bytes()).hexdigest() for p in (files["onnx"], files["test"])}
    out = tmp_path / "judged"
    r = runner.invoke(app, ["judge", files["onnx"], "-m", files["test"], "-p", "covid", "--out", str(out),
                            "--map-images", "2", "--swap-pairs", "24"], terminal_width=200)
    assert r.exit_code == 0, r.output
    summary = json.loads((out / "summary.json").read_text())
    assert summary["verdict_kind"] == READS_OUTSIDE and summary["what"] == "the source"
    assert summary["evidence"] and summary["auc"]["original"]["ci_low"] is not None
    assert summary["external_estimate"] is None and "not retrained" in summary["external_note"]  # says why
    page = (out / "report.html").read_text()
    assert READS_OUTSIDE in page and "Lung swap" in page and "data:image/png;base64" in page
    assert "reads outside the lungs" in r.output
    scores = pd.read_csv(out / "scores.csv")
    assert {"score_original", "score_lungs_boxed_out_fixed_box"} <= set(scores.columns)
    assert before == {p: hashlib.sha256(Path(p).read_bytes()).hexdigest() for p in before}
    from cxr_isi.report.browser import check_page, find_chromium

    if find_chromium():  # .ci/run installs Debian's chromium; the page as a browser lays it out
        seen = check_page(out / "report.html")
        assert seen["images"] >= 2 and not seen["broken"] and not seen["overflowing"], seen
        assert seen["sections"][0] == "1. Verdict" and len(seen["sections"]) == 7


def test_a_manifest_with_one_source_skips_the_per_source_parts_and_says_why(plain, tmp_path):
    import cxr_isi as ci

    _, found = plain
    files = found["balanced"]
    frame = pd.read_csv(files["test"], dtype=str)
    frame["source"] = "one_hospital"
    frame.to_csv(tmp_path / "one.csv", index=False)
    v = ci.judge(files["torchscript"], tmp_path / "one.csv", positive="covid", out=tmp_path / "out", size=SIZE,
                 map_images=0)
    summary = json.loads((tmp_path / "out" / "summary.json").read_text())
    assert summary["n_sources"] == 1 and "skipped" in summary["source_note"]
    assert v.kind == READS_LUNGS and (tmp_path / "out" / "report.html").is_file()


def test_a_split_column_judges_the_test_rows_alone_and_says_so(plain, tmp_path):
    """A manifest with a ``split`` column: its train rows are not judged (the model may have seen
    them), the summary and the printed output say how many were left out; a split column with no
    test row is one line, nothing written."""
    _, found = plain
    files = found["isi"]
    frame = pd.read_csv(files["test"], dtype=str)
    frame["split"] = np.where(np.arange(len(frame)) % 2 == 0, "test", "train")
    frame.to_csv(tmp_path / "split.csv", index=False)
    r = runner.invoke(app, ["judge", files["torchscript"], "-m", str(tmp_path / "split.csv"), "-p", "covid",
                            "--out", str(tmp_path / "out"), "--size", str(SIZE), "--map-images", "0"],
                      terminal_width=200)
    assert r.exit_code == 0, r.output
    summary = json.loads((tmp_path / "out" / "summary.json").read_text())
    tests = int((frame["split"] == "test").sum())
    assert summary["n_images"] + summary["n_left_out"] == tests
    assert f"{len(frame) - tests} train/validation rows left out" in summary["split_note"]
    assert "rows left out" in r.output
    frame["split"] = "train"
    frame.to_csv(tmp_path / "no_test.csv", index=False)
    r = runner.invoke(app, ["judge", files["torchscript"], "-m", str(tmp_path / "no_test.csv"), "-p", "covid",
                            "--out", str(tmp_path / "none"), "--size", str(SIZE)])
    assert r.exit_code == 2 and "no 'test' row" in r.output and len(r.output.strip().splitlines()) == 1, r.output
    assert not (tmp_path / "none").exists()


def test_a_model_saved_in_training_mode_is_refused_before_any_work(plain, tmp_path):
    """A TorchScript model traced in training mode (dropout draws anew each pass) gives other
    scores each time: no verdict on it would repeat, so it is one line naming the fix, and
    nothing is written; the same model traced after ``eval()`` passes that check."""
    _, found = plain
    files = found["isi"]
    model = torch.nn.Sequential(torch.nn.Conv2d(3, 4, 3), torch.nn.AdaptiveAvgPool2d(1), torch.nn.Flatten(),
                                torch.nn.Dropout(0.5), torch.nn.Linear(4, 1))
    example = torch.rand(2, 3, SIZE, SIZE)
    torch.jit.save(torch.jit.trace(model.train(), example, check_trace=False), tmp_path / "train.pt")
    torch.jit.save(torch.jit.trace(model.eval(), example), tmp_path / "eval.pt")
    r = runner.invoke(app, ["judge", str(tmp_path / "train.pt"), "-m", files["test"], "-p", "covid", "--out",
                            str(tmp_path / "out"), "--size", str(SIZE)])
    assert r.exit_code == 2 and "training mode" in r.output and "model.eval()" in r.output, r.output
    assert len(r.output.strip().splitlines()) == 1 and not (tmp_path / "out").exists()
    from cxr_isi.study.judge import _first_batch

    m = _test_manifest(files)
    _first_batch(load_scorer(tmp_path / "eval.pt", spec=ModelSpec(size=SIZE)), m, m.y, SIZE, "pad")


def test_judge_takes_its_folder_alone_clears_a_previous_models_figures_and_never_writes_over_a_model(
        plain, tmp_path):
    """Two judges into one folder: the second is one line while the first holds it. A folder a
    previous judge wrote keeps none of its figures that this judge does not write again. A model
    lying where the judge writes (under ``dfr/``, or named as one of its figures) is refused in one
    line, unchanged."""
    import shutil

    from cxr_isi._io import file_lock

    _, found = plain
    files = found["isi"]
    out = tmp_path / "out"
    out.mkdir()
    args = ["-m", files["test"], "-p", "covid", "--size", str(SIZE), "--map-images", "0", "--swap-pairs", "8"]
    with file_lock(out / ".judge.lock"):
        r = runner.invoke(app, ["judge", files["torchscript"], "--out", str(out), *args])
    assert r.exit_code == 2 and "another cxr-isi judge is writing here" in r.output, r.output
    assert len(r.output.strip().splitlines()) == 1 and not (out / "judge.json").exists()
    (out / "judge.json").write_text("{}")  # as a previous judge leaves it, with a figure and a remedy
    (out / "map_occlusion.png").write_bytes(b"old")
    (out / "remedy.json").write_text("{}")
    r = runner.invoke(app, ["judge", files["torchscript"], "--out", str(out), *args])
    assert r.exit_code == 0, r.output
    assert not (out / "map_occlusion.png").exists() and not (out / "remedy.json").exists()
    for where in (out / "dfr" / "model.pt", out / "map_integrated_gradients.png"):
        where.parent.mkdir(exist_ok=True)
        shutil.copyfile(files["torchscript"], where)
        before = where.read_bytes()
        r = runner.invoke(app, ["judge", str(where), "--out", str(out), *args])
        assert r.exit_code == 2 and "give another --out" in r.output, r.output
        assert where.read_bytes() == before


def test_the_positive_label_given_the_wrong_way_round_is_named_as_such(plain, tmp_path):
    """``-p normal`` by mistake: an AUC far below 0.5 is a reversed label, and the verdict says so
    (not "does not separate the classes")."""
    import cxr_isi as ci

    _, found = plain
    files = found["isi"]
    v = ci.judge(files["torchscript"], files["test"], positive="normal", out=tmp_path / "out", size=SIZE,
                 map_images=0)
    assert v.auc["original"]["ci_high"] < 0.5
    assert "wrong way round" in v.reason and "reversed" in v.reason, v.reason


@pytest.mark.parametrize("preset, expected", [("isi", READS_OUTSIDE), ("balanced", READS_LUNGS)])
def test_a_cxr_isi_checkpoint_goes_through_the_same_interface(plain, tmp_path, preset, expected):
    """The study's own models (small_cnn on the original images, as the demo trains them) judged
    like any other: the verdicts agree with the study's (isi: source shortcut; balanced: none)."""
    from cxr_isi.train import TrainConfig
    from cxr_isi.train.loop import fit, predict

    root, _ = plain
    m = Manifest.read(root / preset / "manifest.csv").with_labels(LabelMapping(positive=["covid"]))
    cfg = TrainConfig(model="small_cnn", variant="original", size=SIZE, epochs=6, patience=3, batch_size=16, threads=1)
    fit(m, cfg, tmp_path / "run", progress=False)
    scorer = load_scorer(tmp_path / "run" / "best.pt")
    assert scorer.format == "cxr-isi" and scorer.spec.size == SIZE and scorer.supports_features
    split = Manifest.read(tmp_path / "run" / "split.csv").frame
    test = m.with_frame(m.frame[m.frame["path"].isin(split.loc[split["split"] == "test", "path"])])
    ours = predict(tmp_path / "run" / "best.pt", test)
    images = np.stack([read_image(p)[0] for p in ours["path"]])
    np.testing.assert_allclose(scorer.score(images), ours["score"], atol=1e-5)
    v = judge_model(scorer, test, tmp_path / "judged", map_images=8)
    assert v.kind == expected, v.reason


# -- bad input: one line, exit 2, nothing written --------------------------------------------


def _odd_models(tmp: Path) -> dict:
    """Models whose spec or output is wrong, each a TorchScript or ONNX file."""
    import torch.nn as nn

    class Nan(nn.Module):
        def forward(self, x):
            return x.mean(dim=(1, 2, 3)) * float("nan")

    class Constant(nn.Module):
        def forward(self, x):
            return x.mean(dim=(1, 2, 3)) * 0 + 0.3

    class Two(nn.Module):
        def __init__(self):
            super().__init__()
            self.fc = nn.Linear(3, 2)

        def forward(self, x):
            f = x.mean(dim=(2, 3))
            return self.fc(f), f

    class OneChannel(nn.Module):
        def __init__(self):
            super().__init__()
            self.conv = nn.Conv2d(1, 4, 3)

        def forward(self, x):
            return self.conv(x).mean(dim=(1, 2, 3))

    class Softmax(nn.Module):
        def forward(self, x):
            m = x.mean(dim=(1, 2, 3))
            return torch.stack([m, -m], dim=1)

    x = torch.rand(2, 3, SIZE, SIZE)
    files = {"nan": tmp / "nan.ts", "constant": tmp / "constant.ts", "softmax": tmp / "softmax.ts",
             "one_channel": tmp / "gray.ts"}
    for name, mod in (("nan", Nan()), ("constant", Constant()), ("softmax", Softmax()), ("one_channel", OneChannel())):
        torch.jit.save(torch.jit.script(mod), str(files[name]))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        files["two_outputs"] = tmp / "two.onnx"
        torch.onnx.export(Two(), (x,), str(files["two_outputs"]), dynamo=False, input_names=["image"],
                          output_names=["logits", "features"], dynamic_axes={"image": {0: "n"}})
        files["dynamic"] = tmp / "dynamic.onnx"
        torch.onnx.export(Two(), (x,), str(files["dynamic"]), dynamo=False, input_names=["image"],
                          output_names=["logits", "features"],
                          dynamic_axes={"image": {0: "n", 2: "h", 3: "w"}})
    torch.save(torch.nn.Linear(2, 2), tmp / "pickled.pt")
    (tmp / "notes.txt").write_text("not a model\n")
    return files


def test_each_bad_input_is_one_line_and_writes_nothing(plain, tmp_path):
    _, found = plain
    files = found["isi"]
    odd = _odd_models(tmp_path)
    test = files["test"]
    no_covid = tmp_path / "no_covid.csv"
    frame = pd.read_csv(test, dtype=str)
    frame[frame["label"] != "covid"].to_csv(no_covid, index=False)
    cases = {
        "not a model file": ([str(tmp_path / "notes.txt")], "not a model file"),
        "pickled whole model": ([str(tmp_path / "pickled.pt")], "pickled whole model"),
        "3 channels given 1": ([files["torchscript"], "--channels", "1", "--size", str(SIZE)],
                               "expects 3 input channels, the spec gives 1"),
        "1 channel given 3": ([str(odd["one_channel"]), "--size", str(SIZE)],
                              "expects 1 input channels, the spec gives 3 (set channels: 1)"),
        "two ONNX outputs, no head": ([str(odd["two_outputs"]), "--size", str(SIZE)],
                                      "has 2 outputs (logits, features)"),
        "ONNX dynamic size": ([str(odd["dynamic"]), "--onnx-output", "logits"], "height and width are dynamic"),
        "unknown architecture": ([files["state_dict"], "--arch", "nosuchnet_v9"], "neither torchvision nor timm"),
        "keys do not fit": ([files["state_dict"], "--arch", "torchvision:resnet34", "--size", str(SIZE)],
                            "its keys do not fit torchvision:resnet34: 96 missing (layer1.2.conv1.weight"),
        "state dict without --arch": ([files["state_dict"]], "say the architecture with --arch"),
        "NaN outputs": ([str(odd["nan"]), "--size", str(SIZE)], "8 of 8 scores are NaN"),
        "constant outputs": ([str(odd["constant"]), "--size", str(SIZE)], "same score (0.574443) to all 8 images"),
        "two columns, none named": ([str(odd["softmax"]), "--size", str(SIZE)], "gives 2 outputs per image; say which"),
        "output index out of range": ([str(odd["softmax"]), "--size", str(SIZE), "--positive-index", "5"],
                                      "positive output 5 asked for, but the model gives 2"),
        "positive class absent": ([files["onnx"], "--size", str(SIZE)], "no row has the positive label(s)"),
    }
    before = {p: hashlib.sha256(Path(p).read_bytes()).hexdigest() for p in (test, files["onnx"], files["state_dict"])}
    for name, (args, message) in cases.items():
        out = tmp_path / f"out_{name.replace(' ', '_')}"
        manifest = str(no_covid) if name == "positive class absent" else test
        r = runner.invoke(app, ["judge", *args, "-m", manifest, "-p", "covid", "--out", str(out)], terminal_width=400)
        assert r.exit_code == 2, (name, r.output)
        text = r.output.strip()
        assert message in text and len(text.splitlines()) == 1 and "Traceback" not in text, (name, text)
        assert not out.exists(), name
    assert before == {p: hashlib.sha256(Path(p).read_bytes()).hexdigest() for p in before}


def test_the_softmax_column_and_a_spec_file_are_read_as_said(plain, tmp_path):
    _, _ = plain
    odd = _odd_models(tmp_path)
    (tmp_path / "spec.yaml").write_text("size: 64\nnormalise: none\noutput: softmax\npositive_index: 0\n")
    from cxr_isi.models.scorer import read_spec

    scorer = load_scorer(odd["softmax"], spec=read_spec(tmp_path / "spec.yaml"))
    images = np.random.default_rng(0).random((5, SIZE, SIZE)).astype(np.float32)
    m = images.mean(axis=(1, 2))
    np.testing.assert_allclose(scorer.score(images), np.exp(m) / (np.exp(m) + np.exp(-m)), atol=1e-6)
    (tmp_path / "bad.yaml").write_text("size: 64\nnormalise: custom\n")
    with pytest.raises(CxrIsiError, match="normalise: custom needs mean and std"):
        read_spec(tmp_path / "bad.yaml")


def test_the_source_inside_the_lungs_is_found_by_its_direction():
    """Two sources, each mostly one class, whose lungs differ in brightness (a source's exposure
    inside the lungs). A model that reads lung brightness moves toward the lung donor's source in
    same-label swaps; a model that reads a lesion spot does not."""
    from cxr_isi.probes.swap import swap_test

    rng = np.random.default_rng(0)
    images, masks, y, sources = [], [], [], []
    for source, brightness, n_pos, n_neg in (("A", 0.8, 16, 4), ("B", 0.3, 4, 16)):
        for label in [1] * n_pos + [0] * n_neg:
            img = np.full((32, 32), 0.5, np.float32) + rng.normal(0, 0.01, (32, 32)).astype(np.float32)
            mask = np.zeros((32, 32), bool)
            mask[8:24, 6:26] = True
            img[mask] = brightness + rng.normal(0, 0.01, int(mask.sum()))
            if label:
                img[14:17, 14:17] = 1.0
            images.append(img)
            masks.append(mask)
            y.append(label)
            sources.append(source)
    images, masks, y, sources = np.stack(images), np.stack(masks), np.array(y), np.array(sources)

    def style(x):
        return x[:, 8:24, 6:26].mean(axis=(1, 2))

    def lesion(x):
        return np.where(x[:, 12:19, 12:19].max(axis=(1, 2)) > 0.95, 0.9, 0.1)

    read_style = swap_test(style, images, masks, y, sources=sources, n_pairs=24)["source_in_lungs"]
    read_lesion = swap_test(lesion, images, masks, y, sources=sources, n_pairs=24)["source_in_lungs"]
    assert read_style["moves_with_source"] and read_style["ci_low"] > 0, read_style
    assert not read_lesion["moves_with_source"] and abs(read_lesion["signed_shift"]) < 0.05, read_lesion
    single = np.where(y == 1, "A", "B")  # every source one class: no direction to test
    assert swap_test(style, images, masks, y, sources=single, n_pairs=24)["source_in_lungs"] is None


def test_a_torchxrayvision_model_is_read_from_its_file_never_downloaded(tmp_path):
    """torchxrayvision publishes pickled whole models: read with ``weights_only=True`` allowing
    only its own and torch.nn's classes; a missing file names where it must be; a head is named."""
    xrv = pytest.importorskip("torchxrayvision")
    import torchvision

    torch.manual_seed(0)
    model = xrv.models.DenseNet(weights=None, num_classes=18).eval()
    model.classifier.weight.data *= 1e-3  # logits of a moderate size: probabilities that differ
    torch.save(model, tmp_path / "xrv.pt")
    arch = "xrv:densenet121-res224-all"
    scorer = load_scorer(tmp_path / "xrv.pt", arch=arch, spec=ModelSpec(head="Pneumonia"))
    assert scorer.spec.normalise == "xrv" and scorer.spec.channels == 1 and scorer.spec.size == 224
    images = np.random.default_rng(0).random((2, 224, 224)).astype(np.float32)
    column = list(xrv.models.model_urls["densenet121-res224-all"]["labels"]).index("Pneumonia")
    with torch.inference_mode():
        expected = torch.sigmoid(model(torch.from_numpy((2 * images - 1) * 1024)[:, None]))[:, column].numpy()
    np.testing.assert_allclose(scorer.score(images), expected, atol=1e-5)
    assert 0.01 < expected.min() and expected.max() < 0.99
    with pytest.raises(CxrIsiError, match="name the positive one with --head"):
        load_scorer(tmp_path / "xrv.pt", arch=arch)
    with pytest.raises(CxrIsiError, match=r"never downloads them: copy nih-pc-chex-mimic_ch-google-openi-kaggle"):
        load_scorer(tmp_path / "absent.pt", arch=arch, spec=ModelSpec(head="Pneumonia"))
    torch.save(torchvision.models.resnet18(), tmp_path / "foreign.pt")
    with pytest.raises(CxrIsiError, match="classes other than torch.nn's and torchxrayvision's"):
        load_scorer(tmp_path / "foreign.pt", arch=arch, spec=ModelSpec(head="Pneumonia"))


class _CallsXrv:
    """Pickles as a call of torchxrayvision's DenseNet with weights and a cache folder: loading
    it with that class allowed would create the folder and start the weights' download."""

    def __init__(self, cache: str):
        self.cache = cache

    def __reduce__(self):
        import torchxrayvision as xrv

        return xrv.models.DenseNet, (32, (6, 12, 24, 16), 64, 4, 0, 18, 1, "densenet121-res224-all", self.cache)


def test_a_crafted_torchxrayvision_file_writes_nothing_and_downloads_nothing(tmp_path, monkeypatch):
    """A file naming an allowed class (torchxrayvision's DenseNet) with arguments that make it
    download: reading it calls no class the file names, so no folder appears and no download
    starts; the file is refused in one line (it holds no weights)."""
    xrv = pytest.importorskip("torchxrayvision")

    def no_network(*args, **kwargs):
        raise AssertionError("a download was started while reading a model file")

    monkeypatch.setattr(xrv.models, "get_weights", no_network)
    monkeypatch.setattr(xrv.utils, "download", no_network, raising=False)
    cache = tmp_path / "made_by_the_file"
    torch.save({"model": _CallsXrv(str(cache))}, tmp_path / "crafted.pt")
    with pytest.raises(CxrIsiError) as err:
        load_scorer(tmp_path / "crafted.pt", arch="xrv:densenet121-res224-all", spec=ModelSpec(head="Pneumonia"))
    assert len(str(err.value).splitlines()) == 1 and "crafted.pt" in str(err.value)
    assert not cache.exists() and sorted(p.name for p in tmp_path.iterdir()) == ["crafted.pt"]


def test_a_malicious_model_file_does_not_run(tmp_path):
    marker = tmp_path / "ran"
    torch.save({"weights": Payload(marker)}, tmp_path / "evil.pt")
    for arch in (None, "torchvision:resnet18", "xrv:densenet121-res224-all"):
        with pytest.raises(CxrIsiError):
            load_scorer(tmp_path / "evil.pt", arch=arch, spec=ModelSpec(head="Pneumonia"))
    assert not marker.exists()


@pytest.mark.realdata
@pytest.mark.slow
def test_a_covid_model_trained_on_the_real_isi_subset_is_judged_to_read_outside_the_lungs(cxr256, tmp_path):
    """The judge guide's real row at a smaller size: a plain-script ResNet-18 on cxr256's intra-source
    imbalanced subset (ieee8023 + Figure1 covid, Kermany normal), judged on its held-out patients."""
    frame = pd.read_csv(cxr256 / "manifest.csv", dtype=str, keep_default_na=False)
    frame["path"] = [str(cxr256 / p) for p in frame["path"]]
    frame["mask_path"] = ""
    isi = frame[(frame["dataset"].isin(["ieee8023", "figure1"]) & (frame["label"] == "covid"))
                | ((frame["dataset"] == "kermany") & (frame["label"] == "normal"))]
    isi.to_csv(tmp_path / "isi.csv", index=False)
    files = train_plain(tmp_path / "isi.csv", "covid", tmp_path / "model", size=SIZE, epochs=4, seed=0)
    v = judge_model(load_scorer(files["onnx"], spec=ModelSpec(size=SIZE)), _test_manifest(files), tmp_path / "out",
                    map_images=4)
    assert v.kind == READS_OUTSIDE and v.what == "the source", v.reason
    # a trained figure, compared with the tolerance an interval's end carries (tests/figures.py): its
    # lower end was 0.75 or more on this machine's kernels, 0.72 under ATEN_CPU_CAPABILITY=avx2
    assert v.auc["original"]["ci_low"] > 0.9, v.reason
    assert v.auc["lungs_boxed_out"]["ci_low"] > 0.75 - INTERVAL_TOLERANCE, v.reason


def test_judge_remedy_dfr_refits_the_last_layer_writes_the_model_and_judges_it(plain, tmp_path):
    """``judge --remedy dfr --balance-on``: the head is refitted on group-balanced features of a
    manifest whose sources give both classes (the ``balanced`` phantoms' held-out images), the
    model is written again as TorchScript (read back to the same scores), judged on the same test
    images, and compared image set by image set; a format without features, a balance-on set of
    one class, and a remedy judge does not run are each one line, nothing written."""
    import cxr_isi as ci

    _, found = plain
    # phantoms of another seed: the fixture's balanced set (seed 3) shares 31 images, byte for byte,
    # with its isi set of the same seed, and a refit is never scored on images it was fitted on
    generate(SynthConfig(preset="balanced", n=64, size=SIZE, seed=11), tmp_path / "balance_on", jobs=1)
    files, balance_on = found["isi"], str(tmp_path / "balance_on" / "manifest.csv")
    out = tmp_path / "dfr"
    v = ci.judge(files["state_dict"], files["test"], positive="covid", out=out, arch="torchvision:resnet18",
                 size=SIZE, map_images=0, swap_pairs=24, remedy="dfr", balance_on=balance_on)
    r = json.loads((out / "remedy.json").read_text())
    assert v.remedy is not None and r["before"]["verdict_kind"] == v.kind and r["after"]["verdict_kind"]
    assert r["refit"]["n_groups"] >= 4 and r["refit"]["per_group"] >= 2
    assert set(r["auc"]) >= {"original", "lungs_boxed_out"} and r["auc"]["original"]["ci_low"] is not None
    before = pd.read_csv(out / "scores.csv")["score_original"].to_numpy()
    after = pd.read_csv(out / "dfr" / "scores.csv")["score_original"].to_numpy()
    assert not np.allclose(before, after)  # the head changed
    # the model written again, whole, judged with the spec written beside it (issue #43: not the format's defaults)
    import yaml

    again = load_scorer(r["written"]["model"], spec=ModelSpec(**yaml.safe_load(Path(r["written"]["spec"]).read_text())))
    images = np.stack([read_image(p)[0] for p in _test_manifest(files).paths[:4]])
    refitted = load_scorer(files["state_dict"], arch="torchvision:resnet18", spec=ModelSpec(size=SIZE))
    from cxr_isi.remedies.last_layer import refit_last_layer

    twin, _ = refit_last_layer(refitted, Manifest.read(balance_on).with_labels(LabelMapping(positive=["covid"])))
    np.testing.assert_allclose(again.score(images), twin.score(images), atol=1e-5)
    assert (out / "dfr" / "report.html").is_file() and "after DFR" in r["sentence"]
    for args, said in (([files["onnx"], "--remedy", "dfr", "--balance-on", balance_on], "keeps none"),
                       ([files["torchscript"], "--remedy", "balance", "--balance-on", balance_on], "dfr"),
                       ([files["state_dict"], "--arch", "torchvision:resnet18", "--remedy", "dfr"], "--balance-on")):
        o = tmp_path / "bad"
        res = runner.invoke(app, ["judge", *args, "-m", files["test"], "-p", "covid", "--out", str(o), "--size",
                                  str(SIZE)])
        assert res.exit_code == 2 and said in res.output and len(res.output.strip().splitlines()) == 1, res.output
        assert not o.exists()
