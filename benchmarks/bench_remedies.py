"""Deep feature reweighting on a model trained elsewhere (``judge --remedy dfr``): the last layer of
a ResNet-50 (a torchvision state dict, untrained weights: the time does not depend on them)
refitted on 1,000 images at 224 px, features computed once (target: <= 2 minutes on the 2-core
machine). Baseline: scoring the same 1,000 images once (the forward pass DFR cannot avoid).

The images are phantoms (1,000, four sources, both classes in each) written at 224 px.
"""

from __future__ import annotations

import tempfile
import time
from pathlib import Path

N, SIZE = 1000, 224


def run() -> tuple[str, list[dict]]:
    import torch
    import torchvision

    from cxr_isi.data import LabelMapping, Manifest
    from cxr_isi.data.resize import read_squares
    from cxr_isi.models.scorer import ModelSpec, load_scorer
    from cxr_isi.remedies.last_layer import refit_last_layer
    from cxr_isi.synth import SynthConfig, generate

    torch.set_num_threads(2)
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        generate(SynthConfig(preset="mild", n=N, size=SIZE, seed=0), root / "data", jobs=2)
        m = Manifest.read(root / "data" / "manifest.csv").with_labels(LabelMapping(positive=["covid"]))
        torch.manual_seed(0)
        torch.save(torchvision.models.resnet50(weights=None, num_classes=1).state_dict(), root / "r50.pt")
        scorer = load_scorer(root / "r50.pt", arch="torchvision:resnet50", spec=ModelSpec(size=SIZE))
        t0 = time.perf_counter()
        images = read_squares(m.paths, SIZE, "pad")
        scorer.score(images)
        base = time.perf_counter() - t0
        t0 = time.perf_counter()
        _, record = refit_last_layer(scorer, m, seed=0)
        dfr = time.perf_counter() - t0
    return (f"DFR on {N} images, ResNet-50 at {SIZE} px (target <= 120 s)", [
        {"case": f"read and score {N} images once (baseline)", "value": base, "unit": "s", "baseline": True},
        {"case": f"DFR: features once, group-balanced logistic head ({record['n_images']} images, "
                 f"{record['n_groups']} groups)", "value": dfr, "unit": "s",
         "note": "met" if dfr <= 120 else "missed"},
    ])


if __name__ == "__main__":
    print(run())
