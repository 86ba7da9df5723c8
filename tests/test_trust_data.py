"""What a new user's folder must never do silently: wrong items, dropped classes, late failures,
an inspect that finds nothing, misleading messages, classes nobody carries."""

import math
import time

import numpy as np
import pandas as pd
import pytest

from conftest import HEP2, HPA, IFC, SHARED_DATA, requires, write_png, write_tiff
from protkit import metrics as pm
from protkit.data import (
    HPA_CLASSES,
    DataError,
    Dataset,
    ImageReadError,
    PerChannelFilesError,
    inspect_dataset,
    read_image,
)

DULOC = SHARED_DATA / "hpa_duloc_mixtures"


def _png_bytes(tmp_path, shape=(32, 32)):
    noise = np.random.default_rng(0).integers(0, 255, shape, dtype=np.uint8)
    return write_png(tmp_path / "_good.png", noise).read_bytes()


# --------------------------------------------------------------------------- 1. per-channel names
def test_per_channel_files_read_without_channels_are_refused(channel_folder):
    with pytest.raises(PerChannelFilesError) as caught:
        Dataset.from_folder(channel_folder)
    error = caught.value
    assert isinstance(error, DataError)
    assert error.folder == str(channel_folder) and error.channels == ["Ch1", "Ch2"]
    message = str(error)
    assert str(channel_folder) in message and "_Ch1, _Ch2" in message
    assert "--channels Ch1,Ch2" in message and "channels=['Ch1', 'Ch2']" in message
    # inspect builds with skip_bad and allow_empty: it must be refused there too.
    with pytest.raises(PerChannelFilesError):
        Dataset.from_folder(channel_folder, skip_bad=True, allow_empty=True)


def test_per_channel_files_can_be_read_one_by_one_on_purpose(channel_folder):
    ds = Dataset.from_folder(channel_folder, detect_channels=False)
    assert len(ds) == 16 and ds.num_channels == 1
    assert len(Dataset.from_folder(channel_folder, channels=["Ch1", "Ch2"])) == 8


def test_flat_folder_of_per_channel_files_is_refused(tmp_path, rng):
    for i in range(5):
        for colour in ("red", "green", "blue"):
            write_png(tmp_path / "flat" / f"id{i}_{colour}.png", rng.integers(0, 255, (8, 8), dtype=np.uint8))
    with pytest.raises(PerChannelFilesError, match=r"--channels blue,green,red"):
        Dataset.from_folder(tmp_path / "flat")


@pytest.mark.parametrize("names", [
    ["cell0", "cell1", "cell2", "cell3"],                       # no underscore
    [f"cell_{i:03d}" for i in range(20)],                        # one stem, numbered
    [f"{i:05d}_crop" for i in range(10)],                         # one shared suffix
    [f"id{i}_{c}" for i, c in enumerate("rgbyrgby")],             # one channel file per id (HPA sample)
    [f"exp{i}_{j:02d}" for i in range(3) for j in range(12)],     # many numbered fields per experiment
])
def test_ordinary_names_are_not_taken_for_channels(tmp_path, rng, names):
    for name in names:
        write_png(tmp_path / "data" / "a" / f"{name}.png", rng.integers(0, 255, (8, 8), dtype=np.uint8))
    assert len(Dataset.from_folder(tmp_path / "data")) == len(names)


@pytest.mark.real_data
@requires(IFC)
def test_real_ifc_export_without_channels_is_refused():
    with pytest.raises(PerChannelFilesError, match=r"--channels Ch3,Ch4,Ch6") as caught:
        Dataset.from_folder(IFC)
    assert caught.value.channels == ["Ch3", "Ch4", "Ch6"]


@pytest.mark.real_data
@requires(HEP2)
@requires(HPA)
def test_real_hep2_and_hpa_sample_folders_are_not_taken_for_channels():
    assert len(Dataset.from_folder(HEP2 / "training")) == 8701
    assert len(Dataset.from_folder(HEP2 / "validation")) == 2175
    assert len(Dataset.from_folder(HPA / "train_sample")) == 200  # one colour per id: no complete set


@pytest.mark.real_data
@requires(DULOC)
def test_real_duloc_folder_is_per_channel_and_csv_reading_is_untouched():
    with pytest.raises(PerChannelFilesError, match=r"--channels blue,green,red,yellow"):
        Dataset.from_folder(DULOC / "train")
    ds = Dataset.from_csv(DULOC / "train.csv", DULOC / "train", pattern="{id}_{channel}.jpg",
                          channels=["red", "green", "blue", "yellow"])
    assert len(ds) == 261


