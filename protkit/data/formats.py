"""What PNG, JPEG and TIFF files must look like: header facts and structure, read from bytes.

The checks here need no pixel decoding: PNG chunk lengths and CRCs, the JPEG frame header and
end-of-image marker, TIFF page data extents, and a cap on the values a header may declare. They
raise `ImageReadError`, which names the file and says what is wrong. `protkit.data.readers`
uses them before decoding and for `check_image`.
"""

from __future__ import annotations

import struct
import zlib
from dataclasses import dataclass

import numpy as np

# An image whose header declares more values (height x width x channels) than this is refused
# before decoding: a damaged header would otherwise allocate gigabytes. Raise it for huge images.
MAX_IMAGE_VALUES = 2**28
# deflate cannot expand data more than 1032-fold; a header that needs more is damaged.
_DEFLATE_MAX_RATIO = 1032
_DEFLATE_TIFF = (8, 32946)

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
# PNG colour type -> channels as OpenCV decodes them (gray+alpha becomes 4-channel BGRA).
_PNG_CHANNELS = {0: 1, 2: 3, 3: 3, 4: 4, 6: 4}


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


def check_tiff_page(path, page, number, file_size):
    """Raise unless page ``number`` (a tifffile page) has pixel data inside a file of
    ``file_size`` bytes, enough of it when uncompressed, and no more than deflate can expand."""
    offsets, counts = page.dataoffsets, page.databytecounts
    if not offsets or not any(counts):
        raise ImageReadError(path, f"corrupt TIFF: page {number} has no pixel data")
    end = max(offset + count for offset, count in zip(offsets, counts))
    if end > file_size:
        raise ImageReadError(path, f"truncated TIFF: the pixel data of page {number} ends at byte {end}, "
                                   f"the file has {file_size} bytes")
    keyframe = getattr(page, "keyframe", page)
    if keyframe.compression == 1 and sum(counts) < keyframe.nbytes:
        raise ImageReadError(path, f"corrupt TIFF: page {number} declares {keyframe.nbytes} bytes of pixels "
                                   f"({'x'.join(map(str, keyframe.shape))}), its strips hold {sum(counts)}")
    if keyframe.compression in _DEFLATE_TIFF and keyframe.nbytes > _DEFLATE_MAX_RATIO * sum(counts) + 4096:
        raise ImageReadError(path, f"corrupt TIFF: page {number} declares {keyframe.nbytes} bytes of pixels "
                                   f"({'x'.join(map(str, keyframe.shape))}) from {sum(counts)} compressed bytes, "
                                   f"more than deflate can hold")


def check_value_count(path, shape):
    """Raise when a header declares more than `MAX_IMAGE_VALUES` values (a damaged header)."""
    values = int(np.prod(shape, dtype=np.int64))
    if values > MAX_IMAGE_VALUES:
        raise ImageReadError(path, f"the header declares {'x'.join(map(str, shape))} = {values} values, more "
                                   f"than protkit reads at once (protkit.data.formats.MAX_IMAGE_VALUES = "
                                   f"{MAX_IMAGE_VALUES}); a damaged header, or an image to cut into tiles first")


def image_kind(data):
    """"png", "jpeg" or "tiff" from a file's first bytes (its signature), else None."""
    if data.startswith(PNG_SIGNATURE):
        return "png"
    if data.startswith(b"\xff\xd8\xff"):
        return "jpeg"
    if data[:4] in (b"II*\x00", b"MM\x00*", b"II+\x00", b"MM\x00+"):
        return "tiff"
    return None


