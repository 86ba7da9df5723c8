"""Every figure protkit shows: the notebooks, the CLI and the reports draw the same pictures.

Figure functions return the `matplotlib.figure.Figure` (made with pyplot, so ``plt.show()``
shows it in a notebook); `save` writes it as a PNG. Image functions take raw images of any
dtype, (H, W) or (H, W, C), and scale them for display with a `protkit.data.Normalizer` (or
its mode name: ``"percentile"``, ``"dataset"``, ``"fixed"``), the same choice a model sees.
No function here picks a matplotlib backend or calls ``plt.show()``.
"""

from __future__ import annotations

import math
import pathlib

import matplotlib.colors as mcolors
import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import seaborn as sns
from matplotlib.ticker import MaxNLocator

from protkit.data.normalization import get_normalizer
from protkit.data.readers import dtype_max

HPA_COLORS = ("red", "green", "blue", "yellow")
# Additive colours for other channel counts: green/magenta first (readable with red-green
# colour blindness), then cyan, yellow, red, blue, orange.
PALETTE = ("green", "magenta", "cyan", "yellow", "red", "blue", "orange")
# Full-strength additive tints: in matplotlib "green" and "gray" are half-dark (CSS colours).
TINTS = {"gray": (1.0, 1.0, 1.0), "grey": (1.0, 1.0, 1.0), "white": (1.0, 1.0, 1.0), "red": (1.0, 0.0, 0.0),
         "green": (0.0, 1.0, 0.0), "blue": (0.0, 0.0, 1.0), "yellow": (1.0, 1.0, 0.0), "magenta": (1.0, 0.0, 1.0),
         "cyan": (0.0, 1.0, 1.0), "orange": (1.0, 0.5, 0.0)}
_NO_TRAIN_CURVE = {"epoch", "lr", "learning_rate"}


# ---------------------------------------------------------------------- images
def channel_composite(image, colors=None, normalizer="percentile"):
    """Blend the channels of an image into one RGB picture.

    Each channel is normalized, clipped to [0, 1], tinted by its colour and added; the sum is
    clipped to [0, 1].

    Args:
        image: (H, W) or (H, W, C) array of any dtype.
        colors: one colour per channel: a name in `TINTS` (full-strength "green", "gray"...),
            another matplotlib colour (hex, RGB tuple...). Default: gray for
            one channel; red, green, blue, yellow for four (Human Protein Atlas order);
            otherwise `PALETTE` (green, magenta, cyan, ...).
        normalizer: a `Normalizer`, its mode name or config dict, or None when the image is
            already scaled to [0, 1].

    Returns:
        float32 array (H, W, 3) in [0, 1].
    """
    image = _as_hwc(image)
    tints = np.array([_rgb(c) for c in _channel_colors(image.shape[-1], colors)], np.float32)
    scaled = _scaled(image, normalizer)
    return np.clip(np.tensordot(scaled, tints, axes=([-1], [0])), 0.0, 1.0).astype(np.float32)


def raw_vs_inverted(image, channel=0, normalizer="percentile", channel_names=None):
    """One channel twice: raw intensities in gray, and inverted (dark signal on light) for print.

    Args:
        image: (H, W) or (H, W, C) array of any dtype.
        channel: channel index, or name when ``channel_names`` is given.
        normalizer: sets the display range of the raw panel (in file units) and scales the
            inverted panel (0 = white, 1 = black).
        channel_names: optional channel names, for the title.

    Returns:
        The Figure: two image axes, each with its colourbar (4 axes).
    """
    image = _as_hwc(image)
    index = _channel_index(channel, channel_names, image.shape[-1])
    norm = get_normalizer(normalizer)
    scaled = _scaled(image, norm)[..., index]
    low, high = _display_range(image, index, norm)
    fig, (left, right) = plt.subplots(1, 2, figsize=(8.4, 3.8), layout="constrained")
    shown = left.imshow(image[..., index], cmap="gray", vmin=low, vmax=high, interpolation="nearest")
    fig.colorbar(shown, ax=left, shrink=0.9, label=f"raw intensity ({image.dtype.name})")
    left.set_title(f"raw, shown {low:.4g} .. {high:.4g}", fontsize=10)
    shown = right.imshow(scaled, cmap="gray_r", vmin=0, vmax=1, interpolation="nearest")
    fig.colorbar(shown, ax=right, shrink=0.9, label=f"{norm.mode}-normalized (dark = bright)")
    right.set_title("inverted: dark on light", fontsize=10)
    for ax in (left, right):
        _bare(ax)
    fig.suptitle(f"Channel {_channel_label(index, channel_names)}")
    return fig


