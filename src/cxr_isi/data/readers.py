"""Read radiographs of any common format into float32 grayscale in [0, 1].

PNG and JPEG (8 and 16 bit, gray, RGB, RGBA) through Pillow; DICOM through pydicom with the
modality rescale and VOI LUT applied and MONOCHROME1 inverted. Every failure becomes an
:class:`ImageReadError` whose one line names the file and the problem.
"""

from __future__ import annotations

import os
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
from PIL import Image, UnidentifiedImageError

from cxr_isi.errors import ImageReadError

DICOM_SUFFIXES = (".dcm", ".dicom", ".dic")
# Bits per sample of Pillow's modes; PNG's own bit depth is not exposed beyond this.
_MODE_BITS = {"1": 1, "L": 8, "P": 8, "LA": 8, "RGB": 8, "RGBA": 8, "CMYK": 8, "YCbCr": 8,
              "I;16": 16, "I;16B": 16, "I;16L": 16, "I;16N": 16, "I": 32, "F": 32}


@dataclass(frozen=True)
class ImageInfo:
    """What the file says about its acquisition, read from the header (no pixel decoding)."""

    width: int
    height: int
    bit_depth: int
    photometric: str
    format: str

    def as_dict(self) -> dict:
        return asdict(self)


def is_dicom(path: str | Path) -> bool:
    """By suffix, or by the ``DICM`` magic at byte 128 for files without one."""
    p = str(path)
    if p.lower().endswith(DICOM_SUFFIXES):
        return True
    try:
        with open(p, "rb") as fh:
            fh.seek(128)
            return fh.read(4) == b"DICM"
    except OSError:
        return False


def _check_file(path: str | Path) -> None:
    if not os.path.exists(path):
        raise ImageReadError(f"{path}: file not found")
    if os.path.isdir(path):
        raise ImageReadError(f"{path}: is a folder, not an image")
    if os.path.getsize(path) == 0:
        raise ImageReadError(f"{path}: empty file (0 bytes)")


@contextmanager
def _open_pil(path: str | Path) -> Iterator[Image.Image]:
    """``Image.open`` with Pillow's decompression-bomb guard made an error at its warning level
    (over ``Image.MAX_IMAGE_PIXELS``), so a file that size is refused in one line naming it
    instead of a raw warning on stderr; every other failure is an :class:`ImageReadError`."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            with Image.open(path) as img:
                yield img
    except (Image.DecompressionBombWarning, Image.DecompressionBombError) as exc:
        raise ImageReadError(f"{path}: refused, too many pixels for a radiograph ({_short(exc)})") from None


def read_info(path: str | Path) -> ImageInfo:
    """Header facts of an image: size, bit depth, photometric interpretation, format."""
    _check_file(path)
    if is_dicom(path):
        ds = _dcmread(path, stop_before_pixels=True)
        return ImageInfo(
            width=int(getattr(ds, "Columns", 0) or 0),
            height=int(getattr(ds, "Rows", 0) or 0),
            bit_depth=int(getattr(ds, "BitsStored", 0) or 0),
            photometric=str(getattr(ds, "PhotometricInterpretation", "")),
            format="DICOM",
        )
    try:
        with _open_pil(path) as img:
            return ImageInfo(img.width, img.height, _MODE_BITS.get(img.mode, 8), img.mode,
                             img.format or "unknown")
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError) as exc:
        raise ImageReadError(f"{path}: not a readable image ({_short(exc)})") from None


def read_image(path: str | Path) -> tuple[np.ndarray, ImageInfo]:
    """Decode an image to float32 grayscale in [0, 1] (H, W), with its header facts."""
    _check_file(path)
    if is_dicom(path):
        return _read_dicom(path)
    try:
        with _open_pil(path) as img:
            img.load()  # decodes now, so truncation shows here, not later
            info = ImageInfo(img.width, img.height, _MODE_BITS.get(img.mode, 8), img.mode,
                             img.format or "unknown")
            arr = pil_to_gray(img)
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError) as exc:
        msg = _short(exc)
        what = "truncated or corrupt image" if "truncat" in msg.lower() else "not a readable image"
        raise ImageReadError(f"{path}: {what} ({msg})") from None
    return arr, info


def pil_to_gray(img: Image.Image) -> np.ndarray:
    """Any Pillow image to float32 gray in [0, 1].

    Integer data is divided by its type's maximum (16-bit by 65535), so an image's exposure is
    kept as stored. RGB uses Pillow's ITU-R 601 luma; alpha multiplies the gray value (a
    transparent pixel carries no data, so it reads as black, the X-ray background).
    """
    mode = img.mode
    if mode in ("I;16", "I;16B", "I;16L", "I;16N"):
        return np.asarray(img, dtype=np.float32) / 65535.0
    if mode == "I":
        a = np.asarray(img, dtype=np.float64)
        top = 65535.0 if a.max(initial=0) <= 65535 else float(a.max())
        return np.clip(a / top, 0, 1).astype(np.float32)
    if mode == "F":
        a = np.asarray(img, dtype=np.float32)
        lo, hi = float(a.min()), float(a.max())
        return (a - lo) / (hi - lo) if hi > lo else np.zeros_like(a)
    if mode in ("RGBA", "LA", "PA") or (mode == "P" and "transparency" in img.info):
        rgba = img.convert("RGBA")
        gray = np.asarray(rgba.convert("L"), dtype=np.float32) / 255.0
        alpha = np.asarray(rgba.getchannel("A"), dtype=np.float32) / 255.0
        return gray * alpha
    if mode != "L":
        img = img.convert("L")
    return np.asarray(img, dtype=np.float32) / 255.0


def _dcmread(path: str | Path, stop_before_pixels: bool = False):
    import pydicom
    from pydicom.errors import InvalidDicomError

    try:
        return pydicom.dcmread(str(path), stop_before_pixels=stop_before_pixels)
    except (InvalidDicomError, OSError, ValueError, EOFError, AttributeError) as exc:
        raise ImageReadError(f"{path}: not a readable DICOM file ({_short(exc)})") from None


def _read_dicom(path: str | Path) -> tuple[np.ndarray, ImageInfo]:
    from pydicom.pixels import apply_modality_lut, apply_voi_lut

    ds = _dcmread(path)
    try:
        raw = ds.pixel_array
    except Exception as exc:  # pydicom raises many types for missing decoders or bad data
        raise ImageReadError(f"{path}: DICOM pixel data cannot be decoded ({_short(exc)})") from None
    photometric = str(getattr(ds, "PhotometricInterpretation", "MONOCHROME2"))
    if raw.ndim == 3 and photometric.startswith("MONOCHROME"):
        raw = raw[0]  # multi-frame: the first frame
    if raw.ndim == 3:  # colour DICOM (rare for CXR): luma
        a = raw[..., :3].astype(np.float64) @ np.array([0.299, 0.587, 0.114])
    else:
        a = apply_modality_lut(raw, ds)
        a = apply_voi_lut(a, ds, index=0, prefer_lut=True)
        a = np.asarray(a, dtype=np.float64)
    lo, hi = float(a.min()), float(a.max())
    a = (a - lo) / (hi - lo) if hi > lo else np.zeros_like(a)
    if photometric == "MONOCHROME1":  # high values are dark: invert to the usual display
        a = 1.0 - a
    info = ImageInfo(
        width=int(ds.Columns), height=int(ds.Rows),
        bit_depth=int(getattr(ds, "BitsStored", 0) or 0), photometric=photometric, format="DICOM",
    )
    return a.astype(np.float32), info


def _short(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return text[0] if text else type(exc).__name__
