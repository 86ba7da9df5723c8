"""Evaluation metrics for multi-label and single-label protein-localization tasks.

The Fast Spec CNN paper reports 98.79 % "accuracy" on a multi-label task with 28
mostly rare labels. That figure is element-wise (Hamming) accuracy, and on such a
label matrix predicting *nothing at all* already scores about 95 %. protkit
therefore always reports macro-F1, exact-match (subset) accuracy and element-wise
accuracy side by side, together with the all-negative baseline
(`accuracy_trap_table`).

Conventions used throughout:

- A probability is called positive when it is strictly greater than its threshold
  (`y_prob > threshold`), the same rule as `keras.metrics.F1Score` and
  `keras.metrics.BinaryAccuracy`.
- Zero division: precision, recall or F1 whose denominator is zero (for F1: a class
  with no true and no predicted positives) is set to `zero_division` (0 by default,
  as scikit-learn's `zero_division=0`).
- Macro averages (F1, precision, recall) run over the classes with support, i.e. at
  least one true positive label in `y_true` (scikit-learn's `labels=` restricted to
  them). Classes without support (say 23 of the 28 HPA classes on a set that carries
  5) are listed in `classes_without_support`, never averaged in silently; their
  `per_class` rows stay (single-label: NaN when also never predicted), and false
  positives in them still lower the micro averages and exact-match accuracy. With no
  class supported at all, macro averages are NaN.
- Thresholds are tuned on validation data and then applied, frozen, to the test set.
  Tuning them on the test set inflates every reported number.
- A label-count rule may follow the thresholds (`decide_labels`, ``label_count=(low,
  high)``): an item with fewer than ``low`` labels above threshold gets the classes nearest
  their thresholds added, one with more than ``high`` keeps only the ``high`` furthest above.
  Runs take the bounds from their training labels (`label_count_bounds`): HPA images carry
  at least one label, and a set whose items carry 1-2 labels should not get 4.

All functions are pure NumPy (scikit-learn only computes ROC-AUC) and accept lists; the
checks of their inputs live in `protkit._metric_inputs`. `kernel_distance`, which compares
features of generated and real images, lives in `protkit.feature_distance` and is re-exported
here.
"""

import math

import numpy as np
import pandas as pd
from sklearn.metrics import roc_auc_score

from protkit._metric_inputs import (
    as_class_vector,
    as_finite_float,
    as_label_matrix,
    as_prob_matrix,
    as_thresholds,
    check_zero_division,
    class_names_for,
)
from protkit.feature_distance import kernel_distance  # noqa: F401 (re-exported)
from protkit.vocabulary import MULTI_LABEL, SINGLE_LABEL

DEFAULT_THRESHOLD = 0.5
DEFAULT_GRID = np.linspace(0.05, 0.95, 19)
TRAP_COLUMNS = ["elementwise_accuracy", "exact_match_accuracy", "macro_f1", "micro_f1"]


# --------------------------------------------------------------------------- shared maths
def _ratio(num, den, zero_division):
    """Element-wise num / den, with `zero_division` where den == 0."""
    num, den = np.asarray(num, dtype=float), np.asarray(den, dtype=float)
    out = np.full(np.broadcast(num, den).shape, zero_division, dtype=float)
    np.divide(num, den, out=out, where=den > 0)
    return out


def _prf(tp, fp, fn, zero_division):
    """Precision, recall and F1 (as 2TP / (2TP + FP + FN)) from counts."""
    return (
        _ratio(tp, tp + fp, zero_division),
        _ratio(tp, tp + fn, zero_division),
        _ratio(2 * tp, 2 * tp + fp + fn, zero_division),
    )


def _counts(y_true, y_pred):
    """Per-class TP, FP, FN for 0/1 matrices (N, K)."""
    tp = np.sum(y_true & y_pred, axis=0)
    fp = np.sum(~y_true & y_pred, axis=0)
    fn = np.sum(y_true & ~y_pred, axis=0)
    return tp, fp, fn


# --------------------------------------------------------------------------- multi-label
def _macro(values, support):
    """Mean of per-class values over the classes with support; NaN when none has any."""
    supported = np.asarray(support) > 0
    return float(np.mean(np.asarray(values)[supported])) if supported.any() else math.nan


