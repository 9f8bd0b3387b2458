"""Augmentation keeps the protocol honest: no horizontal flip unless asked, masks follow images,
the same generator state gives the same batch."""

import pytest

torch = pytest.importorskip("torch")
from cxr_isi.data.augment import random_affine, random_intensity  # noqa: E402
from cxr_isi.train.config import AugmentConfig  # noqa: E402


def _marked(n=64, size=32):
    x = torch.zeros(n, 1, size, size)
    x[:, :, 4:10, 2:8] = 1.0  # a laterality marker on the image's left
    return x


def test_no_horizontal_flip_by_default():
    assert AugmentConfig().hflip is False
    x = _marked()
    gen = torch.Generator().manual_seed(0)
    out = random_affine(x, gen, rotate=0.05, scale=(0.95, 1.05), aspect=0.0, shift=0.03)
    left, right = out[..., :16].sum(dim=(1, 2, 3)), out[..., 16:].sum(dim=(1, 2, 3))
    assert (left > right).all()  # the marker stayed on the left of every image
    flipped = random_affine(x, torch.Generator().manual_seed(0), rotate=0.0, scale=(1, 1), aspect=0.0,
                            shift=0.0, hflip=True)
    moved = (flipped[..., 16:].sum(dim=(1, 2, 3)) > flipped[..., :16].sum(dim=(1, 2, 3))).float().mean()
    assert 0.2 < moved < 0.8  # asked for, about half are flipped


def test_masks_follow_and_the_seed_fixes_the_batch():
    x = _marked(8)
    a, ma = random_affine(x, torch.Generator().manual_seed(3), masks=(x > 0.5).float())
    b, mb = random_affine(x, torch.Generator().manual_seed(3), masks=(x > 0.5).float())
    assert torch.equal(a, b) and torch.equal(ma, mb)
    assert set(ma.unique().tolist()) <= {0.0, 1.0}
    inside = (a * ma).sum() / ma.sum().clamp_min(1)
    assert inside > 0.5  # the warped mask lies on the warped marker
    y = random_intensity(a, torch.Generator().manual_seed(1))
    assert y.shape == a.shape and not torch.equal(y, a)


def test_a_share_of_the_global_batch_gets_the_global_draws():
    """Rank r of 2 augments rows r::2 of the global batch exactly as one process would."""
    x = torch.rand(8, 1, 16, 16, generator=torch.Generator().manual_seed(3))

    def augment(images, share=(1, 0)):
        gen = torch.Generator().manual_seed(0)
        out = random_affine(images, gen, rotate=0.2, shift=0.1, hflip=True, share=share)
        return random_intensity(out, gen, noise=0.05, share=share)

    whole = augment(x)
    for rank in (0, 1):
        torch.testing.assert_close(augment(x[rank::2], share=(2, rank)), whole[rank::2])
    assert not torch.allclose(augment(x[0::2]), whole[0::2])  # without the share: other draws
