"""Hostile sweep 4 (issue 36), the cases that need no trained model: the lung swap's pairs and
interval on a handful of images, and config or spec files that are not UTF-8 text."""

from __future__ import annotations

import numpy as np
import pytest
from typer.testing import CliRunner

from cxr_isi.cli.main import app
from cxr_isi.config import load_yaml
from cxr_isi.errors import ConfigError
from cxr_isi.probes.swap import _pairs, swap_test

runner = CliRunner()


def test_swap_pairs_never_repeat_and_few_images_give_a_wide_interval():
    """Four test images asked for 48 pairs: at most the 4 distinct opposite-label pairs (not 96
    swaps of repeated pairs), and the interval counts the 4 images: a model that follows the
    frame in every swap is not read with confidence."""
    rng = np.random.default_rng(0)
    pairs = _pairs(np.array([0, 1]), np.array([2, 3]), 48, rng)
    assert len(pairs) == len(set(pairs)) == 4
    many = _pairs(np.arange(30), np.arange(30, 60), 200, np.random.default_rng(1))
    assert len(many) == len(set(many)) == 200
    same = _pairs(np.arange(3), np.arange(3), 48, rng, distinct=True)
    assert len(same) == len(set(same)) == 6 and all(i != j for i, j in same)

    images = np.zeros((4, 32, 32), np.float32)
    masks = np.zeros((4, 32, 32), bool)
    masks[:, 8:24, 6:14] = masks[:, 8:24, 18:26] = True
    y = np.array([1, 1, 0, 0])
    images[y == 1, :4] = 1.0  # the label is written in the frame, outside the lungs

    def frame_reader(x):
        return np.where(x[:, :4].mean(axis=(1, 2)) > 0.5, 0.95, 0.05)

    found = swap_test(frame_reader, images, masks, y, n_pairs=48)
    frame = found["frame_following"]
    assert found["n_swaps"] <= 8 and frame["rate"] == 1.0 and frame["n_images"] == 4
    assert not found["enough_images"]  # four images cannot make a confident reading


