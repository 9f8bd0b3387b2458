"""Grad-CAM and Grad-CAM++ through the ``grad-cam`` package, on any registered model's
``cam_layer`` (its last convolutional block)."""

from __future__ import annotations

import numpy as np

from cxr_isi.errors import CxrIsiError
from cxr_isi.explain.base import Explainer


def _two_column(model):
    """pytorch-grad-cam scores targets on (N, C) outputs; our models give one logit per image."""
    import torch.nn as nn

    class TwoColumn(nn.Module):
        def __init__(self, inner):
            super().__init__()
            self.inner = inner

        def forward(self, x):
            return self.inner(x).unsqueeze(1)

    return TwoColumn(model)


class GradCAMExplainer(Explainer):
    """Class activation maps for the positive class (``plus=True``: Grad-CAM++)."""

    def __init__(self, model, seed: int = 0, plus: bool = False):
        super().__init__(model, seed)
        import torch.nn as nn

        self.name = "gradcam++" if plus else "gradcam"
        layer = getattr(model, "cam_layer", None)
        if layer is None or not any(isinstance(m, nn.Conv2d) for m in model.modules()):
            raise CxrIsiError(f"{type(model).__name__} has no convolutional layer: Grad-CAM needs one "
                              "(use --method lime)")
        from pytorch_grad_cam import GradCAM, GradCAMPlusPlus

        self._cam = (GradCAMPlusPlus if plus else GradCAM)(model=_two_column(model), target_layers=[layer])

    def explain(self, images: np.ndarray, batch_size: int = 16, target: str = "positive") -> np.ndarray:
        """Maps of the evidence for ``target``: ``positive`` (the positive class) or
        ``predicted`` (each image's own decision, positive or negative)."""
        import torch
        from pytorch_grad_cam.utils.model_targets import BinaryClassifierOutputTarget

        from cxr_isi.explain.base import model_scores

        self.model.eval()
        if target == "predicted":
            classes = (model_scores(self.model, images) > 0.5).astype(int)
        else:
            classes = np.ones(len(images), dtype=int)
        maps = []
        for i in range(0, len(images), batch_size):
            x = torch.from_numpy(np.ascontiguousarray(images[i : i + batch_size], dtype=np.float32)).unsqueeze(1)
            targets = [BinaryClassifierOutputTarget(int(c)) for c in classes[i : i + batch_size]]
            maps.append(self._cam(input_tensor=x, targets=targets))
        return np.concatenate(maps).astype(np.float32)

    def release(self) -> None:
        self._cam.activations_and_grads.release()
