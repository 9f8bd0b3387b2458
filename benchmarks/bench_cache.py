"""Images per second: Pillow decode + resize every epoch (a plain loader) against the cache.

Uses the real cxr256 PNGs when ``../shared/data/cxr256`` is present, else writes 600 synthetic
1024 x 1024 PNGs to a temporary folder. Memory: anonymous (private) memory growth while
reading a quarter of the cache and all of it; memory-mapped pages are file-backed and shared,
so private memory should not grow with the number of images read.
"""

from __future__ import annotations

import tempfile
import time
from pathlib import Path

import numpy as np
from PIL import Image

from cxr_isi.data.cache import ImageCache

CXR256 = Path(__file__).resolve().parents[1] / ".." / "shared" / "data" / "cxr256"


def _source_images(tmp: Path) -> tuple[list[str], str]:
    if (CXR256 / "manifest.csv").is_file():
        paths = sorted(str(p) for p in (CXR256 / "images").rglob("*.png"))
        return paths, f"{len(paths)} real cxr256 PNGs (256 px)"
    rng = np.random.default_rng(0)
    paths = []
    for i in range(600):
        img = (rng.random((1024, 1024)) * 60 + np.linspace(0, 180, 1024)[None]).astype(np.uint8)
        p = tmp / f"{i}.png"
        Image.fromarray(img).save(p)
        paths.append(str(p))
    return paths, "600 synthetic 1024 px PNGs"


def _plain_loader(paths: list[str], size: int) -> float:
    t0 = time.perf_counter()
    for p in paths:
        with Image.open(p) as img:
            a = np.asarray(img.convert("L").resize((size, size), Image.Resampling.BILINEAR),
                           dtype=np.float32) / 255.0
        assert a.shape == (size, size)
    return len(paths) / (time.perf_counter() - t0)


def _cache_reader(images, order: np.ndarray, as_float: bool = True) -> float:
    """One epoch in random order; float32 in [0, 1] like the plain loader, or the uint8 copy a
    GPU loader collates (scaling to float then happens on the device)."""
    t0 = time.perf_counter()
    arr = images.array
    for s in order:
        a = arr[s].astype(np.float32) if as_float else np.array(arr[s])
        if as_float:
            a *= 1 / 255.0
        assert a.shape[0] == images.size
    return len(order) / (time.perf_counter() - t0)


def _rss_anon_mb() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("RssAnon:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def run():
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        paths, what = _source_images(tmp)
        for size in (256, 512):
            plain = _plain_loader(paths, size)
            rows.append({"case": f"Pillow decode+resize per epoch, {size}", "value": plain,
                         "unit": f"img/s @{size}", "baseline": True, "note": what})
            cache = ImageCache(tmp / "cache", size=size, resize="pad")
            rep = cache.update(paths, progress=False)
            rows.append({"case": f"cache build (once, 2 processes), {size}",
                         "value": rep.n_built / rep.seconds, "unit": "img/s build", "note": ""})
            images = cache.open()
            slots = images.slots(paths)
            order = np.random.default_rng(0).permutation(slots)
            _cache_reader(images, order)  # warm the page cache, as every epoch after the first
            for as_float in (True, False):
                rate = _cache_reader(images, order, as_float)
                kind = "float32 [0,1]" if as_float else "uint8 copy"
                rows.append({"case": f"cache read (memory map) -> {kind}, {size}", "value": rate,
                             "unit": f"img/s @{size}"})
            del images
        # private memory while reading a quarter vs all of the 512 cache
        images = ImageCache(tmp / "cache", size=512, resize="pad").open()
        order = images.slots(paths)
        base = _rss_anon_mb()
        _cache_reader(images, order[: len(order) // 4])
        quarter = _rss_anon_mb() - base
        _cache_reader(images, order)
        full = _rss_anon_mb() - base
        mapped = len(order) * 512 * 512 / 2**20
        rows.append({"case": "private memory growth, 1/4 of the 512 cache read", "value": quarter,
                     "unit": "MiB", "note": f"{mapped / 4:.0f} MiB of images read"})
        rows.append({"case": "private memory growth, all of the 512 cache read", "value": full,
                     "unit": "MiB", "note": f"{mapped:.0f} MiB of images read"})
    return "Image cache against a plain Pillow loader", rows
