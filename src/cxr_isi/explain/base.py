"""The small base every explanation method shares (pytorch-grad-cam's pattern): built around a
model, used as a context manager so hooks and buffers are released, ``explain`` returns one
attribution map per image at the image's size (positive = evidence for the positive class)."""

from __future__ import annotations

import weakref

import numpy as np


class Explainer:
    """Base class: subclasses set ``name`` and implement :meth:`explain`."""

    name = "base"

    def __init__(self, model, seed: int = 0):
        self.model = model
        self.seed = seed

    def explain(self, images: np.ndarray) -> np.ndarray:
        """Attribution maps ``(N, H, W)`` for float images ``(N, H, W)`` in [0, 1]."""
        raise NotImplementedError

    def release(self) -> None:
        """Free hooks and buffers (no-op unless a method holds some)."""

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.release()
        return False


# Keyed by the model object itself, weakly: an ``id()`` key outlives its model, and a new model
# can get a freed model's id, so a second checkpoint would be scored with the first one's weights.
_FROZEN: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


def inference_model(model, size: int):
    """A frozen, inference-optimised copy of ``model`` (batch norm folded into the convolutions
    by ``torch.jit.optimize_for_inference``: 2-2.5x faster on this CPU), cached per model object
    and size for as long as the model lives; the eager model where tracing fails.

    The copy freezes the weights it saw: explain a model only after it is trained."""
    import warnings

    import torch

    per_size = _FROZEN.setdefault(model, {})
    if size not in per_size:
        model.eval()
        try:
            with warnings.catch_warnings(), torch.inference_mode():
                warnings.simplefilter("ignore")
                example = torch.rand(2, 1, size, size)
                per_size[size] = torch.jit.optimize_for_inference(torch.jit.trace(model, example))
        except Exception:  # noqa: BLE001 - any tracing failure falls back to eager
            per_size[size] = None  # never the model itself: the entry would keep its key alive
    return per_size[size] if per_size[size] is not None else model


def model_scores(model, images: np.ndarray, batch_size: int = 64) -> np.ndarray:
    """Positive-class probabilities of a classifier for gray images ``(N, H, W)`` in [0, 1]
    (channels_last: faster for inference on this CPU)."""
    import torch

    model.eval()
    model.to(memory_format=torch.channels_last)
    out = []
    with torch.inference_mode():
        for i in range(0, len(images), batch_size):
            x = torch.from_numpy(np.ascontiguousarray(images[i : i + batch_size], dtype=np.float32))
            x = x.unsqueeze(1).contiguous(memory_format=torch.channels_last)
            out.append(torch.sigmoid(model(x).double()).numpy())
    return np.concatenate(out) if out else np.empty(0, np.float32)
