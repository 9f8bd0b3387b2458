"""How much of a model's attention falls inside the lungs, per image and over a test set.

- ``inside_share``: the share of positive attribution that lies inside the lung mask;
- ``lung_area_share``: the lung mask's share of the image, what a map spread at random scores;
- ``pointing``: whether the map's peak lies inside the lungs (the pointing game);
- ``empty``: the map has no positive attribution at all (Grad-CAM finds no evidence for the
  class anywhere: a model can call an image positive because the negative sources' marks are
  absent). Empty maps have no ``inside_share`` and miss the pointing game.
A model that decides from the lungs has ``inside_share`` well above ``lung_area_share``.

The protocol here follows the paper's figures: explain the positive class on the test images
labelled positive.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from scipy import stats


def lung_attention(maps: np.ndarray, masks: np.ndarray) -> pd.DataFrame:
    """Per-image figures for attribution maps ``(N, H, W)`` and boolean lung masks."""
    rows = []
    for a, m in zip(maps, masks, strict=True):
        m = np.asarray(m, bool)
        pos = np.clip(a, 0, None)
        total = float(pos.sum())
        rows.append({
            "inside_share": float(pos[m].sum() / total) if total > 0 else float("nan"),
            "lung_area_share": float(m.mean()),
            "pointing": bool(m.flat[int(np.argmax(a))]) if total > 0 else False,
            "empty": total <= 0,
        })
    return pd.DataFrame(rows)


def attention_summary(per_image: pd.DataFrame, confidence: float = 0.95) -> dict:
    """Means with a t confidence interval for ``inside_share``, and the pointing-game hit rate."""
    x = per_image["inside_share"].dropna().to_numpy()
    n = len(x)
    mean = float(x.mean()) if n else float("nan")
    if n > 1:
        half = float(stats.t.ppf(0.5 + confidence / 2, n - 1) * x.std(ddof=1) / np.sqrt(n))
    else:
        half = float("nan")
    return {"n": n, "inside_share": mean, "ci_low": max(0.0, mean - half), "ci_high": min(1.0, mean + half),
            "lung_area_share": float(per_image["lung_area_share"].mean()),
            "pointing_game": float(per_image["pointing"].mean()),
            "n_empty": int(per_image["empty"].sum()),
            "above_baseline": bool(mean > per_image["lung_area_share"].mean())}
