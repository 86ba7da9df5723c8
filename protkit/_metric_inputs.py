"""Checks of the arrays that `protkit.metrics` and `protkit.feature_distance` take.

Each returns the array as NumPy (floats, or int64 labels) or raises a `ValueError` that names
the argument, what was expected and, for a bad value, where the first one sits.
"""

import numpy as np


def _raise_at_first(bad_mask, values, name, expected):
    """Raises ValueError naming the first position where `bad_mask` is true, if any."""
    bad = np.argwhere(bad_mask)
    if bad.size:
        where = tuple(int(i) for i in bad[0])
        raise ValueError(f"`{name}` must {expected}. Received: {name}{list(where)}={values[where]}")


def as_finite_float(x, name):
    """`x` as a float array, or ValueError if it is not numeric or holds NaN or inf."""
    try:
        x = np.asarray(x, dtype=float)
    except (TypeError, ValueError):
        raise ValueError(f"`{name}` must be numeric. Received: {name}={x!r}") from None
    _raise_at_first(~np.isfinite(x), x, name, "contain only finite numbers (got NaN or inf; check the "
                    "model output for divergence)")
    return x


def as_label_matrix(y, name="y_true"):
    """`y` as an int64 0/1 matrix (N, K), N and K > 0, or ValueError."""
    y = np.asarray(y)
    if y.ndim != 2 or y.shape[0] == 0 or y.shape[1] == 0:
        raise ValueError(
            f"`{name}` must be a non-empty 0/1 matrix of shape (N, K). "
            f"Received: {name}.shape={y.shape}"
        )
    y = as_finite_float(y, name)
    _raise_at_first((y != 0) & (y != 1), y, name, "contain only 0 and 1")
    return y.astype(np.int64)


def as_prob_matrix(y_prob, shape, name="y_prob"):
    """`y_prob` as a float array of `shape` with values in [0, 1], or ValueError."""
    y_prob = np.asarray(y_prob)
    if y_prob.shape != shape:
        raise ValueError(
            f"`{name}` must have the same shape as `y_true`, {shape}. "
            f"Received: {name}.shape={y_prob.shape}"
        )
    y_prob = as_finite_float(y_prob, name)
    _raise_at_first((y_prob < 0) | (y_prob > 1), y_prob, name,
                    "hold probabilities in [0, 1] (apply a sigmoid to logits first)")
    return y_prob


def as_thresholds(thresholds, num_classes):
    """`thresholds` as a (K,) float array in [0, 1] (a scalar is repeated), or ValueError."""
    t = as_finite_float(thresholds, "thresholds")
    if t.ndim == 0:
        t = np.full(num_classes, float(t))
    if t.shape != (num_classes,):
        raise ValueError(
            f"`thresholds` must be a scalar or have shape ({num_classes},). "
            f"Received: thresholds.shape={t.shape}"
        )
    if np.any((t < 0) | (t > 1)):
        raise ValueError(f"`thresholds` must lie in [0, 1]. Received: thresholds={t.tolist()}")
    return t


def check_zero_division(zero_division):
    """`zero_division` (0 or 1) as a float, or ValueError."""
    if zero_division not in (0, 1):
        raise ValueError(
            f"`zero_division` must be 0 or 1. Received: zero_division={zero_division!r}"
        )
    return float(zero_division)


def class_names_for(class_names, num_classes):
    """`class_names` as K unique strings, or `class_0` ... when None; ValueError otherwise."""
    if class_names is None:
        return [f"class_{k}" for k in range(num_classes)]
    names = [str(c) for c in class_names]
    if len(names) != num_classes:
        raise ValueError(
            f"`class_names` must have one name per class ({num_classes}). "
            f"Received: class_names={names}"
        )
    if len(set(names)) != len(names):
        raise ValueError(f"`class_names` must be unique. Received: class_names={names}")
    return names


def as_class_vector(y, name, num_classes=None):
    """`y` as an int64 vector of class indices (below `num_classes` if given), or ValueError."""
    y = np.asarray(y)
    if y.ndim != 1 or y.size == 0:
        raise ValueError(
            f"`{name}` must be a non-empty 1-D array of class indices. "
            f"Received: {name}.shape={y.shape}"
        )
    yf = as_finite_float(y, name)
    too_big = yf >= num_classes if num_classes is not None else False
    bad = np.flatnonzero((yf != np.round(yf)) | (yf < 0) | too_big)
    if bad.size:
        upper = "" if num_classes is None else f" below num_classes={num_classes}"
        raise ValueError(
            f"`{name}` must hold non-negative integer class indices{upper}. "
            f"Received: {name}[{bad[0]}]={y[bad[0]]}"
        )
    return yf.astype(np.int64)
