import numpy as np
import pytest

from conftest import write_png, write_tiff
from protkit.data import ImageReadError, probe_image, read_channels, read_image, read_volume
from protkit.data.readers import dtype_max


def test_png_8_and_16_bit_keep_dtype_and_values(tmp_path):
    eight = np.arange(64, dtype=np.uint8).reshape(8, 8)
    sixteen = (np.arange(64, dtype=np.uint16) * 1000).reshape(8, 8)
    a = read_image(write_png(tmp_path / "a.png", eight))
    b = read_image(write_png(tmp_path / "b.png", sixteen))
    assert a.shape == (8, 8, 1) and a.dtype == np.uint8
    assert b.dtype == np.uint16 and b.max() == 63000
    np.testing.assert_array_equal(b[..., 0], sixteen)


def test_colour_png_is_rgb(tmp_path):
    image = np.zeros((4, 4, 3), np.uint8)
    image[..., 0] = 200  # red
    out = read_image(write_png(tmp_path / "rgb.png", image))
    assert out.shape == (4, 4, 3)
    assert out[0, 0].tolist() == [200, 0, 0]


@pytest.mark.parametrize("shape, expected", [
    ((10, 12), (10, 12, 1)),
    ((10, 12, 3), (10, 12, 3)),     # HWC
    ((3, 10, 12), (10, 12, 3)),     # CHW / multi-page
    ((1, 10, 12), (10, 12, 1)),
])
def test_tiff_layouts(tmp_path, shape, expected):
    data = np.random.default_rng(0).integers(0, 60000, shape).astype(np.uint16)
    path = write_tiff(tmp_path / "x.tif", data)
    out = read_image(path)
    assert out.shape == expected and out.dtype == np.uint16
    info = probe_image(path)
    assert (info.height, info.width, info.channels, info.dtype) == (*expected, "uint16")
    if len(shape) == 3 and shape[0] == 3:
        np.testing.assert_array_equal(out[..., 1], data[1])


def test_tiff_float32_and_32bit(tmp_path):
    data = np.random.default_rng(1).random((6, 7)).astype(np.float32)
    out = read_image(write_tiff(tmp_path / "f.tif", data))
    assert out.dtype == np.float32
    np.testing.assert_array_equal(out[..., 0], data)
    assert read_image(write_tiff(tmp_path / "u.tif", np.full((3, 3), 2**20, np.uint32))).max() == 2**20


def test_read_channels_stacks_in_order_and_checks_sizes(tmp_path):
    a = write_tiff(tmp_path / "c_A.tif", np.full((5, 5), 1, np.uint16))
    b = write_tiff(tmp_path / "c_B.tif", np.full((5, 5), 2, np.uint16))
    stacked = read_channels([b, a])
    assert stacked.shape == (5, 5, 2) and stacked[0, 0].tolist() == [2, 1]
    c = write_tiff(tmp_path / "c_C.tif", np.zeros((6, 5), np.uint16))
    with pytest.raises(ImageReadError, match=r"c_C\.tif.*same size.*5x5"):
        read_channels([a, c])


def test_volume_reader(tmp_path):
    vol = np.zeros((4, 8, 9), np.uint16)
    assert read_volume(write_tiff(tmp_path / "v.tif", vol)).shape == (4, 8, 9, 1)
    assert read_volume(write_tiff(tmp_path / "v2.tif", np.zeros((4, 8, 9, 2), np.uint8))).shape == (4, 8, 9, 2)


def test_dtype_max():
    assert dtype_max(np.uint8) == 255 and dtype_max(np.uint16) == 65535 and dtype_max(np.float32) == 1.0


# --- protkit.data.sources: the helpers behind Dataset's constructors ---------------------


def test_raise_unless_skipping_lists_problems_or_lets_them_pass():
    from protkit.data.sources import DataError, raise_unless_skipping

    problems = [("a.png", "unreadable"), ("b.png", "missing channel")]
    with pytest.raises(DataError, match=r"2 problem\(s\) while reading the images") as error:
        raise_unless_skipping(problems, False, "the images")
    assert error.value.problems == problems
    assert "  - b.png: missing channel" in str(error.value)
    assert raise_unless_skipping(problems, True, "the images") is None
    assert raise_unless_skipping([], False, "the images") is None


def test_short_name_list():
    from protkit.data.sources import short_name_list

    assert short_name_list(["a", "b"]) == "a, b"
    assert short_name_list(map(str, range(14))) == "0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, ... (14 in all)"


def test_array_fields_check_labels_and_fill_defaults():
    from protkit.data.sources import array_fields

    fields = array_fields(np.zeros((3, 4, 4)), labels=[0, 2, 1])
    assert fields["arrays"].shape == (3, 4, 4, 1)
    assert fields["class_names"] == ["0", "1", "2"] and fields["channel_names"] == ["ch0"]
    assert fields["ids"] == ["0", "1", "2"] and fields["labels"].dtype == np.int64
    with pytest.raises(ValueError, match=r"class indices must lie in \[0, 2\)"):
        array_fields(np.zeros((3, 4, 4, 1)), labels=[0, 2, 1], class_names=["a", "b"])
    with pytest.raises(ValueError, match="2 channel names for 1 channels"):
        array_fields(np.zeros((3, 4, 4, 1)), channel_names=["a", "b"])


@pytest.mark.parametrize("mode, extension, options", [
    ("L", ".png", {}), ("LA", ".png", {}), ("P", ".png", {}), ("P", ".png", {"transparency": 0}),
    ("RGB", ".png", {"transparency": (0, 0, 0)}), ("RGBA", ".png", {}), ("I;16", ".png", {}), ("1", ".png", {}),
    ("L", ".jpg", {}), ("RGB", ".jpg", {}), ("CMYK", ".jpg", {}),
])
def test_header_facts_agree_with_the_decoded_image(tmp_path, mode, extension, options):
    from PIL import Image

    from protkit.data import check_image

    path = tmp_path / f"image{extension}"
    Image.new(mode, (7, 5)).save(path, **options)
    image = read_image(path)
    for info in (probe_image(path), check_image(path)):
        assert (info.height, info.width, info.channels, info.dtype) == (*image.shape, image.dtype.name)
