"""Bring an image to the cache's square size: pad (default), squeeze, or centre-crop.

``pad`` keeps the aspect ratio and pads the short side with zeros, as the hide-and-seek code of
Sadre et al. does; ``squeeze`` stretches to a square and bakes the original aspect ratio into the
pixels (a confounder when classes differ in original size); ``crop`` cuts the centre square.
"""

from __future__ import annotations

import numpy as np
from PIL import Image

from cxr_isi.choices import RESIZE_MODES, ResizeMode, check_choice  # noqa: F401 (re-exported)

# Backends this array function supports (MONAI-style declaration); the cache runs on numpy.
BACKENDS = ("numpy",)


def square_geometry(height: int, width: int, size: int, mode: str) -> dict:
    """Where the source lands in the square: crop box in the source, placement in the output."""
    check_choice("resize mode", mode)
    crop = (0, 0, height, width)
    if mode == "squeeze":
        return {"crop": crop, "out_hw": (size, size), "offset": (0, 0)}
    if mode == "crop":
        side = min(height, width)
        top, left = (height - side) // 2, (width - side) // 2
        return {"crop": (top, left, top + side, left + side), "out_hw": (size, size), "offset": (0, 0)}
    scale = size / max(height, width)
    nh, nw = max(1, round(height * scale)), max(1, round(width * scale))
    return {"crop": crop, "out_hw": (nh, nw), "offset": ((size - nh) // 2, (size - nw) // 2)}


def resize_square(image: np.ndarray, size: int, mode: str = "pad", *, is_mask: bool = False) -> np.ndarray:
    """Resize a 2-D float image in [0, 1] to ``size`` x ``size``.

    Images use Lanczos (antialiased when shrinking); masks are resampled bilinearly and
    thresholded at 0.5, so they stay binary and follow the same geometry as their image.
    """
    if image.ndim != 2:
        raise ValueError(f"expected a 2-D image, got shape {image.shape}")
    g = square_geometry(image.shape[0], image.shape[1], size, mode)
    t, left, b, r = g["crop"]
    src = np.ascontiguousarray(image[t:b, left:r], dtype=np.float32)
    nh, nw = g["out_hw"]
    if src.shape != (nh, nw):
        resample = Image.Resampling.BILINEAR if is_mask else Image.Resampling.LANCZOS
        src = np.asarray(Image.fromarray(src, mode="F").resize((nw, nh), resample), dtype=np.float32)
    if is_mask:
        src = (src >= 0.5).astype(np.float32)
    else:
        src = np.clip(src, 0.0, 1.0)
    if (nh, nw) == (size, size):
        return src
    out = np.zeros((size, size), dtype=np.float32)
    oy, ox = g["offset"]
    out[oy : oy + nh, ox : ox + nw] = src
    return out


def restore_mask(square: np.ndarray, height: int, width: int, mode: str = "pad") -> np.ndarray:
    """The inverse of :func:`resize_square` for a mask: a ``size`` x ``size`` mask back on its
    source's ``height`` x ``width`` grid (boolean). Pixels a centre crop cut off stay False."""
    size = square.shape[0]
    g = square_geometry(height, width, size, mode)
    (oy, ox), (nh, nw) = g["offset"], g["out_hw"]
    t, left, b, r = g["crop"]
    region = np.ascontiguousarray(square[oy : oy + nh, ox : ox + nw], dtype=np.float32)
    if region.shape != (b - t, r - left):
        region = np.asarray(Image.fromarray(region, mode="F").resize((r - left, b - t), Image.Resampling.BILINEAR))
    out = np.zeros((height, width), dtype=bool)
    out[t:b, left:r] = region >= 0.5
    return out


def read_squares(paths, size: int, mode: str = "pad") -> np.ndarray:
    """Gray images ``(N, size, size)`` in [0, 1], each read and made square (``mode``) in turn: what
    a model from elsewhere is fed (the study's own models read the image cache instead)."""
    from cxr_isi.data.readers import read_image

    return np.stack([resize_square(read_image(p)[0], size, mode) for p in paths])
