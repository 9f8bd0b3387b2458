"""The five image sets of ROI hide-and-seek, one pure function each.

``original``; ``lungs_isolated`` (only lung pixels kept); ``lungs_framed`` (only the content of
the lung box(es) kept); ``lungs_removed`` (lung pixels set to ``fill``); ``lungs_boxed_out``
(box content set to ``fill``: no lungs, no lung borders). Boxes are one per lung (the two
largest connected components) or their union; or, as a control for the protocol's own leak,
one box for every image of a dataset (``box_mode="dataset"``, see :func:`dataset_box`): a
per-image box has a size and place that follow the mask, and disease changes the mask, so the
hidden region itself can tell the label; a fixed box carries no per-image information.

Backends: numpy arrays and torch tensors (any device), a single image ``(H, W)`` or a batch
``(..., H, W)`` with a mask of the same trailing shape; outputs keep the input's shape, dtype
and backend.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

import numpy as np
from scipy import ndimage

from cxr_isi.choices import BOX_MODES, VARIANTS, check_choice, check_variant  # noqa: F401 (re-exported)

BACKENDS = ("numpy", "torch")
FixedBox = tuple[float, float, float, float]  # (y0, y1, x0, x1) as fractions of the image side


def _is_torch(x) -> bool:
    return type(x).__module__.startswith("torch")


def _to_numpy_bool(mask) -> np.ndarray:
    if _is_torch(mask):
        return mask.detach().to("cpu").numpy().astype(bool)
    return np.asarray(mask).astype(bool)


def lung_boxes(mask2d: np.ndarray, mode: str = "union") -> list[tuple[int, int, int, int]]:
    """Boxes ``(y0, y1, x0, x1)`` (end-exclusive) of a 2-D mask: the union, or one per lung.

    ``per_lung`` uses the two largest connected components (scipy); a single component gives a
    single box; an empty mask gives none.

    Parameters
    ----------
    mask2d : array (H, W)
    mode : {"union", "per_lung"}

    Returns
    -------
    list of (y0, y1, x0, x1)
    """
    check_choice("box mode", mode)
    m = np.asarray(mask2d, dtype=bool)
    if not m.any():
        return []
    if mode == "union":
        rows, cols = np.flatnonzero(m.any(1)), np.flatnonzero(m.any(0))
        return [(int(rows[0]), int(rows[-1]) + 1, int(cols[0]), int(cols[-1]) + 1)]
    labels, n = ndimage.label(m)
    sizes = ndimage.sum_labels(m, labels, index=np.arange(1, n + 1))
    keep = np.argsort(sizes)[::-1][:2] + 1
    slices = ndimage.find_objects(labels)
    boxes = [(slices[k - 1][0].start, slices[k - 1][0].stop, slices[k - 1][1].start,
              slices[k - 1][1].stop) for k in sorted(keep)]
    return [(int(b[0]), int(b[1]), int(b[2]), int(b[3])) for b in boxes]


def dataset_box(union_boxes: np.ndarray, quantile: float = 0.95) -> FixedBox:
    """One box for a whole dataset from its images' union boxes ``(N, 4)`` given as fractions
    ``(y0, y1, x0, x1)``: each edge at the ``quantile`` outward (top and left at the
    ``1 - quantile`` quantile, bottom and right at ``quantile``), so it covers the lungs of
    nearly every image while its size and place say nothing about any one of them.

    Parameters
    ----------
    union_boxes : array of shape (N, 4)
        Per-image union boxes as fractions of the image side; rows with NaN are ignored.
    quantile : float
        In (0.5, 1]; 1.0 gives the smallest box around every lung.

    Returns
    -------
    tuple of 4 floats
        ``(y0, y1, x0, x1)`` as fractions.
    """
    b = np.asarray(union_boxes, dtype=float).reshape(-1, 4)
    b = b[~np.isnan(b).any(axis=1)]
    if not len(b):
        raise ValueError("no lung box to make a dataset box from (every mask empty)")
    if not 0.5 < quantile <= 1.0:
        raise ValueError(f"quantile {quantile} must be in (0.5, 1]")
    lo, hi = 1 - quantile, quantile
    return (float(np.quantile(b[:, 0], lo)), float(np.quantile(b[:, 1], hi)),
            float(np.quantile(b[:, 2], lo)), float(np.quantile(b[:, 3], hi)))


def _fixed_box_pixels(box: FixedBox, h: int, w: int) -> tuple[int, int, int, int]:
    y0, y1, x0, x1 = box
    return (int(np.floor(y0 * h)), int(np.ceil(y1 * h)), int(np.floor(x0 * w)), int(np.ceil(x1 * w)))


def box_region(mask, mode: str = "union", box: FixedBox | None = None):
    """Boolean map of the lung box(es), same shape and backend as ``mask``; with
    ``mode="dataset"`` the fixed ``box`` (fractions) whatever the mask.

    Parameters
    ----------
    mask : array or tensor (..., H, W)
    mode : {"union", "per_lung", "dataset"}
    box : (y0, y1, x0, x1) fractions, optional

    Returns
    -------
    array or tensor of bool
        Same shape and backend as ``mask``.
    """
    m = _to_numpy_bool(mask)
    flat = m.reshape(-1, *m.shape[-2:])
    out = np.zeros_like(flat)
    if mode == "dataset":
        if box is None:
            raise ValueError("box_mode 'dataset' needs the dataset's box (see dataset_box)")
        y0, y1, x0, x1 = _fixed_box_pixels(box, *flat.shape[-2:])
        out[:, y0:y1, x0:x1] = True
    for i, m2 in enumerate(flat if mode != "dataset" else []):
        for y0, y1, x0, x1 in lung_boxes(m2, mode):
            out[i, y0:y1, x0:x1] = True
    out = out.reshape(m.shape)
    if _is_torch(mask):
        import torch

        return torch.from_numpy(out).to(mask.device)
    return out


def _where(keep, image, fill):
    """``image`` where ``keep``, else ``fill``, in the image's backend, shape and dtype."""
    if _is_torch(image):
        import torch

        keep = keep if _is_torch(keep) else torch.from_numpy(np.asarray(keep))
        keep = keep.to(device=image.device, dtype=torch.bool)
        while keep.dim() < image.dim():  # (N, H, W) mask for an (N, C, H, W) batch
            keep = keep.unsqueeze(-3)
        return torch.where(keep, image, torch.as_tensor(fill, dtype=image.dtype, device=image.device))
    keep = _to_numpy_bool(keep)
    image = np.asarray(image)
    while keep.ndim < image.ndim:
        keep = np.expand_dims(keep, -3)
    return np.where(keep, image, np.asarray(fill, dtype=image.dtype)).astype(image.dtype, copy=False)


