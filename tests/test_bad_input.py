"""Every kind of bad input gets an error naming the file and what was expected, or a counted skip."""

import numpy as np
import pandas as pd
import pytest

from conftest import write_png, write_tiff
from protkit.data import DataError, Dataset, ImageReadError, Normalizer, read_image


def _png_bytes(tmp_path):
    return write_png(tmp_path / "good.png", np.full((10, 10), 7, np.uint8)).read_bytes()


def test_corrupt_png_names_the_file(tmp_path):
    path = tmp_path / "corrupt.png"
    path.write_bytes(b"\x89PNG this is not really a png")
    with pytest.raises(ImageReadError, match=r"corrupt\.png: .*(corrupt|not a readable)"):
        read_image(path)


def test_truncated_png_names_the_file(tmp_path):
    path = tmp_path / "truncated.png"
    path.write_bytes(_png_bytes(tmp_path)[:40])
    with pytest.raises(ImageReadError, match=r"truncated\.png"):
        read_image(path)


def test_truncated_tiff_names_the_file(tmp_path):
    good = write_tiff(tmp_path / "good.tif", np.arange(400, dtype=np.uint16).reshape(20, 20)).read_bytes()
    path = tmp_path / "truncated.tif"
    path.write_bytes(good[:60])
    with pytest.raises(ImageReadError, match=r"truncated\.tif: corrupt or truncated TIFF"):
        read_image(path)


def test_empty_file(tmp_path):
    path = tmp_path / "empty.png"
    path.write_bytes(b"")
    with pytest.raises(ImageReadError, match=r"empty\.png: the file is empty"):
        read_image(path)


def test_missing_channel_file_error_then_counted_skip(channel_folder):
    (channel_folder / "M" / "c002_Ch2.tif").unlink()
    with pytest.raises(DataError, match=r"c002.*missing channel file\(s\) c002_Ch2"):
        Dataset.from_folder(channel_folder, channels=["Ch1", "Ch2"])
    ds = Dataset.from_folder(channel_folder, channels=["Ch1", "Ch2"], skip_bad=True)
    assert len(ds) == 7 and len(ds.skipped) == 1
    assert "c002" in ds.skipped[0][0]


def test_channel_not_present(channel_folder):
    with pytest.raises(DataError, match=r"\['Ch5'\] not present.*channels found: \['Ch1', 'Ch2'\]"):
        Dataset.from_folder(channel_folder, channels=["Ch1", "Ch5"])


def test_unrequested_channel_files_are_counted_not_silent(channel_folder):
    ds = Dataset.from_folder(channel_folder, channels=["Ch2"])
    assert len(ds) == 8
    assert ds.ignored == {"file name has no requested channel suffix": 8}


def test_empty_folder(tmp_path):
    (tmp_path / "nothing").mkdir()
    with pytest.raises(DataError, match=r"nothing: no images found"):
        Dataset.from_folder(tmp_path / "nothing")


def test_images_and_class_folders_mixed(class_folder):
    write_png(class_folder / "stray.png", np.zeros((4, 4), np.uint8))
    with pytest.raises(DataError, match="both images .* and class subfolders"):
        Dataset.from_folder(class_folder)


def _csv(tmp_path, rows, name="labels.csv"):
    path = tmp_path / name
    pd.DataFrame(rows, columns=["Id", "Target"]).to_csv(path, index=False)
    return path


def test_unknown_label_names_row_and_value(tmp_path):
    for i in (1, 2):
        write_png(tmp_path / f"{i:05d}.png", np.zeros((4, 4), np.uint8))
    csv = _csv(tmp_path, [(1, "Golgi"), (2, "Mitochondira")])
    with pytest.raises(DataError, match=r"labels\.csv row 3.*unknown label 'Mitochondira'"):
        Dataset.from_csv(csv, pattern="{id:05d}.png", class_names=["Golgi", "Mitochondria"])
    # An index beyond the class list is unknown too.
    csv = _csv(tmp_path, [(1, "0 1"), (2, "5")], name="multi.csv")
    with pytest.raises(DataError, match=r"unknown label '5'"):
        Dataset.from_csv(csv, pattern="{id:05d}.png", class_names=["a", "b"])


