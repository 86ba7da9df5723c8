"""The data of a teaching notebook: protkit's synthetic cells by default, or the user's own folder.

Every notebook in `notebooks/` starts from the same choice: with its `DATA` parameter unset it runs
on the embedded synthetic cells (`protkit.data.synthetic`), so no download is needed; with `DATA`
set it reads a folder of images (`Dataset.from_folder`) or, with `LABELS`, a folder plus a CSV
label table (`Dataset.from_csv`). `notebook_dataset` makes that choice in one call and checks that
the data suit the notebook (e.g. multi-label data for a multi-label model).
"""

from __future__ import annotations

import os
import tempfile

from protkit._validation import is_int
from protkit.data.datasets import MULTI_LABEL, SINGLE_LABEL, Dataset
from protkit.data.synthetic import HPA_CHANNEL_COLORS, SYNTHETIC_CLASSES, make_cells, write_hpa_layout

__all__ = ["notebook_dataset"]

_TASKS = (None, SINGLE_LABEL, MULTI_LABEL)


def _check_path(value, name):
    if not isinstance(value, (str, os.PathLike)) or not os.fspath(value):
        raise ValueError(f"`{name}` must be a path (str or os.PathLike). Received: {name}={value!r}")
    return os.fspath(value)


def _check_names(value, name):
    """None, or a list of non-empty strings (a single string is one name)."""
    if value is None:
        return None
    names = [value] if isinstance(value, str) else value
    if not isinstance(names, (list, tuple)) or not names or not all(isinstance(v, str) and v for v in names):
        raise ValueError(f"`{name}` must be a non-empty list of names. Received: {name}={value!r}")
    return list(names)


def _kept_channels(channels, drop, where):
    unknown = [c for c in drop if c not in channels]
    if unknown:
        raise ValueError(f"`drop_channels` names {unknown}, not among the channels of {where}: "
                         f"{list(channels)}. Received: drop_channels={drop}")
    kept = [c for c in channels if c not in drop]
    if not kept:
        raise ValueError(f"`drop_channels` leaves no channel of {list(channels)}. Received: drop_channels={drop}")
    return kept


def _synthetic(n, image_size, seed, task, drop, write_files):
    channels = _kept_channels(HPA_CHANNEL_COLORS, drop, "the synthetic cells")
    images, multi_hot = make_cells(n, image_size=image_size, seed=seed)
    single_label = task == SINGLE_LABEL
    if single_label:
        single = multi_hot.sum(axis=1) == 1  # the images that carry exactly one class
        if not single.any():
            raise ValueError(f"none of the {n} synthetic images carries a single class; make more. "
                             f"Received: n_synthetic={n}")
        images, multi_hot = images[single], multi_hot[single]
    if not write_files:
        keep = [HPA_CHANNEL_COLORS.index(c) for c in channels]
        return Dataset.from_arrays(images[..., keep], labels=multi_hot.argmax(axis=1) if single_label else multi_hot,
                                   class_names=list(SYNTHETIC_CLASSES), channel_names=channels)
    # The HPA layout on disk (<id>_<colour>.png + train.csv), read back with the loader real data uses.
    folder = tempfile.mkdtemp(prefix="protkit_cells_")
    csv_path = write_hpa_layout(images, multi_hot, folder)
    return Dataset.from_csv(csv_path, folder, id_column="Id", label_column="Target", pattern="{id}_{channel}.png",
                            channels=channels, class_names=list(SYNTHETIC_CLASSES), multi_label=not single_label)


