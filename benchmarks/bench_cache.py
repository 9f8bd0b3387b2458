"""Images per second: Pillow decode + resize every epoch (a plain loader) against the cache;
the cache built from PNG and from DICOM at 512, per core, and its bytes per image; a training
batch at 512 read from the cache (with and without augmentation on the CPU), and how many cores
the 700 images/s of VGG-16 at 512 on an H100 (about 40% MFU) would take.

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


def _dicom_images(tmp: Path, n: int = 200, side: int = 1024) -> list[str]:
    """Uncompressed 16-bit MONOCHROME2 DICOMs of ``side`` px (12 bits stored), like a DR export."""
    from pydicom.dataset import FileDataset, FileMetaDataset
    from pydicom.uid import ExplicitVRLittleEndian, SecondaryCaptureImageStorage, generate_uid

    rng = np.random.default_rng(1)
    base = (np.linspace(200, 3500, side)[None] + np.zeros((side, 1))).astype(np.uint16)
    paths = []
    for i in range(n):
        meta = FileMetaDataset()
        meta.MediaStorageSOPClassUID = SecondaryCaptureImageStorage
        meta.MediaStorageSOPInstanceUID = generate_uid()
        meta.TransferSyntaxUID = ExplicitVRLittleEndian
        ds = FileDataset(str(tmp / f"{i}.dcm"), {}, file_meta=meta, preamble=b"\0" * 128)
        ds.SOPClassUID, ds.SOPInstanceUID = meta.MediaStorageSOPClassUID, meta.MediaStorageSOPInstanceUID
        ds.Modality, ds.PhotometricInterpretation, ds.SamplesPerPixel = "DX", "MONOCHROME2", 1
        ds.Rows = ds.Columns = side
        ds.BitsAllocated, ds.BitsStored, ds.HighBit, ds.PixelRepresentation = 16, 12, 11, 0
        ds.PixelData = (base + rng.integers(0, 400, (side, side), dtype=np.uint16)).tobytes()
        path = tmp / f"{i}.dcm"
        ds.save_as(path, enforce_file_format=True)
        paths.append(str(path))
    return paths


def _builds(tmp: Path, name: str, paths: list[str], what: str) -> list[dict]:
    """Cache build at 512 with one process and with every core: rate, per core, bytes/image."""
    import os

    rows = []
    cores = os.cpu_count() or 1
    for jobs in sorted({1, cores}):
        cache = ImageCache(tmp / f"cache-{name}-{jobs}", size=512, resize="pad")
        rep = cache.update(paths, jobs=jobs, progress=False)
        rate = rep.n_built / rep.seconds
        rows.append({"case": f"cache build from {name}, 512, {jobs} process{'es' if jobs > 1 else ''}",
                     "value": rate, "unit": "img/s build", "note": f"{rate / jobs:.1f} img/s per core; {what}"})
    data = next((tmp / f"cache-{name}-1").rglob("data.u8"))
    rows.append({"case": f"cache bytes per image ({name}, 512)", "value": data.stat().st_size / len(paths),
                 "unit": "bytes/img", "note": "uint8 512 x 512, memory-mapped"})
    return rows


def _training_batches(paths: list[str], augment: bool, batches: int = 24, batch: int = 32) -> float:
    """Images/s from the cache into float batches at 512 in one process and one thread: the
    dataset, the loader's collation and, where asked, the training augmentation on the CPU."""
    import pandas as pd
    import torch

    from cxr_isi.data.labels import LabelMapping
    from cxr_isi.data.manifest import Manifest
    from cxr_isi.lungs.dataset import HideSeekDataset
    from cxr_isi.train.config import TrainConfig
    from cxr_isi.train.loop import _augment

    torch.set_num_threads(1)
    frame = pd.DataFrame({"path": paths, "label": ["a", "b"] * (len(paths) // 2) + ["a"] * (len(paths) % 2),
                          "source": "s", "patient_id": [str(i) for i in range(len(paths))]})
    m = Manifest.from_frame(frame, origin="bench").with_labels(LabelMapping(positive=["a"], negative=["b"]))
    ds = HideSeekDataset(m, "original", size=512)
    loader = torch.utils.data.DataLoader(ds, batch_size=batch, shuffle=True,
                                         generator=torch.Generator().manual_seed(0))
    cfg, gen = TrainConfig(), torch.Generator().manual_seed(0)
    seen, t0 = 0, time.perf_counter()
    while seen < batches * batch:
        for x, _ in loader:
            if augment:
                x = _augment(x, gen, cfg)
            seen += len(x)
            if seen >= batches * batch:
                break
    return seen / (time.perf_counter() - t0)


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
        # the cache at 512 from PNG and from DICOM, per core; a training batch at 512
        rows += _builds(tmp, "PNG", paths, what)
        dicom_dir = tmp / "dicom"
        dicom_dir.mkdir()
        rows += _builds(tmp, "DICOM", _dicom_images(dicom_dir), "200 synthetic 1024 px 16-bit DICOMs")
        target = 700.0  # VGG-16 training at 512 on an H100 near 40% MFU
        for augment in (False, True):
            rate = _training_batches(paths, augment)
            what_cpu = "+ augmentation on the CPU" if augment else "(augmentation on the GPU)"
            rows.append({"case": f"cache -> training batch of 32 at 512 {what_cpu}, 1 core", "value": rate,
                         "unit": "img/s @512 batch",
                         "note": f"{target:.0f} img/s needs {int(np.ceil(target / rate))} loader core(s)"})
    return "Image cache against a plain Pillow loader", rows
