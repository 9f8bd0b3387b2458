"""What a run's model is expected to score on data from elsewhere: the shipped line
(:mod:`cxr_isi.evaluate.external`, fitted by ``cxr-isi external`` on pairs whose external AUC is
known) applied to the figures the run measured at home.

The line ships beside this module as ``external_model.json`` (``cxr-isi external`` writes a new
candidate into its benchmark folder; copy it here to ship new figures).
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd

from cxr_isi.evaluate import external as est
from cxr_isi.lungs.hideseek import FIXED_BOX
from cxr_isi.probes.pest import pest

SHIPPED = Path(__file__).with_name("external_model.json")
FIXED = FIXED_BOX
ACQ = f"{FIXED_BOX}_blocks"
INFORMATIVE_WIDTH = 0.3  # an interval this wide or wider (of the AUC's [0, 1]) is shown as "unknown"
UNKNOWN = "unknown"


def split_row(results: pd.DataFrame, train: str, test: str, variant: str) -> dict | None:
    r = results[(results["protocol"] == "split") & (results["train_dataset"] == train)
                & (results["test_dataset"] == test) & (results["variant"] == variant)]
    if r.empty:
        return None
    row = r.iloc[0]
    return {"auc": float(row["auc"]), "se": float(row.get("auc_se", np.nan)), "ci_low": float(row["auc_ci_low"]),
            "ci_high": float(row["auc_ci_high"]), "n": int(row["n"])}


def home_figures(results: pd.DataFrame, dataset: str, size: int | None = None) -> dict:
    """What a run measures at home for ``dataset``: ``internal``, ``fixed_box``, ``acquisition``,
    ``shuffled`` (PEst's model) as ``auc_ci``-like dicts, each None where it did not run."""
    variants = set(results["variant"]) if len(results) else set()
    acq = next((v for v in sorted(variants) if v.startswith(ACQ)), None)
    shuffled = f"original_blocks{size}" if size else next((v for v in sorted(variants)
                                                            if v.startswith("original_blocks")), None)
    return {"internal": split_row(results, dataset, dataset, "original"),
            "fixed_box": split_row(results, dataset, dataset, FIXED),
            "acquisition": split_row(results, dataset, dataset, acq) if acq else None,
            "shuffled": split_row(results, dataset, dataset, shuffled) if shuffled else None}


def shipped() -> dict | None:
    """The line shipped with this version (None when absent or unreadable)."""
    try:
        return json.loads(SHIPPED.read_text())
    except (OSError, ValueError):
        return None


def estimate_for(results: pd.DataFrame, dataset: str, size: int | None = None) -> dict | None:
    """A run's "expected AUC on data from elsewhere" for ``dataset``: the shipped line on its
    figures at home, with PEst's where its pixel-shuffled model ran; None without the line or
    the figures (the fixed box and the acquisition probe).

    A figure whose interval is as wide as the range says nothing: where the line's 95% interval
    is :data:`INFORMATIVE_WIDTH` wide or wider, ``status`` is ``unknown``, ``estimate``,
    ``ci_low`` and ``ci_high`` are None and ``reason`` says why; the line's own numbers stay
    under ``line`` for whoever audits them. Otherwise ``status`` is ``estimated``.
    """
    model = shipped()
    home = home_figures(results, dataset, size)
    if model is None or not home["internal"]:
        return None
    auc = lambda k: None if home[k] is None else home[k]["auc"]  # noqa: E731
    line = est.estimate(model, auc("internal"), auc("fixed_box"), auc("acquisition"))
    if line is None:
        return None
    width = line["ci_high"] - line["ci_low"]
    e = {**line, "status": "estimated", "line": dict(line), "interval_width": width, "reason": "",
         "internal": auc("internal"), "internal_ci": [home["internal"]["ci_low"], home["internal"]["ci_high"]],
         "formula": est.formula(model)}
    if width >= INFORMATIVE_WIDTH:
        e.update(status=UNKNOWN, estimate=None, ci_low=None, ci_high=None,
                 reason=(f"the shipped estimate's {line['confidence']:.0%} interval ({line['ci_low']:.2f}-"
                         f"{line['ci_high']:.2f}) is {width:.2f} wide, not narrower than {INFORMATIVE_WIDTH}: it "
                         "carries no information; measure instead (leave-one-source-out where sources hold both "
                         "classes, or an external manifest)"))
    if home["shuffled"]:
        e["pest"] = pest(home["internal"], home["shuffled"])
    return e


def sentence(e: dict) -> str:
    """``expected AUC on data from elsewhere: 0.xx (95% interval a-b); measured at home 0.xx``, or
    ``unknown`` with the reason where the interval says nothing."""
    if e.get("status") == UNKNOWN:
        return f"expected AUC on data from elsewhere: unknown ({e['reason']}); measured at home {e['internal']:.2f}"
    text = (f"expected AUC on data from elsewhere: {e['estimate']:.2f} ({e['confidence']:.0%} interval "
            f"{e['ci_low']:.2f}-{e['ci_high']:.2f}); measured at home {e['internal']:.2f}")
    if e.get("pest"):
        text += f" (PEst: {e['pest']['estimate']:.2f})"
    return text
