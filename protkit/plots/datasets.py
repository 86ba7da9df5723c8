"""Figures of whole datasets: class balance, examples per class, normalizations compared."""

from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import seaborn as sns

from protkit.data.normalization import get_normalizer
from protkit.plots._common import (
    add_channel_legend,
    as_hwc,
    bare_axes,
    channel_colors,
    channel_index,
    channel_label,
    figure_and_axes,
    fitted_normalizer,
    scaled_for_display,
)
from protkit.plots.images import channel_composite
from protkit.vocabulary import MULTI_LABEL


def class_balance(dataset_or_counts, ax=None, title=None, multi_label=None):
    """Horizontal bars of items per class, largest on top, each bar annotated with its count.

    Args:
        dataset_or_counts: a labelled `protkit.data.Dataset`, or counts per class (a pandas
            Series or a dict {class name: count}).
        ax: optional axes to draw into.
        title: default: items, classes and the largest / smallest class ratio.
        multi_label: whether the counts are "images carrying the label" (multi-label data,
            where one image counts for several classes). Default: the dataset's task; False
            for plain counts.

    Returns:
        The Figure.
    """
    if hasattr(dataset_or_counts, "class_counts"):
        if dataset_or_counts.labels is None:
            raise ValueError("class_balance needs labels; this dataset is unlabelled")
        counts, n_items = dataset_or_counts.class_counts(), len(dataset_or_counts)
        if multi_label is None:
            multi_label = dataset_or_counts.task == MULTI_LABEL
    else:
        counts, n_items = pd.Series(dataset_or_counts, dtype="float64"), None
    if counts.empty:
        raise ValueError("class_balance needs at least one class. Received: no counts")
    counts = counts.astype("int64").sort_values(kind="stable")
    fig, ax = figure_and_axes(ax, (6.8, 1.2 + 0.3 * len(counts)))
    positions = np.arange(len(counts))
    ax.barh(positions, counts.to_numpy(), color=sns.color_palette("deep")[0], height=0.7)
    ax.set_yticks(positions, [str(name) for name in counts.index])
    total = n_items if n_items else int(counts.sum())
    for y, value in zip(positions, counts.to_numpy()):
        share = f" ({100 * value / total:.1f}%)" if total else ""
        ax.text(value, y, f" {value}{share}", va="center", fontsize=8)
    ax.set_xlim(0, max(1, counts.max()) * 1.28)
    ax.set_xlabel("images carrying the label" if multi_label else "images")
    ax.set_ylabel("class")
    ax.grid(axis="x", alpha=0.3)
    ax.spines[["top", "right"]].set_visible(False)
    if title is None:
        size = f"{n_items} images, " if n_items is not None else ""
        kind = "multi-label: an image counts once per label it carries" if multi_label else "one label per image"
        title = f"Class balance: {size}{len(counts)} classes\n{kind}; {_imbalance(counts)}"
    ax.set_title(title, fontsize=10)
    return fig


def sample_grid(dataset, per_class=4, seed=0, channel=None, composite=True, normalizer="percentile",
                colors=None, classes=None):
    """Random examples of every class: one row per class, ``per_class`` tiles per row.

    Args:
        dataset: a `protkit.data.Dataset` (unlabelled: one row of random images).
        per_class: tiles per row (fewer when a class has fewer items).
        seed: which items are drawn.
        channel: show only this channel (index or name) in gray.
        composite: with ``channel=None``, show the colour composite (else the first channel).
        normalizer: display scaling; an unfitted ``"dataset"`` normalizer is fitted on
            ``dataset`` here.
        colors: composite colours (see `channel_composite`).
        classes: optional class names to show (default: all).

    Returns:
        The Figure, with one axes per tile (rows x per_class) and, for a colour composite, a
        legend of the channels' colours (HPA colour names say what they show). Multi-label
        rows show images carrying that label, which may carry other labels too.
    """
    if int(per_class) < 1:
        raise ValueError(f"per_class must be at least 1. Received: per_class={per_class}")
    per_class = int(per_class)
    norm = fitted_normalizer(get_normalizer(normalizer), dataset, seed)
    names = dataset.channel_names
    index = None if channel is None else channel_index(channel, names, dataset.num_channels)
    rows = _class_rows(dataset, classes)
    rng = np.random.default_rng(seed)
    fig, axes = plt.subplots(len(rows), per_class, squeeze=False, layout="constrained",
                             figsize=(1.45 * per_class + 1.8, 1.5 * len(rows) + 0.7))
    for (name, members), row in zip(rows, axes):
        chosen = np.sort(rng.choice(members, size=min(per_class, len(members)), replace=False))
        for position, ax in enumerate(row):
            bare_axes(ax, frame=position < len(chosen))
            if position < len(chosen):
                image = as_hwc(dataset.read(int(chosen[position])))
                if index is None and composite:
                    ax.imshow(channel_composite(image, colors, norm), interpolation="nearest")
                else:
                    ax.imshow(scaled_for_display(image, norm)[..., index or 0], cmap="gray", vmin=0, vmax=1,
                              interpolation="nearest")
                ax.set_title(str(dataset.ids[int(chosen[position])]), fontsize=6, pad=2)
            elif position == 0:
                ax.text(0.5, 0.5, "no images", ha="center", va="center", fontsize=8, transform=ax.transAxes)
        row[0].set_ylabel(f"{name}\n(n={len(members)})", rotation=0, ha="right", va="center", fontsize=9)
    if index is not None or not composite or dataset.num_channels == 1:
        shown = f"channel {channel_label(index or 0, names)} (gray)"
    else:
        shown = "colour composite (channels below)"
        add_channel_legend(fig, channel_colors(dataset.num_channels, colors), names, title="channel colours")
    carrying = "\nrows: images carrying the label (they may carry others)" if dataset.task == MULTI_LABEL else ""
    fig.suptitle(f"Random examples per class, {norm.mode} normalization; tiles: {shown}{carrying}", fontsize=9)
    return fig


