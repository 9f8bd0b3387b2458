"""The model rule (``cxr-isi judge``): what does this model read, the lungs or what lies around them?

It reads the evidence the judge gathers on a model trained anywhere (:mod:`cxr_isi.study.judge`):
the test-time AUCs of the image sets with their intervals, the lung swap and its controls, the
occlusion map's share inside the lungs, and whether the sources split by class. Its order
(:data:`RULE`): the model must separate the classes; the lung swap decides where its control
passed; otherwise the test-time lungs-boxed-out AUC and the occlusion map decide, or nothing does.
"""

from __future__ import annotations

from cxr_isi.probes.base import fmt_ci
from cxr_isi.verdict.kinds import INCONCLUSIVE, MODEL_KINDS, READS_LUNGS, READS_OUTSIDE, READS_SOURCE_IN_LUNGS, Decision
from cxr_isi.verdict.thresholds import (
    BOXED_OUT_CHANCE,
    BOXED_OUT_LOW,
    MIN_SWAP_IMAGES,
    SEPARATES_LOW,
    SPLIT_BY_CLASS_V,
    SWAP_SOURCE_GAP,
    SWAP_SOURCE_SHIFT,
    model_thresholds,
)

__all__ = ["MODEL_KINDS", "RULE", "decide", "thresholds", "verdict_of"]

RULE = (
    f"1. The original AUC's 95% interval must lie above {SEPARATES_LOW:g}, else inconclusive (nothing to "
    "attribute; an interval below 0.5 says the positive label is reversed). 2. Lung swap, its same-label "
    f"control passed and its swaps drawn from {MIN_SWAP_IMAGES} images or more: the share of swaps that follow the "
    "frame has an "
    "interval above 0.5 -> reads outside the lungs; below 0.5 -> reads the lungs, unless same-label swaps between "
    f"sources that differ in their share of positives (by {SWAP_SOURCE_GAP:g} or more) move the score toward the "
    f"lung donor's source (mean signed shift at least {SWAP_SOURCE_SHIFT:g}, interval above 0) -> reads the source "
    "inside the lungs. 3. Otherwise (swap undecided, failed control, or too few pairs told apart): the test-time "
    f"lungs-boxed-out AUC with its interval above {BOXED_OUT_LOW:g} -> reads outside the lungs; the occlusion map's "
    "share of relevance inside the lungs with its interval above the lungs' area share, and the boxed-out AUC's "
    f"lower bound below {BOXED_OUT_CHANCE:g} -> reads the lungs; else inconclusive. Outside the lungs is called the "
    f"source when the sources split by class (Cramér's V >= {SPLIT_BY_CLASS_V:g}), else the frame.")


