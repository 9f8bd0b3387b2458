"""The dataset rule: can a model read this dataset's label without the lungs, and if so, what
does it read?

The deciding number is the AUC of the lungs-boxed-out set with its 95% interval (the
cross-validation mean with a t interval over folds when the run has it, else the single split's
test AUC with DeLong's interval). Its strength (:func:`verdict_for`), with cut-offs stated so a
reader can disagree: ``shortcut`` at >= 0.80, ``no shortcut found`` at <= 0.65, ``partial
shortcut`` between.

What it is (:func:`decide`): the steps of :data:`STEPS`, in order, each one clause of the
rule's text (:data:`RULE`, made from them, quoted in every report) and one function that decides
it or passes to the next; the first that decides names the kind. From step 3 on, where the
``regions`` probe finds regions outside the fixed box that carry the label, the reason ends with
them ("where: top band, AUC 0.78 (95% CI 0.71-0.85)").

The evidence comes in as plain figures (``{"auc", "ci_low", "ci_high", "from"}`` for the two
boxed-out AUCs, the audit's record, each probe's record): :mod:`cxr_isi.study.summary` gathers
them from a run folder; this module only decides.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from cxr_isi.evaluate.text import interval_text
from cxr_isi.probes import probes as all_probes
from cxr_isi.verdict.kinds import (
    ACQUISITION,
    CAUSE,
    GEOMETRY,
    INCOMPLETE,
    INCONCLUSIVE,
    KINDS,
    NONE,
    PARTIAL,
    SHORTCUT,
    SOURCE,
    Decision,
)
from cxr_isi.verdict.thresholds import (
    ACQUISITION_AUC,
    ACQUISITION_LOW,
    CHANCE_AUC,
    CHANCE_LOW,
    CONFOUNDER_CEILING,
    CONFOUNDER_DROP,
    GEOMETRY_AUC,
    REGION_AUC,
    REGION_LOW,
    SHORTCUT_AUC,
    SOURCE_FIXED_AUC,
    dataset_thresholds,
)

__all__ = ["KINDS", "RULE", "STEPS", "Evidence", "Step", "confounder_note", "decide", "evidence", "rule_text",
           "sentence", "thresholds", "verdict_for", "verdict_kind"]

def thresholds() -> dict[str, float]:
    """Every threshold :data:`RULE` decides with (the ones the error rates were measured with)."""
    return dataset_thresholds()


def decide(boxed: dict, fixed: dict, audit: dict | None, probes: dict[str, dict],
           steps: tuple[Step, ...] | None = None) -> Decision:
    """The dataset verdict from its evidence.

    Parameters
    ----------
    boxed, fixed : dict
        The lungs-boxed-out AUC with the per-image box and with the fixed box:
        ``{"auc", "ci_low", "ci_high", "from"}`` (``auc`` NaN where it did not run).
    audit : dict or None
        The audit's record (its ``verdict`` says whether the sources split by class).
    probes : dict
        Probe name -> its record (``estimate``, ``ci_low``, ``ci_high``, ``explains``,
        ``sentence``, ``details``).
    steps : tuple of Step, optional
        A rule of one's own (``docs/guide/extending.md``); by default :data:`STEPS`.

    Returns
    -------
    Decision
        Kind, reason, the evidence read, and the strength by the boxed-out AUC.
    """
    kind, reason = verdict_kind(boxed, fixed, audit, probes, steps)
    return Decision(kind, reason, evidence(boxed, fixed, probes), strength=verdict_for(boxed["auc"], boxed["ci_low"]))


def verdict_for(boxed_out: float, ci_low: float | None = None) -> str:
    """How strong the shortcut is by the boxed-out AUC; a figure above chance whose 95% interval
    reaches ``CHANCE_LOW`` is inconclusive, as in the run's verdict (:data:`RULE` step 2)."""
    if boxed_out != boxed_out:
        return INCOMPLETE
    if boxed_out > CHANCE_AUC and ci_low is not None and ci_low == ci_low and ci_low <= CHANCE_LOW:
        return INCONCLUSIVE
    if boxed_out >= SHORTCUT_AUC:
        return SHORTCUT
    if boxed_out <= CHANCE_AUC:
        return NONE
    return PARTIAL


