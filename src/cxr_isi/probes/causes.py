"""Probe 9: what outside the lungs? Named causes a tool can see, each tested as the residual.

Three measures per image at 256 px, each outside the image's own lung box (the union box of its
lung mask: what ``lungs_boxed_out`` hides, the set whose residual the causes are tested as; the
dataset's fixed box would hide the stamps at the film's edge on a set like NIH's, whose fixed
box reaches within a few pixels of the border):

- **burned-in text** (Tesseract OCR, Debian's ``tesseract-ocr`` through ``pytesseract``, sparse
  text mode on the image upscaled to 512 px, greyscale and binarised at 0.85): whether text-like
  words are found (three or more letters or digits at confidence >= 60), where (the image
  quarter of the most confident one),
  and the known marker words (PORTABLE, SUPINE, ERECT, UPRIGHT, AP, PA, L, R, ...). A missing
  Tesseract is one warning saying how to install it; the other measures go on. Its limits: at
  256 px a hospital's small stamp is a few pixels high and often unreadable (on nih256 it read
  PORTABLE on a few images that carry it); single letters (L, R) are rarely read alone.
- **bright foreign objects** (leads, wires, lines, clips): a white top-hat (structures narrower
  than 9 px brighter than their surroundings by 0.25) and the count of its connected blobs of
  2-400 px. Its limits: a rib or clavicle edge, a burned-in letter or a collimator edge can
  count too, and a wire crossing the lungs is hidden by the box; it says "small bright things
  differ", not "these are ECG leads".
- **soft tissue beside the lungs** (body habitus): on the middle fifth of the lungs' rows, the
  width (share of the side) and mean density of the band between each lung's outer edge and the
  body's edge (where the intensity falls below halfway between that band's start and the
  image's darkest 2%). A larger body widens and brightens it; so can a tighter collimation.

Each measure is scored against the label (its AUC with DeLong's 95% interval; its mean or share
by class; the AUC within each source holding both classes, with its interval; the text's place
by its positive rate in the other folds, patient-grouped), then as a candidate for the residual: the
lungs-boxed-out model's AUC within its levels (numeric measures in tertiles), as the
``confounders`` probe does with the audit's properties, and with the same thresholds. A cause
that predicts the label (AUC at least 0.10 from chance) and within whose levels the boxed-out AUC
falls by >= 0.15 to <= 0.70 explains it, and the verdict names it.
"""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import numpy as np
import pandas as pd

from cxr_isi._pool import ProcessPool
from cxr_isi.evaluate.metrics import auc_ci, mean_ci
from cxr_isi.evaluate.text import interval_text
from cxr_isi.logs import get_logger
from cxr_isi.probes.base import Probe, ProbeInput, ProbeResult, boxed_images
from cxr_isi.probes.confounders import CEILING, DROP, WEAK, lowest_within, property_levels, within_level_auc
from cxr_isi.probes.regions import box_pixels

log = get_logger("probes")

NAME = "causes"
MEASURE = "lungs-boxed-out AUC within levels of the named cause that explains most"
VERSION = 2
SIZE = 256
OCR_SIDE = 512  # Tesseract reads letters of 20-30 px best: images are upscaled to this side
OCR_CONFIDENCE = 60
OCR_TIMEOUT_S = 30  # per Tesseract call (about 0.3 s each here): a stuck or wrong binary must not hang the run
TEXT_LEVEL = 0.85
WORDS = ("PORTABLE", "SUPINE", "ERECT", "UPRIGHT", "SEMI", "SITTING", "AP", "PA", "LAT", "L", "R")
TOPHAT, TOPHAT_RISE = 9, 0.25
BLOB_MIN, BLOB_MAX = 2, 400
INSTALL = ("Tesseract OCR is not installed, so burned-in text was not looked for: install it "
           "(Debian/Ubuntu: apt-get install tesseract-ocr; macOS: brew install tesseract) and "
           "pip install pytesseract")
