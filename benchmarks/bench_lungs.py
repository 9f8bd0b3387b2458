"""Lung segmentation inference at 256 x 256 on the CPU (target: at least 10 images per second)."""

from __future__ import annotations

import tempfile
import time
from pathlib import Path

import numpy as np


def run():
    from cxr_isi.lungs.postprocess import clean_mask, lung_geometry
    from cxr_isi.lungs.segmentation import get_segmenter, load_pairs
    from cxr_isi.synth import SynthConfig, generate

    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        m = generate(SynthConfig(preset="balanced", n=64, size=256, seed=4242), Path(tmp) / "p", jobs=1)
        x, _, _ = load_pairs(m, size=256, cache_root=Path(tmp) / "cache")
        seg = get_segmenter()
        seg.predict(x[:4])  # warm-up
        for bs in (1, 16):
            t0 = time.perf_counter()
            seg.predict(x, batch_size=bs)
            rows.append({"case": f"U-Net inference, batch {bs}", "value": len(x) / (time.perf_counter() - t0),
                         "unit": "img/s", "baseline": bs == 1})
        t0 = time.perf_counter()
        for p in seg.predict(x, batch_size=16):
            lung_geometry(*clean_mask(p))
        rows.append({"case": "U-Net + post-processing + QC, batch 16",
                     "value": len(x) / (time.perf_counter() - t0), "unit": "img/s"})
        assert np.isfinite(rows[-1]["value"])
    return "Lung segmentation at 256 px (shipped U-Net, CPU)", rows
