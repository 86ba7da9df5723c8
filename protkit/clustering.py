"""DCAEC clustering: latent features -> Gaussian mixture (k-means initialization) -> evaluation.

Labels are never used to fit anything here. When they exist, they serve evaluation only:
clusters are matched one-to-one to classes by the Hungarian algorithm (the matching that
maximizes agreement), then balanced accuracy and a confusion matrix are computed on the
matched labels. With more clusters than classes, the unmatched clusters count as wrong.

Example:
>>> import numpy as np
>>> y = np.array([0, 0, 1, 1, 2, 2])
>>> clusters = np.array([2, 2, 0, 0, 1, 1])
>>> match_clusters(y, clusters)["mapping"]
{0: 1, 1: 2, 2: 0}
"""

from __future__ import annotations

import numpy as np

UNMATCHED = -1


def fit_gmm(features, k, seed=0, covariance_type="full", n_init=3, standardize=True):
    """Fit a Gaussian mixture with k-means initialization; returns (model, assignments, scaler).

    Args:
        features: (N, d) latent vectors.
        k: number of clusters.
        seed: seeds k-means and the mixture.
        covariance_type: "full", "diag", "tied" or "spherical" (scikit-learn).
        n_init: initializations; the best likelihood wins.
        standardize: scale every feature to zero mean and unit variance first (latent
            dimensions can differ by orders of magnitude).

    Returns:
        (GaussianMixture, cluster index per item (N,), the fitted StandardScaler or None).
    """
    from sklearn.mixture import GaussianMixture
    from sklearn.preprocessing import StandardScaler

    features = np.asarray(features, dtype=np.float64)
    if features.ndim != 2 or len(features) < k:
        raise ValueError(f"features must be (N, d) with N >= k. Received: shape {features.shape}, k={k}")
    if not np.isfinite(features).all():
        raise ValueError("features contain NaN or inf (did the autoencoder diverge?)")
    scaler = StandardScaler().fit(features) if standardize else None
    scaled = scaler.transform(features) if scaler is not None else features
    gmm = GaussianMixture(n_components=int(k), covariance_type=covariance_type, init_params="kmeans",
                          n_init=int(n_init), random_state=seed, reg_covar=1e-4)
    assignments = gmm.fit_predict(scaled)
    return gmm, assignments, scaler


def match_clusters(y_true, clusters):
    """Match clusters to classes one-to-one, maximizing the number of agreeing items.

    Returns:
        dict: ``mapping`` {cluster: class} (unmatched clusters absent), ``y_pred`` (each
        item's matched class, -1 for an unmatched cluster), ``contingency`` (clusters x classes
        counts).
    """
    from scipy.optimize import linear_sum_assignment

    y_true, clusters = np.asarray(y_true, dtype=np.int64), np.asarray(clusters, dtype=np.int64)
    if y_true.shape != clusters.shape or y_true.ndim != 1:
        raise ValueError(f"y_true and clusters must be (N,) arrays of one length. Received: {y_true.shape}, "
                         f"{clusters.shape}")
    n_clusters, n_classes = int(clusters.max()) + 1, int(y_true.max()) + 1
    contingency = np.zeros((n_clusters, n_classes), dtype=np.int64)
    np.add.at(contingency, (clusters, y_true), 1)
    rows, cols = linear_sum_assignment(contingency, maximize=True)
    mapping = {int(r): int(c) for r, c in zip(rows, cols)}
    lookup = np.full(n_clusters, UNMATCHED, dtype=np.int64)
    for cluster, label in mapping.items():
        lookup[cluster] = label
    return {"mapping": mapping, "y_pred": lookup[clusters], "contingency": contingency}


def cluster_scores(y_true, clusters, class_names=None):
    """Balanced accuracy, accuracy and confusion matrix after Hungarian matching, plus ARI / NMI.

    Balanced accuracy is the mean per-class recall; items in unmatched clusters count as wrong.
    Adjusted Rand index and normalized mutual information need no matching.
    """
    from sklearn.metrics import adjusted_rand_score, normalized_mutual_info_score

    from protkit.metrics import confusion_matrix

    y_true = np.asarray(y_true, dtype=np.int64)
    matched = match_clusters(y_true, clusters)
    y_pred = matched["y_pred"]
    n_classes = int(y_true.max()) + 1 if class_names is None else len(class_names)
    recalls = [float((y_pred[y_true == c] == c).mean()) for c in range(n_classes) if (y_true == c).any()]
    names = class_names or [str(c) for c in range(n_classes)]
    valid = y_pred != UNMATCHED
    matrix = confusion_matrix(y_true[valid], y_pred[valid], n_classes) if valid.any() else \
        np.zeros((n_classes, n_classes), np.int64)
    return {
        "balanced_accuracy": float(np.mean(recalls)),
        "accuracy": float((y_pred == y_true).mean()),
        "per_class_recall": {names[c]: float((y_pred[y_true == c] == c).mean())
                             for c in range(n_classes) if (y_true == c).any()},
        "adjusted_rand_index": float(adjusted_rand_score(y_true, clusters)),
        "normalized_mutual_information": float(normalized_mutual_info_score(y_true, clusters)),
        "mapping": {int(k): names[v] for k, v in matched["mapping"].items()},
        "unmatched_items": int((~valid).sum()),
        "confusion_matrix": np.asarray(matrix).tolist(),
    }


def tsne(features, seed=0, perplexity=30.0, max_items=5000):
    """A 2D t-SNE embedding of the latents (standardized first); at most ``max_items`` (seeded sample).

    Returns:
        (embedding (M, 2), indices of the embedded items).
    """
    from sklearn.manifold import TSNE
    from sklearn.preprocessing import StandardScaler

    features = np.asarray(features, dtype=np.float64)
    indices = np.arange(len(features))
    if len(features) > max_items:
        indices = np.sort(np.random.default_rng(seed).choice(len(features), max_items, replace=False))
    scaled = StandardScaler().fit_transform(features[indices])
    perplexity = min(float(perplexity), max(2.0, (len(indices) - 1) / 3))
    embedding = TSNE(n_components=2, perplexity=perplexity, init="pca", random_state=seed).fit_transform(scaled)
    return embedding, indices
