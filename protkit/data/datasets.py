"""`Dataset`: one description of a set of microscopy images that feeds every protkit workflow.

A `Dataset` holds *items* (file paths, one per channel file, or rows of an in-memory array),
their labels (class indices for single-label data, multi-hot rows for multi-label data, or none),
optional groups (specimen, position, track...) for leakage-free splits, and the class and channel
names. It never holds decoded pixels of files: decoding happens in the tf.data pipeline.

Sources:

- `Dataset.from_folder`: one subfolder per class (or a flat folder of unlabelled images);
  ``channels=[...]`` groups ``<stem>_<channel>.<ext>`` files into multi-channel items.
- `Dataset.from_csv`: a label table (id + label columns) plus a file-name pattern such as
  ``"{id:05d}.png"`` or ``"{id}_{channel}.png"``; space-separated labels become multi-hot rows.
- `Dataset.from_arrays`: images already in memory.

Problems (a missing channel file, an empty class folder, a CSV id without a file or repeated, an
unknown label...) raise `DataError` listing them, unless ``skip_bad=True``: then the affected
items are left out and listed in ``dataset.skipped`` (never silently). `Dataset.verify` is the
fast pre-check of every file before training.
"""

from __future__ import annotations

import collections
import os
from dataclasses import dataclass, field, replace

import numpy as np
import pandas as pd

from protkit.data import readers
from protkit.data.checks import map_items, verify_items
from protkit.data.sources import (
    DataError,
    PerChannelFilesError,
    array_fields,
    channel_files_by_id,
    folder_fields,
    raise_unless_skipping,
    short_name_list,
)
from protkit.data.splits import groups_from_regex
from protkit.data.tables import csv_fields
from protkit.vocabulary import MULTI_LABEL, SINGLE_LABEL

__all__ = ["HPA_CLASSES", "MULTI_LABEL", "SINGLE_LABEL", "DataError", "Dataset", "PerChannelFilesError",
           "channel_files_by_id"]

# Human Protein Atlas (Kaggle 2018) class names, index order of its `Target` column.
HPA_CLASSES = (
    "Nucleoplasm", "Nuclear membrane", "Nucleoli", "Nucleoli fibrillar center", "Nuclear speckles",
    "Nuclear bodies", "Endoplasmic reticulum", "Golgi apparatus", "Peroxisomes", "Endosomes",
    "Lysosomes", "Intermediate filaments", "Actin filaments", "Focal adhesion sites", "Microtubules",
    "Microtubule ends", "Cytokinetic bridge", "Mitotic spindle", "Microtubule organizing center",
    "Centrosome", "Lipid droplets", "Plasma membrane", "Cell junctions", "Mitochondria", "Aggresome",
    "Cytosol", "Cytoplasmic bodies", "Rods & rings",
)


