"""One conformance test over every model format (``cxr_isi.models.formats.FORMATS``), as timm and
scikit-learn test every model and estimator: each format's file is told by its content and read
by that format, its scores are the positive class's probabilities of the model it holds, it
gives features and gradients exactly where it says it does, and a damaged file is one line.
Then the channels-last layout (ONNX, TorchScript, torch.export, Keras) and the Keras extra."""

from __future__ import annotations

import os
import warnings
from pathlib import Path

import numpy as np
import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("onnxruntime")
os.environ.setdefault("KERAS_BACKEND", "torch")
keras = pytest.importorskip("keras")
from cxr_isi.errors import CxrIsiError  # noqa: E402
from cxr_isi.models.formats import FORMATS  # noqa: E402
from cxr_isi.models.scorer import ModelSpec, load_scorer  # noqa: E402
from cxr_isi.models.spec import ModelSpecError  # noqa: E402

SIDE = 32
IMAGES = np.random.default_rng(0).random((5, SIDE, SIDE), dtype=np.float32)
MEAN, STD = (0.485, 0.456, 0.406), (0.229, 0.224, 0.225)


class TinyNet(torch.nn.Module):
    """Conv -> ReLU -> global pool -> linear: a named last linear layer, as real classifiers have."""

    def __init__(self, channels_last: bool = False):
        super().__init__()
        torch.manual_seed(0)
        self.channels_last = channels_last
        self.conv = torch.nn.Conv2d(3, 8, 3, padding=1)
        self.fc = torch.nn.Linear(8, 1)

    def forward(self, x):
        if self.channels_last:
            x = x.permute(0, 3, 1, 2)
        return self.fc(torch.relu(self.conv(x)).mean(dim=(2, 3)))


def _imagenet(images: np.ndarray):
    t = torch.from_numpy(images).unsqueeze(1).expand(-1, 3, -1, -1)
    return (t - torch.tensor(MEAN).view(1, 3, 1, 1)) / torch.tensor(STD).view(1, 3, 1, 1)


def _tiny_reference(images: np.ndarray) -> np.ndarray:
    with torch.no_grad():
        return torch.sigmoid(TinyNet()(_imagenet(images))).squeeze(1).double().numpy()


def _onnx(tmp: Path, net=None, shape=(2, 3, SIDE, SIDE), name="m.onnx") -> Path:
    net = (net or TinyNet()).eval()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(net, (torch.rand(*shape),), str(tmp / name), dynamo=False, input_names=["image"],
                          output_names=["logit"], dynamic_axes={"image": {0: "batch"}, "logit": {0: "batch"}})
    return tmp / name


def _torchscript(tmp: Path, net=None, shape=(2, 3, SIDE, SIDE), name="m.ts") -> Path:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.jit.save(torch.jit.trace((net or TinyNet()).eval(), torch.rand(*shape)), str(tmp / name))
    return tmp / name


def _export(tmp: Path, net=None, shape=(2, 3, SIDE, SIDE), name="m.pt2") -> Path:
    batch = torch.export.Dim("batch", min=1, max=1024)
    program = torch.export.export((net or TinyNet()).eval(), (torch.rand(*shape),), dynamic_shapes=({0: batch},))
    torch.export.save(program, str(tmp / name))
    return tmp / name


def _state_dict(tmp: Path) -> Path:
    import torchvision

    torch.manual_seed(0)
    torch.save(torchvision.models.resnet18(weights=None, num_classes=1).state_dict(), tmp / "m.pt")
    return tmp / "m.pt"


def _own(tmp: Path) -> Path:
    from cxr_isi.models import create_model
    from cxr_isi.train import TrainConfig
    from cxr_isi.train.loop import save_classifier

    torch.manual_seed(0)
    save_classifier(create_model("small_cnn"), tmp / "best.pt", TrainConfig(model="small_cnn", size=SIDE),
                    {"positive": ["covid"], "negative": ["normal"]}, {})
    return tmp / "best.pt"


