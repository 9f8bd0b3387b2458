"""Regenerate the README's figures: ``.venv/bin/python docs/figures.py``."""

from pathlib import Path
from tempfile import TemporaryDirectory

from cxr_isi.synth import SynthConfig, generate
from cxr_isi.synth.preview import contact_sheet

HERE = Path(__file__).resolve().parent

if __name__ == "__main__":
    with TemporaryDirectory() as tmp:
        sets = {p: generate(SynthConfig(preset=p, n=8, size=256, seed=3), Path(tmp) / p, jobs=1)
                for p in ("isi", "balanced")}
        print(contact_sheet(sets, HERE / "synth_presets.png"))
