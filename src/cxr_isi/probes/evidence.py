"""What a trained model reads, gathered once: the evidence the model rule decides on.

Three callers ask the same question of a model trained on whole images: ``cxr-isi judge`` (a
model from anywhere), the remedies' verdicts (each remedied model of a remedy run) and the
study's lung-swap probe. All three hand this module arrays (test images, their lung masks, the
labels, the sources where known, the dataset's fixed box) and a scorer, and get the same
evidence back, gathered the same way: each test-time image set's AUC with its DeLong interval
and its paired test against the original, the source by label (Cramér's V), and the lung swap
with its controls. The array level is the one function (as MONAI's dictionary transforms wrap
its array transforms); choosing the test rows, reading images and writing files stay with the
callers, and the decision with the rule (:func:`cxr_isi.verdict.model.decide_evidence`).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from scipy.special import expit

from cxr_isi.audit.imbalance import cramers_v
from cxr_isi.evaluate.metrics import auc_ci, delong_test
from cxr_isi.lungs.hideseek import TEST_TIME_SETS, FixedBox, fixed_box_of_masks, make_test_time_set
from cxr_isi.probes.swap import swap_test

VERSION = 1
MIN_PER_CLASS = 10  # images of each class below which a test set is too small to decide (no interval shown)


@dataclass(frozen=True)
class ModelEvidence:
    """What one model did on one test set.

    Attributes
    ----------
    y : array (N,)
        The labels (1 positive).
    log_odds : dict
        Image set -> the model's log-odds on it (the ranking the AUCs read: a probability ties
        images beyond a logit of about 37).
    auc : dict
        Image set -> ``{"auc", "ci_low", "ci_high", "delong_p", "n_positive", "n_negative"}``
        (:func:`image_set_aucs`).
    swap : dict or None
        The lung swap (:func:`cxr_isi.probes.swap.swap_test`); None where the model tells no
        pair of opposite labels apart, or where it was not asked for.
    sources : array (N,) or None
        The images' sources where the caller knows them.
    n_sources : int
        Distinct sources (0 where none are known).
    cramers_v : float or None
        Source by label, where there are two sources or more.
    box : tuple
        The fixed box the fixed-box set was made with (fractions of the side).
    features : array (N, D) or None
        The model's pooled features on the original images, where asked for and its format keeps
        its layers.
    """

    y: np.ndarray
    log_odds: dict
    auc: dict
    swap: dict | None
    sources: np.ndarray | None
    n_sources: int
    cramers_v: float | None
    box: FixedBox
    features: np.ndarray | None = None


def image_set_aucs(y: np.ndarray, scores: dict[str, np.ndarray]) -> dict:
    """Each image set's AUC with its DeLong interval and, against the original, its paired p.

    Below :data:`MIN_PER_CLASS` images of a class the interval and the p are None (DeLong's
    normal interval on a handful of images is often zero-width: 1.00 (1.00-1.00) from two images
    a class); each row carries the class counts the rule reads.

    Parameters
    ----------
    y : array (N,)
    scores : dict
        Image set -> scores (any monotone scale); ``original`` among them for the paired tests.

    Returns
    -------
    dict
    """
    n_pos, n_neg = int((y == 1).sum()), int((y == 0).sum())
    enough = min(n_pos, n_neg) >= MIN_PER_CLASS
    out = {}
    for name, s in scores.items():
        a = auc_ci(y, s)
        row = {"auc": a["auc"], "ci_low": a["ci_low"] if enough else None,
               "ci_high": a["ci_high"] if enough else None, "delong_p": None,
               "n_positive": n_pos, "n_negative": n_neg}
        if name != "original" and enough:
            row["delong_p"] = delong_test(y, scores["original"], s)["p_value"]
        out[name] = row
    return out


def gather_model_evidence(scorer, images: np.ndarray, masks: np.ndarray, y: np.ndarray, *,
                          sources: np.ndarray | None = None, box: FixedBox | None = None, seed: int = 0,
                          swap_pairs: int = 48, image_sets: Sequence[str] = TEST_TIME_SETS,
                          swap: bool = True, features: bool = False) -> ModelEvidence:
    """Score ``images`` in every image set, run the lung swap, and measure the source by label.

    Parameters
    ----------
    scorer : Scorer
        The model (:class:`~cxr_isi.models.scorer.Scorer`: ``log_odds``, ``score``).
    images, masks : arrays (N, H, W)
        Test images in [0, 1] at the model's size, and their lung masks.
    y : array (N,)
        Labels, 1 positive.
    sources : array (N,), optional
        Where known: the cross-source control of the swap and Cramér's V use them where there
        are two or more.
    box : tuple, optional
        The dataset's fixed box; by default the box of these masks (:func:`fixed_box_of_masks`).
    seed : int
        Fixes the swap's pairs.
    swap_pairs : int
        Opposite-label pairs for the swap.
    image_sets : sequence of str
        Of :data:`~cxr_isi.lungs.hideseek.TEST_TIME_SETS`, ``original`` first (empty: no AUCs).
    swap : bool
        Run the lung swap.
    features : bool
        Keep the model's pooled features on the original images.

    Returns
    -------
    ModelEvidence
    """
    box = fixed_box_of_masks(masks) if box is None else box
    src = None if sources is None else np.asarray(sources).astype(str)
    n_sources = 0 if src is None else len(np.unique(src))
    feats = None
    log_odds: dict[str, np.ndarray] = {}
    for name in image_sets:
        if name == "original" and features:
            log_odds[name], feats = scorer.log_odds_and_features(images)
        else:
            log_odds[name] = scorer.log_odds(make_test_time_set(name, images, masks, box))
    auc = image_set_aucs(y, log_odds) if log_odds else {}
    scored = expit(log_odds["original"]) if "original" in log_odds else None  # the swap's own scores, not again
    found = (swap_test(scorer.score, images, masks, y, seed=seed, n_pairs=swap_pairs,
                       sources=src if n_sources > 1 else None, base=scored) if swap else None)
    v = cramers_v(src, y) if src is not None and n_sources > 1 else None
    return ModelEvidence(y=y, log_odds=log_odds, auc=auc, swap=found, sources=src, n_sources=n_sources,
                         cramers_v=None if v is None else float(v), box=box, features=feats)