def _ci_text(a: dict) -> str:
    return interval_text(a["auc"], a["ci_low"], a["ci_high"])


def verdict_kind(boxed: dict, fixed: dict, audit: dict | None, probes: dict[str, dict],
                 steps: tuple[Step, ...] | None = None) -> tuple[str, str]:
    """What the model reads, by :data:`RULE` (or ``steps``); the kind and the reason in one
    sentence (ending with the regions that carry the label, where the ``regions`` probe found
    any)."""
    kind, reason = _kind(boxed, fixed, audit, probes, STEPS if steps is None else steps)
    where = ((probes.get("regions") or {}).get("details") or {}).get("where")
    if where and verdict_for(boxed["auc"], boxed["ci_low"]) not in (INCOMPLETE, NONE, INCONCLUSIVE):  # past step 2
        reason = f"{reason.rstrip('.')}; where: {where}"
    return kind, reason


@dataclass(frozen=True)
class Evidence:
    """What the dataset rule reads: the two boxed-out AUCs, the audit's record, each probe's."""

    boxed: dict
    fixed: dict
    audit: dict
    probes: dict[str, dict]

    @property
    def b(self) -> float:
        """The boxed-out AUC (NaN where not run)."""
        return self.boxed["auc"]

    @property
    def f(self) -> float:
        """The fixed box's boxed-out AUC (NaN where not run)."""
        return self.fixed["auc"]

    def probe(self, name: str) -> dict:
        """A probe's record; empty where it did not run."""
        return self.probes.get(name) or {}


@dataclass(frozen=True)
class Step:
    """One step of the dataset rule: what it says (a clause of :data:`RULE`) and the function
    that decides it (a kind and a reason), or returns None to pass to the next step."""

    says: str
    decide: Callable[[Evidence], tuple[str, str] | None]


def _no_result(e: Evidence) -> tuple[str, str] | None:
    return (INCONCLUSIVE, "no lungs-boxed-out result in this run") if e.b != e.b else None


def _chance(e: Evidence) -> tuple[str, str] | None:
    if e.b <= CHANCE_AUC:
        low = e.boxed["ci_low"]
        if low is not None and low == low and round(low, 2) > 0.5:  # as printed: "near chance" would contradict it
            return NONE, (f"without the lungs a model scores AUC {_ci_text(e.boxed)}: above chance, but at or below "
                          f"{CHANCE_AUC:g}, the rule's bar for a shortcut outside the lungs")
        return NONE, f"without the lungs a model scores AUC {_ci_text(e.boxed)}, near chance"
    if e.boxed["ci_low"] is not None and e.boxed["ci_low"] <= CHANCE_LOW:
        return INCONCLUSIVE, f"the boxed-out AUC {_ci_text(e.boxed)} has an interval that reaches chance"
    return None


def _source(e: Evidence) -> tuple[str, str] | None:
    split_by_class = e.audit.get("verdict") not in (None, "balanced")
    if split_by_class and (e.f if e.f == e.f else e.b) >= SOURCE_FIXED_AUC:
        where = (f"with one fixed box for every image it stays at {_ci_text(e.fixed)}" if e.f == e.f
                 else "no fixed-box control ran")
        return SOURCE, (f"the sources split by class (audit: {e.audit.get('verdict')}) and a model without the lungs "
                        f"scores AUC {_ci_text(e.boxed)}; {where}")
    return None


def _geometry(e: Evidence) -> tuple[str, str] | None:
    geometry = e.probe("geometry")
    if geometry.get("explains") and e.f == e.f and e.f <= CHANCE_AUC:
        return GEOMETRY, (f"the lung mask alone predicts the label (AUC {geometry['estimate']:.2f}) and with one fixed "
                          f"box for every image the boxed-out AUC falls from {e.b:.2f} to {_ci_text(e.fixed)}: the "
                          "per-image box, not the image, carried the label")
    return None


