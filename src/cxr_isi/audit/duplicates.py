"""Near-duplicate radiographs within and across sources, and across train/test.

Candidates come from perceptual hashes (``imagehash.phash``, 64 bits) compared by Hamming
distance; each candidate is confirmed by the Pearson correlation of 16 x 16 thumbnails, which
removes look-alike pairs (two healthy children's chests) that a hash alone lets through. Images
are read once from the cache at 64 x 64 (squeezed, so the same radiograph saved at two aspect
ratios still matches).
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from PIL import Image

from cxr_isi.data.cache import ImageCache
from cxr_isi.data.manifest import Manifest
from cxr_isi.progress import progress_bar

HASH_SIZE = 64  # cached square the fingerprints come from
THUMB = 16


def fingerprints(images: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Packed 64-bit perceptual hashes and unit-norm centred thumbnails of uint8 squares.

    Parameters
    ----------
    images : array (N, S, S) of uint8

    Returns
    -------
    (array (N,) of uint64, array (N, D) of float32)
    """
    import imagehash

    hashes = np.empty(len(images), dtype=np.uint64)
    thumbs = np.empty((len(images), THUMB * THUMB), dtype=np.float32)
    for i, img in enumerate(images):
        pil = Image.fromarray(np.asarray(img))
        bits = imagehash.phash(pil).hash.ravel()
        hashes[i] = np.packbits(bits).view(">u8")[0]
        t = np.asarray(pil.resize((THUMB, THUMB), Image.Resampling.BOX), dtype=np.float32).ravel()
        t -= t.mean()
        thumbs[i] = t / (np.linalg.norm(t) or 1.0)
    return hashes, thumbs


EXACT_SEARCH_MAX = 20_000  # above this many hashes the multi-index search replaces the all-pairs one


def candidate_pairs(hashes: np.ndarray, max_distance: int, block: int = 2048) -> np.ndarray:
    """All pairs i < j whose hashes differ in at most ``max_distance`` bits: the exact all-pairs
    search (blocked, O(N^2/2)) up to :data:`EXACT_SEARCH_MAX` hashes, the multi-index search
    (:func:`multi_index_pairs`, the same pairs) above.

    Parameters
    ----------
    hashes : array (N,) of uint64
    max_distance : int
        Most bits that may differ.
    block : int
        Rows compared at once (memory).

    Returns
    -------
    array (M, 2) of int
    """
    if len(hashes) > EXACT_SEARCH_MAX:
        return multi_index_pairs(hashes, max_distance)
    out = []
    n = len(hashes)
    for start in range(0, n, block):
        rows = hashes[start : start + block]
        dist = np.bitwise_count(rows[:, None] ^ hashes[None, start:])
        i, j = np.nonzero(dist <= max_distance)
        j = j + start
        i = i + start
        keep = j > i
        out.append(np.stack([i[keep], j[keep]], axis=1))
    return np.concatenate(out) if out else np.empty((0, 2), dtype=np.int64)


