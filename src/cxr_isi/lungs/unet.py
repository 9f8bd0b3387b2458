"""The lung segmenter: a small MONAI U-Net, its training loop, and inference with the shipped weights.

Input: one grayscale channel at ``input_size`` (256), each image standardised to zero mean and
unit variance (so exposure and gamma differences between sources matter less). Output: one
logit per pixel. The shipped checkpoint (``weights/unet_lungs.pt``, float16, about 2 MB) is
described in ``weights/MODEL_CARD.md``.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from cxr_isi.errors import CxrIsiError
from cxr_isi.logs import get_logger

FORMAT = "cxr_isi.lungs.unet/1"
ARCH = {"channels": [16, 32, 64, 128, 256], "strides": [2, 2, 2, 2], "num_res_units": 1}
SHIPPED = Path(__file__).resolve().parent / "weights" / "unet_lungs.pt"
log = get_logger("lungs")


def build_unet(arch: dict | None = None):
    """MONAI's 2-D U-Net with the given (or default) channels."""
    from monai.networks.nets import UNet

    a = {**ARCH, **(arch or {})}
    return UNet(spatial_dims=2, in_channels=1, out_channels=1, channels=tuple(a["channels"]),
                strides=tuple(a["strides"]), num_res_units=a["num_res_units"], norm="batch")


def standardise(x):
    """Per-image zero mean, unit variance over the last two axes (torch)."""
    mean = x.mean(dim=(-2, -1), keepdim=True)
    std = x.std(dim=(-2, -1), keepdim=True).clamp_min(1e-3)
    return (x - mean) / std


def augment(images, masks, gen):
    """Random affine shared by image and mask (rotation +-10 degrees, scale and aspect
    0.85-1.15, shift 8%, no flips), then gamma, contrast and noise on the image."""
    from cxr_isi.data.augment import random_affine, random_intensity

    images, masks = random_affine(images, gen, masks=masks, hflip=False)
    return random_intensity(images, gen), masks


def _to_tensor(arr: np.ndarray, is_mask: bool = False):
    """(N, H, W) images (uint8 0..255 or float 0..1) or 0/1 masks to an (N, 1, H, W) float tensor."""
    import torch

    x = torch.from_numpy(np.array(arr, copy=True)).float()  # a private, writable copy
    if arr.dtype == np.uint8 and not is_mask:
        x = x / 255.0
    return x.unsqueeze(1)


def train_unet(train_images: np.ndarray, train_masks: np.ndarray, val_images: np.ndarray,
               val_masks: np.ndarray, out_dir: str | Path, *, epochs: int = 40, batch_size: int = 8,
               lr: float = 2e-3, patience: int = 8, seed: int = 0, progress: bool = True,
               meta: dict | None = None) -> dict:
    """Train with augmentation and early stopping on validation Dice; resumable.

    Writes ``last.pt`` after every epoch (model, optimiser, schedule, history) and ``best.pt``
    (weights only, float16) when validation Dice improves; a second call with the same
    ``out_dir`` resumes from ``last.pt``.
    """
    import torch
    from monai.losses import DiceCELoss

    from cxr_isi._checkpoints import cosine_schedule
    from cxr_isi._engine import TrainingEngine

    # Dice + binary cross-entropy on one logit channel (sigmoid), Dice per image with smoothing 1
    loss_fn = DiceCELoss(sigmoid=True, smooth_nr=1.0, smooth_dr=1.0, batch=False)

    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    torch.manual_seed(seed)
    model = build_unet()
    opt = torch.optim.AdamW(model.parameters(), lr=lr, weight_decay=1e-4)
    sched = cosine_schedule(opt, epochs)
    gen = torch.Generator().manual_seed(seed)
    settings = json.dumps({"format": FORMAT, "arch": ARCH, "epochs": epochs, "batch_size": batch_size, "lr": lr,
                           "patience": patience, "seed": seed, "n_train": len(train_images),
                           "n_val": len(val_images), "size": int(train_images.shape[-1])}, sort_keys=True)
    engine = TrainingEngine(out, model, opt, sched, gen, epochs=epochs, patience=patience, settings=settings,
                            progress=progress, description="lung U-Net", score_name="val Dice")
    engine.resume()
    xt, yt = _to_tensor(train_images), _to_tensor(train_masks > 0, is_mask=True)
    xv, yv = _to_tensor(val_images), _to_tensor(val_masks > 0, is_mask=True)

    def train_epoch(epoch: int) -> dict:
        model.train()
        order = torch.randperm(len(xt), generator=gen)
        losses, seen = [], 0
        for i in range(0, len(order), batch_size):
            idx = order[i : i + batch_size]
            if len(idx) < 2:
                continue
            x, y = augment(xt[idx], yt[idx], gen)
            loss = loss_fn(model(standardise(x)), y)
            opt.zero_grad()
            loss.backward()
            opt.step()
            losses.append(loss.item())
            seen += len(idx)
        return {"loss": float(np.mean(losses)) if losses else float("nan"), "images": seen}

    def validate() -> dict:
        dice = evaluate_dice(model, xv, yv)
        return {"score": dice, "val_dice": dice}

    def save_best(record: dict) -> None:
        save_checkpoint(model, out / "best.pt", meta={**(meta or {}), "val_dice": record["val_dice"],
                                                      "epoch": record["epoch"]}, input_size=train_images.shape[-1])

    state = engine.run(train_epoch, validate, save_best)
    return {**state, "best_dice": state["best_score"]}


