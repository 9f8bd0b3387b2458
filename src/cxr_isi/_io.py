"""Atomic file writes: a reader never sees half a file, a crash never loses the old one."""

from __future__ import annotations

import json
import os
import tempfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


UMASK = _umask()  # read once: os.umask can only be read by setting it


def atomic_write(path: str | Path, write: Callable[[Path], object]) -> Path:
    """Call ``write(tmp)`` on a temporary file beside ``path``, then rename it into place. The
    file gets the mode any new file gets here (0666 less the umask): a temporary file is made
    0600, and outputs were left readable by their owner alone."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    os.close(fd)
    tmp_path = Path(tmp)
    try:
        write(tmp_path)
        os.chmod(tmp_path, 0o666 & ~UMASK)
        os.replace(tmp_path, path)
    finally:
        if tmp_path.exists():
            tmp_path.unlink()
    return path


def write_json(path: str | Path, data: object) -> Path:
    """Write ``data`` as indented JSON, atomically."""
    text = json.dumps(_finite(data), indent=2, default=_json_default, allow_nan=False) + "\n"
    return atomic_write(path, lambda p: p.write_text(text))


def _finite(obj: object) -> object:
    """NaN and infinity are not JSON: write them as null (inside numpy arrays too)."""
    if isinstance(obj, float):
        return obj if obj == obj and obj not in (float("inf"), float("-inf")) else None
    if isinstance(obj, dict):
        return {k: _finite(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_finite(v) for v in obj]
    if type(obj).__module__ == "numpy" and hasattr(obj, "tolist"):  # an array or a numpy scalar
        return _finite(obj.tolist())
    return obj


def _json_default(obj: object) -> object:
    import numpy as np

    if isinstance(obj, np.bool_):
        return bool(obj)
    if isinstance(obj, np.integer):
        return int(obj)
    if isinstance(obj, np.floating):
        return None if np.isnan(obj) else float(obj)
    if isinstance(obj, np.ndarray):
        return obj.tolist()
    if isinstance(obj, Path):
        return str(obj)
    raise TypeError(f"not JSON serialisable: {type(obj).__name__}")


@contextmanager
def file_lock(path: str | Path, busy: str | None = None) -> Iterator[None]:
    """A lock across processes on ``path`` (the ``filelock`` package: portable, released when the
    block ends or the process dies). With ``busy``, a lock held elsewhere is an error with that
    message instead of a wait."""
    from filelock import FileLock, Timeout

    lock = FileLock(str(path))
    try:
        lock.acquire(timeout=0 if busy else -1)
    except Timeout:
        from cxr_isi.errors import CxrIsiError

        raise CxrIsiError(busy) from None
    try:
        yield
    finally:
        lock.release()


def write_csv(path: str | Path, frame) -> Path:
    """A DataFrame as CSV (no index), atomically."""
    return atomic_write(path, lambda p: frame.to_csv(p, index=False))


def read_csv_or_empty(path: str | Path):
    """A CSV as a DataFrame; an absent or empty file is an empty frame (a stage that found
    nothing to write)."""
    import pandas as pd

    try:
        return pd.read_csv(path)
    except (FileNotFoundError, pd.errors.EmptyDataError):
        return pd.DataFrame()


def check_output(path: str | Path, *, folder: bool, option: str = "--out") -> Path:
    """Refuse, in one line naming it, an output path that cannot be written as asked: a folder
    where a file is wanted, a file where a folder is wanted, a path under a file, or a place
    that cannot be written. Checked before any work, so a mistake costs nothing."""
    from cxr_isi.errors import CxrIsiError

    p = Path(path)
    for parent in p.parents:
        if parent.exists():
            if not parent.is_dir():
                raise CxrIsiError(f"{p}: a part of this path is a file, not a folder ({parent}; {option})")
            if not os.access(parent, os.W_OK):
                raise CxrIsiError(f"{p}: cannot be written (permission denied on {parent}; {option})")
            break
    if folder and p.exists() and not p.is_dir():
        raise CxrIsiError(f"{p}: is a file, not a folder ({option} takes a folder)")
    if not folder and p.is_dir():
        raise CxrIsiError(f"{p}: is a folder, not a file ({option} takes a file name)")
    return p


def check_not_input(path: str | Path, inputs: list[Path], option: str = "--out") -> None:
    """Refuse an output file that is one of ``inputs`` (compared as files: ``os.path.samefile``
    sees through ``./``, ``..`` and links)."""
    from cxr_isi.errors import CxrIsiError

    p = Path(path)
    if not p.is_file():
        return
    for given in inputs:
        if given.is_file() and os.path.samefile(p, given):
            raise CxrIsiError(f"{p}: is this command's input ({given}); write {option} to another file "
                              "(no command overwrites its input)")


NAME_MAX = 255  # bytes in one file name on ext4, XFS, APFS and NTFS (as UTF-16 units there)


def numbered_name(i: int, source: str | Path, suffix: str = ".png") -> str:
    """``000012_<stem><suffix>``: the row's number (unique) and the image's own name, the name cut
    (on a character boundary) so the whole stays within the file system's 255 bytes."""
    prefix = f"{i:06d}_"
    room = NAME_MAX - len(prefix.encode()) - len(suffix.encode())
    stem = Path(source).stem.encode()[:room].decode(errors="ignore")
    return f"{prefix}{stem}{suffix}"


def file_key(path: str | Path) -> str:
    """``"<bytes>:<mtime_ns>"`` of a file, ``"missing"`` when it cannot be read: what decides
    whether work done on a file is still good (the image cache keys on the same two figures)."""
    try:
        st = os.stat(path)
    except OSError:
        return "missing"
    return f"{st.st_size}:{st.st_mtime_ns}"
