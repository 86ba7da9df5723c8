"""Decode microscopy image files into channels-last NumPy arrays.

Supported: PNG and JPEG (8- or 16-bit, grayscale or colour) through OpenCV, and TIFF
(8/16/32-bit integer or float; 2D, HWC, CHW or multi-page stacks) through tifffile.

Every reader returns an ``(height, width, channels)`` array in the file's own dtype, so the
caller decides how to scale it (see `protkit.data.normalization`). Files that cannot be
decoded raise `ImageReadError`, which names the file and says what was expected.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

import cv2
import numpy as np
import tifffile
from PIL import Image, UnidentifiedImageError

IMAGE_EXTENSIONS = (".png", ".tif", ".tiff", ".jpg", ".jpeg")
TIFF_EXTENSIONS = (".tif", ".tiff")

# A stack whose first axis is at most this long (and shorter than the last) is read as
# channels-first (CHW). Microscopy images rarely carry more channels than this.
MAX_CHANNELS_FIRST = 8


class ImageReadError(ValueError):
    """A file could not be read as the image protkit expected. The message names the file."""

    def __init__(self, path, reason):
        self.path = str(path)
        self.reason = reason
        super().__init__(f"{self.path}: {reason}")


@dataclass(frozen=True)
class ImageInfo:
    """Header facts of one image file, read without decoding the pixels."""

    path: str
    height: int
    width: int
    channels: int
    dtype: str


def is_image_file(path):
    """True when the file name has an extension protkit reads."""
    return str(path).lower().endswith(IMAGE_EXTENSIONS)


def _is_tiff(path):
    return str(path).lower().endswith(TIFF_EXTENSIONS)


def _hwc_layout(shape, path):
    """Decide how an array of ``shape`` maps to (H, W, C).

    Returns (squeezed_shape, channels_first). 2D arrays get one channel; a 3D array whose first
    axis is short (at most ``MAX_CHANNELS_FIRST`` and shorter than the last) is CHW, else HWC;
    4D arrays with a singleton axis are squeezed first.
    """
    shape = tuple(shape)
    if len(shape) == 4 and 1 in shape:
        shape = tuple(size for size in shape if size != 1) or (1, 1)
    if len(shape) == 2:
        return shape, False
    if len(shape) == 3:
        return shape, shape[0] <= MAX_CHANNELS_FIRST and shape[0] < shape[-1]
    raise ImageReadError(
        path,
        f"expected a 2D image or a (H, W, C) / (C, H, W) stack, got an array of shape "
        f"{tuple(shape)}. For volumes use `read_volume`.",
    )


def _to_hwc(array, path):
    """Bring a decoded array to (H, W, C)."""
    shape, channels_first = _hwc_layout(array.shape, path)
    array = array.reshape(shape)
    if array.ndim == 2:
        return array[..., None]
    return np.moveaxis(array, 0, -1) if channels_first else array


def _hwc_shape(shape, path):
    shape, channels_first = _hwc_layout(shape, path)
    if len(shape) == 2:
        return (*shape, 1)
    return (*shape[1:], shape[0]) if channels_first else shape


def _describe_decode_failure(path):
    """Ask Pillow why OpenCV could not decode a file, for a precise message."""
    try:
        with Image.open(path) as image:
            image.load()
    except UnidentifiedImageError:
        return "not a readable image (unknown or corrupt format)"
    except (OSError, SyntaxError) as error:
        return f"corrupt or truncated image ({error})"
    return "could not be decoded"


def read_image(path):
    """Read one image file as a ``(height, width, channels)`` array in its own dtype.

    Colour PNG/JPEG files are returned in RGB order (OpenCV decodes BGR; protkit flips it).

    Args:
        path: path to a PNG, JPEG or TIFF file.

    Returns:
        np.ndarray of shape (H, W, C), dtype as stored (uint8, uint16, float32, ...).

    Raises:
        FileNotFoundError: if the file does not exist.
        ImageReadError: if the file is corrupt, truncated, empty or not an image.

    Example:
    >>> image = read_image("cells/00001.png")  # doctest: +SKIP
    >>> image.shape, image.dtype                # doctest: +SKIP
    ((78, 78, 1), dtype('uint8'))
    """
    path = os.fspath(path)
    if not os.path.isfile(path):
        raise FileNotFoundError(f"{path}: image file not found")
    if os.path.getsize(path) == 0:
        raise ImageReadError(path, "the file is empty (0 bytes)")
    if _is_tiff(path):
        try:
            array = tifffile.imread(path)
        except Exception as error:  # tifffile raises many types for broken files
            raise ImageReadError(path, f"corrupt or truncated TIFF ({error})") from error
        if array.dtype == bool:
            array = array.astype(np.uint8)
        return _to_hwc(np.asarray(array), path)
    array = cv2.imread(path, cv2.IMREAD_UNCHANGED)
    if array is None:
        raise ImageReadError(path, _describe_decode_failure(path))
    if array.ndim == 3 and array.shape[-1] in (3, 4):
        conversion = cv2.COLOR_BGR2RGB if array.shape[-1] == 3 else cv2.COLOR_BGRA2RGBA
        array = cv2.cvtColor(array, conversion)
    return _to_hwc(array, path)


def read_channels(paths):
    """Read the files of one item and stack their channels in the given order.

    Args:
        paths: sequence of file paths; each holds one or more channels of the same item
            (e.g. ``["cell_Ch3.tif", "cell_Ch4.tif", "cell_Ch6.tif"]``).

    Returns:
        np.ndarray (H, W, sum of channels), in the widest dtype of the files.

    Raises:
        ImageReadError: if a file cannot be read, or the files differ in height/width.
    """
    arrays = [read_image(path) for path in paths]
    if len(arrays) == 1:
        return arrays[0]
    first = arrays[0]
    for path, array in zip(paths[1:], arrays[1:]):
        if array.shape[:2] != first.shape[:2]:
            raise ImageReadError(
                path,
                f"channel files of one item must have the same size: expected "
                f"{first.shape[0]}x{first.shape[1]} as in {paths[0]}, got "
                f"{array.shape[0]}x{array.shape[1]}",
            )
    dtype = np.result_type(*[array.dtype for array in arrays])
    return np.concatenate([array.astype(dtype, copy=False) for array in arrays], axis=-1)


def read_volume(path):
    """Read a 3D stack (TIFF) as ``(depth, height, width, channels)``.

    A 3D array is read as (Z, Y, X) with one channel; a 4D array as (Z, Y, X, C) when the last
    axis is short, else (Z, C, Y, X) (ImageJ hyperstack order).
    """
    path = os.fspath(path)
    if not _is_tiff(path):
        raise ImageReadError(path, "volumes must be TIFF stacks (.tif/.tiff)")
    try:
        array = np.asarray(tifffile.imread(path))
    except Exception as error:
        raise ImageReadError(path, f"corrupt or truncated TIFF ({error})") from error
    if array.ndim == 3:
        return array[..., None]
    if array.ndim == 4:
        if array.shape[-1] <= MAX_CHANNELS_FIRST:
            return array
        return np.moveaxis(array, 1, -1)
    raise ImageReadError(path, f"expected a 3D or 4D stack, got shape {array.shape}")


def probe_image(path):
    """Read an image's size, channel count and dtype from its header (no pixel decode).

    Raises:
        ImageReadError: if the header cannot be read.
    """
    path = os.fspath(path)
    if not os.path.isfile(path):
        raise FileNotFoundError(f"{path}: image file not found")
    if _is_tiff(path):
        try:
            with tifffile.TiffFile(path) as tif:
                series = tif.series[0]
                shape, dtype = tuple(series.shape), np.dtype(series.dtype).name
        except Exception as error:
            raise ImageReadError(path, f"corrupt TIFF header ({error})") from error
        height, width, channels = _hwc_shape(shape, path)
        return ImageInfo(path, height, width, channels, dtype)
    try:
        with Image.open(path) as image:
            width, height = image.size
            mode = image.mode
    except (UnidentifiedImageError, OSError, SyntaxError) as error:
        raise ImageReadError(path, f"not a readable image ({error})") from error
    channels = {"1": 1, "L": 1, "P": 3, "LA": 2, "RGB": 3, "RGBA": 4, "CMYK": 4}.get(mode, 1)
    dtype = "uint16" if mode.startswith("I;16") or mode == "I" else "uint8"
    if mode == "F":
        dtype = "float32"
    return ImageInfo(path, int(height), int(width), channels, dtype)


def dtype_max(dtype):
    """The value that means "full scale" for a dtype: 255, 65535, ... ; 1.0 for floats."""
    dtype = np.dtype(dtype)
    if np.issubdtype(dtype, np.integer):
        return float(np.iinfo(dtype).max)
    return 1.0
