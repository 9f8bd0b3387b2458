"""The intra-source balanced subset: every kept source gives both classes in equal numbers."""

from __future__ import annotations

import numpy as np

from cxr_isi.data.manifest import Manifest
from cxr_isi.errors import ManifestError


def balance_sources(manifest: Manifest, seed: int = 0) -> Manifest:
    """Within each source keep all of the smaller class and as many of the larger, drawn at random.

    Single-class sources are dropped (nothing in them can be balanced). The draw is seeded, and
    the result's audit is ``balanced`` by construction (Cramér's V 0, no single-class source).

    Parameters
    ----------
    manifest : Manifest
        With a label mapping attached.
    seed : int

    Returns
    -------
    Manifest
        The intra-source balanced subset (sources with one class are left out).
    """
    y = manifest.y
    frame = manifest.frame
    rng = np.random.default_rng(seed)
    keep: list[int] = []
    for source in sorted(frame["source"].astype(str).unique()):
        rows = np.flatnonzero(frame["source"].astype(str).to_numpy() == source)
        pos, neg = rows[y[rows] == 1], rows[y[rows] == 0]
        n = min(len(pos), len(neg))
        if n == 0:
            continue
        keep += rng.choice(pos, n, replace=False).tolist() + rng.choice(neg, n, replace=False).tolist()
    if not keep:
        raise ManifestError(
            f"{manifest.origin}: every source gives a single class; no intra-source balanced "
            "subset exists"
        )
    return manifest.with_frame(frame.iloc[sorted(keep)])
