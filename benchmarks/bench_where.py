"""Where outside the lungs, and what: the ``regions`` map and the ``causes`` measures on 1,000
images at 256 px (target: <= 5 minutes together on the 2-core machine, so that
``configs/cxr256.yaml`` stays within its hour with both probes on).

The images are ``nih256`` (1,000 real radiographs) where ``../shared`` is present, else 1,000
phantoms. Timing does not depend on where the lungs are, so every image gets the same two
rectangles as its lung mask and the box around them as the fixed box (a run uses the U-Net's
masks and the fixed box of ``lungs.csv``). Baseline: decoding the 1,000 PNGs (what any measure
of the pixels must do). OCR runs in two processes, as ``probes.ocr_jobs`` does by default.
"""

from __future__ import annotations

import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd
from PIL import Image

from cxr_isi.probes import causes, regions

ROOT = Path(__file__).resolve().parents[1]
NIH = ROOT / ".." / "shared" / "data" / "nih256"
N, SIZE = 1000, 256
BOX = (0.12, 0.85, 0.14, 0.86)


def _dataset(tmp: Path) -> tuple[list[str], np.ndarray, str]:
    if (NIH / "manifest.csv").is_file():
        m = pd.read_csv(NIH / "manifest.csv").head(N)
        return [str(NIH / p) for p in m["path"]], (m["label"] == "pneumonia").to_numpy(int), "nih256 (real)"
    from cxr_isi.synth import SynthConfig, generate

    m = generate(SynthConfig(preset="balanced", n=N, size=SIZE, seed=0), tmp / "phantoms").frame
    return m["path"].tolist(), (m["label"] == "covid").to_numpy(int), "phantoms (no ../shared)"


def run() -> tuple[str, list[dict]]:
    with tempfile.TemporaryDirectory() as tmp:
        paths, y, what = _dataset(Path(tmp))
        t0 = time.perf_counter()
        images = np.stack([np.asarray(Image.open(p).convert("L").resize((SIZE, SIZE)), np.float32) / 255
                           for p in paths])
        decode = time.perf_counter() - t0
    masks = np.zeros(images.shape, bool)
    masks[:, 40:210, 45:120] = True
    masks[:, 40:210, 136:211] = True
    groups = np.arange(len(y)).astype(str)
    t0 = time.perf_counter()
    table = regions.region_map(images, y, groups, BOX)
    t_regions = time.perf_counter() - t0
    t0 = time.perf_counter()
    _, warnings = causes.cause_table(images, masks, BOX, text=False)
    t_measures = time.perf_counter() - t0
    t0 = time.perf_counter()
    ocr, warnings = causes.cause_table(images, masks, BOX, text=True, jobs=2)
    t_ocr = time.perf_counter() - t0 - t_measures
    total = t_regions + t_measures + max(0.0, t_ocr)
    rows = [
        {"case": f"decode {len(paths)} PNGs ({what})", "value": decode, "unit": "s", "baseline": True},
        {"case": "region map: 20 regions, 5-fold logistic regression", "value": t_regions, "unit": "s",
         "note": f"best region AUC {table['auc'].max():.2f}"},
        {"case": "bright objects + soft tissue", "value": t_measures, "unit": "s"},
        {"case": "burned-in text (Tesseract, 2 processes, 2 passes)", "value": max(0.0, t_ocr), "unit": "s",
         "note": warnings[0] if warnings else
         f"text found on {(ocr['text_found'] == 'yes').mean():.0%} of images"},
        {"case": "regions + causes, total (target <= 300 s)", "value": total, "unit": "s",
         "note": "met" if total <= 300 else "MISSED"},
    ]
    return f"Where outside the lungs: {len(paths)} images at {SIZE} px", rows


if __name__ == "__main__":
    for r in run()[1]:
        print(f"{r['case']:<60} {r['value']:>8.1f} {r['unit']}  {r.get('note', '')}")
