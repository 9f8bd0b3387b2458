"""Sentences the report and the CLI print from a summary's figures."""

from __future__ import annotations

import numpy as np


def cross_sentence(c: dict) -> str:
    cv = c.get("cv_auc_mean") is not None
    auc = c["cv_auc_mean"] if cv else c["auc"]
    if auc is None or not np.isfinite(auc):
        return f"Trained on {c['train']}, tested on {c['test']}: no result."
    key = "cv_{}_mean" if cv else "{}"
    sens, spec = c.get(key.format("sensitivity")), c.get(key.format("specificity"))
    word = "transfers" if auc >= 0.8 else ("is near chance" if auc <= 0.65 else "transfers partly")
    at = (f", sensitivity {sens:.2f} and specificity {spec:.2f} at 0.5" if sens is not None and spec is not None
          and np.isfinite(sens) and np.isfinite(spec) else "")
    where = "cross-validation mean " if cv else ""
    return f"Trained on {c['train']}, tested on {c['test']}: {where}AUC {auc:.2f}{at}: the model {word}."
