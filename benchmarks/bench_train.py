"""Training speed on this CPU: small_cnn at 128 and vgg16_gap at 224 (images per second), and the
share of the machine's measured float32 matrix-multiply rate that VGG-16 reaches.

FLOPs per image come from torch's FlopCounterMode (forward and backward of one training step).
The baseline is a large float32 matmul measured in the same run: the practical peak of these
cores with this build (theoretical peaks assume clock and vector units that a shared VM may not
give).
"""

from __future__ import annotations

import time


def _matmul_rate(n: int = 2048, reps: int = 6) -> float:
    import torch

    a, b = torch.randn(n, n), torch.randn(n, n)
    a @ b
    t0 = time.perf_counter()
    for _ in range(reps):
        a @ b
    return 2 * n**3 * reps / (time.perf_counter() - t0)


def _train_rate(name: str, size: int, batch: int, steps: int) -> tuple[float, float]:
    import torch
    import torch.nn.functional as F
    from torch.utils.flop_counter import FlopCounterMode

    from cxr_isi.models import create_model

    torch.manual_seed(0)
    model = create_model(name).train()
    opt = torch.optim.AdamW(model.parameters(), lr=1e-4)
    x, y = torch.rand(batch, 1, size, size), (torch.rand(batch) > 0.5).float()

    def step():
        loss = F.binary_cross_entropy_with_logits(model(x), y)
        opt.zero_grad()
        loss.backward()
        opt.step()

    with FlopCounterMode(display=False) as counter:
        step()
    flops_per_image = counter.get_total_flops() / batch
    t0 = time.perf_counter()
    for _ in range(steps):
        step()
    rate = batch * steps / (time.perf_counter() - t0)
    return rate, flops_per_image


def run():
    import torch

    rows = []
    peak = _matmul_rate()
    rows.append({"case": f"float32 matmul 2048 ({torch.get_num_threads()} threads)", "value": peak / 1e9,
                 "unit": "GFLOP/s", "baseline": True})
    small, _ = _train_rate("small_cnn", 128, 32, 6)
    rows.append({"case": "train small_cnn, 128 px, batch 32", "value": small, "unit": "img/s"})
    vgg, fpi = _train_rate("vgg16_gap", 224, 4, 2)
    rows.append({"case": "train vgg16_gap, 224 px, batch 4", "value": vgg, "unit": "img/s",
                 "note": f"{fpi / 1e9:.1f} GFLOP per image (fwd+bwd)"})
    rows.append({"case": "vgg16_gap training FLOP rate", "value": vgg * fpi / 1e9, "unit": "GFLOP/s",
                 "note": f"{vgg * fpi / peak:.0%} of the measured matmul rate"})
    return "Classifier training on the CPU", rows
