"""The model rule (``cxr-isi judge``): what does this model read, the lungs or what lies around them?

It reads the evidence gathered on a model trained anywhere (:mod:`cxr_isi.probes.evidence`):
the test-time AUCs of the image sets with their intervals, the lung swap and its controls, the
occlusion map's share inside the lungs, and whether the sources split by class. Its order
(:data:`RULE`): the model must separate the classes; the lung swap decides where its control
passed, weighed against every set that hides the lungs (a model can read the lungs *and* what
lies outside them); otherwise the occlusion map and those sets decide, or nothing does.
"""

from __future__ import annotations

from cxr_isi.evaluate.text import interval_text
from cxr_isi.lungs.hideseek import FIXED_BOX
from cxr_isi.probes.evidence import ModelEvidence
from cxr_isi.verdict.kinds import (
    INCONCLUSIVE,
    MODEL_KINDS,
    READS_BOTH,
    READS_LUNGS,
    READS_OUTSIDE,
    READS_SOURCE_IN_LUNGS,
    Decision,
)
from cxr_isi.verdict.thresholds import (
    BOXED_OUT_LOW,
    MIN_PER_CLASS,
    MIN_SWAP_IMAGES,
    SEPARATES_LOW,
    SPLIT_BY_CLASS_V,
    SWAP_SOURCE_GAP,
    SWAP_SOURCE_SHIFT,
    model_thresholds,
)

__all__ = ["GATES", "GATE_EXIT", "MODEL_KINDS", "RULE", "decide", "decide_evidence", "gate", "split_by_class",
           "thresholds", "verdict_of"]

RULE = (
    f"0. Fewer than {MIN_PER_CLASS} test images of either class: too few to decide (no interval is given), "
    "inconclusive. "
    f"1. The original AUC's 95% interval must lie above {SEPARATES_LOW:g}, else inconclusive (nothing to "
    "attribute; an interval below 0.5 says the positive label is reversed). Without the lungs means every set "
    "that hides them: lungs boxed out, the fixed box and lungs removed; a set whose interval lies above "
    f"{SEPARATES_LOW:g} (the bar the original AUC clears) still tells the classes apart. 2. Lung swap, its "
    "same-label control passed and its swaps drawn from "
    f"{MIN_SWAP_IMAGES} images or more: the share of swaps that follow the frame has an interval above 0.5 -> "
    "reads outside the lungs; below 0.5 -> reads the lungs, unless same-label swaps between sources that differ "
    f"in their share of positives (by {SWAP_SOURCE_GAP:g} or more) move the score toward the lung donor's source "
    f"(mean signed shift at least {SWAP_SOURCE_SHIFT:g}, interval above 0) -> reads the source inside the lungs, "
    "or a set without the lungs still tells the classes apart -> reads the lungs and outside them; an interval "
    "holding 0.5 (some swaps follow the lungs, some the frame) with such a set -> reads the lungs and outside "
    "them. 3. Otherwise (swap undecided with no such set, failed control, or too few pairs "
    "told apart): the occlusion map's share of relevance inside the lungs with its interval above the lungs' "
    "area share -> reads the lungs where no set without the lungs tells the classes apart, else the lungs and "
    "outside them; without that map's word, a set without the lungs with its interval above "
    f"{BOXED_OUT_LOW:g} -> reads outside the lungs; else inconclusive. Outside the lungs is called the source "
    f"when the sources split by class (Cramér's V >= {SPLIT_BY_CLASS_V:g}), else the frame.")

WITHOUT_LUNGS = (("lungs_boxed_out", "test-time lungs-boxed-out AUC"), (FIXED_BOX, "fixed box"),
                 ("lungs_removed", "lungs removed"))


def _without_lungs(auc: dict) -> list[tuple[str, dict]]:
    """The sets that hide the lungs that were scored, each with its words."""
    return [(words, auc[key]) for key, words in WITHOUT_LUNGS if auc.get(key) and auc[key].get("auc") is not None]


