"""The dataset rule's error rates as measured (``cxr-isi error-rates``, :mod:`cxr_isi.studies.error_rates`),
shipped beside the rule they measure.

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

MEASURED = Path(__file__).with_name("measured_error_rates.json")


def rate_text(m: dict) -> str:
    """``12% (5%-25%)``: a rate with its interval, or ``not run``."""
    if m.get("rate") is None or m["rate"] != m["rate"]:
        return "not run"
    return f"{m['rate']:.0%} ({m['ci_low']:.0%}-{m['ci_high']:.0%})"


def measured() -> dict | None:
    """The error-rate summary shipped with this version (None when absent or unreadable)."""
    try:
        return json.loads(MEASURED.read_text())
    except (OSError, ValueError):
        return None


def measured_sentence() -> str:
    """One sentence for the report beside the rule: how often this rule was wrong where the answer
    is known, or that its thresholds changed since that was measured."""
    m = measured()
    if not m:
        return ""
    if m["thresholds"] != thresholds():
        changed = ", ".join(f"{k} {m['thresholds'].get(k)} -> {v}" for k, v in thresholds().items()
                            if m["thresholds"].get(k) != v)
        return (f"The rule's thresholds changed since its error rates were measured ({changed}): "
                "its false-alarm rate and power are unknown until `cxr-isi error-rates` runs again.")
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
