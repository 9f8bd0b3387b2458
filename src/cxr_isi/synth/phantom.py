"""Render one chest-radiograph-like image and its lung mask.

Anatomy is drawn from implicit shapes in body coordinates ``(u, v)`` (x right, y down, about
[-1, 1]): torso, two lung fields cut by the mediastinum and the diaphragm domes, the heart in
front of the lower medial lungs (the mask keeps the lung behind the heart, as manual annotations
such as v7labs' do),
posterior ribs, spine, and vessel texture. Pose, size and shape vary per image. Positives get
ground-glass patches and consolidations placed inside the lung mask. Written by hand because
no maintained package draws radiograph phantoms with a ground-truth mask and a lesion model.
"""

from __future__ import annotations

from functools import lru_cache
from typing import Any

import numpy as np
from PIL import Image


@lru_cache(maxsize=8)
def _grid(size: int) -> tuple[np.ndarray, np.ndarray]:
    c = (np.arange(size, dtype=np.float32) + 0.5) / size * 2 - 1
    y, x = np.meshgrid(c, c, indexing="ij")
    return x, y


def _soft(d: np.ndarray, width: float) -> np.ndarray:
    """Soft inside-indicator of an implicit shape (``d > 0`` inside), edge ``width`` wide.

    A clipped linear ramp with tanh's slope at the edge: as smooth to the eye, a third the cost.
    """
    out = d * (0.5 / width) + 0.5
    return np.clip(out, 0.0, 1.0, out=out)


def _smooth_noise(rng: np.random.Generator, size: int, cells: int) -> np.ndarray:
    """Band-limited noise: random values on a coarse grid, bicubically upsampled."""
    coarse = rng.standard_normal((cells, cells)).astype(np.float32)
    img = Image.fromarray(coarse, mode="F").resize((size, size), Image.Resampling.BICUBIC)
    return np.asarray(img, dtype=np.float32)