def _set_metrics(y_true, y_pred, zero_division):
    """Threshold-free summary metrics for boolean (N, K) matrices."""
    tp, fp, fn = _counts(y_true, y_pred)
    precision, recall, f1 = _prf(tp, fp, fn, zero_division)
    micro_p, micro_r, micro_f1 = _prf(tp.sum(), fp.sum(), fn.sum(), zero_division)
    elementwise = float(np.mean(y_true == y_pred))
    support = tp + fn
    return {
        "macro_f1": _macro(f1, support),
        "micro_f1": float(micro_f1),
        "macro_precision": _macro(precision, support),
        "macro_recall": _macro(recall, support),
        "micro_precision": float(micro_p),
        "micro_recall": float(micro_r),
        "exact_match_accuracy": float(np.mean(np.all(y_true == y_pred, axis=1))),
        "elementwise_accuracy": elementwise,
        "hamming_loss": 1.0 - elementwise,
    }, (precision, recall, f1)


def label_count_bounds(labels):
    """(fewest, most) labels an item of ``labels`` (0/1, (N, K)) carries: the bounds for `decide_labels`."""
    counts = as_label_matrix(labels, "labels").sum(axis=1)
    if counts.size == 0:
        raise ValueError("label_count_bounds needs at least one item")
    return int(counts.min()), int(counts.max())


def as_label_count(label_count, num_classes):
    """``label_count`` as a checked (low, high) pair of ints, or None."""
    if label_count is None:
        return None
    try:
        if isinstance(label_count, (str, bytes)) or any(not float(value).is_integer() for value in label_count):
            raise TypeError
        low, high = (int(value) for value in label_count)
    except (TypeError, ValueError):
        raise ValueError(f"`label_count` must be None or a (low, high) pair of ints. "
                         f"Received: label_count={label_count!r}") from None
    if not 0 <= low <= high or high == 0 or low > num_classes:
        raise ValueError(f"`label_count` must satisfy 0 <= low <= high, high >= 1 and low <= {num_classes} classes. "
                         f"Received: label_count={label_count!r}")
    return low, high


def decide_labels(y_prob, thresholds=DEFAULT_THRESHOLD, label_count=None):
    """The predicted label sets (bool (N, K)): ``y_prob > thresholds``, then the label-count rule.

    Args:
        y_prob: probabilities (N, K).
        thresholds: scalar or (K,) array.
        label_count: None (thresholds alone) or (low, high): an item with fewer than ``low``
            positives also gets the classes with the largest ``y_prob - threshold`` until it
            has ``low``; an item with more than ``high`` keeps the ``high`` largest. Ties go
            to the lower class index.
    """
    y_prob = as_finite_float(y_prob, "y_prob")
    if y_prob.ndim != 2:
        raise ValueError(f"`y_prob` must be 2-D (N, K). Received: y_prob.shape={y_prob.shape}")
    t = as_thresholds(thresholds, y_prob.shape[1])
    positive = y_prob > t
    bounds = as_label_count(label_count, y_prob.shape[1])
    if bounds is None:
        return positive
    low, high = bounds
    order = np.argsort(-(y_prob - t), axis=1, kind="stable")  # best margin first
    rank = np.argsort(order, axis=1)  # each class's place in that order
    counts = positive.sum(axis=1, keepdims=True)
    positive = np.where(counts < low, rank < low, positive)
    return np.where(counts > high, rank < high, positive)