def notebook_dataset(data=None, labels=None, *, id_column="Id", label_column="Target", pattern=None,
                     channels=None, class_names=None, task=None, allow_unlabelled=False, drop_channels=None,
                     n_synthetic=200, image_size=64, seed=0, write_files=False):
    """The dataset a notebook works on: synthetic cells, or the folder (and CSV) its parameters name.

    With `data=None`, `n_synthetic` synthetic four-channel cells (`make_cells`: Human-Protein-Atlas
    layout, channels named by their colours red, green, blue, yellow, ten classes, one to three per
    image) are made. With `data` a folder, it is read with `Dataset.from_folder` (one subfolder per
    class, or a flat folder of unlabelled images), or with `Dataset.from_csv` when `labels` names a
    CSV label table. Then, if the notebook asked for a `task`, the labels are checked against it.

    Args:
        data: None for synthetic cells, else the folder of images.
        labels: a CSV label table for `data` (one row per item), or None (class subfolders).
        id_column: CSV column with the item ids.
        label_column: CSV column with the label(s); several labels space-separated make
            multi-label data.
        pattern: file name from a CSV id, e.g. `"{id:05d}.png"` or `"{id}_{channel}.png"`; default
            `"{id}_{channel}.png"` with `channels`, else `"{id}.png"`.
        channels: per-channel files `<stem>_<channel>.<ext>` (folder) or the values of `{channel}`
            (CSV), e.g. `["Ch3", "Ch4", "Ch6"]`; None: each file holds all channels.
        class_names: class names in index order: for a CSV whose labels are indices (HPA:
            `protkit.data.HPA_CLASSES`), or the order of a folder's class subfolders.
        task: the labels the notebook needs: `"multi_label"`, `"single_label"` or None (any,
            unlabelled included). Synthetic cells follow it: `"single_label"` keeps only the
            images that carry exactly one class (about half of them), as class indices.
        allow_unlabelled: with a `task`, also accept unlabelled `data` (e.g. for clustering, where
            labels only score the result).
        drop_channels: a channel name, or names, to leave out: of the synthetic colours, or of
            `channels` for `data` (which then must be given).
        n_synthetic: number of synthetic images made (before `task` selects among them).
        image_size: height and width of the synthetic images in pixels, >= 32.
        seed: seed of the synthetic images.
        write_files: write the synthetic cells to a new temporary folder in the Kaggle HPA layout
            (`<id>_<colour>.png` files and `train.csv`, see `write_hpa_layout`) and read them back
            with `Dataset.from_csv`, as a user's data would be read; `ds.source["image_dir"]` is
            the folder. False keeps them in memory (`Dataset.from_arrays`), which is faster.

    Returns:
        A `Dataset`.

    Raises:
        FileNotFoundError: `data` or `labels` does not exist.
        ValueError: an invalid argument, or labels that do not suit `task`.
        DataError: problems found while reading the folder or CSV (missing files, unknown labels).

    Example:

    >>> ds = notebook_dataset(n_synthetic=8, image_size=32)
    >>> len(ds), ds.task, ds.channel_names
    (8, 'multi_label', ['red', 'green', 'blue', 'yellow'])
    >>> notebook_dataset(n_synthetic=20, image_size=32, task="single_label").task
    'single_label'
    """
    if task not in _TASKS:
        raise ValueError(f"`task` must be one of {_TASKS}. Received: task={task!r}")
    if not isinstance(allow_unlabelled, bool) or not isinstance(write_files, bool):
        raise ValueError("`allow_unlabelled` and `write_files` must be True or False. Received: "
                         f"allow_unlabelled={allow_unlabelled!r}, write_files={write_files!r}")
    drop = _check_names(drop_channels, "drop_channels") or []
    channels = _check_names(channels, "channels")
    class_names = _check_names(class_names, "class_names")
    if data is None:
        if labels is not None:
            raise ValueError(f"`labels` is a label table for `data`, but `data` is None (synthetic cells). "
                             f"Received: labels={labels!r}")
        for name, value, low in (("n_synthetic", n_synthetic, 1), ("image_size", image_size, 32), ("seed", seed, 0)):
            if not is_int(value) or value < low:
                raise ValueError(f"`{name}` must be an integer >= {low}. Received: {name}={value!r}")
        return _synthetic(int(n_synthetic), int(image_size), int(seed), task, drop, write_files)

    data = _check_path(data, "data")
    if not os.path.isdir(data):
        hint = " (a file: give the CSV as `labels` and its image folder as `data`)" if os.path.isfile(data) else ""
        raise FileNotFoundError(f"{data}: not a folder{hint}. `data` must be a folder of images, or None for "
                                f"synthetic cells. Received: data={data!r}")
    if drop:
        if channels is None:
            raise ValueError("`drop_channels` needs `channels` (the per-channel file names) to know which files "
                             f"to leave out. Received: drop_channels={drop}, channels=None")
        channels = _kept_channels(channels, drop, "`channels`")
    if labels is None:
        ds = Dataset.from_folder(data, channels=channels, class_names=class_names)
    else:
        labels = _check_path(labels, "labels")
        if not os.path.isfile(labels):
            raise FileNotFoundError(f"{labels}: label table not found. `labels` must be a CSV file (one row per "
                                    f"item of {data}) or None. Received: labels={labels!r}")
        ds = Dataset.from_csv(labels, data, id_column=id_column, label_column=label_column, channels=channels,
                              pattern=pattern or ("{id}_{channel}.png" if channels else "{id}.png"),
                              class_names=class_names)
    if task is not None and ds.task != task and not (ds.task is None and allow_unlabelled):
        found = "unlabelled" if ds.task is None else ds.task.replace("_", "-")
        where = data if labels is None else labels
        hint = " `protkit train` handles either kind of labels." if ds.task is not None else ""
        raise ValueError(f"{where}: holds {found} data, but this notebook needs {task.replace('_', '-')} data."
                         f"{hint} Received: data={data!r}, labels={labels!r}, task={task!r}")
    return ds
