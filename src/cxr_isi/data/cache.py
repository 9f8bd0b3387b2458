"""The image cache: every image decoded and resized once, then read from a memory-mapped file.

Layout of one cache (one folder per ``kind``, size and resize mode)::

    <root>/<kind>-<size>-<resize>/data.u8      uint8, shape (capacity, size, size), np.memmap
    <root>/<kind>-<size>-<resize>/index.parquet one row per source file: slot, key, header facts
    <root>/<kind>-<size>-<resize>/meta.json     size, resize mode, kind, capacity, format version

A row's key is the file's absolute path, byte size and modification time: a changed file is
decoded again into its own slot, a new file gets a new slot, everything else is reused. The build
runs in worker processes that write straight into the memory map, saves the index as it goes (an
interrupted build resumes), reports and skips files that cannot be decoded, and never loses what
was already cached. Readers open the memory map read-only; pages come from the OS page cache, so
memory use does not grow with the dataset.
"""

from __future__ import annotations

import errno
import hashlib
import io
import json
import os
import shutil
import time
from concurrent.futures import as_completed
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from cxr_isi._io import atomic_write, file_lock, write_json
from cxr_isi._pool import ProcessPool
from cxr_isi.data.readers import read_image
from cxr_isi.data.resize import RESIZE_MODES, resize_square
from cxr_isi.errors import CxrIsiError, ImageReadError
from cxr_isi.logs import get_logger
from cxr_isi.progress import progress_bar

FORMAT_VERSION = 1
KINDS = ("image", "mask")
# A spawned worker takes about a second to start (a fresh interpreter importing numpy, Pillow and
# pydicom; measured 1.0 s for 64 images at 48 px against 0.05 s in one process), while one core
# caches 200 (1024 px DICOM) to 1,300 (256 px PNG) images a second: below this many images per
# worker the pool costs more than it saves.
IMAGES_PER_PROCESS = 1000

INDEX_COLUMNS = ["path", "file_size", "mtime_ns", "slot", "width", "height", "bit_depth",
                 "photometric", "format", "error"]
log = get_logger("cache")


def default_cache_root() -> Path:
    """``$CXR_ISI_CACHE``, else ``~/.cache/cxr_isi`` (data folders are often read-only)."""
    env = os.environ.get("CXR_ISI_CACHE")
    return Path(env) if env else Path.home() / ".cache" / "cxr_isi"


@dataclass
class CacheReport:
    """What an update did: counts, and the files that could not be cached, with reasons."""

    n_reused: int = 0
    n_built: int = 0
    failures: list[tuple[str, str]] = field(default_factory=list)
    seconds: float = 0.0


def _file_key(path: str) -> tuple[int, int]:
    st = os.stat(path)
    return int(st.st_size), int(st.st_mtime_ns)


def load_for_cache(path: str, size: int, resize: str, kind: str) -> tuple[np.ndarray, dict]:
    """Decode one file and bring it to the cache's uint8 square (masks become 0/255)."""
    image, info = read_image(path)
    if kind == "mask":
        top = float(image.max())
        if top > 0:
            grey = ((image > 0.1 * top) & (image < 0.9 * top)).mean()
            if grey > 0.05:  # anti-aliased outlines are fine; a photograph or a map is not
                raise ImageReadError(f"{path}: not a binary mask ({grey:.0%} of pixels are neither "
                                     "background nor lung)")
        image = (image > top / 2).astype(np.float32) if top > 0 else np.zeros_like(image)
        square = resize_square(image, size, resize, is_mask=True)
    else:
        square = resize_square(image, size, resize)
    return np.rint(square * 255.0).astype(np.uint8), info.as_dict()


_INDEXES: dict[str, tuple[bytes, pd.DataFrame]] = {}


