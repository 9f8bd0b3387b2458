"""``cxr-isi judge`` on Keras models trained by a plain Keras script (``tests/plain_keras.py``,
Keras 3 on the torch backend) whose answer is known: the same verdicts as their torch twins of
``tests/test_judge.py`` (trained on ``isi``: reads outside the lungs, the source; on ``balanced``:
reads the lungs), through the same scorer interface with its features and gradients."""

import os

import numpy as np
import pytest

torch = pytest.importorskip("torch")
os.environ.setdefault("KERAS_BACKEND", "torch")
pytest.importorskip("keras")
from cxr_isi.data import LabelMapping, Manifest  # noqa: E402
from cxr_isi.data.readers import read_image  # noqa: E402
from cxr_isi.models.scorer import ModelSpec, load_scorer  # noqa: E402
from cxr_isi.study.judge import judge_model  # noqa: E402
from cxr_isi.synth import SynthConfig, generate  # noqa: E402
from cxr_isi.verdict.kinds import READS_LUNGS, READS_OUTSIDE  # noqa: E402
from tests.plain_keras import train_plain_keras  # noqa: E402

SIZE = 64


@pytest.mark.slow
@pytest.mark.parametrize("preset, expected", [("isi", (READS_OUTSIDE, "the source")),
                                             ("balanced", (READS_LUNGS, None))])
def test_a_plain_keras_model_is_judged_like_its_torch_twin(tmp_path, preset, expected):
    generate(SynthConfig(preset=preset, n=160, size=SIZE, seed=3), tmp_path / preset, jobs=1)
    files = train_plain_keras(tmp_path / preset / "manifest.csv", "covid", tmp_path / "model", size=SIZE, epochs=24)
    m = Manifest.read(files["test"]).with_labels(LabelMapping(positive=["covid"]))
    spec = ModelSpec(normalise="tf")  # the script fed [-1, 1], as Keras' preprocess_input(mode="tf")
    scorer = load_scorer(files["keras"], spec=spec)
    assert (scorer.format, scorer.spec.layout, scorer.supports_features, scorer.supports_gradients) == \
        ("keras", "nhwc", True, True)
    images = np.stack([read_image(p)[0] for p in m.paths[:8]])
    np.testing.assert_allclose(load_scorer(files["h5"], spec=spec).score(images), scorer.score(images), atol=1e-5)
    v = judge_model(scorer, m, tmp_path / "judged", map_images=4)
    assert (v.kind, v.what) == expected, f"{preset}: {v.kind}: {v.reason}"
    assert v.auc["original"]["ci_low"] > 0.6
    sources = [e for e in v.evidence if e["probe"] == "source_from_features"]
    assert sources, "the Keras model's pooled features were read for the source"
    maps = [e["probe"] for e in v.evidence if e["probe"].startswith("map_")]
    assert "map_integrated_gradients" in maps  # gradients flow through the Keras layers