def _check(image, mask) -> None:
    if tuple(image.shape[-2:]) != tuple(mask.shape[-2:]):
        raise ValueError(f"mask shape {tuple(mask.shape)} does not match image shape {tuple(image.shape)}")


def original(image, mask=None, **_):
    """The image as it is (the first of the five sets).

    Parameters
    ----------
    image : array or tensor
    mask : ignored

    Returns
    -------
    array or tensor
        ``image`` itself.
    """
    return image


def lungs_isolated(image, mask, fill: float = 0.0, **_):
    """Only the segmented lung pixels kept; everything else set to ``fill``.

    Parameters
    ----------
    image : array or tensor (..., H, W)
    mask : array or tensor (..., H, W)
        The lung mask (boolean or 0/1), same trailing shape.
    fill : float

    Returns
    -------
    array or tensor
        Same shape, dtype and backend as ``image``.
    """
    _check(image, mask)
    return _where(_to_bool(mask), image, fill)


def lungs_removed(image, mask, fill: float = 0.0, **_):
    """The segmented lung pixels set to ``fill``; the rest kept.

    Parameters
    ----------
    image : array or tensor (..., H, W)
    mask : array or tensor (..., H, W)
        The lung mask (boolean or 0/1), same trailing shape.
    fill : float

    Returns
    -------
    array or tensor
        Same shape, dtype and backend as ``image``.
    """
    _check(image, mask)
    return _where(~_to_bool(mask), image, fill)


