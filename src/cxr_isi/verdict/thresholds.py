"""Every threshold the two rules decide with, in one place.

The dataset rule's own cut-offs are defined here; the probes that can explain a residual decide
their ``explains`` with their own (they sit below the verdict and are imported from there), and
are listed here beside the rule's so that :func:`dataset_thresholds` is the whole set the error
rates were measured with. The model rule's cut-offs are all defined here, the lung swap's own
(its margins and control shifts) listed beside them.
"""

from __future__ import annotations

from cxr_isi.probes import acquisition, confounders, evidence, geometry, regions, swap

# -- the dataset rule (cxr-isi run) --------------------------------------------------------------
SHORTCUT_AUC = 0.80  # boxed-out AUC from which the shortcut is called strong
CHANCE_AUC = 0.65  # boxed-out AUC at or below which no shortcut is found
CHANCE_LOW = 0.55  # a boxed-out interval reaching this is inconclusive
SOURCE_FIXED_AUC = 0.75  # the fixed box's AUC that, with sources split by class, names the source
GEOMETRY_AUC = geometry.EXPLAINS_AUC
ACQUISITION_AUC, ACQUISITION_LOW = acquisition.EXPLAINS_AUC, acquisition.EXPLAINS_LOW
CONFOUNDER_DROP, CONFOUNDER_CEILING = confounders.DROP, confounders.CEILING
REGION_AUC, REGION_LOW = regions.CARRIES_AUC, regions.CARRIES_LOW

# -- the model rule (cxr-isi judge) --------------------------------------------------------------
SEPARATES_LOW = 0.6  # the original AUC's lower bound above which the model tells the classes apart
BOXED_OUT_LOW = 0.75  # the lower bound of a set without the lungs that alone says "outside the lungs"
SPLIT_BY_CLASS_V = 0.5  # Cramér's V of source by label from which "the source" is named
SWAP_MARGIN, SWAP_CONTROL_SHIFT = swap.MARGIN, swap.CONTROL_SHIFT
SWAP_SOURCE_SHIFT, SWAP_SOURCE_GAP = swap.SOURCE_SHIFT, swap.SOURCE_GAP
MIN_SWAP_IMAGES = swap.MIN_IMAGES
MIN_PER_CLASS = evidence.MIN_PER_CLASS  # images of each class below which a set is too small to decide

# -- the cross-dataset rule (trained on one dataset, tested on another) ---------------------------
CROSS_TRANSFERS = 0.80  # the cross AUC from which, its interval above 0.5, the model transfers
CROSS_NEAR_CHANCE = 0.65  # with no interval, the cross AUC at or below which it is near chance


def dataset_thresholds() -> dict[str, float]:
    """Every threshold the dataset rule decides with (the ones its error rates were measured
    with; the report says when they no longer match)."""
    return {"shortcut_auc": SHORTCUT_AUC, "chance_auc": CHANCE_AUC, "chance_low": CHANCE_LOW,
            "source_fixed_auc": SOURCE_FIXED_AUC, "geometry_auc": GEOMETRY_AUC,
            "acquisition_auc": ACQUISITION_AUC, "acquisition_low": ACQUISITION_LOW,
            "confounder_drop": CONFOUNDER_DROP, "confounder_ceiling": CONFOUNDER_CEILING}


def model_thresholds() -> dict[str, float]:
    """Every threshold the model rule (``judge``) decides with."""
    return {"separates_low": SEPARATES_LOW, "boxed_out_low": BOXED_OUT_LOW,
            "split_by_class_v": SPLIT_BY_CLASS_V, "swap_margin": SWAP_MARGIN, "swap_control_shift": SWAP_CONTROL_SHIFT,
            "swap_source_shift": SWAP_SOURCE_SHIFT, "swap_source_gap": SWAP_SOURCE_GAP,
            "min_swap_images": MIN_SWAP_IMAGES, "min_per_class": MIN_PER_CLASS}
