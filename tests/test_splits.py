"""Tests for protkit.data.splits: seeded, stratified, grouped splits."""

import doctest
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from protkit.data import splits
from protkit.data.splits import (
    describe_split,
    groups_from_regex,
    iterative_stratification,
    kfold_indices,
    train_val_test_split,
)

SHARED_DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data"
HPA_LABELS = SHARED_DATA / "hpa_kaggle2018_sample" / "train.csv"


def single_labels(n=300, seed=0):
    """Imbalanced single-label classes: roughly 50/30/15/5 %."""
    rng = np.random.default_rng(seed)
    return rng.choice(4, size=n, p=[0.5, 0.3, 0.15, 0.05])


def multi_labels(n=600, k=10, seed=0):
    """Imbalanced multi-hot matrix: label l is positive with 0.35 * 0.6**l."""
    rng = np.random.default_rng(seed)
    y = (rng.random((n, k)) < 0.35 * 0.6 ** np.arange(k)).astype(np.int64)
    y[:k, :] = np.eye(k, dtype=np.int64)  # every label present at least once
    return y


def group_ids(n, n_groups=40, seed=0):
    """Specimen ids of uneven group size, items of one group scattered in the array."""
    rng = np.random.default_rng(seed)
    cuts = np.sort(rng.choice(np.arange(1, n), n_groups - 1, replace=False))
    ids = np.repeat(np.arange(n_groups), np.diff(np.r_[0, cuts, n]))
    return np.array([f"specimen{i}" for i in rng.permutation(ids)])


def random_group_parts(groups, k, seed):
    """Baseline: whole groups dealt to k parts at random."""
    names, codes = np.unique(groups, return_inverse=True)
    return (np.random.default_rng(seed).permutation(len(names)) % k)[codes]


LABEL_KINDS = {"single": single_labels(), "multi": multi_labels(300)}


def assert_partition(parts, n):
    """Index arrays are sorted int64, pairwise disjoint and cover 0..n-1."""
    for part in parts:
        assert part.dtype == np.int64
        assert np.all(np.diff(part) > 0)
    joined = np.concatenate(parts)
    assert len(joined) == n, "parts overlap or miss items"
    np.testing.assert_array_equal(np.sort(joined), np.arange(n))


def assert_groups_kept(parts, groups):
    """No group id occurs in two parts."""
    seen = {}
    for number, part in enumerate(parts):
        for group in set(np.asarray(groups)[part]):
            assert seen.setdefault(group, number) == number, f"group {group} is split"


# --- disjoint + cover ---------------------------------------------------------------


@pytest.mark.parametrize("kind", ["single", "multi"])
@pytest.mark.parametrize("grouped", [False, True])
def test_train_val_test_split_is_a_partition(kind, grouped):
    y = LABEL_KINDS[kind]
    groups = group_ids(len(y)) if grouped else None
    train, val, test = train_val_test_split(y, 0.2, 0.1, groups=groups, seed=3)
    assert_partition([train, val, test], len(y))
    # Sizes near target (groups make them coarser).
    tolerance = 0.06 if grouped else 0.02
    assert abs(len(val) / len(y) - 0.2) < tolerance
    assert abs(len(test) / len(y) - 0.1) < tolerance


@pytest.mark.parametrize("kind", ["single", "multi"])
@pytest.mark.parametrize("grouped", [False, True])
def test_kfold_indices_is_a_partition(kind, grouped):
    y = LABEL_KINDS[kind]
    groups = group_ids(len(y)) if grouped else None
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # rare labels may warn when grouped
        folds = kfold_indices(y, k=4, groups=groups, seed=1)
    assert len(folds) == 4
    assert_partition([val for _, val in folds], len(y))
    for train, val in folds:
        assert_partition([train, val], len(y))


def test_iterative_stratification_is_a_partition_with_target_sizes():
    y = multi_labels()
    part = iterative_stratification(y, [0.5, 0.3, 0.2], seed=0)
    assert part.shape == (len(y),) and part.dtype == np.int64
    assert set(part.tolist()) == {0, 1, 2}
    np.testing.assert_allclose(np.bincount(part) / len(y), [0.5, 0.3, 0.2], atol=0.03)


