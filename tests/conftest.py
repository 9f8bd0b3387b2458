"""Shared fixtures: tiny images written on the fly, an isolated cache, and the real cxr256 set."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from PIL import Image

os.environ.setdefault("HF_HUB_OFFLINE", "1")

CXR256 = Path(__file__).resolve().parents[1] / ".." / "shared" / "data" / "cxr256"


def pytest_configure(config):
    """Under pytest-xdist the workers share the cores: PyTorch threads beyond a worker's share
    only spin against each other (measured here: a suite 3x slower)."""
    workers = int(os.environ.get("PYTEST_XDIST_WORKER_COUNT", "1"))
    if workers > 1:
        try:
            import torch
        except ImportError:
            return
        torch.set_num_threads(max(1, (os.cpu_count() or 1) // workers))


@pytest.fixture(autouse=True)
def _isolated_cache(tmp_path_factory, monkeypatch):
    """Every test gets its own cache root, never the user's."""
    monkeypatch.setenv("CXR_ISI_CACHE", str(tmp_path_factory.mktemp("cache")))


@pytest.fixture
def cxr256() -> Path:
    if not (CXR256 / "manifest.csv").is_file():
        pytest.skip(f"real data not present at {CXR256.resolve()} (../shared/data/cxr256)")
    return CXR256.resolve()


def write_png(path: Path, array: np.ndarray, mode: str | None = None) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(array, mode=mode).save(path) if mode else Image.fromarray(array).save(path)
    return path


def gradient(h: int = 40, w: int = 30, seed: int = 0) -> np.ndarray:
    """A uint8 test image with structure (so resizing and hashing have something to keep)."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:h, 0:w]
    img = 100 + 80 * np.sin(xx / (3 + seed % 5)) * np.cos(yy / 4) + rng.normal(0, 5, (h, w))
    return np.clip(img, 0, 255).astype(np.uint8)


@pytest.fixture
def image_folder(tmp_path) -> tuple[Path, pd.DataFrame]:
    """Twelve small PNGs from three sources, with a manifest frame (relative paths)."""
    rows = []
    for i in range(12):
        rel = f"img/{i:02d}.png"
        write_png(tmp_path / rel, gradient(40 + i, 30 + 2 * i, seed=i))
        rows.append({"path": rel, "label": "covid" if i % 2 else "normal",
                     "source": f"s{i % 3}", "patient_id": f"p{i // 2}", "note": f"extra{i}"})
    return tmp_path, pd.DataFrame(rows)


def manifest_frame(plan: dict[str, tuple[int, int]], images_per_patient: int = 1) -> pd.DataFrame:
    """A manifest (no files) from {source: (n_positive, n_negative)}."""
    rows = []
    for source, (npos, nneg) in plan.items():
        for label, n in (("covid", npos), ("normal", nneg)):
            for i in range(n):
                pid = f"{source}_{label}_{i // images_per_patient}"
                rows.append({"path": f"/nowhere/{source}_{label}_{i}.png", "label": label,
                             "source": source, "patient_id": pid})
    return pd.DataFrame(rows)


class Payload:
    """Unpickling this would create ``marker`` (what a malicious checkpoint would run)."""

    def __init__(self, marker):
        self.marker = str(marker)

    def __reduce__(self):
        return (open, (self.marker, "w"))
