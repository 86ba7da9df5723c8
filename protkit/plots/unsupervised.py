"""Unsupervised results: latent embeddings and autoencoder reconstructions."""

from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np

from protkit.plots._common import add_channel_legend, bare_axes, channel_colors
from protkit.plots.images import channel_composite


def embedding_scatter(embedding, groups, ax=None, title=None, legend_title=None, max_legend=20,
                      axis_labels=("t-SNE 1", "t-SNE 2")):
    """A 2D embedding (t-SNE) coloured by group (cluster index or class name).

    Args:
        embedding: (N, 2) coordinates.
        groups: (N,) group of each point.
        ax: optional axes.
        title, legend_title: texts.
        max_legend: more groups than this get no legend (the title says how many there are).
        axis_labels: the two axis labels (t-SNE axes have no units: only neighbourhoods count).

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
    ax.set_xlabel(axis_labels[0])
    ax.set_ylabel(axis_labels[1])
    unlisted = "" if len(names) <= max_legend else f", {len(names)} groups (too many for a legend)"
    ax.set_title((title or f"{len(groups)} items") + unlisted, fontsize=10)
    return fig


def reconstructions(originals, reconstructed, n=6, colors=None, normalizer=None, channel_names=None, title=None):
    """Originals (top row) above their autoencoder reconstructions (bottom row).

    Args:
        originals, reconstructed: (N, H, W, C) arrays, as the autoencoder saw and produced them.
        n: columns (the first n items).
        colors: channel colours of the composites (explained in a legend with several channels).
        normalizer: display scaling (None: values already in about [0, 1], as the autoencoder sees them).
        channel_names: channel names for the legend.
        title: figure title; default gives the mean squared error of the items shown.

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
    if originals.shape[-1] > 1:
        add_channel_legend(fig, channel_colors(originals.shape[-1], colors), channel_names)
    mean = float(((originals[:n] - reconstructed[:n]) ** 2).mean())
    fig.suptitle(title or f"Autoencoder reconstructions (mean squared error {mean:.4f} over the {n} shown)",
                 fontsize=10)
    return fig


def k_selection(table, chosen=None, title="How many clusters?"):
    """BIC and silhouette of the Gaussian mixture against k, side by side (`protkit.clustering.k_selection`).

    Args:
        table: DataFrame with columns k, bic, silhouette.
        chosen: the k of the run, marked with a dashed line (None: no mark).
        title: the figure title.

    Returns:
        The Figure: BIC (lower is better) on the left, silhouette (higher is better) on the right.
    """
    fig, axes = plt.subplots(1, 2, figsize=(8.4, 3.4), layout="constrained")
    for ax, column, better in zip(axes, ("bic", "silhouette"), ("lower is better", "higher is better")):
        ax.plot(table["k"], table[column], "o-", color="#1f77b4", label=column if column == "silhouette" else "BIC")
        if chosen is not None:
            ax.axvline(chosen, ls="--", color="0.4", label=f"k of this run ({chosen})")
        ax.set(xlabel="number of clusters k", ylabel=f"{'BIC' if column == 'bic' else 'silhouette'} ({better})",
               title="Bayesian information criterion" if column == "bic" else "Silhouette of the clusters")
        ax.set_xticks(list(table["k"]))
        ax.legend(fontsize="small")
    fig.suptitle(title)
    return fig
