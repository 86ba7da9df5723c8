"""Microscope files through `bioio`: OME-TIFF, OME-Zarr, and CZI / ND2 / LIF where their plugins install.

A file of these kinds can hold several scenes (positions, wells, fields) with named channels
and Z planes. protkit makes every scene an item of its own, refers to it as
``"<file>::<scene>::<channel,channel>"`` (an *item reference*, used wherever a file path would
be: the readers, the pre-check, the predictions CSV), and gives the items of one file the same
group, so a grouped split never puts two positions of one file in two parts. Channels are
picked by their metadata names (``channels=["DAPI", "GFP"]``, ``--channels DAPI,GFP``), in that
order; without names every channel is read, in the file's order.

Items are 2D: a scene with several Z planes is read as its maximum projection over Z for 2D
models (said in the item's header check), and `read_volume_ref` gives the (Z, Y, X, C) stack for
the 3D autoencoders. The first time point is read.

Needs the optional extra ``pip install -e ".[formats]"`` (bioio with its OME-TIFF and OME-Zarr
readers); CZI, ND2 and LIF need their own bioio plugins (``bioio-czi``, ``bioio-nd2``,
``bioio-lif``), go through the same code, and are untested here: no writer exists to make a test
file.
"""

from __future__ import annotations

import os

import numpy as np

from protkit.data.formats import ImageInfo, ImageReadError
from protkit.extras import require

SUFFIXES = (".ome.tif", ".ome.tiff", ".ome.zarr", ".czi", ".nd2", ".lif")
SEPARATOR = "::"


def is_microscope_file(name):
    """True for a name protkit reads through bioio (OME-TIFF, OME-Zarr, CZI, ND2, LIF)."""
    return str(name).lower().endswith(SUFFIXES)


def is_reference(path):
    """True for an item reference ``"<file>::<scene>::<channels>"`` (see the module docstring)."""
    return SEPARATOR in str(path)


def reference(path, scene, channels=None):
    """The item reference of ``scene`` of ``path`` with the named ``channels`` (None: all)."""
    return SEPARATOR.join([os.fspath(path), str(scene), ",".join(channels or [])])


def parse_reference(text):
    """(file, scene, channel names or None) of an item reference."""
    path, scene, channels = str(text).rsplit(SEPARATOR, 2)
    return path, scene, channels.split(",") if channels else None


def _bioimage(path):
    require("formats", f"{path}: reading OME-TIFF / OME-Zarr / CZI / ND2 / LIF files", ("bioio",))
    from bioio import BioImage

    if not os.path.exists(path):
        raise FileNotFoundError(f"{path}: file not found")
    try:
        return BioImage(path)
    except Exception as error:  # bioio raises many kinds: unsupported plugin, corrupt file, ...
        raise ImageReadError(path, f"cannot be opened by bioio ({type(error).__name__}: {error})") from None


def scenes(path):
    """The scene ids of a microscope file (one per position / field)."""
    return list(_bioimage(os.fspath(path)).scenes)


def channel_names(path):
    """The channel names of a microscope file's first scene, as its metadata gives them."""
    return [str(name) for name in (_bioimage(os.fspath(path)).channel_names or [])]


def _open_scene(ref):
    path, scene, wanted = parse_reference(ref)
    image = _bioimage(path)
    if scene not in image.scenes:
        raise ImageReadError(ref, f"scene {scene!r} not in the file; it has {list(image.scenes)}")
    image.set_scene(scene)
    names = [str(name) for name in (image.channel_names or [])]
    if wanted is None:
        return image, list(range(len(names) or image.dims.C)), names
    missing = [name for name in wanted if name not in names]
    if missing:
        raise ImageReadError(ref, f"channel(s) {missing} not in the file's metadata; its channels are {names}")
    return image, [names.index(name) for name in wanted], wanted


def read_reference(ref):
    """(height, width, channels) array of an item reference: its channels, Z planes max-projected."""
    image, indices, _ = _open_scene(ref)
    try:
        data = np.asarray(image.get_image_data("ZYXC", T=0))
    except Exception as error:
        raise ImageReadError(ref, f"pixels cannot be read ({type(error).__name__}: {error})") from None
    return data[..., indices].max(axis=0)


def read_volume_reference(ref):
    """(depth, height, width, channels) stack of an item reference."""
    image, indices, _ = _open_scene(ref)
    return np.asarray(image.get_image_data("ZYXC", T=0))[..., indices]


def info_reference(ref):
    """`ImageInfo` of an item reference from the file's metadata (no pixels decoded)."""
    image, indices, _ = _open_scene(ref)
    dims = image.dims
    return ImageInfo(str(ref), int(dims.Y), int(dims.X), len(indices), str(np.dtype(image.dtype)))


def physical_pixel_sizes(ref):
    """{"z", "y", "x"} pixel sizes in micrometres from the file's metadata (None where it has none)."""
    image, _, _ = _open_scene(ref)
    sizes = image.physical_pixel_sizes
    return {"z": sizes.Z, "y": sizes.Y, "x": sizes.X}


def file_items(path, channels=None):
    """[(item reference, scene)] of every scene of a microscope file, with ``channels`` picked by name.

    Raises:
        ImageReadError: when a named channel is not in the file's metadata (the message lists its channels).
    """
    image = _bioimage(os.fspath(path))
    names = [str(name) for name in (image.channel_names or [])]
    if channels is not None:
        missing = [name for name in channels if name not in names]
        if missing:
            raise ImageReadError(os.fspath(path), f"channel(s) {missing} not in the file's metadata; its channels "
                                                  f"are {names} (--channels picks them by these names)")
    return [(reference(path, scene, channels), scene) for scene in image.scenes]


def pixel_size(dataset):
    """{"z", "y", "x"} micrometres of a dataset's first microscope item, or None (no such item, or no sizes)."""
    if len(dataset) == 0 or dataset.items is None or not dataset.items or not is_reference(dataset.items[0][0]):
        return None
    sizes = physical_pixel_sizes(dataset.items[0][0])
    return sizes if any(value is not None for value in sizes.values()) else None