def test_test_part_is_empty_when_test_fraction_is_zero():
    train, val, test = train_val_test_split(single_labels(), val_fraction=0.25)
    assert test.dtype == np.int64 and test.size == 0
    assert len(train) + len(val) == 300


# --- determinism ----------------------------------------------------------------------


@pytest.mark.parametrize("kind", ["single", "multi"])
@pytest.mark.parametrize("grouped", [False, True])
def test_equal_seeds_equal_splits_other_seeds_differ(kind, grouped):
    y = LABEL_KINDS[kind]
    groups = group_ids(len(y)) if grouped else None
    first = train_val_test_split(y, 0.2, 0.2, groups=groups, seed=7)
    again = train_val_test_split(y, 0.2, 0.2, groups=groups, seed=7)
    other = train_val_test_split(y, 0.2, 0.2, groups=groups, seed=8)
    for a, b in zip(first, again):
        np.testing.assert_array_equal(a, b)
    assert not np.array_equal(first[1], other[1])

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        folds_a = kfold_indices(y, k=3, groups=groups, seed=7)
        folds_b = kfold_indices(y, k=3, groups=groups, seed=7)
        folds_c = kfold_indices(y, k=3, groups=groups, seed=8)
    for (_, val_a), (_, val_b) in zip(folds_a, folds_b):
        np.testing.assert_array_equal(val_a, val_b)
    assert not np.array_equal(folds_a[0][1], folds_c[0][1])


def test_iterative_stratification_is_seeded():
    y = multi_labels()
    a = iterative_stratification(y, [0.2] * 5, seed=11)
    np.testing.assert_array_equal(a, iterative_stratification(y, [0.2] * 5, seed=11))
    assert not np.array_equal(a, iterative_stratification(y, [0.2] * 5, seed=12))


# --- stratification quality -------------------------------------------------------------


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_single_label_folds_within_one_item_per_class(seed):
    y = single_labels(n=257, seed=seed)
    class_counts = np.bincount(y, minlength=4)
    for _, val in kfold_indices(y, k=5, seed=seed):
        counts = np.bincount(y[val], minlength=4)
        assert np.all(np.abs(counts - class_counts / 5) <= 1), (counts, class_counts / 5)


def test_single_label_train_val_test_within_one_item_per_class():
    y = single_labels(n=301, seed=4)
    class_counts = np.bincount(y, minlength=4)
    train, val, test = train_val_test_split(y, 0.15, 0.25, seed=4)
    for part, fraction in ((train, 0.6), (val, 0.15), (test, 0.25)):
        counts = np.bincount(y[part], minlength=4)
        assert np.all(np.abs(counts - fraction * class_counts) <= 1)


def label_deviation(y, part, k):
    """Sum over folds and labels of |count - expected count|."""
    expected = y.sum(axis=0) / k
    return sum(np.abs(y[part == fold].sum(axis=0) - expected).sum() for fold in range(k))


def test_iterative_stratification_beats_random_split():
    y = multi_labels(600, 10)
    part = iterative_stratification(y, [0.2] * 5, seed=0)
    random_deviation = np.mean([
        label_deviation(y, np.random.default_rng(s).permutation(600) % 5, 5) for s in range(10)
    ])
    iterative_deviation = label_deviation(y, part, 5)
    assert iterative_deviation < 0.35 * random_deviation, (iterative_deviation, random_deviation)
    # Every label in every fold within 1.5 items of its expected count.
    per_fold = np.stack([y[part == fold].sum(axis=0) for fold in range(5)])
    assert np.abs(per_fold - y.sum(axis=0) / 5).max() <= 1.5


def test_rows_without_labels_keep_part_sizes_on_target():
    y = multi_labels(400, 6)
    y[200:] = 0  # half the rows carry no label at all
    part = iterative_stratification(y, [0.25] * 4, seed=5)
    np.testing.assert_array_equal(np.bincount(part), [100, 100, 100, 100])


