"""Figures of explanations: heatmaps over the cells, and the sanity checks of those heatmaps."""

from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np
from matplotlib.cm import ScalarMappable
from matplotlib.colors import Normalize

from protkit.plots._common import (
    add_channel_legend,
    bare_axes,
    channel_colors,
    channel_index,
    channel_label,
    channel_legend_labels,
    scaled_for_display,
)
from protkit.plots.images import channel_composite

HEAT_CMAP = "inferno"


def heatmap_overlays(images, heatmaps, masks=None, titles=None, colors=None, normalizer="percentile", alpha=0.5,
                     channel=None, channel_names=None, title=None, method="Grad-CAM"):
    """One row per image: its composite, the heatmap over it (or over one channel), the mask.

    Columns: the colour composite (its colours explained in a legend below the figure); with
    ``channel``, that channel alone in gray (e.g. the protein channel, when the labels are
    about where the protein is); the heatmap over that channel (or over the composite); the
    binary mask, if given. A colour bar gives the heatmap's scale.

    Args:
        images: (N, H, W, C) images.
        heatmaps: (N, H, W) in [0, 1] (e.g. `protkit.explain.grad_cam`).
        masks: optional (N, H, W) or (N, H, W, 1) binary masks.
        titles: optional N row labels (e.g. the true labels, the explained class and its
            predicted probability).
        colors: channel colours of the composites.
        normalizer: display scaling of the images (None: already in [0, 1]).
        alpha: opacity of the heatmap.
        channel: draw the heatmap over this channel (index, or name in ``channel_names``).
        channel_names: channel names, for the legend and ``channel`` by name; channels named by
            an HPA colour ("green") are explained in the legend ("protein of interest").
        title: figure title; default names the method.
        method: what made the heatmaps, for the titles and the colour bar.

    Returns:
        The Figure: N rows of 2-4 image axes, and the colour bar's axes.
    """
    images, heatmaps = np.asarray(images), np.asarray(heatmaps)
    if images.ndim != 4 or len(images) != len(heatmaps) or heatmaps.shape[1:3] != images.shape[1:3]:
        raise ValueError(f"one (H, W) heatmap per image. Received: images {images.shape}, heatmaps {heatmaps.shape}")
    channels = images.shape[-1]
    tints = channel_colors(channels, colors)
    index = None if channel is None else channel_index(channel, channel_names, channels)
    if index is None:
        headers = ["composite", f"{method} over the composite"]
    else:
        name = channel_label(index, channel_names)
        meaning = channel_legend_labels([tints[index]], [name])[0]
        headers = ["composite", f"{meaning}\n(gray)", f"{method} over {name}"]
    headers += [] if masks is None else ["mask"]
    rows, columns = len(images), len(headers)
    fig, axes = plt.subplots(rows, columns, figsize=(2.1 * columns + 1.9, 2.1 * rows + 1.0), squeeze=False,
                             layout="constrained")
    heat = columns - 1 - (masks is not None)
    for i in range(rows):
        composite = channel_composite(images[i], colors=tints, normalizer=normalizer)
        axes[i, 0].imshow(composite, interpolation="nearest")
        if index is None:
            background = composite
        else:
            background = scaled_for_display(images[i], normalizer)[..., index]
            axes[i, 1].imshow(background, cmap="gray", vmin=0, vmax=1, interpolation="nearest")
        axes[i, heat].imshow(background, cmap=None if index is None else "gray", vmin=0, vmax=1,
                             interpolation="nearest")
        axes[i, heat].imshow(heatmaps[i], cmap=HEAT_CMAP, alpha=alpha, vmin=0, vmax=1)
        if masks is not None:
            axes[i, -1].imshow(np.asarray(masks[i]).squeeze(), cmap="gray", vmin=0, vmax=1, interpolation="nearest")
        for ax in axes[i]:
            bare_axes(ax)
        if titles is not None:
            axes[i, 0].set_ylabel(titles[i], rotation=0, ha="right", va="center", fontsize=8)
    for ax, text in zip(axes[0], headers):
        ax.set_title(text, fontsize=9)
    fig.colorbar(ScalarMappable(Normalize(0, 1), cmap=HEAT_CMAP), ax=axes, shrink=0.8, aspect=25,
                 label=f"{method} relevance\n(0 = none, 1 = the image's maximum)")
    if channels > 1:
        add_channel_legend(fig, tints, channel_names)
    fig.suptitle(title or f"{method}: where the evidence for the class lies (bright = more)", fontsize=10)
    return fig