def channel_panels(image, channel_names=None, normalizer="percentile", colors=None, title=None):
    """One gray panel per channel, then their colour composite.

    Under each channel panel: the channel's raw min .. max, so 8-bit, 12-bit and 16-bit data
    (and nearly empty channels) are told apart at a glance.

    Args:
        image: (H, W) or (H, W, C) array of any dtype.
        channel_names: C names for the panel titles; default "ch0", "ch1", ...
        normalizer: a `Normalizer` or mode name (see `channel_composite`).
        colors: composite colours, one per channel (see `channel_composite`).
        title: figure title; default names the normalization.

    Returns:
        The Figure, with C + 1 axes.
    """
    image = _as_hwc(image)
    norm = get_normalizer(normalizer)
    channels = image.shape[-1]
    tints = _channel_colors(channels, colors)
    scaled = _scaled(image, norm)
    fig, axes = plt.subplots(1, channels + 1, figsize=(2.3 * (channels + 1), 2.9), layout="constrained")
    for index, ax in enumerate(axes[:-1]):
        ax.imshow(scaled[..., index], cmap="gray", vmin=0, vmax=1, interpolation="nearest")
        ax.set_title(f"{_channel_label(index, channel_names)}\n({_color_name(tints[index])} in composite)", fontsize=9)
        raw = image[..., index]
        ax.set_xlabel(f"raw {np.nanmin(raw):.4g} .. {np.nanmax(raw):.4g}", fontsize=8)
        _bare(ax)
    axes[-1].imshow(channel_composite(image, tints, norm), interpolation="nearest")
    axes[-1].set_title("composite", fontsize=9)
    _bare(axes[-1])
    fig.suptitle(title or f"{channels} channel(s), {image.dtype.name}, {norm.mode} normalization", fontsize=11)
    return fig