def test_grouped_stratification_beats_random_group_assignment():
    # Classes depend on the specimen, as they do in real data.
    rng = np.random.default_rng(9)
    groups = group_ids(600, n_groups=60, seed=9)
    mix = {g: rng.dirichlet([0.5] * 4) for g in np.unique(groups)}
    y = np.array([rng.choice(4, p=mix[g]) for g in groups])
    one_hot = np.eye(4)[y]
    part = np.empty(600, dtype=np.int64)
    for fold, (_, val) in enumerate(kfold_indices(y, k=5, groups=groups, seed=0)):
        part[val] = fold
    random_deviation = np.mean(
        [label_deviation(one_hot, random_group_parts(groups, 5, s), 5) for s in range(10)]
    )
    assert label_deviation(one_hot, part, 5) < 0.5 * random_deviation
    sizes = np.bincount(part)
    assert sizes.min() > 0.8 * 120 and sizes.max() < 1.2 * 120


@pytest.mark.skipif(not HPA_LABELS.exists(), reason="shared HPA labels not available")
def test_hpa_labels_rare_classes_spread_over_folds():
    table = pd.read_csv(HPA_LABELS)
    y = np.zeros((len(table), 28), dtype=np.int64)
    for row, target in enumerate(table["Target"]):
        y[row, [int(t) for t in target.split()]] = 1
    part = iterative_stratification(y, [0.2] * 5, seed=0)
    per_fold = np.stack([y[part == fold].sum(axis=0) for fold in range(5)])
    # "Rods & rings" (class 27) has 11 examples: 2 or 3 in every fold.
    assert per_fold[:, 27].min() >= 2
    assert np.abs(per_fold - y.sum(axis=0) / 5).max() <= 1.5


# --- groups -------------------------------------------------------------------------------


@pytest.mark.parametrize("kind", ["single", "multi"])
def test_groups_never_span_two_parts(kind):
    y = LABEL_KINDS[kind]
    groups = group_ids(len(y), n_groups=25, seed=2)
    assert_groups_kept(train_val_test_split(y, 0.2, 0.2, groups=groups, seed=0), groups)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        folds = kfold_indices(y, k=5, groups=groups, seed=0)
    assert_groups_kept([val for _, val in folds], groups)


def test_group_check_catches_split_groups_without_groups_argument():
    # The same data split without `groups` does split specimens, so the check above bites.
    y = single_labels()
    groups = group_ids(len(y), n_groups=25, seed=2)
    with pytest.raises(AssertionError, match="is split"):
        assert_groups_kept(train_val_test_split(y, 0.2, 0.2, seed=0), groups)


