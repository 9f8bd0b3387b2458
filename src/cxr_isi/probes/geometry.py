"""Probe 1, the protocol's own leak: can the lung mask's geometry alone tell the label?

Disease changes what a segmenter calls lung (consolidation, effusion and volume loss shrink the
mask; TB sits in the apices), and the black box of ``lungs_boxed_out`` is drawn from that mask,
so its size and place can carry the label into a set that "has no lungs". Two predictors, both
out-of-fold and patient-grouped, with no pixel of the image:

- the mask's numbers: union box corners, lung area share, left/right ratio, component count
  (a logistic regression);
- the mask's shape: the binary mask at 16 x 16 (block means; a logistic regression, which on
  so small an input does what a small CNN would, without a training job).

The estimate is the better of the two, with its DeLong interval at 97.5% (Bonferroni: the
better of two is picked after seeing both; at 95% the picked one's interval excluded chance on
data with no geometry leak more often than 5% of the time). It explains a residual boxed-out AUC
when it reaches 0.70.
"""

from __future__ import annotations

import numpy as np

from cxr_isi.evaluate.metrics import auc_ci
from cxr_isi.evaluate.text import interval_text
from cxr_isi.probes.base import Probe, ProbeInput, ProbeResult, images_and_masks, oof_probabilities

NAME = "geometry"
MEASURE = "AUC of the label from the lung mask's geometry alone"
EXPLAINS_AUC = 0.70
GRID = 16
PREDICTORS = 2  # the mask's numbers and its shape: the interval of the better one is corrected for the pick
CONFIDENCE = 1 - 0.05 / PREDICTORS


def geometry_features(lungs, segmentation_size: int):
    """The mask's numbers per image (``path`` index): union box (fractions), its height, width
    and area, lung area share, left/right ratio, component count."""
    import pandas as pd

    t = lungs.copy()
    box = t["union_box"].fillna("").astype(str).str.split(expand=True)
    box = box.reindex(columns=range(4)).apply(pd.to_numeric, errors="coerce") / segmentation_size
    feats = pd.DataFrame({"y0": box[0], "y1": box[1], "x0": box[2], "x1": box[3]}, index=t.index)
    feats["box_height"] = feats["y1"] - feats["y0"]
    feats["box_width"] = feats["x1"] - feats["x0"]
    feats["box_area"] = feats["box_height"] * feats["box_width"]
    for col in ("area_share", "lr_ratio", "n_components"):
        feats[col] = pd.to_numeric(t[col], errors="coerce")
    feats.index = t["path"].to_numpy()
    return feats


def mask_thumbnails(masks: np.ndarray, grid: int = GRID) -> np.ndarray:
    """Boolean masks ``(N, S, S)`` as ``grid`` x ``grid`` block means, flattened."""
    n, s = masks.shape[0], masks.shape[-1]
    s2 = s - s % grid
    m = masks[:, :s2, :s2].reshape(n, grid, s2 // grid, grid, s2 // grid).mean(axis=(2, 4))
    return m.reshape(n, -1)


def _score(x, y, groups, seed):
    p = oof_probabilities(x, y, groups, seed)
    return None if p is None else auc_ci(y, p, confidence=CONFIDENCE)


def run(inp: ProbeInput) -> ProbeResult:
    if inp.lungs.empty or "union_box" not in inp.lungs.columns:
        return ProbeResult.not_applicable(NAME, inp.dataset, MEASURE, "No lung masks were predicted for this "
                                          "dataset (lungs.csv is missing).")
    m = inp.manifest
    frame = m.frame.assign(_y=m.y)
    feats = geometry_features(inp.lungs, inp.segmentation_size)
    rows = frame[frame["path"].isin(feats.index)]
    x = feats.loc[rows["path"]].to_numpy(dtype=float)
    ok = ~np.isnan(x).any(axis=1)
    rows, x = rows[ok], x[ok]
    y, groups = rows["_y"].to_numpy(), rows["patient_id"].astype(str).to_numpy()
    numbers = _score(x, y, groups, inp.seed)
    paths, _, masks = images_and_masks(m.with_frame(rows.drop(columns="_y")), inp.size, inp.resize)
    shape = None
    if len(paths):
        sel = rows.set_index("path").loc[paths]
        shape = _score(mask_thumbnails(masks), sel["_y"].to_numpy(), sel["patient_id"].astype(str).to_numpy(),
                       inp.seed)
    found = {k: v for k, v in (("mask numbers", numbers), ("mask shape", shape)) if v is not None}
    if not found:
        return ProbeResult.not_applicable(NAME, inp.dataset, MEASURE, "Too few patients per class to fit a "
                                          "geometry-only predictor out of fold.")
    which, best = max(found.items(), key=lambda kv: kv[1]["auc"])
    explains = best["auc"] >= EXPLAINS_AUC
    text = interval_text(best["auc"], best["ci_low"], best["ci_high"], level=CONFIDENCE)
    sentence = (f"The lung mask alone ({which}, the better of {PREDICTORS} predictors) predicts the label "
                f"with AUC {text}: "
                + ("the box that lungs-boxed-out draws carries the label by its size and place."
                   if explains else "the boxed-out set's box says little about the label."))
    return ProbeResult(NAME, inp.dataset, MEASURE, best["auc"], best["ci_low"], best["ci_high"], len(rows),
                       explains, sentence, details={k: {"auc": v["auc"], "ci_low": v["ci_low"],
                                                         "ci_high": v["ci_high"]} for k, v in found.items()})


PROBE = Probe(NAME, MEASURE, run, rank=10, tried="the lung mask's geometry")