def png_header(path, data, check):
    """Walk the PNG chunks: IHDR first, every chunk inside the file, IDAT present, IEND last and
    (with ``check``) every chunk's CRC right. Returns (height, width, channels as OpenCV decodes
    them, dtype name)."""
    view = memoryview(data)
    position, header, transparency, pixels, compressed = 8, None, False, False, 0
    while True:
        if position + 12 > len(data):
            raise ImageReadError(path, f"truncated PNG: the file ends at byte {len(data)} before its IEND chunk")
        length, kind = struct.unpack(">I4s", view[position:position + 8])
        end = position + 12 + length
        if end > len(data):
            raise ImageReadError(path, f"truncated PNG: chunk {kind.decode('latin-1')!r} at byte {position} needs "
                                       f"{length} bytes, the file ends at byte {len(data)}")
        if check and zlib.crc32(view[position + 4:end - 4]) != struct.unpack(">I", view[end - 4:end])[0]:
            raise ImageReadError(path, f"corrupt PNG: the checksum of chunk {kind.decode('latin-1')!r} at byte "
                                       f"{position} does not match its bytes (damaged file)")
        if header is None:
            if kind != b"IHDR" or length != 13:
                raise ImageReadError(path, "corrupt PNG: the first chunk is not a valid IHDR header")
            width, height, depth, colour = struct.unpack(">IIBB", view[position + 8:position + 18])
            if width == 0 or height == 0 or colour not in _PNG_CHANNELS or depth not in (1, 2, 4, 8, 16):
                raise ImageReadError(path, f"corrupt PNG header: {width}x{height}, bit depth {depth}, "
                                           f"colour type {colour}")
            header = (height, width, colour, depth)
        transparency |= kind == b"tRNS"
        pixels |= kind == b"IDAT"
        compressed += length if kind == b"IDAT" else 0
        if kind == b"IEND" or (not check and pixels):
            break
        position = end
    if not pixels:
        raise ImageReadError(path, "corrupt PNG: no image data (IDAT chunk)")
    height, width, colour, depth = header
    channels = _PNG_CHANNELS[colour] + (1 if transparency and colour in (2, 3) else 0)
    check_value_count(path, (height, width, channels))
    samples = {0: 1, 2: 3, 3: 1, 4: 2, 6: 4}[colour]
    raw_bytes = height * (1 + -(-width * samples * depth // 8))  # one filter byte per row
    if check and raw_bytes > _DEFLATE_MAX_RATIO * compressed + 4096:
        raise ImageReadError(path, f"corrupt PNG: {width}x{height} pixels need {raw_bytes} bytes, more than its "
                                   f"{compressed} bytes of compressed data can hold")
    return height, width, channels, "uint16" if depth == 16 else "uint8"


def jpeg_header(path, data, check):
    """Read the JPEG frame header; with ``check`` also require the end-of-image marker after
    the last scan (a truncated JPEG otherwise decodes to a partly grey image without error)."""
    position = 2
    while True:
        if position >= len(data) or data[position] != 0xFF:
            raise ImageReadError(path, "corrupt or truncated JPEG: no frame header (SOF marker) found")
        while position + 1 < len(data) and data[position + 1] == 0xFF:
            position += 1  # fill bytes
        if position + 4 > len(data):
            raise ImageReadError(path, "corrupt or truncated JPEG: no frame header (SOF marker) found")
        marker = data[position + 1]
        if 0xD0 <= marker <= 0xD8 or marker == 0x01:
            position += 2
            continue
        (length,) = struct.unpack(">H", data[position + 2:position + 4])
        if 0xC0 <= marker <= 0xCF and marker not in (0xC4, 0xC8, 0xCC):
            if length < 8 or position + 10 > len(data):
                raise ImageReadError(path, "corrupt or truncated JPEG: the frame header is cut short")
            precision, height, width, components = struct.unpack(">BHHB", data[position + 4:position + 10])
            if height == 0 or width == 0 or components not in (1, 3, 4):
                raise ImageReadError(path, f"corrupt JPEG header: {width}x{height}, {components} components")
            check_value_count(path, (height, width, components))
            break
        if marker in (0xD9, 0xDA) or length < 2:
            raise ImageReadError(path, "corrupt JPEG: image data before the frame header (SOF marker)")
        position += 2 + length
    if check:
        last_scan = data.rfind(b"\xff\xda")
        if last_scan < position:
            raise ImageReadError(path, "corrupt or truncated JPEG: no image data (SOS marker)")
        if data.rfind(b"\xff\xd9") < last_scan:
            raise ImageReadError(path, "truncated JPEG: the file ends before its end-of-image marker")
    return height, width, 1 if components == 1 else 3, "uint8" if precision <= 8 else "uint16"
