"""Regenerate the README's figures: ``.venv/bin/python docs/figures.py [RUN_DIR]``.

With a run folder (``make demo`` writes ``demo_out``) it also takes the screenshot of its
report's first screen in headless Chromium (``docs/report_first_screen.png``)."""

import sys
from pathlib import Path
from tempfile import TemporaryDirectory

import numpy as np
from PIL import Image

from cxr_isi.lungs.figure import hide_and_seek_figure
from cxr_isi.lungs.postprocess import clean_mask
from cxr_isi.lungs.segmentation import get_segmenter
from cxr_isi.report.browser import screenshot
from cxr_isi.report.html import write_report
from cxr_isi.synth import SynthConfig, generate
from cxr_isi.synth.preview import contact_sheet

HERE = Path(__file__).resolve().parent

if __name__ == "__main__":
    with TemporaryDirectory() as tmp:
        sets = {p: generate(SynthConfig(preset=p, n=8, size=256, seed=3), Path(tmp) / p, jobs=1)
                for p in ("isi", "balanced")}
        print(contact_sheet(sets, HERE / "synth_presets.png"))
        image = np.asarray(Image.open(sets["isi"].paths[2]))
        mask, _ = clean_mask(get_segmenter().predict(image[None])[0])  # the shipped U-Net's mask
        print(hide_and_seek_figure(image, mask, HERE / "hide_and_seek.png"))
    if len(sys.argv) > 1:
        page = write_report(Path(sys.argv[1]))["report"]
        print(screenshot(page, HERE / "report_first_screen.png", width=1100, height=820))
