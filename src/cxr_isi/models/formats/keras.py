"""Keras models (``.keras``, and the legacy ``.h5``), loaded by Keras 3 on its torch backend: no
TensorFlow. A Keras model is then a ``torch.nn.Module`` whose layers run torch operations, so the
scorer gives scores, features (the input of the last ``Dense`` layer) and gradients like any torch
model.

Needs the ``keras`` extra (``pip install 'cxr-isi[keras]'``: keras and h5py). Keras reads its
backend once, when first imported: a process that imported Keras on another backend first is
told so in one line. Files load with ``safe_mode=True``: a ``Lambda`` layer's pickled code is
refused, not run.

What the model takes is read off it: its input shape gives the side, the channels and the
layout (Keras is channels-last unless the model says otherwise); an output layer with a sigmoid
or softmax activation gives probabilities. Keras' preprocessing conventions are named in the
spec (``normalise: tf``, ``caffe`` or ``torch``); unset, the images reach the model in [0, 1]
(``none``), as a model with its rescaling inside expects.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

import numpy as np
import torch
import torch.nn as nn

from cxr_isi.errors import CxrIsiError
from cxr_isi.models.formats.base import (
    ModelFile,
    ModelFormat,
    PositiveLogOdds,
    Scorer,
    explain_failure,
    fixed_input,
    head_rows,
    register_format,
)
from cxr_isi.models.spec import ModelSpec, ModelSpecError

INSTALL = "reading Keras models needs the keras extra (pip install 'cxr-isi[keras]')"


def import_keras():
    """Keras on the torch backend, or one line saying why not."""
    loaded = sys.modules.get("keras")
    if loaded is None:
        os.environ["KERAS_BACKEND"] = "torch"
    try:
        import keras
    except ImportError:
        raise CxrIsiError(INSTALL) from None
    backend = keras.backend.backend()
    if backend != "torch":
        raise CxrIsiError(f"Keras was imported on its {backend!r} backend before cxr-isi read the model; cxr-isi "
                          "needs the torch backend: set KERAS_BACKEND=torch before importing keras")
    return keras


class KerasModule(nn.Module):
    """A Keras model as a torch module giving the output (and, on request, the last ``Dense``
    layer's input)."""

    def __init__(self, model, features_model=None):
        super().__init__()
        self.keras_model = model
        self.features_model = features_model

    def forward(self, x):
        return self.keras_model(x, training=False)

    def with_features(self, x):
        feats, out = self.features_model(x, training=False)
        return out, feats


class KerasScorer(Scorer):
    """A Keras model behind the :class:`Scorer` interface."""

    def __init__(self, model, spec: ModelSpec, name: str, origin: str, features_model=None):
        super().__init__(name, Keras.name, spec, origin)
        self.inner = KerasModule(model, features_model)
        self.module = PositiveLogOdds(self.inner, spec, origin).eval()

    @property
    def supports_features(self) -> bool:
        return self.inner.features_model is not None

    def torch_module(self):
        return self.module

    def with_head(self, weight: np.ndarray, bias: float) -> Scorer:
        """The clone's last Dense layer takes the head (:func:`~cxr_isi.models.formats.base.head_rows`)."""
        keras = import_keras()
        model = self.inner.keras_model
        clone = keras.models.clone_model(model)
        clone.set_weights(model.get_weights())
        dense = [layer for layer in clone.layers if isinstance(layer, keras.layers.Dense)][-1]
        kernel, biases = (np.array(v) for v in dense.get_weights())
        rows, row_bias, cols = head_rows(weight, bias, kernel.shape[1], self.spec.column(kernel.shape[1], self.origin),
                                         self.spec.output)
        for row, c in enumerate(cols):
            kernel[:, c], biases[c] = rows[row], row_bias[row]
        dense.set_weights([kernel, biases])
        return KerasScorer(clone, self.spec, f"{self.name} + DFR", self.origin, _features_model(keras, clone))

    def save_whole(self, out: Path) -> tuple[Path, str | None]:
        path = out / "model_dfr.keras"
        self.inner.keras_model.save(path)
        return path, None

    def _forward(self, images: np.ndarray, features: bool):
        x = torch.from_numpy(np.ascontiguousarray(images, dtype=np.float32)).unsqueeze(1)
        try:
            with torch.inference_mode():
                if not features:
                    return self.module(x), None
                out, feats = self.inner.with_features(self.module.pre(x))
                return self.module.log_odds(out), feats
        except ModelSpecError:
            raise
        except (RuntimeError, ValueError, TypeError, IndexError, AssertionError) as exc:
            raise explain_failure(exc, self.spec, self.origin, (len(images), *images.shape[1:],
                                                                self.spec.channels)) from None

    def _raw_log_odds(self, images: np.ndarray) -> np.ndarray:
        return self._forward(images, False)[0].numpy()

    def log_odds_and_features(self, images: np.ndarray,
                              batch_size: int = 32) -> tuple[np.ndarray, np.ndarray | None]:
        if not self.supports_features:
            return self.log_odds(images, batch_size), None
        images = np.asarray(images, dtype=np.float32)
        scores, feats = [], []
        for i in range(0, len(images), batch_size):
            s, f = self._forward(images[i : i + batch_size], True)
            scores.append(s.double().numpy())
            f = f.detach()
            feats.append((f.mean(dim=(1, 2)) if f.ndim == 4 else f.flatten(1)).numpy())
        out = np.concatenate(scores) if scores else np.empty(0)
        if np.isnan(out).any():
            return self.log_odds(images, batch_size), None  # log_odds() says it in one line
        return out, (np.concatenate(feats) if feats else np.empty((0, 0), np.float32))


def _output_kind(model) -> str | None:
    """``probability`` or ``softmax`` where the output layer's activation says so, else None."""
    layer = model.layers[-1] if getattr(model, "layers", None) else None
    act = getattr(layer, "activation", None)
    name = getattr(act, "__name__", str(act or "")).lower()
    if name == "sigmoid":
        return "probability"
    if name == "softmax":
        return "softmax"
    return None


def _features_model(keras, model):
    """A model giving (the last ``Dense`` layer's input, the output); None where the model is not
    built of layers one can reach (a subclassed model)."""
    dense = [layer for layer in getattr(model, "layers", []) if isinstance(layer, keras.layers.Dense)]
    if not dense:
        return None
    try:
        return keras.Model(model.inputs, [dense[-1].input, model.outputs[0]])
    except Exception:  # noqa: BLE001 - a subclassed model has no graph to cut
        return None


@register_format
class Keras(ModelFormat):
    """A ``.keras`` zip (``config.json`` with ``model.weights.h5``) or an HDF5 file."""

    name = "keras"
    order = 20
    features = True
    gradients = True

    def claims(self, file: ModelFile) -> bool:
        names = file.zip_names
        return ("config.json" in names and any(n.endswith(".weights.h5") for n in names)) or file.is_hdf5

    def load(self, file: ModelFile, *, arch: str | None, spec: ModelSpec) -> Scorer:
        path = file.path
        keras = import_keras()
        try:
            model = keras.saving.load_model(str(path), compile=False, safe_mode=True)
        except ImportError as exc:  # h5py for a legacy .h5
            raise CxrIsiError(f"{path}: {INSTALL} ({exc})") from None
        except Exception as exc:  # noqa: BLE001 - Keras' errors for a damaged or foreign file
            first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
            raise CxrIsiError(f"{path}: not a readable Keras model ({first})") from None
        shape = list(getattr(model, "input_shape", None) or [])
        if len(shape) != 4:
            raise ModelSpecError(f"{path}: the Keras model takes input of shape {tuple(shape)}; cxr-isi feeds one "
                                 "image batch (N, H, W, C) or (N, C, H, W)")
        fixed, layout = fixed_input(shape, spec, path)
        outputs = list(getattr(model, "outputs", None) or [])
        if len(outputs) > 1:
            names = getattr(model, "output_names", None) or [getattr(o, "name", str(i)) for i, o in enumerate(outputs)]
            raise ModelSpecError(f"{path}: the Keras model has {len(outputs)} outputs ({', '.join(map(str, names))}); "
                                 "cxr-isi reads one: save the one that scores the classes as a model of its own "
                                 "(keras.Model(model.inputs, model.outputs[i]))")
        output = _output_kind(model)
        if output and "output" not in spec.model_fields_set:
            spec = spec.model_copy(update={"output": output})
        spec = spec.filled(size=fixed[2] or 224, channels=fixed[1] or 3, normalise="none", layout=layout)
        if spec.channels not in (1, 3):
            raise ModelSpecError(f"{path}: the Keras model takes {fixed[1]} channels; cxr-isi feeds 1 or 3")
        return KerasScorer(model, spec, path.name, str(path), _features_model(keras, model))
