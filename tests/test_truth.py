"""The phantom's truth masks, and maps scored against them: relevance mass, chance, pointing,
the separation of two models and the model-randomisation test."""

import json

import numpy as np
import pandas as pd
import pytest
from PIL import Image

from cxr_isi.explain.truth import (
    RANDOMISATION_FAILS_AT,
    rank_correlation,
    region_attention,
    separation,
    truth_regions,
    truth_summary,
)
from cxr_isi.synth import SynthConfig, generate
from cxr_isi.synth.sources import _marker_mask


def _read(root, rel):
    return np.asarray(Image.open(root / rel), dtype=np.float32) / 255


@pytest.fixture(scope="module")
def phantom(tmp_path_factory):
    root = tmp_path_factory.mktemp("truth")
    generate(SynthConfig(preset="isi", n=16, size=96, seed=3), root, jobs=1)
    return root, pd.read_csv(root / "manifest.csv"), json.loads((root / "synth.json").read_text())


def test_the_phantom_writes_where_it_drew_each_mark_and_lesion(phantom):
    root, frame, record = phantom
    styles = {s["name"]: s for s in record["sources"]}
    assert {"infection_mask_path", "marker_mask_path", "border_mask_path"} <= set(frame.columns)
    for r in frame.itertuples():
        img, lungs = _read(root, r.path), _read(root, r.mask_path) > 0.5
        lesion, marker, border = (_read(root, p) > 0.5 for p in (r.infection_mask_path, r.marker_mask_path,
                                                                  r.border_mask_path))
        style = styles[r.source]
        assert lesion.any() == (r.label == "covid")  # the disease only on positives...
        assert not (lesion & ~lungs).any()  # ...and only inside the lungs
        # the marker is burned in inside its box: the text's strokes are there, at their value
        glyph = _marker_mask(style["marker"], 96) * style["marker_value"]
        ys, xs = np.nonzero(marker)
        box = img[ys.min(): ys.max() + 1, xs.min(): xs.max() + 1]
        assert box.shape == glyph.shape and 0 < marker.mean() < 0.1
        strokes = glyph > 0.5
        assert (box[strokes] >= glyph[strokes] - 0.12).mean() > 0.95
        if any(style["border"]):  # the collimation bands hold the source's border value
            assert border.any() and abs(float(np.median(img[border])) - style["border_value"]) < 0.1
        else:
            assert not border.any()


def test_relevance_mass_against_chance_and_the_pointing_game():
    region = np.zeros((3, 20, 20), bool)
    region[:, :5, :5] = True  # 6.25% of the image
    focused = np.where(region, 1.0, 0.01)
    spread = np.ones((3, 20, 20))
    rng = np.random.default_rng(0)
    noisy = rng.random((3, 20, 20))
    per = region_attention(np.concatenate([focused, spread, noisy]), {"lesion": np.concatenate([region] * 3)})
    assert per["mass_lesion"][:3].min() > 0.8 and per["pointing_lesion"][:3].all()
    assert np.allclose(per["mass_lesion"][3:6], 0.0625) and np.allclose(per["area_lesion"], 0.0625)
    above = truth_summary(per.iloc[:3]).set_index("region")
    chance = truth_summary(per.iloc[3:]).set_index("region")
    assert above.loc["lesion", "above_chance"] and above.loc["lesion", "mass_ci_low"] > 0.0625
    assert not chance.loc["lesion", "above_chance"]


def test_fingerprint_is_marker_or_border():
    a, b = np.zeros((1, 4, 4), bool), np.zeros((1, 4, 4), bool)
    a[0, 0, 0], b[0, 3, 3] = True, True
    regions = truth_regions({"marker": a, "border": b})
    assert regions["fingerprint"].sum() == 2 and "fingerprint" not in truth_regions({"lesion": a})


def test_separation_and_rank_correlation_can_fail():
    rng = np.random.default_rng(1)
    high, low = rng.uniform(0.6, 0.9, 20), rng.uniform(0.1, 0.4, 20)
    assert separation(high, low)["auc"] == pytest.approx(1.0) and separation(low, high)["auc"] == pytest.approx(0.0)
    tied = separation(high, high)
    assert tied["auc"] == pytest.approx(0.5) and tied["auc_ci_low"] < 0.5 < tied["auc_ci_high"]
    maps = rng.random((4, 16, 16))
    # an "explainer" that shows the image whatever the model: the same maps -> fails the test
    assert np.allclose(rank_correlation(maps, maps), 1.0) and RANDOMISATION_FAILS_AT < 1.0
    assert abs(np.nanmean(rank_correlation(maps, rng.random((4, 16, 16))))) < 0.2


def test_a_randomised_model_keeps_its_input_and_loses_its_weights():
    torch = pytest.importorskip("torch")
    from cxr_isi.explain.truth import randomised_copy
    from cxr_isi.models import create_model

    torch.manual_seed(0)
    model = create_model("small_cnn").eval()
    clone = randomised_copy(model, seed=1)
    first = next(p for p in model.parameters() if p.dim() == 4)
    assert not torch.equal(first, next(p for p in clone.parameters() if p.dim() == 4))
    assert torch.equal(model.input.mean, clone.input.mean)  # the input normalisation is kept
    x = torch.rand(2, 1, 64, 64)
    assert not torch.allclose(model(x), clone(x))
    again = randomised_copy(model, seed=1)
    assert all(torch.equal(a, b) for a, b in zip(clone.state_dict().values(), again.state_dict().values(),
                                                 strict=True))  # seeded


def test_two_checkpoints_of_a_run_folder_keep_distinct_names():
    """A run's checkpoints all sit in ``jobs/<job>/train/``: named by folder alone, the second
    would replace the first and one model would go unexplained."""
    from cxr_isi.explain.run import model_names

    assert model_names(["runs/isi/best.pt", "runs/bal/best.pt"]) == ["isi", "bal"]
    assert model_names(["r/jobs/a/train/best.pt", "r/jobs/b/train/best.pt"]) == ["a", "b"]
    assert len(set(model_names(["x/train/best.pt", "x/train/best.pt"]))) == 2