def sanity_checks(result, title=None):
    """The two sanity checks of `protkit.explain.sanity_checks`: deletion curves and rank correlations.

    Left: the mean class score while pixels are removed most-relevant first and in random
    order, with the areas under both curves. Right: per image, the Spearman correlation between
    the trained model's map and the maps of randomly initialized copies, with the pass mark.

    Args:
        result: the dict returned by `protkit.explain.sanity_checks`.
        title: figure title; default names the method, the layer and whether both checks pass.

    Returns:
        The Figure (two axes).
    """
    deletion, randomization = result["deletion"], result["randomization"]
    fig, (left, right) = plt.subplots(1, 2, figsize=(9.6, 3.9), layout="constrained")
    fractions = 100 * np.asarray(deletion["fractions"])
    left.plot(fractions, deletion["curve"], "-o", markersize=3, color="firebrick",
              label=f"most relevant first (area {deletion['auc']:.3f})")
    left.plot(fractions, deletion["random_curve"], "--", color="0.4",
              label=f"random order (area {deletion['random_auc']:.3f})")
    left.fill_between(fractions, deletion["curve"], deletion["random_curve"], color="firebrick", alpha=0.12)
    patch = deletion.get("patch", 1)
    unit = "pixels" if patch == 1 else f"{patch}x{patch}-pixel patches"
    left.set_xlabel(f"{unit} removed (%), replaced by the {_baseline_text(deletion['baseline'])}")
    left.set_ylabel("class score, mean over images")
    left.set_title(f"Deletion: area ratio {deletion['ratio']:.2f} (pass < {deletion['pass_ratio']:g}): "
                   f"{_verdict(deletion['passed'])}", fontsize=9)
    left.legend(fontsize=7)
    left.grid(alpha=0.3)
    rho = np.asarray(randomization["spearman"], dtype=float)
    shown = rho[np.isfinite(rho)]
    right.hist(shown, bins=np.linspace(-1, 1, 21), color="#6a9ec5", edgecolor="white",
               label=f"images ({len(shown)})")
    right.axvline(randomization["pass_mark"], color="black", linestyle=":",
                  label=f"pass mark {randomization['pass_mark']:g}")
    right.axvline(randomization["spearman_mean"], color="firebrick", label=f"mean {randomization['spearman_mean']:.2f}")
    right.set_xlim(-1, 1)
    right.set_xlabel("Spearman correlation, trained vs randomized model's map")
    right.set_ylabel("images")
    right.set_title(f"Model randomization: mean {randomization['spearman_mean']:.2f} "
                    f"(pass < {randomization['pass_mark']:g}): {_verdict(randomization['passed'])}", fontsize=9)
    right.legend(fontsize=7)
    right.grid(alpha=0.3)
    where = f" at layer {result['layer']!r} ({result['space']} space)" if result.get("layer") else ""
    fig.suptitle(title or f"Sanity checks of {result.get('method', 'the maps')}{where}, {len(rho)} images: "
                          f"{'both pass' if result['passed'] else 'do not trust these maps'}", fontsize=10)
    return fig


def _verdict(passed):
    return "passed" if passed else "FAILED"


def _baseline_text(baseline):
    if baseline == "mean":
        return "image mean"
    return "value 0" if baseline == "zero" else f"value {baseline:g}"
