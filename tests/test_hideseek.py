"""The five hide-and-seek sets: properties over numpy and torch, single images and batches."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from cxr_isi.lungs.hideseek import (
    VARIANTS,
    apply_variant,
    box_region,
    lung_boxes,
    lungs_boxed_out,
    lungs_framed,
    lungs_isolated,
    lungs_removed,
)

torch = pytest.importorskip("torch")
BACKENDS = ["numpy", "torch"]


def _two_lungs(h=24, w=24, batch=None, seed=0):
    rng = np.random.default_rng(seed)
    shape = (h, w) if batch is None else (batch, h, w)
    mask = np.zeros(shape, bool)
    mask[..., 4:18, 2:9] = True
    mask[..., 6:20, 14:22] = True
    image = rng.uniform(0.05, 1.0, shape).astype(np.float32)
    return image, mask


def _as(backend, *arrays):
    return [torch.from_numpy(np.ascontiguousarray(a)) if backend == "torch" else a for a in arrays]


def _np(x):
    return x.numpy() if hasattr(x, "numpy") else np.asarray(x)


masks = st.builds(
    lambda h, w, y0, y1, x0, x1, y2, x2: (h, w, y0, y1, x0, x1, y2, x2),
    st.integers(8, 20), st.integers(8, 20), st.integers(0, 3), st.integers(4, 7),
    st.integers(0, 3), st.integers(4, 7), st.integers(0, 4), st.integers(0, 4))


@settings(max_examples=40, deadline=None)
@given(spec=masks, backend=st.sampled_from(BACKENDS), batch=st.sampled_from([None, 3]),
       dtype=st.sampled_from(["float32", "uint8"]), box_mode=st.sampled_from(["union", "per_lung"]))
def test_set_properties(spec, backend, batch, dtype, box_mode):
    h, w, y0, y1, x0, x1, y2, x2 = spec
    shape = (h, w) if batch is None else (batch, h, w)
    mask = np.zeros(shape, bool)
    mask[..., y0:y1, x0:x1] = True
    mask[..., y2 + 3 : y2 + 7, x2 + 8 : min(w, x2 + 12)] = True
    rng = np.random.default_rng(h * w)
    image = (rng.uniform(1, 250, shape)).astype(dtype)
    img, msk = _as(backend, image, mask)
    iso, rem = lungs_isolated(img, msk), lungs_removed(img, msk)
    framed = lungs_framed(img, msk, box_mode=box_mode)
    boxed = lungs_boxed_out(img, msk, box_mode=box_mode)
    for out in (iso, rem, framed, boxed, apply_variant("original", img, msk)):
        assert type(out) is type(img) and tuple(out.shape) == tuple(img.shape)
        assert str(out.dtype).endswith(dtype)
    np.testing.assert_array_equal(_np(iso) + _np(rem), image)  # isolated + removed = original
    assert (_np(boxed)[_np(framed) != 0] == 0).all()  # boxed-out is zero where framed is not
    box = box_region(mask, box_mode)
    assert (_np(boxed)[~box] == image[~box]).all() and (_np(framed)[~box] == 0).all()
    assert (_np(framed)[mask] == image[mask]).all()  # the box holds every lung pixel


@pytest.mark.parametrize("backend", BACKENDS)
def test_channels_batch_and_fill(backend):
    image, mask = _two_lungs(batch=2)
    image = np.repeat(image[:, None], 3, axis=1)  # (N, C, H, W) with an (N, H, W) mask
    img, msk = _as(backend, image, mask)
    out = _np(lungs_boxed_out(img, msk, fill=0.5))
    assert out.shape == image.shape
    assert (out[:, :, 4:20, 2:22] == 0.5).all() and (out[:, :, 0, :] == image[:, :, 0, :]).all()


def test_boxes_per_lung_and_union():
    _, mask = _two_lungs()
    assert lung_boxes(mask, "union") == [(4, 20, 2, 22)]
    assert lung_boxes(mask, "per_lung") == [(4, 18, 2, 9), (6, 20, 14, 22)]
    speck = mask.copy()
    speck[22, 22] = True  # a third, tiny component is not a lung
    assert lung_boxes(speck, "per_lung") == [(4, 18, 2, 9), (6, 20, 14, 22)]
    assert lung_boxes(np.zeros((5, 5), bool)) == []
    per = box_region(mask, "per_lung")
    assert not per[5, 11] and box_region(mask, "union")[5, 11]  # the gap between the lungs


def test_errors():
    image, mask = _two_lungs()
    with pytest.raises(ValueError, match="unknown variant 'lungs_hidden'; one of original"):
        apply_variant("lungs_hidden", image, mask)
    with pytest.raises(ValueError, match="does not match image shape"):
        lungs_isolated(image, mask[:10])
    with pytest.raises(ValueError, match="unknown box mode"):
        lung_boxes(mask, "both")
    assert set(VARIANTS) == {"original", "lungs_isolated", "lungs_framed", "lungs_removed",
                             "lungs_boxed_out"}
