"""Decode microscopy image files into channels-last NumPy arrays.

Supported: PNG and JPEG (8- or 16-bit, grayscale or colour) through OpenCV, and TIFF
(8/16/32-bit integer or float; 2D, HWC, CHW or multi-page stacks) through tifffile. Scenes of
OME-TIFF, OME-Zarr, CZI, ND2 and LIF files (item references, `protkit.data.bioformats`) go
through bioio (the formats extra).

Every reader returns an ``(height, width, channels)`` array in the file's own dtype, so the
caller decides how to scale it (see `protkit.data.normalization`). Files that cannot be
decoded raise `ImageReadError`, which names the file and says what was expected.
"""

from __future__ import annotations

import os

import cv2
import numpy as np
import tifffile
from PIL import Image, UnidentifiedImageError

from protkit.data import bioformats, formats
from protkit.data.formats import ImageInfo, ImageReadError  # noqa: F401 (public here)

IMAGE_EXTENSIONS = (".png", ".tif", ".tiff", ".jpg", ".jpeg", ".ome.zarr", ".czi", ".nd2", ".lif")
TIFF_EXTENSIONS = (".tif", ".tiff")

# A stack whose first axis is at most this long (and shorter than the last) is read as
# channels-first (CHW). Microscopy images rarely carry more channels than this.
MAX_CHANNELS_FIRST = 8


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
    except Exception as error:  # Pillow raises OSError, SyntaxError, ValueError... for broken files
        return f"corrupt or truncated image ({error})"
    return "could not be decoded"


def _read_tiff(path, decode=True):
    """Header facts of a TIFF after checking that every page's pixel data lies inside the file;
    with ``decode`` also the pixels. Returns (shape, dtype name, array or None)."""
    size = os.path.getsize(path)
    try:
        with tifffile.TiffFile(path) as tif:
            series = tif.series[0]
            shape, dtype = tuple(series.shape), np.dtype(series.dtype)
            if not shape or 0 in shape:
                raise ImageReadError(path, f"corrupt TIFF: the image has no pixels (shape {shape})")
            formats.check_value_count(path, shape)
            _hwc_layout(shape, path)
            for number, page in enumerate(tif.pages, start=1):
                formats.check_tiff_page(path, page, number, size)
            array = np.asarray(tif.asarray()) if decode else None
            if array is not None and array.shape != shape:
                raise ImageReadError(path, f"corrupt TIFF: the header says shape {shape}, the pixel data "
                                           f"decodes to {array.shape}")
    except ImageReadError:
        raise
    except Exception as error:  # tifffile raises many types (and MemoryError) for broken files
        raise ImageReadError(path, f"corrupt or truncated TIFF ({type(error).__name__}: {error})") from error
    if dtype == bool:
        dtype = np.dtype(np.uint8)
        array = None if array is None else array.astype(np.uint8)
    return shape, dtype.name, array


def _header(path, data, check):
    """(height, width, channels, dtype) of PNG/JPEG bytes, or of a TIFF (read from ``path``)."""
    kind = formats.image_kind(data)
    if kind == "png":
        return formats.png_header(path, data, check)
    if kind == "jpeg":
        return formats.jpeg_header(path, data, check)
    if kind == "tiff":
        shape, dtype, _ = _read_tiff(path, decode=False)
        return (*_hwc_shape(shape, path), dtype)
    raise ImageReadError(path, "not a readable image (unknown or corrupt format: the first bytes are no PNG, "
                               "JPEG or TIFF signature)")


def _file_bytes(path):
    path = os.fspath(path)
    if not os.path.isfile(path):
        raise FileNotFoundError(f"{path}: image file not found")
    with open(path, "rb") as handle:
        data = handle.read()
    if not data:
        raise ImageReadError(path, "the file is empty (0 bytes)")
    return path, data


def read_image(path):
    """Read one image file as a ``(height, width, channels)`` array in its own dtype.

    Colour PNG/JPEG files are returned in RGB order (OpenCV decodes BGR; protkit flips it).
    The file's structure is checked first (PNG chunk checksums, the JPEG end marker, TIFF data
    extents), so a damaged or truncated file is an error rather than a partly grey image.

    Args:
        path: path to a PNG, JPEG or TIFF file (the content decides, not the extension).

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
    if bioformats.is_reference(path):  # a scene of an OME-TIFF / OME-Zarr / CZI / ND2 / LIF file
        return bioformats.read_reference(path)
    if _is_tiff(path) and os.path.isfile(path) and os.path.getsize(path):
        path = os.fspath(path)
        return _to_hwc(_read_tiff(path)[2], path)
    path, data = _file_bytes(path)
    if formats.image_kind(data) == "tiff":
        return _to_hwc(_read_tiff(path)[2], path)
    _header(path, data, check=True)
    try:
        array = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_UNCHANGED)
    except cv2.error as error:
        raise ImageReadError(path, f"could not be decoded ({str(error).strip().splitlines()[-1]})") from None
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
    if bioformats.is_reference(path):
        return bioformats.read_volume_reference(path)
    if not _is_tiff(path):
        raise ImageReadError(path, "volumes must be TIFF stacks (.tif/.tiff) or scenes of microscope files")
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

    The channel count is the one `read_image` returns (OpenCV gives gray+alpha PNGs 4 channels).

    Raises:
        FileNotFoundError: if the file does not exist.
        ImageReadError: if the header cannot be read.
    """
    return _info(path, check=False)


def check_image(path):
    """`probe_image` plus a check of the file's structure, still without decoding pixels.

    PNG: every chunk lies inside the file, its CRC matches, IEND ends it (catches truncation
    and flipped bits). JPEG: the end-of-image marker follows the last scan (catches truncation).
    TIFF: every page's pixel data lies inside the file and uncompressed strips hold the declared
    size. What this cannot see: damaged compressed data whose container is intact (decode with
    `read_image` for that).

    Raises:
        FileNotFoundError: if the file does not exist.
        ImageReadError: naming the file and what is wrong.
    """
    return _info(path, check=True)


def _info(path, check):
    if bioformats.is_reference(path):
        return bioformats.info_reference(path)
    if _is_tiff(path) and os.path.isfile(path) and os.path.getsize(path):
        path = os.fspath(path)
        shape, dtype, _ = _read_tiff(path, decode=False)
        return ImageInfo(path, *_hwc_shape(shape, path), dtype)
    path, data = _file_bytes(path)
    return ImageInfo(path, *_header(path, data, check))


def dtype_max(dtype):
    """The value that means "full scale" for a dtype: 255, 65535, ... ; 1.0 for floats."""
    dtype = np.dtype(dtype)
    if np.issubdtype(dtype, np.integer):
        return float(np.iinfo(dtype).max)
    return 1.0
