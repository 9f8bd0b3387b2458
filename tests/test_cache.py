import os

import numpy as np
import pytest

from cxr_isi.data.cache import ImageCache, load_for_cache
from cxr_isi.errors import CxrIsiError
from tests.conftest import gradient, write_png


def _paths(tmp_path, n=10):
    return [str(write_png(tmp_path / f"i{k}.png", gradient(30 + k, 50, seed=k))) for k in range(n)]


def test_build_read_and_reuse(tmp_path):
    paths = _paths(tmp_path)
    cache = ImageCache(tmp_path / "c", size=32, resize="pad")
    rep = cache.update(paths, jobs=1, progress=False)
    assert (rep.n_built, rep.n_reused, rep.failures) == (10, 0, [])
    images = cache.open()
    for p in paths:
        expect, _ = load_for_cache(p, 32, "pad", "image")
        np.testing.assert_array_equal(images.get(p), expect)
        assert images.get(p).dtype == np.uint8
    assert isinstance(images.array, np.memmap)
    again = cache.update(paths, jobs=1, progress=False)
    assert (again.n_built, again.n_reused) == (0, 10)
    meta = (cache.dir / "meta.json").read_text()
    assert '"resize": "pad"' in meta and '"size": 32' in meta


def test_changed_file_rebuilds_only_itself(tmp_path):
    paths = _paths(tmp_path)
    cache = ImageCache(tmp_path / "c", size=24)
    cache.update(paths, jobs=1, progress=False)
    before = cache.open().get(paths[1]).copy()
    slot_before = cache.open().slots([paths[3]])[0]
    write_png(tmp_path / "i3.png", gradient(64, 64, seed=99))
    st = os.stat(paths[3])
    os.utime(paths[3], ns=(st.st_atime_ns, st.st_mtime_ns + 10_000_000))
    rep = cache.update(paths + [str(write_png(tmp_path / "new.png", gradient(20, 20)))],
                       jobs=1, progress=False)
    assert (rep.n_built, rep.n_reused) == (2, 9)
    images = cache.open()
    assert images.slots([paths[3]])[0] == slot_before  # rewritten in place
    np.testing.assert_array_equal(images.get(paths[3]), load_for_cache(paths[3], 24, "pad", "image")[0])
    np.testing.assert_array_equal(images.get(paths[1]), before)


def test_sizes_and_modes_are_separate_caches(tmp_path):
    paths = _paths(tmp_path, 3)
    a = ImageCache(tmp_path / "c", size=16, resize="pad")
    b = ImageCache(tmp_path / "c", size=16, resize="squeeze")
    a.update(paths, jobs=1, progress=False)
    rep = b.update(paths, jobs=1, progress=False)
    assert rep.n_built == 3 and a.dir != b.dir
    assert not np.array_equal(a.open().get(paths[0]), b.open().get(paths[0]))


def test_bad_image_in_batch_is_reported_and_skipped(tmp_path):
    paths = _paths(tmp_path, 6)
    data = open(paths[0], "rb").read()
    bad = tmp_path / "trunc.png"
    bad.write_bytes(data[:40])
    empty = tmp_path / "zero.png"
    empty.write_bytes(b"")
    cache = ImageCache(tmp_path / "c", size=16)
    rep = cache.update(paths[:3] + [str(bad), str(empty)] + paths[3:], jobs=2, progress=False, chunk=2)
    assert rep.n_built == 6 and len(rep.failures) == 2
    assert {os.path.basename(p) for p, _ in rep.failures} == {"trunc.png", "zero.png"}
    assert all("trunc.png" in why or "zero.png" in why for _, why in rep.failures)
    images = cache.open()
    assert (images.slots(paths) >= 0).all() and images.slots([str(bad)])[0] == -1
    with pytest.raises(CxrIsiError, match="trunc.png: not in the cache"):
        images.get(str(bad))


def test_parallel_build_equals_serial_and_resumes(tmp_path):
    paths = _paths(tmp_path, 12)
    serial = ImageCache(tmp_path / "s", size=20)
    serial.update(paths, jobs=1, progress=False)
    par = ImageCache(tmp_path / "p", size=20)
    par.update(paths[:5], jobs=2, progress=False)  # an "interrupted" build
    rep = par.update(paths, jobs=2, progress=False, chunk=3)
    assert (rep.n_built, rep.n_reused) == (7, 5)
    s, p = serial.open(), par.open()
    for path in paths:
        np.testing.assert_array_equal(s.get(path), p.get(path))


def test_masks_are_binary(tmp_path):
    m = np.zeros((40, 40), np.uint8)
    m[5:30, 8:20] = 255
    path = str(write_png(tmp_path / "m.png", m))
    cache = ImageCache(tmp_path / "c", size=20, kind="mask")
    cache.update([path], jobs=1, progress=False)
    assert set(np.unique(cache.open().get(path))) == {0, 255}


def test_bad_arguments_and_empty_cache(tmp_path):
    with pytest.raises(CxrIsiError, match="unknown resize mode"):
        ImageCache(tmp_path, size=32, resize="stretch")
    with pytest.raises(CxrIsiError, match="cache is empty"):
        ImageCache(tmp_path, size=32).open()
    rep = ImageCache(tmp_path, size=32).update([], progress=False)
    assert (rep.n_built, rep.n_reused, rep.failures) == (0, 0, [])
