"""Unsupervised results and explanations: latent embeddings, Grad-CAM overlays and masks."""

from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np

from protkit.plots._common import bare_axes
from protkit.plots.images import channel_composite


def embedding_scatter(embedding, groups, ax=None, title=None, legend_title=None, max_legend=20):
    """A 2D embedding (t-SNE) coloured by group (cluster index or class name).

    Args:
        embedding: (N, 2) coordinates.
        groups: (N,) group of each point.
        ax: optional axes.
        title, legend_title: texts.
        max_legend: more groups than this get no legend.

    Returns:
        The Figure.
    """
    embedding, groups = np.asarray(embedding), np.asarray(groups)
    if embedding.ndim != 2 or embedding.shape[1] != 2 or len(embedding) != len(groups):
        raise ValueError(f"embedding must be (N, 2) with one group per point. Received: {embedding.shape}, "
                         f"{groups.shape}")
    fig, ax = (ax.figure, ax) if ax is not None else plt.subplots(figsize=(5.5, 4.5), layout="constrained")
    names = list(dict.fromkeys(sorted(groups.tolist())))
    cmap = plt.get_cmap("tab20" if len(names) > 10 else "tab10")
    for i, name in enumerate(names):
        chosen = groups == name
        ax.scatter(embedding[chosen, 0], embedding[chosen, 1], s=6, alpha=0.7, color=cmap(i % cmap.N),
                   label=f"{name} ({int(chosen.sum())})")
    if len(names) <= max_legend:
        ax.legend(title=legend_title, fontsize=7, markerscale=2, loc="best", frameon=False)
    ax.set_xticks([])
    ax.set_yticks([])
    ax.set_title(title or f"{len(groups)} items", fontsize=10)
    return fig


def heatmap_overlays(images, heatmaps, masks=None, titles=None, colors=None, normalizer="percentile", alpha=0.45):
    """Rows of (image, heatmap over the image[, mask]) for a few images.

    Args:
        images: (N, H, W, C) images.
        heatmaps: (N, H, W) in [0, 1] (e.g. `protkit.explain.grad_cam`).
        masks: optional (N, H, W) or (N, H, W, 1) binary masks.
        titles: optional N row titles.
        colors: channel colours of the composites.
        normalizer: display scaling of the images (None: already in [0, 1]).
        alpha: opacity of the heatmap.

    Returns:
        The Figure, N rows x 2 or 3 columns.
    """
    images, heatmaps = np.asarray(images), np.asarray(heatmaps)
    if len(images) != len(heatmaps) or heatmaps.shape[1:3] != images.shape[1:3]:
        raise ValueError(f"one (H, W) heatmap per image. Received: images {images.shape}, heatmaps {heatmaps.shape}")
    columns = 3 if masks is not None else 2
    rows = len(images)
    fig, axes = plt.subplots(rows, columns, figsize=(2.2 * columns, 2.2 * rows), squeeze=False, layout="constrained")
    for i in range(rows):
        composite = channel_composite(images[i], colors=colors, normalizer=normalizer)
        axes[i, 0].imshow(composite)
        axes[i, 1].imshow(composite)
        axes[i, 1].imshow(heatmaps[i], cmap="inferno", alpha=alpha, vmin=0, vmax=1)
        if masks is not None:
            axes[i, 2].imshow(np.asarray(masks[i]).squeeze(), cmap="gray", vmin=0, vmax=1)
        for ax in axes[i]:
            bare_axes(ax)
        axes[i, 0].set_ylabel(titles[i] if titles is not None else "", fontsize=8)
    for ax, text in zip(axes[0], ("image", "Grad-CAM", "mask")):
        ax.set_title(text, fontsize=9)
    return fig


def reconstructions(originals, reconstructed, n=6, colors=None, normalizer=None):
    """Originals (top row) above their autoencoder reconstructions (bottom row).

    Args:
        originals, reconstructed: (N, H, W, C) arrays, as the autoencoder saw and produced them.
        n: columns (the first n items).
        colors: channel colours of the composites.
        normalizer: display scaling (None: values already in about [0, 1], as the autoencoder sees them).

    Returns:
        The Figure, 2 rows x n columns; each column title gives that item's mean squared error.
    """
    originals, reconstructed = np.asarray(originals), np.asarray(reconstructed)
    if originals.shape != reconstructed.shape:
        raise ValueError(f"originals and reconstructions differ in shape: {originals.shape} vs {reconstructed.shape}")
    n = min(int(n), len(originals))
    fig, axes = plt.subplots(2, n, figsize=(1.9 * n, 4.0), squeeze=False, layout="constrained")
    for i in range(n):
        error = float(((originals[i] - reconstructed[i]) ** 2).mean())
        for row, image in enumerate((originals[i], np.clip(reconstructed[i], 0, 1))):
            axes[row, i].imshow(channel_composite(image, colors=colors, normalizer=normalizer))
            bare_axes(axes[row, i])
        axes[0, i].set_title(f"MSE {error:.4f}", fontsize=8)
    axes[0, 0].set_ylabel("original", fontsize=9)
    axes[1, 0].set_ylabel("reconstruction", fontsize=9)
    return fig
