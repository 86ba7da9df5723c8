"""Shared fixtures: where the real data sets live, and small image folders made on the fly."""

import os
import pathlib

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import cv2
import numpy as np
import pytest
import tifffile

ROOT = pathlib.Path(__file__).resolve().parents[1]
SHARED_DATA = pathlib.Path(os.environ.get("PROTKIT_SHARED_DATA", ROOT.parent / "shared" / "data"))
HEP2 = SHARED_DATA / "hep2_icpr2014"
IFC = SHARED_DATA / "ifc_jurkat_cellcycle" / "Experiment_1"
HPA = SHARED_DATA / "hpa_kaggle2018_sample"


def requires(path):
    """Skip (with the reason) when a real data set is not at ../shared/data."""
    return pytest.mark.skipif(not pathlib.Path(path).exists(), reason=f"real data not found at {path}")


def write_png(path, array):
    path = pathlib.Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    array = np.asarray(array)
    if array.ndim == 3 and array.shape[-1] in (3, 4):
        array = cv2.cvtColor(array, cv2.COLOR_RGB2BGR if array.shape[-1] == 3 else cv2.COLOR_RGBA2BGRA)
    assert cv2.imwrite(str(path), array), path
    return path


def write_tiff(path, array):
    path = pathlib.Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tifffile.imwrite(path, np.asarray(array), photometric="minisblack")
    return path


def single_class_cells(localization, n, *, image_size=32, seed=0, cells_per_image=(1, 1)):
    """``n`` synthetic four-channel uint8 images whose cells all show one localization of `SYNTHETIC_CLASSES`."""
    from protkit.data.synthetic import SYNTHETIC_CLASSES, make_cells

    weights = np.zeros(len(SYNTHETIC_CLASSES))
    weights[SYNTHETIC_CLASSES.index(localization)] = 1.0
    images, _ = make_cells(n, image_size=image_size, seed=seed, class_weights=weights, cells_per_image=cells_per_image)
    return images


@pytest.fixture
def rng():
    return np.random.default_rng(0)


@pytest.fixture
def class_folder(tmp_path, rng):
    """Two classes of 8-bit grayscale PNGs, 3 items each, 16x16."""
    root = tmp_path / "classes"
    for name in ("alpha", "beta"):
        for i in range(3):
            write_png(root / name / f"cell{i}.png", rng.integers(0, 255, (16, 16), dtype=np.uint8))
    return root


@pytest.fixture
def channel_folder(tmp_path, rng):
    """Imaging-flow-cytometry style: <cell>_Ch1.tif / <cell>_Ch2.tif, 16-bit, two classes."""
    root = tmp_path / "ifc"
    for name in ("G1", "M"):
        for i in range(4):
            for channel in ("Ch1", "Ch2"):
                write_tiff(root / name / f"c{i:03d}_{channel}.tif", rng.integers(0, 4000, (12, 12), dtype=np.uint16))
    return root


def planted_squares(n=200, size=24, seed=0):
    """(images, labels, centers): class 1 holds a bright 5x5 square somewhere on noise, class 0 noise only."""
    rng = np.random.default_rng(seed)
    images = rng.random((n, size, size, 1)).astype(np.float32) * 0.3
    labels = np.arange(n) % 2
    centers = rng.integers(4, size - 4, (n, 2))
    for i in np.flatnonzero(labels):
        r, c = centers[i]
        images[i, r - 2:r + 3, c - 2:c + 3, 0] = 1.0
    return images, labels, centers


def planted_square_finder(images, labels):
    """A small CNN (conv1, conv2, global max pooling) trained for a few seconds on `planted_squares`."""
    import keras

    keras.utils.set_random_seed(0)
    inputs = keras.Input((24, 24, 1))
    x = keras.layers.Conv2D(8, 3, padding="same", activation="relu", name="conv1")(inputs)
    x = keras.layers.Conv2D(16, 3, padding="same", activation="relu", name="conv2")(x)
    x = keras.layers.GlobalMaxPooling2D()(x)
    model = keras.Model(inputs, keras.layers.Dense(2, activation="softmax")(x))
    model.compile(optimizer=keras.optimizers.Adam(1e-2), loss="sparse_categorical_crossentropy")
    model.fit(images, labels, epochs=15, batch_size=32, verbose=0)
    return model
