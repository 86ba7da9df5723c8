"""Find items and labels: class folders, per-channel file names, label tables, in-memory arrays.

These functions do the reading and checking behind `Dataset.from_folder`, `Dataset.from_csv`
and `Dataset.from_arrays` and return the `Dataset` fields; problems on disk are collected as
(where, why) and raised together as `DataError` (`raise_unless_skipping`), or left out and
listed when the caller asked to skip them.
"""

from __future__ import annotations

import collections
import os
import re

import numpy as np

from protkit.data import bioformats, readers

_SHOWN_PROBLEMS = 10


class DataError(ValueError):
    """The data on disk does not match what was asked for; the message lists the problems."""

    def __init__(self, message, problems=()):
        self.problems = list(problems)
        if self.problems:
            shown = "\n".join(f"  - {where}: {why}" for where, why in self.problems[:_SHOWN_PROBLEMS])
            more = len(self.problems) - _SHOWN_PROBLEMS
            message = f"{message}\n{shown}" + (f"\n  ... and {more} more" if more > 0 else "")
        super().__init__(message)


class PerChannelFilesError(DataError):
    """A folder read without channels holds one file per channel of each cell.

    Attributes:
        folder: the folder read.
        channels: the detected channel suffixes, in natural order (e.g. ``["Ch3", "Ch4", "Ch6"]``).
        cells: how many stems carry exactly these suffixes.
        example: one file name of the pattern.
    """

    def __init__(self, folder, channels, cells, example):
        self.folder, self.channels, self.cells, self.example = str(folder), list(channels), cells, example
        endings = ", ".join(f"_{c}" for c in self.channels)
        super().__init__(
            f"{self.folder}: the file names look like one file per channel ({cells} cells each have files "
            f"ending {endings}, e.g. {example}); read without channels, every channel file would become an "
            f"item of its own. Name the channels in the order you want them: --channels {','.join(self.channels)} "
            f"(command line) or channels={self.channels!r} (Python). To read every file as its own item "
            f"anyway, pass detect_channels=False.")


def _natural_key(text):
    return [int(part) if part.isdigit() else part.lower() for part in re.split(r"(\d+)", text)]


def detect_channel_suffixes(file_names, max_channels=8, min_share=0.8):
    """The channel suffixes when ``file_names`` follow ``<cell>_<channel>.<ext>``, else None.

    The pattern is taken as found when one set of 2 to ``max_channels`` ``_<suffix>`` endings is
    shared by at least two stems, each carrying exactly that set, and those files make up at
    least ``min_share`` of all files. Plain numbered names (``cell_001.png``...), one shared
    ending (``_crop``) and one file per id (an HPA download with one colour per id) do not.

    Args:
        file_names: ``(folder, file name)`` pairs (stems are compared within their folder).

    Returns:
        (suffixes in natural order, number of stems with them, an example file name) or None.
    """
    by_stem = collections.defaultdict(set)
    total = 0
    example = {}
    for folder, name in file_names:
        total += 1
        base, sep, suffix = os.path.splitext(name)[0].rpartition("_")
        if sep and base and suffix:
            by_stem[(folder, base)].add(suffix)
            example.setdefault(suffix, name)
    if not by_stem:
        return None
    common, cells = collections.Counter(frozenset(s) for s in by_stem.values()).most_common(1)[0]
    if not 2 <= len(common) <= max_channels or cells < 2 or cells * len(common) < min_share * total:
        return None
    suffixes = sorted(common, key=_natural_key)
    return suffixes, cells, example[suffixes[0]]


def raise_unless_skipping(problems, skip_bad, what):
    """Raise `DataError` listing ``problems`` (``(where, why)`` pairs) unless ``skip_bad`` is set.

    ``what`` names what was being read (a folder, a CSV file, "the images"). With
    ``skip_bad=True``, or no problems, it returns and the caller leaves those items out.
    """
    if problems and not skip_bad:
        raise DataError(
            f"{len(problems)} problem(s) while reading {what}; fix them or pass skip_bad=True "
            f"(--skip-bad) to leave those items out (they are counted and reported)",
            problems,
        )