def multilabel_metrics(
    y_true, y_prob, thresholds=DEFAULT_THRESHOLD, class_names=None, zero_division=0, label_count=None
):
    """Metrics for a multi-label task, reported so that none can hide behind another.

    Args:
        y_true: 0/1 array-like (N, K).
        y_prob: probabilities in [0, 1], array-like (N, K). NaN raises `ValueError`.
        thresholds: scalar or (K,) array; `y_prob > threshold` is a positive.
        label_count: None, or (low, high) labels per item enforced after the thresholds
            (`decide_labels`).
        class_names: K names for the `per_class` index (default `class_0`, ...).
        zero_division: 0 or 1, the value of a precision, recall or F1 whose
            denominator is zero. With 0 (default, as scikit-learn's
            `zero_division=0`), a class with no true and no predicted positives
            gets F1 = 0 in `per_class`.

    Returns:
        dict with `macro_f1`, `macro_precision`, `macro_recall` (over the classes
        with support), `classes_without_support` (names), `micro_f1`,
        `micro_precision`, `micro_recall`, `exact_match_accuracy` (subset
        accuracy), `elementwise_accuracy` (Hamming accuracy), `hamming_loss`,
        `macro_roc_auc` (mean over classes with both positives and negatives;
        NaN if none), `all_negative_elementwise_accuracy` (the score of predicting
        no label at all) and `per_class`, a DataFrame indexed by class name with
        columns precision, recall, f1, roc_auc, support, threshold.
    """
    y_true = as_label_matrix(y_true)
    y_prob = as_prob_matrix(y_prob, y_true.shape)
    num_classes = y_true.shape[1]
    t = as_thresholds(thresholds, num_classes)
    zero_division = check_zero_division(zero_division)
    names = class_names_for(class_names, num_classes)

    predicted = decide_labels(y_prob, t, label_count)
    result, (precision, recall, f1) = _set_metrics(y_true.astype(bool), predicted, zero_division)
    auc = np.full(num_classes, np.nan)
    for k in range(num_classes):
        if 0 < y_true[:, k].sum() < len(y_true):
            auc[k] = roc_auc_score(y_true[:, k], y_prob[:, k])
    result["macro_roc_auc"] = float(np.nanmean(auc)) if np.isfinite(auc).any() else math.nan
    result["all_negative_elementwise_accuracy"] = float(1.0 - y_true.mean())
    result["classes_without_support"] = [name for name, n in zip(names, y_true.sum(axis=0)) if n == 0]
    result["per_class"] = pd.DataFrame(
        {
            "precision": precision,
            "recall": recall,
            "f1": f1,
            "roc_auc": auc,
            "support": y_true.sum(axis=0),
            "threshold": t,
        },
        index=pd.Index(names, name="class"),
    )
    return result


def tune_thresholds(y_true, y_prob, grid=None, metric="f1", label_count=None, passes=3):
    """Per-class thresholds that maximize each class's F1 on validation data.

    Tune on the validation split and apply the result, unchanged, to the test split;
    thresholds tuned on the test split overstate every test metric.

    Args:
        y_true: 0/1 array-like (N, K) of validation labels.
        y_prob: validation probabilities (N, K).
        grid: candidate thresholds in [0, 1] (default `np.linspace(0.05, 0.95, 19)`).
        metric: only `"f1"` is supported.
        label_count: None, or the (low, high) rule the thresholds will be used with
            (`decide_labels`): then, from the per-class optimum, each class's threshold in
            turn moves to the grid value that maximizes the macro-F1 of the decided label
            sets, for at most ``passes`` rounds (a move must improve it strictly).

    Returns:
        np.ndarray (K,). A class without positives in `y_true` keeps 0.5. When several
        grid values tie for the best F1, the one closest to 0.5 is kept (the lower
        one if two are equally close).
    """
    if metric != "f1":
        raise ValueError(f"`metric` must be 'f1'. Received: metric={metric!r}")
    y_true = as_label_matrix(y_true)
    y_prob = as_prob_matrix(y_prob, y_true.shape)
    grid = DEFAULT_GRID if grid is None else as_finite_float(grid, "grid")
    if grid.ndim != 1 or grid.size == 0 or np.any((grid < 0) | (grid > 1)):
        raise ValueError(
            f"`grid` must be a non-empty 1-D array of values in [0, 1]. Received: grid={grid!r}"
        )
    # Visit candidates nearest 0.5 first so that argmax breaks ties towards 0.5.
    # Rounding makes 0.3 and 0.7 equally close despite floating-point error.
    grid = grid[np.lexsort((grid, np.round(np.abs(grid - DEFAULT_THRESHOLD), 9)))]
    truth = y_true.astype(bool)
    scores = np.empty((grid.size, y_true.shape[1]))
    for i, g in enumerate(grid):
        scores[i] = _prf(*_counts(truth, y_prob > g), zero_division=0.0)[2]
    best = np.where(truth.any(axis=0), grid[np.argmax(scores, axis=0)], DEFAULT_THRESHOLD)
    if label_count is None:
        return best
    supported = truth.any(axis=0)

    def macro_f1(thresholds):
        return float(_prf(*_counts(truth, decide_labels(y_prob, thresholds, label_count)), 0.0)[2][supported].mean())

    score = macro_f1(best)
    for _ in range(passes):
        moved = False
        for k in np.flatnonzero(supported):
            for g in grid:
                trial = best.copy()
                trial[k] = g
                value = macro_f1(trial)
                if value > score + 1e-12:
                    best, score, moved = trial, value, True
        if not moved:
            break
    return best


