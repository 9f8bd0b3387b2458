"""Probe 8: where outside the lungs is the label? A region map with the lungs hidden.

Every image with the dataset's fixed box (one box for every image: no lung pixel, no per-image
box shape) is cut into regions: a 4 x 4 grid and the four border bands (an eighth of the side
each). For each region alone, the pixels it keeps outside the box are summarised by a few
numbers (mean, spread, five quantiles, the shares of near-white and near-black pixels, edge
energy, and the mean and spread of each quarter of the region, so a mark's place within it
counts) and a standardised logistic regression reads the label from them, out of fold and
patient-grouped (:func:`~cxr_isi.probes.base.oof_probabilities`). Each region's AUC has its
DeLong interval at 95%; the regions named as carrying the label are those at AUC >= 0.70 whose
interval, Bonferroni-corrected for the number of regions looked at, stays above 0.60 (the best
of twenty regions on data with no signal reaches 0.6 on a few hundred images).

Why numbers per region rather than a small CNN per region: twenty training jobs per dataset
would cost more than the study's own; a marker, a band, a lead or a text stamp changes exactly
these numbers (bright share, upper quantiles, edge energy), and the map is meant to point, not
to score. What it cannot see: a shape that keeps the region's intensity statistics (a letter
"L" against an "R" of the same size and brightness) and anything under the box.

The estimate is the best region's AUC with its corrected interval. The probe locates; it does
not explain a residual by itself (``explains`` is None): the verdict's reason names the regions.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from cxr_isi.evaluate.metrics import auc_ci
from cxr_isi.evaluate.text import interval_text
from cxr_isi.probes.base import Probe, ProbeInput, ProbeResult, boxed_images, oof_probabilities

NAME = "regions"
MEASURE = "AUC of the label from one region outside the fixed lung box (the best region)"
VERSION = 1
GRID = 4
BAND = 0.125
CARRIES_AUC, CARRIES_LOW = 0.70, 0.60
MIN_VISIBLE = 0.10  # a region with less than this share outside the box is not scored
ROWS = ("top", "upper", "lower", "bottom")
COLS = ("left", "inner-left", "inner-right", "right")
BRIGHT, DARK = 0.9, 0.1


@dataclass(frozen=True)
class Region:
    """A rectangle of the image, in pixels: rows ``y0:y1``, columns ``x0:x1``."""

    name: str
    kind: str  # "grid" or "band"
    y0: int
    y1: int
    x0: int
    x1: int


def _cell_name(r: int, c: int, grid: int) -> str:
    if grid != len(ROWS):
        return f"row {r + 1}, column {c + 1}"
    corner = r in (0, grid - 1) and c in (0, grid - 1)
    return f"{ROWS[r]}-{COLS[c]} corner" if corner else f"{ROWS[r]}-{COLS[c]}"


def regions(size: int, grid: int = GRID, band: float = BAND) -> list[Region]:
    """The grid's cells (row by row, named by place in the image as displayed: image left is
    the patient's right on a PA film) and the four border bands."""
    edges = np.linspace(0, size, grid + 1).round().astype(int)
    out = [Region(_cell_name(r, c, grid), "grid",
                  int(edges[r]), int(edges[r + 1]), int(edges[c]), int(edges[c + 1]))
           for r in range(grid) for c in range(grid)]
    b = max(1, round(size * band))
    out += [Region("top band", "band", 0, b, 0, size), Region("bottom band", "band", size - b, size, 0, size),
            Region("left band", "band", 0, size, 0, b), Region("right band", "band", 0, size, size - b, size)]
    return out


def box_pixels(box: tuple[float, float, float, float], size: int) -> tuple[int, int, int, int]:
    """The fixed box (fractions ``y0, y1, x0, x1``) in pixels, rounded outward."""
    y0, y1, x0, x1 = box
    return (int(np.floor(y0 * size)), int(np.ceil(y1 * size)), int(np.floor(x0 * size)), int(np.ceil(x1 * size)))


