"""Seeded, leakage-free train/validation/test splits and k-fold indices.

Every function here works on label arrays only and returns row indices, so the
same split can drive a `tf.data` pipeline, a cross-validation loop or a table.
Two label layouts are understood everywhere:

- single-label: an integer array of shape `(N,)` holding class indices;
- multi-label: a 0/1 (multi-hot) array of shape `(N, K)`.

Single-label splits are stratified per class; multi-label splits use the
iterative stratification of Sechidis et al. (2011), which keeps every label,
including the rare ones, close to its share in each part.

When to group
-------------
Cells are rarely independent samples. Cells from one specimen (patient, slide,
well, plate) share staining, illumination and biology; tiles or crops cut from
one field of view (position) overlap or sit side by side; frames of one tracked
cell in a time-lapse are the same cell. If such siblings land on both sides of
a split, validation scores measure how well the model recognises the specimen,
not the protein pattern, and they come out optimistic. Pass `groups` (one
hashable per item: specimen id, position, track id...) and no group will ever
span two parts or two folds; stratification is then done as well as possible
at group level. `groups_from_regex` derives such ids from file names.

The placement itself (which unit goes to which part) lives in `protkit.data._stratify`.

Reference:
    Sechidis, Tsoumakas & Vlahavas (2011). On the stratification of
    multi-label data. ECML PKDD, LNCS 6913, 145-158.
"""

from __future__ import annotations

import numbers
import os
import re
import warnings
from collections.abc import Iterable, Mapping, Sequence

import numpy as np
import pandas as pd
from numpy.typing import ArrayLike

from protkit.data._stratify import assign_parts, group_units, label_matrix

__all__ = [
    "train_val_test_split",
    "kfold_indices",
    "iterative_stratification",
    "groups_from_regex",
    "describe_split",
]


def iterative_stratification(
    labels_multi_hot: ArrayLike, fractions: Sequence[float], seed: int | None = 0
) -> np.ndarray:
    """Assign each row of a multi-hot matrix to a part, keeping labels balanced.

    Implements Sechidis, Tsoumakas & Vlahavas (2011): repeatedly take the label
    with the fewest unassigned examples and give each of its examples to the
    part that still wants most examples of that label (ties: the part that
    still wants most examples overall, then random). Rows without any positive
    label are placed last, each in the part furthest below its target size.

    Args:
        labels_multi_hot: 0/1 array of shape `(N, K)`.
        fractions: desired share of each part, positive, summing to 1
            (e.g. `[0.2] * 5` for five folds, `[0.7, 0.2, 0.1]`).
        seed: seed for the random tie-breaks and row order.

    Returns:
        `np.int64` array of shape `(N,)` with the part index of each row.

    Example:
    >>> y = np.array([[1, 0], [1, 1], [0, 1], [1, 0], [0, 0], [0, 1]])
    >>> part = iterative_stratification(y, [0.5, 0.5], seed=0)
    >>> part.shape, np.bincount(part, minlength=2).tolist()
    ((6,), [3, 3])
    """
    array = np.asarray(labels_multi_hot)
    if array.ndim != 2:
        raise ValueError(
            "`labels_multi_hot` must be a 0/1 matrix of shape (N, K). "
            f"Received: labels_multi_hot with shape {array.shape}"
        )
    matrix = label_matrix(array)
    values = np.asarray(fractions, dtype=float)
    if values.ndim != 1 or not np.all(values > 0) or abs(values.sum() - 1.0) > 1e-6:
        raise ValueError(
            "`fractions` must be a list of positive numbers that sum to 1. "
            f"Received: fractions={fractions!r}"
        )
    return assign_parts(matrix, np.ones(len(matrix)), values, seed)


def _check_split_fractions(val_fraction, test_fraction) -> None:
    def valid(value) -> bool:
        return isinstance(value, numbers.Real) and not isinstance(value, bool) and 0 <= value < 1

    if not (valid(val_fraction) and valid(test_fraction) and val_fraction + test_fraction < 1):
        raise ValueError(
            "`val_fraction` and `test_fraction` must each be in [0, 1) and sum to less "
            f"than 1. Received: val_fraction={val_fraction!r}, test_fraction={test_fraction!r}"
        )


