"""Embedded synthetic dataset of Human-Protein-Atlas-like fluorescence images.

protkit must run end to end without a download, so it carries a generator of
four-channel cell images in the HPA layout: red = microtubules, green = the
protein of interest, blue = nucleus, yellow = endoplasmic reticulum. Each image
holds 1-3 cells and 1-3 of the ten localization classes of the Fast Spec CNN
study; the green channel of every cell shows the sum of the image's class
patterns (as in HPA, all cells of an image share the labels). Intensity gains
vary per image, per pattern and per cell, so the total protein signal says
little about the class: the information is spatial.

Everything is drawn with NumPy, OpenCV and SciPy, no per-pixel Python loop:
cells and nuclei are wobbly ellipses (flat ellipsoids in 3-D) evaluated on
coordinate grids; punctate patterns are points splatted with `np.bincount` and
blurred once; microtubules are random-walk filaments from the centrosome; the
ER is the zero-line network of a smooth random field. One renderer draws the
2-D images and the 3-D volumes. Each image then gets optical blur, a
background offset, shot noise (Gaussian approximation of Poisson) and read
noise.

Speed on one core of the 2-core AMD EPYC development VM (NumPy 2.4, OpenCV
5.0), best of repeated runs while other jobs shared the machine: about 500
images/s at 64x64, 350 images/s at 128x128, 140 images/s at 256x256 and 170
volumes/s at 16x32x32; 150-300 images/s at 128x128 under heavy load.
"""

from __future__ import annotations

import bisect
import csv
import itertools
import pathlib
import re

import cv2
import numpy as np

from protkit.data._cell_render import render_cells

SYNTHETIC_CLASSES = (
    "Mitochondria",
    "Nuclear bodies",
    "Nucleoli",
    "Golgi apparatus",
    "Nucleoplasm",
    "Nucleoli fibrillar center",
    "Cytosol",
    "Plasma membrane",
    "Centrosome",
    "Nuclear speckles",
)
SYNTHETIC_CHANNELS = ("microtubules", "protein", "nucleus", "er")
HPA_CHANNEL_COLORS = ("red", "green", "blue", "yellow")

# Configurable parameters ----------------------------------------------------
# Default class frequencies, HPA-like: Nucleoplasm and Cytosol common,
# Centrosome and Nucleoli fibrillar center rare.
CLASS_FREQUENCIES = (0.08, 0.07, 0.09, 0.07, 0.30, 0.03, 0.20, 0.09, 0.03, 0.06)
_LABEL_COUNT_PROBS = (0.55, 0.33, 0.12)  # P(1, 2, 3 labels per image)
# How much more likely a second or third label is, given one already drawn.
_CO_OCCURRENCE = {
    ("Nucleoplasm", "Cytosol"): 2.0,
    ("Nucleoplasm", "Nuclear bodies"): 1.5,
    ("Nucleoplasm", "Nuclear speckles"): 1.5,
    ("Nucleoli", "Nucleoli fibrillar center"): 3.0,
    ("Cytosol", "Plasma membrane"): 1.5,
    ("Cytosol", "Centrosome"): 1.5,
    ("Cytosol", "Mitochondria"): 1.2,
    ("Cytosol", "Golgi apparatus"): 1.2,
}
_AFFINITY = np.ones((len(SYNTHETIC_CLASSES),) * 2)
for (_a, _b), _v in _CO_OCCURRENCE.items():
    _i, _j = SYNTHETIC_CLASSES.index(_a), SYNTHETIC_CLASSES.index(_b)
    _AFFINITY[_i, _j] = _AFFINITY[_j, _i] = _v


# Label sampling and argument checks -----------------------------------------
def _class_weights(class_weights):
    if class_weights is None:
        return np.asarray(CLASS_FREQUENCIES, float)
    w = np.asarray(class_weights, float)
    if w.shape != (len(SYNTHETIC_CLASSES),) or not np.all(np.isfinite(w)) or np.any(w < 0) \
            or w.sum() <= 0:
        raise ValueError("`class_weights` must hold 10 finite, non-negative numbers with a "
                         f"positive sum. Received: class_weights={class_weights}")
    return w


def _draw(rng, weights):
    """Index drawn with probability proportional to `weights` (a list of floats)."""
    return bisect.bisect_right(list(itertools.accumulate(weights)), rng.random() * sum(weights))


def _sample_labels(rng, weights):
    """1-3 distinct class indices; later labels favour co-occurring classes."""
    w = weights.tolist()
    chosen = []
    for _ in range(min(1 + _draw(rng, _LABEL_COUNT_PROBS), int(np.count_nonzero(weights)))):
        c = min(_draw(rng, w), len(w) - 1)
        chosen.append(c)
        w = [v * a for v, a in zip(w, _AFFINITY[c].tolist())]
        w[c] = 0.0
    return chosen


def _check_int(name, value, low):
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < low:
        raise ValueError(f"`{name}` must be an integer >= {low}. Received: {name}={value!r}")
    return int(value)


