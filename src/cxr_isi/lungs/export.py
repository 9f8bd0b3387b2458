"""The hide-and-seek image sets as PNG folders, for users who want files (training derives them on
the fly and needs none of this), and the segmenter's Dice against a manifest's own masks."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from cxr_isi._io import numbered_name
from cxr_isi.choices import check_choice, check_variant
from cxr_isi.data.cache import cache_pairs
from cxr_isi.data.manifest import Manifest
from cxr_isi.errors import CxrIsiError
from cxr_isi.logs import get_logger
from cxr_isi.lungs.hideseek import apply_variant, dataset_box, lung_boxes
from cxr_isi.lungs.postprocess import hiding_problem, lung_geometry

log = get_logger("lungs")


def write_image_sets(manifest: Manifest, out_dir: str | Path, variants: list[str], *, size: int = 256,
                     resize: str = "pad", box_mode: str = "union", quantile: float = 0.95,
                     policy: str = "union", figure: str | Path | None = None, progress: bool = False) -> int:
    """Write ``out_dir/<variant>/<n>_<name>.png`` for every image with a lung mask.

    A mask that cannot hide the lungs (empty, or covering the whole image:
    :func:`~cxr_isi.lungs.postprocess.hiding_problem`) leaves its image out of every set, as in
    training. Lung QC flags (the manifest's ``lung_qc``, else computed from the mask) go to
    ``policy``: ``drop`` leaves the image out, ``union`` (default, as training does) gives it the
    union box in place of per-lung boxes, ``keep`` writes it as asked. ``box_mode="dataset"``
    draws one box for all (edges at ``quantile`` of the union boxes). ``figure`` also saves the five sets of the
    first image (the paper's Figure 3).

    Parameters
    ----------
    manifest : Manifest
        With ``mask_path`` (from ``cxr-isi lungs segment``).
    out_dir : path
    variants : list of str
    size, resize : int, str
        The cache geometry.
    box_mode : {"union", "per_lung", "dataset"}
    quantile : float
        For ``box_mode="dataset"``.
    policy : {"keep", "drop", "union"}
        What an image flagged by lung QC becomes.
    figure : path, optional
    progress : bool

    Returns
    -------
    int
        Images written (per variant).
    """
    from PIL import Image

    for v in variants:
        check_variant(v, "--variant")
    check_choice("box mode", box_mode, "--box-mode")
    check_choice("QC policy", policy, "--policy")
    if not manifest.has("mask_path"):
        raise CxrIsiError(f"{manifest.origin}: no mask_path; run cxr-isi lungs segment first")
    frame = manifest.frame[manifest.frame["mask_path"] != ""]
    im, mk, _, _ = cache_pairs(frame["path"].tolist(), frame["mask_path"].tolist(), size=size, resize=resize,
                               progress=progress, origin=manifest.origin)
    pairs = [(i, p, m) for i, (p, m) in enumerate(zip(frame["path"], frame["mask_path"], strict=True))
             if p in im and m in mk]
    qc = frame["lung_qc"].astype(str).tolist() if "lung_qc" in frame.columns else None
    left_out: dict[str, str] = {}
    flagged: dict[int, str] = {}
    for i, p, m in pairs:
        mask = np.asarray(mk.get(m)) > 127
        why = hiding_problem(mask)  # never write a "boxed-out" image that still shows the lungs
        flags = qc[i] if qc is not None else "; ".join(lung_geometry(mask).flags)
        if why or (flags and policy == "drop"):
            left_out[p] = why or f"lung QC: {flags}"
        elif flags:
            flagged[i] = flags
    if left_out:
        log.warning("%d images left out: %s", len(left_out),
                    "; ".join(f"{p}: {r}" for p, r in list(left_out.items())[:3]))
    if flagged:
        log.warning("%d images flagged by lung QC and kept (policy %s), first: %s", len(flagged), policy,
                    next(iter(flagged.values())))
    pairs = [t for t in pairs if t[1] not in left_out]
    box = None
    if box_mode == "dataset":
        boxes = [b[0] for _, _, m in pairs if (b := lung_boxes(np.asarray(mk.get(m)) > 127))]
        box = dataset_box(np.array(boxes, dtype=float) / size, quantile)
    out = Path(out_dir)
    written = 0
    for i, path, mpath in pairs:
        image, mask = np.asarray(im.get(path)), np.asarray(mk.get(mpath)) > 127
        mode = "union" if (i in flagged and box_mode == "per_lung" and policy != "keep") else box_mode
        for v in variants:
            target = out / v / numbered_name(i, path)
            target.parent.mkdir(parents=True, exist_ok=True)
            Image.fromarray(apply_variant(v, image, mask, box_mode=mode, box=box)).save(target)
        if figure and written == 0:
            from cxr_isi.lungs.figure import hide_and_seek_figure

            hide_and_seek_figure(image, mask, Path(figure), box_mode=mode if mode != "dataset" else "union")
        written += 1
    return written


def evaluate_manifest(manifest: Manifest, checkpoint: str | Path | None = None, *, split: str | None = None,
                      size: int = 256, progress: bool = False) -> tuple[pd.DataFrame, dict]:
    """Dice and IoU of the lung segmenter against the manifest's own masks.

    Parameters
    ----------
    manifest : Manifest
        With ``mask_path``.
    checkpoint : path, optional
        A U-Net checkpoint (default: the shipped one).
    split : str, optional
        Only the rows of this split.
    size : int
        The cache size the images are read at.
    progress : bool

    Returns
    -------
    (DataFrame, dict)
        Per image ``path, dice, iou``; the summary (``n_images, mean_dice, mean_iou, min_dice,
        checkpoint``).
    """
    from cxr_isi.lungs.segmentation import evaluate, get_segmenter, load_pairs

    if split:
        if "split" not in manifest.frame.columns:
            raise CxrIsiError(f"{manifest.origin}: no split column; drop --split or run cxr-isi split")
        manifest = manifest.with_frame(manifest.frame[manifest.frame["split"] == split])
    x, y, kept = load_pairs(manifest, size=size, progress=progress)
    seg = get_segmenter("unet", checkpoint)
    scores = evaluate(seg, x, y)
    scores.insert(0, "path", kept.paths)
    summary = {"checkpoint": str(getattr(seg, "path_", "")), "n_images": len(scores),
               "mean_dice": float(scores["dice"].mean()), "mean_iou": float(scores["iou"].mean()),
               "min_dice": float(scores["dice"].min())}
    return scores, summary