def folder_fields(root, channels=None, class_names=None, skip_bad=False, allow_empty=False, detect_channels=True):
    """The `Dataset` fields for a folder; see `Dataset.from_folder`."""

    root = os.fspath(root)
    if not os.path.isdir(root):
        raise FileNotFoundError(f"{root}: folder not found")
    problems, ignored = [], collections.Counter()
    labelled, class_names, folders, images_of = _folder_layout(root, class_names, problems, ignored)
    if channels is None and detect_channels:
        found = detect_channel_suffixes((folder, name) for folder, names in images_of.items() for name in names)
        if found:
            raise PerChannelFilesError(root, *found)
    items, labels, ids, found_channels, groups = _folder_items(folders, images_of, channels, labelled, problems,
                                                                ignored)
    plain_files = {folder: [name for name in names if not bioformats.is_microscope_file(name)]
                   for folder, names in images_of.items()}
    if channels is not None and any(plain_files.values()):
        _check_channels_found(root, channels, plain_files, items, found_channels)
    raise_unless_skipping(problems, skip_bad, root)
    if channels is None and items and all(bioformats.is_reference(item[0]) for item in items):
        channels = bioformats.channel_names(bioformats.parse_reference(items[0][0])[0]) or None  # the metadata's
    if not items and not allow_empty:
        raise DataError(f"{root}: no images found (looked for {', '.join(readers.IMAGE_EXTENSIONS)}"
                        f"{' in class subfolders' if labelled else ''})")
    return dict(
        items=items,
        labels=np.asarray(labels, dtype=np.int64) if labelled else None,
        class_names=list(class_names) if labelled else [],
        channel_names=list(channels) if channels is not None else None,
        ids=ids,
        groups=np.asarray(groups) if any(group is not None for group in groups) else None,
        skipped=problems,
        ignored=dict(ignored),
        source={"kind": "folder", "root": os.path.abspath(root), "channels": channels},
    )


def _folder_layout(root, class_names, problems, ignored):
    """(labelled, class names, [(class name, folder)], {folder: image file names}) of a data folder;
    empty class folders go to ``problems``, other files are counted in ``ignored``."""
    entries = sorted(os.listdir(root))
    subfolders = [e for e in entries if os.path.isdir(os.path.join(root, e)) and not e.startswith(".")
                  and not bioformats.is_microscope_file(e)]  # an .ome.zarr store is an image, not a class folder
    loose_images = [e for e in entries if _is_image_entry(root, e)]
    listing = {d: sorted(os.listdir(os.path.join(root, d))) for d in subfolders}
    class_folders = [d for d in subfolders if any(readers.is_image_file(f) for f in listing[d])]
    if class_folders and loose_images:
        raise DataError(
            f"{root}: holds both images ({len(loose_images)}) and class subfolders "
            f"({', '.join(class_folders[:5])}); expected one or the other"
        )
    labelled = bool(class_folders)
    if labelled:
        for name in subfolders:
            if name not in class_folders:
                others = f" ({len(listing[name])} other entries)" if listing[name] else ""
                problems.append((os.path.join(root, name), f"class folder holds no image files{others}; expected "
                                                           f"{', '.join(readers.IMAGE_EXTENSIONS)} files"))
    elif subfolders and loose_images:
        ignored["subfolder without image files"] += len(subfolders)
    if class_names is not None:
        if not labelled:
            raise DataError(f"{root}: no class subfolders with images, but class names are set "
                            f"({short_name_list(class_names)}); labelled data needs one subfolder per class")
        unknown = sorted(set(class_folders) - set(class_names))
        if unknown:
            raise DataError(f"{root}: subfolders {unknown} are not among the class names "
                            f"{short_name_list(class_names)}")
        class_names = list(class_names)
    else:
        class_names = class_folders
    folders = [(name, os.path.join(root, name)) for name in class_names] if labelled else [(None, root)]
    images_of = {}
    for class_name, folder in folders:
        files = listing.get(class_name, []) if labelled else entries
        images_of[folder] = [f for f in files if _is_image_entry(folder, f)]
        others = [f for f in files if not readers.is_image_file(f) and os.path.isfile(os.path.join(folder, f))]
        if others:
            ignored["not an image file (by extension)"] += len(others)
    return labelled, class_names, folders, images_of