def _check_common(n, noise, count_range, count_name):
    _check_int("n", n, 0)
    if not isinstance(noise, (int, float, np.number)) or not 0 <= noise < np.inf:
        raise ValueError(f"`noise` must be a non-negative number. Received: noise={noise!r}")
    ok = (isinstance(count_range, (tuple, list)) and len(count_range) == 2
          and all(isinstance(v, (int, np.integer)) for v in count_range)
          and 1 <= count_range[0] <= count_range[1] <= 4)
    if not ok:
        raise ValueError(f"`{count_name}` must be a pair (low, high) with 1 <= low <= high <= 4."
                         f" Received: {count_name}={count_range!r}")


def _check_dtype(dtype, allowed):
    try:
        name = np.dtype(dtype).name
    except TypeError:
        name = None
    if name not in allowed:
        raise ValueError(f"`dtype` must be one of {allowed}. Received: dtype={dtype!r}")
    return np.dtype(name)


def _quantize(img, dtype):
    if dtype == np.uint8 and img.ndim <= 3:
        return cv2.convertScaleAbs(np.maximum(img, 0, out=img), alpha=255)  # rounds, saturates
    np.clip(img, 0, 1, out=img)
    return img if dtype == np.float32 else np.rint(img * np.iinfo(dtype).max).astype(dtype)


# Public API -----------------------------------------------------------------
def make_cells(n, image_size=128, seed=0, dtype="uint8", cells_per_image=(1, 3), noise=1.0,
               class_weights=None):
    """Generate HPA-like four-channel fluorescence images with multi-hot labels.

    Channels follow `SYNTHETIC_CHANNELS` (microtubules, protein, nucleus, ER),
    i.e. the HPA colours red, green, blue, yellow. Every image holds
    `cells_per_image` cells and 1-3 classes of `SYNTHETIC_CLASSES`; the protein
    channel of every cell shows the sum of those classes' patterns. Images are
    drawn one after another from one generator: the first `k` images of
    `make_cells(n)` equal `make_cells(k)`; `dtype` and `noise` change only
    the quantization and the noise, not the cells.

    Args:
        n: number of images.
        image_size: height and width in pixels, >= 32. Organelle sizes are
            tuned for 128 (about 0.5 um per pixel) and scale with it.
        seed: seed of `np.random.default_rng`.
        dtype: "uint8" (0-255) or "uint16" (0-65535, full range used).
        cells_per_image: (low, high) inclusive range of cells per image, 1-4.
        noise: strength of the shot + read noise; 0 disables it, 1 is the
            default acquisition, 2 doubles the noise standard deviation.
        class_weights: 10 non-negative class weights replacing the default
            HPA-like frequencies `CLASS_FREQUENCIES` (co-occurrence
            preferences still apply to the second and third label).

    Returns:
        A tuple `(images, labels)`: `images` of shape
        `(n, image_size, image_size, 4)` and dtype `dtype`, `labels` multi-hot
        int8 of shape `(n, 10)`.

    Example:

    >>> images, labels = make_cells(4, image_size=64, seed=1)
    >>> images.shape, images.dtype.name, labels.shape
    ((4, 64, 64, 4), 'uint8', (4, 10))
    >>> bool(labels.sum(axis=1).min() >= 1)
    True
    """
    _check_common(n, noise, cells_per_image, "cells_per_image")
    image_size = _check_int("image_size", image_size, 32)
    dtype = _check_dtype(dtype, ("uint8", "uint16"))
    weights = _class_weights(class_weights)
    rng = np.random.default_rng(seed)
    images = np.empty((n, image_size, image_size, 4), dtype)
    labels = np.zeros((n, len(SYNTHETIC_CLASSES)), np.int8)
    for i in range(n):
        classes = _sample_labels(rng, weights)
        labels[i, classes] = 1
        n_cells = int(rng.integers(cells_per_image[0], cells_per_image[1] + 1))
        img = render_cells(rng, (image_size, image_size), classes, n_cells, image_size / 128, noise)
        images[i] = _quantize(img, dtype)
    return images, labels