def _keras(tmp: Path, suffix: str = ".keras", channels_first: bool = False) -> Path:
    keras.utils.set_random_seed(0)
    shape = (3, SIDE, SIDE) if channels_first else (SIDE, SIDE, 3)
    fmt = "channels_first" if channels_first else "channels_last"
    model = keras.Sequential([keras.Input(shape), keras.layers.Conv2D(8, 3, padding="same", activation="relu",
                                                                      data_format=fmt),
                              keras.layers.GlobalAveragePooling2D(data_format=fmt),
                              keras.layers.Dense(1, activation="sigmoid")])
    path = tmp / f"m{suffix}"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        model.save(path)
    return path


def _keras_reference(path: Path, images: np.ndarray, channels_first: bool = False) -> np.ndarray:
    model = keras.saving.load_model(str(path), compile=False)
    x = np.repeat(images[..., None], 3, axis=-1)
    if channels_first:
        x = x.transpose(0, 3, 1, 2)
    return np.asarray(model.predict(x, verbose=0)).ravel().astype(np.float64)


def _xrv(tmp: Path) -> Path:
    xrv = pytest.importorskip("torchxrayvision")
    labels = list(xrv.models.model_urls["densenet121-res224-all"]["labels"])
    torch.manual_seed(0)
    model = xrv.models.DenseNet(weights=None, num_classes=len(labels))
    with torch.no_grad():  # untrained BatchNorm on [-1024, 1024] inputs: small logits, a sigmoid not saturated
        model.classifier.weight.mul_(1e-4)
    torch.save(model.state_dict(), tmp / "xrv.pt")
    return tmp / "xrv.pt"


# format -> (make the file, what load_scorer is told, the reference scores or None)
CASES = {
    "onnx": (_onnx, {"spec": ModelSpec(size=SIDE)}, _tiny_reference),
    "torchscript": (_torchscript, {"spec": ModelSpec(size=SIDE)}, _tiny_reference),
    "export": (_export, {"spec": ModelSpec(size=SIDE)}, _tiny_reference),
    "state_dict": (_state_dict, {"arch": "torchvision:resnet18", "spec": ModelSpec(size=SIDE)}, None),
    "cxr-isi": (_own, {}, None),
    "keras": (_keras, {}, None),
    "torchxrayvision": (_xrv, {"arch": "xrv:densenet121-res224-all", "spec": ModelSpec(head="Pneumonia")}, None),
}


def test_every_registered_format_has_a_conformance_case():
    assert set(FORMATS) == set(CASES), "a new format needs its case in CASES (tests/test_formats.py)"