def _acquisition(e: Evidence) -> tuple[str, str] | None:
    acquisition, confounders = e.probe("acquisition"), e.probe("confounders")
    if acquisition.get("explains") or confounders.get("explains"):
        why = [p["sentence"] for p in (acquisition, confounders) if p.get("explains")]
        return ACQUISITION, f"boxed-out AUC {_ci_text(e.boxed)}; " + " ".join(why)
    return None


def _cause(e: Evidence) -> tuple[str, str] | None:
    causes = e.probe("causes")
    return (CAUSE, f"boxed-out AUC {_ci_text(e.boxed)}; {causes['sentence']}") if causes.get("explains") else None


def _otherwise(e: Evidence) -> tuple[str, str]:
    # what each probe that can explain a residual tried, as it declares it, where it explained nothing
    tried = [p.tried for p in all_probes().values() if p.tried and e.probe(p.name).get("explains") is False]
    return INCONCLUSIVE, (f"the label is readable outside the lungs (boxed-out AUC {_ci_text(e.boxed)}"
                          + (f", fixed box {_ci_text(e.fixed)}" if e.f == e.f else "")
                          + ") and no probe of this run explains it"
                          + (f" (tried: {', '.join(tried)})" if tried else ""))


STEPS: tuple[Step, ...] = (
    Step("no lungs-boxed-out result: inconclusive", _no_result),
    Step(f"boxed-out AUC <= {CHANCE_AUC:.2f}: no shortcut found, or its 95% interval reaching {CHANCE_LOW:.2f}: "
         "inconclusive", _chance),
    Step("the audit finds the sources split by class and the boxed-out AUC with the fixed box (one box for every "
         f"image) stays >= {SOURCE_FIXED_AUC:.2f}: source shortcut", _source),
    Step(f"the lung mask's geometry alone predicts the label (AUC >= {GEOMETRY_AUC:.2f}) and the fixed box brings "
         f"the boxed-out AUC to <= {CHANCE_AUC:.2f}: protocol leak: lung geometry", _geometry),
    Step(f"a model on tile-shuffled images reads the label (AUC >= {ACQUISITION_AUC:.2f}, interval above "
         f"{ACQUISITION_LOW:.2f}), or the boxed-out AUC falls by >= {CONFOUNDER_DROP:.2f} to <= "
         f"{CONFOUNDER_CEILING:.2f} within levels of a flagged acquisition property: acquisition shortcut",
         _acquisition),
    Step("the boxed-out AUC falls as in (5) within levels of a cause seen outside the lungs (burned-in text, small "
         "bright objects, soft tissue beside the lungs): named cause", _cause),
    Step("otherwise: inconclusive (readable outside the lungs, explained by no probe)", _otherwise),
)


def rule_text(steps: tuple[Step, ...] = STEPS) -> str:
    """The rule in words, made from its steps (:data:`RULE` is the shipped rule's).

    Parameters
    ----------
    steps : tuple of Step

    Returns
    -------
    str
    """
    return ("The verdict names what the model reads, in this order: "
            + "; ".join(f"({i}) {step.says}" for i, step in enumerate(steps, 1))
            + ". From (3) on, the regions outside the fixed box that carry the label (AUC >= "
            f"{REGION_AUC:.2f}, Bonferroni interval above {REGION_LOW:.2f}) are named. Its strength by the boxed-out "
            f"AUC: shortcut at >= {SHORTCUT_AUC:.2f}, partial between {CHANCE_AUC:.2f} and {SHORTCUT_AUC:.2f}.")


RULE = rule_text()


def _kind(boxed: dict, fixed: dict, audit: dict | None, probes: dict[str, dict],
          steps: tuple[Step, ...] = STEPS) -> tuple[str, str]:
    e = Evidence(boxed, fixed, audit or {}, probes)
    for step in steps:
        found = step.decide(e)
        if found is not None:
            return found
    return _otherwise(e)  # a rule of one's own without the last step: nothing decided


