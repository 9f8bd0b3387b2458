"""Explanations scored against the truth, where the truth is known.

A phantom knows where its source fingerprints are (the burned-in marker, the collimation border:
``marker_mask_path``, ``border_mask_path``) and where its disease is (``infection_mask_path``, the
column QaTa-COV19's infection masks use too). For each explainer this module measures how much
of a map's positive relevance falls inside each region against the region's area share (what a
map spread at random scores), and the pointing game; how well an explainer tells an
``isi``-trained model (which reads the marks) from a ``balanced``-trained one (which reads the
lesions); and the model-randomisation sanity check of Adebayo et al. (2018): the maps of a model
whose weights were re-drawn must differ from the trained model's, or the explainer shows the
image rather than the model.
"""

from __future__ import annotations

import copy

import numpy as np
import pandas as pd
from scipy import stats

from cxr_isi.evaluate.metrics import mean_ci
from cxr_isi.explain.attention import lung_attention

# region -> manifest column of its mask; "fingerprint" is marker and border together
TRUTH_COLUMNS = {"lungs": "mask_path", "lesion": "infection_mask_path", "marker": "marker_mask_path",
                 "border": "border_mask_path"}
FINGERPRINT = ("marker", "border")
# Mean Spearman correlation of |map| between the trained and the randomised model above which an
# explainer fails the randomisation test (Adebayo et al. call maps this alike "similar").
RANDOMISATION_FAILS_AT = 0.5


def truth_regions(masks: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """The regions to score: each mask given, and ``fingerprint`` (marker or border) when
    either is."""
    regions = {k: np.asarray(v, bool) for k, v in masks.items()}
    marks = [regions[k] for k in FINGERPRINT if k in regions]
    if marks:
        regions["fingerprint"] = np.logical_or.reduce(marks)
    return regions


def region_attention(maps: np.ndarray, regions: dict[str, np.ndarray]) -> pd.DataFrame:
    """Per image and region: ``mass_<r>`` (share of positive relevance inside), ``area_<r>``
    (the region's share of the image: chance) and ``pointing_<r>`` (the map's peak inside).

    Parameters
    ----------
    maps : array (N, H, W)
        Attribution maps, positive = evidence for the positive class.
    regions : dict of name -> bool array (N, H, W)

    Returns
    -------
    DataFrame
        One row per image; ``empty`` marks a map with no positive relevance (no mass, no hit).
    """
    out = pd.DataFrame(index=range(len(maps)))
    for name, masks in regions.items():
        per = lung_attention(maps, masks)
        out[f"mass_{name}"] = per["inside_share"].to_numpy()
        out[f"area_{name}"] = per["lung_area_share"].to_numpy()
        out[f"pointing_{name}"] = per["pointing"].to_numpy()
        out["empty"] = per["empty"].to_numpy()  # a property of the map: the same for every region
    return out


def truth_summary(per_image: pd.DataFrame) -> pd.DataFrame:
    """One row per region: mean relevance mass with its 95% t interval, mean area share,
    pointing-game hit rate, and whether the mass is above chance (interval above the area).

    Parameters
    ----------
    per_image : DataFrame
        From :func:`region_attention`.

    Returns
    -------
    DataFrame
        ``region, n, mass, mass_ci_low, mass_ci_high, area, pointing, above_chance``.
    """
    rows = []
    for col in [c for c in per_image.columns if c.startswith("mass_")]:
        region = col[len("mass_"):]
        ci = mean_ci(per_image[col].to_numpy(dtype=float))  # masses are shares: clipped to [0, 1]
        mass, low, high = ci["mean"], ci["ci_low"], ci["ci_high"]
        area = float(per_image[f"area_{region}"].mean())
        rows.append({"region": region, "n": int(per_image[col].notna().sum()), "mass": mass,
                     "mass_ci_low": low, "mass_ci_high": high, "area": area,
                     "pointing": float(per_image[f"pointing_{region}"].mean()),
                     "above_chance": bool(low > area) if not np.isnan(low) else False})
    return pd.DataFrame(rows)


def randomised_copy(model, seed: int = 0):
    """A copy of ``model`` with every layer's weights re-drawn by its own initialiser (the
    full model-parameter randomisation of Adebayo et al.); the input normalisation is kept."""
    import torch

    clone = copy.deepcopy(model)
    with torch.random.fork_rng():
        torch.manual_seed(seed)
        for module in clone.modules():
            reset = getattr(module, "reset_parameters", None)
            if callable(reset):
                reset()
            if hasattr(module, "reset_running_stats"):
                module.reset_running_stats()
    return clone.eval()


def rank_correlation(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Per image, Spearman's correlation of the absolute maps (NaN for a constant map)."""
    out = []
    for x, y in zip(a, b, strict=True):
        x, y = np.abs(x).ravel(), np.abs(y).ravel()
        if np.ptp(x) == 0 or np.ptp(y) == 0:
            out.append(float("nan"))
        else:
            out.append(float(stats.spearmanr(x, y)[0]))
    return np.asarray(out)


def separation(mass_a: np.ndarray, mass_b: np.ndarray) -> dict:
    """How well a region's relevance mass tells model A's maps from model B's on the same
    images: the AUC (A's mass higher) with DeLong's 95% interval.

    Parameters
    ----------
    mass_a, mass_b : arrays
        Per-image relevance mass of the two models (NaN: an empty map, left out).

    Returns
    -------
    dict
        ``auc, auc_ci_low, auc_ci_high, n_a, n_b``.
    """
    from cxr_isi.evaluate.metrics import auc_ci

    a, b = np.asarray(mass_a, float), np.asarray(mass_b, float)
    a, b = a[~np.isnan(a)], b[~np.isnan(b)]
    out = {"n_a": len(a), "n_b": len(b)}
    if len(a) < 2 or len(b) < 2:
        return {**out, "auc": float("nan"), "auc_ci_low": float("nan"), "auc_ci_high": float("nan")}
    ci = auc_ci(np.r_[np.ones(len(a)), np.zeros(len(b))], np.r_[a, b])
    return {**out, "auc": ci["auc"], "auc_ci_low": ci["ci_low"], "auc_ci_high": ci["ci_high"]}