def _read_index(path: Path) -> pd.DataFrame:
    """The index file as a table, parsed again only when its bytes changed (a run opens its
    caches hundreds of times, each job and each probe; reading a few kilobytes costs little
    beside turning Parquet into a table)."""
    data = path.read_bytes()
    digest = hashlib.sha1(data).digest()
    kept = _INDEXES.get(str(path))
    if kept is None or kept[0] != digest:
        if len(_INDEXES) > 64:
            _INDEXES.clear()
        kept = (digest, pd.read_parquet(io.BytesIO(data)))
        _INDEXES[str(path)] = kept
    return kept[1].copy()


def _build_chunk(data_file: str, capacity: int, size: int, resize: str, kind: str,
                 items: list[tuple[int, str]]) -> list[dict]:
    """Worker: decode ``items`` (slot, path) into the memory map; return index rows."""
    mm = np.memmap(data_file, dtype=np.uint8, mode="r+", shape=(capacity, size, size))
    rows = []
    for slot, path in items:
        row = {"path": path, "slot": slot, "error": ""}
        try:
            row["file_size"], row["mtime_ns"] = _file_key(path)
            mm[slot], info = load_for_cache(path, size, resize, kind)
            row.update(info)
        except ImageReadError as exc:
            row.update(slot=-1, error=str(exc))
        except OSError as exc:
            row.update(slot=-1, error=f"{path}: {exc.strerror or exc}")
        except Exception as exc:  # noqa: BLE001 - one bad file must not stop the batch
            row.update(slot=-1, error=f"{path}: cannot be cached ({type(exc).__name__}: {exc})")
        rows.append(row)
    mm.flush()
    del mm
    return rows