@dataclass(eq=False)
class Dataset:
    """Items, labels, groups, class names and channel names of one image set.

    Attributes:
        items: list of tuples of file paths, one tuple per item. A tuple has one path per
            channel file, or a single path whose file holds all channels. Empty for datasets
            built from arrays.
        labels: None (unlabelled), int64 array (N,) of class indices (single-label), or int8
            array (N, K) of multi-hot rows (multi-label).
        class_names: list of K class names.
        channel_names: names of the channels, in order; None until known (read from files).
        ids: one identifier per item (file stem, CSV id, or array index).
        groups: None or array (N,) of group keys (specimen, position...) for grouped splits.
        arrays: in-memory images (N, H, W, C) for datasets built by `from_arrays`, else None.
        skipped: list of (where, why) for items left out on request (``skip_bad=True``).
        ignored: counts of files that were seen but not used, by reason.
        source: how the dataset was made (recorded into run configs).
        synthetic: None (all items real) or a bool array (N,) marking generated items (GAN
            balancing). `protkit.training.train` splits only the real items and adds the
            synthetic ones to the training part, so they never reach validation or test.
    """

    items: list
    labels: np.ndarray | None
    class_names: list
    channel_names: list | None
    ids: list
    groups: np.ndarray | None = None
    arrays: np.ndarray | None = None
    skipped: list = field(default_factory=list)
    ignored: dict = field(default_factory=dict)
    source: dict = field(default_factory=dict)
    synthetic: np.ndarray | None = None

    def __post_init__(self):
        n = len(self)
        if len(self.ids) != n:
            raise ValueError(f"Dataset needs one id per item: {len(self.ids)} ids, {n} items")
        if self.labels is not None:
            self.labels = np.asarray(self.labels)
            if len(self.labels) != n:
                raise ValueError(f"Dataset needs one label per item: {len(self.labels)} labels, {n} items")
            if self.labels.ndim == 2 and self.labels.shape[1] != len(self.class_names):
                raise ValueError(
                    f"multi-hot labels have {self.labels.shape[1]} columns but there are "
                    f"{len(self.class_names)} class names"
                )
        if self.groups is not None:
            self.groups = np.asarray(self.groups)
            if len(self.groups) != n:
                raise ValueError(f"Dataset needs one group per item: {len(self.groups)} groups, {n} items")
        if self.synthetic is not None:
            self.synthetic = np.asarray(self.synthetic, dtype=bool)
            if self.synthetic.shape != (n,):
                raise ValueError(f"Dataset needs one synthetic flag per item: {self.synthetic.shape} for {n} items")

    # ------------------------------------------------------------------ basic facts
    def __len__(self):
        return len(self.arrays) if self.arrays is not None else len(self.items)

    @property
    def task(self):
        """The task the labels define: "single_label", "multi_label", or None (unlabelled)."""
        if self.labels is None:
            return None
        return MULTI_LABEL if self.labels.ndim == 2 else SINGLE_LABEL

    @property
    def real_indices(self):
        """Indices of the real (not generated) items."""
        return np.arange(len(self)) if self.synthetic is None else np.flatnonzero(~self.synthetic)

    @property
    def num_classes(self):
        return len(self.class_names)

    @property
    def num_channels(self):
        if self.channel_names is not None:
            return len(self.channel_names)
        return self.read(0).shape[-1] if len(self) else 0

    def __repr__(self):
        task = self.task or "unlabelled"
        channels = ",".join(self.channel_names) if self.channel_names else "?"
        return (
            f"<Dataset {len(self)} items, {task}, {self.num_classes} classes, "
            f"channels={channels}{', grouped' if self.groups is not None else ''}"
            f"{f', {len(self.skipped)} skipped' if self.skipped else ''}>"
        )

    def targets(self, dtype="float32"):
        """Labels as a (N, K) matrix: one-hot for single-label, multi-hot for multi-label."""
        if self.labels is None:
            raise ValueError("this dataset has no labels")
        if self.task == MULTI_LABEL:
            return self.labels.astype(dtype)
        return np.eye(self.num_classes, dtype=dtype)[self.labels]

    def class_counts(self):
        """Items per class (multi-label: items carrying each label) as a pandas Series."""
        if self.labels is None:
            return pd.Series(dtype="int64", name="items")
        if self.task == MULTI_LABEL:
            counts = self.labels.sum(axis=0)
        else:
            counts = np.bincount(self.labels, minlength=self.num_classes)
        return pd.Series(counts.astype("int64"), index=list(self.class_names), name="items")

    # ------------------------------------------------------------------ pixels
    def read(self, index):
        """Decode item ``index`` as an (H, W, C) array in the files' own dtype."""
        if self.arrays is not None:
            return self.arrays[index]
        return readers.read_channels(self.items[index])

    def subset(self, indices):
        """A new Dataset with the items at ``indices`` (labels, ids and groups follow)."""
        indices = np.asarray(indices, dtype=np.int64)
        return replace(
            self,
            items=[self.items[i] for i in indices] if self.arrays is None else [],
            labels=None if self.labels is None else self.labels[indices],
            ids=[self.ids[i] for i in indices],
            groups=None if self.groups is None else self.groups[indices],
            arrays=None if self.arrays is None else self.arrays[indices],
            synthetic=None if self.synthetic is None else self.synthetic[indices],
            skipped=list(self.skipped),
            ignored=dict(self.ignored),
        )

    def probe(self, max_workers=None):
        """Header facts (size, channels, dtype) of every item, as a DataFrame; no pixel decode.

        Each file's structure is checked too (`readers.check_image`), so truncated or damaged
        files show up. Problems are not raised here: a row whose ``error`` column is set could
        not be read.
        """
        if self.arrays is not None:
            n, height, width, channels = self.arrays.shape
            return pd.DataFrame({
                "id": self.ids, "height": height, "width": width, "channels": channels,
                "dtype": self.arrays.dtype.name, "error": None,
            })

        def probe_item(paths):
            try:
                infos = [readers.check_image(path) for path in paths]
            except (readers.ImageReadError, FileNotFoundError) as error:
                return None, None, None, None, str(error)
            sizes = {(info.height, info.width) for info in infos}
            if len(sizes) > 1:
                return None, None, None, None, f"{paths[0]}: channel files differ in size: {sorted(sizes)}"
            dtype = np.result_type(*[info.dtype for info in infos]).name
            return infos[0].height, infos[0].width, sum(i.channels for i in infos), dtype, None

        rows = map_items(probe_item, self.items, max_workers)
        table = pd.DataFrame(rows, columns=["height", "width", "channels", "dtype", "error"])
        table.insert(0, "id", self.ids)
        return table

    def verify(self, skip_bad=False, image_size=None, decode=False, max_workers=None):
        """The pre-check before training: every item's files, channel count and size, fast.

        Reads each file's header and checks its structure (PNG checksums, JPEG end marker, TIFF
        data extents) without decoding pixels (``decode=True`` decodes every item as well), and
        compares channel counts (to ``channel_names`` when known, else to most items) and, when
        ``image_size`` is None, sizes (to most items), as the pipeline will.

        Args:
            skip_bad: leave bad items out (listed in the copy's ``skipped``) instead of raising.
            image_size: the size items will be resized to, or None (no resizing: sizes must agree).
            decode: also decode every item.
            max_workers: threads for reading headers.

        Returns:
            self when every item passes, else (with ``skip_bad``) a copy without the bad items.

        Raises:
            DataError: listing every bad item (file and reason), unless ``skip_bad=True``.
        """
        bad, problems = verify_items(self, image_size=image_size, decode=decode, max_workers=max_workers)
        raise_unless_skipping(problems, skip_bad, "the images")
        if not bad:
            return self
        clean = self.subset(np.setdiff1d(np.arange(len(self)), bad))
        clean.skipped = list(self.skipped) + problems
        return clean

    # ------------------------------------------------------------------ groups
    def with_groups(self, groups=None, *, regex=None):
        """A copy with groups set from an array or from a regex on the items' file names.

        The group is the first capturing group of ``re.search(regex, file_name)`` (the whole
        match when the pattern has none); a file name that does not match raises `DataError`.
        """
        if (groups is None) == (regex is None):
            raise ValueError("give exactly one of `groups` or `regex`")
        if regex is not None:
            names = [os.path.basename(paths[0]) for paths in self.items] if self.arrays is None else list(map(str, self.ids))
            groups = groups_from_regex(names, regex)
        return replace(self, groups=np.asarray(groups))

    # ------------------------------------------------------------------ constructors
    @classmethod
    def concatenate(cls, datasets, names=None):
        """One dataset from several with the same classes and channels (e.g. train + validation).

        Args:
            datasets: the datasets, all file-based or all in memory, same task and class names.
            names: optional name per dataset; when given, each item's origin becomes its group
                (so a split by origin is one argument away) unless the items already have groups.
        """
        datasets = list(datasets)
        if not datasets:
            raise ValueError("concatenate needs at least one dataset")
        first = datasets[0]
        for other in datasets[1:]:
            if other.task != first.task or list(other.class_names) != list(first.class_names):
                raise ValueError(f"cannot concatenate: classes differ ({short_name_list(first.class_names)} vs "
                                 f"{short_name_list(other.class_names)}) or tasks differ ({first.task} vs {other.task})")
            if other.channel_names != first.channel_names:
                raise ValueError(f"cannot concatenate: channels differ ({first.channel_names} vs {other.channel_names})")
            if (other.arrays is None) != (first.arrays is None):
                raise ValueError("cannot concatenate file-based and in-memory datasets")
        groups = None
        if all(d.groups is not None for d in datasets):
            groups = np.concatenate([d.groups for d in datasets])
        elif names is not None:
            if len(names) != len(datasets):
                raise ValueError(f"one name per dataset. Received: names={names}")
            groups = np.concatenate([np.full(len(d), name, dtype=object) for d, name in zip(datasets, names)])
        return cls(
            items=[item for d in datasets for item in d.items],
            labels=None if first.labels is None else np.concatenate([d.labels for d in datasets]),
            class_names=list(first.class_names),
            channel_names=first.channel_names,
            ids=[i for d in datasets for i in d.ids],
            groups=groups,
            arrays=None if first.arrays is None else np.concatenate([d.arrays for d in datasets]),
            synthetic=(None if all(d.synthetic is None for d in datasets) else
                       np.concatenate([np.zeros(len(d), bool) if d.synthetic is None else d.synthetic
                                       for d in datasets])),
            skipped=[s for d in datasets for s in d.skipped],
            ignored=dict(sum((collections.Counter(d.ignored) for d in datasets), collections.Counter())),
            source={"kind": "concatenate", "parts": [d.source for d in datasets]},
        )

    @classmethod
    def from_arrays(cls, images, labels=None, class_names=None, channel_names=None, ids=None, groups=None,
                    synthetic=None):
        """A dataset of in-memory images.

        Args:
            images: array (N, H, W, C) (or (N, H, W): one channel is added).
            labels: None, class indices (N,), or multi-hot rows (N, K).
            class_names: K names; defaults to "0" ... "K-1".
            channel_names: C names; defaults to "ch0" ... .
            ids: N identifiers; defaults to "0" ... "N-1".
            groups: optional N group keys.
            synthetic: optional N bools marking generated images (see the class docstring).
        """
        return cls(**array_fields(images, labels=labels, class_names=class_names, channel_names=channel_names,
                                  ids=ids, groups=groups, synthetic=synthetic))

    @classmethod
    def from_folder(cls, root, channels=None, class_names=None, skip_bad=False, allow_empty=False,
                    detect_channels=True):
        """A dataset from a folder: one subfolder per class, or a flat folder of unlabelled images.

        Args:
            root: the folder. With subfolders holding images, each subfolder is a class (its
                name is the class name) and the items are single-label. With images directly in
                ``root`` and no class subfolders, the items are unlabelled.
            channels: None (each image file is one item), or channel names: files named
                ``<stem>_<channel>.<ext>`` are grouped by ``<stem>`` into one item with the
                channels in this order (e.g. ``["Ch3", "Ch4", "Ch6"]`` for imaging flow
                cytometry exports). Files of other channels are ignored and counted.
            class_names: optional class order (must match the subfolder names); default sorted.
            skip_bad: leave out (and list in ``skipped``) items with a missing channel file and
                class folders without images, instead of raising `DataError`.
            allow_empty: return an empty dataset instead of raising (used by `inspect`).
            detect_channels: without ``channels``, refuse files that follow the per-channel
                pattern (most stems share one set of ``_<suffix>`` endings, e.g. ``_Ch3``,
                ``_Ch4``, ``_Ch6``), raising `PerChannelFilesError`. False reads every file as
                its own item on purpose.

        Raises:
            FileNotFoundError: if ``root`` does not exist.
            PerChannelFilesError: per-channel files read without ``channels``.
            DataError: empty folder or class folder, a channel that no file carries, missing
                channel files...
        """
        return cls(**folder_fields(root, channels=channels, class_names=class_names, skip_bad=skip_bad,
                                   allow_empty=allow_empty, detect_channels=detect_channels))

    @classmethod
    def from_csv(
        cls,
        csv_path,
        image_dir=None,
        id_column="Id",
        label_column="Target",
        pattern="{id}.png",
        channels=None,
        class_names=None,
        multi_label=None,
        label_separator=None,
        group_column=None,
        skip_bad=False,
        allow_empty=False,
    ):
        """A dataset from a label table plus a file-name pattern.

        Args:
            csv_path: CSV file with one row per item.
            image_dir: folder of the images; default: the CSV's folder.
            id_column: column with the item id.
            label_column: column with the label(s); None for an unlabelled list of ids.
            pattern: file name relative to ``image_dir`` built with ``str.format``:
                ``"{id:05d}.png"`` (zero-padded numeric ids), ``"{id}_{channel}.png"`` (one file
                per channel, with ``channels``).
            channels: channel names substituted for ``{channel}`` (e.g. HPA
                ``["red", "green", "blue", "yellow"]``).
            class_names: class names in index order; all are kept, even those no row carries.
                Labels in the CSV are names, or integer indices into this list when no class
                name is itself a number. Default: the labels present, numeric ids in numeric
                order ("0", "2", "21"), other names sorted.
            multi_label: True: labels are split on ``label_separator`` into multi-hot rows.
                None: auto (multi-label when any cell holds more than one label).
            label_separator: default: whitespace (HPA's ``"0 5 25"``).
            group_column: optional column with group keys (specimen, well...).
            skip_bad: leave out (and list) rows whose files are missing instead of raising.
            allow_empty: return an empty dataset instead of raising (used by `inspect`).
        """
        return cls(**csv_fields(csv_path, image_dir=image_dir, id_column=id_column, label_column=label_column,
                                pattern=pattern, channels=channels, class_names=class_names,
                                multi_label=multi_label, label_separator=label_separator,
                                group_column=group_column, skip_bad=skip_bad, allow_empty=allow_empty))
