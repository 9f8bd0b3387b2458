"""How cost grows with the dataset: the audit on 10k, 100k and 1M manifest rows (target: 1M in
<= 60 s) and the near-duplicate pair search on 10k, 100k and 1M hashes (the exact all-pairs
search against the multi-index one, which must return the same pairs). Each series ends with
the slope of log time against log n (1 = linear, 2 = quadratic).

``CXR_ISI_BENCH_MAX`` caps the largest n (default 1,000,000).
"""

from __future__ import annotations

import os
import resource
import time

import numpy as np
import pandas as pd

from cxr_isi.audit import audit_manifest
from cxr_isi.audit.duplicates import multi_index_pairs
from cxr_isi.data import LabelMapping, Manifest

SIZES = [n for n in (10_000, 100_000, 1_000_000) if n <= int(os.environ.get("CXR_ISI_BENCH_MAX", 1_000_000))]


def _manifest(n: int, seed: int = 0) -> pd.DataFrame:
    """20 sources whose positive share rises from 20% to 77%, three images per patient."""
    rng = np.random.default_rng(seed)
    src = rng.integers(0, 20, n)
    return pd.DataFrame({"path": [f"/data/{i}.png" for i in range(n)],
                         "label": np.where(rng.random(n) < 0.2 + 0.03 * src, "covid", "normal"),
                         "source": [f"s{s}" for s in src], "patient_id": [f"p{i // 3}" for i in range(n)],
                         "view": rng.choice(["PA", "AP"], n)})


def _hashes(n: int, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    h = rng.integers(0, 2**63, n, dtype=np.int64).astype(np.uint64) << np.uint64(1)
    for _ in range(n // 100):  # 1% planted near-duplicates at 0 to 6 bits
        a, b = rng.integers(0, n, 2)
        h[b] = h[a] ^ np.uint64(sum(1 << int(x) for x in rng.choice(64, rng.integers(0, 7), replace=False)))
    return h


def _exact(h: np.ndarray, d: int, block: int = 2048) -> np.ndarray:
    from cxr_isi.audit.duplicates import EXACT_SEARCH_MAX, candidate_pairs

    if len(h) <= EXACT_SEARCH_MAX:
        return candidate_pairs(h, d, block)
    import cxr_isi.audit.duplicates as dup

    keep, dup.EXACT_SEARCH_MAX = dup.EXACT_SEARCH_MAX, len(h)  # force the all-pairs search
    try:
        return candidate_pairs(h, d, block)
    finally:
        dup.EXACT_SEARCH_MAX = keep


def _slope(ns: list[int], ts: list[float]) -> str:
    if len(ns) < 2:
        return ""
    return f"slope {np.polyfit(np.log(ns), np.log(ts), 1)[0]:.2f}"


def run():
    rows = []
    times = []
    warm = Manifest.from_frame(_manifest(3000)).with_labels(LabelMapping(positive=["covid"], negative=["normal"]))
    audit_manifest(warm, read_files=False)  # imports and first calls out of the timings
    for n in SIZES:
        frame = _manifest(n)
        t0 = time.perf_counter()
        m = Manifest.from_frame(frame).with_labels(LabelMapping(positive=["covid"], negative=["normal"]))
        audit_manifest(m, read_files=False)
        times.append(time.perf_counter() - t0)
        peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        rows.append({"case": f"audit, {n:,} rows (manifest only, --no-files)", "value": times[-1], "unit": "s (audit)",
                     "baseline": n == SIZES[0], "note": f"peak RSS {peak:,.0f} MiB so far"
                     + ("; " + _slope(SIZES, times) if n == SIZES[-1] else "")})
    exact_t, multi_t, ns = [], [], []
    for n in SIZES:
        h = _hashes(n)
        t0 = time.perf_counter()
        multi = multi_index_pairs(h, 6)
        multi_t.append(time.perf_counter() - t0)
        ns.append(n)
        note = ""
        if n <= 100_000:
            t0 = time.perf_counter()
            exact = _exact(h, 6)
            exact_t.append(time.perf_counter() - t0)
            exact = exact[np.lexsort((exact[:, 1], exact[:, 0]))]
            note = "same pairs as exact" if np.array_equal(exact, multi) else "PAIRS DIFFER"
            rows.append({"case": f"pair search, exact all-pairs, {n:,} hashes", "value": exact_t[-1],
                         "unit": "s (search)", "baseline": n == SIZES[0],
                         "note": _slope(ns, exact_t) if n == 100_000 else ""})
        slope = _slope(ns, multi_t) if n == SIZES[-1] else ""
        rows.append({"case": f"pair search, multi-index, {n:,} hashes ({len(multi):,} pairs)", "value": multi_t[-1],
                     "unit": "s (search)", "note": "; ".join(x for x in (note, slope) if x)})
    return "Cost growth: audit and duplicate search", rows