def verdict_of(auc: dict, swap: dict | None, split_by_class: bool, maps: dict) -> tuple[str, str, str | None]:
    """The model's verdict by :data:`RULE`: kind, reason, and what outside the lungs."""
    o = auc["original"]
    what = "the source" if split_by_class else "the frame"
    counts = (o.get("n_positive"), o.get("n_negative"))
    if o.get("ci_low") is None or (None not in counts and min(counts) < MIN_PER_CLASS):
        had = (f"{counts[0]} positive and {counts[1]} negative test images" if None not in counts
               else "too few test images for an interval")
        return INCONCLUSIVE, (f"{had}: below {MIN_PER_CLASS} of each class an AUC's interval is too wide to "
                              f"decide anything (original AUC {o['auc']:.2f}, no interval given); judge it on "
                              "more test images"), None
    if o["ci_high"] < 0.5:
        return INCONCLUSIVE, (f"the model ranks these images the wrong way round (AUC "
                              f"{interval_text(o['auc'], o['ci_low'], o['ci_high'])}, its interval below 0.5): the "
                              "positive label is most likely reversed; give the labels the model calls positive "
                              "(-p), or the output column that scores them (--positive-index or --head)"), None
    if o["ci_low"] <= SEPARATES_LOW:
        return INCONCLUSIVE, (f"the model does not separate the classes on these images (AUC "
                              f"{interval_text(o['auc'], o['ci_low'], o['ci_high'])}): nothing to attribute"), None
    sets = _without_lungs(auc)
    def said(chosen: list[tuple[str, dict]]) -> str:
        return ", ".join(f"{words} {interval_text(a['auc'], a['ci_low'], a['ci_high'])}" for words, a in chosen)

    quoted = said(sets)
    # without the lungs it still tells the classes apart: the bar the original AUC must clear
    # (as printed, too); a lower bound between 0.5 and that bar is above chance, and too little to
    # say the model reads outside the lungs as well
    above = [(w, a) for w, a in sets if round(a["ci_low"], 2) > SEPARATES_LOW]
    chance = not [a for _, a in sets if round(a["ci_low"], 2) > 0.5]
    strong = [(w, a) for w, a in sets if round(a["ci_low"], 2) > BOXED_OUT_LOW]  # as printed, as above
    occ = maps.get("occlusion")
    occ_text = (f"; occlusion puts {occ['inside_share']:.2f} of the relevance inside the lungs (area "
                f"{occ['lung_area_share']:.2f})" if occ and occ.get("n") else "")
    still = f"without the lungs the model still tells the classes apart ({said(above)})"
    if swap is not None and swap["control_passed"] and swap.get("enough_images", True):
        frame = swap["frame_following"]
        rate = (f"{frame['rate']:.0%} of {swap['n_swaps']} lung swaps follow the frame (95% CI "
                f"{frame['ci_low']:.2f}-{frame['ci_high']:.2f})")
        if frame["ci_low"] > 0.5:
            return READS_OUTSIDE, f"{rate}; {quoted}{occ_text}", what
        if frame["ci_high"] < 0.5:
            effect = swap.get("source_in_lungs")
            if effect and effect["moves_with_source"]:
                return READS_SOURCE_IN_LUNGS, (
                    f"{rate}, but lungs from a source of the same label that is more often positive move the score "
                    f"toward positive ({effect['signed_shift']:+.3f}, 95% CI {effect['ci_low']:.3f}-"
                    f"{effect['ci_high']:.3f}): the lungs carry their source's style and the model reads it; "
                    f"{quoted}{occ_text}"), None
            if above:
                return READS_BOTH, f"{rate}, yet {still}{occ_text}", what
            caveat = ("; the sources split by class and no two sources of a label differ, so the source's style "
                      "inside the lungs cannot be told from the disease here" if split_by_class and not effect else "")
            return READS_LUNGS, f"{rate}; {quoted}{occ_text}{caveat}", None
        if above:
            return READS_BOTH, (f"{rate}: some swaps follow the lungs, some the frame; and {still}{occ_text}"), what
    why = ("the lung swap's same-label control failed (the pasting itself moves the model)"
           if swap is not None and not swap["control_passed"] else
           f"the lung swap drew on {swap['frame_following'].get('n_images')} images, too few to decide"
           if swap is not None and not swap.get("enough_images", True) else
           "the model tells no pair of opposite labels apart by 0.2 for the lung swap" if swap is None else
           "the lung swap is undecided (its interval contains 0.5)")
    lungs = bool(occ and occ.get("n") and occ["ci_low"] > occ["lung_area_share"])
    if lungs and occ:
        share = interval_text(occ["inside_share"], occ["ci_low"], occ["ci_high"])
        occ_ci = (f"occlusion puts {share} of the relevance inside the lungs, above their area "
                  f"({occ['lung_area_share']:.2f})")
        if above:
            return READS_BOTH, f"{why}; {occ_ci}, and {still}", what
        rest = (f"without the lungs the model is not above chance (every interval holds 0.5: {quoted})" if chance
                else f"without the lungs no set tells the classes apart (each lower bound at or below "
                     f"{SEPARATES_LOW:g}: {quoted})")
        return READS_LUNGS, f"{why}; {occ_ci}, and {rest}", None
    if strong:
        return READS_OUTSIDE, (f"{why}; without the lungs the model still scores {quoted}, though it never "
                               f"saw hidden lungs in training{occ_text}"), what
    settle = ("more test images (narrower intervals) or a lung swap that decides would settle it" if above else
              "a lung swap that decides, or an occlusion map, would settle it")
    return INCONCLUSIVE, f"{why}; {quoted}{occ_text}: {settle}", None


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
        The lung swap's result (:func:`cxr_isi.probes.swap.swap_test`); None where no pair
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


