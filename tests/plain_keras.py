"""A model trained OUTSIDE cxr-isi with a plain Keras script (Keras 3 on its torch backend, no
TensorFlow), as a researcher's own would be: Keras' layers, fit and save, none of cxr-isi's code.
``cxr-isi judge`` is tested on what it saves: ``.keras`` (Keras 3's format) and ``.h5`` (the
legacy one). The images go in as Keras' ``preprocess_input(mode="tf")`` leaves them: [-1, 1], three
channels, channels last.

    python tests/plain_keras.py MANIFEST.csv --positive covid --out DIR [--size 64 --epochs 8]

Writes ``DIR/model.keras``, ``model.h5`` and ``test.csv`` (the held-out rows: the same patients as
``tests/plain_model.py`` holds out for the same seed).
"""

from __future__ import annotations

import argparse
import os
import warnings
from pathlib import Path

import numpy as np
from PIL import Image

from tests.plain_model import held_out


def _load(paths: list[str], size: int) -> np.ndarray:
    """Images squeezed to ``size`` x ``size``, three channels, scaled to [-1, 1] (Keras' ``tf`` mode)."""
    out = []
    for p in paths:
        with Image.open(p) as img:
            out.append(np.asarray(img.convert("RGB").resize((size, size), Image.BILINEAR), np.float32))
    return np.stack(out) / 127.5 - 1.0


def train_plain_keras(manifest: str | Path, positive: str, out: str | Path, *, size: int = 64, epochs: int = 8,
                      seed: int = 0, test_share: float = 0.3) -> dict:
    """Train a small Keras CNN (one sigmoid output) on a random part of ``manifest``; save it as
    ``.keras`` and ``.h5``; return the paths."""
    os.environ.setdefault("KERAS_BACKEND", "torch")
    import keras

    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    frame, test = held_out(manifest, seed, test_share)
    train = frame[~test]
    x = _load(train["path"].tolist(), size)
    y = (train["label"] == positive).to_numpy(np.float32)
    keras.utils.set_random_seed(seed)
    model = keras.Sequential([
        keras.Input((size, size, 3)),
        keras.layers.Conv2D(16, 3, padding="same", activation="relu"),
        keras.layers.MaxPooling2D(),
        keras.layers.Conv2D(32, 3, padding="same", activation="relu"),
        keras.layers.MaxPooling2D(),
        keras.layers.Conv2D(64, 3, padding="same", activation="relu"),
        keras.layers.GlobalAveragePooling2D(),
        keras.layers.Dense(1, activation="sigmoid"),
    ])
    model.compile(optimizer=keras.optimizers.Adam(1e-3), loss="binary_crossentropy")
    model.fit(x, y, batch_size=16, epochs=epochs, shuffle=True, verbose=0)
    files = {"keras": out / "model.keras", "h5": out / "model.h5"}
    model.save(files["keras"])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # Keras calls .h5 legacy; users still have them
        model.save(files["h5"])
    frame[test].to_csv(out / "test.csv", index=False)
    return {**{k: str(v) for k, v in files.items()}, "test": str(out / "test.csv"), "size": size}


if __name__ == "__main__":
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("manifest")
    ap.add_argument("--positive", required=True)
    ap.add_argument("--out", required=True)
    ap.add_argument("--size", type=int, default=64)
    ap.add_argument("--epochs", type=int, default=8)
    ap.add_argument("--seed", type=int, default=0)
    a = ap.parse_args()
    print(train_plain_keras(a.manifest, a.positive, a.out, size=a.size, epochs=a.epochs, seed=a.seed))