def region_features(images: np.ndarray, region: Region, hidden: np.ndarray) -> np.ndarray | None:
    """The numbers a region is read by (see the module docstring), ``(N, F)``; None when less
    than :data:`MIN_VISIBLE` of it lies outside the box.

    Parameters
    ----------
    images : array (N, S, S) of float in [0, 1]
    region : Region
    hidden : bool array (S, S)
        True under the fixed box.
    """
    vis = ~hidden[region.y0:region.y1, region.x0:region.x1]
    if vis.mean() < MIN_VISIBLE or vis.sum() < 16:
        return None
    crop = images[:, region.y0:region.y1, region.x0:region.x1].astype(np.float32)
    n = len(crop)
    v = crop[:, vis]
    feats = [v.mean(axis=1), v.std(axis=1), *np.quantile(v, (0.05, 0.25, 0.5, 0.75, 0.95), axis=1),
             (v > BRIGHT).mean(axis=1), (v < DARK).mean(axis=1)]
    dy = np.abs(np.diff(crop, axis=1))[:, vis[1:] & vis[:-1]]
    dx = np.abs(np.diff(crop, axis=2))[:, vis[:, 1:] & vis[:, :-1]]
    feats.append((dy.sum(axis=1) + dx.sum(axis=1)) / max(1, dy.shape[1] + dx.shape[1]))
    h, w = vis.shape
    for ys in (slice(0, h // 2), slice(h // 2, h)):
        for xs in (slice(0, w // 2), slice(w // 2, w)):
            q = vis[ys, xs]
            if q.sum() >= 4:
                sub = crop[:, ys, xs][:, q]
                feats += [sub.mean(axis=1), sub.std(axis=1)]
            else:
                feats += [np.zeros(n, np.float32), np.zeros(n, np.float32)]
    return np.stack(feats, axis=1).astype(np.float64)


def region_map(images: np.ndarray, y: np.ndarray, groups: np.ndarray, box: tuple[float, float, float, float],
               seed: int = 0, grid: int = GRID, band: float = BAND) -> pd.DataFrame:
    """The label's AUC from each region alone, out of fold, with the lungs under ``box``.

    Parameters
    ----------
    images : array (N, S, S) of float in [0, 1]
    y : array of 0/1
    groups : array
        Patient ids (a patient's images in one fold).
    box : (y0, y1, x0, x1)
        The fixed box as fractions of the side (:func:`~cxr_isi.lungs.hideseek.dataset_box`).
    seed, grid : int
    band : float

    Returns
    -------
    DataFrame
        One row per region: ``region, kind, y0, y1, x0, x1, visible, auc, ci_low, ci_high``
        (95%) and ``adj_low, adj_high`` (Bonferroni over the regions scored); NaN where the box
        hides the region or a class has too few patients.
    """
    size = images.shape[-1]
    hidden = np.zeros((size, size), bool)
    by0, by1, bx0, bx1 = box_pixels(box, size)
    hidden[by0:by1, bx0:bx1] = True
    regs = regions(size, grid, band)
    scores: list[dict | None] = []
    for reg in regs:
        x = region_features(images, reg, hidden)
        p = None if x is None else oof_probabilities(x, y, groups, seed)
        scores.append(None if p is None else {"p": p})
    n_scored = max(1, sum(s is not None for s in scores))
    adj = 1 - 0.05 / n_scored
    rows = []
    for reg, s in zip(regs, scores, strict=True):
        row = {"region": reg.name, "kind": reg.kind, "y0": reg.y0, "y1": reg.y1, "x0": reg.x0, "x1": reg.x1,
               "visible": float((~hidden[reg.y0:reg.y1, reg.x0:reg.x1]).mean()), "auc": np.nan, "ci_low": np.nan,
               "ci_high": np.nan, "adj_low": np.nan, "adj_high": np.nan}
        if s is not None:
            ci, wide = auc_ci(y, s["p"]), auc_ci(y, s["p"], confidence=adj)
            row.update(auc=ci["auc"], ci_low=ci["ci_low"], ci_high=ci["ci_high"], adj_low=wide["ci_low"],
                       adj_high=wide["ci_high"])
        rows.append(row)
    table = pd.DataFrame(rows)
    table.attrs["confidence"] = adj
    return table


def carrying(table: pd.DataFrame) -> pd.DataFrame:
    """The regions that carry the label (AUC >= 0.70, corrected interval above 0.60), best first."""
    t = table.dropna(subset=["auc"])
    return t[(t["auc"] >= CARRIES_AUC) & (t["adj_low"] > CARRIES_LOW)].sort_values("auc", ascending=False)


def where_text(table: pd.DataFrame, at_most: int = 3) -> str:
    """``top band, AUC 0.78 (95% CI 0.71-0.85); ...`` for the regions that carry the label."""
    return "; ".join(f"{r.region}, AUC {interval_text(r.auc, r.ci_low, r.ci_high)}"
                     for r in carrying(table).head(at_most).itertuples())


def region_figure(mean_image: np.ndarray, table: pd.DataFrame, box: tuple[float, float, float, float],
                  out: Path, title: str) -> str:
    """The map over the mean image: grid cells (left) and border bands (right) coloured by AUC,
    the fixed box hatched, each region's AUC written in it."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.patches import Rectangle

    size = mean_image.shape[-1]
    cmap = plt.get_cmap("inferno")
    fig, axes = plt.subplots(1, 2, figsize=(8.4, 4.6))
    by0, by1, bx0, bx1 = box_pixels(box, size)
    for ax, kind in zip(axes, ("grid", "band"), strict=True):
        ax.imshow(mean_image, cmap="gray", vmin=0, vmax=1)
        for r in table[table["kind"] == kind].itertuples():
            auc = r.auc if r.auc == r.auc else None
            colour = cmap(0.0 if auc is None else float(np.clip((auc - 0.5) / 0.5, 0, 1)))
            ax.add_patch(Rectangle((r.x0 - 0.5, r.y0 - 0.5), r.x1 - r.x0, r.y1 - r.y0, facecolor=colour,
                                   alpha=0.55 if auc is not None else 0.0, edgecolor="white", linewidth=0.6))
            ax.text((r.x0 + r.x1) / 2, (r.y0 + r.y1) / 2, "boxed" if auc is None else f"{auc:.2f}",
                    ha="center", va="center", fontsize=8, color="white")
        ax.add_patch(Rectangle((bx0 - 0.5, by0 - 0.5), bx1 - bx0, by1 - by0, fill=False, hatch="//",
                               edgecolor="cyan", linewidth=1.0))
        ax.set_title("4 x 4 grid" if kind == "grid" else "border bands", fontsize=9)
        ax.axis("off")
    sm = plt.cm.ScalarMappable(cmap=cmap, norm=plt.Normalize(0.5, 1.0))
    fig.colorbar(sm, ax=list(axes), fraction=0.03, label="AUC of the label from the region alone")
    fig.suptitle(title, fontsize=10)
    out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out, dpi=90)
    plt.close(fig)
    return str(out)


def result_of(table: pd.DataFrame, dataset: str, n: int, figure: str | None = None) -> ProbeResult:
    """The probe's answer from a region table (:func:`region_map`)."""
    scored = table.dropna(subset=["auc"])
    if scored.empty:
        return ProbeResult.not_applicable(NAME, dataset, MEASURE, "No region outside the box could be scored "
                                          "(too few patients per class, or the box covers the image).")
    best = scored.sort_values("auc", ascending=False).iloc[0]
    level = float(table.attrs.get("confidence", 0.95))
    text = interval_text(best["auc"], best["adj_low"], best["adj_high"], level=level)
    where = where_text(table)
    if where:
        sentence = f"With the lungs under one fixed box, the label is readable from: {where} (best {text})."
    else:
        sentence = (f"With the lungs under one fixed box, no single region carries the label (best: {best['region']}, "
                    f"AUC {text}).")
    return ProbeResult(NAME, dataset, MEASURE, float(best["auc"]), float(best["adj_low"]), float(best["adj_high"]),
                       n, None, sentence, figure=figure,
                       details={"regions": table.to_dict("records"), "carrying": carrying(table)["region"].tolist(),
                                "where": where, "confidence": level})


def run(inp: ProbeInput) -> ProbeResult:
    found = boxed_images(inp, NAME, MEASURE, inp.size)
    if isinstance(found, ProbeResult):
        return found
    rows, images, _ = found
    assert inp.fixed_box is not None  # boxed_images checked it
    table = region_map(images, rows["_y"].to_numpy(), rows["patient_id"].astype(str).to_numpy(), inp.fixed_box,
                       seed=inp.seed)
    figure = region_figure(images.mean(axis=0), table, inp.fixed_box, inp.out_dir / "regions.png",
                           f"{inp.title}: where outside the lungs the label is (fixed box hatched)")
    return result_of(table, inp.dataset, len(rows), figure)


PROBE = Probe(NAME, MEASURE, run, rank=70, version=VERSION,
              caption="Where outside the lungs the label is: each region of the mean image read alone (lungs under "
                      "the dataset's fixed box, hatched), out of fold; colour and figure are the region's AUC.")