def verdict_of(auc: dict, swap: dict | None, split_by_class: bool, maps: dict) -> tuple[str, str, str | None]:
    """The model's verdict by :data:`RULE`: kind, reason, and what outside the lungs."""
    o = auc["original"]
    what = "the source" if split_by_class else "the frame"
    if o["ci_high"] < 0.5:
        return INCONCLUSIVE, (f"the model ranks these images the wrong way round (AUC "
                              f"{fmt_ci(o['auc'], o['ci_low'], o['ci_high'])}, its interval below 0.5): the "
                              "positive label is most likely reversed; give the labels the model calls positive "
                              "(-p), or the output column that scores them (--positive-index or --head)"), None
    if o["ci_low"] <= SEPARATES_LOW:
        return INCONCLUSIVE, (f"the model does not separate the classes on these images (AUC "
                              f"{fmt_ci(o['auc'], o['ci_low'], o['ci_high'])}): nothing to attribute"), None
    boxed, fixed = auc["lungs_boxed_out"], auc["lungs_boxed_out_fixed_box"]
    boxed_text = (f"test-time lungs-boxed-out AUC {fmt_ci(boxed['auc'], boxed['ci_low'], boxed['ci_high'])}, "
                  f"fixed box {fmt_ci(fixed['auc'], fixed['ci_low'], fixed['ci_high'])}")
    occ = maps.get("occlusion")
    occ_text = (f"; occlusion puts {occ['inside_share']:.2f} of the relevance inside the lungs (area "
                f"{occ['lung_area_share']:.2f})" if occ and occ.get("n") else "")
    if swap is not None and swap["control_passed"] and swap.get("enough_images", True):
        frame = swap["frame_following"]
        rate = (f"{frame['rate']:.0%} of {swap['n_swaps']} lung swaps follow the frame (95% CI "
                f"{frame['ci_low']:.2f}-{frame['ci_high']:.2f})")
        if frame["ci_low"] > 0.5:
            return READS_OUTSIDE, f"{rate}; {boxed_text}{occ_text}", what
        if frame["ci_high"] < 0.5:
            effect = swap.get("source_in_lungs")
            if effect and effect["moves_with_source"]:
                return READS_SOURCE_IN_LUNGS, (
                    f"{rate}, but lungs from a source of the same label that is more often positive move the score "
                    f"toward positive ({effect['signed_shift']:+.3f}, 95% CI {effect['ci_low']:.3f}-"
                    f"{effect['ci_high']:.3f}): the lungs carry their source's style and the model reads it; "
                    f"{boxed_text}{occ_text}"), None
            caveat = ("; the sources split by class and no two sources of a label differ, so the source's style "
                      "inside the lungs cannot be told from the disease here" if split_by_class and not effect else "")
            return READS_LUNGS, f"{rate}; {boxed_text}{occ_text}{caveat}", None
    why = ("the lung swap's same-label control failed (the pasting itself moves the model)"
           if swap is not None and not swap["control_passed"] else
           f"the lung swap drew on {swap['frame_following'].get('n_images')} images, too few to decide"
           if swap is not None and not swap.get("enough_images", True) else
           "the model tells no pair of opposite labels apart by 0.2 for the lung swap" if swap is None else
           "the lung swap is undecided (its interval contains 0.5)")
    if boxed["ci_low"] > BOXED_OUT_LOW:
        return READS_OUTSIDE, (f"{why}; without the lungs the model still scores {boxed_text}, though it never "
                               f"saw hidden lungs in training{occ_text}"), what
    if occ and occ.get("n") and occ["ci_low"] > occ["lung_area_share"] and boxed["ci_low"] < BOXED_OUT_CHANCE:
        return READS_LUNGS, (f"{why}; occlusion puts {fmt_ci(occ['inside_share'], occ['ci_low'], occ['ci_high'])} "
                             f"of the relevance inside the lungs, above their area ({occ['lung_area_share']:.2f}), "
                             f"and without the lungs the model is not above chance ({boxed_text})"), None
    return INCONCLUSIVE, f"{why}; {boxed_text}{occ_text}", None


def thresholds() -> dict[str, float]:
    """Every threshold :data:`RULE` decides with."""
    return model_thresholds()


def decide(auc: dict, swap: dict | None, split_by_class: bool, maps: dict,
           evidence: list[dict] | None = None) -> Decision:
    """The model verdict from its evidence.

    Parameters
    ----------
    auc : dict
        Image set -> ``{"auc", "ci_low", "ci_high", ...}`` (``original``, ``lungs_boxed_out``,
        ``lungs_boxed_out_fixed_box`` are read).
    swap : dict or None
        The lung swap's result (:func:`cxr_isi.probes.lung_swap.swap_test`); None where no pair
        of opposite labels was told apart.
    split_by_class : bool
        Whether the sources split by class (Cramér's V of source by label at least
        :data:`~cxr_isi.verdict.thresholds.SPLIT_BY_CLASS_V`).
    maps : dict
        Map name -> its summary (``occlusion``: ``inside_share``, ``ci_low``, ``lung_area_share``).
    evidence : list of dict, optional
        The figures gathered, carried into the decision as read.

    Returns
    -------
    Decision
    """
    kind, reason, what = verdict_of(auc, swap, split_by_class, maps)
    return Decision(kind, reason, list(evidence or []), what=what)
