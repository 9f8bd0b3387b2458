"""``cxr-isi explain``: explanations of one or two trained models on the same images, the
overlays, and the lung attention table (``lung_attention.csv``)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from cxr_isi._io import write_json
from cxr_isi.data.cache import ImageCache, cache_pairs
from cxr_isi.data.manifest import Manifest
from cxr_isi.errors import CxrIsiError
from cxr_isi.explain.attention import attention_summary, lung_attention
from cxr_isi.logs import get_logger

log = get_logger("explain")
METHODS = ("gradcam", "gradcam++", "lime", "integrated_gradients")
PANEL_IMAGES = 6


def make_explainer(method: str, model, seed: int = 0, **kw):
    if method in ("gradcam", "gradcam++"):
        from cxr_isi.explain.gradcam import GradCAMExplainer

        return GradCAMExplainer(model, seed=seed, plus=method == "gradcam++")
    if method == "lime":
        from cxr_isi.explain.lime_explainer import LimeExplainer

        return LimeExplainer(model, seed=seed, **kw)
    if method == "integrated_gradients":
        from cxr_isi.explain.integrated_gradients import IntegratedGradientsExplainer

        return IntegratedGradientsExplainer(model, seed=seed, **kw)
    raise CxrIsiError(f"unknown method {method!r}; one of {', '.join(METHODS)}")


def model_names(checkpoints: list[Path]) -> list[str]:
    """A distinct name per checkpoint: its folder (``runs/isi/best.pt`` -> ``isi``), or the
    folder above when those are alike (a run folder's ``jobs/<job>/train/best.pt`` -> ``<job>``),
    else numbered."""
    paths = [Path(c) for c in checkpoints]
    for depth in (1, 2):
        names = [p.parents[depth - 1].name if len(p.parents) >= depth else "" for p in paths]
        if all(names) and len(set(names)) == len(names):
            return names
    return [f"{p.parent.name or 'model'}_{i + 1}" for i, p in enumerate(paths)]


def _truth_masks(frame: pd.DataFrame, images, size: int, resize: str, origin: str,
                 lungs: np.ndarray | None) -> dict[str, np.ndarray]:
    """The truth masks the manifest has for every row (lesion, marker, border; ``lungs`` as
    already read), at the explained images' geometry (a mask of another size than its image is
    a one-line error)."""
    from cxr_isi.data.cache import check_mask_sizes
    from cxr_isi.explain.truth import TRUTH_COLUMNS

    out = {} if lungs is None else {"lungs": lungs}
    for region, column in TRUTH_COLUMNS.items():
        if region == "lungs" or column not in frame.columns or not (frame[column].astype(str) != "").all():
            continue
        cache = ImageCache(size=size, resize=resize, kind="mask")
        cache.update(frame[column].tolist(), progress=False)
        opened = cache.open()
        check_mask_sizes(images, opened, frame["path"].tolist(), frame[column].tolist(), origin)
        out[region] = np.stack([opened.get(p) > 127 for p in frame[column]])
    return out


def explain_run(checkpoints: list[Path] | dict[str, Path], manifest: Manifest, out_dir: Path,
                methods: list[str], n_images: int = 8, ids: list[str] | None = None, seed: int = 0,
                num_samples: int = 1000, sanity: bool = False, ig_steps: int = 32) -> pd.DataFrame:
    """Explain every checkpoint on the same positive images; write overlays and the table.

    ``checkpoints`` as a mapping names each model (the table's ``train_dataset``); as a list,
    each is named by its folder. Where the manifest holds the truth (a phantom's lesion, marker
    and border masks; QaTa-COV19's infection masks), each map is also scored against it
    (``truth_<model>_<method>.csv`` per image, ``truth.csv`` summed up); ``sanity`` adds the
    model-randomisation test (``randomisation.csv``). ``num_samples`` is LIME's perturbations
    per image, ``ig_steps`` Integrated Gradients' steps along its path."""
    from cxr_isi.lungs.hideseek import apply_variant
    from cxr_isi.train.loop import load_classifier

    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    if not isinstance(checkpoints, dict):
        checkpoints = dict(zip(model_names(checkpoints), checkpoints, strict=True))
    models = {}
    for name, ck in checkpoints.items():
        models[name] = load_classifier(ck)[:2]
    cfg0 = next(iter(models.values()))[1]
    frame = manifest.frame
    if ids:
        frame = frame[frame["path"].map(lambda p: Path(p).name in ids or Path(p).stem in ids)]
        if frame.empty:
            raise CxrIsiError(f"{manifest.origin}: none of the ids {ids[:3]} are in the manifest")
    elif manifest.label_mapping is not None:
        positive = manifest.y == 1
        if "split" in frame.columns and (frame["split"] == "test").any():
            positive &= (frame["split"] == "test").to_numpy()
        frame = frame[positive]
    frame = frame.head(n_images) if ids is None and n_images else frame
    paths = frame["path"].tolist()
    masks = None
    if "mask_path" in frame.columns and (frame["mask_path"] != "").all():
        im, mk, _, _ = cache_pairs(paths, frame["mask_path"].tolist(), size=cfg0.size,
                                   resize=cfg0.resize, origin=manifest.origin)
        masks = np.stack([mk.get(p) > 127 for p in frame["mask_path"]])
    else:
        images = ImageCache(size=cfg0.size, resize=cfg0.resize)
        images.update(paths, progress=False)
        im = images.open()
        log.warning("no lung mask for some images: explanations without the lung attention score")
    x = np.stack([im.get(p).astype(np.float32) / 255 for p in paths])
    from cxr_isi.explain.truth import (
        randomised_copy,
        rank_correlation,
        region_attention,
        truth_regions,
        truth_summary,
    )

    truth = truth_regions(_truth_masks(frame, im, cfg0.size, cfg0.resize, manifest.origin, masks))
    rows, per_method, truth_rows, sanity_rows = [], {}, [], []
    for method in methods:
        maps_by_model = {}
        for name, (model, cfg) in models.items():
            xin = x if masks is None or cfg.variant == "original" else apply_variant(cfg.variant, x, masks)
            kw = ({"num_samples": num_samples} if method == "lime"
                  else {"steps": ig_steps} if method == "integrated_gradients" else {})
            with make_explainer(method, model, seed=seed, **kw) as e:
                maps = e.explain(xin)
            maps_by_model[name] = maps
            label = {"train_dataset": name, "variant": cfg.variant, "model": cfg.model, "method": method}
            if set(truth) - {"lungs"}:
                per = region_attention(maps, truth)
                per.insert(0, "path", frame["path"].to_numpy())
                per.to_csv(out_dir / f"truth_{name}_{method}.csv", index=False)
                truth_rows += [{**label, **r} for r in truth_summary(per).to_dict("records")]
            if sanity:
                with make_explainer(method, randomised_copy(model, seed), seed=seed, **kw) as e:
                    rho = rank_correlation(maps, e.explain(xin))
                finite = rho[np.isfinite(rho)]
                sanity_rows.append({**label, "n": len(finite),
                                    "rank_correlation": float(finite.mean()) if len(finite) else float("nan")})
            if masks is not None:
                per_image = lung_attention(maps, masks)
                per_image.insert(0, "path", frame["path"].to_numpy())
                per_image.to_csv(out_dir / f"attention_{name}_{method}.csv", index=False)
                rows.append({"train_dataset": name, "variant": cfg.variant, "model": cfg.model,
                             "method": method, **attention_summary(per_image)})
        from cxr_isi.explain.figure import overlay_panel

        k = min(len(x), PANEL_IMAGES)  # the table covers every image; the figure shows the first few
        overlay_panel(x[:k], {n: m[:k] for n, m in maps_by_model.items()}, method, out_dir / f"{method}.png",
                      titles=[Path(p).stem[:14] for p in frame["path"][:k]])
        per_method[method] = maps_by_model
    table = pd.DataFrame(rows)
    if len(table):
        table.to_csv(out_dir / "lung_attention.csv", index=False)
    if truth_rows:
        pd.DataFrame(truth_rows).to_csv(out_dir / "truth.csv", index=False)
    if sanity_rows:
        pd.DataFrame(sanity_rows).to_csv(out_dir / "randomisation.csv", index=False)
    write_json(out_dir / "explain.json", {"checkpoints": {k: str(c) for k, c in checkpoints.items()},
                                          "methods": methods, "images": frame["path"].tolist(),
                                          "lung_scores": masks is not None})
    return table
