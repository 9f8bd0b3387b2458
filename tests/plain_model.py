"""A model trained OUTSIDE cxr-isi, as a researcher's own script would: plain torchvision and
PyTorch, none of cxr-isi's trainer, data loaders or models. ``cxr-isi judge`` is tested (and
benchmarked) on what it exports: TorchScript, ONNX, ``torch.export`` and a state dict.

    python tests/plain_model.py MANIFEST.csv --positive covid --out DIR [--size 64 --epochs 6]

Writes ``DIR/model.ts``, ``model.onnx``, ``model.pt2``, ``model_state_dict.pt`` and
``test.csv`` (the held-out rows: the images to judge it on).
"""

from __future__ import annotations

import argparse
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
from PIL import Image

MEAN, STD = (0.485, 0.456, 0.406), (0.229, 0.224, 0.225)


def _load(paths: list[str], size: int) -> np.ndarray:
    """Gray images squeezed to ``size`` x ``size`` (a typical script's resize; pad is cxr-isi's)."""
    out = []
    for p in paths:
        with Image.open(p) as img:
            out.append(np.asarray(img.convert("L").resize((size, size), Image.BILINEAR), np.float32) / 255)
    return np.stack(out)


def _batch(x: np.ndarray):
    import torch

    t = torch.from_numpy(x).unsqueeze(1).expand(-1, 3, -1, -1)
    return (t - torch.tensor(MEAN).view(1, 3, 1, 1)) / torch.tensor(STD).view(1, 3, 1, 1)


def held_out(manifest: str | Path, seed: int, test_share: float) -> tuple[pd.DataFrame, pd.Series]:
    """The manifest with absolute paths, and which rows a plain script holds out: a random
    ``test_share`` of the patients (all their images)."""
    frame = pd.read_csv(manifest, dtype=str, keep_default_na=False)
    root = Path(manifest).parent
    frame["path"] = [str(root / p) if not Path(p).is_absolute() else p for p in frame["path"]]
    rng = np.random.default_rng(seed)
    patients = frame["patient_id"].unique()
    test_patients = set(rng.permutation(patients)[: int(round(test_share * len(patients)))])
    return frame, frame["patient_id"].isin(test_patients)


def small_cnn():
    """A small CNN in plain PyTorch, as a first script would write it: three convolutions, global
    average pooling, one logit."""
    from torch import nn

    return nn.Sequential(
        nn.Conv2d(3, 16, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
        nn.Conv2d(16, 32, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
        nn.Conv2d(32, 64, 3, padding=1), nn.ReLU(), nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(64, 1))


def train_plain(manifest: str | Path, positive: str, out: str | Path, *, size: int = 64, epochs: int = 6,
                seed: int = 0, test_share: float = 0.3, arch: str = "resnet18", lr: float = 1e-3,
                formats: tuple[str, ...] = ("state_dict", "torchscript", "onnx", "export")) -> dict:
    """Train a torchvision ``arch`` (one logit; ``small_cnn``: :func:`small_cnn`) on a random part
    of ``manifest``; export it in each of ``formats``; return the paths."""
    import torch
    import torchvision

    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    frame, test = held_out(manifest, seed, test_share)
    train = frame[~test]
    x = _load(train["path"].tolist(), size)
    y = (train["label"] == positive).to_numpy(np.float32)
    torch.manual_seed(seed)
    model = small_cnn() if arch == "small_cnn" else getattr(torchvision.models, arch)(weights=None, num_classes=1)
    opt = torch.optim.Adam(model.parameters(), lr=lr)
    gen = torch.Generator().manual_seed(seed)
    model.train()
    for _ in range(epochs):
        order = torch.randperm(len(x), generator=gen).numpy()
        for i in range(0, len(order), 16):
            idx = order[i : i + 16]
            if len(idx) < 2:
                continue
            loss = torch.nn.functional.binary_cross_entropy_with_logits(
                model(_batch(x[idx])).squeeze(1), torch.from_numpy(y[idx]))
            opt.zero_grad()
            loss.backward()
            opt.step()
    model.eval()
    example = _batch(x[:2])
    files = {"state_dict": out / "model_state_dict.pt", "torchscript": out / "model.ts",
             "onnx": out / "model.onnx", "export": out / "model.pt2"}
    files = {k: v for k, v in files.items() if k in formats}
    if "state_dict" in files:
        torch.save(model.state_dict(), files["state_dict"])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        if "torchscript" in files:
            torch.jit.save(torch.jit.trace(model, example), str(files["torchscript"]))
        if "onnx" in files:
            torch.onnx.export(model, (example,), str(files["onnx"]), dynamo=False, input_names=["image"],
                              output_names=["logit"], dynamic_axes={"image": {0: "batch"}, "logit": {0: "batch"}})
        if "export" in files:
            batch = torch.export.Dim("batch", min=1, max=1024)
            torch.export.save(torch.export.export(model, (example,), dynamic_shapes=({0: batch},)),
                              str(files["export"]))
    held = frame[test].copy()
    held.to_csv(out / "test.csv", index=False)
    return {**{k: str(v) for k, v in files.items()}, "test": str(out / "test.csv"), "size": size, "arch": arch}


if __name__ == "__main__":
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("manifest")
    ap.add_argument("--positive", required=True)
    ap.add_argument("--out", required=True)
    ap.add_argument("--size", type=int, default=64)
    ap.add_argument("--epochs", type=int, default=6)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--arch", default="resnet18")
    a = ap.parse_args()
    print(train_plain(a.manifest, a.positive, a.out, size=a.size, epochs=a.epochs, seed=a.seed, arch=a.arch))
