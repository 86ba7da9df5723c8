"""What a model sees: augmented copies of a cell, Fourier spectra, attention maps.

`log_spectra` (and through it `spectrum` and `mean_spectra`) computes the spectra with
`protkit.layers.FFTSpectrum`, the layer the Fast Spec CNN starts with, so the figures show
exactly its input. These functions and `augmentation_grid` import Keras when called;
`attention_received` and `attention_map` take the scores as arrays and need NumPy only.
"""

from __future__ import annotations

import itertools
import math

import cv2
import matplotlib.pyplot as plt
import numpy as np
from matplotlib import patheffects

from protkit.data.normalization import get_normalizer
from protkit.plots._common import (
    add_channel_legend,
    as_hwc,
    bare_axes,
    channel_colors,
    channel_index,
    channel_label,
    figure_and_axes,
    scaled_for_display,
)
from protkit.plots.images import channel_composite

SPECTRUM_CMAP = "magma"
_TICKS = (-0.25, 0.0, 0.25)  # cycles per pixel on the spectrum axes


# ---------------------------------------------------------------------- augmentation
def augmentation_grid(image, augment, n=6, seed=0, normalizer="percentile", colors=None, channel_names=None):
    """The same cell as the model may see it in training: the original, then ``n`` random augmentations.

    The image is normalized first and augmented second, in the order of protkit's training
    pipeline; all ``n`` copies go through ``augment`` as one batch, so each gets its own
    random flip, rotation and zoom.

    Args:
        image: (H, W) or (H, W, C) array of any dtype and channel count.
        augment: a Keras layer or model such as `protkit.augment.classical_augmentation()`
            (called with ``training=True``), or any function of a (B, H, W, C) float32 batch.
        n: number of augmented copies (positive).
        seed: which random draws are shown. A Keras ``augment`` is copied from its config and
            the k-th random layer of the copy gets the seed ``1000 * seed + k``, so the figure
            depends only on ``seed`` (the same on every call) and the original layer's random
            state is left alone. A plain function is called as it is.
        normalizer: scaling before augmentation (see `channel_composite`); None when the image
            is already scaled to [0, 1].
        colors: composite colours, one per channel.
        channel_names: channel names, for the legend of the composite's colours.

    Returns:
        The Figure: n + 1 composites (axes), at most 7 per row, and a legend of the channels.
    """
    n = int(n)
    if n < 1:
        raise ValueError(f"n must be at least 1. Received: n={n}")
    image = as_hwc(image)
    scaled = np.nan_to_num(image.astype(np.float32) if normalizer is None else get_normalizer(normalizer)(image))
    batch = np.repeat(scaled[None].astype(np.float32), n, axis=0)
    copies = _as_numpy(_reseeded(augment, seed)(batch, **_training_kwarg(augment)))
    if copies.shape != batch.shape:
        raise ValueError(f"augment must keep the batch shape {batch.shape}. Received: output shape {copies.shape}")
    columns = min(n + 1, 7)
    rows = math.ceil((n + 1) / columns)
    fig, axes = plt.subplots(rows, columns, squeeze=False, figsize=(1.9 * columns, 2.05 * rows + 0.5),
                             layout="constrained")
    tiles = [("original", scaled)] + [(f"augmented {i + 1}", copy) for i, copy in enumerate(copies)]
    for position, ax in enumerate(axes.flat):
        bare_axes(ax, frame=position < len(tiles))
        if position < len(tiles):
            name, tile = tiles[position]
            ax.imshow(channel_composite(tile, colors, normalizer=None), interpolation="nearest")
            ax.set_title(name, fontsize=9, fontweight="bold" if position == 0 else "normal")
    if image.shape[-1] > 1:
        add_channel_legend(fig, channel_colors(image.shape[-1], colors), channel_names, title="channel colours")
    fig.suptitle(f"{image.shape[-1]}-channel image under random augmentation: {_describe(augment)}", fontsize=10)
    return fig


