"""Write a phantom dataset: images, ground-truth lung masks and a manifest.

Beside each image the truth of what it holds: ``masks/`` (lungs, ``mask_path``), ``lesions/``
(the disease, ``infection_mask_path``; empty for negatives), ``markers/`` and ``borders/`` (the
source's burned-in marker box and collimation bands, ``marker_mask_path``,
``border_mask_path``): what an explanation is scored against.

``cxr-isi synth --preset isi|balanced --n N --size S --seed K --out DIR``. The plan gives each
source a majority class holding ``majority_share`` of its images (1.0 = ``isi``: every source a
single class, as QaTa-COV19; 0.5 = ``balanced``: every source both classes equally, as BIMCV);
half of the sources lean positive, half negative, so the classes stay balanced overall.
Deterministic: image ``k`` depends only on the seed and ``k``, and is byte-identical across runs.
"""

from __future__ import annotations

import os
import time
from dataclasses import replace
from pathlib import Path
from typing import Literal

import numpy as np
import pandas as pd
from PIL import Image
from pydantic import Field, field_validator

from cxr_isi._io import write_json
from cxr_isi._pool import ProcessPool
from cxr_isi.config import Seed, StrictModel
from cxr_isi.data.manifest import Manifest
from cxr_isi.errors import CxrIsiError
from cxr_isi.progress import progress_bar
from cxr_isi.synth.phantom import render_chest
from cxr_isi.synth.sources import apply_fingerprint, burn_marker, field_of_view, fingerprint_masks, make_styles

PRESETS = {"isi": 1.0, "balanced": 0.5, "mild": 0.7, "strong": 0.9}


class SynthConfig(StrictModel):
    """Everything that decides a phantom dataset (stored as ``synth.json`` beside it)."""

    preset: str = "isi"
    n: int = Field(400, ge=4)
    size: int = Field(256, ge=32, le=2048)
    seed: Seed = 0
    n_sources: int = Field(4, ge=1, le=26)
    majority_share: float | None = Field(None, ge=0.5, le=1.0)
    fingerprint_strength: float = Field(1.0, ge=0.0, le=2.0)
    disease_extent: float = Field(0.35, ge=0.0, le=1.0)
    disease_strength: float = Field(1.0, ge=0.0, le=3.0)
    # positives' lung fields this much smaller (0.2: 20% in height and width): the per-image
    # lung box then carries the label, the protocol's own leak the fixed box must catch
    lung_shrink: float = Field(0.0, ge=0.0, le=0.5)
    # "marker": the sources alike in every way (exposure, noise, border, field of view) but one:
    # the sources leaning positive burn their marker into ``marker_corner`` (their own corner when
    # None): a known answer for where outside the lungs the label is
    fingerprint: Literal["full", "marker"] = "full"
    marker_corner: Literal["tl", "tr", "bl", "br"] | None = None
    positive_label: str = "covid"
    negative_label: str = "normal"

    @field_validator("preset")
    @classmethod
    def _known(cls, v: str) -> str:
        if v not in PRESETS:
            raise ValueError(f"unknown preset {v!r}; one of {sorted(PRESETS)}")
        return v

    @property
    def share(self) -> float:
        return self.majority_share if self.majority_share is not None else PRESETS[self.preset]


