"""Batched augmentation on tensors: one affine grid for a whole batch (and its masks), then
intensity changes. Written here because per-sample dict transforms (MONAI, torchvision v2)
redraw and resample image by image on the CPU; this runs once per batch, on any device."""

from __future__ import annotations


def random_affine(images, gen, *, rotate: float = 0.17, scale: tuple[float, float] = (0.85, 1.15),
                  aspect: float = 0.15, shift: float = 0.08, masks=None, hflip: bool = False,
                  share: tuple[int, int] = (1, 0)):
    """Rotate (radians), scale, stretch and shift every image of an (N, C, H, W) batch by its
    own random draw; ``masks`` (N, 1, H, W) follow the same geometry and stay binary.
    Horizontal flips only when asked: a flip moves a laterality marker to the other side.

    ``share=(world, rank)``: the batch is rows ``rank::world`` of a global batch split over
    ``world`` processes (``DistributedSampler``'s interleaving); the draws are made for the whole
    global batch from the same generator state and this process keeps its rows, so a distributed
    run augments exactly as one process with the global batch."""
    import torch
    import torch.nn.functional as F

    n = images.shape[0]
    world, rank = share

    def u(lo, hi):
        return (lo + (hi - lo) * torch.rand(n * world, generator=gen))[rank::world]

    angle = u(-rotate, rotate)
    base = u(*scale)
    stretch = u(1 - aspect, 1 + aspect)
    sx, sy = base * stretch, base / stretch
    tx, ty = u(-shift, shift), u(-shift, shift)
    if hflip:
        sx = sx * torch.where(u(0, 1) < 0.5, -1.0, 1.0)
    cos, sin = torch.cos(angle), torch.sin(angle)
    theta = torch.stack([torch.stack([cos / sx, -sin / sx, tx], 1),
                         torch.stack([sin / sy, cos / sy, ty], 1)], 1).to(images.device, images.dtype)
    grid = F.affine_grid(theta, list(images.shape), align_corners=False)
    images = F.grid_sample(images, grid, mode="bilinear", padding_mode="zeros", align_corners=False)
    if masks is not None:
        masks = F.grid_sample(masks.to(images.dtype), grid, mode="bilinear", padding_mode="zeros",
                              align_corners=False) > 0.5
        return images, masks.to(images.dtype)
    return images


def random_intensity(images, gen, *, gamma: tuple[float, float] = (0.7, 1.4),
                     contrast: float = 0.2, brightness: float = 0.08, noise: float = 0.03,
                     share: tuple[int, int] = (1, 0)):
    """Per-image gamma, contrast, brightness and Gaussian noise on [0, 1] images (``share`` as
    in :func:`random_affine`)."""
    import torch

    n = images.shape[0]
    world, rank = share
    shape = (n,) + (1,) * (images.dim() - 1)

    def u(lo, hi):
        drawn = (lo + (hi - lo) * torch.rand(n * world, generator=gen))[rank::world]
        return drawn.view(shape).to(images.device, images.dtype)

    out = images.clamp(0, 1) ** u(*gamma)
    out = out * u(1 - contrast, 1 + contrast) + u(-brightness, brightness)
    if noise > 0:
        drawn = torch.randn((n * world, *images.shape[1:]), generator=gen)[rank::world]
        out = out + drawn.to(images.device, images.dtype) * u(0, noise)
    return out
