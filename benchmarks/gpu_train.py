"""GPU training benchmark of the paper's model: ``python benchmarks/gpu_train.py`` (about 5 min).

vgg16_gap at 512 x 512, bf16 autocast, channels_last, AdamW; reports images per second and the
model FLOPs utilisation (MFU: training FLOPs per second over the card's dense bf16 peak), for
(a) batches already on the GPU and (b) the real input path: phantoms in the memory-mapped cache,
``HideSeekDataset``, a DataLoader with pinned memory and workers. The loader is not the
bottleneck when (a) is less than 10% faster than (b). ``--device cpu --size 64 --steps 2`` is a
dry run that the test suite uses.
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from pathlib import Path

PEAK_BF16_TFLOPS = {"H100": 989.4, "H200": 989.4, "A100": 312.0, "L40S": 362.0, "L4": 121.0}


def peak_tflops(device_name: str, override: float | None) -> float | None:
    if override:
        return override
    for key, value in PEAK_BF16_TFLOPS.items():
        if key in device_name:
            return value
    return None


def main(argv=None) -> dict:
    import torch
    import torch.nn.functional as F
    from torch.utils.flop_counter import FlopCounterMode

    from cxr_isi.data import LabelMapping
    from cxr_isi.lungs.dataset import HideSeekDataset
    from cxr_isi.models import create_model
    from cxr_isi.synth import SynthConfig, generate

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--size", type=int, default=512)
    ap.add_argument("--batch", type=int, default=32)
    ap.add_argument("--steps", type=int, default=30)
    ap.add_argument("--device", default="cuda")
    ap.add_argument("--images", type=int, default=1024, help="phantoms in the cache for (b)")
    ap.add_argument("--workers", type=int, default=min(12, os.cpu_count() or 1))
    ap.add_argument("--compile", action="store_true")
    ap.add_argument("--peak-tflops", type=float, default=None)
    args = ap.parse_args(argv)
    device = torch.device(args.device)
    gpu = device.type == "cuda"
    torch.backends.cudnn.benchmark = gpu
    model = create_model("vgg16_gap").to(device)
    if gpu:
        model = model.to(memory_format=torch.channels_last)
    opt = torch.optim.AdamW(model.parameters(), lr=1e-4, fused=gpu)
    step_model = torch.compile(model) if args.compile else model

    def step(x, y):
        with torch.autocast(device.type, dtype=torch.bfloat16, enabled=gpu):
            loss = F.binary_cross_entropy_with_logits(step_model(x).float(), y)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()

    x = torch.rand(args.batch, 1, args.size, args.size, device=device)
    if gpu:
        x = x.contiguous(memory_format=torch.channels_last)
    y = (torch.rand(args.batch, device=device) > 0.5).float()
    with FlopCounterMode(display=False) as counter:
        step(x, y)
    flops_per_image = counter.get_total_flops() / args.batch

    def timed(batches):
        for i, (bx, by) in enumerate(batches):
            if i == 2:  # warm-up done
                if gpu:
                    torch.cuda.synchronize()
                t0, n = time.perf_counter(), 0
            step(bx, by)
            if i >= 2:
                n += len(bx)
        if gpu:
            torch.cuda.synchronize()
        return n / (time.perf_counter() - t0)

    resident = timed((x, y) for _ in range(args.steps + 2))
    with tempfile.TemporaryDirectory() as tmp:
        os.environ["CXR_ISI_CACHE"] = str(Path(tmp) / "cache")
        m = generate(SynthConfig(preset="balanced", n=args.images, size=args.size, seed=0), Path(tmp) / "ph")
        ds = HideSeekDataset(m.with_labels(LabelMapping(positive=["covid"])), "original", size=args.size)
        loader = torch.utils.data.DataLoader(ds, batch_size=args.batch, shuffle=True, drop_last=True,
                                             num_workers=args.workers if gpu else 0, pin_memory=gpu,
                                             persistent_workers=gpu and args.workers > 0,
                                             prefetch_factor=4 if gpu and args.workers > 0 else None)

        def from_loader():
            yielded = 0
            while yielded < args.steps + 2:
                for bx, by in loader:
                    bx = bx.to(device, non_blocking=True)
                    if gpu:
                        bx = bx.contiguous(memory_format=torch.channels_last)
                    yield bx, by.to(device, non_blocking=True).float()
                    yielded += 1
                    if yielded >= args.steps + 2:
                        return

        loaded = timed(from_loader())
    name = torch.cuda.get_device_name(device) if gpu else "cpu"
    peak = peak_tflops(name, args.peak_tflops)
    result = {"device": name, "size": args.size, "batch": args.batch,
              "gflop_per_image": flops_per_image / 1e9,
              "img_per_s_resident": resident, "img_per_s_loader": loaded,
              "loader_gap": resident / loaded - 1}
    if peak:
        result["mfu_resident"] = resident * flops_per_image / (peak * 1e12)
        result["mfu_loader"] = loaded * flops_per_image / (peak * 1e12)
    for k, v in result.items():
        print(f"{k:>20}: {v:.3f}" if isinstance(v, float) else f"{k:>20}: {v}")
    return result


if __name__ == "__main__":
    main()
