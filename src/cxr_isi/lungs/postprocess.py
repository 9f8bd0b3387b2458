"""Clean a predicted lung mask, tell the lungs apart, box them, and check the result.

Post-processing as the protocol asks: keep the two largest connected components (one per lung),
fill holes. The component on the image's left is the patient's right lung (PA convention). Each
image gets quality checks with a flag and a reason; a policy decides what flagged images become.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field

import numpy as np
from scipy import ndimage

from cxr_isi.choices import QCPolicy
from cxr_isi.config import StrictModel

Box = tuple[int, int, int, int]  # y0, y1, x0, x1 (end-exclusive)


class QCThresholds(StrictModel):
    """Limits of a plausible lung mask (shares of the image area, ratios of the lungs)."""

    min_area_share: float = 0.08
    max_area_share: float = 0.6
    min_lr_ratio: float = 0.35  # smaller lung area / larger lung area
    min_box_share: float = 0.1  # union box area / image area
    policy: QCPolicy = "keep"  # what a flagged image becomes


@dataclass
class LungGeometry:
    """What the mask says: both lungs' boxes, the union box, and the quality flags."""

    right_box: Box | None  # patient's right lung: the image's left
    left_box: Box | None
    union_box: Box | None
    area_share: float
    n_components: int  # before keeping the two largest
    lr_ratio: float
    flags: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.flags

    def as_row(self) -> dict:
        d = asdict(self)
        for k in ("right_box", "left_box", "union_box"):
            d[k] = "" if d[k] is None else " ".join(map(str, d[k]))
        d["flags"] = "; ".join(self.flags)
        d["ok"] = self.ok
        return d


def clean_mask(mask: np.ndarray) -> tuple[np.ndarray, int]:
    """The two largest components with holes filled, and the number of components before."""
    m = np.asarray(mask, dtype=bool)
    labels, n = ndimage.label(m)
    if n > 2:
        sizes = ndimage.sum_labels(m, labels, np.arange(1, n + 1))
        m = np.isin(labels, np.argsort(sizes)[::-1][:2] + 1)
    return ndimage.binary_fill_holes(m), int(n)


def _box(m: np.ndarray) -> Box | None:
    if not m.any():
        return None
    rows, cols = np.flatnonzero(m.any(1)), np.flatnonzero(m.any(0))
    return int(rows[0]), int(rows[-1]) + 1, int(cols[0]), int(cols[-1]) + 1


def lung_geometry(mask: np.ndarray, n_components: int | None = None,
                  thresholds: QCThresholds | None = None) -> LungGeometry:
    """Boxes and quality flags of a (cleaned) two-lung mask."""
    t = thresholds or QCThresholds()
    m = np.asarray(mask, dtype=bool)
    labels, n = ndimage.label(m)
    comps = []
    for k in range(1, n + 1):
        c = labels == k
        comps.append((c.sum(), np.nonzero(c)[1].mean(), c))
    comps.sort(key=lambda c: -c[0])
    comps = comps[:2]
    comps.sort(key=lambda c: c[1])  # by column: image-left first
    right = comps[0][2] if len(comps) == 2 else None
    left = comps[1][2] if len(comps) == 2 else None
    areas = [c[0] for c in comps]
    ratio = float(min(areas) / max(areas)) if len(areas) == 2 else 0.0
    share = float(m.mean())
    union = _box(m)
    flags = []
    if not m.any():
        flags.append(EMPTY_MASK)
    else:
        if share < t.min_area_share:
            flags.append(f"lung area {share:.0%} of the image is below {t.min_area_share:.0%}")
        if share > t.max_area_share:
            flags.append(f"lung area {share:.0%} of the image is above {t.max_area_share:.0%}")
        if len(comps) < 2:
            flags.append("one lung only (one connected component)")
        elif ratio < t.min_lr_ratio:
            flags.append(f"lungs unbalanced: the smaller is {ratio:.0%} of the larger")
        if union is not None:
            box_share = (union[1] - union[0]) * (union[3] - union[2]) / m.size
            if box_share < t.min_box_share:
                flags.append(f"lung box covers {box_share:.0%} of the image")
            if box_share > WHOLE_IMAGE_BOX:
                flags.append(WHOLE_IMAGE)
    return LungGeometry(
        right_box=_box(right) if right is not None else None,
        left_box=_box(left) if left is not None else None,
        union_box=union, area_share=share,
        n_components=int(n if n_components is None else n_components), lr_ratio=ratio, flags=flags,
    )


WHOLE_IMAGE_BOX = 0.98  # a union box over this share of the image leaves nothing outside the lungs
EMPTY_MASK = "empty mask: no lung found"
WHOLE_IMAGE = "lung box covers the whole image"


def hiding_problem(mask: np.ndarray) -> str:
    """Why this lung mask cannot hide or isolate the lungs, or ``""`` when it can.

    An empty mask would give a "boxed-out" image identical to the original (the lungs not
    hidden) and an all-black "isolated" one; a mask whose box covers the whole image would give
    an all-black "boxed-out" image and an "isolated" one that is the original. Either is the one
    result the protocol must never produce, so every path that builds an image set (training,
    the probes, ``cxr-isi hideseek``) leaves such an image out with this reason, whatever the QC
    policy. Flags that only make a mask doubtful (one lung, unbalanced lungs) are the policy's.
    The reasons are :func:`lung_geometry`'s flags of the same name, so a segmented manifest's
    ``lung_qc`` tells them too (:func:`cannot_hide`).
    """
    m = np.asarray(mask, dtype=bool)
    if not m.any():
        return EMPTY_MASK
    box = _box(m)
    assert box is not None
    if (box[1] - box[0]) * (box[3] - box[2]) / m.size > WHOLE_IMAGE_BOX:
        return WHOLE_IMAGE
    return ""


def cannot_hide(lung_qc: str) -> bool:
    """Whether a ``lung_qc`` text holds a flag of :func:`hiding_problem` (the image is left out of
    every image set, ``original`` included, so all sets of a study hold the same images)."""
    return EMPTY_MASK in lung_qc or WHOLE_IMAGE in lung_qc


def dice(pred: np.ndarray, truth: np.ndarray) -> float:
    """Dice coefficient of two boolean masks (1.0 when both are empty)."""
    p, t = np.asarray(pred, bool), np.asarray(truth, bool)
    denom = p.sum() + t.sum()
    return 1.0 if denom == 0 else float(2 * (p & t).sum() / denom)


def iou(pred: np.ndarray, truth: np.ndarray) -> float:
    """Intersection over union of two boolean masks (1.0 when both are empty)."""
    p, t = np.asarray(pred, bool), np.asarray(truth, bool)
    union = (p | t).sum()
    return 1.0 if union == 0 else float((p & t).sum() / union)
