"""Probe 4: can the label be read from intensity statistics alone (acquisition bias)?

The same classifier, trained on images with the lungs boxed out by the dataset's fixed box (no
lung pixel, no per-image box shape) and the pixels of every tile shuffled among themselves
(``cxr_isi.lungs.hideseek.shuffle_blocks``; tile size ``acquisition_block`` at the training
size): anatomy, the disease, markers' shapes are gone; exposure, noise, contrast and texture
energy outside the lungs stay (the data-acquisition-bias probe of Ong Ly et al., npj Digit Med
2024, here with the lungs hidden so that a lesion's brightness cannot pass for acquisition).
The runner trains it as one more single-split job; this module reads its test AUC
(DeLong interval). It explains a residual boxed-out AUC when the AUC is at least 0.75 with the
interval's low end above 0.60.

What it has not excluded: tile-shuffled intensities outside the lungs also carry the body
(soft-tissue thickness and weight change exposure and scatter; a real one-hospital TB set scored
0.80 on them). The ``causes`` probe's soft-tissue measure (width and density of the bands beside
the lungs) and the ``regions`` map (bands beside the lungs against corners and text) tell the
two apart where they differ.
"""

from __future__ import annotations

import numpy as np

from cxr_isi.evaluate.metrics import auc_ci
from cxr_isi.evaluate.text import interval_text
from cxr_isi.lungs.hideseek import FIXED_BOX
from cxr_isi.probes.base import Probe, ProbeInput, ProbeResult

NAME = "acquisition"
VERSION = 2
MEASURE = "AUC of a model trained on tile-shuffled images without the lungs (no spatial structure)"
EXPLAINS_AUC, EXPLAINS_LOW = 0.75, 0.60


def run(inp: ProbeInput) -> ProbeResult:
    block = int(inp.settings.get("acquisition_block", 16))
    key = f"{FIXED_BOX}_blocks{block}"
    pred = inp.predictions.get(key)
    if pred is None or len(np.unique(pred["label"])) < 2:
        return ProbeResult.not_applicable(NAME, inp.dataset, MEASURE, "The tile-shuffled model did not run "
                                          "(config: probes.names includes acquisition).")
    ci = auc_ci(pred["label"].to_numpy(), pred["score"].to_numpy())
    explains = ci["auc"] >= EXPLAINS_AUC and ci["ci_low"] > EXPLAINS_LOW
    text = interval_text(ci["auc"], ci["ci_low"], ci["ci_high"])
    sentence = (f"With the lungs boxed out and every {block} x {block}-pixel tile shuffled (no anatomy, only "
                "intensity statistics outside the lungs), "
                f"a model scores AUC {text}: "
                + ("intensity statistics outside the lungs tell the classes apart: how they were imaged (exposure, "
                   "noise, contrast), or the bodies imaged (soft-tissue thickness, habitus), which this probe does not "
                   "tell apart (the causes probe's soft-tissue measure and the region map can)."
                   if explains else "intensity statistics alone do not tell the classes apart."))
    return ProbeResult(NAME, inp.dataset, MEASURE, ci["auc"], ci["ci_low"], ci["ci_high"], len(pred), explains,
                       sentence, details={"block": block, "image_set": key})


def _job(cfg) -> tuple[str, dict]:
    """One model per dataset on the fixed box's boxed-out images, tile-shuffled: no lungs, no box
    shape, statistics only."""
    return "lungs_boxed_out", {"box_mode": "dataset", "scramble_block": cfg.probes.acquisition_block}


PROBE = Probe(NAME, MEASURE, run, rank=30, version=VERSION, job=_job, tried="tile-shuffled intensities")
