"""Phantom rendering speed at 256 x 256 (target: at least 100 images per second on 2 cores)."""

from __future__ import annotations

import os
import tempfile
import time
from pathlib import Path

from cxr_isi.synth import SynthConfig, generate


def run():
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for jobs in (1, os.cpu_count() or 1):
            cfg = SynthConfig(preset="isi", n=400, size=256, seed=0)
            t0 = time.perf_counter()
            generate(cfg, Path(tmp) / f"j{jobs}", jobs=jobs)
            rate = cfg.n / (time.perf_counter() - t0)
            rows.append({"case": f"render + write PNG and mask, 256 px, {jobs} process(es)",
                         "value": rate, "unit": "img/s", "baseline": jobs == 1,
                         "note": "includes process start-up" if jobs > 1 else ""})
    return "Synthetic phantom", rows