def _most_frequent_label_set(labels, num_classes):
    labels = as_label_matrix(labels, "reference_labels")
    if labels.shape[1] != num_classes:
        raise ValueError(
            f"`reference_labels` must have {num_classes} columns like `y_true`. "
            f"Received: reference_labels.shape={labels.shape}"
        )
    labels = labels[labels.any(axis=1)]
    if len(labels) == 0:
        return np.zeros(num_classes, dtype=bool)
    rows, counts = np.unique(labels, axis=0, return_counts=True)
    return rows[np.argmax(counts)].astype(bool)


def accuracy_trap_table(
    y_true, y_prob, thresholds=DEFAULT_THRESHOLD, most_frequent_baseline=True, reference_labels=None,
    label_count=None,
):
    """Model next to trivial baselines, to show how high element-wise accuracy can mean little.

    Rows: "model"; "all-negative baseline" (predict no label for any image); and,
    if `most_frequent_baseline`, "most-frequent-labels baseline" (predict for every
    image the non-empty label combination that occurs most often in
    `reference_labels`: the training labels ideally; by default `y_true` itself, an
    optimistic choice). ``label_count``: the model's label-count rule (`decide_labels`).

    Returns:
        DataFrame with columns elementwise_accuracy, exact_match_accuracy, macro_f1,
        micro_f1 (zero_division=0).
    """
    y_true = as_label_matrix(y_true)
    y_prob = as_prob_matrix(y_prob, y_true.shape)
    t = as_thresholds(thresholds, y_true.shape[1])
    truth = y_true.astype(bool)
    predictions = {"model": decide_labels(y_prob, t, label_count), "all-negative baseline": np.zeros_like(truth)}
    if most_frequent_baseline:
        labels = y_true if reference_labels is None else reference_labels
        row = _most_frequent_label_set(labels, y_true.shape[1])
        predictions["most-frequent-labels baseline"] = np.broadcast_to(row, truth.shape)
    rows = {name: _set_metrics(truth, pred, 0.0)[0] for name, pred in predictions.items()}
    return pd.DataFrame.from_dict(rows, orient="index")[TRAP_COLUMNS]


# --------------------------------------------------------------------------- single-label
def confusion_matrix(y_true, y_pred, num_classes, normalize=None):
    """Confusion matrix (K, K): rows are true classes, columns predicted classes.

    Args:
        normalize: None (counts), "true" (rows sum to 1), "pred" (columns sum to 1)
            or "all" (the matrix sums to 1). Empty rows or columns stay 0.
    """
    is_int = isinstance(num_classes, (int, np.integer)) and not isinstance(num_classes, bool)
    if not is_int or num_classes < 1:
        raise ValueError(
            f"`num_classes` must be a positive integer. Received: num_classes={num_classes!r}"
        )
    if normalize not in (None, "true", "pred", "all"):
        raise ValueError(
            f"`normalize` must be None, 'true', 'pred' or 'all'. Received: normalize={normalize!r}"
        )
    y_true = as_class_vector(y_true, "y_true", num_classes)
    y_pred = as_class_vector(y_pred, "y_pred", num_classes)
    if y_pred.shape != y_true.shape:
        raise ValueError(
            f"`y_pred` must have the shape of `y_true`, {y_true.shape}. "
            f"Received: y_pred.shape={y_pred.shape}"
        )
    cm = np.zeros((num_classes, num_classes), dtype=np.int64)
    np.add.at(cm, (y_true, y_pred), 1)
    if normalize is None:
        return cm
    axis = {"true": 1, "pred": 0, "all": None}[normalize]
    return _ratio(cm, cm.sum(axis=axis, keepdims=axis is not None), 0.0)


