"""protkit's shared words: task names, metric names, monitors, output activations, protocol wording.

Every module that needs one of these imports it from here, so a task, a metric or a phrase of
the protocol text is defined once. Nothing here imports TensorFlow or Keras.

>>> output_activation(MULTI_LABEL)
'sigmoid'
>>> MONITOR[SINGLE_LABEL]
'val_balanced_accuracy'
>>> split_kind(SINGLE_LABEL, grouped=False, noun="parts")
'stratified'
"""

from __future__ import annotations

SINGLE_LABEL = "single_label"
MULTI_LABEL = "multi_label"
TASKS = (SINGLE_LABEL, MULTI_LABEL)

# Per-epoch validation numbers written into Keras logs (prefixed "val_"), per task.
EPOCH_METRICS = {
    SINGLE_LABEL: ("accuracy", "balanced_accuracy", "macro_f1"),
    MULTI_LABEL: ("macro_f1", "micro_f1", "exact_match_accuracy", "elementwise_accuracy", "macro_roc_auc"),
}
# Per-fold scalar numbers of a cross-validation table, the main one first, per task.
FOLD_METRICS = {
    SINGLE_LABEL: ("balanced_accuracy", "accuracy", "macro_f1"),
    MULTI_LABEL: ("macro_f1", "micro_f1", "exact_match_accuracy", "elementwise_accuracy",
                  "all_negative_elementwise_accuracy"),
}
# The numbers the command line prints after train / evaluate, in this order (those present).
SHOWN_METRICS = ("accuracy", "balanced_accuracy", "macro_f1", "micro_f1", "exact_match_accuracy",
                 "elementwise_accuracy", "all_negative_elementwise_accuracy")
# The validation number that picks the best epoch, early-stops and schedules the learning rate.
MONITOR = {task: f"val_{FOLD_METRICS[task][0]}" for task in TASKS}
# The per-class figure kept in a fold table: recall (single-label) or F1 (multi-label).
PER_CLASS_METRIC = {SINGLE_LABEL: "recall", MULTI_LABEL: "f1"}

METRIC_DEFINITIONS = {
    SINGLE_LABEL: ("accuracy; balanced_accuracy = mean class accuracy = mean per-class recall; "
                   "macro_f1 = unweighted mean of per-class F1"),
    MULTI_LABEL: ("macro_f1 = mean of per-class F1; exact_match_accuracy = all labels of an image right; "
                  "elementwise_accuracy = fraction of correct label decisions (high even for "
                  "all-negative predictions: see all_negative_elementwise_accuracy)"),
}


def check_task(task):
    """``task`` if it is one of `TASKS`, else ValueError naming the valid ones."""
    if task not in TASKS:
        raise ValueError(f"task must be one of {TASKS}. Received: task={task!r}")
    return task


def output_activation(task):
    """softmax for single-label (one class per image), sigmoid for multi-label (independent labels)."""
    return "softmax" if check_task(task) == SINGLE_LABEL else "sigmoid"


def split_kind(task, grouped, noun="parts"):
    """How items were divided: grouped (no group in two ``noun``), stratified, or multi-label stratified."""
    if grouped:
        return f"grouped (no group in two {noun})"
    return "stratified" if task == SINGLE_LABEL else "iterative multi-label stratification"


def version():
    """protkit's version string."""
    from protkit import __version__

    return __version__
