import numpy as np
import pytest
from PIL import Image

from cxr_isi.data.readers import read_image, read_info
from cxr_isi.data.resize import resize_square, square_geometry
from cxr_isi.errors import ImageReadError
from tests.conftest import gradient, write_png


def test_8bit_png_and_jpeg(tmp_path):
    img = gradient(50, 40)
    a, info = read_image(write_png(tmp_path / "a.png", img))
    assert a.dtype == np.float32 and a.shape == (50, 40)
    np.testing.assert_allclose(a, img / 255.0, atol=1e-6)
    assert (info.width, info.height, info.bit_depth, info.format) == (40, 50, 8, "PNG")
    Image.fromarray(img).save(tmp_path / "a.jpg", quality=95)
    j, jinfo = read_image(tmp_path / "a.jpg")
    assert jinfo.format == "JPEG" and np.abs(j - img / 255.0).mean() < 0.02


def test_16bit_png_keeps_precision(tmp_path):
    img = (np.linspace(0, 65535, 64 * 32).reshape(64, 32)).astype(np.uint16)
    path = tmp_path / "b16.png"
    Image.fromarray(img).save(path)
    a, info = read_image(path)
    assert info.bit_depth == 16
    np.testing.assert_allclose(a, img / 65535.0, atol=1e-6)
    assert len(np.unique(a)) > 256  # not squashed to 8 bits


def test_rgb_and_rgba_to_gray(tmp_path):
    rgb = np.zeros((10, 12, 3), np.uint8)
    rgb[..., 0] = 200
    a, _ = read_image(write_png(tmp_path / "rgb.png", rgb))
    np.testing.assert_allclose(a, 200 * 0.299 / 255, atol=2 / 255)
    rgba = np.full((10, 12, 4), 255, np.uint8)
    rgba[:, :6, 3] = 0  # left half transparent
    a, info = read_image(write_png(tmp_path / "rgba.png", rgba))
    assert info.photometric == "RGBA" and a.shape == (10, 12)
    assert a[:, :6].max() == 0 and a[:, 6:].min() == pytest.approx(1.0)


def test_dicom_monochrome1_is_inverted():
    pydicom = pytest.importorskip("pydicom")
    from pydicom.data import get_testdata_file

    path = get_testdata_file("RG1_UNCI.dcm")  # a real chest radiograph from pydicom-data
    if path is None:
        pytest.skip("pydicom-data not installed")
    raw = pydicom.dcmread(path).pixel_array.astype(np.float64)
    a, info = read_image(path)
    assert info.photometric == "MONOCHROME1" and info.format == "DICOM"
    assert a.shape == raw.shape and a.min() >= 0 and a.max() <= 1
    # MONOCHROME1 stores dark as high: the displayed image must run the other way
    assert np.corrcoef(raw.ravel()[::97], a.ravel()[::97])[0, 1] < -0.9
    assert read_info(path) == info


def test_bad_files_say_which_and_why(tmp_path):
    good = write_png(tmp_path / "good.png", gradient(64, 64))
    data = good.read_bytes()
    (tmp_path / "trunc.png").write_bytes(data[: len(data) // 2])
    (tmp_path / "zero.png").write_bytes(b"")
    (tmp_path / "notes.png").write_text("this is not an image\n")
    cases = {"trunc.png": "truncated or corrupt", "zero.png": "empty file",
             "notes.png": "not a readable image", "absent.png": "file not found"}
    for name, why in cases.items():
        with pytest.raises(ImageReadError, match=rf"{name}: {why}"):
            read_image(tmp_path / name)
        assert "\n" not in str(pytest.raises(ImageReadError, read_image, tmp_path / name).value)


@pytest.mark.parametrize("mode", ["pad", "squeeze", "crop"])
def test_resize_modes(mode):
    img = np.ones((40, 20), np.float32)
    out = resize_square(img, 16, mode)
    assert out.shape == (16, 16) and out.dtype == np.float32
    if mode == "pad":  # aspect kept: 8 columns of content, centred, zeros beside
        assert out[:, 4:12].min() > 0.99 and out[:, :4].max() == 0 and out[:, 12:].max() == 0
    else:
        assert out.min() > 0.99
    assert square_geometry(40, 20, 16, mode)["out_hw"] == ((16, 8) if mode == "pad" else (16, 16))


def test_resize_mask_stays_binary_and_aligned():
    mask = np.zeros((60, 30), np.float32)
    mask[10:50, 5:15] = 1
    img = mask * 0.8
    m = resize_square(mask, 32, "pad", is_mask=True)
    i = resize_square(img, 32, "pad")
    assert set(np.unique(m)) == {0.0, 1.0}
    assert np.corrcoef(m.ravel(), i.ravel())[0, 1] > 0.95
    with pytest.raises(ValueError, match="unknown resize mode"):
        resize_square(img, 32, "stretch")