def normalization_comparison(dataset, channel=0, indices=None, modes=("percentile", "dataset", "fixed"), seed=0):
    """The same items under several normalizations, all drawn on one 0..1 gray scale.

    With the scale shared, what each choice keeps is visible: ``percentile`` makes every image
    look alike (morphology), ``dataset`` keeps brightness differences between images (e.g. DNA
    content), ``fixed`` shows how much of the dtype range the data uses.

    Args:
        dataset: a `protkit.data.Dataset`.
        channel: channel index or name.
        indices: items to show; default: the dimmest and the brightest (mean of the channel)
            of up to 64 random items.
        modes: mode names or `Normalizer` objects, one column each; an unfitted ``"dataset"``
            normalizer is fitted on ``dataset``.
        seed: which items are sampled when ``indices`` is None.

    Returns:
        The Figure: one axes per item and mode, plus a shared colourbar.
    """
    index = channel_index(channel, dataset.channel_names, dataset.num_channels)
    rng = np.random.default_rng(seed)
    if indices is None:
        sample = rng.choice(len(dataset), size=min(64, len(dataset)), replace=False)
        means = [float(np.nanmean(as_hwc(dataset.read(int(i)))[..., index])) for i in sample]
        indices = [int(sample[np.argmin(means)]), int(sample[np.argmax(means)])]
    normalizers = [fitted_normalizer(get_normalizer(mode), dataset, seed) for mode in modes]
    fig, axes = plt.subplots(len(indices), len(normalizers), squeeze=False, layout="constrained",
                             figsize=(2.3 * len(normalizers) + 2.2, 2.3 * len(indices) + 0.6))
    for item, row in zip(indices, axes):
        image = as_hwc(dataset.read(int(item)))
        for norm, ax in zip(normalizers, row):
            scaled = np.clip(norm(image)[..., index], 0, 1)
            shown = ax.imshow(scaled, cmap="gray", vmin=0, vmax=1, interpolation="nearest")
            ax.set_xlabel(f"mean {scaled.mean():.3f}", fontsize=8)
            bare_axes(ax)
        label, classes = str(dataset.ids[int(item)]), _label_text(dataset, int(item))
        label += f"\n{classes}" if classes and classes not in label else ""
        label += f"\nraw mean {np.nanmean(image[..., index]):.4g}"
        row[0].set_ylabel(label, rotation=0, ha="right", va="center", fontsize=8)
    for norm, ax in zip(normalizers, axes[0]):
        ax.set_title(norm.mode, fontsize=10)
    fig.colorbar(shown, ax=axes, shrink=0.8, label="normalized intensity (clipped to 0..1)")
    fig.suptitle(f"Channel {channel_label(index, dataset.channel_names)} under {len(normalizers)} normalizations",
                 fontsize=10)
    return fig


# ---------------------------------------------------------------------- helpers
def _class_rows(dataset, classes):
    if dataset.labels is None:
        return [("all images", np.arange(len(dataset)))]
    names = list(dataset.class_names)
    unknown = [c for c in (classes or []) if c not in names]
    if unknown:
        raise ValueError(f"unknown classes {unknown}; known: {names}. Received: classes={classes}")
    rows = []
    for name in classes or names:
        k = names.index(name)
        hits = dataset.labels[:, k] == 1 if dataset.labels.ndim == 2 else dataset.labels == k
        rows.append((name, np.flatnonzero(hits)))
    return rows


def _label_text(dataset, item):
    if dataset.labels is None:
        return ""
    if dataset.labels.ndim == 2:
        return ", ".join(dataset.class_names[k] for k in np.flatnonzero(dataset.labels[item]))
    return dataset.class_names[int(dataset.labels[item])]


def _imbalance(counts):
    empty = int((counts == 0).sum())
    if empty:
        return f"{empty} class(es) without images"
    ratio = counts.max() / counts.min()
    return f"largest / smallest class = {ratio:.0f}x" if ratio >= 10 else f"largest / smallest class = {ratio:.1f}x"