def evaluate_dice(model, x, y, batch_size: int = 16) -> float:
    """Mean per-image Dice of thresholded predictions."""
    import torch

    model.eval()
    scores = []
    with torch.no_grad():
        for i in range(0, len(x), batch_size):
            p = (model(standardise(x[i : i + batch_size])) > 0).float()
            t = y[i : i + batch_size]
            inter = (p * t).sum(dim=(1, 2, 3))
            denom = p.sum(dim=(1, 2, 3)) + t.sum(dim=(1, 2, 3))
            scores += ((2 * inter + 1e-6) / (denom + 1e-6)).tolist()
    return float(np.mean(scores))


def save_checkpoint(model, path: str | Path, meta: dict | None = None, input_size: int = 256) -> Path:
    """Weights as float16 with the architecture and provenance, loadable with weights_only."""
    import torch

    from cxr_isi._io import atomic_write

    payload = {"format": FORMAT, "arch": json.dumps(ARCH), "input_size": int(input_size),
               "meta": json.dumps(meta or {}),
               "state_dict": {k: (v.half() if v.is_floating_point() else v)
                              for k, v in model.state_dict().items()}}
    return atomic_write(path, lambda p: torch.save(payload, p))


class UNetSegmenter:
    """Lung masks from any square grayscale batch; the same model for every image of a study.

    Parameters
    ----------
    checkpoint : path, optional
        A checkpoint written by :func:`save_checkpoint`; default the shipped weights.
    threads : int, optional
        CPU threads for inference (default: torch's choice).
    """

    name = "unet"

    def __init__(self, checkpoint: str | Path | None = None, threads: int | None = None):
        self.checkpoint = checkpoint
        self.threads = threads

    def load(self) -> UNetSegmenter:

        path = Path(self.checkpoint) if self.checkpoint else SHIPPED
        if not path.is_file():
            raise CxrIsiError(f"{path}: lung segmenter checkpoint not found")
        from cxr_isi._checkpoints import read_checkpoint

        ck = read_checkpoint(path)
        if ck.get("format") != FORMAT:
            raise CxrIsiError(f"{path}: not a cxr-isi lung U-Net checkpoint")
        self.model_ = build_unet(json.loads(ck["arch"]))
        self.model_.load_state_dict({k: v.float() if v.is_floating_point() else v
                                     for k, v in ck["state_dict"].items()})
        self.model_.eval()
        self.input_size_ = int(ck["input_size"])
        self.meta_ = json.loads(ck["meta"])
        self.path_ = path
        return self

    def predict_proba(self, images: np.ndarray, batch_size: int = 16) -> np.ndarray:
        """Lung probability per pixel, at the images' own size, for an (N, H, W) batch."""
        import torch
        import torch.nn.functional as F

        if not hasattr(self, "model_"):
            self.load()
        if self.threads:
            torch.set_num_threads(self.threads)
        images = np.asarray(images)
        if images.ndim == 2:
            images = images[None]
        out = np.empty(images.shape, dtype=np.float32)
        size = self.input_size_
        with torch.inference_mode():
            for i in range(0, len(images), batch_size):
                x = _to_tensor(images[i : i + batch_size])
                h, w = x.shape[-2:]
                if (h, w) != (size, size):
                    x = F.interpolate(x, size=(size, size), mode="bilinear", antialias=True,
                                      align_corners=False)
                p = torch.sigmoid(self.model_(standardise(x)))
                if (h, w) != (size, size):
                    p = F.interpolate(p, size=(h, w), mode="bilinear", align_corners=False)
                out[i : i + len(x)] = p[:, 0].numpy()
        return out

    def predict(self, images: np.ndarray, batch_size: int = 16) -> np.ndarray:
        """Boolean lung masks (before post-processing)."""
        return self.predict_proba(images, batch_size) > 0.5
