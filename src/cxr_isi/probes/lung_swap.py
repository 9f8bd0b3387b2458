"""Probe 3, a causal test: does the model follow the frame or the lungs?

For pairs of test images of opposite labels, the lungs of one (its union box content, scaled to
the other image's box, pasted under the lungs of both with feathered edges) go into the frame of
the other, and the model trained on original images scores the result. A swapped image "follows
the frame" when its score is closer to the frame donor's own score than to the lung donor's.
Only pairs the model tells apart (their scores at least ``MARGIN`` apart) count. Rates carry
Wilson intervals.

Control: swaps between two images of the same label must leave the score near where it was
(the mean shift is reported): a model disturbed by the pasting itself would fail it.
"""

from __future__ import annotations

import numpy as np
from scipy import ndimage

from cxr_isi.evaluate.metrics import mean_ci, proportion_ci
from cxr_isi.probes.base import ProbeInput, ProbeResult, fmt_ci, images_and_masks

NAME = "lung_swap"
MEASURE = "share of lung swaps whose score follows the frame, not the lungs"
MARGIN = 0.2
CONTROL_SHIFT = 0.05  # same-label swaps may move the mean score this much
VERSION = 3
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
    """Up to ``n`` index pairs (i from ``a``, j from ``b``), each image used about equally."""
    if not len(a) or not len(b):
        return []
    out: list[tuple[int, int]] = []
    ia, ib = rng.permutation(a), rng.permutation(b)
    k = 0
    while len(out) < n and k < 4 * n:
        i, j = ia[k % len(ia)], ib[(k + k // max(len(ia), 1)) % len(ib)]
        k += 1
        if distinct and i == j:
            continue
        out.append((int(i), int(j)))
    return out


def run(inp: ProbeInput) -> ProbeResult:
    from cxr_isi.explain.base import model_scores
    from cxr_isi.train.loop import load_classifier

    if "original" not in inp.checkpoints:
        return ProbeResult.not_applicable(NAME, inp.dataset, MEASURE, "No single-split model trained on the "
                                          "original images to swap lungs for.")
    m = inp.manifest
    test = m.with_frame(m.frame[m.frame["split"] == "test"]) if "split" in m.frame.columns else m
    paths, images, masks = images_and_masks(test, inp.size, inp.resize)
    if len(paths) < 4:
        return ProbeResult.not_applicable(NAME, inp.dataset, MEASURE, "Too few test images with lung masks.")
    y = test.frame.assign(_y=test.y).set_index("path").loc[paths, "_y"].to_numpy()
    model, _, _ = load_classifier(inp.checkpoints["original"])
    base = model_scores(model, images)
    rng = np.random.default_rng(inp.seed)
    n_pairs = int(inp.settings.get("swap_pairs", 48))
    pos, neg = np.flatnonzero(y == 1), np.flatnonzero(y == 0)
    told_apart = [(i, j) for i, j in _pairs(pos, neg, 4 * n_pairs, rng) if base[i] - base[j] >= MARGIN][:n_pairs]
    swaps = [(f, lu) for i, j in told_apart for f, lu in ((i, j), (j, i))]  # (frame, lungs)
    same = (_pairs(pos, pos, n_pairs // 2, rng, distinct=True) + _pairs(neg, neg, n_pairs // 2, rng, distinct=True))
    if not swaps:
        return ProbeResult.not_applicable(NAME, inp.dataset, MEASURE, "The original-trained model tells no "
                                          f"test pair of opposite labels apart by {MARGIN} or more.")
    made = np.stack([swap_lungs(images[f], masks[f], images[lu], masks[lu]) for f, lu in swaps + same])
    scores = model_scores(model, made)
    s_swap, s_same = scores[: len(swaps)], scores[len(swaps):]
    follows_frame = np.array([abs(s - base[f]) < abs(s - base[lu]) for s, (f, lu) in zip(s_swap, swaps, strict=True)])
    frame = proportion_ci(int(follows_frame.sum()), len(swaps))
    lungs = proportion_ci(int((~follows_frame).sum()), len(swaps))
    shift = mean_ci([float(s - base[f]) for s, (f, _) in zip(s_same, same, strict=True)]) if same else None
    control = (f"same-label swaps moved the score by {shift['mean']:+.3f} on average "
               f"(mean absolute {np.mean(np.abs(s_same - base[[f for f, _ in same]])):.3f})") if shift else ""
    figure = _figure(inp, images, swaps[:4], made[:4], base, s_swap[:4], y)
    if frame["ci_low"] > 0.5:
        reading = "the model reads the frame: what is outside the lungs decides its score"
    elif frame["ci_high"] < 0.5:
        reading = "the model reads the lungs: the pasted lungs carry the score"
    else:
        reading = "neither the frame nor the lungs alone decides the score"
    if shift and abs(shift["mean"]) > CONTROL_SHIFT:
        reading += (f"; but the control failed (same-label swaps moved the score by {shift['mean']:+.3f}): the "
                    "pasting itself moves this model, so read these rates with care")
        control = ""
    sentence = (f"Lungs swapped between {len(told_apart)} pairs of opposite labels: {frame['rate']:.0%} of "
                f"{len(swaps)} swapped images follow the frame (95% CI {frame['ci_low']:.2f}-{frame['ci_high']:.2f}), "
                f"{lungs['rate']:.0%} the lungs: {reading}" + (f"; {control}." if control else "."))
    return ProbeResult(NAME, inp.dataset, MEASURE, frame["rate"], frame["ci_low"], frame["ci_high"], len(swaps),
                       None, sentence, figure=figure,
                       details={"frame_following": frame, "lung_following": lungs, "pairs": len(told_apart),
                                "same_label_shift": shift,
                                "same_label_abs_shift": float(np.mean(np.abs(s_same - base[[f for f, _ in same]])))
                                if same else None,
                                "lung_following_text": fmt_ci(lungs["rate"], lungs["ci_low"], lungs["ci_high"])})


def _figure(inp: ProbeInput, images, swaps, made, base, scores, y) -> str | None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    if not swaps:
        return None
    word = {1: "positive", 0: "negative"}
    fig, axes = plt.subplots(3, len(swaps), figsize=(2.3 * len(swaps), 7.2), squeeze=False)
    for k, ((f, lu), img, s) in enumerate(zip(swaps, made, scores, strict=True)):
        for r, (pic, title) in enumerate(((images[f], f"frame: {word[int(y[f])]}\nscore {base[f]:.2f}"),
                                          (images[lu], f"lungs: {word[int(y[lu])]}\nscore {base[lu]:.2f}"),
                                          (img, f"swapped\nscore {s:.2f}"))):
            ax = axes[r, k]
            ax.imshow(pic, cmap="gray", vmin=0, vmax=1)
            ax.set_title(title, fontsize=9)
            ax.axis("off")
    import textwrap

    title = f"{inp.title}: lungs of one image in the frame of another (model trained on original)"
    fig.suptitle("\n".join(textwrap.wrap(title, 30 * len(swaps))), fontsize=10)
    fig.tight_layout()
    inp.out_dir.mkdir(parents=True, exist_ok=True)
    out = inp.out_dir / "lung_swap.png"
    fig.savefig(out, dpi=90)
    plt.close(fig)
    return str(out)
