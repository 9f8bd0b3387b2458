"""Probe 10, the baseline for "what will it score elsewhere?": PEst (Ong Ly et al., npj Digit Med
2024), exactly as published: a second model trained on the same split with every image's pixels
shuffled (no anatomy, no place: only the intensity histogram), and the estimate of the external
AUC ``AUC_internal - AUC_shuffled + 0.5`` (what the shuffled model reads is taken as what will
not transfer). The runner trains the shuffled model as one more single-split job
(``original_blocks<size>``: one tile the size of the image); this module reads both test AUCs.

Its interval is its own sampling error only (DeLong's standard errors of the two AUCs, taken as
independent): PEst as published gives none; the benchmark of ``cxr-isi external`` measures how
often it covers the measured external AUC. The estimate this project reports beside it is
:mod:`cxr_isi.evaluate.external`'s.
"""

from __future__ import annotations

import numpy as np

from cxr_isi.evaluate.metrics import auc_ci
from cxr_isi.evaluate.text import interval_text
from cxr_isi.probes.base import Probe, ProbeInput, ProbeResult

NAME = "pest"
MEASURE = "PEst: expected external AUC = internal AUC - AUC on pixel-shuffled images + 0.5"


def shuffled_set(size: int) -> str:
    """The image set of the pixel-shuffled model at training size ``size``."""
    return f"original_blocks{size}"


def pest(internal: dict, shuffled: dict) -> dict:
    """PEst from the two AUCs (``auc_ci`` dicts): ``estimate, ci_low, ci_high``."""
    est = internal["auc"] - shuffled["auc"] + 0.5
    se = float(np.hypot(internal.get("se", 0.0) or 0.0, shuffled.get("se", 0.0) or 0.0))
    return {"estimate": float(est), "ci_low": float(max(0.0, est - 1.96 * se)),
            "ci_high": float(min(1.0, est + 1.96 * se))}


def run(inp: ProbeInput) -> ProbeResult:
    original, shuffled = inp.predictions.get("original"), inp.predictions.get(shuffled_set(inp.size))
    if original is None or shuffled is None or len(np.unique(original["label"])) < 2:
        return ProbeResult.not_applicable(NAME, inp.dataset, MEASURE, "The original or the pixel-shuffled model "
                                          "did not run (config: variants includes original, probes.names pest).")
    a = auc_ci(original["label"].to_numpy(), original["score"].to_numpy())
    s = auc_ci(shuffled["label"].to_numpy(), shuffled["score"].to_numpy())
    p = pest(a, s)
    sentence = (f"PEst (Ong Ly et al. 2024): at home AUC {interval_text(a['auc'], a['ci_low'], a['ci_high'])}, on "
                f"pixel-shuffled images {interval_text(s['auc'], s['ci_low'], s['ci_high'])}: expected elsewhere "
                f"{interval_text(p['estimate'], p['ci_low'], p['ci_high'])}.")
    return ProbeResult(NAME, inp.dataset, MEASURE, p["estimate"], p["ci_low"], p["ci_high"], len(original), None,
                       sentence, details={"internal": a, "shuffled": s, "image_set": shuffled_set(inp.size)})


def _job(cfg) -> tuple[str, dict]:
    """PEst's model: every pixel of the original image shuffled (a block of the whole side)."""
    return "original", {"scramble_block": cfg.train.size}


PROBE = Probe(NAME, MEASURE, run, rank=90, default=False, job=_job)