CAUSE_NAMES = {"text_found": "burned-in text", "text_place": "the place of burned-in text (out of fold)",
               "bright_objects": "small bright objects (leads, wires, lines)",
               "soft_tissue_width": "soft-tissue width beside the lungs (body habitus)",
               "soft_tissue_density": "soft-tissue density beside the lungs (body habitus)"}


def tesseract_missing() -> str | None:
    """None when Tesseract and pytesseract can run; else the one line saying how to install."""
    try:
        import pytesseract  # noqa: F401
    except ImportError:
        return INSTALL
    found = shutil.which("tesseract")
    if not found:
        return INSTALL
    import subprocess

    try:  # pytesseract asks the binary its version with no time limit: asked here first, with one
        subprocess.run([found, "--version"], capture_output=True, timeout=OCR_TIMEOUT_S, check=False)
    except (subprocess.TimeoutExpired, OSError) as exc:
        return (f"{found} gives no answer to --version ({type(exc).__name__}): a stuck or wrong tesseract binary; "
                "burned-in text is not read")
    return None


def _word(text: str) -> str:
    return re.sub(r"[^A-Z0-9]", "", text.upper())


def read_text(image: np.ndarray, hidden: np.ndarray) -> list[dict]:
    """The words Tesseract finds in ``image`` (float in [0, 1]) outside ``hidden``: ``word``,
    ``confidence``, ``y``, ``x`` (the word's centre as fractions of the side).

    Two passes, their words merged: the greyscale image, and its pixels at or above
    :data:`TEXT_LEVEL` as black on white (burned-in text is near white; on a bright body
    Tesseract misses white letters that it reads at once once binarised).
    """
    import pytesseract
    from PIL import Image

    img = np.where(hidden, 0.0, image)
    size = img.shape[-1]
    side = max(size, OCR_SIDE)
    grey = Image.fromarray((img * 255).round().astype(np.uint8)).resize((side, side), Image.Resampling.BICUBIC)
    binary = Image.fromarray(np.where(np.asarray(grey) >= TEXT_LEVEL * 255, 0, 255).astype(np.uint8))
    found: dict[str, dict] = {}
    for pil in (grey, binary):
        try:
            d = pytesseract.image_to_data(pil, config="--psm 11", output_type=pytesseract.Output.DICT,
                                          timeout=OCR_TIMEOUT_S)
        except RuntimeError as exc:  # pytesseract's timeout: it has killed the process
            if "timeout" in str(exc).lower():
                raise OcrTimeout(str(exc)) from None
            raise
        for text, conf, top, left, h, w in zip(d["text"], d["conf"], d["top"], d["left"], d["height"], d["width"],
                                               strict=True):
            word = _word(str(text))
            if word and float(conf) >= OCR_CONFIDENCE and float(conf) > found.get(word, {}).get("confidence", -1):
                found[word] = {"word": word, "confidence": float(conf), "y": (top + h / 2) / side,
                               "x": (left + w / 2) / side}
    return list(found.values())


def _is(token: str, word: str) -> bool:
    """``token`` reads as ``word``: the same, or for words of five letters or more one OCR slip
    away (difflib ratio >= 0.85: FORTABLE is PORTABLE)."""
    from difflib import SequenceMatcher

    return token == word or (len(word) >= 5 and SequenceMatcher(None, token, word).ratio() >= 0.85)


class OcrTimeout(RuntimeError):
    """Tesseract gave no answer within :data:`OCR_TIMEOUT_S`."""


def _read_or_skip(image: np.ndarray, hidden: np.ndarray) -> list[dict] | None:
    try:
        return read_text(image, hidden)
    except OcrTimeout:
        return None


def _text_rows(images: np.ndarray, hidden: np.ndarray) -> list[list[dict] | None]:
    """Each image's words; None where Tesseract timed out (the image is skipped and counted)."""
    return [_read_or_skip(im, h) for im, h in zip(images, hidden, strict=True)]


