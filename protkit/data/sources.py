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
import string

import numpy as np
import pandas as pd

from protkit.data import readers

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


def folder_fields(root, channels=None, class_names=None, skip_bad=False, allow_empty=False):
    """The `Dataset` fields for a folder; see `Dataset.from_folder`."""

    root = os.fspath(root)
    if not os.path.isdir(root):
        raise FileNotFoundError(f"{root}: folder not found")
    entries = sorted(os.listdir(root))
    subfolders = [e for e in entries if os.path.isdir(os.path.join(root, e)) and not e.startswith(".")]
    loose_images = [e for e in entries if readers.is_image_file(e) and os.path.isfile(os.path.join(root, e))]
    ignored = collections.Counter()
    class_folders = [d for d in subfolders if any(readers.is_image_file(f) for f in os.listdir(os.path.join(root, d)))]
    if class_folders and loose_images:
        raise DataError(
            f"{root}: holds both images ({len(loose_images)}) and class subfolders "
            f"({', '.join(class_folders[:5])}); expected one or the other"
        )
    labelled = bool(class_folders)
    if class_names is not None:
        if not labelled:
            raise DataError(f"{root}: class_names given but the folder has no class subfolders")
        unknown = sorted(set(class_folders) - set(class_names))
        if unknown:
            raise DataError(f"{root}: subfolders {unknown} are not among class_names {list(class_names)}")
        class_names = list(class_names)
    else:
        class_names = class_folders
    folders = [(name, os.path.join(root, name)) for name in class_names] if labelled else [(None, root)]

    items, labels, ids, problems = [], [], [], []
    found_channels = collections.Counter()
    for class_index, (class_name, folder) in enumerate(folders):
        files = sorted(os.listdir(folder)) if os.path.isdir(folder) else []
        images = [f for f in files if readers.is_image_file(f)]
        others = [f for f in files if not readers.is_image_file(f) and os.path.isfile(os.path.join(folder, f))]
        if others:
            ignored["not an image file (by extension)"] += len(others)
        if channels is None:
            for name in images:
                items.append((os.path.join(folder, name),))
                ids.append(os.path.splitext(name)[0] if not labelled else f"{class_name}/{os.path.splitext(name)[0]}")
                labels.append(class_index)
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

    if channels is not None:
        absent = [c for c in channels if not found_channels[c]]
        if absent and (items or problems or found_channels):
            raise DataError(
                f"{root}: channel(s) {absent} not present in any file name; channels found: "
                f"{sorted(found_channels) or 'none'} (files must be named <stem>_<channel>.<ext>)"
            )
    if channels is not None and not items and not problems and (loose_images or labelled):
        raise DataError(f"{root}: image files found, but none named <stem>_<channel>.<ext> for the channels "
                        f"{list(channels)}; leave out --channels for one file per item")
    raise_unless_skipping(problems, skip_bad, root)
    if not items and not allow_empty:
        raise DataError(f"{root}: no images found (looked for {', '.join(readers.IMAGE_EXTENSIONS)}"
                        f"{' in class subfolders' if labelled else ''})")
    return dict(
        items=items,
        labels=np.asarray(labels, dtype=np.int64) if labelled else None,
        class_names=list(class_names) if labelled else [],
        channel_names=list(channels) if channels is not None else None,
        ids=ids,
        skipped=problems,
        ignored=dict(ignored),
        source={"kind": "folder", "root": os.path.abspath(root), "channels": channels},
    )