def test_csv_id_without_file_error_then_counted_skip(tmp_path):
    write_png(tmp_path / "00001.png", np.zeros((4, 4), np.uint8))
    csv = _csv(tmp_path, [(1, "a"), (7, "b")])
    with pytest.raises(DataError, match=r"00007\.png: file for id '7' \(CSV row 3\) not found"):
        Dataset.from_csv(csv, pattern="{id:05d}.png")
    ds = Dataset.from_csv(csv, pattern="{id:05d}.png", skip_bad=True)
    assert len(ds) == 1 and len(ds.skipped) == 1 and ds.class_names == ["a", "b"]


def test_missing_csv_column(tmp_path):
    csv = _csv(tmp_path, [(1, "a")])
    with pytest.raises(DataError, match=r"column\(s\) \['Label'\] not found; columns are \['Id', 'Target'\]"):
        Dataset.from_csv(csv, label_column="Label")


def test_mixed_sizes_clear_error_or_documented_resize(tmp_path):
    write_png(tmp_path / "a" / "x.png", np.zeros((10, 10), np.uint8))
    write_png(tmp_path / "a" / "y.png", np.zeros((12, 9), np.uint8))
    from protkit.data import make_pipeline, readable_errors

    ds = Dataset.from_folder(tmp_path)
    with pytest.raises(ImageReadError, match=r"y\.png: expected size 10x10 like the first item, got 12x9"):
        with readable_errors():
            list(make_pipeline(ds, batch_size=1))
    batches = list(make_pipeline(ds, batch_size=2, image_size=8))
    assert tuple(batches[0][0].shape) == (2, 8, 8, 1)


def test_wrong_channel_count_in_pipeline(tmp_path):
    write_png(tmp_path / "a" / "gray.png", np.zeros((8, 8), np.uint8))
    write_png(tmp_path / "a" / "rgb.png", np.zeros((8, 8, 3), np.uint8))
    from protkit.data import make_pipeline, readable_errors

    ds = Dataset.from_folder(tmp_path)
    with pytest.raises(ImageReadError, match=r"rgb\.png: expected 1 channel\(s\), the file\(s\) hold 3"):
        with readable_errors():
            list(make_pipeline(ds, batch_size=2))


def test_corrupt_file_inside_pipeline_and_verify(tmp_path):
    write_png(tmp_path / "a" / "ok.png", np.zeros((8, 8), np.uint8))
    (tmp_path / "a" / "broken.png").write_bytes(b"garbage")
    ds = Dataset.from_folder(tmp_path)
    from protkit.data import make_pipeline, readable_errors

    with pytest.raises(ImageReadError, match=r"broken\.png"):
        with readable_errors():
            list(make_pipeline(ds, batch_size=1, image_size=8))
    with pytest.raises(DataError, match=r"broken\.png"):
        ds.verify()
    clean = ds.verify(skip_bad=True)
    assert len(clean) == 1 and len(clean.skipped) == 1 and "broken.png" in clean.skipped[0][0]


@pytest.mark.parametrize("mode", ["percentile", "dataset", "fixed"])
def test_constant_and_nan_images_normalize_without_nan(mode):
    constant = np.full((6, 6, 2), 9, np.uint16)
    nan_image = np.full((6, 6, 2), np.nan, np.float32)
    partly = np.random.default_rng(0).random((6, 6, 2)).astype(np.float32)
    partly[0, 0, 0] = np.nan
    norm = Normalizer(mode)
    if mode == "dataset":
        norm.fit(Dataset.from_arrays(np.stack([partly, partly])))
    for image in (constant, nan_image, partly):
        out = norm(image)
        assert np.isfinite(out).all(), (mode, image.dtype)
    if mode == "percentile":
        assert (norm(constant) == 0).all()


def test_unreadable_header_reported_by_probe(tmp_path):
    write_png(tmp_path / "a" / "ok.png", np.zeros((8, 8), np.uint8))
    (tmp_path / "a" / "bad.png").write_bytes(b"nope")
    table = Dataset.from_folder(tmp_path).probe()
    bad = table[table["error"].notna()]
    assert len(bad) == 1 and "bad.png" in bad["error"].iloc[0]


def test_csv_pattern_that_needs_numbers(tmp_path):
    csv = _csv(tmp_path, [("abc", "x")])
    with pytest.raises(DataError, match=r"id 'abc' cannot fill the pattern"):
        Dataset.from_csv(csv, pattern="{id:05d}.png")
