"""Shared pieces of `protkit.plots`: channel colours, image scaling, axes helpers and `save`."""

from __future__ import annotations

import pathlib

import matplotlib.colors as mcolors
import matplotlib.pyplot as plt
import numpy as np
import seaborn as sns

from protkit.data.normalization import get_normalizer
from protkit.data.readers import dtype_max

HPA_COLORS = ("red", "green", "blue", "yellow")
# What each HPA colour shows (Human Protein Atlas images and protkit's synthetic cells): channels
# named by their colour get these meanings in legends.
HPA_MEANINGS = {"red": "microtubules", "green": "protein of interest", "blue": "nucleus (DNA)",
                "yellow": "endoplasmic reticulum"}
# Additive colours for other channel counts: green/magenta first (readable with red-green
# colour blindness), then cyan, yellow, red, blue, orange.
PALETTE = ("green", "magenta", "cyan", "yellow", "red", "blue", "orange")
# Full-strength additive tints: in matplotlib "green" and "gray" are half-dark (CSS colours).
TINTS = {"gray": (1.0, 1.0, 1.0), "grey": (1.0, 1.0, 1.0), "white": (1.0, 1.0, 1.0), "red": (1.0, 0.0, 0.0),
         "green": (0.0, 1.0, 0.0), "blue": (0.0, 0.0, 1.0), "yellow": (1.0, 1.0, 0.0), "magenta": (1.0, 0.0, 1.0),
         "cyan": (0.0, 1.0, 1.0), "orange": (1.0, 0.5, 0.0)}


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
def as_hwc(image):
    """`image` as an (H, W, C) array: a 2-D image gets one channel; other shapes raise."""
    image = np.asarray(image)
    if image.ndim == 2:
        return image[..., None]
    if image.ndim != 3:
        raise ValueError(f"expected an image of shape (H, W) or (H, W, C). Received: image.shape={image.shape}")
    return image


def scaled_for_display(image, normalizer):
    """Normalized (H, W, C) float32 in [0, 1]; ``normalizer=None`` takes the values as they are."""
    scaled = image.astype(np.float32) if normalizer is None else get_normalizer(normalizer)(image)
    return np.clip(np.nan_to_num(scaled), 0.0, 1.0)


def channel_colors(channels, colors):
    """One colour per channel: `colors` checked, or the default (gray, HPA order, `PALETTE`)."""
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


def rgb(color):
    """An (r, g, b) tuple in [0, 1]; names in `TINTS` give full-strength tints."""
    if isinstance(color, str) and color.lower() in TINTS:
        return TINTS[color.lower()]
    return mcolors.to_rgb(color)


def color_name(color):
    """A colour for a legend: its name if it has one, else its hex code."""
    return color if isinstance(color, str) else mcolors.to_hex(color)


def channel_legend_labels(colors, names):
    """One legend label per channel: its name, with its meaning when named by an HPA colour.

    A channel named by the colour it is drawn in (HPA files: ``red``, ``green``...) is labelled
    with what that colour shows (``green: protein of interest``); other names get their colour
    (``Ch4 (green)``).
    """
    labels = []
    for index, color in enumerate(colors):
        name = channel_label(index, names)
        if name.lower() in HPA_MEANINGS and name.lower() == color_name(color).lower():
            labels.append(f"{name}: {HPA_MEANINGS[name.lower()]}")
        elif name.lower() == color_name(color).lower():
            labels.append(name)
        else:
            labels.append(f"{name} ({color_name(color)})")
    return labels


def add_channel_legend(target, colors, names, title="composite colours", **kwargs):
    """A legend of colour patches, one per channel of a composite, on a figure or an axes.

    On a figure it goes below the panels (constrained layout keeps room for it); on an axes,
    below the axes. ``kwargs`` go to ``legend``. Returns the Legend.
    """
    from matplotlib.patches import Patch

    handles = [Patch(facecolor=rgb(color), edgecolor="0.3", label=label)
               for color, label in zip(colors, channel_legend_labels(colors, names))]
    options = {"fontsize": 7, "title_fontsize": 7, "frameon": False, "ncol": min(len(handles), 4), "title": title}
    if hasattr(target, "add_subplot"):  # a Figure
        options.update(loc="outside lower center")
    else:
        options.update(loc="upper center", bbox_to_anchor=(0.5, -0.02), ncol=min(len(handles), 2))
    options.update(kwargs)
    return target.legend(handles=handles, **options)


def legend_below(ax, gap=3, **kwargs):
    """A legend centred under the axes, below its tick labels and x label (never on them).

    The drop is measured once (in points, so it holds when the layout later moves the axes);
    ``kwargs`` go to ``ax.legend``. Returns the Legend.
    """
    from matplotlib.transforms import ScaledTranslation

    fig = ax.figure
    fig.draw_without_rendering()
    renderer = fig.canvas.get_renderer()
    drop = (ax.get_window_extent(renderer).y0 - ax.get_tightbbox(renderer).y0) * 72 / fig.dpi + gap
    shift = ScaledTranslation(0, -drop / 72, fig.dpi_scale_trans)
    return ax.legend(loc="upper center", bbox_to_anchor=(0.5, 0), bbox_transform=ax.transAxes + shift, **kwargs)


def channel_index(channel, names, channels):
    """The index of `channel`, a name in `names` or a (possibly negative) int; raises if unknown."""
    if isinstance(channel, str):
        if not names or channel not in names:
            raise ValueError(f"unknown channel; known: {names}. Received: channel={channel!r}")
        return list(names).index(channel)
    if not -channels <= int(channel) < channels:
        raise ValueError(f"channel index out of range for {channels} channel(s). Received: channel={channel}")
    return int(channel) % channels


def channel_label(index, names):
    """The name of channel `index`, or ``ch{index}`` when the channels have no names."""
    return str(names[index]) if names and index < len(names) else f"ch{index}"


def display_range(image, index, norm):
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


def fitted_normalizer(norm, dataset, seed):
    """`norm`, fitted on up to 200 items of `dataset` first if it is an unfitted "dataset" one."""
    if norm.mode == "dataset" and not norm.fitted:
        norm.fit(dataset, max_items=200, seed=seed)
    return norm


def figure_and_axes(ax, figsize):
    """`(figure, ax)` for a given `ax`, else a new constrained-layout figure of `figsize`."""
    if ax is not None:
        return ax.figure, ax
    return plt.subplots(figsize=figsize, layout="constrained")


def bare_axes(ax, frame=True):
    """Removes the ticks of an image panel (and its frame with ``frame=False``)."""
    ax.set_xticks([])
    ax.set_yticks([])
    if not frame:
        ax.spines[:].set_visible(False)