def evidence(boxed: dict, fixed: dict, probes: dict[str, dict]) -> list[dict]:
    """The figures behind a verdict: the boxed-out AUCs and every probe, each with its interval
    and one sentence."""
    out = [{"probe": "lungs_boxed_out", "figure": boxed["auc"], "ci_low": boxed["ci_low"],
            "ci_high": boxed["ci_high"], "sentence": f"lungs-boxed-out AUC ({boxed['from']})"}]
    if fixed["auc"] == fixed["auc"]:
        out.append({"probe": "fixed_box", "figure": fixed["auc"], "ci_low": fixed["ci_low"],
                    "ci_high": fixed["ci_high"], "sentence": f"lungs-boxed-out AUC with one box for every image "
                    f"({fixed['from']})"})
    for name, p in probes.items():
        out.append({"probe": name, "figure": p.get("estimate"), "ci_low": p.get("ci_low"), "ci_high": p.get("ci_high"),
                    "explains": p.get("explains"), "sentence": p.get("sentence", "")})
    return out


def sentence(title: str, verdict: str, boxed: float, original: float, boxed_low: float | None = None) -> str:
    """The verdict's strength in one sentence (``boxed_low``: the boxed-out interval's lower bound,
    where known: a figure whose interval lies above chance is never called near it)."""
    orig = f"original {original:.2f}" if original == original else "original not run"
    if verdict == NONE and boxed_low is not None and boxed_low == boxed_low and round(boxed_low, 2) > 0.5:
        return (f"{title}: without the lungs a model scores AUC {boxed:.2f}, above chance (its interval from "
                f"{boxed_low:.2f}) yet at or below {CHANCE_AUC:g} ({orig}): no shortcut outside the lungs as strong "
                "as the rule's bar was found.")
    if verdict == SHORTCUT:
        return (f"{title}: a model that never sees the lungs scores AUC {boxed:.2f} ({orig}): "
                "the labels can be read from outside the lungs.")
    if verdict == NONE:
        return (f"{title}: without the lungs a model scores AUC {boxed:.2f}, near chance ({orig}): "
                "it needs the lungs; no shortcut outside them was found.")
    if verdict == PARTIAL:
        return (f"{title}: without the lungs a model still scores AUC {boxed:.2f} ({orig}): part of "
                "what separates the classes lies outside the lungs.")
    if verdict == INCONCLUSIVE:
        return (f"{title}: without the lungs a model scores AUC {boxed:.2f} ({orig}), but its 95% interval "
                f"reaches {CHANCE_LOW}: too few images or folds to tell.")
    return f"{title}: no lungs-boxed-out result in this run, so no verdict."


def confounder_note(audit: dict, verdict: str) -> str:
    """Why a dataset whose sources are balanced still carries a shortcut (or why an imbalanced
    one shows none): the audit's acquisition figures are the first place to look."""
    if not audit:
        return ""
    flagged = [a for a in audit.get("acquisition", []) if a.get("flagged")]
    named = ", ".join(f"{a['property']} (AUC {max(a['auc'], 1 - a['auc']):.2f})" for a in flagged[:4]
                      if a.get("auc") is not None)
    if audit.get("verdict") == "balanced" and verdict in (SHORTCUT, PARTIAL):
        if named:
            return ("Its sources are balanced, yet the label is readable outside the lungs; the audit finds "
                    f"acquisition properties that predict the label: {named}. The shortcut is in how the "
                    "classes were imaged, not in where they came from.")
        return ("Its sources are balanced, yet the label is readable outside the lungs: look for what "
                "differs between the classes outside the lungs (age, positioning, devices, image size).")
    if audit.get("verdict") != "balanced" and verdict == NONE:
        return ("Its sources split by class, yet no shortcut outside the lungs was found: the sources' "
                "marks may be too weak to learn at this size, or hidden by the box.")
    return ""