def text_table(images: np.ndarray, hidden: np.ndarray, jobs: int = 1) -> pd.DataFrame:
    """Per image: ``text_found`` (yes/no: a word of three or more letters or digits),
    ``text_place`` (the image quarter of the most confident such word, or none), ``text_words``
    (the words, space-separated) and one 0/1 column ``word_<W>`` per known marker word."""
    hidden = np.broadcast_to(hidden, images.shape)
    chunks = [(images[i:i + 32], hidden[i:i + 32]) for i in range(0, len(images), 32)]
    if jobs > 1 and len(chunks) > 1:
        with ProcessPool(min(jobs, len(chunks)), stop="terminate") as pool:
            found = [w for f in pool.submit_all(_text_rows, chunks) for w in f.result()]
    else:
        found = [w for im, h in chunks for w in _text_rows(im, h)]
    rows = []
    skipped = sum(words is None for words in found)
    for words in (w or [] for w in found):
        long = sorted((w for w in words if len(w["word"]) >= 3), key=lambda w: -w["confidence"])
        place = "none"
        if long:
            w = long[0]
            place = ("top" if w["y"] < 0.5 else "bottom") + "-" + ("left" if w["x"] < 0.5 else "right")
        tokens = {w["word"] for w in words}
        row: dict[str, str | int] = {"text_found": "yes" if long else "no", "text_place": place,
               "text_words": " ".join(w["word"] for w in words)}
        for k in WORDS:
            row[f"word_{k}"] = int(any(_is(t, k) for t in tokens))
        rows.append(row)
    table = pd.DataFrame(rows)
    table.attrs["ocr_skipped"] = skipped
    return table


def bright_objects(images: np.ndarray, hidden: np.ndarray) -> np.ndarray:
    """Per image, the count of small bright blobs outside ``hidden`` (``(S, S)`` for every image
    or ``(N, S, S)``; see the module docstring)."""
    from scipy import ndimage

    hidden = np.broadcast_to(hidden, images.shape)
    counts = np.zeros(len(images), int)
    for i, im in enumerate(images):
        top = ndimage.white_tophat(im, size=TOPHAT) > TOPHAT_RISE
        top &= ~hidden[i]
        lab, n = ndimage.label(top)
        if n:
            area = np.bincount(lab.ravel())[1:]
            counts[i] = int(((area >= BLOB_MIN) & (area <= BLOB_MAX)).sum())
    return counts


def soft_tissue(images: np.ndarray, masks: np.ndarray) -> pd.DataFrame:
    """Per image, ``soft_tissue_width`` (share of the side) and ``soft_tissue_density`` (mean
    intensity) of the band between the lungs' outer edges and the body's edge (see the module
    docstring); NaN where the mask has no rows."""
    out = np.full((len(images), 2), np.nan)
    for i, (im, m) in enumerate(zip(images, masks, strict=True)):
        rows = np.flatnonzero(m.any(axis=1))
        if len(rows) < 5:
            continue
        mid = rows[int(len(rows) * 0.4):int(len(rows) * 0.6) + 1]
        dark = float(np.quantile(im, 0.02))
        widths, dens = [], []
        for r in mid:
            cols = np.flatnonzero(m[r])
            for edge, step in ((cols[0], -1), (cols[-1], 1)):
                line = im[r, edge::step] if step == 1 else im[r, edge::-1]
                line = line[2:]  # start just outside the lung edge
                if len(line) < 3:
                    continue
                cut = 0.5 * (float(line[:3].mean()) + dark)
                below = np.flatnonzero(line < cut)
                w = int(below[0]) if len(below) else len(line)
                widths.append(w / im.shape[-1])
                dens.append(float(line[:max(1, w)].mean()))
        if widths:
            out[i] = (np.mean(widths), np.mean(dens))
    return pd.DataFrame(out, columns=["soft_tissue_width", "soft_tissue_density"])


