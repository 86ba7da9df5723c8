"""Probabilities a user can act on: temperature scaling, expected calibration error, reliability curves.

A network trained with label smoothing, class weights or for a few epochs says "70 %" when it
is right 90 % of the time (or the other way round). Temperature scaling (Guo et al., 2017)
divides the model's logits by one number T, fitted on the validation part by minimising the
negative log-likelihood: T > 1 softens over-confident outputs, T < 1 sharpens timid ones. It
never changes which class ranks first, so accuracy, balanced accuracy and macro-F1 at the
argmax stay as they were; multi-label thresholds are tuned on the calibrated probabilities.

Logits are recovered from the probabilities a protkit classifier outputs: log p for softmax
(single-label; softmax(log p / T) is the calibrated output) and log(p / (1 - p)) for sigmoid
(multi-label, every label with the same T).

The expected calibration error (ECE) bins the predictions by confidence into ``bins`` equal
bins and averages |accuracy - confidence| over the bins, weighted by their counts:
single-label: the top class's probability against whether the top class is right;
multi-label: every (image, label) probability against whether the label is present.

>>> import numpy as np
>>> p = np.array([[0.9, 0.1], [0.8, 0.2], [0.3, 0.7]])
>>> round(float(apply_temperature(p, 1.0, "single_label")[0, 0]), 3)
0.9
>>> bool(apply_temperature(p, 2.0, "single_label")[0, 0] < 0.9)  # softer
True
"""

from __future__ import annotations

import numpy as np

from protkit.vocabulary import SINGLE_LABEL, check_task

TEMPERATURE_RANGE = (0.05, 20.0)
_EPS = 1e-7


def _logits(probabilities, task):
    p = np.clip(np.asarray(probabilities, np.float64), _EPS, 1 - _EPS)
    return np.log(p) if task == SINGLE_LABEL else np.log(p) - np.log1p(-p)


def _from_logits(logits, task):
    if task == SINGLE_LABEL:
        shifted = logits - logits.max(axis=-1, keepdims=True)
        exp = np.exp(shifted)
        return exp / exp.sum(axis=-1, keepdims=True)
    return 1 / (1 + np.exp(-logits))


def apply_temperature(probabilities, temperature, task):
    """``probabilities`` (N, K) of a softmax or sigmoid classifier, recomputed with its logits divided by
    ``temperature``."""
    check_task(task)
    if temperature is None or float(temperature) == 1.0:
        return np.asarray(probabilities, np.float32)
    return _from_logits(_logits(probabilities, task) / float(temperature), task).astype(np.float32)


def _negative_log_likelihood(probabilities, labels, task):
    p = np.clip(probabilities, _EPS, 1 - _EPS)
    if task == SINGLE_LABEL:
        return float(-np.mean(np.log(p[np.arange(len(p)), labels])))
    labels = np.asarray(labels, np.float64)
    return float(-np.mean(labels * np.log(p) + (1 - labels) * np.log1p(-p)))


def fit_temperature(probabilities, labels, task):
    """The temperature in `TEMPERATURE_RANGE` that minimises the negative log-likelihood of ``labels``.

    Args:
        probabilities: (N, K) validation probabilities.
        labels: (N,) class indices (single-label) or (N, K) 0/1 (multi-label).
        task: "single_label" or "multi_label".

    Returns:
        float, 1.0 when there is nothing to fit (no items).
    """
    from scipy.optimize import minimize_scalar

    check_task(task)
    probabilities = np.asarray(probabilities, np.float64)
    if len(probabilities) == 0:
        return 1.0
    logits = _logits(probabilities, task)
    labels = np.asarray(labels)

    def loss(log_t):
        return _negative_log_likelihood(_from_logits(logits / np.exp(log_t), task), labels, task)

    low, high = np.log(TEMPERATURE_RANGE)
    found = minimize_scalar(loss, bounds=(low, high), method="bounded", options={"xatol": 1e-4})
    return float(np.exp(found.x))


def _confidence_and_outcome(probabilities, labels, task):
    probabilities = np.asarray(probabilities, np.float64)
    if task == SINGLE_LABEL:
        labels = np.asarray(labels).astype(int)
        return probabilities.max(axis=1), (probabilities.argmax(axis=1) == labels).astype(float)
    return probabilities.ravel(), np.asarray(labels, np.float64).ravel()


def reliability_curve(probabilities, labels, task, bins=15):
    """Per confidence bin: dict of ``edges`` (bins + 1,), ``confidence`` and ``accuracy`` (mean per
    bin, NaN where empty), ``counts``; and ``ece``, the expected calibration error."""
    check_task(task)
    confidence, outcome = _confidence_and_outcome(probabilities, labels, task)
    edges = np.linspace(0.0, 1.0, int(bins) + 1)
    which = np.clip(np.digitize(confidence, edges[1:-1], right=True), 0, bins - 1)
    counts = np.bincount(which, minlength=bins)
    with np.errstate(invalid="ignore", divide="ignore"):
        mean_confidence = np.bincount(which, confidence, minlength=bins) / counts
        accuracy = np.bincount(which, outcome, minlength=bins) / counts
    filled = counts > 0
    ece = float(np.sum(counts[filled] * np.abs(accuracy[filled] - mean_confidence[filled])) / max(counts.sum(), 1))
    return {"edges": edges, "confidence": mean_confidence, "accuracy": accuracy, "counts": counts, "ece": ece}


def expected_calibration_error(probabilities, labels, task, bins=15):
    """The expected calibration error of ``probabilities`` (see the module docstring)."""
    return reliability_curve(probabilities, labels, task, bins)["ece"]


def calibration_report(probabilities, labels, task, temperature, bins=15):
    """JSON-ready {temperature, ece_before, ece_after, bins, measure} for one part's probabilities (uncalibrated)."""
    after = apply_temperature(probabilities, temperature, task)
    measure = ("top-class probability vs top class right" if task == SINGLE_LABEL
               else "every (image, label) probability vs label present")
    return {"temperature": float(temperature),
            "ece_before": expected_calibration_error(probabilities, labels, task, bins),
            "ece_after": expected_calibration_error(after, labels, task, bins), "bins": int(bins), "measure": measure}


__all__ = ["TEMPERATURE_RANGE", "apply_temperature", "calibration_report", "expected_calibration_error",
           "fit_temperature", "reliability_curve"]