def make_volumes(n, size=32, depth=16, seed=0, dtype="float32", cells_per_volume=(1, 1),
                 noise=1.0, class_weights=None):
    """Generate 3-D HPA-like four-channel volumes with multi-hot labels.

    The 3-D analogue of `make_cells`: flat cells (ellipsoids with wobble)
    lying in the (y, x) plane, same channels, classes, label sampling and
    patterns (punctate classes become blobs, the membrane a shell, the ER a
    sheet-like network). Axes are (z, y, x) with isotropic voxels.

    Args:
        n: number of volumes.
        size: height and width in voxels, >= 16.
        depth: number of z slices, >= 8.
        seed: seed of `np.random.default_rng`.
        dtype: "float32" (values in [0, 1]) or "uint8" (0-255).
        cells_per_volume: (low, high) inclusive range of cells per volume, 1-4.
        noise: noise strength as in `make_cells`.
        class_weights: 10 class weights as in `make_cells`.

    Returns:
        A tuple `(volumes, labels)`: `volumes` of shape
        `(n, depth, size, size, 4)` and dtype `dtype`, `labels` multi-hot int8
        of shape `(n, 10)`.

    Example:

    >>> volumes, labels = make_volumes(2, size=32, depth=16)
    >>> volumes.shape, volumes.dtype.name, labels.shape
    ((2, 16, 32, 32, 4), 'float32', (2, 10))
    """
    _check_common(n, noise, cells_per_volume, "cells_per_volume")
    size = _check_int("size", size, 16)
    depth = _check_int("depth", depth, 8)
    dtype = _check_dtype(dtype, ("float32", "uint8"))
    weights = _class_weights(class_weights)
    rng = np.random.default_rng(seed)
    volumes = np.empty((n, depth, size, size, 4), dtype)
    labels = np.zeros((n, len(SYNTHETIC_CLASSES)), np.int8)
    for i in range(n):
        classes = _sample_labels(rng, weights)
        labels[i, classes] = 1
        n_cells = int(rng.integers(cells_per_volume[0], cells_per_volume[1] + 1))
        img = render_cells(rng, (depth, size, size), classes, n_cells, size / 64, noise, 1.2)
        volumes[i] = _quantize(img, dtype)
    return volumes, labels


_ID_PATTERN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")


def write_hpa_layout(images, labels, out_dir, ids=None, class_names=None, overwrite=False):
    """Write images and labels in the Kaggle HPA folder layout.

    For every image, one grey-level PNG per channel named
    `<id>_<red|green|blue|yellow>.png` (8- or 16-bit as the dtype says),
    plus `train.csv` with columns `Id,Target` where `Target` holds the
    space-separated class indices (e.g. "0 5"), and `classes.txt` with one
    class name per line in index order.

    Args:
        images: array `(n, H, W, 4)` of dtype uint8 or uint16, channels in
            HPA order red, green, blue, yellow (as `make_cells` returns).
        labels: multi-hot array `(n, n_classes)`.
        out_dir: destination folder, created if missing.
        ids: `n` unique image ids (letters, digits, "_", "-", ".");
            default `synth_00000`, `synth_00001`, ...
        class_names: names of the label columns; default `SYNTHETIC_CLASSES`.
        overwrite: write into a non-empty `out_dir`; files with the same
            names are replaced, other files are left in place.

    Returns:
        The path of `train.csv`.

    Example:

    >>> import tempfile
    >>> images, labels = make_cells(2, image_size=32)
    >>> csv_path = write_hpa_layout(images, labels, tempfile.mkdtemp())
    >>> csv_path.name
    'train.csv'
    """
    images, labels = np.asarray(images), np.asarray(labels)
    if images.ndim != 4 or images.shape[-1] != 4 or images.dtype not in (np.uint8, np.uint16):
        raise ValueError("`images` must be a uint8 or uint16 array of shape (n, H, W, 4). "
                         f"Received: images.shape={images.shape}, images.dtype={images.dtype}")
    names = tuple(SYNTHETIC_CLASSES if class_names is None else class_names)
    if labels.shape != (len(images), len(names)) or not np.isin(labels, (0, 1)).all():
        raise ValueError(f"`labels` must be a 0/1 array of shape {(len(images), len(names))} "
                         f"(images x class_names). Received: labels.shape={labels.shape}")
    if ids is None:
        ids = [f"synth_{i:05d}" for i in range(len(images))]
    ids = [str(i) for i in ids]
    bad = [i for i in ids if not _ID_PATTERN.match(i)]
    if len(ids) != len(images) or len(set(ids)) != len(ids) or bad:
        raise ValueError(f"`ids` must be {len(images)} unique names made of letters, digits, "
                         f"'_', '-' or '.'. Received: ids={ids[:5]}{'...' if len(ids) > 5 else ''}")
    out = pathlib.Path(out_dir)
    if out.exists() and not out.is_dir():
        raise NotADirectoryError(f"`out_dir` is a file, expected a folder: {out}")
    if out.exists() and any(out.iterdir()) and not overwrite:
        raise FileExistsError(f"Output folder {out} exists and is not empty; pass "
                              "overwrite=True to write into it anyway.")
    out.mkdir(parents=True, exist_ok=True)
    for image_id, image in zip(ids, images):
        for c, color in enumerate(HPA_CHANNEL_COLORS):
            path = out / f"{image_id}_{color}.png"
            if not cv2.imwrite(str(path), np.ascontiguousarray(image[..., c])):
                raise OSError(f"cv2.imwrite could not write {path}")
    (out / "classes.txt").write_text("".join(f"{name}\n" for name in names), encoding="utf-8")
    csv_path = out / "train.csv"
    with open(csv_path, "w", newline="", encoding="utf-8") as f:
        writer = csv.writer(f)
        writer.writerow(["Id", "Target"])
        for image_id, row in zip(ids, labels):
            writer.writerow([image_id, " ".join(str(k) for k in np.flatnonzero(row))])
    return csv_path