def split_by_class(v: float | None) -> bool:
    """Whether the sources split by class: Cramér's V of source by label (None: fewer than two
    sources) at least :data:`~cxr_isi.verdict.thresholds.SPLIT_BY_CLASS_V`."""
    return bool(v is not None and v >= SPLIT_BY_CLASS_V)


def decide_evidence(found: ModelEvidence, maps: dict | None = None, evidence: list[dict] | None = None) -> Decision:
    """:func:`decide` on what :func:`cxr_isi.probes.evidence.gather_model_evidence` gathered
    (the judge, the remedies' verdicts and the training monitor decide through here)."""
    return decide(found.auc, found.swap, split_by_class(found.cramers_v), maps or {}, evidence)


# what each ``judge --fail-on`` refuses: a decision about a verdict, so it lives beside the rule
GATES = {  # keyed as cxr_isi.choices.FAIL_ON (what the command line offers)
    "outside": (READS_OUTSIDE, READS_BOTH),  # it reads outside the lungs (alone, or beside them)
    "source": (READS_SOURCE_IN_LUNGS,),  # the source, inside the lungs or (with ``what``) outside them
    "any": (READS_OUTSIDE, READS_BOTH, READS_SOURCE_IN_LUNGS),  # any shortcut the rule names
    "inconclusive": (INCONCLUSIVE,),  # nothing settled: for a pipeline that must see "reads the lungs"
}
GATE_EXIT = 3  # the status of a refused model (2 is a usage error, 1 a failure)


def gate(kind: str, what: str | None, fail_on: str) -> bool:
    """Whether a verdict is one ``--fail-on fail_on`` refuses (:data:`GATES`).

    ``source`` also refuses a model that reads outside the lungs where that is the source (the
    sources split by class); ``any`` never refuses ``inconclusive``: only a named shortcut.
    """
    if fail_on not in GATES:
        raise ValueError(f"--fail-on {fail_on!r}: one of {', '.join(GATES)}")
    return kind in GATES[fail_on] or (fail_on == "source" and what == "the source")
