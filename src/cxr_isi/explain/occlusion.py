"""Occlusion: the model-agnostic map (Zeiler & Fergus 2014) through captum, for models whose
layers and gradients are out of reach (ONNX) and as a check on the gradient maps for the rest.

A square patch of zeros (no X-ray signal, as the hidden lungs of the protocol) slides over the
image; the map at a pixel is the mean drop in the positive class's log-odds over the patches
that cover it (log-odds, not the probability: a confident model's probability is 1 whatever is
hidden, and its map would be empty). Positive = evidence for the positive class, as in every explainer here."""

from __future__ import annotations

import numpy as np

from cxr_isi.explain.base import Explainer


class OcclusionExplainer(Explainer):
    """``captum.attr.Occlusion`` over any scorer (an object with ``log_odds(images) -> (N,)``, or
    ``score``).

    Parameters
    ----------
    model : Scorer
        A :class:`~cxr_isi.models.scorer.Scorer` (its ``log_odds``), or anything with ``score``.
    seed : int
        Unused (occlusion draws nothing); kept for the common signature.
    window : int, optional
        Patch side in pixels (default: an eighth of the image side).
    stride : int, optional
        Step between patches (default: half the window).
    """

    name = "occlusion"

    def __init__(self, model, seed: int = 0, window: int | None = None, stride: int | None = None):
        super().__init__(model, seed)
        self.window = window
        self.stride = stride

    def explain(self, images: np.ndarray, batch_size: int = 32) -> np.ndarray:
        import torch
        from captum.attr import Occlusion

        images = np.asarray(images, dtype=np.float32)
        if not len(images):
            return np.empty((0, *images.shape[1:]), np.float32)
        side = images.shape[-1]
        window = self.window or max(2, side // 8)
        stride = self.stride or max(1, window // 2)

        rank = getattr(self.model, "log_odds", None) or self.model.score

        def forward(x):
            return torch.from_numpy(np.asarray(rank(x[:, 0].numpy(), batch_size), dtype=np.float64))

        occ = Occlusion(forward)
        maps = []
        for img in images:
            x = torch.from_numpy(img)[None, None]
            attr = occ.attribute(x, sliding_window_shapes=(1, window, window), strides=(1, stride, stride),
                                 baselines=0.0, perturbations_per_eval=batch_size)
            maps.append(attr[0, 0].numpy())
        return np.stack(maps)
