"""Checkpoint I/O shared by every training loop: safe reading (``weights_only=True``, one-line
errors) and the resume state (weights, optimiser, schedule, random state, progress)."""

from __future__ import annotations

import json
from pathlib import Path

from cxr_isi._io import atomic_write
from cxr_isi.errors import CxrIsiError


def read_checkpoint(path: str | Path) -> dict:
    """``torch.load(weights_only=True)`` with one-line errors for missing or damaged files."""
    import torch

    path = Path(path)
    if not path.is_file():
        raise CxrIsiError(f"{path}: checkpoint not found")
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # noqa: BLE001 - pickle, zip and EOF errors for a damaged file
        raise CxrIsiError(f"{path}: corrupted or not a PyTorch checkpoint ({type(exc).__name__})") from None
    if not isinstance(state, dict):
        raise CxrIsiError(f"{path}: not a checkpoint (a {type(state).__name__}, not a dict)")
    return state


def save_resume(path: Path, net, opt, sched, gen, state: dict, **extra) -> None:
    """Everything a loop needs to continue exactly where it stopped, written atomically;
    ``extra`` keys (format, model name, config) go in beside it."""
    import torch

    ck = {"state_dict": net.state_dict(), "optimizer": opt.state_dict(),
          "scheduler": sched.state_dict(), "generator": gen.get_state(),
          "torch_rng": torch.get_rng_state(), "state": json.dumps(state), **extra}
    atomic_write(path, lambda p: torch.save(ck, p))


def load_resume(ck: dict, net, opt, sched, gen) -> dict:
    """Restore what :func:`save_resume` wrote; return the loop's progress record."""
    import torch

    net.load_state_dict(ck["state_dict"])
    opt.load_state_dict(ck["optimizer"])
    sched.load_state_dict(ck["scheduler"])
    gen.set_state(ck["generator"])
    torch.set_rng_state(ck["torch_rng"])
    return json.loads(ck["state"])


def cosine_schedule(opt, epochs: int):
    """Cosine decay of the learning rate to zero over ``epochs`` (per-epoch steps): torch's
    ``CosineAnnealingLR``."""
    import torch

    return torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=epochs, eta_min=0.0)