@pytest.mark.parametrize("name", list(CASES))
def test_format_conformance(name, tmp_path):
    make, kwargs, reference = CASES[name]
    fmt = FORMATS[name]
    path = make(tmp_path)
    scorer = load_scorer(path, **kwargs)
    assert scorer.format == name, f"{path.name} was read as {scorer.format}, not {name}"
    assert all(v is not None for k, v in scorer.spec.model_dump().items()
               if k in ("size", "channels", "normalise", "layout")), scorer.spec
    side = scorer.spec.size
    images = IMAGES if side == SIDE else np.random.default_rng(0).random((3, side, side), dtype=np.float32)
    scores = scorer.score(images)
    assert scores.shape == (len(images),) and np.all((scores >= 0) & (scores <= 1))
    np.testing.assert_array_equal(scores, scorer.score(images))  # the same images, the same scores
    if reference is not None:
        np.testing.assert_allclose(scores, reference(images), atol=1e-5)
    if name == "keras":
        np.testing.assert_allclose(scores, _keras_reference(path, images), atol=1e-5)
    # features and gradients exactly where the format says so
    assert scorer.supports_features == fmt.features and scorer.supports_gradients == fmt.gradients
    s2, feats = scorer.score_and_features(images)
    np.testing.assert_allclose(s2, scores, atol=1e-6)
    assert (feats is not None) == fmt.features and (feats is None or (feats.ndim == 2 and len(feats) == len(images)))
    if fmt.gradients:
        x = torch.from_numpy(images).unsqueeze(1).requires_grad_(True)
        scorer.torch_module()(x).sum().backward()
        assert x.grad is not None and float(x.grad.abs().sum()) > 0
    else:
        assert scorer.torch_module() is None
    assert scorer.describe()["format"] == name
    # a damaged file of this format is one line, whoever reads it
    broken = tmp_path / f"broken{path.suffix}"
    broken.write_bytes(path.read_bytes()[: max(64, path.stat().st_size // 3)])
    with pytest.raises(CxrIsiError) as err:
        load_scorer(broken, **kwargs).score(images)
    assert "\n" not in str(err.value) and str(broken) in str(err.value)


@pytest.mark.parametrize("make", [_onnx, _torchscript, _export], ids=["onnx", "torchscript", "export"])
def test_a_channels_last_model_scores_as_its_channels_first_twin(make, tmp_path):
    twin = load_scorer(make(tmp_path, name="nchw" + make(tmp_path).suffix), spec=ModelSpec(size=SIDE))
    nhwc = make(tmp_path, net=TinyNet(channels_last=True), shape=(2, SIDE, SIDE, 3), name="nhwc" + twin.name[4:])
    found = load_scorer(nhwc, spec=ModelSpec(size=SIDE))  # the layout read off the shape, or the first batch
    np.testing.assert_allclose(found.score(IMAGES), twin.score(IMAGES), atol=1e-5)
    assert found.spec.layout == "nhwc" and twin.spec.layout == "nchw"
    said = load_scorer(nhwc, spec=ModelSpec(size=SIDE, layout="nhwc"))
    np.testing.assert_allclose(said.score(IMAGES), twin.score(IMAGES), atol=1e-5)
    with pytest.raises(ModelSpecError) as err:  # told NCHW: one line that names the fix
        load_scorer(nhwc, spec=ModelSpec(size=SIDE, layout="nchw")).score(IMAGES)
    assert "layout: nhwc" in str(err.value) and "\n" not in str(err.value)


def test_keras_layouts_conventions_and_legacy_h5(tmp_path):
    path = _keras(tmp_path)
    scorer = load_scorer(path)
    assert (scorer.spec.layout, scorer.spec.channels, scorer.spec.size, scorer.spec.output) == \
        ("nhwc", 3, SIDE, "probability")  # read off the model: its input shape and sigmoid output
    h5 = load_scorer(_keras(tmp_path, ".h5"))
    np.testing.assert_allclose(h5.score(IMAGES), scorer.score(IMAGES), atol=1e-6)
    (tmp_path / "cf").mkdir()
    first = _keras(tmp_path / "cf", channels_first=True)
    cf = load_scorer(first)
    assert cf.spec.layout == "nchw"
    np.testing.assert_allclose(cf.score(IMAGES), _keras_reference(first, IMAGES, channels_first=True), atol=1e-5)
    # Keras' preprocessing conventions by name: tf is [-1, 1], caffe 0-255 less the BGR mean
    tf = load_scorer(path, spec=ModelSpec(normalise="tf"))
    np.testing.assert_allclose(tf.score(IMAGES), _keras_reference(path, IMAGES * 2 - 1), atol=1e-5)
    caffe = load_scorer(path, spec=ModelSpec(normalise="caffe"))
    bgr_mean = np.array([103.939, 116.779, 123.68], np.float32)
    model = keras.saving.load_model(str(path), compile=False)
    want = np.asarray(model.predict(np.repeat(IMAGES[..., None] * 255, 3, axis=-1) - bgr_mean, verbose=0)).ravel()
    np.testing.assert_allclose(caffe.score(IMAGES), want, atol=1e-4)
    with pytest.raises(ModelSpecError) as err:
        load_scorer(path, spec=ModelSpec(layout="nchw"))
    assert "layout: nhwc" in str(err.value) and "\n" not in str(err.value)


def test_keras_without_the_extra_and_a_foreign_keras_file_are_one_line(tmp_path, monkeypatch):
    import sys

    path = _keras(tmp_path)
    monkeypatch.setitem(sys.modules, "keras", None)  # as if not installed
    with pytest.raises(CxrIsiError) as err:
        load_scorer(path)
    assert "cxr-isi[keras]" in str(err.value) and "\n" not in str(err.value)
    monkeypatch.undo()
    fake = tmp_path / "fake.keras"
    import zipfile

    with zipfile.ZipFile(fake, "w") as z:  # a .keras whose config names no model Keras knows
        z.writestr("config.json", '{"class_name": "NoSuchModel", "config": {}}')
        z.writestr("model.weights.h5", b"")
        z.writestr("metadata.json", "{}")
    with pytest.raises(CxrIsiError) as err:
        load_scorer(fake)
    assert str(fake) in str(err.value) and "\n" not in str(err.value)