def _is_image_entry(folder, name):
    """An image file, or an OME-Zarr store (a folder), that protkit reads."""
    path = os.path.join(folder, name)
    return readers.is_image_file(name) and (os.path.isfile(path) or (bioformats.is_microscope_file(name)
                                                                     and os.path.isdir(path)))


def _microscope_items(folder, names, channels, problems):
    """[(reference, id stem, group)] of every scene of the microscope files ``names`` (one group per file)."""
    found = []
    for name in names:
        path = os.path.join(folder, name)
        try:
            scenes = bioformats.file_items(path, channels)
        except readers.ImageReadError as error:
            problems.append((path, error.reason))
            continue
        stem = name[:-len(next(s for s in bioformats.SUFFIXES if name.lower().endswith(s)))]
        for ref, scene in scenes:
            found.append((ref, stem if len(scenes) == 1 else f"{stem}/{scene}", path))
    return found


def _folder_items(folders, images_of, channels, labelled, problems, ignored):
    """(items, labels, ids, channels found, groups) of the image files; stems missing a channel go to
    ``problems``. Every scene of a microscope file is an item, grouped by its file; other items have no group."""
    items, labels, ids, groups = [], [], [], []
    found_channels = collections.Counter()
    for class_index, (class_name, folder) in enumerate(folders):
        microscope = [name for name in images_of[folder] if bioformats.is_microscope_file(name)]
        for ref, stem, group in _microscope_items(folder, microscope, channels, problems):
            items.append((ref,))
            ids.append(stem if not labelled else f"{class_name}/{stem}")
            labels.append(class_index)
            groups.append(group)
        images = [name for name in images_of[folder] if not bioformats.is_microscope_file(name)]
        if channels is None:
            for name in images:
                items.append((os.path.join(folder, name),))
                ids.append(os.path.splitext(name)[0] if not labelled else f"{class_name}/{os.path.splitext(name)[0]}")
                labels.append(class_index)
                groups.append(None)
            continue
        grouped, unmatched, seen = _group_channel_files(images, channels)
        found_channels.update(seen)
        if unmatched:
            ignored["file name has no requested channel suffix"] += len(unmatched)
        for stem, by_channel in grouped.items():
            missing = [c for c in channels if c not in by_channel]
            if missing:
                expected = ", ".join(f"{stem}_{c}.<ext>" for c in missing)
                problems.append((os.path.join(folder, stem), f"missing channel file(s) {expected}"))
                continue
            items.append(tuple(os.path.join(folder, by_channel[c]) for c in channels))
            ids.append(stem if not labelled else f"{class_name}/{stem}")
            labels.append(class_index)
            groups.append(None)
    return items, labels, ids, found_channels, groups


def _check_channels_found(root, channels, images_of, items, found_channels):
    """Raise DataError when the named channels match no file name, or some of them none."""
    if any(images_of.values()) and not found_channels:
        raise DataError(f"{root}: the channels {', '.join(channels)} are set (--channels / channels=), but no "
                        f"image file here is named <stem>_<channel>.<ext>; each file holds one whole item, so "
                        f"this data is read without channels")
    absent = [c for c in channels if not found_channels[c]]
    if absent and (items or found_channels):
        raise DataError(
            f"{root}: channel(s) {absent} not present in any file name; channels found: "
            f"{sorted(found_channels) or 'none'} (files must be named <stem>_<channel>.<ext>)"
        )