def source_plan(n: int, n_sources: int, share: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Source index and label (1 = positive) of each of ``n`` images."""
    sizes = np.full(n_sources, n // n_sources)
    sizes[: n % n_sources] += 1
    src, lab = [], []
    for s, m in enumerate(sizes):
        leans_positive = s % 2 == 0
        n_major = int(round(share * m))
        major, minor = (1, 0) if leans_positive else (0, 1)
        src += [s] * m
        lab += [major] * n_major + [minor] * (m - n_major)
    order = np.random.default_rng(np.random.SeedSequence(entropy=seed, spawn_key=(2**31 + 1,))).permutation(n)
    return np.asarray(src)[order], np.asarray(lab)[order]


def _render_one(k: int, source: int, label: int, cfg: dict, out: str) -> dict:
    config = SynthConfig(**cfg)
    styles = make_styles(config.n_sources, config.seed)
    style = styles[source]
    if config.marker_corner is not None:
        style = replace(style, corner=config.marker_corner)
    rng = np.random.default_rng(np.random.SeedSequence(entropy=config.seed, spawn_key=(k,)))
    extent = config.disease_extent * rng.uniform(0.5, 1.5) if label else 0.0
    marker_only = config.fingerprint == "marker"
    strength = 0.0 if marker_only else config.fingerprint_strength
    zoom, shift = field_of_view(style, strength)
    img, mask, params = render_chest(config.size, rng, disease=extent,
                                     disease_strength=config.disease_strength, zoom=zoom, shift=shift,
                                     lung_scale=1.0 - config.lung_shrink if label else 1.0)
    img = apply_fingerprint(img, style, rng, strength)
    marks = fingerprint_masks(style, config.size, strength)
    if marker_only and source % 2 == 0:  # the sources leaning positive (source_plan)
        img = np.clip(burn_marker(img, style, min(1.0, config.fingerprint_strength)), 0, 1)
        marks = fingerprint_masks(style, config.size, config.fingerprint_strength)
        marks["border"][:] = False
    files = {"path": ("images", np.rint(img * 255)), "mask_path": ("masks", mask * 255),
             "infection_mask_path": ("lesions", params["lesion_mask"] * 255),
             "marker_mask_path": ("markers", marks["marker"] * 255),
             "border_mask_path": ("borders", marks["border"] * 255)}
    row = {}
    for column, (folder, arr) in files.items():
        rel = f"{folder}/{style.name}/{k:05d}.png"
        path = Path(out) / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        Image.fromarray(arr.astype(np.uint8)).save(path, compress_level=1)
        row[column] = rel
    return {"path": row.pop("path"), "label": config.positive_label if label else config.negative_label,
            "source": style.name, "patient_id": f"synth_{k:05d}", "mask_path": row.pop("mask_path"),
            "mask_kind": "synthetic_truth", "view": "PA", "lesion_share": round(params["lesion_share"], 4),
            **row}


def _render_chunk(items: list[tuple[int, int, int]], cfg: dict, out: str) -> list[dict]:
    return [_render_one(k, s, lab, cfg, out) for k, s, lab in items]


def generate(config: SynthConfig, out_dir: str | Path, jobs: int | None = None,
             progress: bool = False) -> Manifest:
    """Render the dataset into ``out_dir`` and write ``manifest.csv`` and ``synth.json``."""
    out_dir = Path(out_dir)
    try:
        out_dir.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise CxrIsiError(f"{out_dir}: cannot create the output folder ({exc.strerror})") from None
    t0 = time.perf_counter()
    sources, labels = source_plan(config.n, config.n_sources, config.share, config.seed)
    items = [(k, int(s), int(lab)) for k, (s, lab) in enumerate(zip(sources, labels, strict=True))]
    cfg = config.model_dump()
    chunks = [items[i : i + 16] for i in range(0, len(items), 16)]
    jobs = max(1, min(jobs or os.cpu_count() or 1, len(chunks)))
    rows: list[dict] = []
    with progress_bar(progress) as bar:
        task = bar.add_task(f"rendering {config.preset} phantoms", total=len(items))
        if jobs == 1:
            for c in chunks:
                rows += _render_chunk(c, cfg, str(out_dir))
                bar.advance(task, len(c))
        else:
            with ProcessPool(jobs, stop="wait") as pool:
                for future in pool.submit_all(_render_chunk, [(c, cfg, str(out_dir)) for c in chunks]):
                    done = future.result()
                    rows += done
                    bar.advance(task, len(done))
    frame = pd.DataFrame(rows)
    manifest = Manifest.from_frame(frame, root=out_dir, origin=str(out_dir / "manifest.csv"))
    manifest.write(out_dir / "manifest.csv")
    styles = [s.as_dict() for s in make_styles(config.n_sources, config.seed)]
    write_json(out_dir / "synth.json", {"config": cfg, "majority_share": config.share,
                                        "sources": styles,
                                        "seconds": round(time.perf_counter() - t0, 2)})
    return manifest