@pytest.mark.parametrize("content, readable", [
    ("sweep:\n  folds: 2\n".encode("utf-16"), True),  # UTF-16 with its BOM, as Windows editors save it
    (b"\xef\xbb\xbfsweep:\n  folds: 2\n", True),  # UTF-8 with a BOM
    (b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\xff\xfe", False),  # binary bytes
    (b"sweep:\n  name: caf\xe9\n", False),  # Latin-1
], ids=["utf16-bom", "utf8-bom", "binary", "latin1"])
def test_a_config_that_is_not_utf8_text_is_read_or_refused_in_one_line(tmp_path, content, readable):
    path = tmp_path / "c.yaml"
    path.write_bytes(content)
    if readable:
        assert load_yaml(path) == {"sweep": {"folds": 2}}
        return
    with pytest.raises(ConfigError) as err:
        load_yaml(path)
    assert str(path) in str(err.value) and len(str(err.value).splitlines()) == 1
    for args in (["run", str(path), "--check", "--out", str(tmp_path / "o")],
                 ["judge", str(tmp_path / "m.pt"), "-m", str(tmp_path / "m.csv"), "-p", "covid", "--out",
                  str(tmp_path / "j"), "--spec", str(path)]):
        (tmp_path / "m.pt").write_bytes(b"x")
        (tmp_path / "m.csv").write_text("path,label,source,patient_id\na.png,covid,s,p\n")
        r = runner.invoke(app, args)
        assert r.exit_code == 2 and "Traceback" not in r.output, r.output
        assert len(r.output.strip().splitlines()) == 1 and "c.yaml" in r.output, r.output
    assert not (tmp_path / "o").exists() and not (tmp_path / "j").exists()


@pytest.mark.parametrize("call, kwargs, key", [
    ("error_rates", {"seeds": "100"}, "seeds"),
    ("external", {"seeds": [3]}, "seeds"),
    ("sweep", {"majority_share": "0.9"}, "majority_share"),
    ("remedy", {"manifest": "m.csv", "positive": "covid", "seeds": 1.5}, "seeds"),
    ("run_experiment", {"config": "c.yaml", "jobs": "2"}, "jobs"),
])
def test_the_api_refuses_an_argument_of_the_wrong_type_before_any_work(tmp_path, call, kwargs, key):
    """A string where a number is meant (``ci.error_rates(seeds="100")`` ran for minutes) is one
    line naming the argument, and nothing is written."""
    import cxr_isi as ci
    from cxr_isi.errors import CxrIsiError

    with pytest.raises(CxrIsiError) as err:
        getattr(ci, call)(out=tmp_path / "out", **kwargs)
    assert f"{key}=" in str(err.value) and len(str(err.value).splitlines()) == 1
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize("shift", [20.0, 60.0])
@pytest.mark.parametrize("output", ["logit", "softmax"])
def test_extreme_logits_keep_their_order_so_a_perfect_ranker_scores_auc_1(shift, output):
    """Logits shifted to +20 (a float32 sigmoid is exactly 1 there) and +60 (a float64 one is
    too): AUCs and maps rank by log-odds, so the AUC is the model's (1.0, not a tie at 0.50), the
    model is not refused as giving one score to all images, and its occlusion map is not empty."""
    torch = pytest.importorskip("torch")
    from sklearn.metrics import roc_auc_score

    from cxr_isi.explain.occlusion import OcclusionExplainer
    from cxr_isi.models.formats.base import TorchScorer
    from cxr_isi.models.spec import ModelSpec
    from cxr_isi.probes.evidence import image_set_aucs
    from cxr_isi.study.judge import _not_constant

    class Shifted(torch.nn.Module):
        def forward(self, x):  # the mean brightness ranks the images perfectly, far in the tail
            z = shift + 10 * x.mean(dim=(1, 2, 3))[:, None]
            return torch.cat([-z, z], dim=1) if output == "softmax" else z

    spec = ModelSpec(size=8, channels=1, normalise="none", output=output).filled(size=8, channels=1)
    scorer = TorchScorer(Shifted(), spec, "shifted", "test")
    images = np.linspace(0, 1, 10, dtype=np.float32)[:, None, None] * np.ones((10, 8, 8), np.float32)
    y = np.array([0] * 5 + [1] * 5)
    log_odds = scorer.log_odds(images)
    assert log_odds.dtype == np.float64 and len(np.unique(log_odds)) == 10
    assert roc_auc_score(y, log_odds) == 1.0
    assert image_set_aucs(y, {"original": log_odds})["original"]["auc"] == 1.0
    _not_constant(scorer, log_odds)  # +60 was refused as "the same score (1) to all images"
    if shift == 60.0:
        assert len(np.unique(scorer.score(images))) == 1  # why the probability cannot be what ranks
    maps = OcclusionExplainer(scorer, window=4, stride=4).explain(images[-2:])
    assert np.abs(maps).max() > 0.1  # hiding a bright patch lowers the log-odds: the map is not empty
    assert torch.is_tensor(scorer.torch_module()(torch.from_numpy(images[:2, None])))


def test_a_probability_output_of_exactly_0_or_1_gets_finite_log_odds():
    """A model whose output layer is a sigmoid can give exactly 0.0 or 1.0: its log-odds stay finite
    (an AUC never meets an infinity), and its probabilities are given back as they are."""
    pytest.importorskip("torch")
    from cxr_isi.models.formats.base import positive_log_odds, positive_probability
    from cxr_isi.models.spec import ModelSpec, ModelSpecError

    spec = ModelSpec(output="probability")
    out = np.array([[0.0], [0.25], [1.0]], np.float32)
    lo = positive_log_odds(out, spec, "m.keras").numpy()
    assert np.isfinite(lo).all() and np.all(np.diff(lo) > 0) and abs(lo[1] - np.log(1 / 3)) < 1e-12
    assert positive_probability(out, spec, "m.keras").numpy().tolist() == [0.0, 0.25, 1.0]
    with pytest.raises(ModelSpecError, match="softmax over one output"):
        positive_log_odds(out, ModelSpec(output="softmax"), "m.keras")  # +inf for every image otherwise


def test_a_figure_that_was_not_computed_prints_as_such():
    """None or NaN where a figure is printed (a filter left one class) is "n/a", never a
    ``TypeError`` from formatting None as a number."""
    from cxr_isi.cli.common import _fmt

    assert _fmt(None) == _fmt(float("nan")) == "n/a" and _fmt(0.12345, 2) == "0.12"


@pytest.mark.parametrize("hangs_on", ["ocr", "version"])
def test_a_stuck_tesseract_never_hangs_the_causes_probe(tmp_path, monkeypatch, hangs_on):
    """A tesseract on PATH that never answers: each OCR call is stopped after its time limit and
    the probe says how many images it skipped; one that hangs even on ``--version`` is reported
    as stuck and the text is not read. The other measures are made all the same."""
    pytest.importorskip("pytesseract")
    from cxr_isi.probes import causes

    fake = tmp_path / "bin" / "tesseract"
    fake.parent.mkdir()
    version = 'echo "tesseract 5.3.0"; exit 0' if hangs_on == "ocr" else "exec sleep 600"
    fake.write_text(f'#!/bin/sh\nif [ "$1" = "--version" ]; then {version}; fi\nexec sleep 600\n')
    fake.chmod(0o755)
    monkeypatch.setenv("PATH", f"{fake.parent}:{__import__('os').environ['PATH']}")
    monkeypatch.setattr(causes, "OCR_TIMEOUT_S", 1)
    import pytesseract

    monkeypatch.setattr(pytesseract.pytesseract, "tesseract_cmd", str(fake))
    images = np.random.default_rng(0).random((2, 32, 32)).astype(np.float32)
    masks = np.zeros((2, 32, 32), bool)
    masks[:, 8:24, 8:24] = True
    table, warnings = causes.cause_table(images, masks, None, text=True)
    assert len(table) == 2 and "bright_objects" in table.columns
    if hangs_on == "ocr":
        assert (table["text_found"] == "no").all()
        assert any("on 2 of 2 images" in w and "skipped" in w for w in warnings), warnings
    else:
        assert "text_found" not in table.columns and any("gives no answer" in w for w in warnings), warnings


def test_a_damaged_exported_program_is_one_line_without_torchs_traceback(tmp_path):
    """A corrupt ``.pt2``: torch.export logs the whole traceback as a warning before it raises;
    the command prints one line and nothing of torch's."""
    import subprocess
    import sys
    from pathlib import Path

    (tmp_path / "bad.pt2").write_bytes(b"PK\x03\x04garbage")
    (tmp_path / "m.csv").write_text("path,label,source,patient_id\na.png,covid,s,p\nb.png,normal,s,q\n")
    done = subprocess.run([str(Path(sys.executable).parent / "cxr-isi"), "judge", str(tmp_path / "bad.pt2"), "-m",
                           str(tmp_path / "m.csv"), "-p", "covid", "--out", str(tmp_path / "out")],
                          capture_output=True, text=True, timeout=300, env={**__import__("os").environ,
                                                                            "HF_HUB_OFFLINE": "1"})
    assert done.returncode == 2, done.stderr
    lines = [x for x in done.stderr.strip().splitlines() if x.strip()]
    assert len(lines) == 1 and "bad.pt2" in lines[0] and "Traceback" not in done.stderr, done.stderr


def test_outputs_get_the_mode_new_files_get_here(tmp_path):
    """Written through a temporary file (0600), an output still gets 0666 less the umask."""
    import os

    from cxr_isi._io import UMASK, write_json

    path = write_json(tmp_path / "x.json", {"a": 1})
    assert os.stat(path).st_mode & 0o777 == 0o666 & ~UMASK


def test_the_lung_swap_makes_its_images_a_chunk_at_a_time(monkeypatch):
    """However many pairs are asked for, at most one chunk of swapped images is in memory (20,000
    pairs took 3.3 GB); the scores are those of one pass over all of them."""
    from cxr_isi.probes import swap as lung_swap

    rng = np.random.default_rng(0)
    images = rng.random((40, 32, 32)).astype(np.float32)
    masks = np.zeros((40, 32, 32), bool)
    masks[:, 8:24, 6:14] = masks[:, 8:24, 18:26] = True
    y = np.array([0, 1] * 20)
    images[y == 1, :4] = 1.0  # the label in the frame: every opposite-label pair is told apart
    seen: list[int] = []

    def score(x):
        seen.append(len(x))
        return x[:, :4].mean(axis=(1, 2))

    found = lung_swap.swap_test(score, images, masks, y, n_pairs=300, seed=0)
    assert max(seen[1:]) <= lung_swap.SWAP_CHUNK and found["n_swaps"] > lung_swap.SWAP_CHUNK
    assert len(found["made"]) == 4
