"""Integrated Gradients through captum: the gradient method beside the CAM family and LIME.

Attribution of the positive logit, integrated along a straight path from a black image (the
baseline: no X-ray signal) to the image; the map is the attribution summed over channels, at the
image's full resolution (no upsampling, unlike a CAM)."""

from __future__ import annotations

import numpy as np

from cxr_isi.explain.base import Explainer


class IntegratedGradientsExplainer(Explainer):
    """``captum.attr.IntegratedGradients`` on the model's logit (``steps`` Riemann steps)."""

    name = "integrated_gradients"

    def __init__(self, model, seed: int = 0, steps: int = 32, internal_batch_size: int | None = None):
        super().__init__(model, seed)
        self.steps = steps
        self.internal_batch_size = internal_batch_size  # default: a batch's images x steps at once

    def explain(self, images: np.ndarray, batch_size: int = 8) -> np.ndarray:
        import torch
        from captum.attr import IntegratedGradients

        self.model.eval()
        ig = IntegratedGradients(self.model)
        maps = []
        for i in range(0, len(images), batch_size):
            x = torch.from_numpy(np.ascontiguousarray(images[i : i + batch_size], dtype=np.float32)).unsqueeze(1)
            attr = ig.attribute(x, baselines=torch.zeros_like(x), n_steps=self.steps,
                                internal_batch_size=self.internal_batch_size or batch_size * self.steps)
            maps.append(attr.sum(dim=1).detach().numpy())
        return np.concatenate(maps) if maps else np.empty((0, *images.shape[1:]), np.float32)
