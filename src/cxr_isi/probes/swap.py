"""The lung swap, a causal test on any scorer: does the model follow the frame or the lungs?

For pairs of test images of opposite labels, the lungs of one (its union box content, scaled to
the other image's box, pasted under the lungs of both with feathered edges) go into the frame of
the other, and the model trained on original images scores the result. A swapped image "follows
the frame" when its score is closer to the frame donor's own score than to the lung donor's.
Only pairs the model tells apart (their scores at least ``MARGIN`` apart) count, and no pair is
drawn twice. Rates carry Wilson intervals that count distinct images, not swaps (an image serves
in several swaps): a handful of test images cannot give a confident reading.

Control: swaps between two images of the same label must leave the score near where it was
(the mean shift is reported): a model disturbed by the pasting itself would fail it.

Second control, where two sources of one label differ in how often they are positive: lungs
carry their source's style (exposure, noise, texture), so "follows the lungs" can be the source
inside them. Same-label swaps between such sources must not move the score toward the donor
source's usual label; where they do (interval above zero), the reading says so. Where every
source gives one class, no such pair exists and the source inside the lungs cannot be told from
the label: the reading says that too.

The core (:func:`swap_test`) takes any scoring function, so ``cxr-isi judge`` runs the same test on
a model trained elsewhere; :mod:`cxr_isi.probes.evidence` runs it for every caller, and the
study's probe (:mod:`cxr_isi.probes.lung_swap`) reports it.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from scipy import ndimage

from cxr_isi.evaluate.metrics import mean_ci, proportion_ci
from cxr_isi.evaluate.text import interval_text
from cxr_isi.probes.base import ProbeResult

NAME = "lung_swap"
MEASURE = "share of lung swaps whose score follows the frame, not the lungs"
MARGIN = 0.2
CONTROL_SHIFT = 0.05  # same-label swaps may move the mean score this much
SOURCE_SHIFT = 0.05  # the mean signed shift toward the lung donor's source that counts
SOURCE_GAP = 0.2  # two sources' shares of positives must differ this much to give the shift a direction
MIN_IMAGES = 10  # distinct images the swaps must draw on before their reading may decide anything
FEATHER = 1.5  # pixels of Gaussian blur on the pasted region's edge


def _box(mask: np.ndarray) -> tuple[int, int, int, int]:
    rows, cols = np.flatnonzero(mask.any(1)), np.flatnonzero(mask.any(0))
    return int(rows[0]), int(rows[-1]) + 1, int(cols[0]), int(cols[-1]) + 1


def swap_lungs(frame_image: np.ndarray, frame_mask: np.ndarray, lung_image: np.ndarray,
               lung_mask: np.ndarray, feather: float = FEATHER) -> np.ndarray:
    """``frame_image`` with its lungs replaced by those of ``lung_image``.

    The lung donor's union box content is scaled to the frame's union box and blended in where
    either image has lung (the frame's own lungs are covered; the donor's lungs come in whole),
    the blend weight blurred by ``feather`` pixels so no hard edge is left to read.

    Parameters
    ----------
    frame_image, lung_image : (H, W) float arrays in [0, 1]
    frame_mask, lung_mask : (H, W) boolean arrays, non-empty

    Returns
    -------
    (H, W) float32 array
    """
    fy0, fy1, fx0, fx1 = _box(frame_mask)
    ly0, ly1, lx0, lx1 = _box(lung_mask)
    crop = lung_image[ly0:ly1, lx0:lx1].astype(np.float32)
    crop_mask = lung_mask[ly0:ly1, lx0:lx1].astype(np.float32)
    zoom = ((fy1 - fy0) / crop.shape[0], (fx1 - fx0) / crop.shape[1])
    pasted = ndimage.zoom(crop, zoom, order=1, grid_mode=True, mode="nearest")[: fy1 - fy0, : fx1 - fx0]
    pasted_mask = ndimage.zoom(crop_mask, zoom, order=1, grid_mode=True, mode="nearest")[: fy1 - fy0, : fx1 - fx0]
    content = np.array(frame_image, dtype=np.float32, copy=True)
    region = np.zeros_like(content)
    h, w = pasted.shape
    content[fy0 : fy0 + h, fx0 : fx0 + w] = pasted
    region[fy0 : fy0 + h, fx0 : fx0 + w] = pasted_mask > 0.5
    region = np.maximum(region, ndimage.binary_dilation(frame_mask, iterations=1))  # the frame's own lungs
    alpha = np.clip(ndimage.gaussian_filter(region, feather), 0, 1) if feather > 0 else region
    return (alpha * content + (1 - alpha) * frame_image).astype(np.float32)


def _pairs(a: np.ndarray, b: np.ndarray, n: int, rng: np.random.Generator, distinct: bool = False):
    """Up to ``n`` distinct index pairs (i from ``a``, j from ``b``), each image used about
    equally; never a pair twice (a repeated pair is not new evidence), so few images give few
    pairs."""
    if not len(a) or not len(b):
        return []
    out: list[tuple[int, int]] = []
    seen: set[tuple[int, int]] = set()
    ia, ib = rng.permutation(a), rng.permutation(b)
    for k in range(len(ia) * len(ib)):
        if len(out) >= n:
            break
        pair = (int(ia[k % len(ia)]), int(ib[(k + k // len(ia)) % len(ib)]))
        if pair in seen or (distinct and pair[0] == pair[1]):
            continue
        seen.add(pair)
        out.append(pair)
    if len(out) < n:  # the walk above can revisit a pair; the rest of the product, in a seeded order
        rest = [(int(i), int(j)) for i in ia for j in ib if (int(i), int(j)) not in seen and not (distinct and i == j)]
        out += [rest[i] for i in rng.permutation(len(rest))[: n - len(out)]]
    return out


def _clustered_rate(hits: np.ndarray, swaps: list[tuple[int, int]]) -> dict:
    """The share of ``hits`` among the swaps, its Wilson interval counting distinct images, not
    swaps: every image serves in several swaps (as frame and as lungs), so the swaps are not
    independent and counting them would make the interval too narrow (4 images gave 96 swaps).
    ``n`` stays the number of swaps; ``n_images`` is what the interval counts."""
    k, n = int(hits.sum()), len(hits)
    images = len({i for pair in swaps for i in pair})
    n_eff = min(n, images)
    ci = proportion_ci(int(round(k / n * n_eff)), n_eff)
    return {**ci, "rate": k / n, "k": k, "n": n, "n_images": images}


def swap_test(score, images: np.ndarray, masks: np.ndarray, y: np.ndarray, *, seed: int = 0,
              n_pairs: int = 48, sources: np.ndarray | None = None, base: np.ndarray | None = None) -> dict | None:
    """The lung swap on any model: ``score`` maps gray images ``(N, H, W)`` to positive-class
    probabilities (a :class:`~cxr_isi.models.scorer.Scorer`'s ``score``, whatever made the model).

    Returns None when the model tells no pair of opposite labels apart by :data:`MARGIN`. Else a
    dict: ``frame_following`` and ``lung_following`` (Wilson rates), ``pairs``, the same-label
    control (``same_label_shift``, ``same_label_abs_shift``, ``control_passed``), the swaps and
    scores for a figure, and ``source_in_lungs``: same-label swaps between sources whose shares of
    positives differ. Lungs carry their source's style too: a model that "follows the lungs" may
    follow the source inside them; then the score moves toward the lung donor's source (the shift
    signed by that source's lead, with a t interval). None where no two sources of a label differ
    by :data:`SOURCE_GAP` (each source single-class, or all alike): there the source inside the lungs
    cannot be told from the label. ``base``: the images' own probabilities where the caller has
    them already (they are not scored again).
    """
    base = np.asarray(score(images) if base is None else base, dtype=float)  # given: the caller scored them
    rng = np.random.default_rng(seed)
    pos, neg = np.flatnonzero(y == 1), np.flatnonzero(y == 0)
    told_apart = [(i, j) for i, j in _pairs(pos, neg, 4 * n_pairs, rng) if base[i] - base[j] >= MARGIN][:n_pairs]
    swaps = [(f, lu) for i, j in told_apart for f, lu in ((i, j), (j, i))]  # (frame, lungs)
    same = (_pairs(pos, pos, n_pairs // 2, rng, distinct=True) + _pairs(neg, neg, n_pairs // 2, rng, distinct=True))
    if not swaps:
        return None
    cross, signs = _source_pairs(y, sources, n_pairs, rng) if sources is not None else ([], np.empty(0))
    todo = swaps + same + cross
    scores, made = _score_swaps(score, images, masks, todo, keep=min(4, len(swaps)))
    s_swap, s_same, s_cross = np.split(scores, np.cumsum([len(swaps), len(same)]))
    follows_frame = np.array([abs(s - base[f]) < abs(s - base[lu]) for s, (f, lu) in zip(s_swap, swaps, strict=True)])
    shift = mean_ci([float(s - base[f]) for s, (f, _) in zip(s_same, same, strict=True)], clip=False) if same else None
    abs_same = float(np.mean(np.abs(s_same - base[[f for f, _ in same]]))) if same else None
    return {"frame_following": _clustered_rate(follows_frame, swaps),
            "lung_following": _clustered_rate(~follows_frame, swaps),
            "pairs": len(told_apart), "n_swaps": len(swaps), "same_label_shift": shift,
            "enough_images": len({i for pair in swaps for i in pair}) >= MIN_IMAGES,
            "same_label_abs_shift": abs_same,
            "control_passed": not (shift and abs(shift["mean"]) > CONTROL_SHIFT),
            "source_in_lungs": _source_effect(base, cross, signs, s_cross),
            "swaps": swaps, "made": made, "base": base, "swap_scores": s_swap}


SWAP_CHUNK = 64  # swapped images made and scored at a time: memory stays bounded for any --swap-pairs


def _score_swaps(score, images: np.ndarray, masks: np.ndarray, todo: list[tuple[int, int]],
                 keep: int = 4) -> tuple[np.ndarray, np.ndarray]:
    """Every swap of ``todo`` (frame, lungs) made and scored a chunk at a time; the scores, and the
    first ``keep`` swapped images (for the figure)."""
    scores, first = [], None
    for i in range(0, len(todo), SWAP_CHUNK):
        made = np.stack([swap_lungs(images[f], masks[f], images[lu], masks[lu]) for f, lu in todo[i:i + SWAP_CHUNK]])
        scores.append(np.asarray(score(made), dtype=float))
        if first is None:
            first = made[:keep].copy()
    return np.concatenate(scores), first if first is not None else np.empty((0, *images.shape[1:]), np.float32)


def _source_pairs(y: np.ndarray, sources: np.ndarray, n: int, rng: np.random.Generator):
    """Same-label pairs (frame, lungs) across two sources whose share of positives differs by at
    least :data:`SOURCE_GAP`, about ``n``; with the sign of the lung donor's source's lead."""
    sources = np.asarray(sources).astype(str)
    share = {s: float(y[sources == s].mean()) for s in np.unique(sources)}
    pairs: list[tuple[int, int]] = []
    signs: list[float] = []
    for label in (1, 0):
        idx = np.flatnonzero(y == label)
        names = [s for s in np.unique(sources[idx])]
        apart = [(a, b) for a in names for b in names if abs(share[b] - share[a]) >= SOURCE_GAP]
        if not apart:
            continue
        by = {s: idx[sources[idx] == s] for s in names}
        for _ in range(n // 2):
            a, b = apart[int(rng.integers(len(apart)))]
            pairs.append((int(rng.choice(by[a])), int(rng.choice(by[b]))))
            signs.append(float(np.sign(share[b] - share[a])))
    return pairs, np.array(signs)


def _source_effect(base: np.ndarray, pairs: list, signs: np.ndarray, scores: np.ndarray) -> dict | None:
    """Does the score move toward the lung donor's source? Same label both sides, the donor's
    source more (or less) often positive than the frame's: the shift signed by that lead, its mean
    with a t interval. A model that reads the disease in the lungs has no reason to move either way."""
    if len(pairs) < 4:
        return None
    shift = (scores - base[[f for f, _ in pairs]]) * signs
    ci = mean_ci(shift, clip=False)
    return {"signed_shift": ci["mean"], "ci_low": ci["ci_low"], "ci_high": ci["ci_high"], "n": len(pairs),
            "moves_with_source": bool(ci["ci_low"] > 0 and ci["mean"] >= SOURCE_SHIFT)}


def swap_reading(found: dict) -> str:
    """The swap's reading in words (frame, lungs, or the source inside the lungs), with the
    controls' caveats."""
    frame, effect = found["frame_following"], found["source_in_lungs"]
    if frame["ci_low"] > 0.5:
        reading = "the model reads the frame: what is outside the lungs decides its score"
    elif frame["ci_high"] < 0.5:
        reading = "the model reads the lungs: the pasted lungs carry the score"
        if effect and effect["moves_with_source"]:
            reading += (f"; but lungs from a source of the same label that is more often positive move the score "
                        f"toward positive ({effect['signed_shift']:+.3f}, 95% CI {effect['ci_low']:.3f}-"
                        f"{effect['ci_high']:.3f}): what it reads in the lungs is partly their source's style")
    else:
        reading = "neither the frame nor the lungs alone decides the score"
    shift = found["same_label_shift"]
    if not found["control_passed"]:
        reading += (f"; but the control failed (same-label swaps moved the score by {shift['mean']:+.3f}): the "
                    "pasting itself moves this model, so read these rates with care")
    return reading


def result_of(found: dict, dataset: str, y: np.ndarray, images: np.ndarray, figure_to=None) -> ProbeResult:
    """The :class:`ProbeResult` of a :func:`swap_test` (the study's probe and ``judge`` alike)."""
    frame, lungs, shift = found["frame_following"], found["lung_following"], found["same_label_shift"]
    figure = figure_to(images, found["swaps"][:4], found["made"][:4], found["base"], found["swap_scores"][:4], y) \
        if figure_to else None
    control = (f"same-label swaps moved the score by {shift['mean']:+.3f} on average (mean absolute "
               f"{found['same_label_abs_shift']:.3f})") if shift and found["control_passed"] else ""
    sentence = (f"Lungs swapped between {found['pairs']} pairs of opposite labels: {frame['rate']:.0%} of "
                f"{found['n_swaps']} swapped images follow the frame (95% CI {frame['ci_low']:.2f}-"
                f"{frame['ci_high']:.2f}), {lungs['rate']:.0%} the lungs: {swap_reading(found)}"
                + (f"; {control}." if control else "."))
    details = {k: v for k, v in found.items() if k not in ("swaps", "made", "base", "swap_scores")}
    details["lung_following_text"] = interval_text(lungs["rate"], lungs["ci_low"], lungs["ci_high"])
    return ProbeResult(NAME, dataset, MEASURE, frame["rate"], frame["ci_low"], frame["ci_high"], found["n_swaps"],
                       None, sentence, figure=figure, details=details)


def swap_figure(images, swaps, made, base, scores, y, *, title: str, out_dir: Path) -> str | None:
    """Frame donor, lung donor and the swapped image for up to four swaps, with their scores."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    if not swaps:
        return None
    word = {1: "positive", 0: "negative"}
    fig, axes = plt.subplots(3, len(swaps), figsize=(2.3 * len(swaps), 7.2), squeeze=False)
    for k, ((f, lu), img, s) in enumerate(zip(swaps, made, scores, strict=True)):
        for r, (pic, caption) in enumerate(((images[f], f"frame: {word[int(y[f])]}\nscore {base[f]:.2f}"),
                                          (images[lu], f"lungs: {word[int(y[lu])]}\nscore {base[lu]:.2f}"),
                                          (img, f"swapped\nscore {s:.2f}"))):
            ax = axes[r, k]
            ax.imshow(pic, cmap="gray", vmin=0, vmax=1)
            ax.set_title(caption, fontsize=9)
            ax.axis("off")
    import textwrap

    fig.suptitle("\n".join(textwrap.wrap(title, 30 * len(swaps))), fontsize=10)
    fig.tight_layout()
    out_dir.mkdir(parents=True, exist_ok=True)
    out = out_dir / "lung_swap.png"
    fig.savefig(out, dpi=90)
    plt.close(fig)
    return str(out)