def test_groups_accept_any_hashable_and_tuples():
    y = single_labels(60)
    groups = [("slide", i // 6) for i in range(60)]
    train, val, _ = train_val_test_split(y, 0.3, groups=groups, seed=0)
    assert_groups_kept([train, val], [str(g) for g in groups])
    assert len(val) % 6 == 0


def test_groups_from_regex_ifc_names_and_paths():
    names = [
        "CP0008_001_Ch3.tif",
        "data/Anaphase/CP0001_030_Ch4.tif",
        Path("CP0001_extra") / "CP0010_002_Ch6.tif",  # only the base name is matched
        r"C:\exports\CP0012_000_Ch3.tif",
    ]
    groups = groups_from_regex(names, r"^(CP\d+)_")
    assert groups.tolist() == ["CP0008", "CP0001", "CP0010", "CP0012"]
    # Without a capturing group the whole match is the id.
    assert groups_from_regex(["a_Ch3.tif", "b_Ch4.tif"], r"Ch\d").tolist() == ["Ch3", "Ch4"]


def test_groups_from_regex_error_names_the_file():
    with pytest.raises(ValueError, match=r"stray_cell\.tif.*CP"):
        groups_from_regex(["CP0008_001_Ch3.tif", "folder/stray_cell.tif"], r"^(CP\d+)_")


# --- validation ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    "val_fraction, test_fraction",
    [(-0.1, 0.0), (1.0, 0.0), (0.6, 0.5), (0.5, 0.5), (float("nan"), 0.0), ("0.2", 0.0)],
)
def test_bad_fractions_raise(val_fraction, test_fraction):
    with pytest.raises(ValueError, match=r"Received: val_fraction="):
        train_val_test_split(single_labels(), val_fraction, test_fraction)


def test_part_that_would_be_empty_raises():
    with pytest.raises(ValueError, match="val part would be empty"):
        train_val_test_split(np.array([0, 1, 0, 1, 0]), val_fraction=0.05)
    with pytest.raises(ValueError, match="test part would be empty"):
        train_val_test_split(
            np.zeros(10, dtype=int), val_fraction=0.5, test_fraction=0.01, groups=[0] * 5 + [1] * 5
        )


@pytest.mark.parametrize("k", [1, 0, 301, 2.5, True])
def test_bad_k_raises(k):
    with pytest.raises(ValueError, match=f"Received: k={k!r}"):
        kfold_indices(single_labels(), k=k)


def test_k_larger_than_number_of_groups_raises():
    with pytest.raises(ValueError, match=r"number of groups \(3\)"):
        kfold_indices(np.arange(12) % 2, k=4, groups=np.arange(12) % 3)


def test_bad_labels_and_groups_raise():
    with pytest.raises(ValueError, match="labels"):
        kfold_indices(np.array([0.5, 1.0, 2.0]), k=2)
    with pytest.raises(ValueError, match="labels"):
        kfold_indices(np.array([[0, 2], [1, 0]]), k=2)
    with pytest.raises(ValueError, match="one id per item"):
        kfold_indices(np.array([0, 1, 0, 1]), k=2, groups=[0, 1])
    with pytest.raises(ValueError, match="fractions"):
        iterative_stratification(multi_labels(), [0.5, 0.6])


def test_few_members_warn_once_and_still_cover():
    y = np.array([0] * 20 + [1] * 20 + [2] * 2)
    with pytest.warns(UserWarning, match=r"class 2 \(2 items\)") as record:
        folds = kfold_indices(y, k=5, seed=0)
    assert len([w for w in record if issubclass(w.category, UserWarning)]) == 1
    assert_partition([val for _, val in folds], len(y))
    # The two members land in two different folds.
    assert sum(int((y[val] == 2).any()) for _, val in folds) == 2


def test_enough_members_do_not_warn():
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        kfold_indices(np.array([0, 1] * 10), k=5)


# --- describe_split -----------------------------------------------------------------------


def test_describe_split_totals_equal_part_sizes():
    y = single_labels()
    train, val, test = train_val_test_split(y, 0.2, 0.1, seed=0)
    table = describe_split(y, {"train": train, "val": val, "test": test})
    assert list(table.columns) == ["train", "val", "test"]
    assert table.index.name == "class" and len(table) == 4
    assert table.sum().tolist() == [len(train), len(val), len(test)]
    np.testing.assert_array_equal(table.sum(axis=1), np.bincount(y))


def test_describe_split_multi_label_and_class_names():
    y = multi_labels(100, 3)
    train, val, _ = train_val_test_split(y, 0.3, seed=0)
    table = describe_split(y, {"train": train, "val": val}, class_names=["a", "b", "c"])
    assert table.index.tolist() == ["a", "b", "c"]
    np.testing.assert_array_equal(table["val"], y[val].sum(axis=0))
    np.testing.assert_array_equal(table.sum(axis=1), y.sum(axis=0))
    with pytest.raises(ValueError, match="outside"):
        describe_split(y, {"bad": [0, 100]})


def test_docstring_examples_run():
    result = doctest.testmod(splits, optionflags=doctest.NORMALIZE_WHITESPACE)
    assert result.attempted > 0 and result.failed == 0
