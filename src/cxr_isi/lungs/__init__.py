"""Lungs: segmentation and the ROI hide-and-seek image sets."""

from cxr_isi.lungs.hideseek import (
    VARIANTS,
    apply_variant,
    box_region,
    lung_boxes,
    lungs_boxed_out,
    lungs_framed,
    lungs_isolated,
    lungs_removed,
    original,
)

__all__ = ["VARIANTS", "apply_variant", "box_region", "lung_boxes", "lungs_boxed_out",
           "lungs_framed", "lungs_isolated", "lungs_removed", "original"]
