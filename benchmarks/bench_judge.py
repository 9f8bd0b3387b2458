"""`cxr-isi judge` at a user's size: a torchvision ResNet-50 at 224 px judged on 1,000 images
(segmentation, the six image sets, the lung swap, the source from features and scores, occlusion
and Integrated Gradients maps on 8 positive images), in a fresh process: wall time and peak
memory (target: <= 10 minutes, <= 4 GB on the 2-core machine).

The images are ``nih256`` (1,000 real radiographs, pneumonia vs no finding) where ``../shared`` is
present, else 1,000 phantoms. The model's weights are random (seeded): its speed and memory are a
trained one's; its verdict is not the point here. Baseline: the same process scoring the 1,000
original images once and nothing else (the least any judge must do).
"""

from __future__ import annotations

import json
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
NIH = ROOT / ".." / "shared" / "data" / "nih256"
N = 1000
SIZE = 224
MAP_IMAGES = 8

_CHILD = r"""
import json, resource, sys, time, warnings
warnings.simplefilter("ignore")
mode, model, manifest, positive, out = sys.argv[1:6]
t0 = time.perf_counter()
import numpy as np
import cxr_isi as ci
if mode == "judge":
    v = ci.judge(model, manifest, positive=positive, out=out, arch="torchvision:resnet50", size=224, map_images=8)
    what = v.kind
else:
    from cxr_isi.data import Manifest
    from cxr_isi.data.cache import ImageCache
    from cxr_isi.models.scorer import ModelSpec, load_scorer
    m = Manifest.read(manifest)
    scorer = load_scorer(model, arch="torchvision:resnet50", spec=ModelSpec(size=224))
    cache = ImageCache(None, size=224, resize="pad")
    cache.update(m.paths)
    images = cache.open()
    x = np.stack([images.get(p) for p in m.paths]).astype(np.float32) / 255
    what = float(scorer.score(x).mean())
print(json.dumps({"seconds": time.perf_counter() - t0, "what": what,
                  "peak_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}))
"""


def _data(tmp: Path) -> tuple[Path, str, str]:
    if (NIH / "manifest.csv").is_file():
        import pandas as pd

        frame = pd.read_csv(NIH / "manifest.csv", dtype=str, keep_default_na=False)
        frame["path"] = [str((NIH / p).resolve()) for p in frame["path"]]
        frame["mask_path"] = ""
        frame.head(N).to_csv(tmp / "manifest.csv", index=False)
        return tmp / "manifest.csv", "pneumonia", "nih256 (real)"
    from cxr_isi.synth import SynthConfig, generate

    generate(SynthConfig(preset="isi", n=N, size=256, seed=0), tmp / "phantoms", jobs=2)
    return tmp / "phantoms" / "manifest.csv", "covid", "phantoms (isi)"


def _child(mode: str, model: Path, manifest: Path, positive: str, out: Path, cache: Path) -> dict:
    import os

    env = {**os.environ, "CXR_ISI_CACHE": str(cache), "HF_HUB_OFFLINE": "1"}
    done = subprocess.run([sys.executable, "-c", _CHILD, mode, str(model), str(manifest), positive, str(out)],
                          capture_output=True, text=True, env=env, check=True)
    return json.loads(done.stdout.strip().splitlines()[-1])


def run():
    import torch
    import torchvision

    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        manifest, positive, what = _data(tmp)
        torch.manual_seed(0)
        torch.save(torchvision.models.resnet50(weights=None, num_classes=1).state_dict(), tmp / "resnet50.pt")
        base = _child("score", tmp / "resnet50.pt", manifest, positive, tmp / "unused", tmp / "cache_score")
        judged = _child("judge", tmp / "resnet50.pt", manifest, positive, tmp / "judged", tmp / "cache_judge")
        title = f"cxr-isi judge: ResNet-50 at {SIZE} px on {N} images of {what}, maps on {MAP_IMAGES} (fresh processes)"
        return (title, [
            {"case": "score the originals once (cache build included)", "value": base["seconds"], "unit": "s",
             "baseline": True},
            {"case": "judge: segmentation, 6 image sets, swap, source, maps", "value": judged["seconds"], "unit": "s",
             "note": f"target <= 600 s; verdict: {judged['what']}"},
            {"case": "peak memory, scoring once", "value": base["peak_mb"], "unit": "MB", "baseline": True},
            {"case": "peak memory, judge", "value": judged["peak_mb"], "unit": "MB", "note": "target <= 4,096 MB"},
        ])


if __name__ == "__main__":
    print(run())
