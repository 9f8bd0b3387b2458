"""Segmentation as a study uses it: training data from a manifest, evaluation, and the
``segment`` step that writes masks, boxes and quality flags for every image of a study.

Masks that come with a dataset only train and evaluate the segmenter. Every image of a study is
segmented by one model: mixing provenances leaks the label (in cxr256 the covid images have
manual masks and the other pneumonias model-predicted ones).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Protocol

import numpy as np
import pandas as pd
from PIL import Image

from cxr_isi._io import file_key, numbered_name, write_json
from cxr_isi.data.cache import ImageCache, cache_pairs
from cxr_isi.data.manifest import Manifest
from cxr_isi.data.resize import restore_mask
from cxr_isi.errors import CxrIsiError
from cxr_isi.logs import get_logger
from cxr_isi.lungs.postprocess import QCThresholds, clean_mask, dice, iou, lung_geometry
from cxr_isi.progress import progress_bar

log = get_logger("lungs")
# Masks drawn by people; model-predicted masks (lungVAE) are never the measure.
MANUAL_MASK_KINDS = ("v7labs_manual_polygon", "shenzhen_manual(Stirenko2018)", "shenzhen_manual",
                     "montgomery_manual", "synthetic_truth")


class Segmenter(Protocol):
    """What a segmentation backend offers (the shipped U-Net; a torchxrayvision PSPNet where
    the user has its weights plugs in the same way)."""

    name: str

    def predict(self, images: np.ndarray, batch_size: int = 16) -> np.ndarray: ...


def get_segmenter(backend: str = "unet", checkpoint: str | Path | None = None) -> Segmenter:
    """A segmentation backend by name."""
    if backend == "unet":
        from cxr_isi.lungs.unet import UNetSegmenter

        return UNetSegmenter(checkpoint).load()
    if backend == "torchxrayvision":
        try:
            import torchxrayvision  # noqa: F401
        except ImportError:
            raise CxrIsiError("backend 'torchxrayvision' needs the torchxrayvision package and "
                              "its PSPNet weights in its cache; install it where you have them") from None
        raise CxrIsiError("backend 'torchxrayvision': weights are fetched by that package at run "
                          "time, which this offline build does not do; use --backend unet")
    raise CxrIsiError(f"unknown segmentation backend {backend!r}; use unet or torchxrayvision")


def load_pairs(manifest: Manifest, size: int = 256, cache_root=None,
               progress: bool = False) -> tuple[np.ndarray, np.ndarray, Manifest]:
    """Images and masks (uint8, 0/1 masks) of every row with a readable ``mask_path``."""
    frame = manifest.frame
    if "mask_path" not in frame.columns or not (frame["mask_path"] != "").any():
        raise CxrIsiError(f"{manifest.origin}: no mask_path values; nothing to train or evaluate on")
    rows = frame[frame["mask_path"] != ""]
    im, mk, si, sm = cache_pairs(rows["path"].tolist(), rows["mask_path"].tolist(), size=size,
                                 cache_root=cache_root, progress=progress, origin=manifest.origin)
    ok = (si >= 0) & (sm >= 0)
    if not ok.all():
        log.warning("%d rows skipped: image or mask unreadable", int((~ok).sum()))
    x = np.asarray(im.array[si[ok]])
    y = (np.asarray(mk.array[sm[ok]]) > 127).astype(np.uint8)
    return x, y, manifest.with_frame(rows[ok])


def evaluate(segmenter: Segmenter, images: np.ndarray, masks: np.ndarray) -> pd.DataFrame:
    """Dice and IoU per image after post-processing."""
    pred = segmenter.predict(images)
    rows = []
    for p, t in zip(pred, masks, strict=True):
        c, _ = clean_mask(p)
        rows.append({"dice": dice(c, t), "iou": iou(c, t)})
    return pd.DataFrame(rows)


def segmentation_split(manifest: Manifest, seed: int = 0,
                       mask_kinds: tuple[str, ...] | None = MANUAL_MASK_KINDS) -> Manifest:
    """Rows with usable masks, split by patient into train / val (10%) / test (15%),
    stratified by dataset; the same seed gives the same held-out patients."""
    from cxr_isi.data.splits import assign_split

    frame = manifest.frame
    if "mask_path" in frame.columns:
        frame = frame[frame["mask_path"] != ""]
    if mask_kinds and "mask_kind" in frame.columns:
        frame = frame[frame["mask_kind"].isin(mask_kinds)]
    if len(frame) < 20:
        raise CxrIsiError(f"{manifest.origin}: {len(frame)} images with usable masks; need 20 or more")
    strat = frame["dataset"] if "dataset" in frame.columns else frame["source"]
    m = manifest.with_frame(frame.assign(label=strat.to_numpy()))
    m = assign_split(m, test_size=0.15, val_size=0.1, seed=seed)
    return manifest.with_frame(m.frame.assign(label=frame["label"].to_numpy()))


def train_lung_segmenter(manifest: Manifest, out_dir: str | Path, *, size: int = 256,
                         epochs: int = 40, synthetic: int = 300, seed: int = 0,
                         mask_kinds: tuple[str, ...] | None = MANUAL_MASK_KINDS,
                         progress: bool = True) -> dict:
    """Train on the manifest's masks (patient-grouped train/val/test) plus phantoms; report
    Dice on held-out patients and on held-out phantoms; write ``metrics.json``."""
    from cxr_isi.lungs.unet import UNetSegmenter, train_unet
    from cxr_isi.synth import SynthConfig, generate

    out = Path(out_dir)
    m = segmentation_split(manifest, seed=seed, mask_kinds=mask_kinds)
    m.write(out / "split.csv")
    x, y, kept = load_pairs(m, size=size, progress=progress)
    split = kept.frame["split"].to_numpy()
    parts = {s: (x[split == s], y[split == s]) for s in ("train", "val", "test")}
    syn_train = syn_test = None
    if synthetic:
        cfg = dict(size=size, n_sources=4)
        a = generate(SynthConfig(preset="isi", n=synthetic // 2, seed=seed + 1000, **cfg), out / "synthetic/train_isi")
        b = generate(SynthConfig(preset="balanced", n=synthetic - synthetic // 2, seed=seed + 1001, **cfg),
                     out / "synthetic/train_balanced")
        t = generate(SynthConfig(preset="balanced", n=100, seed=seed + 2000, **cfg), out / "synthetic/test")
        sx = [load_pairs(s, size=size)[:2] for s in (a, b)]
        syn_train = (np.concatenate([s[0] for s in sx]), np.concatenate([s[1] for s in sx]))
        syn_test = load_pairs(t, size=size)[:2]
    tx, ty = parts["train"]
    if syn_train is not None:
        tx, ty = np.concatenate([tx, syn_train[0]]), np.concatenate([ty, syn_train[1]])
    meta = {"manifest": manifest.origin, "mask_kinds": list(mask_kinds or []), "size": size,
            "n_train": int(len(tx)), "n_val": int(len(parts["val"][0])),
            "n_test": int(len(parts["test"][0])), "synthetic_train": int(synthetic), "seed": seed}
    state = train_unet(tx, ty, *parts["val"], out, epochs=epochs, seed=seed, progress=progress, meta=meta)
    seg = UNetSegmenter(out / "best.pt").load()
    real = evaluate(seg, *parts["test"])
    metrics = {**meta, "best_epoch": state["best_epoch"], "val_dice": state["best_dice"],
               "test_mean_dice": float(real["dice"].mean()), "test_mean_iou": float(real["iou"].mean()),
               "test_min_dice": float(real["dice"].min())}
    if syn_test is not None:
        syn = evaluate(seg, *syn_test)
        metrics.update(synthetic_mean_dice=float(syn["dice"].mean()),
                       synthetic_mean_iou=float(syn["iou"].mean()))
    write_json(out / "metrics.json", metrics)
    return metrics


def _check_not_another(out: Path, target: Path, source: str) -> None:
    """Refuse to write ``out/manifest.csv`` over a manifest that is not this input's segmentation
    (another dataset's, or one that no segmentation wrote)."""
    if not target.exists():
        return
    import json

    record = out / "segment.json"
    try:
        previous = json.loads(record.read_text()).get("input", source) if record.is_file() else None
    except (ValueError, AttributeError, OSError):
        previous = None
    if previous is None:
        raise CxrIsiError(f"{target}: a manifest that no segmentation wrote; write the segmentation to another "
                          "--out folder (no command overwrites a dataset)")
    if previous != source:
        raise CxrIsiError(f"{target}: holds the segmentation of {previous}; write that of {source} to another "
                          "--out folder")


def segment_manifest(manifest: Manifest, out_dir: str | Path, *, segmenter: Segmenter | None = None,
                     size: int = 256, resize: str = "pad", thresholds: QCThresholds | None = None,
                     cache_root=None, progress: bool = False, batch_size: int = 32) -> Manifest:
    """Segment every image: masks as PNG under ``out_dir/masks``, boxes and QC flags in
    ``out_dir/lungs.csv``, and ``out_dir/manifest.csv`` pointing at the predicted masks.

    Resumable: images already in ``lungs.csv``, unchanged since (size and modification time), with
    their mask file present are skipped; a changed image is segmented again. The
    U-Net sees each image at ``size`` (``resize``); its mask is written back on the image's own
    pixel grid, so the mask fits the image at any later size.
    """
    out = Path(out_dir)
    target = (out / "manifest.csv").absolute()
    if manifest.origin and os.path.exists(manifest.origin) and target.exists() and target.samefile(manifest.origin):
        raise CxrIsiError(f"{target}: is the input manifest; write the segmentation to another --out folder "
                          "(no command overwrites its input)")
    source = str(Path(manifest.origin).resolve()) if os.path.exists(manifest.origin) else manifest.origin
    _check_not_another(out, target, source)
    (out / "masks").mkdir(parents=True, exist_ok=True)
    t = thresholds or QCThresholds()
    seg = segmenter or get_segmenter("unet")
    cache = ImageCache(cache_root, size=size, resize=resize)
    report = cache.update(manifest.paths, progress=progress)
    images = cache.open()
    table_path = out / "lungs.csv"
    done = pd.read_csv(table_path, dtype={"path": str}) if table_path.exists() else pd.DataFrame()
    rows = done.to_dict("records") if len(done) else []
    paths = manifest.paths
    keys = {p: file_key(p) for p in paths}
    # a mask is reused only for the very file it was made from (size and modification time)
    have = {r["path"] for r in rows if str(r.get("file_key", "")) == keys.get(r["path"])}
    mask_file = {p: str(out / "masks" / numbered_name(i, p)) for i, p in enumerate(paths)}
    todo = [p for p in paths if not (p in have and os.path.exists(mask_file[p])) and p in images]
    with progress_bar(progress) as bar:
        task = bar.add_task(f"segmenting lungs ({seg.name})", total=len(todo))
        for i in range(0, len(todo), batch_size):
            chunk = todo[i : i + batch_size]
            batch = np.stack([images.get(p) for p in chunk])
            for p, raw in zip(chunk, seg.predict(batch), strict=True):
                mask, n = clean_mask(raw)
                geo = lung_geometry(mask, n, t)
                w, h = images.original_size(p) or mask.shape[::-1]
                full = restore_mask(mask, h, w, resize) if (h, w) != mask.shape else mask
                Image.fromarray(full.astype(np.uint8) * 255).save(mask_file[p])
                rows = [r for r in rows if r["path"] != p]
                rows.append({"path": p, "file_key": keys[p], "mask_file": mask_file[p], **geo.as_row()})
            bar.advance(task, len(chunk))
            pd.DataFrame(rows).to_csv(table_path, index=False)  # progress survives a kill
    table = pd.DataFrame(rows)
    table.to_csv(table_path, index=False)
    failed = {p for p, _ in report.failures}
    frame = manifest.frame.copy()
    info = table.set_index("path")
    frame["dataset_mask_path"] = frame.get("mask_path", "")
    frame["mask_path"] = [info["mask_file"].get(p, "") if p in info.index else "" for p in frame["path"]]
    frame["mask_kind"] = f"predicted:{seg.name}"
    frame["lung_qc"] = [("unreadable image" if p in failed else info["flags"].get(p, ""))
                        for p in frame["path"]]
    frame["lung_qc"] = frame["lung_qc"].fillna("")
    flagged = frame["lung_qc"] != ""
    if t.policy == "drop":
        frame = frame[~flagged]
    result = manifest.with_frame(frame)
    result.write(out / "manifest.csv")
    write_json(out / "segment.json", {"backend": seg.name, "input": source, "size": size, "resize": resize,
                                      "thresholds": t.model_dump(), "n_images": len(manifest),
                                      "n_flagged": int(flagged.sum()), "policy": t.policy,
                                      "checkpoint": str(getattr(seg, "path_", ""))})
    if flagged.any():
        log.warning("%d of %d images flagged by lung QC (policy %s); see %s", int(flagged.sum()),
                    len(frame), t.policy, table_path)
    return result