def _training_kwarg(augment):
    import keras

    return {"training": True} if isinstance(augment, keras.layers.Layer) else {}


def _reseeded(augment, seed):
    """A fresh copy of a Keras ``augment`` whose k-th seeded layer has the seed ``1000 * seed + k``."""
    import keras

    if not isinstance(augment, keras.layers.Layer):
        if not callable(augment):
            raise ValueError(f"augment must be a Keras layer or a function. Received: augment={augment!r}")
        return augment
    config = keras.saving.serialize_keras_object(augment)
    return keras.saving.deserialize_keras_object(_with_seeds(config, itertools.count(1000 * int(seed))))


def _with_seeds(config, seeds):
    if isinstance(config, dict):
        return {key: next(seeds) if key == "seed" and (value is None or isinstance(value, int))
                else _with_seeds(value, seeds) for key, value in config.items()}
    if isinstance(config, list):
        return [_with_seeds(value, seeds) for value in config]
    return config


def _describe(augment):
    layers = getattr(augment, "layers", None) or [augment]
    parts = []
    for layer in layers:
        config = layer.get_config() if hasattr(layer, "get_config") else {}
        detail = config.get("mode") or config.get("factor") or config.get("height_factor")
        name = type(layer).__name__ if hasattr(layer, "get_config") else getattr(layer, "__name__", "function")
        parts.append(f"{name}({detail})" if detail is not None else name)
    return ", ".join(parts)


# ---------------------------------------------------------------------- spectra
def log_spectra(images, normalizer=None):
    """Centred log-magnitude Fourier spectra, computed by `protkit.layers.FFTSpectrum`.

    Args:
        images: (H, W), (H, W, C) or (N, H, W, C) array.
        normalizer: None when the images are already normalized (as the model's input), else
            a `Normalizer` or mode name applied to each image first.

    Returns:
        float32 array (N, H, W, C) (N = 1 for one image): ``log1p(|FFT|)`` per channel, zero
        frequency at row H // 2, column W // 2.
    """
    from keras import ops

    from protkit.layers import FFTSpectrum

    images = np.asarray(images)
    if images.ndim in (2, 3):
        images = as_hwc(images)[None]
    if images.ndim != 4 or 0 in images.shape:
        raise ValueError(f"expected images (H, W), (H, W, C) or (N, H, W, C). Received: images.shape={images.shape}")
    if normalizer is not None:
        norm = get_normalizer(normalizer)
        images = np.stack([norm(image) for image in images])
    images = np.nan_to_num(images.astype(np.float32))
    return ops.convert_to_numpy(FFTSpectrum(mode="spectral")(images)).astype(np.float32)