class ImageCache:
    """A memory-mapped cache of images (or masks) at one square size and resize mode.

    Parameters
    ----------
    root : path, optional
        Folder holding caches; default :func:`default_cache_root`.
    size : int
        Side of the square images (default 512 as in the paper; 256 or 128 for CPU work).
    resize : {"pad", "squeeze", "crop"}
        How non-square images become square (recorded in ``meta.json``).
    kind : {"image", "mask"}
        Masks are thresholded and stored as 0/255.
    """

    def __init__(self, root: str | Path | None = None, size: int = 512, resize: str = "pad",
                 kind: str = "image"):
        if resize not in RESIZE_MODES:
            raise CxrIsiError(f"unknown resize mode {resize!r}; use one of {RESIZE_MODES}")
        if kind not in KINDS:
            raise CxrIsiError(f"unknown cache kind {kind!r}; use one of {KINDS}")
        if not 8 <= int(size) <= 4096:
            raise CxrIsiError(f"cache size {size} out of range (8 to 4096)")
        self.root = Path(root) if root is not None else default_cache_root()
        self.size, self.resize, self.kind = int(size), resize, kind
        self.dir = self.root / f"{kind}-{self.size}-{resize}"
        self.data_file = self.dir / "data.u8"
        self.index_file = self.dir / "index.parquet"
        self.meta_file = self.dir / "meta.json"
        self.rebuilt = ""  # what was wrong with the cache the last update cleared

    # -- state on disk ----------------------------------------------------------------
    def _meta(self) -> dict:
        if self.meta_file.exists():
            meta = json.loads(self.meta_file.read_text())
            if meta.get("version") == FORMAT_VERSION:
                return meta
            log.warning("%s: cache format %s is not %s; rebuilding", self.dir, meta.get("version"),
                        FORMAT_VERSION)
        return {"version": FORMAT_VERSION, "kind": self.kind, "size": self.size,
                "resize": self.resize, "capacity": 0}

    def _read_meta(self) -> dict:
        try:
            return self._meta()
        except (ValueError, OSError) as exc:
            raise CxrIsiError(f"{self.meta_file}: damaged cache metadata ({exc})") from None

    def damage(self) -> str:
        """What is wrong with this cache on disk, or ``""`` (also for a cache not built yet).

        A data file shorter than its capacity (truncated, or a 0-byte file), an index that is
        not Parquet or lacks columns, a slot beyond the data file, metadata that is not JSON."""
        if not self.meta_file.exists():
            return ""
        try:
            meta = self._meta()
        except (ValueError, OSError) as exc:
            return f"{self.meta_file.name} unreadable ({type(exc).__name__})"
        capacity = int(meta.get("capacity", 0))
        if capacity == 0:
            return ""
        need = capacity * self.size * self.size
        have = self.data_file.stat().st_size if self.data_file.exists() else -1
        if have < need:
            return f"{self.data_file.name} holds {max(have, 0)} bytes, {need} expected"
        if not self.index_file.exists():
            return ""
        try:
            index = _read_index(self.index_file)
        except Exception as exc:  # noqa: BLE001 - pyarrow raises several types for a bad file
            return f"{self.index_file.name} is not a readable Parquet file ({type(exc).__name__})"
        missing = [c for c in INDEX_COLUMNS if c not in index.columns]
        if missing:
            return f"{self.index_file.name} lacks columns {missing}"
        if len(index) and int(pd.to_numeric(index["slot"]).max()) >= capacity:
            return f"{self.index_file.name} points past the data file"
        return ""

    def clear(self) -> None:
        """Delete this cache's files (the next :meth:`update` builds it again)."""
        for f in (self.data_file, self.index_file, self.meta_file):
            f.unlink(missing_ok=True)

    def index(self) -> pd.DataFrame:
        """The index table (empty when nothing is cached yet)."""
        if self.index_file.exists() and self._read_meta()["capacity"] > 0:
            try:
                return _read_index(self.index_file)
            except Exception as exc:  # noqa: BLE001 - pyarrow raises several types for a bad file
                raise CxrIsiError(f"{self.index_file}: damaged cache index ({type(exc).__name__}); "
                                  "any command that reads the images rebuilds it") from None
        return pd.DataFrame({c: pd.Series(dtype=object) for c in INDEX_COLUMNS})

    def _ensure_capacity(self, meta: dict, needed: int) -> None:
        if needed <= meta["capacity"]:
            return
        new_cap = max(needed, int(meta["capacity"] * 1.5), 16)
        self.dir.mkdir(parents=True, exist_ok=True)
        old_bytes = meta["capacity"] * self.size * self.size
        new_bytes = new_cap * self.size * self.size
        free = shutil.disk_usage(self.dir).free
        if new_bytes - old_bytes > free:
            raise self._disk_full(new_bytes - old_bytes, free)
        with open(self.data_file, "ab") as fh:  # grow in place; existing slots stay
            fh.truncate(new_bytes)
            if hasattr(os, "posix_fallocate"):
                # Blocks reserved now: a sparse file's page written through the memory map on a
                # full disk kills the process with SIGBUS, with no message and nothing saved.
                try:
                    os.posix_fallocate(fh.fileno(), old_bytes, new_bytes - old_bytes)
                except OSError as exc:
                    if exc.errno == errno.ENOSPC:
                        fh.truncate(old_bytes)
                        raise self._disk_full(new_bytes - old_bytes, shutil.disk_usage(self.dir).free) from None
                    if exc.errno not in (errno.EOPNOTSUPP, errno.EINVAL, errno.ENOSYS):
                        raise
        meta["capacity"] = new_cap
        write_json(self.meta_file, meta)

    def _disk_full(self, needed: int, free: int) -> CxrIsiError:
        return CxrIsiError(f"{self.data_file}: not enough disk space for the cache ({needed / 2**20:.0f} MiB more "
                           f"for {self.kind}s at {self.size} px, {free / 2**20:.0f} MiB free); free some, or put "
                           "the cache on another disk (--cache or CXR_ISI_CACHE)")

    def _save_index(self, rows: dict[str, dict]) -> None:
        frame = pd.DataFrame(list(rows.values()), columns=INDEX_COLUMNS)
        atomic_write(self.index_file, lambda p: frame.to_parquet(p, index=False))

    # -- build ------------------------------------------------------------------------
    def update(self, paths: list[str], jobs: int | None = None, progress: bool = True,
               chunk: int = 16) -> CacheReport:
        """Cache every path that is new or changed; return what was done.

        ``jobs`` processes build it; by default one per :data:`IMAGES_PER_PROCESS` images to
        build, up to the cores (fewer images are built in this process).

        Unreadable files are reported (``report.failures`` and a warning each) and skipped;
        the rest are cached. Safe to interrupt: the next call resumes. Processes that update
        one cache at once (parallel jobs) take turns: each holds the cache's lock file. A cache
        damaged on disk (:meth:`damage`) is cleared with a warning and built again, never reused.
        """
        self.dir.mkdir(parents=True, exist_ok=True)
        with file_lock(self.dir / ".lock"):
            problem = self.damage()
            if problem:
                log.warning("%s: damaged cache (%s); rebuilding it", self.dir, problem)
                self.clear()
                self.rebuilt = problem
            return self._update(paths, jobs, progress, chunk)

    def _update(self, paths: list[str], jobs: int | None, progress: bool, chunk: int) -> CacheReport:
        t0 = time.perf_counter()
        paths = [os.path.abspath(p) for p in dict.fromkeys(map(str, paths))]
        meta = self._meta()
        rows: dict[str, dict] = {r["path"]: r for r in self.index().to_dict("records")}
        if meta["capacity"] == 0:
            rows = {}
        used = {int(r["slot"]) for r in rows.values() if int(r["slot"]) >= 0}
        next_slot = max(used, default=-1) + 1
        report = CacheReport()
        todo: list[tuple[int, str]] = []
        for p in paths:
            old = rows.get(p)
            try:
                key = _file_key(p)
            except OSError:
                key = None
            if old is not None and not old["error"] and key == (old["file_size"], old["mtime_ns"]):
                report.n_reused += 1
                continue
            if old is not None and int(old["slot"]) >= 0:
                slot = int(old["slot"])  # a changed file is rewritten in its own slot
            else:
                slot, next_slot = next_slot, next_slot + 1
            todo.append((slot, p))
        if todo:
            self._ensure_capacity(meta, next_slot)
            chunks = [todo[i : i + chunk] for i in range(0, len(todo), chunk)]
            if jobs is None:  # by the work: each worker must repay its start
                jobs = min(os.cpu_count() or 1, len(todo) // IMAGES_PER_PROCESS)
            jobs = max(1, min(jobs, len(chunks)))
            args = (str(self.data_file), meta["capacity"], self.size, self.resize, self.kind)
            last_save = time.monotonic()
            try:
                with progress_bar(progress) as bar:
                    task = bar.add_task(f"caching {self.kind}s at {self.size} ({self.resize})", total=len(todo))
                    for result in self._run_chunks(chunks, args, jobs):
                        for row in result:
                            rows[row["path"]] = {c: row.get(c) for c in INDEX_COLUMNS}
                            if row["error"]:
                                report.failures.append((row["path"], row["error"]))
                                log.warning("skipped %s", row["error"])
                            else:
                                report.n_built += 1
                        bar.advance(task, len(result))
                        if time.monotonic() - last_save > 2.0:
                            self._save_index(rows)
                            last_save = time.monotonic()
            except BrokenProcessPool:
                raise CxrIsiError(f"{self.dir}: a cache worker died (killed, out of memory, or the disk failed "
                                  "under the memory map); what was finished is kept, run the command again "
                                  "to resume") from None
            finally:  # interrupted or not, every finished image stays cached
                self._save_index(rows)
        elif not self.index_file.exists():
            self.dir.mkdir(parents=True, exist_ok=True)
            write_json(self.meta_file, meta)
            self._save_index(rows)
        report.seconds = time.perf_counter() - t0
        return report

    @staticmethod
    def _run_chunks(chunks, args, jobs):
        if jobs == 1:
            for c in chunks:
                yield _build_chunk(*args, c)
            return
        # spawn, not fork: the parent holds threads (progress bar) that fork would copy mid-state;
        # on a stop the running chunks (seconds) finish and are kept
        with ProcessPool(jobs, stop="wait") as pool:
            for fut in as_completed(pool.submit_all(_build_chunk, [(*args, c) for c in chunks])):
                yield fut.result()

    # -- read -------------------------------------------------------------------------
    def open(self) -> CachedImages:
        """Read-only view of the cache (a damaged one is refused in one line: :meth:`update`
        rebuilds it). Read under the cache's lock: another process's :meth:`update` may be
        growing or rebuilding it (a half-replaced index read as "damaged" was seen under load)."""
        if not self.dir.is_dir():
            raise CxrIsiError(f"{self.dir}: cache is empty; build it first (cxr-isi cache MANIFEST)")
        with file_lock(self.dir / ".lock"):
            problem = self.damage()
            if problem:
                raise CxrIsiError(f"{self.dir}: damaged cache ({problem}); rebuild it with cxr-isi cache MANIFEST")
            meta = self._meta()
            if meta["capacity"] == 0 or not self.index_file.exists():
                raise CxrIsiError(f"{self.dir}: cache is empty; build it first (cxr-isi cache MANIFEST)")
            return CachedImages(self.data_file, self.index(), meta["capacity"], self.size)


class CachedImages:
    """Random access to cached uint8 squares by path, without decoding anything."""

    def __init__(self, data_file: Path, index: pd.DataFrame, capacity: int, size: int):
        self.array = np.memmap(data_file, dtype=np.uint8, mode="r", shape=(capacity, size, size))
        ok = index[index["slot"].astype(int) >= 0]
        self._slot = dict(zip(ok["path"], ok["slot"].astype(int), strict=True))
        self.info = index.set_index("path")
        self.size = size

    def __contains__(self, path: str) -> bool:
        return os.path.abspath(path) in self._slot

    def slots(self, paths: list[str]) -> np.ndarray:
        """Slot of every path, -1 where a path is not cached (unreadable or never built)."""
        return np.array([self._slot.get(os.path.abspath(p), -1) for p in paths], dtype=np.int64)

    def original_size(self, path: str) -> tuple[int, int] | None:
        """(width, height) of the source file, as read when it was cached."""
        key = os.path.abspath(path)
        if key not in self.info.index:
            return None
        row = self.info.loc[key]
        if row["error"] or pd.isna(row["width"]):
            return None
        return int(row["width"]), int(row["height"])

    def get(self, path: str) -> np.ndarray:
        """The cached uint8 square of ``path`` (a read-only view of the memory map)."""
        key = os.path.abspath(path)
        if key not in self._slot:
            err = self.info["error"].get(key, "") if key in self.info.index else ""
            raise CxrIsiError(f"{path}: not in the cache" + (f" ({err})" if err else ""))
        return self.array[self._slot[key]]


def check_mask_sizes(images: CachedImages, masks: CachedImages, paths: list[str],
                     mask_paths: list[str], origin: str) -> None:
    """Refuse a mask whose file is not the size of its image (their geometries would differ)."""
    for i, (p, mp) in enumerate(zip(paths, mask_paths, strict=True)):
        a, b = images.original_size(p), masks.original_size(mp)
        if a is not None and b is not None and a != b:
            raise CxrIsiError(f"{origin} row {i + 1}: mask {mp} is {b[0]}x{b[1]} but its image "
                              f"{p} is {a[0]}x{a[1]}")


def cache_pairs(paths: list[str], mask_paths: list[str], *, size: int, resize: str = "pad",
                cache_root=None, progress: bool = False, origin: str = "manifest"):
    """Cache images and their masks at one geometry and open both.

    Returns ``(images, masks, slots, mask_slots)``; a slot is -1 where a file could not be
    cached. A mask whose file size differs from its image's is an error naming the row.
    """
    images = ImageCache(cache_root, size=size, resize=resize)
    masks = ImageCache(cache_root, size=size, resize=resize, kind="mask")
    images.update(paths, progress=progress)
    masks.update(mask_paths, progress=progress)
    im, mk = images.open(), masks.open()
    check_mask_sizes(im, mk, paths, mask_paths, origin)
    return im, mk, im.slots(paths), mk.slots(mask_paths)