def array_fields(images, labels=None, class_names=None, channel_names=None, ids=None, groups=None,
                 synthetic=None):
    """The `Dataset` fields for images already in memory; see `Dataset.from_arrays`."""
    images = np.asarray(images)
    if images.ndim == 3:
        images = images[..., None]
    if images.ndim != 4:
        raise ValueError(f"images must have shape (N, H, W, C). Received: images.shape={images.shape}")
    if labels is not None:
        labels = np.asarray(labels)
        if labels.ndim == 1:
            labels = labels.astype(np.int64)
            num_classes = int(labels.max()) + 1 if len(labels) else 0
            if class_names is not None:
                num_classes = len(class_names)
            if len(labels) and (labels.min() < 0 or labels.max() >= num_classes):
                raise ValueError(f"class indices must lie in [0, {num_classes}). Received: labels range "
                                 f"[{labels.min()}, {labels.max()}]")
        elif labels.ndim == 2:
            if not np.isin(labels, (0, 1)).all():
                raise ValueError("multi-hot labels must hold only 0 and 1")
            labels = labels.astype(np.int8)
            num_classes = labels.shape[1]
        else:
            raise ValueError(f"labels must be (N,) or (N, K). Received: labels.shape={labels.shape}")
        class_names = list(class_names) if class_names is not None else [str(i) for i in range(num_classes)]
    else:
        class_names = list(class_names or [])
    channels = images.shape[-1]
    if channel_names is not None and len(channel_names) != channels:
        raise ValueError(f"{len(channel_names)} channel names for {channels} channels. "
                         f"Received: channel_names={list(channel_names)}")
    return dict(
        items=[],
        labels=labels,
        class_names=class_names,
        channel_names=list(channel_names) if channel_names is not None else [f"ch{i}" for i in range(channels)],
        ids=list(map(str, ids)) if ids is not None else [str(i) for i in range(len(images))],
        groups=groups,
        arrays=images,
        source={"kind": "arrays", "shape": list(images.shape), "dtype": images.dtype.name},
        synthetic=synthetic,
    )


def _group_channel_files(file_names, channels):
    """Group ``<stem>_<channel>.<ext>`` names by stem.

    Returns (grouped {stem: {channel: file}}, unmatched names, Counter of channel suffixes seen).
    """
    grouped = collections.defaultdict(dict)
    unmatched = []
    seen = collections.Counter()
    # Longest channel names first, so "Ch10" is not taken for "Ch1" + "0".
    ordered = sorted(channels, key=len, reverse=True)
    for name in file_names:
        stem = os.path.splitext(name)[0]
        for channel in ordered:
            suffix = f"_{channel}"
            if stem.endswith(suffix) and len(stem) > len(suffix):
                grouped[stem[: -len(suffix)]][channel] = name
                seen[channel] += 1
                break
        else:
            unmatched.append(name)
            if "_" in stem:
                seen[stem.rsplit("_", 1)[1]] += 0  # record the suffix as "seen but not requested"
    return dict(grouped), unmatched, seen


def channel_files_by_id(folder, channels):
    """Map each stem in ``folder`` to its ``{channel: file path}`` for ``<stem>_<channel>`` files.

    Useful to see which per-channel files exist before building a dataset (e.g. an HPA
    download where some ids lack a channel).
    """
    folder = os.fspath(folder)
    names = [f for f in sorted(os.listdir(folder)) if readers.is_image_file(f)]
    grouped, _, _ = _group_channel_files(names, channels)
    return {stem: {c: os.path.join(folder, f) for c, f in by.items()} for stem, by in grouped.items()}


def short_name_list(names, limit=12):
    """The first ``limit`` names joined by commas, plus ", ... (N in all)" when there are more.

    >>> short_name_list(["a", "b", "c"], limit=2)
    'a, b, ... (3 in all)'
    """
    names = list(names)
    return ", ".join(names[:limit]) + (f", ... ({len(names)} in all)" if len(names) > limit else "")
