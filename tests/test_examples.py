"""`notebook_dataset`: the data-loading step every teaching notebook shares."""

import os

import numpy as np
import pytest

from conftest import HEP2, SHARED_DATA, requires, write_png
from protkit.data import HPA_CLASSES, DataError, notebook_dataset
from protkit.data.synthetic import SYNTHETIC_CLASSES, make_cells

DULOC = SHARED_DATA / "hpa_duloc_mixtures"  # complete red/green/blue/yellow sets, HPA class indices


# ------------------------------------------------------------------ synthetic cells
def test_synthetic_default_is_multi_label_in_memory():
    ds = notebook_dataset(n_synthetic=12, image_size=32, seed=3)
    images, labels = make_cells(12, image_size=32, seed=3)
    assert len(ds) == 12 and ds.task == "multi_label"
    assert ds.channel_names == ["red", "green", "blue", "yellow"] and ds.num_channels == 4
    assert ds.class_names == list(SYNTHETIC_CLASSES)
    np.testing.assert_array_equal(ds.arrays, images)
    np.testing.assert_array_equal(ds.labels, labels)


def test_synthetic_single_label_keeps_images_with_one_class():
    images, multi_hot = make_cells(40, image_size=32, seed=0)
    single = multi_hot.sum(axis=1) == 1
    ds = notebook_dataset(n_synthetic=40, image_size=32, task="single_label")
    assert ds.task == "single_label" and len(ds) == single.sum() < 40
    np.testing.assert_array_equal(ds.labels, multi_hot[single].argmax(axis=1))
    np.testing.assert_array_equal(ds.arrays, images[single])


def test_synthetic_single_label_needs_one_image_with_one_class():
    assert make_cells(1, image_size=32, seed=0)[1].sum() == 2  # the first image carries two classes
    with pytest.raises(ValueError, match="none of the 1 synthetic images carries a single class"):
        notebook_dataset(n_synthetic=1, image_size=32, seed=0, task="single_label")


def test_synthetic_written_to_files_and_read_back_as_user_data():
    ds = notebook_dataset(n_synthetic=6, image_size=32, seed=1, write_files=True)
    images, labels = make_cells(6, image_size=32, seed=1)
    assert ds.arrays is None and ds.source["kind"] == "csv" and ds.task == "multi_label"
    folder = ds.source["image_dir"]
    assert os.path.isfile(os.path.join(folder, "train.csv"))
    assert os.path.isfile(os.path.join(folder, "synth_00000_yellow.png"))
    np.testing.assert_array_equal(ds.read(5), images[5])  # PNG is lossless
    np.testing.assert_array_equal(ds.labels, labels)
    assert ds.class_names == list(SYNTHETIC_CLASSES)


def test_synthetic_files_single_label_with_a_channel_dropped():
    ds = notebook_dataset(n_synthetic=30, image_size=32, task="single_label", drop_channels="blue",
                          write_files=True)
    images, multi_hot = make_cells(30, image_size=32)
    single = multi_hot.sum(axis=1) == 1
    assert ds.task == "single_label" and ds.channel_names == ["red", "green", "yellow"]
    np.testing.assert_array_equal(ds.labels, multi_hot[single].argmax(axis=1))
    np.testing.assert_array_equal(ds.read(0), images[single][0][..., [0, 1, 3]])


def test_synthetic_in_memory_with_channels_dropped():
    ds = notebook_dataset(n_synthetic=4, image_size=32, drop_channels=["red", "yellow"])
    assert ds.channel_names == ["green", "blue"] and ds.arrays.shape == (4, 32, 32, 2)
    np.testing.assert_array_equal(ds.arrays, make_cells(4, image_size=32)[0][..., [1, 2]])


# ------------------------------------------------------------------ the user's folder or CSV
def test_class_folder(class_folder):
    ds = notebook_dataset(class_folder, task="single_label")
    assert len(ds) == 6 and ds.task == "single_label" and ds.class_names == ["alpha", "beta"]
    assert ds.source["kind"] == "folder"


def test_channel_folder_with_a_channel_dropped(channel_folder):
    ds = notebook_dataset(channel_folder, channels=["Ch1", "Ch2"], drop_channels="Ch1")
    assert len(ds) == 8 and ds.channel_names == ["Ch2"] and ds.read(0).shape == (12, 12, 1)


def test_csv_with_pattern_columns_and_class_names(tmp_path, rng):
    for i in (3, 7, 12):
        write_png(tmp_path / "images" / f"{i:05d}.png", rng.integers(0, 255, (10, 10), dtype=np.uint8))
    (tmp_path / "labels.csv").write_text("cell,kind\n3,1\n7,0\n12,1\n")
    ds = notebook_dataset(tmp_path / "images", tmp_path / "labels.csv", id_column="cell", label_column="kind",
                          pattern="{id:05d}.png", class_names=["round", "flat"], task="single_label")
    assert ds.ids == ["3", "7", "12"] and ds.labels.tolist() == [1, 0, 1] and ds.class_names == ["round", "flat"]


