"""Figures of a training run: learning curves."""

from __future__ import annotations

import math

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from matplotlib.ticker import MaxNLocator

_NO_TRAIN_CURVE = {"epoch", "lr", "learning_rate"}


def learning_curves(history, metrics=None):
    """One panel per metric with its training and validation (``val_``) curves.

    Args:
        history: a Keras ``History``, a dict {name: per-epoch values} or a DataFrame of
            per-epoch logs (e.g. a run's ``history.csv``; an ``epoch`` column counted from 0,
            as Keras writes it, sets the x axis).
        metrics: names to plot (without ``val_``); default: every logged metric except the
            learning rate.

    Returns:
        The Figure, one axes per metric. A dotted line marks the best validation epoch
        (lowest for losses and errors, highest otherwise).
    """
    logs, epochs = _history_frame(history)
    available = list(dict.fromkeys(c[4:] if c.startswith("val_") else c for c in logs.columns))
    available = [name for name in available if name not in _NO_TRAIN_CURVE]
    metrics = available if metrics is None else list(metrics)
    missing = [m for m in metrics if m not in logs and f"val_{m}" not in logs]
    if missing or not metrics:
        raise ValueError(f"metrics {missing} are not in the history; available: {available}. "
                         f"Received: metrics={metrics}")
    columns = min(3, len(metrics))
    rows = math.ceil(len(metrics) / columns)
    fig, axes = plt.subplots(rows, columns, squeeze=False, figsize=(4.3 * columns, 3.2 * rows), layout="constrained")
    marker = "o" if len(logs) <= 30 else None
    for name, ax in zip(metrics, axes.flat):
        for key, label, style in ((name, "train", "-"), (f"val_{name}", "validation", "--")):
            if key in logs:
                ax.plot(epochs, logs[key].to_numpy(dtype=float), style, marker=marker, markersize=3, label=label)
        if f"val_{name}" in logs and logs[f"val_{name}"].notna().any():
            values = logs[f"val_{name}"].to_numpy(dtype=float)
            lower_is_better = "loss" in name or "error" in name
            best = np.nanargmin(values) if lower_is_better else np.nanargmax(values)
            ax.axvline(epochs[best], color="gray", linestyle=":", linewidth=1,
                       label=f"best val: epoch {epochs[best]}")
        ax.set_title(name, fontsize=10)
        ax.set_xlabel("epoch")
        ax.set_ylabel(name.replace("_", " "))
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8)
    for ax in axes.flat[len(metrics):]:
        fig.delaxes(ax)
    fig.suptitle(f"Learning curves over {len(logs)} epoch(s): training (solid) and validation (dashed)", fontsize=10)
    return fig


def _history_frame(history):
    epochs = None
    if hasattr(history, "history"):
        epochs = np.asarray(getattr(history, "epoch", []) or [], dtype=int) + 1
        history = history.history
    try:
        logs = pd.DataFrame(history).reset_index(drop=True)
    except ValueError as error:
        raise ValueError(f"history must hold one value per epoch for every metric ({error})") from None
    if "epoch" in logs:
        epochs = logs.pop("epoch").to_numpy(dtype=int) + 1
    if epochs is None or len(epochs) != len(logs):
        epochs = np.arange(1, len(logs) + 1)
    return logs, epochs