def spectrum(image, channel=None, normalizer="percentile", channel_names=None, colors=None, title=None):
    """An image next to the Fourier spectrum of each channel: what the Fast Spec CNN's FFT sees.

    The spectrum is ``log1p(|FFT|)`` of the normalized channel (`protkit.layers.FFTSpectrum`),
    zero frequency in the centre. Fine periodic or punctate texture puts energy far from the
    centre (a pattern repeating every p pixels shows up at 1/p cycles per pixel); smooth,
    diffuse signal keeps it near the centre; straight edges and filaments draw streaks at right
    angles to themselves. All spectra share one colour scale.

    Args:
        image: (H, W) or (H, W, C) array of any dtype.
        channel: None for every channel (the image panel is then the colour composite), or one
            channel (index, or name with ``channel_names``), shown in gray.
        normalizer: the scaling applied before the transform, as in the model's pipeline; None
            when the image is already normalized.
        channel_names: names for the panel titles.
        colors: composite colours, one per channel.
        title: figure title; default names the normalization and the image size.

    Returns:
        The Figure: the image axes, one axes per spectrum, and a colourbar.
    """
    image = as_hwc(image)
    norm = None if normalizer is None else get_normalizer(normalizer)
    normalized = image.astype(np.float32) if norm is None else norm(image)
    spectra = log_spectra(normalized)[0]
    if channel is None:
        indices = list(range(image.shape[-1]))
        shown, cmap = channel_composite(image, colors, norm), None
        label = "composite" if image.shape[-1] > 1 else channel_label(0, channel_names)
    else:
        indices = [channel_index(channel, channel_names, image.shape[-1])]
        shown, cmap = scaled_for_display(image, norm)[..., indices[0]], "gray"
        label = channel_label(indices[0], channel_names)
    low, high = np.percentile(spectra[..., indices], (1, 99.9))
    fig, axes = plt.subplots(1, len(indices) + 1, figsize=(2.4 * (len(indices) + 1) + 0.8, 3.0),
                             layout="constrained")
    axes[0].imshow(shown, cmap=cmap, vmin=0, vmax=1, interpolation="nearest")
    axes[0].set_title(f"image: {label}", fontsize=9)
    bare_axes(axes[0])
    for index, ax in zip(indices, axes[1:]):
        drawn = _draw_spectrum(ax, spectra[..., index], low, high)
        ax.set_title(f"spectrum of {channel_label(index, channel_names)}", fontsize=9)
    axes[1].set_xlabel("horizontal frequency (cycles / pixel)", fontsize=8)
    axes[1].set_ylabel("vertical frequency (cycles / pixel)", fontsize=8)
    fig.colorbar(drawn, ax=axes[1:], shrink=0.85, label="log(1 + |FFT|)")
    if channel is None and image.shape[-1] > 1:
        add_channel_legend(fig, channel_colors(image.shape[-1], colors), channel_names,
                           title="colours in the composite")
    mode = "as given" if norm is None else f"{norm.mode}-normalized"
    fig.suptitle(title or f"Centred Fourier spectra ({mode}, {image.shape[0]}x{image.shape[1]}): centre = smooth, "
                          "far out = fine texture", fontsize=10)
    return fig


def mean_spectra(groups, channel=0, normalizer=None, channel_names=None, title=None):
    """Mean log-spectrum of several groups of images (e.g. classes), and their radial profiles.

    The radial profile averages the log-magnitude over rings of equal spatial frequency; the
    zero-frequency term (the mean brightness) is left out. A group with punctate or finely
    periodic signal lies above a diffuse one at high frequencies.

    Args:
        groups: {name: images (N, H, W, C)}, all of one height and width (e.g. from
            `protkit.data.load_images` with an ``image_size``). A group without images is
            drawn as an empty panel and left out of the profile.
        channel: the channel compared (index, or name with ``channel_names``).
        normalizer: None when the images are already normalized (``load_images`` output),
            else a `Normalizer` or mode name applied to every image first.
        channel_names: channel names, for ``channel`` given by name and the title.
        title: figure title; default names the channel.

    Returns:
        The Figure: one axes per group, a colourbar, and the profile axes (last).
    """
    if not groups:
        raise ValueError("mean_spectra needs at least one group. Received: groups={}")
    arrays = {str(name): np.asarray(images) for name, images in groups.items()}
    shapes = {array.shape[1:3] for array in arrays.values() if array.ndim == 4 and len(array)}
    if len(shapes) != 1 or any(array.ndim != 4 for array in arrays.values()):
        found = {name: array.shape for name, array in arrays.items()}
        raise ValueError(f"every group must hold images (N, H, W, C) of one size, at least one non-empty. "
                         f"Received: shapes {found}")
    channels = next(array.shape[-1] for array in arrays.values() if len(array))
    index = channel_index(channel, channel_names, channels)
    means = {name: log_spectra(array, normalizer)[..., index].mean(axis=0) if len(array) else None
             for name, array in arrays.items()}
    drawn = [mean for mean in means.values() if mean is not None]
    low, high = np.percentile(np.stack(drawn), (1, 99.9))
    fig, axes = plt.subplots(1, len(arrays) + 1, figsize=(2.6 * len(arrays) + 4.4, 3.2), layout="constrained",
                             gridspec_kw={"width_ratios": [1] * len(arrays) + [1.7]})
    for (name, mean), ax in zip(means.items(), axes[:-1]):
        ax.set_title(f"{name}\n(n={len(arrays[name])})", fontsize=9)
        if mean is None:
            bare_axes(ax)
            ax.text(0.5, 0.5, "no images", ha="center", va="center", fontsize=8, transform=ax.transAxes)
            continue
        image = _draw_spectrum(ax, mean, low, high)
    axes[0].set_xlabel("horizontal frequency (cycles / pixel)", fontsize=8)
    axes[0].set_ylabel("vertical frequency (cycles / pixel)", fontsize=8)
    fig.colorbar(image, ax=axes[:-1], shrink=0.85, label="mean log(1 + |FFT|)")
    profile = axes[-1]
    for name, mean in means.items():
        if mean is not None:
            frequency, values = _radial_profile(mean)
            profile.plot(frequency, values, label=f"{name} (n={len(arrays[name])})")
    profile.set_xlabel("spatial frequency (cycles / pixel)\nperiod = 1 / frequency pixels", fontsize=8)
    profile.set_ylabel("mean log(1 + |FFT|) on the ring", fontsize=8)
    profile.set_title("radial profile", fontsize=9)
    profile.grid(alpha=0.3)
    profile.legend(fontsize=7)
    fig.suptitle(title or f"Mean Fourier spectrum of channel {channel_label(index, channel_names)} per group",
                 fontsize=10)
    return fig


