"""Figures of single images: channel composites, per-channel panels, raw vs inverted."""

from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np

from protkit.data.normalization import get_normalizer
from protkit.plots._common import (
    add_channel_legend,
    as_hwc,
    bare_axes,
    channel_colors,
    channel_index,
    channel_label,
    color_name,
    display_range,
    rgb,
    scaled_for_display,
)


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
    image = as_hwc(image)
    tints = np.array([rgb(c) for c in channel_colors(image.shape[-1], colors)], np.float32)
    scaled = scaled_for_display(image, normalizer)
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
    image = as_hwc(image)
    index = channel_index(channel, channel_names, image.shape[-1])
    norm = get_normalizer(normalizer)
    scaled = scaled_for_display(image, norm)[..., index]
    low, high = display_range(image, index, norm)
    fig, (left, right) = plt.subplots(1, 2, figsize=(8.4, 3.8), layout="constrained")
    shown = left.imshow(image[..., index], cmap="gray", vmin=low, vmax=high, interpolation="nearest")
    fig.colorbar(shown, ax=left, shrink=0.9, label=f"raw intensity ({image.dtype.name})")
    left.set_title(f"raw, shown {low:.4g} .. {high:.4g}", fontsize=10)
    shown = right.imshow(scaled, cmap="gray_r", vmin=0, vmax=1, interpolation="nearest")
    fig.colorbar(shown, ax=right, shrink=0.9, label=f"{norm.mode}-normalized (dark = bright)")
    right.set_title("inverted: dark on light", fontsize=10)
    for ax in (left, right):
        bare_axes(ax)
    fig.suptitle(f"Channel {channel_label(index, channel_names)}")
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
    image = as_hwc(image)
    norm = get_normalizer(normalizer)
    channels = image.shape[-1]
    tints = channel_colors(channels, colors)
    scaled = scaled_for_display(image, norm)
    fig, axes = plt.subplots(1, channels + 1, figsize=(2.3 * (channels + 1), 2.9), layout="constrained")
    for index, ax in enumerate(axes[:-1]):
        ax.imshow(scaled[..., index], cmap="gray", vmin=0, vmax=1, interpolation="nearest")
        ax.set_title(f"{channel_label(index, channel_names)}\n({color_name(tints[index])} in composite)", fontsize=9)
        raw = image[..., index]
        ax.set_xlabel(f"raw {np.nanmin(raw):.4g} .. {np.nanmax(raw):.4g}", fontsize=8)
        bare_axes(ax)
    axes[-1].imshow(channel_composite(image, tints, norm), interpolation="nearest")
    axes[-1].set_title("composite", fontsize=9)
    bare_axes(axes[-1])
    if channels > 1:
        add_channel_legend(fig, tints, channel_names, title="colours in the composite")
    fig.suptitle(title or f"{channels} channel(s), {image.dtype.name}, {norm.mode} normalization", fontsize=11)
    return fig