def render_chest(size: int, rng: np.random.Generator, disease: float = 0.0,
                 disease_strength: float = 1.0, zoom: float = 1.0,
                 shift: float = 0.0, lung_scale: float = 1.0) -> tuple[np.ndarray, np.ndarray, dict]:
    """One phantom: float32 image in [0, 1], boolean lung mask, and the drawn parameters.

    ``disease`` is the share of lung area the opacities aim to cover (0 for negatives);
    ``disease_strength`` scales their density. ``zoom`` and ``shift`` set the field of view
    (a source's collimation and distance), on top of the per-image pose. ``lung_scale`` shrinks
    both lung fields about their own centres (a disease that lowers lung volume); at 1.0 the
    image is the same, byte for byte, as without it.
    """
    x, y = _grid(size)
    px = 2.0 / size  # one pixel in grid units
    # pose: shift, scale, small rotation
    theta = float(np.deg2rad(rng.normal(0, 2.5)))  # Python floats keep the arrays float32
    scale = rng.uniform(0.92, 1.03) * zoom
    dx, dy = rng.normal(0, 0.02), rng.normal(0.02, 0.02) + shift
    ct, st = float(np.cos(theta)), float(np.sin(theta))
    u = ((x - dx) * ct + (y - dy) * st) / scale
    v = (-(x - dx) * st + (y - dy) * ct) / scale
    edge = 1.5 * px / scale

    # torso filling most of the frame, shoulders, neck; tissue thicker lower down
    half_w = rng.uniform(0.9, 1.05) * (0.8 + 0.2 * np.clip((v + 0.9) / 0.5, 0, 1))
    a2, b2 = (u / half_w) ** 2, ((v - 0.3) / 1.2) ** 2
    torso = _soft(1 - a2 * a2 - b2 * b2 * b2, 0.03)
    neck = _soft(0.2 - np.abs(u), 0.03) * _soft(-0.7 - v, 0.05)
    body = np.maximum(torso, neck)
    img = body * (0.5 + 0.1 * np.clip(v + 0.2, 0, 1))
    img += 0.08 * body * _soft(np.abs(u) / half_w - 0.85, 0.04)  # arms beside the chest wall

    # lungs: tall fields widening downwards, cut by the mediastinum and the diaphragm
    params: dict[str, Any] = {}
    mask = np.zeros_like(x, dtype=bool)
    lung_soft = np.zeros_like(x)
    med = rng.uniform(0.08, 0.12)
    heart_cx, heart_cy = rng.uniform(0.12, 0.2), rng.uniform(0.24, 0.32)
    heart_rx, heart_ry = rng.uniform(0.3, 0.38), rng.uniform(0.22, 0.28)
    heart = 1 - ((u - heart_cx) / heart_rx) ** 2 - ((v - heart_cy) / heart_ry) ** 2
    bases = {}
    for side, sign in (("right", -1), ("left", 1)):  # patient's right lung is on the image left
        s_lat = sign * u  # distance from the midline towards this side
        apex = rng.uniform(-0.78, -0.66)
        base = rng.uniform(0.32, 0.46) + (0.0 if side == "right" else 0.05)
        width = rng.uniform(0.58, 0.72)
        if lung_scale != 1.0:
            mid = (apex + base) / 2
            apex, base, width = mid + (apex - mid) * lung_scale, mid + (base - mid) * lung_scale, width * lung_scale
        cx = med + width * 0.48
        ry = (base - apex) * rng.uniform(1.0, 1.15)
        rx = width * 0.55
        cy = apex + ry  # the apex is the top of the ellipse; the field is widest near the base
        ellipse = 1 - ((s_lat - cx) / rx) ** 2 - ((v - cy) / ry) ** 2
        dome = base - 0.14 + 0.9 * (s_lat - cx + 0.03) ** 2 - v
        med_here = med + 0.07 * np.clip(-v - 0.1, 0, 1)  # superior mediastinum is wider
        d = np.minimum(np.minimum(ellipse, dome * 4), (s_lat - med_here) * 6)
        lung_soft = np.maximum(lung_soft, _soft(d, edge * 2.5))
        mask |= d > 0
        bases[side] = base
        params[side] = {"apex": apex, "base": base, "width": width}
    depth = rng.uniform(0.31, 0.36)
    lateral = 1 - 0.3 * np.clip(0.35 - np.abs(u), 0, 1)  # a little less dark near the hila
    img -= depth * lung_soft * lateral

    # heart and mediastinum brighter; vertebral bodies; abdomen below the domes
    # the heart is dense: it hides most of the lung behind it
    img += _soft(heart, 0.1) * body * (0.08 + 0.8 * depth * lung_soft * lateral)
    spine = _soft(0.07 - np.abs(u), 0.02)
    img += spine * body * (0.1 + 0.03 * np.cos(v * np.pi * 10))
    img += 0.06 * _soft(med + 0.03 - np.abs(u), 0.04) * body

    # clavicles: bright bands from the sternal notch outwards and up
    for sign in (-1, 1):
        t = np.clip((sign * u - 0.1) / 0.55, 0, 1)
        line_v = -0.66 - 0.12 * t + 0.03 * rng.standard_normal()
        img += 0.1 * np.exp(-(((v - line_v) / 0.028) ** 2)) * _soft(0.68 - sign * u, 0.03) * \
            _soft(sign * u - 0.08, 0.02) * body

    # posterior ribs: arcs from the spine outwards, curving down at the chest wall
    spacing = rng.uniform(0.12, 0.145)
    au = np.abs(u)
    arc = v + 0.28 * au - 0.75 * np.clip(au - 0.35, 0, None) ** 2 * 2 - rng.uniform(0, spacing)
    phase = np.mod(arc, spacing) / spacing
    rib = np.exp(-(((phase - 0.5) / 0.13) ** 2))
    below = np.where(u < 0, np.float32(bases["right"]), np.float32(bases["left"]))
    thorax = _soft(0.9 * half_w - au, 0.04) * _soft(v + 0.72, 0.04) * _soft(below + 0.05 - v, 0.04)
    img += rng.uniform(0.06, 0.09) * rib * thorax * _soft(au - 0.07, 0.02)

    # vessel texture, denser towards the hila
    hilum = np.exp(-(((au - 0.2) / 0.22) ** 2 + ((v + 0.05) / 0.35) ** 2))
    vessels = _smooth_noise(rng, size, 56) * 0.6 + _smooth_noise(rng, size, 24) * 0.4
    img += lung_soft * (0.02 + 0.05 * hilum) * vessels
    img += lung_soft * 0.06 * hilum

    # disease: opacities inside the lung mask only; each blob drawn in its own window
    lesion = np.zeros_like(x)
    n_blobs = 0
    if disease > 0:
        ys, xs = np.nonzero(mask)
        lung_area = mask.mean() * 4.0  # in grid units squared
        target, covered = disease * lung_area, 0.0
        while covered < target and n_blobs < 12 and len(ys):
            k = rng.integers(len(ys))
            cy_px, cx_px = int(ys[k]), int(xs[k])
            r = rng.uniform(0.08, 0.19)
            consolidation = rng.random() < 0.35
            amp = disease_strength * (rng.uniform(0.26, 0.4) if consolidation else rng.uniform(0.15, 0.26))
            half = int(np.ceil(2.2 * r / px))
            y0, y1 = max(0, cy_px - half), min(size, cy_px + half + 1)
            x0, x1 = max(0, cx_px - half), min(size, cx_px + half + 1)
            d2 = ((x[y0:y1, x0:x1] - x[cy_px, cx_px]) ** 2 + (y[y0:y1, x0:x1] - y[cy_px, cx_px]) ** 2) / r**2
            blob = np.exp(-(d2 * d2 if consolidation else d2))
            texture = _smooth_noise(rng, 2 * half + 1, 6)[: y1 - y0, : x1 - x0]
            blob *= 1 + 0.35 * texture
            np.maximum(lesion[y0:y1, x0:x1], amp * np.clip(blob, 0, None), out=lesion[y0:y1, x0:x1])
            covered += np.pi * r * r * 0.7
            n_blobs += 1
        lesion *= mask * lung_soft
        img += lesion
    params.update(scale=scale, theta=float(theta), n_lesions=n_blobs,
                  lesion_share=float((lesion > 0.03).sum() / max(mask.sum(), 1)),
                  lesion_mask=lesion > 0.03)  # the disease's true location (empty for negatives)
    return np.clip(img, 0, 1).astype(np.float32), mask, params