def lungs_framed(image, mask, box_mode: str = "union", fill: float = 0.0, box: FixedBox | None = None, **_):
    """Only the pixels inside the lung box(es) kept.

    Parameters
    ----------
    image : array or tensor (..., H, W)
    mask : array or tensor (..., H, W)
        The lung mask (boolean or 0/1), same trailing shape.
    box_mode : {"union", "per_lung", "dataset"}
    fill : float
        The value of hidden pixels.
    box : (y0, y1, x0, x1) fractions, optional
        The dataset's fixed box, for ``box_mode="dataset"``.

    Returns
    -------
    array or tensor
        Same shape, dtype and backend as ``image``.
    """
    _check(image, mask)
    return _where(box_region(mask, box_mode, box), image, fill)


def lungs_boxed_out(image, mask, box_mode: str = "union", fill: float = 0.0, box: FixedBox | None = None, **_):
    """Everything inside the lung box(es) set to ``fill``: no lungs and no lung borders.

    Parameters
    ----------
    image : array or tensor (..., H, W)
    mask : array or tensor (..., H, W)
        The lung mask (boolean or 0/1), same trailing shape.
    box_mode : {"union", "per_lung", "dataset"}
    fill : float
        The value of hidden pixels.
    box : (y0, y1, x0, x1) fractions, optional
        The dataset's fixed box, for ``box_mode="dataset"``.

    Returns
    -------
    array or tensor
        Same shape, dtype and backend as ``image``.
    """
    _check(image, mask)
    return _where(~box_region(mask, box_mode, box), image, fill)


def _to_bool(mask):
    if _is_torch(mask):
        return mask.bool()
    return np.asarray(mask).astype(bool)


_FUNCTIONS: dict[str, Callable[..., Any]] = {
    "original": original, "lungs_isolated": lungs_isolated, "lungs_framed": lungs_framed,
    "lungs_removed": lungs_removed, "lungs_boxed_out": lungs_boxed_out}


def apply_variant(variant: str, image, mask, box_mode: str = "union", fill: float = 0.0,
                  box: FixedBox | None = None):
    """Apply the set named ``variant``; an unknown name is a clear error.

    Parameters
    ----------
    variant : str
        One of :data:`VARIANTS`.
    image : array or tensor (..., H, W)
    mask : array or tensor (..., H, W)
        The lung mask (boolean or 0/1), same trailing shape.
    box_mode : {"union", "per_lung", "dataset"}
    fill : float
        The value of hidden pixels.
    box : (y0, y1, x0, x1) fractions, optional
        The dataset's fixed box, for ``box_mode="dataset"``.

    Returns
    -------
    array or tensor
        Same shape, dtype and backend as ``image``.
    """
    check_variant(variant)
    return _FUNCTIONS[variant](image, mask, box_mode=box_mode, fill=fill, box=box)


def image_set_name(variant: str, box_mode: str = "union", scramble_block: int | None = None) -> str:
    """The name a result carries: the variant, marked when its box is the dataset's fixed box or
    its pixels are shuffled within blocks (the acquisition probe).

    Parameters
    ----------
    variant : str
    box_mode : str
    scramble_block : int, optional

    Returns
    -------
    str
        e.g. ``lungs_boxed_out``, ``lungs_boxed_out_fixed_box``, ``lungs_boxed_out_fixed_box_blocks16``.
    """
    name = variant + ("_fixed_box" if box_mode == "dataset" and variant in BOXED else "")
    return name + (f"_blocks{scramble_block}" if scramble_block else "")


def image_set_title(name: str) -> str:
    """A result's image-set name (:func:`image_set_name`) in words, for legends and tables:
    ``lungs_boxed_out_fixed_box_blocks16`` is "lungs boxed out, fixed box, 16-px tiles shuffled".

    Parameters
    ----------
    name : str

    Returns
    -------
    str
    """
    m = re.fullmatch(r"(.*?)(_fixed_box)?(?:_blocks(\d+))?", name)
    base, fixed, block = (m.group(1), m.group(2), m.group(3)) if m else (name, None, None)
    words = [base.replace("_", " ")]
    if fixed:
        words.append("fixed box")
    if block:
        words.append(f"{block}-px tiles shuffled")
    return ", ".join(words)


