"""``fit`` and ``predict``: one training run per (dataset, variant, model), resumable.

The run folder holds ``best.pt`` (weights of the best validation AUC), ``last.pt`` (everything
needed to resume: weights, optimiser, schedule, random state, history), ``metrics.json``,
``split.csv`` (the split used), ``predictions_val.csv`` / ``predictions_test.csv`` and
TensorBoard scalars under ``tb/``. On a CPU the run is deterministic for a seed; on a GPU it uses
bf16 autocast, channels_last, pinned memory and loader workers; under ``torchrun`` the same
command trains with DistributedDataParallel.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import time
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import torch
import torch.nn.functional as F
from sklearn.metrics import roc_auc_score

from cxr_isi._checkpoints import cosine_schedule, read_checkpoint
from cxr_isi._engine import TrainingEngine, check_same_data
from cxr_isi._io import atomic_write, file_key, write_json
from cxr_isi.choices import check_variant
from cxr_isi.data.augment import random_affine, random_intensity
from cxr_isi.data.manifest import Manifest
from cxr_isi.data.splits import assign_split, check_split
from cxr_isi.errors import CxrIsiError
from cxr_isi.logs import get_logger
from cxr_isi.lungs.dataset import HideSeekDataset
from cxr_isi.models import create_model
from cxr_isi.models.registry import read_classifier
from cxr_isi.models.weights import CHECKPOINT_FORMAT
from cxr_isi.train.config import TrainConfig
from cxr_isi.train.remedies import WeightedSampler, training_remedies

log = get_logger("train")


def _class_word(y: np.ndarray) -> str:
    return "positive" if y[0] == 1 else "negative"


def prepare_splits(manifest: Manifest, cfg: TrainConfig) -> Manifest:
    """The manifest's own split, completed: a validation part carved out of train (by patient)
    when it has none; the whole split made here when it has no ``split`` column at all."""
    frame = manifest.frame
    if "split" not in frame.columns or not (frame["split"] != "").any():
        log.warning("%s has no split; making a patient-grouped one (test 15%%, val %.0f%%)",
                    manifest.origin, cfg.val_size * 100)
        return assign_split(manifest, test_size=0.15, val_size=cfg.val_size, seed=cfg.seed)
    check_split(manifest)
    if not (frame["split"] == "val").any():
        train = manifest.with_frame(frame[frame["split"] == "train"])
        carved = assign_split(train, test_size=cfg.val_size, seed=cfg.seed).frame
        frame = frame.copy()
        frame.loc[frame["split"] == "train", "split"] = carved["split"].replace({"test": "val"}).to_numpy()
        manifest = manifest.with_frame(frame)
    return manifest


def _device(cfg: TrainConfig) -> torch.device:
    if cfg.device == "cuda" or (cfg.device == "auto" and torch.cuda.is_available()):
        if not torch.cuda.is_available():
            raise CxrIsiError("device cuda asked for, but no GPU is visible")
        return torch.device("cuda", int(os.environ.get("LOCAL_RANK", 0)))
    return torch.device("cpu")


def _loader(ds, cfg: TrainConfig, device, shuffle: bool, gen=None, sampler=None):
    from torch.utils.data import DataLoader

    gpu = device.type == "cuda"
    workers = cfg.workers if cfg.workers is not None else (8 if gpu else 0)
    n = len(sampler) if sampler is not None else len(ds)
    return DataLoader(ds, batch_size=cfg.batch_size, shuffle=shuffle and sampler is None,
                      sampler=sampler, generator=gen, num_workers=workers, pin_memory=gpu,
                      drop_last=shuffle and n > cfg.batch_size,
                      persistent_workers=workers > 0, prefetch_factor=4 if workers > 0 else None)


def score(model, loader, device, cfg: TrainConfig) -> np.ndarray:
    """Sigmoid scores of every image the loader yields, in order."""
    model.eval()
    out = []
    use_bf16 = device.type == "cuda" and cfg.bf16
    with torch.inference_mode(), torch.autocast(device.type, dtype=torch.bfloat16, enabled=use_bf16):
        for x, _ in loader:
            x = x.to(device, non_blocking=True)
            if device.type == "cuda" and cfg.channels_last:
                x = x.contiguous(memory_format=torch.channels_last)
            out.append(torch.sigmoid(model(x).double()).cpu().numpy())
    return np.concatenate(out) if out else np.empty(0)


def _auc(y: np.ndarray, s: np.ndarray) -> float:
    return float(roc_auc_score(y, s)) if len(np.unique(y)) == 2 else float("nan")


def _val_figures(y: np.ndarray, s: np.ndarray) -> tuple[float, float]:
    """Validation AUC and (unweighted) binary cross-entropy."""
    p = np.clip(s.astype(np.float64), 1e-7, 1 - 1e-7)
    return _auc(y, s), float(-np.mean(y * np.log(p) + (1 - y) * np.log(1 - p)))


def _augment(x, gen, cfg: TrainConfig, share: tuple[int, int] = (1, 0)):
    a = cfg.augment
    if not a.enabled:
        return x
    x = random_affine(x, gen, rotate=math.radians(a.rotate_degrees), scale=(1 - a.scale, 1 + a.scale),
                      aspect=0.0, shift=a.shift, hflip=a.hflip, share=share)
    return random_intensity(x, gen, gamma=(1.0, 1.0), contrast=a.contrast, brightness=a.brightness,
                            noise=0.0, share=share)


def data_stamp(parts: dict[str, Manifest]) -> str:
    """What a run reads, by content: per split each image's path, label, file size and
    modification time (what the image cache decides to decode again by). A run folder resumed,
    or called finished, on other data is refused by it."""
    h = hashlib.sha256()
    for split, m in sorted(parts.items()):
        for path, y in zip(m.paths, m.y, strict=True):
            h.update(f"{split}\t{path}\t{int(y)}\t{file_key(path)}\n".encode())
    return h.hexdigest()


def run_settings(cfg: TrainConfig, world: int) -> str:
    """What decides a run, as the resume check compares it: the settings with the *global*
    batch (``batch_size`` per process times the processes), so a run started under ``torchrun``
    on N processes continues in one process with N times the batch, and the other way round."""
    return cfg.model_copy(update={"batch_size": cfg.batch_size * world}).settings_json()


def save_classifier(model, path: Path, cfg: TrainConfig, mapping: dict, extra: dict) -> None:
    state = {k: v.detach().float().cpu() if v.is_floating_point() else v.cpu()
             for k, v in _unwrap(model).state_dict().items()}
    payload = {"format": CHECKPOINT_FORMAT, "model": cfg.model, "config": cfg.model_dump_json(),
               "label_mapping": json.dumps(mapping), "extra": json.dumps(extra), "state_dict": state}
    atomic_write(path, lambda p: torch.save(payload, p))


def _unwrap(model):
    model = getattr(model, "_orig_mod", model)  # torch.compile
    return getattr(model, "module", model)  # DDP


def fit(manifest: Manifest, cfg: TrainConfig, out_dir: str | Path, progress: bool = True,
        pause_after: int | None = None) -> dict:
    """Train ``cfg.model`` on ``cfg.variant`` of ``manifest`` (label mapping attached).

    Under ``torchrun`` (``WORLD_SIZE`` > 1) the same call trains with DistributedDataParallel,
    ``cfg.batch_size`` images per process. The training order comes from
    ``DistributedSampler`` in every mode (one replica in one process), and augmentation is drawn
    for the global batch (:func:`~cxr_isi.data.augment.random_affine`'s ``share``), so N
    processes of batch b see the same images and draws per step as one process of batch N*b;
    what differs is BatchNorm's batch statistics (per process: SyncBatchNorm has no CPU path)
    and the order of floating-point sums.

    Parameters
    ----------
    manifest : Manifest
        The images, with a label mapping (a split is made or completed when missing).
    cfg : TrainConfig
        Everything that decides the run.
    out_dir : path
        The run folder; a folder holding the same run (global batch included) resumes it.
    progress : bool
        Show a progress bar.
    pause_after : int, optional
        Stop after this many epochs of this call, leaving the run resumable.

    Returns
    -------
    dict
        The run's metrics (``metrics.json``); ``{"paused_at_epoch": e}`` when paused; empty on
        the non-main processes of a distributed run.
    """
    joined = int(os.environ.get("WORLD_SIZE", "1")) > 1 and not torch.distributed.is_initialized()
    try:
        return _fit(manifest, cfg, out_dir, progress, pause_after)
    finally:
        if joined and torch.distributed.is_initialized():
            # the group this call made is closed here: left to the interpreter's exit, gloo's
            # threads can be torn down running and abort a process (SIGABRT) after its work is done;
            # the DDP model's reducer (in reference cycles) is collected first, so that no gloo work
            # holding tensors outlives the group (seen once: rank 1 aborted after a pause)
            import gc

            gc.collect()
            torch.distributed.destroy_process_group()


def _fit(manifest: Manifest, cfg: TrainConfig, out_dir: str | Path, progress: bool,
         pause_after: int | None) -> dict:
    check_variant(cfg.variant)
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    world = int(os.environ.get("WORLD_SIZE", "1"))
    rank = int(os.environ.get("RANK", "0"))
    device = _device(cfg)
    if world > 1 and not torch.distributed.is_initialized():
        torch.distributed.init_process_group("nccl" if device.type == "cuda" else "gloo")
    if device.type == "cuda":
        torch.cuda.set_device(device)
        torch.backends.cudnn.benchmark = True
        torch.backends.cuda.matmul.allow_tf32 = True
    else:
        if cfg.threads:
            torch.set_num_threads(cfg.threads)
        torch.use_deterministic_algorithms(True, warn_only=True)
    torch.manual_seed(cfg.seed)
    if manifest.label_mapping is None:
        raise CxrIsiError(f"{manifest.origin}: no label mapping; say which labels are positive")
    mapping = manifest.label_mapping.as_record()
    manifest = prepare_splits(manifest, cfg)
    parts = {s: manifest.with_frame(manifest.frame[manifest.frame["split"] == s])
             for s in ("train", "val", "test") if (manifest.frame["split"] == s).any()}
    for s in ("train", "val"):
        if s not in parts:
            raise CxrIsiError(f"{manifest.origin}: no {s} images after splitting")
        y = parts[s].y
        if len(np.unique(y)) < 2:
            raise CxrIsiError(f"{manifest.origin}: the {s} split has a single class "
                              f"({_class_word(y)} only, {len(y)} images); a classifier cannot be "
                              "trained or scored on it")
    remedies = training_remedies(cfg)  # each remedy's hooks (train.remedies.TrainingRemedy)
    for remedy in remedies:
        parts["train"] = remedy.training_part(parts["train"], cfg.seed)
    stamp = data_stamp(parts)
    check_same_data(out, stamp)  # before the folder's split.csv is written: nothing of the old run is lost
    if rank == 0:
        manifest.write(out / "split.csv")
    data = {s: HideSeekDataset(m, cfg.variant, size=cfg.size, resize=cfg.resize,
                               box_mode=cfg.box_mode, box=cfg.fixed_box, scramble_block=cfg.scramble_block,
                               scramble_seed=cfg.seed, progress=progress and rank == 0)
            for s, m in parts.items()}
    model = create_model(cfg.model, cfg.weights).to(device)
    if world > 1 and device.type == "cuda":  # one set of batch statistics over the global batch (no CPU path)
        model = torch.nn.SyncBatchNorm.convert_sync_batchnorm(model)
    if device.type == "cuda" and cfg.channels_last:
        model = model.to(memory_format=torch.channels_last)
    opt = (torch.optim.AdamW(model.parameters(), lr=cfg.lr, weight_decay=cfg.weight_decay)
           if cfg.optimizer == "adamw" else
           torch.optim.SGD(model.parameters(), lr=cfg.lr, momentum=0.9, weight_decay=cfg.weight_decay))
    sched = (cosine_schedule(opt, cfg.epochs) if cfg.schedule == "cosine"
             else torch.optim.lr_scheduler.LambdaLR(opt, lambda e: 1.0))
    gen = torch.Generator().manual_seed(cfg.seed)
    engine = TrainingEngine(out, _unwrap(model), opt, sched, gen, epochs=cfg.epochs, patience=cfg.patience,
                            settings=run_settings(cfg, world), max_minutes=cfg.max_minutes, is_main=rank == 0,
                            extra={"format": CHECKPOINT_FORMAT, "model": cfg.model},
                            progress=progress, description=f"{cfg.model} on {cfg.variant}", score_name="val AUC",
                            data=stamp)
    engine.resume()
    train_model: Any = torch.compile(model) if cfg.compile else model
    from torch.utils.data.distributed import DistributedSampler

    sampler: Any = DistributedSampler(data["train"], num_replicas=world, rank=rank,  # type: ignore[arg-type]  # a Dataset by duck typing
                                 shuffle=True, seed=cfg.seed, drop_last=True)
    kept = pd.Index(parts["train"].frame["path"]).get_indexer(data["train"].paths)  # the dataset may leave out
    weights = next((w for r in remedies if (w := r.sampling_weights(parts["train"])) is not None), None)
    if weights is not None:  # an image it could not cache: the weights and groups follow its rows, by path
        w = weights[kept]
        sampler = WeightedSampler(w / w.sum(), cfg.seed, num_replicas=world, rank=rank)
    for remedy in remedies:
        data["train"] = remedy.training_set(data["train"], parts["train"], kept, device)
    if world > 1:
        from torch.nn.parallel import DistributedDataParallel

        train_model = DistributedDataParallel(train_model, device_ids=[device.index] if device.type == "cuda" else None)
    y_train = data["train"].labels
    pos_weight = torch.tensor(float((y_train == 0).sum() / max((y_train == 1).sum(), 1))
                              if cfg.class_weighting and not any(r.reweights for r in remedies) else 1.0,
                              device=device)
    train_loader = _loader(data["train"], cfg, device, shuffle=True, gen=gen, sampler=sampler)
    val_loader = _loader(data["val"], cfg, device, shuffle=False)
    writer = _tensorboard(out) if rank == 0 else None
    use_bf16 = device.type == "cuda" and cfg.bf16

    def train_epoch(epoch: int) -> dict:
        sampler.set_epoch(epoch)
        train_model.train()
        seen, losses = 0, []
        t0 = time.perf_counter()
        for batch in train_loader:
            x = batch[0].to(device, non_blocking=True)
            y = batch[1].to(device, non_blocking=True).float()
            x = _augment(x, gen, cfg, share=(world, rank))
            if device.type == "cuda" and cfg.channels_last:
                x = x.contiguous(memory_format=torch.channels_last)
            with torch.autocast(device.type, dtype=torch.bfloat16, enabled=use_bf16):
                logits = train_model(x)
            loss = next((lo for r in remedies if (lo := r.loss(logits.float(), y, batch)) is not None), None)
            if loss is None:
                loss = F.binary_cross_entropy_with_logits(logits.float(), y, pos_weight=pos_weight)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            losses.append(loss.detach())
            seen += len(x)
        mean = torch.stack(losses).mean() if losses else torch.tensor(float("nan"))
        if world > 1:  # the global batch's loss, as one process would have logged it
            torch.distributed.all_reduce(mean)
            mean = mean / world
        mean_loss = float(mean)
        if writer is not None:
            writer.add_scalar("loss/train", mean_loss, epoch + 1)
            writer.add_scalar("throughput/images_per_second", seen * world / (time.perf_counter() - t0), epoch + 1)
        return {"loss": mean_loss, "images": seen * world}

    def validate() -> dict:
        val_auc, val_loss = _val_figures(data["val"].labels, score(model, val_loader, device, cfg))
        if writer is not None:
            writer.add_scalar("auc/val", val_auc, engine.state["epoch"])
        # Ties on AUC (it saturates at 1.0 on an easy shortcut) go to the lower loss.
        return {"score": val_auc, "tiebreak": -val_loss, "val_auc": val_auc, "val_loss": val_loss}

    def save_best(record: dict) -> None:
        save_classifier(model, out / "best.pt", cfg, mapping, {"epoch": record["epoch"], "val_auc": record["val_auc"]})

    state = engine.run(train_epoch, validate, save_best, pause_after=pause_after)
    if writer is not None:
        writer.close()
    if world > 1:
        torch.distributed.barrier()
    if rank != 0:
        return {}
    if not state["finished"]:
        return {"paused_at_epoch": state["epoch"], "epochs": cfg.epochs}
    best = read_checkpoint(out / "best.pt")
    _unwrap(model).load_state_dict(best["state_dict"])
    records = {}  # what each remedy did to the best model (DFR: the head refitted on the held-out part)
    for remedy in remedies:
        done = remedy.after_training(_unwrap(model), data, parts, lambda ds: _loader(ds, cfg, device, shuffle=False),
                                     device, cfg.seed)
        if done is not None:
            records[remedy.name] = {k: v for k, v in done.items() if k not in ("weight", "bias")}
    if records:
        save_classifier(model, out / "best.pt", cfg, mapping, {**json.loads(best.get("extra") or "{}"), **records})
    metrics = {"model": cfg.model, "variant": cfg.variant, "size": cfg.size, "weights": cfg.weights,
               "label_mapping": mapping, "device": str(device), "world_size": world,
               "epochs": state["epoch"], "best_epoch": state["best_epoch"],
               "seconds": round(state["seconds"], 2),
               "images_per_second": state["images"] / max(state["seconds"], 1e-9),
               "n_train": len(data["train"]), "n_val": len(data["val"])}
    for s in ("val", "test"):
        if s in data:
            scores = score(model, _loader(data[s], cfg, device, shuffle=False), device, cfg)
            metrics[f"{s}_auc"] = _auc(data[s].labels, scores)
            metrics[f"n_{s}"] = len(data[s])
            pd.DataFrame({"path": data[s].paths, "label": data[s].labels, "score": scores}).to_csv(
                out / f"predictions_{s}.csv", index=False)
    metrics["config"] = json.loads(cfg.model_dump_json())
    metrics.update(records)
    write_json(out / "metrics.json", metrics)
    return metrics


def _tensorboard(out: Path):
    try:
        from torch.utils.tensorboard import SummaryWriter
    except ImportError:
        log.info("tensorboard not installed; no scalars written (pip install tensorboard)")
        return None
    return SummaryWriter(str(out / "tb"))


def load_classifier(checkpoint: str | Path):
    """Model, config and label mapping from a ``best.pt``; clear errors for any other file."""
    model, settings, mapping = read_classifier(checkpoint)
    return model, TrainConfig.model_validate_json(settings), mapping


def predict(checkpoint: str | Path, manifest: Manifest, variant: str | None = None,
            batch_size: int = 64, progress: bool = False) -> pd.DataFrame:
    """One score per image (``path, label, score``) from a trained checkpoint."""
    from cxr_isi.data.labels import LabelMapping

    model, cfg, mapping = load_classifier(checkpoint)
    variant = variant or cfg.variant
    check_variant(variant)
    if manifest.label_mapping is None:
        manifest = manifest.with_labels(LabelMapping(**mapping) if mapping else None)
    cfg = cfg.model_copy(update={"variant": variant, "batch_size": batch_size, "workers": 0})
    ds = HideSeekDataset(manifest, variant, size=cfg.size, resize=cfg.resize, box_mode=cfg.box_mode,
                         box=cfg.fixed_box, scramble_block=cfg.scramble_block, scramble_seed=cfg.seed,
                         progress=progress)
    device = _device(cfg)
    scores = score(model.to(device), _loader(ds, cfg, device, shuffle=False), device, cfg)
    return pd.DataFrame({"path": ds.paths, "label": ds.labels, "score": scores})