def _frequencies(size):
    return np.fft.fftshift(np.fft.fftfreq(size))


def _draw_spectrum(ax, values, low, high):
    fy, fx = _frequencies(values.shape[0]), _frequencies(values.shape[1])
    dy, dx = 1.0 / values.shape[0], 1.0 / values.shape[1]
    extent = (fx[0] - dx / 2, fx[-1] + dx / 2, fy[-1] + dy / 2, fy[0] - dy / 2)
    drawn = ax.imshow(values, cmap=SPECTRUM_CMAP, vmin=low, vmax=high, extent=extent, interpolation="nearest")
    ax.set_xticks(_TICKS)
    ax.set_yticks(_TICKS)
    ax.tick_params(labelsize=7)
    return drawn


def _radial_profile(spectrum):
    """Mean of a centred (H, W) spectrum over rings 1 / max(H, W) cycles per pixel wide, DC left out."""
    fy, fx = np.meshgrid(_frequencies(spectrum.shape[0]), _frequencies(spectrum.shape[1]), indexing="ij")
    step = 1.0 / max(spectrum.shape)
    ring = np.rint(np.hypot(fy, fx) / step).astype(int).ravel()
    sums = np.bincount(ring, weights=spectrum.ravel())
    counts = np.bincount(ring)
    keep = np.arange(1, min(len(sums), int(round(0.5 / step)) + 1))
    return keep * step, sums[keep] / counts[keep]


