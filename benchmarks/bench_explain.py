"""LIME on one 224 x 224 radiograph with 1,000 samples, small_cnn: the ``lime`` package's defaults
against ours (same segmentation, same draws, same explanation), with where the time goes; and
Grad-CAM per image at 224 on VGG-16 and small_cnn."""

from __future__ import annotations

import time

import numpy as np


def _image(size: int = 224) -> np.ndarray:
    from cxr_isi.synth.phantom import render_chest

    img, _, _ = render_chest(size, np.random.default_rng(5), disease=0.3)
    return img


def _plain_fn(model):
    """What a user writes for the package: default memory format, whatever batch LIME passes."""
    import torch

    def fn(images):
        x = torch.from_numpy(np.ascontiguousarray(images[..., 0], dtype=np.float32)).unsqueeze(1)
        with torch.inference_mode():
            p = torch.sigmoid(model(x)).numpy()
        return np.stack([1 - p, p], axis=1)

    return fn


def run():
    import torch
    from lime.lime_image import LimeImageExplainer
    from lime.wrappers.scikit_image import SegmentationAlgorithm

    from cxr_isi.explain.gradcam import GradCAMExplainer
    from cxr_isi.explain.lime_explainer import LimeExplainer
    from cxr_isi.models import create_model

    torch.manual_seed(0)
    model = create_model("small_cnn").eval()
    img = _image()
    rgb = np.repeat(img[..., None].astype(np.float64), 3, axis=2)
    rows = []
    seg = SegmentationAlgorithm("quickshift", kernel_size=4, max_dist=200, ratio=0.2, random_seed=0)
    t0 = time.perf_counter()
    segments = seg(rgb)
    t_seg = time.perf_counter() - t0
    fn = _plain_fn(model)
    t0 = time.perf_counter()
    model_time = 0.0

    def timed_fn(batch):
        nonlocal model_time
        t = time.perf_counter()
        out = fn(batch)
        model_time += time.perf_counter() - t
        return out

    LimeImageExplainer(random_state=0).explain_instance(
        rgb, timed_fn, labels=(1,), top_labels=None, num_samples=1000,
        segmentation_fn=lambda _x: segments, random_seed=0)
    total = time.perf_counter() - t0 + t_seg
    rows.append({"case": "lime package defaults (batch 10, its perturbation loop)", "value": total,
                 "unit": "s / explanation", "baseline": True,
                 "note": f"segmentation {t_seg:.1f} s, model {model_time:.1f} s, "
                         f"package's own work {total - t_seg - model_time:.1f} s"})
    ours = LimeExplainer(model, seed=0, num_samples=1000)
    ours.explain(img[None])  # the first call also measures the fastest batch size
    ours.timings_.clear()
    ours.explain(img[None])
    t = ours.timings_[0]
    rows.append({"case": "ours (vectorised perturbation, frozen model, measured batch size)",
                 "value": t["total"], "unit": "s / explanation",
                 "note": f"{total / t['total']:.1f}x faster; segmentation {t['segmentation']:.1f} s, "
                         f"perturbation {t['perturbation']:.2f} s, model {t['model']:.1f} s"})
    x = img[None].astype(np.float32)
    for name in ("small_cnn", "vgg16_gap"):
        m = create_model(name).eval()
        with GradCAMExplainer(m) as g:
            g.explain(x)
            t0 = time.perf_counter()
            for _ in range(3):
                g.explain(x)
            rows.append({"case": f"Grad-CAM, {name}, 224 px",
                         "value": (time.perf_counter() - t0) / 3 * 1000, "unit": "ms / image"})
    return "Explanations (one 224 px image)", rows