def cause_table(images: np.ndarray, masks: np.ndarray, box: tuple[float, float, float, float] | None = None,
                text: bool = True, jobs: int = 1) -> tuple[pd.DataFrame, list[str]]:
    """Every measure per image (one row per image, in order) and warnings (a missing Tesseract).

    Parameters
    ----------
    images : array (N, S, S) of float in [0, 1]
    masks : bool array (N, S, S)
        The lung masks (the soft-tissue bands start at their edges).
    box : (y0, y1, x0, x1), optional
        One box (fractions of the side) the measures do not look under; None: each image's own
        lung box (the union box of its mask, as ``lungs_boxed_out`` hides).
    text : bool
        Look for burned-in text (Tesseract).
    jobs : int
        Processes for the OCR.
    """
    from cxr_isi.lungs.hideseek import box_region

    size = images.shape[-1]
    if box is None:
        hidden = np.asarray(box_region(masks, "union"), bool)
    else:
        hidden = np.zeros((size, size), bool)
        y0, y1, x0, x1 = box_pixels(box, size)
        hidden[y0:y1, x0:x1] = True
    warnings: list[str] = []
    parts = [pd.DataFrame({"bright_objects": bright_objects(images, hidden)}), soft_tissue(images, masks)]
    missing = tesseract_missing() if text else None
    if text and missing is None:
        words = text_table(images, hidden, jobs)
        parts.insert(0, words)
        if words.attrs.get("ocr_skipped"):
            warnings.append(f"Tesseract gave no answer within {OCR_TIMEOUT_S} s on {words.attrs['ocr_skipped']} of "
                            f"{len(images)} images (a stuck or wrong tesseract binary?): they were skipped and count "
                            "as showing no text")
    elif text:
        warnings.append(missing or INSTALL)
    return pd.concat(parts, axis=1), warnings


def score_causes(table: pd.DataFrame, y: np.ndarray, sources: np.ndarray, groups: np.ndarray | None = None,
                 seed: int = 0) -> pd.DataFrame:
    """How each measure predicts the label.

    Parameters
    ----------
    table : DataFrame
        From :func:`cause_table`.
    y : array of 0/1
    sources : array
        Each image's source (the AUC is also given within each source holding both classes).
    groups : array, optional
        Patient ids: the text's place (a category) is scored out of fold by its positive rate
        in the other folds, a patient's images in one fold; without them it is not scored.
    seed : int

    Returns
    -------
    DataFrame
        ``cause, measure, auc, ci_low, ci_high`` (the raw value's AUC with DeLong's 95%
        interval; yes/no as 1/0), ``negatives, positives`` (its mean, or share, per class) and
        ``auc_within_sources`` (``{source: [auc, ci_low, ci_high]}``).
    """
    from cxr_isi.audit.imbalance import out_of_fold_rate_scores

    rows = []
    for col in [c for c in table.columns if c != "text_words"]:
        v = table[col]
        ok = v.notna().to_numpy()
        if ok.sum() < 4 or len(np.unique(y[ok])) < 2:
            continue
        if col == "text_place":
            if groups is None or v[ok].nunique() < 2:
                continue
            oof = out_of_fold_rate_scores(v[ok].to_numpy(), y[ok], groups[ok], 5, seed)
            if oof is None:
                continue
            score = np.asarray(oof, dtype=float)
        elif col == "text_found":
            score = (v[ok] == "yes").to_numpy(dtype=float)
        else:
            score = v[ok].to_numpy(dtype=float)
        if len(np.unique(score)) < 2:
            continue
        ci = auc_ci(y[ok], score)
        raw = (v[ok] == "yes").to_numpy(dtype=float) if col == "text_found" else score
        by_class = {int(k): float(np.mean(raw[y[ok] == k])) for k in (0, 1)} if col != "text_place" else \
            {0: float("nan"), 1: float("nan")}
        within = {}
        for s in np.unique(sources[ok]):
            sel = sources[ok] == s
            if len(np.unique(y[ok][sel])) == 2 and len(np.unique(score[sel])) > 1:
                a = auc_ci(y[ok][sel], score[sel])
                within[str(s)] = [a["auc"], a["ci_low"], a["ci_high"]]
        rows.append({"cause": CAUSE_NAMES.get(col, col.replace("word_", "the word ")), "measure": col,
                     "auc": ci["auc"], "ci_low": ci["ci_low"], "ci_high": ci["ci_high"],
                     "negatives": by_class[0], "positives": by_class[1], "auc_within_sources": within})
    return pd.DataFrame(rows)