BOXED = ("lungs_framed", "lungs_boxed_out")  # the sets a box decides
FIXED_BOX = "lungs_boxed_out_fixed_box"  # lungs boxed out by the dataset's one fixed box (image_set_name)
# the image sets a model trained on whole images is scored on at test time (``judge``, the remedies'
# verdicts, the training monitor): the five sets and the fixed box
TEST_TIME_SETS = ("original", "lungs_isolated", "lungs_framed", "lungs_removed", "lungs_boxed_out", FIXED_BOX)


def fixed_box_of_masks(masks: np.ndarray) -> FixedBox:
    """One box for all ``masks``: the 95% quantiles of their union boxes as fractions of the side
    (the study's fixed-box control, :func:`dataset_box`).

    Parameters
    ----------
    masks : array (N, H, W)
        Lung masks, each non-empty.

    Returns
    -------
    tuple
        ``(y0, y1, x0, x1)`` as fractions of the side.
    """
    h, w = masks.shape[-2:]
    scale = np.array([h, h, w, w], dtype=float)
    return dataset_box(np.array([np.array(lung_boxes(m, "union")[0]) / scale for m in masks]))


def make_test_time_set(name: str, images: np.ndarray, masks: np.ndarray, box: FixedBox | None) -> np.ndarray:
    """One of :data:`TEST_TIME_SETS` made from ``images`` and ``masks``: made when scored, so
    that one set at a time is in memory.

    Parameters
    ----------
    name : str
        Of :data:`TEST_TIME_SETS`.
    images, masks : arrays (N, H, W)
    box : tuple or None
        The fixed box (fractions of the side), for :data:`FIXED_BOX`.

    Returns
    -------
    array (N, H, W)
    """
    if name == FIXED_BOX:
        return apply_variant("lungs_boxed_out", images, masks, box_mode="dataset", box=box)
    return images if name == "original" else apply_variant(name, images, masks)


def shuffle_blocks(image: np.ndarray, block: int, seed: int) -> np.ndarray:
    """The pixels of each ``block`` x ``block`` tile shuffled among themselves (a fixed draw per
    ``seed``): the spatial structure inside a tile is gone, its intensity statistics (exposure,
    noise, texture energy) stay. The acquisition probe's image (Ong Ly et al., npj Digit Med 2024).
    Edges that do not fill a tile are shuffled as one strip each.

    Parameters
    ----------
    image : array (..., H, W)
    block : int
        Tile side in pixels.
    seed : int
        Fixes the shuffle (one per image: the same image always gets the same draw).

    Returns
    -------
    array
        Same shape and dtype.
    """
    img = np.asarray(image)
    h, w = img.shape[-2:]
    hb, wb = h - h % block, w - w % block
    rng = np.random.default_rng(seed)
    out = img.copy()
    core = out[..., :hb, :wb]
    tiles = core.reshape(*core.shape[:-2], hb // block, block, wb // block, block)
    tiles = np.moveaxis(tiles, -3, -2).reshape(*core.shape[:-2], hb // block, wb // block, block * block)
    tiles = rng.permuted(tiles, axis=-1)
    tiles = np.moveaxis(tiles.reshape(*core.shape[:-2], hb // block, wb // block, block, block), -2, -3)
    out[..., :hb, :wb] = tiles.reshape(core.shape)
    if hb < h:
        out[..., hb:, :] = rng.permuted(out[..., hb:, :].reshape(*img.shape[:-2], -1), axis=-1).reshape(
            out[..., hb:, :].shape)
    if wb < w:
        out[..., :hb, wb:] = rng.permuted(out[..., :hb, wb:].reshape(*img.shape[:-2], -1), axis=-1).reshape(
            out[..., :hb, wb:].shape)
    return out