# --------------------------------------------------------------------------- 2. empty class folder
def test_empty_class_folder_is_an_error_then_a_counted_skip(class_folder):
    (class_folder / "gamma").mkdir()
    (class_folder / "delta").mkdir()
    (class_folder / "delta" / "notes.txt").write_text("no images here")
    with pytest.raises(DataError, match=r"gamma: class folder holds no image files") as caught:
        Dataset.from_folder(class_folder)
    assert "delta" in str(caught.value) and "--skip-bad" in str(caught.value)
    ds = Dataset.from_folder(class_folder, skip_bad=True)
    assert len(ds) == 6 and ds.class_names == ["alpha", "beta"]
    assert sorted(where.rsplit("/", 1)[-1] for where, _ in ds.skipped) == ["delta", "gamma"]
    summary = inspect_dataset(ds)
    assert summary["problem_count"] == 2 and any("gamma" in p for p in summary["problems"])


def test_hidden_folders_are_not_classes(class_folder):
    (class_folder / ".ipynb_checkpoints").mkdir()
    assert Dataset.from_folder(class_folder).class_names == ["alpha", "beta"]


# --------------------------------------------------------------------------- 3. early, fast checks
def _broken_folder(tmp_path):
    """Class folders with one truncated PNG (header intact), one bit-flipped PNG, one truncated JPEG."""
    root = tmp_path / "cells"
    rng = np.random.default_rng(1)
    for name in ("a", "b"):
        for i in range(3):
            write_png(root / name / f"ok{i}.png", rng.integers(0, 255, (32, 32), dtype=np.uint8))
    good = _png_bytes(tmp_path)
    (root / "a" / "truncated.png").write_bytes(good[: len(good) // 2])
    flipped = bytearray(good)
    flipped[len(good) // 2] ^= 0x10
    (root / "b" / "flipped.png").write_bytes(bytes(flipped))
    return root


def test_verify_finds_broken_files_from_headers_without_decoding(tmp_path, monkeypatch):
    ds = Dataset.from_folder(_broken_folder(tmp_path))
    from protkit.data import readers

    def no_decode(*args, **kwargs):
        raise AssertionError("verify decoded pixels")

    monkeypatch.setattr(readers.cv2, "imdecode", no_decode)
    monkeypatch.setattr(readers.cv2, "imread", no_decode)
    with pytest.raises(DataError) as caught:
        ds.verify()
    message = str(caught.value)
    assert "truncated.png" in message and "flipped.png" in message
    assert "--skip-bad" in message and "skip_bad=True" in message
    clean = ds.verify(skip_bad=True)
    assert len(clean) == 6 and len(clean.skipped) == 2


def test_verify_checks_channel_counts_and_sizes(tmp_path, rng):
    root = tmp_path / "mixed"
    for i in range(4):
        write_png(root / "a" / f"gray{i}.png", rng.integers(0, 255, (16, 16), dtype=np.uint8))
    write_png(root / "a" / "colour.png", rng.integers(0, 255, (16, 16, 3), dtype=np.uint8))
    write_png(root / "a" / "small.png", rng.integers(0, 255, (12, 16), dtype=np.uint8))
    ds = Dataset.from_folder(root)
    with pytest.raises(DataError) as caught:
        ds.verify()
    message = str(caught.value)
    assert "colour.png: expected 1 channel(s) like most items, the file(s) hold 3" in message
    assert "small.png: size 12x16 differs from 16x16 of most items" in message
    assert "--image-size / image_size=" in message
    # With a size to resize to, only the channel count matters.
    with pytest.raises(DataError, match="colour.png") as caught:
        ds.verify(image_size=(16, 16))
    assert "small.png" not in str(caught.value)
    assert len(ds.verify(skip_bad=True)) == 4


def test_verify_checks_channel_files_against_channel_names(tmp_path, rng):
    for i in range(3):
        for c in ("Ch1", "Ch2"):
            write_tiff(tmp_path / "ifc" / "G1" / f"c{i}_{c}.tif", rng.integers(0, 9, (8, 8), dtype=np.uint16))
    write_tiff(tmp_path / "ifc" / "G1" / "c1_Ch2.tif", rng.integers(0, 9, (2, 8, 8), dtype=np.uint16))
    ds = Dataset.from_folder(tmp_path / "ifc", channels=["Ch1", "Ch2"])
    with pytest.raises(DataError, match=r"c1_Ch1\.tif: expected 2 channel\(s\) \(Ch1, Ch2\), the file\(s\) hold 3"):
        ds.verify()


def test_truncated_tiff_pixel_data_found_from_the_header(tmp_path):
    data = np.random.default_rng(0).integers(0, 60000, (64, 64), dtype=np.uint16)
    good = write_tiff(tmp_path / "a" / "good.tif", data).read_bytes()
    (tmp_path / "a" / "cut.tif").write_bytes(good[:-3000])
    ds = Dataset.from_folder(tmp_path)
    with pytest.raises(DataError, match=r"cut\.tif: truncated TIFF"):
        ds.verify()


def test_truncated_jpeg_is_an_error_not_a_grey_image(tmp_path):
    import cv2

    noise = np.random.default_rng(0).integers(0, 255, (64, 64), dtype=np.uint8)
    ok, encoded = cv2.imencode(".jpg", noise)
    (tmp_path / "cut.jpg").write_bytes(encoded.tobytes()[: len(encoded) // 2])
    with pytest.raises(ImageReadError, match=r"cut\.jpg: truncated JPEG"):
        read_image(tmp_path / "cut.jpg")


@pytest.mark.real_data
@requires(HEP2)
def test_real_hep2_training_set_verifies_fast():
    ds = Dataset.from_folder(HEP2 / "training")
    start = time.perf_counter()
    assert ds.verify() is ds
    assert time.perf_counter() - start < 60


# --------------------------------------------------------------------------- 4. inspect counts problems
def test_inspect_counts_problems_it_finds_from_headers(tmp_path):
    ds = Dataset.from_folder(_broken_folder(tmp_path))
    summary = inspect_dataset(ds, sample_items=0)
    assert summary["problem_count"] == len(summary["problems"]) == 2
    assert any("truncated.png" in p for p in summary["problems"])


def test_inspect_separates_notes_from_problems(tmp_path):
    for i in range(3):
        write_png(tmp_path / "a" / f"flat{i}.png", np.full((8, 8), 5, np.uint8))
    write_png(tmp_path / "a" / "rgb.png", np.zeros((8, 8, 3), np.uint8))
    summary = inspect_dataset(Dataset.from_folder(tmp_path))
    assert any("constant channel" in note for note in summary["notes"])
    assert not any("constant channel" in p for p in summary["problems"])
    assert summary["problem_count"] == 1 and "mixed channel counts" in summary["problems"][0]


def test_clean_folder_has_no_problems(class_folder):
    summary = inspect_dataset(Dataset.from_folder(class_folder))
    assert summary["problem_count"] == 0 and summary["problems"] == []


# --------------------------------------------------------------------------- 5. messages
def test_channels_message_does_not_claim_the_user_passed_them(class_folder):
    with pytest.raises(DataError) as caught:
        Dataset.from_folder(class_folder, channels=["Ch3", "Ch4"])
    message = str(caught.value)
    assert "leave out --channels" not in message
    assert "--channels / channels=" in message and "Ch3, Ch4" in message


def test_class_names_message_does_not_claim_the_user_gave_them(tmp_path):
    write_png(tmp_path / "flat" / "x.png", np.zeros((4, 4), np.uint8))
    with pytest.raises(DataError) as caught:
        Dataset.from_folder(tmp_path / "flat", class_names=["a", "b"])
    message = str(caught.value)
    assert "class_names given" not in message
    assert "no class subfolders" in message and "a, b" in message


def test_size_message_gives_both_spellings(tmp_path):
    write_png(tmp_path / "a" / "x.png", np.zeros((10, 10), np.uint8))
    write_png(tmp_path / "a" / "y.png", np.zeros((12, 9), np.uint8))
    from protkit.data import make_pipeline, readable_errors

    with pytest.raises(ImageReadError, match=r"pass --image-size / image_size= to resize every item"):
        with readable_errors():
            list(make_pipeline(Dataset.from_folder(tmp_path), batch_size=1))
    summary = inspect_dataset(Dataset.from_folder(tmp_path))
    assert any("--image-size / image_size=" in p for p in summary["problems"])


# --------------------------------------------------------------------------- 6. numeric label ids
def _id_csv(tmp_path, targets):
    for i in range(len(targets)):
        write_png(tmp_path / f"{i}.png", np.zeros((4, 4), np.uint8))
    path = tmp_path / "labels.csv"
    pd.DataFrame({"Id": range(len(targets)), "Target": targets}).to_csv(path, index=False)
    return path


def test_numeric_ids_become_the_present_classes_in_numeric_order(tmp_path):
    ds = Dataset.from_csv(_id_csv(tmp_path, ["25", "2 21", "0", "21 25"]))
    assert ds.class_names == ["0", "2", "21", "25"]
    assert ds.labels.tolist() == [[0, 0, 0, 1], [0, 1, 1, 0], [1, 0, 0, 0], [0, 0, 1, 1]]
    single = Dataset.from_csv(_id_csv(tmp_path / "s", ["3", "1", "10"]))
    assert single.class_names == ["1", "3", "10"] and single.labels.tolist() == [1, 0, 2]


def test_numeric_class_names_match_by_name_not_by_index(tmp_path):
    csv = _id_csv(tmp_path, ["21", "1"])
    with pytest.raises(DataError, match=r"unknown label '1'"):
        Dataset.from_csv(csv, class_names=["0", "2", "21"])
    # Descriptive names still accept ids as indices (HPA's Target column).
    ds = Dataset.from_csv(csv, class_names=HPA_CLASSES, multi_label=True)
    assert ds.num_classes == 28 and ds.labels[:, 21].tolist() == [1, 0] and ds.labels[:, 1].tolist() == [0, 1]


@pytest.mark.real_data
@requires(DULOC)
def test_real_duloc_classes_are_the_five_present_ids():
    kwargs = dict(pattern="{id}_{channel}.jpg", channels=["red", "green", "blue", "yellow"])
    ds = Dataset.from_csv(DULOC / "train.csv", DULOC / "train", **kwargs)
    assert ds.class_names == ["0", "2", "21", "23", "25"] and ds.labels.shape == (261, 5)
    assert (ds.labels.sum(axis=0) > 0).all()
    named = Dataset.from_csv(DULOC / "train.csv", DULOC / "train", class_names=HPA_CLASSES, **kwargs)
    assert named.num_classes == 28
    present = [HPA_CLASSES[i] for i in (0, 2, 21, 23, 25)]
    assert list(named.class_counts()[named.class_counts() > 0].index) == present
    rng = np.random.default_rng(0)
    result = pm.evaluate_predictions(named.labels, rng.random(named.labels.shape), "multi_label",
                                     class_names=named.class_names)
    assert len(result["classes_without_support"]) == 23 and "Cytosol" not in result["classes_without_support"]
    f1 = [result["per_class"][name]["f1"] for name in present]
    assert result["macro_f1"] == pytest.approx(np.mean(f1))


def test_multilabel_macro_averages_skip_classes_without_support():
    y_true = np.array([[1, 0, 0], [0, 1, 0], [1, 1, 0], [0, 1, 0]])
    y_prob = np.array([[0.9, 0.1, 0.1], [0.1, 0.9, 0.9], [0.1, 0.9, 0.1], [0.1, 0.1, 0.1]])
    result = pm.multilabel_metrics(y_true, y_prob, class_names=["a", "b", "c"])
    assert result["classes_without_support"] == ["c"]
    table = result["per_class"]
    assert result["macro_f1"] == pytest.approx(table.loc[["a", "b"], "f1"].mean())
    assert result["macro_precision"] == pytest.approx(table.loc[["a", "b"], "precision"].mean())
    assert result["macro_recall"] == pytest.approx(table.loc[["a", "b"], "recall"].mean())
    assert table.loc["c", "support"] == 0  # the row stays, for the record


def test_singlelabel_macro_averages_skip_predicted_classes_without_support():
    result = pm.singlelabel_metrics([0, 0, 1, 1], [0, 2, 1, 1], class_names=["a", "b", "c", "d"])
    assert result["classes_without_support"] == ["c", "d"]
    assert result["macro_f1"] == pytest.approx((2 / 3 + 1) / 2)
    assert result["macro_precision"] == pytest.approx(1.0)
    assert math.isnan(result["per_class"].loc["d", "f1"])


def test_no_class_with_support_gives_nan_macro_not_a_fake_zero():
    result = pm.multilabel_metrics(np.zeros((3, 2), int), np.full((3, 2), 0.2))
    assert math.isnan(result["macro_f1"]) and result["classes_without_support"] == ["class_0", "class_1"]
