"""The rules' error rates as measured, shipped beside the rules they measure: the dataset rule's
(``cxr-isi error-rates``, :mod:`cxr_isi.studies.error_rates`) and the model rule's (``judge``:
``benchmarks/model_error_rates.py``, models trained by plain scripts outside cxr-isi).

``measured_error_rates.json`` beside this module is the summary of the benchmark behind this
version (copy a new ``error_rates_summary.json`` here to ship new figures). Every report quotes it
under the rule (:func:`measured_sentence`), and says so when the rule's thresholds are no longer
those it was measured with: a new threshold is then a change in this room, with its rates
measured again.
"""

from __future__ import annotations

import json
from pathlib import Path

from cxr_isi.verdict.thresholds import dataset_thresholds as thresholds
from cxr_isi.verdict.thresholds import model_thresholds

MEASURED = Path(__file__).with_name("measured_error_rates.json")
MODEL_MEASURED = Path(__file__).with_name("measured_model_error_rates.json")


def rate_text(m: dict) -> str:
    """``12% (5%-25%)``: a rate with its interval, or ``not run``."""
    if m.get("rate") is None or m["rate"] != m["rate"]:
        return "not run"
    return f"{m['rate']:.0%} ({m['ci_low']:.0%}-{m['ci_high']:.0%})"


def measured(path: Path = MEASURED) -> dict | None:
    """The error-rate summary shipped with this version (None when absent or unreadable)."""
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError):
        return None


def _shipped(path: Path, now: dict, what: str, again: str) -> tuple[dict | None, str]:
    """The rates shipped at ``path`` where they were measured with the thresholds ``now``; else
    None and the sentence saying why they are unknown (empty where none ship)."""
    m = measured(path)
    if not m:
        return None, ""
    was = m.get("thresholds") or {}
    changed = ", ".join(f"{k} {was.get(k)} -> {v}" for k, v in now.items() if was.get(k) != v)
    if changed:
        return None, (f"The rule's thresholds changed since its error rates were measured ({changed}): {what} "
                      f"unknown until {again} runs again.")
    return m, ""


def model_measured_sentence() -> str:
    """One sentence beside the judge's rule: how often it said each wrong thing on models whose
    answer is known, or that its thresholds changed since (the rates are then unknown)."""
    m, why = _shipped(MODEL_MEASURED, model_thresholds(), "how often it is wrong is",
                      "benchmarks/model_error_rates.py")
    if m is None:
        return why or "How often this rule is wrong: unknown (no measurement ships with this version)."
    rows = {(r["case"], r["family"]): r for r in m["rows"]}
    t = m["target"]

    def right(case: str) -> str:
        r = rows.get((case, "all"))
        return f"{rate_text(r['right'])} of the {r['n']}" if r else "none (not run)"

    return (f"How often this rule is wrong, measured on {m['n_models']} models trained by plain scripts (PyTorch "
            f"and Keras, a small CNN and a ResNet-18) on phantoms whose answer is known ({m['measured']}; 95% "
            f"Wilson intervals): on models of a dataset whose sources each give one class it said 'reads the "
            f"lungs' {rate_text(t)} of the time ({t['k']} of {t['n']}); it named outside the lungs or the source "
            f"for {right('source')}, the lungs for {right('lungs')} models where only the lungs carry the label, "
            f"both for {right('lungs and a mark')} where the sources' marks outside the lungs carry part of it, and "
            f"was inconclusive for {right('nothing')} models of permuted labels. Phantoms are not hospitals "
            "(the documentation: 'How often the judge's verdict is wrong').")


def measured_sentence() -> str:
    """One sentence for the report beside the rule: how often this rule was wrong where the answer
    is known, or that its thresholds changed since that was measured."""
    m, why = _shipped(MEASURED, thresholds(), "its false-alarm rate and power are", "`cxr-isi error-rates`")
    if m is None:
        return why
    seeds, ph, fa = m["seeds"], m["phantoms"], m["false_alarms"]
    p9, p1, g = m["power_share_0.9"] or {}, m["power_strength_0.1"] or {}, m["geometry_named"] or {}
    levels = [f"{p['axis'].replace('_', ' ')} {p['level']:g}" for p in m.get("power_80", [])
              if p.get("level") is not None]
    reach = f" (80% reached from a {' and a '.join(levels)})" if levels else ""
    return (f"How often this rule is wrong, measured with these thresholds on phantoms whose answer is known "
            f"({m.get('measured') or 'this version'}; {ph['n']} phantoms of {ph['size']} px, {ph['folds']}-fold, "
            f"seeds from {seeds['first']}; 95% Wilson intervals): on {fa['n']} datasets with no shortcut it "
            f"said something other than 'no shortcut found' {rate_text(fa)} of the time; it named the source "
            f"shortcut {rate_text(p9)} of the time at a majority share of 0.9 and {rate_text(p1)} at a "
            f"fingerprint strength of 0.1{reach}, and the lung-geometry leak {rate_text(g)}. Measured with the "
            "geometry, acquisition and confounders probes: the causes probe (step 6) and the regions a reason names "
            "were not part of it. Phantoms are not "
            "hospitals: these rates hold for shortcuts like theirs (the documentation: 'How often the verdict is "
            "wrong').")