def test_csv_default_pattern_with_channels(tmp_path, rng):
    for item in ("a", "b"):
        for channel in ("red", "green"):
            write_png(tmp_path / f"{item}_{channel}.png", rng.integers(0, 255, (8, 8), dtype=np.uint8))
    (tmp_path / "t.csv").write_text("Id,Target\na,0 1\nb,1\n")
    ds = notebook_dataset(tmp_path, tmp_path / "t.csv", channels=["red", "green"], task="multi_label")
    assert ds.task == "multi_label" and ds.labels.tolist() == [[1, 1], [0, 1]] and ds.read(1).shape == (8, 8, 2)


@pytest.mark.real_data
@requires(DULOC)
def test_real_hpa_mixtures_with_hpa_class_names():
    ds = notebook_dataset(DULOC / "train", DULOC / "train.csv", channels=["red", "green", "blue", "yellow"],
                          pattern="{id}_{channel}.jpg", class_names=HPA_CLASSES, task="multi_label")
    assert ds.task == "multi_label" and len(ds) == 261 and ds.num_channels == 4
    assert ds.class_names == list(HPA_CLASSES)
    assert set(ds.class_counts()[lambda counts: counts > 0].index) == {
        "Nucleoplasm", "Nucleoli", "Plasma membrane", "Mitochondria", "Cytosol"}


@pytest.mark.real_data
@requires(HEP2)
def test_real_single_label_csv_refused_by_a_multi_label_notebook():
    labels = HEP2 / "training_labels.csv"
    with pytest.raises(ValueError, match="single-label data, but this notebook needs multi-label") as error:
        notebook_dataset(HEP2 / "training", labels, id_column="Image ID", label_column="Image class",
                         pattern="{id:05d}.png", task="multi_label")
    assert str(labels) in str(error.value)


# ------------------------------------------------------------------ task checks
def test_single_label_folder_refused_for_multi_label(class_folder):
    with pytest.raises(ValueError, match="single-label data") as error:
        notebook_dataset(class_folder, task="multi_label")
    assert str(class_folder) in str(error.value)


def test_unlabelled_folder_refused_unless_allowed(tmp_path, rng):
    for i in range(3):
        write_png(tmp_path / f"cell{i}.png", rng.integers(0, 255, (8, 8), dtype=np.uint8))
    with pytest.raises(ValueError, match="unlabelled data, but this notebook needs single-label"):
        notebook_dataset(tmp_path, task="single_label")
    ds = notebook_dataset(tmp_path, task="single_label", allow_unlabelled=True)
    assert ds.task is None and len(ds) == 3
    assert notebook_dataset(tmp_path).task is None


# ------------------------------------------------------------------ clear errors
def test_missing_data_folder_is_named(tmp_path):
    missing = tmp_path / "no_such_folder"
    with pytest.raises(FileNotFoundError, match="not a folder") as error:
        notebook_dataset(missing)
    assert str(missing) in str(error.value)


def test_csv_given_as_data_gets_a_hint(tmp_path):
    table = tmp_path / "labels.csv"
    table.write_text("Id,Target\n")
    with pytest.raises(FileNotFoundError, match="give the CSV as `labels`"):
        notebook_dataset(table)


def test_missing_label_table_is_named(class_folder):
    missing = class_folder / "labels.csv"
    with pytest.raises(FileNotFoundError, match="label table not found") as error:
        notebook_dataset(class_folder, missing)
    assert str(missing) in str(error.value)


def test_csv_problems_still_raise_data_error(tmp_path):
    (tmp_path / "t.csv").write_text("Id,Target\nghost,0\n")
    with pytest.raises(DataError, match="ghost"):
        notebook_dataset(tmp_path, tmp_path / "t.csv")


@pytest.mark.parametrize("kwargs, message", [
    (dict(task="multi"), "`task` must be one of"),
    (dict(n_synthetic=0), "n_synthetic=0"),
    (dict(n_synthetic=2.5), "n_synthetic=2.5"),
    (dict(image_size=16), "image_size=16"),
    (dict(seed=-1), "seed=-1"),
    (dict(write_files="yes"), "write_files='yes'"),
    (dict(drop_channels="Ch4"), "not among the channels of the synthetic cells"),
    (dict(drop_channels=["red", "green", "blue", "yellow"]), "leaves no channel"),
    (dict(labels="train.csv"), "`data` is None"),
    (dict(data=3), "`data` must be a path"),
])
def test_argument_checks(kwargs, message):
    with pytest.raises(ValueError, match=message.replace("(", r"\(").replace("[", r"\[")):
        notebook_dataset(**{"n_synthetic": 2, "image_size": 32, **kwargs})


def test_drop_channels_needs_channels_for_a_folder(class_folder):
    with pytest.raises(ValueError, match="needs `channels`"):
        notebook_dataset(class_folder, drop_channels="Ch4")
    with pytest.raises(ValueError, match="not among the channels of `channels`"):
        notebook_dataset(class_folder, channels=["Ch1"], drop_channels="Ch4")
