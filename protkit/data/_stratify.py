"""The engine behind `protkit.data.splits`: which part each item (or whole group) goes to.

`label_matrix` reads single- or multi-label arrays as one `(N, K)` matrix, `group_units`
collapses items into the units that move together (items, or whole groups), and
`assign_parts` places every unit in a part so that each label, and each part's size, stays
close to its target: the iterative stratification of Sechidis et al. (2011) for single items,
a greedy placement with improvement sweeps for groups.

Reference:
    Sechidis, Tsoumakas & Vlahavas (2011). On the stratification of
    multi-label data. ECML PKDD, LNCS 6913, 145-158.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

import numpy as np
from numpy.typing import ArrayLike

_TOLERANCE = 1e-9


def label_matrix(labels: ArrayLike) -> np.ndarray:
    """Return labels as an `(N, K)` float matrix (one-hot for single-label)."""
    array = np.asarray(labels)
    if array.ndim == 1 and array.size and np.issubdtype(array.dtype, np.integer):
        if array.min() >= 0:
            return np.eye(int(array.max()) + 1)[array]
    elif array.ndim == 2 and array.size and np.isin(array, (0, 1)).all():
        return array.astype(float)
    raise ValueError(
        "`labels` must be non-negative integer class indices of shape (N,) or a 0/1 "
        f"multi-hot matrix of shape (N, K). Received: labels with shape {array.shape}, "
        f"dtype {array.dtype} and values {np.unique(array)[:6]}"
    )


def group_units(matrix: np.ndarray, groups: Iterable | None):
    """Collapse items into the units that are assigned: items, or whole groups.

    Returns per-unit label counts `(U, K)`, per-unit item counts `(U,)` and the
    unit of each item `(N,)`.
    """
    n_items = len(matrix)
    if groups is None:
        return matrix, np.ones(n_items), np.arange(n_items)
    values = groups.tolist() if isinstance(groups, np.ndarray) else list(groups)
    if len(values) != n_items:
        raise ValueError(
            f"`groups` must hold one id per item ({n_items}). Received: {len(values)} group ids"
        )
    ids: dict = {}
    try:
        codes = np.array([ids.setdefault(value, len(ids)) for value in values], dtype=np.int64)
    except TypeError as error:
        raise ValueError(f"`groups` must hold hashable ids. Received: {error}") from error
    counts = np.stack([np.bincount(codes, weights=column) for column in matrix.T], axis=1)
    return counts, np.bincount(codes).astype(float), codes


def _pick(primary: np.ndarray, secondary: np.ndarray, rng: np.random.Generator) -> int:
    """Index of the largest `primary`, ties by largest `secondary`, then random."""
    candidates = np.flatnonzero(primary >= primary.max() - _TOLERANCE)
    if candidates.size > 1:
        second = secondary[candidates]
        candidates = candidates[second >= second.max() - _TOLERANCE]
    if candidates.size > 1:
        return int(rng.choice(candidates))
    return int(candidates[0])


def _iterative_order(counts: np.ndarray, sizes: np.ndarray, rng) -> list[tuple[int, int]]:
    """Rows in the order of Sechidis et al., each with its focal label (-1: none).

    Repeatedly the label with the fewest unassigned rows is taken (ties at
    random) and all its rows follow, heaviest first, otherwise shuffled. Rows
    without labels come last, largest first. The order does not depend on
    where rows are placed, so it can be computed up front.
    """
    has_label = counts > 0
    free = np.ones(len(counts), dtype=bool)
    order = []
    while True:
        remaining = (has_label & free[:, None]).sum(axis=0)
        active = np.flatnonzero(remaining > 0)
        if active.size == 0:
            break
        label = int(rng.choice(active[remaining[active] == remaining[active].min()]))
        rows = rng.permutation(np.flatnonzero(has_label[:, label] & free))
        rows = rows[np.argsort(-counts[rows, label], kind="stable")]
        order.extend((int(row), label) for row in rows)
        free[rows] = False
    rows = rng.permutation(np.flatnonzero(free))
    order.extend((int(row), -1) for row in rows[np.argsort(-sizes[rows], kind="stable")])
    return order


def _assign_iterative(counts: np.ndarray, sizes: np.ndarray, fractions: np.ndarray, rng):
    """Sechidis et al. (2011): each row goes to the part wanting most of its label."""
    label_wanted = np.outer(fractions, counts.sum(axis=0))  # (parts, labels)
    size_wanted = fractions * sizes.sum()  # (parts,)
    part_of = np.empty(len(counts), dtype=np.int64)
    for row, label in _iterative_order(counts, sizes, rng):
        primary = size_wanted if label < 0 else label_wanted[:, label]
        part = _pick(primary, size_wanted, rng)
        part_of[row] = part
        label_wanted[part] -= counts[row]
        size_wanted[part] -= sizes[row]
    return part_of


def _assign_groups(counts: np.ndarray, sizes: np.ndarray, fractions: np.ndarray, rng):
    """Place whole groups so that every label and the part sizes stay on target.

    A group carries many items and labels at once, so the single-label rule of
    Sechidis et al. is generalised: the cost is the squared deviation from the
    desired counts, relative to each label's total (and to the item total for
    part sizes). Groups are placed greedily, each in the part where it lowers
    the cost most, then single groups are moved while that still lowers it.
    Two greedy orders are tried (iterative label order, largest group first)
    and the cheaper result is kept.
    """
    table = np.column_stack([counts, sizes])  # the last column counts items
    weights = 1.0 / np.maximum(table.sum(axis=0), 1.0) ** 2
    desired = np.outer(fractions, table.sum(axis=0))
    shuffled = rng.permutation(len(table))
    orders = (
        [row for row, _ in _iterative_order(counts, sizes, rng)],
        shuffled[np.argsort(-sizes[shuffled], kind="stable")],
    )
    best, best_cost = None, np.inf
    for order in orders:
        wanted = desired.copy()
        part_of = np.empty(len(table), dtype=np.int64)
        for row in order:
            part = _pick(wanted @ (table[row] * weights), wanted[:, -1], rng)
            part_of[row] = part
            wanted[part] -= table[row]
        for _ in range(20):  # improvement sweeps; each move strictly lowers the cost
            moved = False
            for row in rng.permutation(len(table)):
                here, weighted = part_of[row], table[row] * weights
                change = 2.0 * (weighted @ wanted[here] - wanted @ weighted + weighted @ table[row])
                change[here] = 0.0
                there = int(np.argmin(change))
                if change[there] < -1e-12:
                    part_of[row] = there
                    wanted[here] += table[row]
                    wanted[there] -= table[row]
                    moved = True
            if not moved:
                break
        cost = float((wanted**2 * weights).sum())
        if cost < best_cost:
            best, best_cost = part_of, cost
    return best


def assign_parts(counts: np.ndarray, sizes: np.ndarray, fractions: Sequence[float], seed) -> np.ndarray:
    """Part index of each unit (item or group); `counts[r, l]` = items of unit r with label l."""
    rng = np.random.default_rng(seed)
    fractions = np.asarray(fractions, dtype=float)
    if np.all(sizes == 1):
        return _assign_iterative(counts, sizes, fractions, rng)
    return _assign_groups(counts, sizes, fractions, rng)
