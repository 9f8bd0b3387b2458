"""Source fingerprints: what a hospital or archive leaves on its images outside the lungs.

A burned-in marker or text in a corner, a collimation border, an exposure and gamma curve, a
noise level and blur, and a field of view. ``strength`` moves every property between a neutral
image (0: all sources look alike) and the source's full style (1).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from functools import lru_cache

import numpy as np
from PIL import Image, ImageDraw, ImageFont
from scipy.ndimage import gaussian_filter

MARKERS = ("L", "R", "PA", "AP", "PORTABLE", "ERECT", "SUPINE", "L  PA")
CORNERS = ("tl", "tr", "bl", "br")
NEUTRAL = {"gain": 1.0, "offset": 0.0, "gamma": 1.0, "noise": 0.012, "blur": 0.5, "zoom": 1.0,
           "shift": 0.0}


@dataclass(frozen=True)
class SourceStyle:
    """One source's acquisition style (values at full strength)."""

    name: str
    marker: str
    corner: str
    marker_value: float
    border: tuple[float, float, float, float]  # top, bottom, left, right, as a share of the side
    border_value: float
    gain: float
    offset: float
    gamma: float
    noise: float
    blur: float  # pixels at 256; scaled with the image size
    zoom: float
    shift: float

    def as_dict(self) -> dict:
        return asdict(self)


def make_styles(n_sources: int, seed: int) -> list[SourceStyle]:
    """Distinct styles for ``n_sources`` sources, spread so that each is told apart easily."""
    rng = np.random.default_rng(np.random.SeedSequence(entropy=seed, spawn_key=(2**31,)))
    order = rng.permutation(n_sources)
    gammas = np.linspace(0.88, 1.15, n_sources) if n_sources > 1 else np.array([1.0])
    styles = []
    for i in range(n_sources):
        k = order[i]
        b = [float(rng.uniform(0.03, 0.09)) if rng.random() < 0.5 else 0.0 for _ in range(4)]
        border = (b[0], b[1], b[2], b[3])
        styles.append(SourceStyle(
            name=f"source_{chr(65 + i)}" if i < 26 else f"source_{i}",
            marker=MARKERS[i % len(MARKERS)], corner=CORNERS[(i + int(rng.integers(4))) % 4],
            marker_value=float(rng.uniform(0.85, 1.0)), border=border,
            border_value=float(rng.choice([0.0, 0.95])),
            gain=float(rng.uniform(0.93, 1.07)), offset=float(rng.uniform(-0.025, 0.025)),
            gamma=float(gammas[k]), noise=float(rng.uniform(0.004, 0.03)),
            blur=float(rng.uniform(0.0, 1.4)), zoom=float(rng.uniform(0.9, 1.08)),
            shift=float(rng.uniform(-0.06, 0.06)),
        ))
    return styles


def _mix(style: SourceStyle, key: str, strength: float) -> float:
    return NEUTRAL[key] + strength * (getattr(style, key) - NEUTRAL[key])


def field_of_view(style: SourceStyle, strength: float) -> tuple[float, float]:
    """The (zoom, shift) a source applies to the anatomy."""
    return _mix(style, "zoom", strength), _mix(style, "shift", strength)


@lru_cache(maxsize=64)
def _marker_mask(text: str, size: int) -> np.ndarray:
    font = ImageFont.load_default(size=max(8, round(size * 0.065)))
    left, top, right, bottom = font.getbbox(text)
    img = Image.new("L", (int(right - left + 4), int(bottom - top + 4)), 0)
    ImageDraw.Draw(img).text((2 - left, 2 - top), text, fill=255, font=font)
    return np.asarray(img, dtype=np.float32) / 255.0


def _marker_box(style: SourceStyle, size: int) -> tuple[int, int, int, int]:
    """Where the source burns its marker in: (y0, y1, x0, x1) in pixels, clipped to the image."""
    h, w = _marker_mask(style.marker, size).shape
    pad = round(size * 0.04)
    y0 = pad if style.corner[0] == "t" else size - pad - h
    x0 = pad if style.corner[1] == "l" else size - pad - w
    return max(0, y0), min(size, y0 + h), max(0, x0), min(size, x0 + w)


def fingerprint_masks(style: SourceStyle, size: int, strength: float = 1.0) -> dict[str, np.ndarray]:
    """The truth of where :func:`apply_fingerprint` marks an image: ``marker`` (the burned-in
    text's box) and ``border`` (the collimation bands), boolean ``(size, size)``; empty where
    the source draws none (or ``strength`` is 0). The exposure, gamma, blur and noise touch
    every pixel and have no region."""
    marker = np.zeros((size, size), bool)
    border = np.zeros((size, size), bool)
    if strength > 0:
        y0, y1, x0, x1 = _marker_box(style, size)
        marker[y0:y1, x0:x1] = True
        top, bottom, left, right = (round(b * strength * size) for b in style.border)
        border[:top] = True
        border[size - bottom:] = bottom > 0  # [size - 0:] is empty: no band
        border[:, :left] = True
        border[:, size - right:] = right > 0
    return {"marker": marker, "border": border}


def burn_marker(img: np.ndarray, style: SourceStyle, strength: float = 1.0) -> np.ndarray:
    """Burn the source's marker text into ``img`` (in place, and returned) in its corner, at
    ``strength`` times its brightness."""
    mark = _marker_mask(style.marker, img.shape[0]) * style.marker_value * strength
    y0, _, x0, _ = _marker_box(style, img.shape[0])
    region = img[y0 : y0 + mark.shape[0], x0 : x0 + mark.shape[1]]
    np.maximum(region, mark[: region.shape[0], : region.shape[1]], out=region)
    return img


def apply_fingerprint(img: np.ndarray, style: SourceStyle, rng: np.random.Generator,
                      strength: float = 1.0) -> np.ndarray:
    """The source's exposure, gamma, blur, border, marker and noise, applied to ``img``."""
    size = img.shape[0]
    gain = _mix(style, "gain", strength) * rng.normal(1.0, 0.025)  # exposure varies per image too
    gamma = np.float32(_mix(style, "gamma", strength))
    out = np.clip(img * np.float32(gain) + np.float32(_mix(style, "offset", strength)), 0, 1) ** gamma
    blur = _mix(style, "blur", strength) * size / 256
    if blur > 0.05:
        out = gaussian_filter(out, blur, mode="nearest")
    if strength > 0:
        top, bottom, left, right = (round(b * strength * size) for b in style.border)
        bv = style.border_value
        if top:
            out[:top] = bv
        if bottom:
            out[size - bottom:] = bv
        if left:
            out[:, :left] = bv
        if right:
            out[:, size - right:] = bv
        burn_marker(out, style, min(1.0, strength))
    out = out + rng.standard_normal(out.shape, dtype=np.float32) * np.float32(_mix(style, "noise", strength))
    return np.clip(out, 0, 1).astype(np.float32)
