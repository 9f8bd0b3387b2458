"""What every probe takes and gives, and the helpers they share.

A probe asks one question of a prepared dataset and its trained models ("can the lung mask's
geometry alone tell the label?", "does the model follow the frame or the lungs?") and answers
with a :class:`ProbeResult`: an estimate with its 95% interval, one sentence, whether it
explains a residual lungs-boxed-out AUC, a figure, and its details. The runner builds one
:class:`ProbeInput` per dataset and loops over the registry; the report renders every result the
same way.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from cxr_isi.data.manifest import Manifest


@dataclass
class ProbeInput:
    """A prepared dataset and what its jobs wrote, as plain data.

    Attributes
    ----------
    dataset, title : str
        The dataset's name and title in the config.
    manifest : Manifest
        Its prepared rows (``mask_path``, ``split``, ``fold``, ``image_id``, ``lung_qc``), label
        mapping attached.
    lungs : DataFrame
        The segmenter's ``lungs.csv`` (union box, lung area share, left/right ratio, components).
    segmentation_size : int
        The square grid the boxes in ``lungs`` are measured on.
    audit : dict or None
        The dataset's audit (``audit.json``).
    checkpoints : dict
        Image set -> the single-split model trained on it (the first model of the config).
    predictions : dict
        Image set -> that model's predictions on the dataset's own test split.
    fold_predictions : dict
        Image set -> one predictions table per cross-validation fold (own dataset).
    size, resize : int, str
        The training geometry.
    out_dir : Path
        Where the probe writes its figure.
    seed : int
    settings : dict
        The config's ``probes`` block.
    fixed_box : (y0, y1, x0, x1) or None
        The dataset's fixed box as fractions of the side (the fixed-box control's box); None
        where no lung mask was predicted.
    """

    dataset: str
    title: str
    manifest: Manifest
    lungs: pd.DataFrame
    segmentation_size: int
    audit: dict | None
    checkpoints: dict[str, Path]
    predictions: dict[str, pd.DataFrame]
    fold_predictions: dict[str, list[pd.DataFrame]]
    size: int
    resize: str
    out_dir: Path
    seed: int = 0
    settings: dict = field(default_factory=dict)
    fixed_box: tuple[float, float, float, float] | None = None


@dataclass
class ProbeResult:
    """One probe's answer for one dataset.

    Attributes
    ----------
    probe, dataset : str
    measure : str
        What ``estimate`` is, in words (e.g. "AUC of the label from lung geometry alone").
    estimate, ci_low, ci_high : float or None
        The figure and its 95% interval; None where the probe does not apply.
    n : int
        Images (or pairs) behind the estimate.
    explains : bool or None
        Whether this probe explains a residual lungs-boxed-out AUC (None: does not apply).
    sentence : str
        The reading, in one sentence.
    figure : str or None
        A PNG the report embeds.
    details : dict
        The probe's tables and secondary figures.
    """

    probe: str
    dataset: str
    measure: str
    estimate: float | None
    ci_low: float | None
    ci_high: float | None
    n: int
    explains: bool | None
    sentence: str
    figure: str | None = None
    details: dict = field(default_factory=dict)

    def as_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def not_applicable(cls, probe: str, dataset: str, measure: str, why: str) -> ProbeResult:
        return cls(probe, dataset, measure, None, None, None, 0, None, why)


@dataclass(frozen=True)
class Probe:
    """A probe's declaration: everything the plan, the runner, the dataset rule and the report
    know of it. Each probe module declares one as ``PROBE``; the registry
    (:func:`cxr_isi.probes.probes`) finds every module of the package that has one, so adding a
    probe is one file (and its test): ``docs/guide/extending.md``.

    Attributes
    ----------
    name : str
        The name in configs (``probes.names``) and results.
    measure : str
        What its estimate is, in words.
    run : callable
        :class:`ProbeInput` -> :class:`ProbeResult`.
    rank : int
        Its place in the protocol's order: the default list, the plan's jobs, the report.
    version : int
        Part of a result's identity: a run resumed after the probe changed computes it again.
    default : bool
        Whether a config that names no probes runs it.
    job : callable, optional
        The training job it adds to each dataset: experiment config -> (image set, training
        overrides), e.g. the acquisition probe's model on tile-shuffled images.
    tried : str, optional
        What it tries as the explanation of a residual boxed-out AUC; an inconclusive verdict
        names it where it explained nothing.
    caption : str, optional
        The caption of its figure in the report (no caption: the figure is not shown there).
    table : callable, optional
        Its details (the result's ``details``) -> rows of a table the report shows below the figure.
    """

    name: str
    measure: str
    run: Callable[[ProbeInput], ProbeResult]
    rank: int
    version: int = 1
    default: bool = True
    job: Callable[[Any], tuple[str, dict]] | None = None
    tried: str | None = None
    caption: str | None = None
    table: Callable[[dict], list[dict]] | None = None


def oof_probabilities(x: np.ndarray, y: np.ndarray, groups: np.ndarray, seed: int = 0,
                      n_splits: int = 5) -> np.ndarray | None:
    """Out-of-fold probabilities of a standardised logistic regression (scikit-learn's
    ``cross_val_predict`` over ``StratifiedGroupKFold``: a patient's images in one fold); the
    positive class for a binary ``y``, one column per class otherwise. None when a class has
    fewer than two patients."""
    from sklearn.linear_model import LogisticRegression
    from sklearn.model_selection import StratifiedGroupKFold, cross_val_predict
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    from cxr_isi.audit.imbalance import patient_folds

    y = np.asarray(y)
    k = patient_folds(y, groups, n_splits)
    if k < 2 or len(np.unique(y)) < 2:
        return None
    model = make_pipeline(StandardScaler(), LogisticRegression(C=1.0, max_iter=2000))
    folds = StratifiedGroupKFold(n_splits=k, shuffle=True, random_state=seed)
    p = cross_val_predict(model, x, y, groups=groups, cv=folds, method="predict_proba")
    return p[:, 1] if p.shape[1] == 2 else p


def images_and_masks(manifest: Manifest, size: int, resize: str) -> tuple[list[str], np.ndarray, np.ndarray]:
    """Images (float32 in [0, 1]) and boolean lung masks of the rows whose mask can hide the
    lungs (:func:`~cxr_isi.lungs.postprocess.hiding_problem`), at the training geometry, from the
    shared cache; with their paths."""
    from cxr_isi.data.cache import cache_pairs
    from cxr_isi.lungs.postprocess import hiding_problem

    frame = manifest.frame
    frame = frame[frame["mask_path"].astype(str) != ""]
    if frame.empty:
        return [], np.empty((0, size, size), np.float32), np.empty((0, size, size), bool)
    images, masks, slots, mslots = cache_pairs(frame["path"].tolist(), frame["mask_path"].tolist(), size=size,
                                               resize=resize, origin=manifest.origin)
    keep = [i for i in range(len(frame)) if slots[i] >= 0 and mslots[i] >= 0]
    paths, xs, ms = [], [], []
    for i in keep:
        m = masks.array[mslots[i]] > 127
        if not hiding_problem(m):
            paths.append(frame["path"].iloc[i])
            xs.append(images.array[slots[i]].astype(np.float32) / 255)
            ms.append(m)
    if not paths:
        return [], np.empty((0, size, size), np.float32), np.empty((0, size, size), bool)
    return paths, np.stack(xs), np.stack(ms)


def boxed_images(inp: ProbeInput, name: str, measure: str,
                 size: int) -> ProbeResult | tuple[pd.DataFrame, np.ndarray, np.ndarray]:
    """What a probe of the places outside the lungs reads: the rows (indexed by path, the label
    in ``_y``), images and lung masks at ``size`` of the images with a usable mask; or the
    probe's not-applicable answer where the dataset has no fixed box (no lung mask was
    predicted) or no usable mask."""
    if inp.fixed_box is None:
        return ProbeResult.not_applicable(name, inp.dataset, measure, "No fixed box for this dataset (no lung "
                                          "masks were predicted).")
    m = inp.manifest
    paths, images, masks = images_and_masks(m, size, inp.resize)
    if not paths:
        return ProbeResult.not_applicable(name, inp.dataset, measure, "No image with a usable lung mask.")
    rows = m.frame.assign(_y=m.y).drop_duplicates("path").set_index("path").loc[paths]
    return rows, images, masks