def place_by_class(table: pd.DataFrame, y: np.ndarray) -> dict:
    """Where the burned-in text is, by class: ``{place: {"negatives": share, "positives": share}}``."""
    if "text_place" not in table.columns:
        return {}
    t = pd.crosstab(table["text_place"], np.where(y == 1, "positives", "negatives"), normalize="columns")
    return {str(k): {c: float(v) for c, v in row.items()} for k, row in t.iterrows()}


def _predicts(row) -> bool:
    return abs(float(row["auc"]) - 0.5) >= WEAK


def residual_within(table: pd.DataFrame, ids: np.ndarray, folds: list[pd.DataFrame],
                    scores: pd.DataFrame) -> pd.DataFrame:
    """For each measure that predicts the label, the boxed-out AUC within its levels, per fold,
    with a t interval over folds; ``explains`` by the confounders probe's thresholds."""
    rows = []
    for r in scores.itertuples():
        if not _predicts(r._asdict()) or r.measure == "text_place":
            continue
        values = table[r.measure].copy()
        values.index = ids
        values = values.dropna()
        levels = property_levels(values)
        per_fold = []
        for pred in folds:
            pred = pred[pred["id"].astype(str).isin(levels.index)].reset_index(drop=True)
            if len(pred) < 4:
                continue
            per_fold.append(within_level_auc(pred, levels.loc[pred["id"].astype(str)].reset_index(drop=True)))
        if not per_fold:
            continue
        o, w = mean_ci([a for a, _ in per_fold]), mean_ci([b for _, b in per_fold])
        explains = bool(o["mean"] == o["mean"] and w["mean"] == w["mean"] and o["mean"] - w["mean"] >= DROP
                        and w["mean"] <= CEILING)
        rows.append({"cause": r.cause, "measure": r.measure, "levels": int(levels.nunique()),
                     "auc_overall": o["mean"], "auc_within_levels": w["mean"], "ci_low": w["ci_low"],
                     "ci_high": w["ci_high"], "explains": explains})
    return pd.DataFrame(rows)


def result_of(dataset: str, scores: pd.DataFrame, residual: pd.DataFrame, n: int, warnings: list[str],
              figure: str | None = None, places: dict | None = None) -> ProbeResult:
    """The probe's answer from its tables."""
    note = (" " + " ".join(warnings)) if warnings else ""
    predicting = scores[scores.apply(_predicts, axis=1)] if len(scores) else scores
    named = ", ".join(f"{r.cause} (AUC {interval_text(r.auc, r.ci_low, r.ci_high)})" for r in predicting.itertuples())
    details = {"causes": scores.to_dict("records"), "residual": residual.to_dict("records"), "warnings": warnings,
               "text_place_by_class": places or {}}
    usable = residual.dropna(subset=["auc_within_levels"]) if len(residual) else residual
    if usable.empty:
        sentence = ((f"Outside the lungs these predict the label: {named}; no boxed-out predictions to test them as "
                     "the residual." if named else "No named cause (burned-in text, small bright objects, soft "
                     "tissue beside the lungs) predicts the label (AUC within 0.40-0.60).") + note)
        return ProbeResult(NAME, dataset, MEASURE, None, None, None, n, False if len(scores) else None, sentence,
                           figure=figure, details=details)
    best, sentence = lowest_within(usable, "cause", f"Outside the lungs these predict the label: {named}; within "
                                   "levels of each")
    return ProbeResult(NAME, dataset, MEASURE, float(best["auc_within_levels"]), best["ci_low"], best["ci_high"], n,
                       bool(best["explains"]), sentence + note, figure=figure, details=details)


