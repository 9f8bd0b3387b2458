"""LIME through the ``lime`` package, made deterministic and fast for grayscale radiographs.

- The package expects RGB: the radiograph is repeated to three channels for its segmentation,
  and our classifier reads one channel back.
- Seeded twice: the explainer's ``random_state`` (the perturbation sampling, unseeded by
  default) and the segmentation's ``random_seed``.
- Fast: :class:`FastLimeImageExplainer` overrides only ``data_labels``, the package's
  per-sample Python loop that builds each perturbed image superpixel by superpixel. Ours draws
  the same random rows from the same generator and builds a whole batch with one indexing
  operation, so it gives the same explanation, faster. Segmentation and the weighted ridge
  regression stay the package's.
"""

from __future__ import annotations

import time
import weakref

import numpy as np

from cxr_isi.explain.base import Explainer, model_scores

_BATCH_CACHE: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()  # per model object, see base


def _fast_explainer_class():
    from lime.lime_image import LimeImageExplainer

    class FastLimeImageExplainer(LimeImageExplainer):
        """``LimeImageExplainer`` with a vectorised neighbourhood (same draws, same images)."""

        timings: dict

        def data_labels(self, image, fudged_image, segments, classifier_fn, num_samples, batch_size=10):
            n_features = np.unique(segments).shape[0]
            data = self.random_state.randint(0, 2, num_samples * n_features).reshape((num_samples, n_features))
            data[0, :] = 1
            gray, fudged = image[..., 0], fudged_image[..., 0]
            labels, build, score = [], 0.0, 0.0
            for start in range(0, num_samples, batch_size):
                t0 = time.perf_counter()
                keep = data[start : start + batch_size].astype(bool)[:, segments]
                batch = np.where(keep, gray, fudged)
                t1 = time.perf_counter()
                labels.append(classifier_fn(batch))
                build += t1 - t0
                score += time.perf_counter() - t1
            self.timings = {"perturbation": build, "model": score}
            return data, np.concatenate(labels)

    return FastLimeImageExplainer


def classifier_fn(model, batch_size: int = 64, size: int | None = None):
    """LIME's ``classifier_fn``: RGB or gray batches in [0, 1] -> ``(N, 2)`` probabilities,
    scored by the inference-optimised model when ``size`` is given."""
    from cxr_isi.explain.base import inference_model

    scorer = inference_model(model, size) if size else model

    def fn(images: np.ndarray) -> np.ndarray:
        gray = images[..., 0] if images.ndim == 4 else images
        p = model_scores(scorer, gray.astype(np.float32), batch_size=batch_size)
        return np.stack([1 - p, p], axis=1)

    return fn


def fastest_batch_size(model, size: int, candidates=(2, 4, 8, 16, 32), probe: int = 32) -> int:
    """The scoring batch size that measures fastest here (cached per model and image size);
    the probe scores ``probe`` images per candidate, a small share of one explanation."""
    per_size = _BATCH_CACHE.setdefault(model, {})
    if size not in per_size:
        x = np.random.default_rng(0).random((probe, size, size), dtype=np.float32)
        best, best_rate = candidates[0], 0.0
        model_scores(model, x[: candidates[0]], candidates[0])  # warm-up
        for bs in candidates:
            t0 = time.perf_counter()
            model_scores(model, x, bs)
            rate = len(x) / (time.perf_counter() - t0)
            if rate > best_rate:
                best, best_rate = bs, rate
        per_size[size] = best
    return per_size[size]


class LimeExplainer(Explainer):
    """Superpixel contributions for the positive class; ``top`` keeps the paper's top 5.

    The map gives each pixel its superpixel's weight in LIME's local linear model, for the
    ``top`` superpixels by absolute weight (0 elsewhere); ``explanations_`` keeps the
    package's ``ImageExplanation`` objects for overlays.
    """

    name = "lime"

    def __init__(self, model, seed: int = 0, num_samples: int = 1000, top: int = 5,
                 batch_size: int | None = None, kernel_size: float = 4, max_dist: float = 200,
                 ratio: float = 0.2, fast: bool = True):
        super().__init__(model, seed)
        self.num_samples, self.top, self.batch_size, self.fast = num_samples, top, batch_size, fast
        self.seg_args = {"kernel_size": kernel_size, "max_dist": max_dist, "ratio": ratio}
        self.explanations_: list = []
        self.timings_: list[dict] = []

    def explain(self, images: np.ndarray) -> np.ndarray:
        from lime.lime_image import LimeImageExplainer
        from lime.wrappers.scikit_image import SegmentationAlgorithm

        maps = np.zeros(images.shape, dtype=np.float32)
        size = images.shape[-1]
        if self.fast:
            from cxr_isi.explain.base import inference_model

            scorer = inference_model(self.model, size)
            bs = self.batch_size or fastest_batch_size(scorer, size)
            fn = classifier_fn(self.model, batch_size=bs, size=size)
        else:
            bs = self.batch_size or 10
            fn = classifier_fn(self.model, batch_size=bs)
        cls = _fast_explainer_class() if self.fast else LimeImageExplainer
        for i, img in enumerate(images):
            explainer = cls(random_state=self.seed)
            seg = SegmentationAlgorithm("quickshift", random_seed=self.seed, **self.seg_args)
            rgb = np.repeat(img[..., None].astype(np.float64), 3, axis=2)
            t0 = time.perf_counter()
            segments = seg(rgb)
            t_seg = time.perf_counter() - t0
            t1 = time.perf_counter()
            exp = explainer.explain_instance(rgb, fn, labels=(1,), top_labels=None, hide_color=None,
                                             num_samples=self.num_samples, batch_size=bs,
                                             segmentation_fn=lambda _x, s=segments: s,
                                             random_seed=self.seed)
            total = time.perf_counter() - t1
            timing = {"segmentation": t_seg, "total": t_seg + total,
                      **getattr(explainer, "timings", {})}
            self.timings_.append(timing)
            weights = sorted(exp.local_exp[1], key=lambda fw: -abs(fw[1]))[: self.top]
            for feature, w in weights:
                maps[i][exp.segments == feature] = w
            self.explanations_.append(exp)
        return maps