def train_val_test_split(
    labels: ArrayLike,
    val_fraction: float = 0.2,
    test_fraction: float = 0.0,
    groups: ArrayLike | None = None,
    seed: int | None = 0,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Split items into train, validation and test parts, stratified by label.

    Single-label data is stratified per class (without groups, each class
    lands within one item of its share in every part); multi-label data uses
    iterative stratification. With `groups`, whole groups are assigned, using
    each group's summed label vector, so no group spans two parts.

    Args:
        labels: class indices `(N,)` or multi-hot `(N, K)`.
        val_fraction: share of items for validation, in [0, 1).
        test_fraction: share of items for testing, in [0, 1); 0 gives an
            empty test part.
        groups: optional `(N,)` ids (specimen, position, track...) that must
            stay together.
        seed: seed; equal seeds give equal splits.

    Returns:
        `(train_idx, val_idx, test_idx)`, sorted `np.int64` index arrays.

    Example:
    >>> y = np.array([0] * 8 + [1] * 12)
    >>> train, val, test = train_val_test_split(y, val_fraction=0.25, seed=1)
    >>> len(train), len(val), len(test), np.bincount(y[val]).tolist()
    (15, 5, 0, [2, 3])
    """
    _check_split_fractions(val_fraction, test_fraction)
    matrix = label_matrix(labels)
    counts, sizes, codes = group_units(matrix, groups)
    names = ("train", "val", "test")
    wanted = (1.0 - val_fraction - test_fraction, val_fraction, test_fraction)
    used = [i for i, fraction in enumerate(wanted) if fraction > 0]
    unit_part = assign_parts(counts, sizes, [wanted[i] for i in used], seed)
    item_part = np.asarray(used)[unit_part[codes]]
    result = tuple(np.flatnonzero(item_part == i).astype(np.int64) for i in range(3))
    unit = "groups" if groups is not None else "items"
    for i in used:
        if result[i].size == 0:
            raise ValueError(
                f"The {names[i]} part would be empty: {wanted[i]:g} of {len(counts)} {unit} "
                "is not even one. Use a larger fraction or more data. "
                f"Received: val_fraction={val_fraction!r}, test_fraction={test_fraction!r}"
            )
    return result


def kfold_indices(
    labels: ArrayLike, k: int = 5, groups: ArrayLike | None = None, seed: int | None = 0
) -> list[tuple[np.ndarray, np.ndarray]]:
    """Stratified (optionally grouped) k-fold cross-validation indices.

    The validation folds are disjoint and together cover every item. A class
    with fewer members than `k` (items, or groups when grouped) cannot appear
    in every fold; this warns once and spreads it over as many folds as it can.

    Args:
        labels: class indices `(N,)` or multi-hot `(N, K)`.
        k: number of folds, from 2 to the number of items (or groups).
        groups: optional `(N,)` ids that must stay in one fold.
        seed: seed; equal seeds give equal folds.

    Returns:
        A list of `k` tuples `(train_idx, val_idx)` of sorted `np.int64` arrays.

    Example:
    >>> y = np.array([0, 1] * 6)
    >>> folds = kfold_indices(y, k=3, seed=0)
    >>> [np.bincount(y[val]).tolist() for _, val in folds]
    [[2, 2], [2, 2], [2, 2]]
    """
    matrix = label_matrix(labels)
    counts, sizes, codes = group_units(matrix, groups)
    unit = "groups" if groups is not None else "items"
    if not isinstance(k, numbers.Integral) or isinstance(k, bool) or not 2 <= k <= len(counts):
        raise ValueError(
            f"`k` must be an integer between 2 and the number of {unit} ({len(counts)}). "
            f"Received: k={k!r}"
        )
    members = (counts > 0).sum(axis=0)
    few = [(label, int(n)) for label, n in enumerate(members) if 0 < n < k]
    if few:
        listed = ", ".join(
            f"class {label} ({n} {unit[:-1] if n == 1 else unit})" for label, n in few
        )
        warnings.warn(
            f"{len(few)} class(es) have fewer members than k={k} and cannot appear in every "
            f"validation fold; they are spread over as many folds as possible: {listed}.",
            UserWarning,
            stacklevel=2,
        )
    unit_part = assign_parts(counts, sizes, np.full(k, 1.0 / k), seed)
    item_part = unit_part[codes]
    folds = []
    for fold in range(k):
        val_idx = np.flatnonzero(item_part == fold).astype(np.int64)
        if val_idx.size == 0:
            raise ValueError(
                f"Fold {fold} would be empty: the {unit} cannot be spread over {k} folds. "
                f"Use fewer folds. Received: k={k!r}"
            )
        folds.append((np.flatnonzero(item_part != fold).astype(np.int64), val_idx))
    return folds


def groups_from_regex(names: Iterable[str | os.PathLike], pattern: str | re.Pattern) -> np.ndarray:
    """Derive group ids from file names with a regular expression.

    The pattern is searched (`re.search`) in each base name (the part after the
    last `/` or `\\`); the group id is its first capturing group, or the whole
    match when the pattern has no group.

    Args:
        names: file names or paths.
        pattern: regular expression, e.g. `r"^(CP\\d+)_"`.

    Returns:
        String array of shape `(N,)` with one group id per name.

    Example:
    >>> groups_from_regex(["Anaphase/CP0008_001_Ch3.tif", "CP0010_004_Ch3.tif"], r"^(CP\\d+)_")
    array(['CP0008', 'CP0010'], dtype='<U6')
    """
    if isinstance(names, (str, bytes, os.PathLike)):
        raise ValueError(f"`names` must be a list of file names. Received: names={names!r}")
    regex = re.compile(pattern)
    found = []
    for name in names:
        text = os.fspath(name)
        if not isinstance(text, str):
            raise ValueError(f"File names must be str or path-like. Received: {name!r}")
        match = regex.search(re.split(r"[\\/]", text)[-1])
        group = None if match is None else match.group(1 if regex.groups else 0)
        if group is None:
            raise ValueError(
                f"File {text!r} does not match the group pattern {regex.pattern!r}: every "
                "file needs a group id. Fix the pattern or leave the file out."
            )
        found.append(group)
    return np.array(found, dtype=str)


def describe_split(
    labels: ArrayLike,
    parts: Mapping[str, ArrayLike],
    class_names: Sequence[str] | None = None,
) -> pd.DataFrame:
    """Count the members of each class in each part of a split.

    Args:
        labels: class indices `(N,)` or multi-hot `(N, K)`.
        parts: part name to index array, e.g. `{"train": train_idx, "val": val_idx}`.
        class_names: optional row labels; default the class indices.

    Returns:
        `pandas.DataFrame` with one row per class and one column per part.
        For single-label data each column sums to the part's size; for
        multi-label data a cell counts the items carrying that label.

    Example:
    >>> y = np.array([0, 0, 1, 2, 2, 2])
    >>> describe_split(y, {"train": [0, 2, 3, 4], "val": [1, 5]}).to_dict("list")
    {'train': [1, 1, 2], 'val': [1, 0, 1]}
    """
    matrix = label_matrix(labels)
    if class_names is not None and np.ndim(labels) == 1 and len(class_names) > matrix.shape[1]:
        # Classes after the largest index present get zero rows.
        matrix = np.pad(matrix, ((0, 0), (0, len(class_names) - matrix.shape[1])))
    n_items, n_classes = matrix.shape
    columns = {}
    for name, indices in parts.items():
        index = np.asarray(indices)
        if index.size == 0:
            index = index.astype(np.int64).reshape(0)
        if index.ndim != 1 or not np.issubdtype(index.dtype, np.integer):
            raise ValueError(
                f"Part {name!r} must be a 1-D integer index array. Received: {index!r}"
            )
        if index.size and (index.min() < 0 or index.max() >= n_items):
            raise ValueError(
                f"Part {name!r} holds indices outside [0, {n_items}). "
                f"Received: min={index.min()}, max={index.max()}"
            )
        columns[name] = matrix[index].sum(axis=0).astype(np.int64)
    if class_names is None:
        rows = pd.RangeIndex(n_classes, name="class")
    elif len(class_names) != n_classes:
        raise ValueError(
            f"`class_names` must name all {n_classes} classes. "
            f"Received: {len(class_names)} names"
        )
    else:
        rows = pd.Index(list(class_names), name="class")
    return pd.DataFrame(columns, index=rows)