# ---------------------------------------------------------------------- attention
def attention_received(scores, grid_shape, head=None):
    """The mean attention each feature-map position receives, relative to uniform attention.

    Args:
        scores: attention weights (heads, HW, HW) or (HW, HW), or a batch of one
            (1, heads, HW, HW), as returned by `protkit.models.fast_spec_cnn.attention_scores_model`:
            ``scores[h, q, k]`` is how much query position q attends to key position k.
        grid_shape: (height, width) of the attended feature map, height * width = HW.
        head: None to average the heads, or one head index.

    Returns:
        float array (height, width): the mean over queries (and heads) of the weight each
        position receives, times HW, so that 1 means "as much as under uniform attention".
    """
    scores = np.asarray(scores, dtype=np.float64)
    if scores.ndim == 4 and scores.shape[0] == 1:
        scores = scores[0]
    if scores.ndim == 2:
        scores = scores[None]
    height, width = (int(size) for size in grid_shape)
    if scores.ndim != 3 or scores.shape[1:] != (height * width, height * width):
        raise ValueError(f"scores must be (heads, HW, HW) with HW = {height}*{width} = {height * width} "
                         f"for grid_shape={tuple(grid_shape)}. Received: scores.shape={scores.shape}")
    if head is not None:
        if not -scores.shape[0] <= int(head) < scores.shape[0]:
            raise ValueError(f"head out of range for {scores.shape[0]} head(s). Received: head={head}")
        scores = scores[int(head)][None]
    return scores.mean(axis=(0, 1)).reshape(height, width) * (height * width)


def attention_map(image, scores, grid_shape, ax=None, head=None, normalizer="percentile", colors=None,
                  levels=(2, 4, 8, 16, 32), title=None, channel_names=None, legend=True):
    """Where the attention goes: contours of the mean attention received, over the composite.

    Each position of the attended feature map covers a patch of the image (an 8x8 map over a
    64x64 image: 8x8-pixel patches). The map of `attention_received` (1 = uniform attention)
    is bilinearly upsampled to the image size and drawn as white contour lines at ``levels``
    times uniform attention (thicker = more), so the colours of the cell stay readable.

    Args:
        image: (H, W) or (H, W, C) array: the model's input (then ``normalizer=None``) or the
            raw image.
        scores: attention weights of this image, (heads, HW, HW) or (1, heads, HW, HW).
        grid_shape: (height, width) of the attended feature map.
        ax: optional axes to draw into.
        head: None (mean of the heads) or one head index.
        normalizer: display scaling of the composite (see `channel_composite`).
        colors: composite colours, one per channel.
        levels: contour levels in multiples of uniform attention; levels above the map's
            maximum are not drawn, and the x label says which were.
        title: axes title; default says which heads are shown.
        channel_names: channel names, for the legend of the composite's colours.
        legend: draw that legend below the axes (several channels only); False when many
            panels share one.

    Returns:
        The Figure.
    """
    image = as_hwc(image)
    received = attention_received(scores, grid_shape, head)
    upsampled = cv2.resize(received.astype(np.float32), (image.shape[1], image.shape[0]),
                           interpolation=cv2.INTER_LINEAR)
    peak = float(upsampled.max())
    drawn = sorted(float(level) for level in levels if level < peak)
    fig, ax = figure_and_axes(ax, (3.8, 4.0))
    ax.imshow(channel_composite(image, colors, normalizer), interpolation="nearest")
    if drawn:
        widths = np.linspace(0.8, 2.2, len(drawn))
        ax.contour(upsampled, levels=drawn, colors="white", linewidths=widths,
                   path_effects=[patheffects.withStroke(linewidth=widths.max() + 1.2, foreground="black")])
        shown = ", ".join(f"{level:g}x" for level in drawn)
        ax.set_xlabel(f"white lines: {shown} uniform attention\n(peak {received.max():.1f}x)", fontsize=8)
    else:
        ax.set_xlabel(f"attention nowhere reaches {min(levels):g}x uniform\n(peak {received.max():.1f}x)",
                      fontsize=8)
    bare_axes(ax)
    if legend and image.shape[-1] > 1:
        add_channel_legend(ax, channel_colors(image.shape[-1], colors), channel_names, title=None,
                           bbox_to_anchor=(0.5, -0.16))
    heads = "mean of the heads" if head is None else f"head {head}"
    ax.set_title(title if title is not None else f"attention received ({heads})", fontsize=9)
    return fig


def _as_numpy(tensor):
    if hasattr(tensor, "numpy"):
        return np.asarray(tensor.numpy())
    return np.asarray(tensor)