def multi_index_pairs(hashes: np.ndarray, max_distance: int, bands: int = 4, chunk: int = 20_000) -> np.ndarray:
    """The pairs of :func:`candidate_pairs` without comparing all pairs (Norouzi et al.'s
    multi-index hashing, written here because neither scikit-learn nor imagehash searches
    packed Hamming codes): the 64 bits are cut into ``bands`` bands; two hashes within
    ``max_distance`` bits differ in at most ``max_distance // bands`` bits in some band
    (pigeonhole), so each hash looks up, in each band's sorted table, the keys within that many
    bits of its own, and only those candidates are compared in full.

    Parameters
    ----------
    hashes : array (N,) of uint64
    max_distance : int
    bands : int
        Bands of ``64 // bands`` bits (4: 16-bit keys).
    chunk : int
        Hashes whose candidates are compared at once (memory).

    Returns
    -------
    array (M, 2) of int, sorted, ``i < j``
    """
    from itertools import combinations

    n, width = len(hashes), 64 // bands
    radius = max_distance // bands
    flips = np.array([sum(1 << b for b in bits) for r in range(radius + 1)
                      for bits in combinations(range(width), r)], dtype=np.uint64)
    mask = np.uint64((1 << width) - 1)
    tables = []
    for b in range(bands):
        keys = (hashes >> np.uint64(b * width)) & mask
        order = np.argsort(keys, kind="stable")
        tables.append((keys, order, keys[order]))
    out = []
    for start in range(0, n, chunk):
        rows = np.arange(start, min(start + chunk, n))
        found = []
        for keys, order, sorted_keys in tables:
            for flip in flips:
                wanted = keys[rows] ^ flip
                lo = np.searchsorted(sorted_keys, wanted, side="left")
                hi = np.searchsorted(sorted_keys, wanted, side="right")
                counts = hi - lo
                if not counts.any():
                    continue
                i = np.repeat(rows, counts)
                offsets = np.arange(counts.sum()) - np.repeat(np.cumsum(counts) - counts, counts)
                j = order[np.repeat(lo, counts) + offsets]
                keep = j > i
                i, j = i[keep], j[keep]
                near = np.bitwise_count(hashes[i] ^ hashes[j]) <= max_distance
                found.append(i[near].astype(np.int64) * n + j[near])
        if found:
            out.append(np.unique(np.concatenate(found)))
    codes = np.concatenate(out) if out else np.empty(0, dtype=np.int64)
    return np.stack([codes // n, codes % n], axis=1) if len(codes) else np.empty((0, 2), dtype=np.int64)


def find_near_duplicates(manifest: Manifest, cache_root=None, *, max_distance: int = 6,
                         min_correlation: float = 0.97, jobs: int | None = None,
                         progress: bool = False) -> tuple[pd.DataFrame, list[tuple[str, str]]]:
    """Pairs of near-identical images, with what makes each pair a problem.

    Returns the pairs (``path_a, path_b, hash_distance, correlation``, both rows' source,
    patient, label and split, and the flags ``across_sources``, ``across_patients``,
    ``label_conflict``, ``across_split``) and the files that could not be read.

    Parameters
    ----------
    manifest : Manifest
    cache_root : path, optional
    max_distance : int
        Hash bits that may differ for a candidate pair.
    min_correlation : float
        Thumbnail correlation that confirms a pair.
    jobs : int, optional
    progress : bool

    Returns
    -------
    (DataFrame, list of (str, str))
        The pairs with their problems; files that could not be read.
    """
    cache = ImageCache(cache_root, size=HASH_SIZE, resize="squeeze")
    report = cache.update(manifest.paths, jobs=jobs, progress=progress)
    images = cache.open()
    frame = manifest.frame
    slots = images.slots(manifest.paths)
    ok = np.flatnonzero(slots >= 0)
    with progress_bar(progress) as bar:
        task = bar.add_task("hashing", total=1)
        hashes, thumbs = fingerprints(images.array[slots[ok]])
        bar.advance(task)
    pairs = candidate_pairs(hashes, max_distance)
    corr = np.einsum("ij,ij->i", thumbs[pairs[:, 0]], thumbs[pairs[:, 1]]) if len(pairs) else np.empty(0)
    keep = corr >= min_correlation
    pairs, corr = pairs[keep], corr[keep]
    dist = np.bitwise_count(hashes[pairs[:, 0]] ^ hashes[pairs[:, 1]]) if len(pairs) else np.empty(0)
    a, b = ok[pairs[:, 0]], ok[pairs[:, 1]]
    result = pd.DataFrame({"path_a": frame["path"].to_numpy()[a], "path_b": frame["path"].to_numpy()[b],
                           "hash_distance": dist.astype(int), "correlation": np.round(corr, 4)})
    cols = ["source", "patient_id", "label"] + (["split"] if "split" in frame.columns else [])
    for col in cols:
        result[f"{col}_a"] = frame[col].to_numpy()[a]
        result[f"{col}_b"] = frame[col].to_numpy()[b]
    result["across_sources"] = result["source_a"] != result["source_b"]
    result["across_patients"] = result["patient_id_a"] != result["patient_id_b"]
    result["label_conflict"] = result["label_a"] != result["label_b"]
    if "split" in frame.columns:
        sa, sb = result["split_a"], result["split_b"]
        result["across_split"] = (sa != sb) & (sa != "") & (sb != "")
    else:
        result["across_split"] = False
    result = result.sort_values(["hash_distance", "correlation"], ascending=[True, False])
    return result.reset_index(drop=True), report.failures


def find_overlap(train: Manifest, test: Manifest, cache_root=None, *, max_distance: int = 6,
                 min_correlation: float = 0.97, progress: bool = False) -> pd.DataFrame:
    """The images of ``test`` that ``train`` also holds: the same file, the same BIDS subject
    and session (both manifests carry ``session``: QaTa-COV19's BIMCV-derived images and
    BIMCV-COVID19+), or a near-identical image (:func:`find_near_duplicates` over both).

    Datasets compiled from public collections overlap (QaTa-COV19's positives include BIMCV+
    images), so a cross-dataset test must leave these out or it scores images the model trained
    on.

    Parameters
    ----------
    train, test : Manifest
    cache_root : path, optional
    max_distance, min_correlation : int, float
        As in :func:`find_near_duplicates`.
    progress : bool

    Returns
    -------
    DataFrame
        One row per overlapping test image: ``path`` (in ``test``), ``twin`` (in ``train``),
        ``how``; sorted by ``path``.
    """
    a, b = train.frame, test.frame
    found: dict[str, tuple[str, str]] = {}
    for p in sorted(set(a["path"]) & set(b["path"])):
        found[p] = (p, "same file")
    if "session" in a.columns and "session" in b.columns:
        key_a = {(pid, ses): p for pid, ses, p in zip(a["patient_id"], a["session"].astype(str), a["path"],
                                                     strict=True) if ses and ses != "nan"}
        for pid, ses, p in zip(b["patient_id"], b["session"].astype(str), b["path"], strict=True):
            if p not in found and (pid, ses) in key_a:
                found[p] = (key_a[(pid, ses)], f"same BIDS subject and session ({pid}, {ses})")
    both = pd.concat([a.assign(_side="train"), b[~b["path"].isin(a["path"])].assign(_side="test")],
                     ignore_index=True)
    union = Manifest.from_frame(both[["path", "label", "source", "patient_id", "_side"]],
                                origin=f"{train.origin} + {test.origin}")
    pairs, _ = find_near_duplicates(union, cache_root, max_distance=max_distance,
                                    min_correlation=min_correlation, progress=progress)
    side = dict(zip(union.frame["path"], union.frame["_side"], strict=True))
    for r in pairs.itertuples(index=False):
        sa, sb = side[r.path_a], side[r.path_b]
        if sa == sb:
            continue
        p, twin = (r.path_a, r.path_b) if sa == "test" else (r.path_b, r.path_a)
        if p not in found:
            found[p] = (twin, f"near-identical image (hash distance {r.hash_distance}, "
                              f"correlation {r.correlation:.4f})")
    rows = [{"path": p, "twin": t, "how": h} for p, (t, h) in sorted(found.items())]
    return pd.DataFrame(rows, columns=["path", "twin", "how"])