def singlelabel_metrics(
    y_true, y_prob_or_pred, class_names=None, num_classes=None, zero_division=0
):
    """Metrics for a single-label (one class per image) task.

    Args:
        y_true: int class indices (N,).
        y_prob_or_pred: scores (N, K), of which only the argmax is used, or int
            predicted classes (N,).
        class_names: K names; also fixes K.
        num_classes: K, when neither the scores nor `class_names` give it.
            Otherwise K is inferred as the largest index seen plus one.
        zero_division: 0 or 1, for a precision or recall whose denominator is zero.

    Returns:
        dict with `accuracy`, `balanced_accuracy` (mean recall over classes present
        in `y_true`), `macro_f1`, `macro_precision`, `macro_recall` (averaged over
        the classes present in `y_true`; predictions of other classes still count
        against precision of none and recall of the true class),
        `classes_without_support` (names of classes absent from `y_true`),
        `confusion_matrix` (K, K, all K classes) and `per_class` (precision,
        recall, f1, support; NaN for classes neither present nor predicted).
    """
    zero_division = check_zero_division(zero_division)
    scores = np.asarray(y_prob_or_pred)
    sizes = {}
    if scores.ndim == 2:
        scores = as_finite_float(scores, "y_prob_or_pred")
        sizes["y_prob_or_pred.shape[1]"] = scores.shape[1]
        y_pred = np.argmax(scores, axis=1)
    elif scores.ndim == 1:
        y_pred = as_class_vector(scores, "y_prob_or_pred")
    else:
        raise ValueError(
            "`y_prob_or_pred` must be scores (N, K) or class indices (N,). "
            f"Received: y_prob_or_pred.shape={scores.shape}"
        )
    if class_names is not None:
        sizes["len(class_names)"] = len(class_names)
    if num_classes is not None:
        sizes["num_classes"] = num_classes
    if len(set(sizes.values())) > 1:
        raise ValueError(f"The number of classes is inconsistent. Received: {sizes}")
    y_true = as_class_vector(y_true, "y_true")
    k = next(iter(sizes.values())) if sizes else int(max(y_true.max(), y_pred.max())) + 1
    cm = confusion_matrix(y_true, y_pred, num_classes=k)

    tp = np.diag(cm)
    support, predicted = cm.sum(axis=1), cm.sum(axis=0)
    precision, recall, f1 = _prf(tp, predicted - tp, support - tp, zero_division)
    seen = (support > 0) | (predicted > 0)
    precision, recall, f1 = (np.where(seen, v, np.nan) for v in (precision, recall, f1))
    names = class_names_for(class_names, cm.shape[0])
    return {
        "accuracy": float(tp.sum() / cm.sum()),
        "balanced_accuracy": float(np.mean(tp[support > 0] / support[support > 0])),
        "macro_f1": _macro(f1, support),
        "macro_precision": _macro(precision, support),
        "macro_recall": _macro(recall, support),
        "classes_without_support": [name for name, n in zip(names, support) if n == 0],
        "confusion_matrix": cm,
        "per_class": pd.DataFrame(
            {"precision": precision, "recall": recall, "f1": f1, "support": support},
            index=pd.Index(names, name="class"),
        ),
    }


# --------------------------------------------------------------------------- reporting
def to_jsonable(value):
    """Convert metrics to plain JSON types: numpy scalars and arrays to floats, ints
    and lists, DataFrames to {row: {column: value}}, NaN and inf to None."""
    if isinstance(value, pd.DataFrame):
        return to_jsonable(value.to_dict(orient="index"))
    if isinstance(value, pd.Series):
        return to_jsonable(value.to_dict())
    if isinstance(value, dict):
        return {str(k): to_jsonable(v) for k, v in value.items()}
    if isinstance(value, (np.ndarray, list, tuple)):
        return [to_jsonable(v) for v in value]
    if value is None or isinstance(value, (str, bool, np.bool_)):
        return value if not isinstance(value, np.bool_) else bool(value)
    if isinstance(value, (int, np.integer)):
        return int(value)
    if isinstance(value, (float, np.floating)):
        return float(value) if math.isfinite(value) else None
    raise TypeError(f"Cannot convert to JSON. Received: type(value)={type(value).__name__}")


def evaluate_predictions(y_true, y_prob, task, class_names=None, thresholds=DEFAULT_THRESHOLD, label_count=None):
    """Evaluate predictions for `task` ("multi_label" or "single_label") and return
    JSON-ready metrics (see `to_jsonable`), e.g. for metrics.json. `thresholds` and
    `label_count` (see `decide_labels`) are used by multi-label tasks only."""
    if task == MULTI_LABEL:
        result = multilabel_metrics(y_true, y_prob, thresholds=thresholds, class_names=class_names,
                                    label_count=label_count)
    elif task == SINGLE_LABEL:
        result = singlelabel_metrics(y_true, y_prob, class_names=class_names)
    else:
        raise ValueError(f"`task` must be 'multi_label' or 'single_label'. Received: task={task!r}")
    return to_jsonable({"task": task, **result})