def cause_figure(images: np.ndarray, table: pd.DataFrame, y: np.ndarray, scores: np.ndarray | None, out: Path,
                 title: str, k: int = 8) -> str | None:
    """The images the boxed-out model scores highest (or, without scores, those with the most
    text and bright objects), each with its label, score, words found and bright-object count."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    order = np.argsort(-scores)[:k] if scores is not None else np.argsort(-table["bright_objects"].to_numpy())[:k]
    if not len(order):
        return None
    fig, axes = plt.subplots(1, len(order), figsize=(2.1 * len(order), 2.9), squeeze=False)
    for ax, i in zip(axes[0], order, strict=True):
        ax.imshow(images[i], cmap="gray", vmin=0, vmax=1)
        words = str(table["text_words"].iloc[i]) if "text_words" in table.columns else "(no OCR)"
        head = f"{'positive' if y[i] else 'negative'}" + (f", score {scores[i]:.2f}" if scores is not None else "")
        ax.set_title(f"{head}\ntext: {words[:18] or '-'}\nbright: {int(table['bright_objects'].iloc[i])}",
                     fontsize=7)
        ax.axis("off")
    fig.suptitle(title, fontsize=9)
    fig.tight_layout()
    out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out, dpi=90)
    plt.close(fig)
    return str(out)


def _boxed_scores(inp: ProbeInput, ids: np.ndarray) -> tuple[list[pd.DataFrame], np.ndarray | None]:
    folds = inp.fold_predictions.get("lungs_boxed_out") or (
        [inp.predictions["lungs_boxed_out"]] if "lungs_boxed_out" in inp.predictions else [])
    if not folds:
        return [], None
    pooled = pd.concat(folds).drop_duplicates("id")
    s = pooled.set_index(pooled["id"].astype(str))["score"].reindex(ids).to_numpy(dtype=float)
    return folds, (np.nan_to_num(s, nan=-np.inf) if np.isfinite(s).any() else None)


def run(inp: ProbeInput) -> ProbeResult:
    found = boxed_images(inp, NAME, MEASURE, SIZE)
    if isinstance(found, ProbeResult):
        return found
    rows, images, masks = found
    paths = rows.index.tolist()
    table, warnings = cause_table(images, masks, None, text=bool(inp.settings.get("ocr", True)),
                                  jobs=int(inp.settings.get("ocr_jobs", 1)))
    for w in warnings:
        log.warning("%s: %s", inp.dataset, w)
    y = rows["_y"].to_numpy()
    ids = rows["image_id"].astype(str).to_numpy()
    table.insert(0, "image_id", ids)
    inp.out_dir.mkdir(parents=True, exist_ok=True)
    table.assign(label=y).to_csv(inp.out_dir / "causes.csv", index=False)
    scores = score_causes(table.drop(columns="image_id"), y, rows["source"].astype(str).to_numpy(),
                          rows["patient_id"].astype(str).to_numpy(), inp.seed)
    folds, boxed = _boxed_scores(inp, ids)
    residual = residual_within(table, ids, folds, scores) if folds and len(scores) else pd.DataFrame()
    figure = cause_figure(images, table, y, boxed, inp.out_dir / "causes.png",
                          f"{inp.title}: the images the boxed-out model scores highest, with what was found")
    return result_of(inp.dataset, scores, residual, len(paths), warnings, figure, place_by_class(table, y))


def _table(details: dict) -> list[dict]:
    """The report's table below the figure: each cause's AUC and its residual within sources."""
    def g(v) -> str:
        return "–" if v is None or v != v else f"{v:.3g}"

    return [{"cause": c["cause"], "AUC (95% CI)": interval_text(c["auc"], c["ci_low"], c["ci_high"]),
             "negatives": g(c["negatives"]), "positives": g(c["positives"]),
             "AUC within sources (95% CI)": ", ".join(f"{k} {interval_text(*v)}" for k, v in
                                                     c["auc_within_sources"].items()) or "–"}
            for c in details.get("causes") or []]


PROBE = Probe(NAME, MEASURE, run, rank=80, version=VERSION, table=_table,
              tried="burned-in text, small bright objects and soft tissue beside the lungs",
              caption="The images the lungs-boxed-out model scores highest, with the words OCR found and the count of "
                      "small bright objects outside the box.")