# ---------------------------------------------------------------------- datasets
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
            multi_label = dataset_or_counts.task == "multi_label"
    else:
        counts, n_items = pd.Series(dataset_or_counts, dtype="float64"), None
    if counts.empty:
        raise ValueError("class_balance needs at least one class. Received: no counts")
    counts = counts.astype("int64").sort_values(kind="stable")
    fig, ax = _figure_and_axes(ax, (6.8, 1.2 + 0.3 * len(counts)))
    positions = np.arange(len(counts))
    ax.barh(positions, counts.to_numpy(), color=sns.color_palette("deep")[0], height=0.7)
    ax.set_yticks(positions, [str(name) for name in counts.index])
    total = n_items if n_items else int(counts.sum())
    for y, value in zip(positions, counts.to_numpy()):
        share = f" ({100 * value / total:.1f}%)" if total else ""
        ax.text(value, y, f" {value}{share}", va="center", fontsize=8)
    ax.set_xlim(0, max(1, counts.max()) * 1.28)
    ax.set_xlabel("images carrying the label" if multi_label else "images")
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
        The Figure, with one axes per tile (rows x per_class). Multi-label rows show images
        carrying that label, which may carry other labels too.
    """
    if int(per_class) < 1:
        raise ValueError(f"per_class must be at least 1. Received: per_class={per_class}")
    per_class = int(per_class)
    norm = _fitted(get_normalizer(normalizer), dataset, seed)
    names = dataset.channel_names
    index = None if channel is None else _channel_index(channel, names, dataset.num_channels)
    rows = _class_rows(dataset, classes)
    rng = np.random.default_rng(seed)
    fig, axes = plt.subplots(len(rows), per_class, squeeze=False, layout="constrained",
                             figsize=(1.45 * per_class + 1.8, 1.5 * len(rows) + 0.7))
    for (name, members), row in zip(rows, axes):
        chosen = np.sort(rng.choice(members, size=min(per_class, len(members)), replace=False))
        for position, ax in enumerate(row):
            _bare(ax, frame=position < len(chosen))
            if position < len(chosen):
                image = _as_hwc(dataset.read(int(chosen[position])))
                if index is None and composite:
                    ax.imshow(channel_composite(image, colors, norm), interpolation="nearest")
                else:
                    ax.imshow(_scaled(image, norm)[..., index or 0], cmap="gray", vmin=0, vmax=1,
                              interpolation="nearest")
                ax.set_title(str(dataset.ids[int(chosen[position])]), fontsize=6, pad=2)
            elif position == 0:
                ax.text(0.5, 0.5, "no images", ha="center", va="center", fontsize=8, transform=ax.transAxes)
        row[0].set_ylabel(f"{name}\n(n={len(members)})", rotation=0, ha="right", va="center", fontsize=9)
    if index is not None or not composite:
        shown = f"channel {_channel_label(index or 0, names)} (gray)"
    else:
        channels = dataset.num_channels
        tints = [_color_name(c) for c in _channel_colors(channels, colors)]
        labels = [_channel_label(i, names) for i in range(channels)]
        legend = "each channel in its own colour" if labels == tints else ", ".join(
            f"{label}={tint}" for label, tint in zip(labels, tints))
        shown = f"composite ({legend})" if channels > 1 else "gray"
    carrying = "\nrows: images carrying the label (they may carry others)" if dataset.task == "multi_label" else ""
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
    index = _channel_index(channel, dataset.channel_names, dataset.num_channels)
    rng = np.random.default_rng(seed)
    if indices is None:
        sample = rng.choice(len(dataset), size=min(64, len(dataset)), replace=False)
        means = [float(np.nanmean(_as_hwc(dataset.read(int(i)))[..., index])) for i in sample]
        indices = [int(sample[np.argmin(means)]), int(sample[np.argmax(means)])]
    normalizers = [_fitted(get_normalizer(mode), dataset, seed) for mode in modes]
    fig, axes = plt.subplots(len(indices), len(normalizers), squeeze=False, layout="constrained",
                             figsize=(2.3 * len(normalizers) + 2.2, 2.3 * len(indices) + 0.6))
    for item, row in zip(indices, axes):
        image = _as_hwc(dataset.read(int(item)))
        for norm, ax in zip(normalizers, row):
            scaled = np.clip(norm(image)[..., index], 0, 1)
            shown = ax.imshow(scaled, cmap="gray", vmin=0, vmax=1, interpolation="nearest")
            ax.set_xlabel(f"mean {scaled.mean():.3f}", fontsize=8)
            _bare(ax)
        label, classes = str(dataset.ids[int(item)]), _label_text(dataset, int(item))
        label += f"\n{classes}" if classes and classes not in label else ""
        label += f"\nraw mean {np.nanmean(image[..., index]):.4g}"
        row[0].set_ylabel(label, rotation=0, ha="right", va="center", fontsize=8)
    for norm, ax in zip(normalizers, axes[0]):
        ax.set_title(norm.mode, fontsize=10)
    fig.colorbar(shown, ax=axes, shrink=0.8, label="normalized intensity (clipped to 0..1)")
    fig.suptitle(f"Channel {_channel_label(index, dataset.channel_names)} under {len(normalizers)} normalizations",
                 fontsize=10)
    return fig


# ---------------------------------------------------------------------- training
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
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8)
    for ax in axes.flat[len(metrics):]:
        fig.delaxes(ax)
    return fig


def confusion_matrix(cm, class_names, normalize=True, ax=None):
    """Heatmap of a confusion matrix: rows are the true classes, columns the predicted ones.

    Args:
        cm: (K, K) counts, rows true, columns predicted (as `sklearn.metrics.confusion_matrix`).
        class_names: K names.
        normalize: show each row as fractions of its true class (recall on the diagonal);
            up to 10 classes the counts are written under the fractions. Rows without items
            stay blank.
        ax: optional axes to draw into.

    Returns:
        The Figure (the heatmap axes and its colourbar).
    """
    cm = np.asarray(cm, dtype=float)
    names = [str(name) for name in class_names]
    if cm.ndim != 2 or cm.shape != (len(names), len(names)):
        raise ValueError(f"cm must be ({len(names)}, {len(names)}) for {len(names)} class names. "
                         f"Received: cm.shape={cm.shape}")
    k = len(names)
    totals = cm.sum(axis=1, keepdims=True)
    if normalize:
        values = np.divide(cm, totals, out=np.full_like(cm, np.nan), where=totals > 0)
        annot = np.vectorize(lambda f, n: f"{f:.2f}\n({n:.0f})" if k <= 10 else f"{f:.2f}")(values, cm)
    else:
        values, annot = cm, np.vectorize(lambda n: f"{n:.0f}")(cm)
    size = max(4.5, 0.55 * k + 2.5)
    fig, ax = _figure_and_axes(ax, (size + 1.0, size))
    sns.heatmap(values, annot=annot if k <= 20 else False, fmt="", cmap="Blues", vmin=0,
                vmax=1 if normalize else None, square=True, linewidths=0.5, linecolor="white",
                xticklabels=names, yticklabels=names, ax=ax, annot_kws={"fontsize": 8 if k <= 10 else 6},
                cbar_kws={"label": "fraction of the true class" if normalize else "items", "shrink": 0.8})
    ax.set_xlabel("predicted")
    ax.set_ylabel("true")
    ax.tick_params(axis="x", labelrotation=45)
    plt.setp(ax.get_xticklabels(), ha="right", rotation_mode="anchor")
    ax.tick_params(axis="y", labelrotation=0)
    total = cm.sum()
    accuracy = f"accuracy {np.trace(cm) / total:.3f} on {total:.0f} items" if total else "no items"
    ax.set_title(f"Confusion matrix{' (rows sum to 1)' if normalize else ''}: {accuracy}", fontsize=10)
    return fig


# ---------------------------------------------------------------------- files
def save(fig, path, overwrite=False, close=False):
    """Write a figure as a PNG (120 dpi, white background), never replacing a file by accident.

    Args:
        fig: the Figure.
        path: destination ending in ``.png``; missing folders are created.
        overwrite: replace an existing file.
        close: close the figure afterwards (scripts that draw many figures).

    Returns:
        The path written, as a `pathlib.Path`.

    Raises:
        FileExistsError: the file exists and ``overwrite`` is False.
        ValueError: the path does not end in ``.png``.
    """
    path = pathlib.Path(path)
    if path.suffix.lower() != ".png":
        raise ValueError(f"save writes PNG files; give a path ending in .png. Received: path={str(path)!r}")
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        with open(path, "wb" if overwrite else "xb") as handle:
            fig.savefig(handle, format="png", dpi=120, bbox_inches="tight", facecolor="white")
    except FileExistsError:
        raise FileExistsError(f"{path} exists; pass overwrite=True to replace it") from None
    if close:
        plt.close(fig)
    return path


# ---------------------------------------------------------------------- helpers
def _as_hwc(image):
    image = np.asarray(image)
    if image.ndim == 2:
        return image[..., None]
    if image.ndim != 3:
        raise ValueError(f"expected an image of shape (H, W) or (H, W, C). Received: image.shape={image.shape}")
    return image


def _scaled(image, normalizer):
    """Normalized (H, W, C) float32 in [0, 1]; ``normalizer=None`` takes the values as they are."""
    scaled = image.astype(np.float32) if normalizer is None else get_normalizer(normalizer)(image)
    return np.clip(np.nan_to_num(scaled), 0.0, 1.0)


def _channel_colors(channels, colors):
    if colors is None:
        if channels == 1:
            return ("gray",)
        if channels == 4:
            return HPA_COLORS
        if channels <= len(PALETTE):
            return PALETTE[:channels]
        return tuple(sns.color_palette("hls", channels))
    colors = list(colors)
    if len(colors) != channels:
        raise ValueError(f"one colour per channel: the image has {channels}. Received: colors={colors}")
    return colors


def _rgb(color):
    if isinstance(color, str) and color.lower() in TINTS:
        return TINTS[color.lower()]
    return mcolors.to_rgb(color)


def _color_name(color):
    return color if isinstance(color, str) else mcolors.to_hex(color)


def _channel_index(channel, names, channels):
    if isinstance(channel, str):
        if not names or channel not in names:
            raise ValueError(f"unknown channel; known: {names}. Received: channel={channel!r}")
        return list(names).index(channel)
    if not -channels <= int(channel) < channels:
        raise ValueError(f"channel index out of range for {channels} channel(s). Received: channel={channel}")
    return int(channel) % channels


def _channel_label(index, names):
    return str(names[index]) if names and index < len(names) else f"ch{index}"


def _display_range(image, index, norm):
    """The raw values that the normalizer maps to 0 and 1, for one channel."""
    raw = image[..., index].astype(np.float64)
    if norm.mode == "fixed":
        low, high = 0.0, norm.scale or dtype_max(image.dtype)
    elif norm.mode == "dataset":
        low, high = float(norm.low[index]), float(norm.high[index])
    else:
        finite = raw[np.isfinite(raw)]
        low, high = np.percentile(finite, norm.percentiles) if finite.size else (0.0, 1.0)
    return float(low), float(high if high > low else low + 1)


def _fitted(norm, dataset, seed):
    if norm.mode == "dataset" and not norm.fitted:
        norm.fit(dataset, max_items=200, seed=seed)
    return norm


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


def _figure_and_axes(ax, figsize):
    if ax is not None:
        return ax.figure, ax
    return plt.subplots(figsize=figsize, layout="constrained")


def _bare(ax, frame=True):
    ax.set_xticks([])
    ax.set_yticks([])
    if not frame:
        ax.spines[:].set_visible(False)
