"""Synthetic multi-source chest X-ray phantom with a controllable intra-source imbalance.

The dataset with a known answer: the disease lives only inside the lungs, each source leaves
its fingerprint only outside them, and a plan decides how each source splits between classes.
"""

from cxr_isi.synth.generate import PRESETS, SynthConfig, generate, source_plan
from cxr_isi.synth.phantom import render_chest
from cxr_isi.synth.sources import SourceStyle, apply_fingerprint, make_styles

__all__ = ["PRESETS", "SourceStyle", "SynthConfig", "apply_fingerprint", "generate",
           "make_styles", "render_chest", "source_plan"]