def csv_fields(csv_path, image_dir=None, id_column="Id", label_column="Target", pattern="{id}.png", channels=None,
               class_names=None, multi_label=None, label_separator=None, group_column=None, skip_bad=False,
               allow_empty=False):
    """The `Dataset` fields for a label table plus a file-name pattern; see `Dataset.from_csv`."""

    csv_path = os.fspath(csv_path)
    if not os.path.isfile(csv_path):
        raise FileNotFoundError(f"{csv_path}: label file not found")
    image_dir = os.fspath(image_dir) if image_dir is not None else os.path.dirname(os.path.abspath(csv_path))
    if not os.path.isdir(image_dir):
        raise FileNotFoundError(f"{image_dir}: image folder not found")
    table = pd.read_csv(csv_path, dtype=str, keep_default_na=False)
    needed = [c for c in (id_column, label_column, group_column) if c is not None]
    absent = [c for c in needed if c not in table.columns]
    if absent:
        raise DataError(f"{csv_path}: column(s) {absent} not found; columns are {list(table.columns)}")
    fields = {name for _, name, _, _ in string.Formatter().parse(pattern) if name}
    if "id" not in fields:
        raise ValueError(f"pattern must contain {{id}}. Received: pattern={pattern!r}")
    if ("channel" in fields) != (channels is not None):
        raise ValueError(
            f"use {{channel}} in the pattern exactly when channels are given. "
            f"Received: pattern={pattern!r}, channels={channels}"
        )

    labels, class_names, label_problems = _parse_label_column(
        table, label_column, class_names, multi_label, label_separator)
    ids = table[id_column].str.strip().tolist()
    existing = set(os.listdir(image_dir))
    items, keep = [], []
    problems = [(f"{csv_path} row {row + 2}", why) for row, why in label_problems]
    bad_rows = {row for row, _ in label_problems}
    channel_list = list(channels) if channels is not None else [None]
    for row, item_id in enumerate(ids):
        if row in bad_rows:
            continue
        names = [_format_pattern(pattern, item_id, channel, csv_path) for channel in channel_list]
        missing = [name for name in names if name not in existing and not os.path.isfile(os.path.join(image_dir, name))]
        if missing:
            why = f"file for id {item_id!r} (CSV row {row + 2}) not found"
            if len(names) > 1:
                absent = [c for c, name in zip(channel_list, names) if name in missing]
                why = (f"{len(missing)} of {len(names)} channel files for id {item_id!r} (CSV row {row + 2}) "
                       f"not found: {', '.join(absent)}")
            problems.append((os.path.join(image_dir, missing[0]), why))
            continue
        items.append(tuple(os.path.join(image_dir, name) for name in names))
        keep.append(row)
    problems.sort(key=lambda p: p[0])
    raise_unless_skipping(problems, skip_bad, csv_path)
    if not items and not allow_empty:
        raise DataError(f"{csv_path}: no item has its image file(s) in {image_dir}", problems)
    keep = np.asarray(keep, dtype=np.int64)
    return dict(
        items=items,
        labels=None if labels is None else labels[keep],
        class_names=class_names,
        channel_names=list(channels) if channels is not None else None,
        ids=[ids[i] for i in keep],
        groups=None if group_column is None else table[group_column].to_numpy()[keep],
        skipped=problems,
        source={"kind": "csv", "csv": os.path.abspath(csv_path), "image_dir": os.path.abspath(image_dir),
                "id_column": id_column, "label_column": label_column, "pattern": pattern,
                "channels": channels, "rows": len(table),
                "rows_per_class": None if labels is None else _counts(labels, class_names)},
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


def _format_pattern(pattern, item_id, channel, csv_path):
    values = {"id": item_id}
    if channel is not None:
        values["channel"] = channel
    try:
        return pattern.format(**values)
    except (ValueError, TypeError):
        pass
    try:
        values["id"] = int(item_id)
    except ValueError:
        raise DataError(f"{csv_path}: id {item_id!r} cannot fill the pattern {pattern!r} "
                        f"(the pattern expects a number)") from None
    return pattern.format(**values)


def _parse_label_column(table, label_column, class_names, multi_label, separator):
    """Parse labels into class indices or multi-hot rows.

    Returns (labels or None, class_names, problems) with problems as (row index, why).
    """
    if label_column is None:
        return None, list(class_names or []), []
    cells = table[label_column].astype(str).str.strip().tolist()
    tokens = [cell.split(separator) if cell else [] for cell in cells]
    if multi_label is None:
        multi_label = any(len(t) > 1 for t in tokens)
    if not multi_label:
        tokens = [[cell] if cell else [] for cell in cells]
    all_tokens = sorted({tok for row in tokens for tok in row})
    numeric = bool(all_tokens) and all(re.fullmatch(r"\d+", tok) for tok in all_tokens)
    if class_names is None:
        if numeric:
            class_names = [str(i) for i in range(max(int(t) for t in all_tokens) + 1)]
        else:
            class_names = all_tokens
    class_names = list(class_names)
    index_of = {name: i for i, name in enumerate(class_names)}

    def to_index(tok):
        if tok in index_of:
            return index_of[tok]
        if numeric and int(tok) < len(class_names):
            return int(tok)
        return None

    problems = []
    if multi_label:
        labels = np.zeros((len(cells), len(class_names)), dtype=np.int8)
    else:
        labels = np.zeros(len(cells), dtype=np.int64)
    for row, row_tokens in enumerate(tokens):
        if not row_tokens and not multi_label:
            problems.append((row, "empty label"))
            continue
        for tok in row_tokens:
            index = to_index(tok)
            if index is None:
                problems.append((row, f"unknown label {tok!r}; known: {short_name_list(class_names)}"))
                break
            if multi_label:
                labels[row, index] = 1
            else:
                labels[row] = index
    return labels, class_names, problems


def _counts(labels, class_names):
    counts = labels.sum(axis=0) if labels.ndim == 2 else np.bincount(labels, minlength=len(class_names))
    return {name: int(count) for name, count in zip(class_names, counts)}


def short_name_list(names, limit=12):
    """The first ``limit`` names joined by commas, plus ", ... (N in all)" when there are more.

    >>> short_name_list(["a", "b", "c"], limit=2)
    'a, b, ... (3 in all)'
    """
    names = list(names)
    return ", ".join(names[:limit]) + (f", ... ({len(names)} in all)" if len(names) > limit else "")
