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

import os
from typing import NamedTuple

import numpy as np
import pandas as pd
from scipy.optimize import linear_sum_assignment
from sklearn.manifold import TSNE
from sklearn.metrics import adjusted_rand_score, normalized_mutual_info_score
from sklearn.mixture import GaussianMixture
from sklearn.preprocessing import StandardScaler

from protkit import plots
from protkit.metrics import confusion_matrix
from protkit.results import ClusterResult
from protkit.runs import RunFolder, atomic_path
from protkit.vocabulary import SINGLE_LABEL

UNMATCHED = -1
REFINEMENTS = ("none", "idec")
ENCODERS = ("autoencoder", "contrastive")
DEFAULT_EPOCHS = {"autoencoder": 30, "contrastive": 100}


class MixtureFit(NamedTuple):
    """What `fit_gmm` returns (unpacks as ``gmm, assignments, scaler``)."""

    gmm: object
    assignments: np.ndarray
    scaler: object


def fit_gmm(features, k, seed=0, covariance_type="full", n_init=3, standardize=True, start=None):
    """Fit a Gaussian mixture with k-means initialization; returns a `MixtureFit`.

    Args:
        features: (N, d) latent vectors.
        k: number of clusters.
        seed: seeds k-means and the mixture.
        covariance_type: "full", "diag", "tied" or "spherical" (scikit-learn).
        n_init: initializations; the best likelihood wins.
        standardize: scale every feature to zero mean and unit variance first (latent
            dimensions can differ by orders of magnitude).
        start: None (k-means initialization), or (N,) cluster indices to start from (e.g.
            IDEC's): the mixture starts at their means and covariances.

    Returns:
        `MixtureFit`: the GaussianMixture, the cluster index per item (N,), the fitted
        StandardScaler or None.
    """
    features = np.asarray(features, dtype=np.float64)
    if features.ndim != 2 or len(features) < k:
        raise ValueError(f"features must be (N, d) with N >= k. Received: shape {features.shape}, k={k}")
    if not np.isfinite(features).all():
        raise ValueError("features contain NaN or inf (did the autoencoder diverge?)")
    scaler = StandardScaler().fit(features) if standardize else None
    scaled = scaler.transform(features) if scaler is not None else features
    if start is None:
        gmm = GaussianMixture(n_components=int(k), covariance_type=covariance_type, init_params="kmeans",
                              n_init=int(n_init), random_state=seed, reg_covar=1e-4)
    else:
        start = np.asarray(start)
        present = [c for c in range(int(k)) if (start == c).any()]
        if len(present) < k:
            raise ValueError(f"start holds {len(present)} of the {k} clusters; every cluster needs an item")
        responsibilities = np.eye(int(k))[start]
        weights = responsibilities.mean(axis=0)
        means = responsibilities.T @ scaled / responsibilities.sum(axis=0)[:, None]
        gmm = GaussianMixture(n_components=int(k), covariance_type=covariance_type, weights_init=weights,
                              means_init=means, random_state=seed, reg_covar=1e-4)
    assignments = gmm.fit_predict(scaled)
    return MixtureFit(gmm, assignments, scaler)


def target_distribution(q):
    """DEC's sharpened targets from soft assignments ``q`` (N, k): p_ij proportional to
    q_ij^2 / sum_i q_ij, rows summing to 1. Confident assignments gain weight; large clusters
    lose some, so no cluster swallows the others."""
    q = np.asarray(q, dtype=np.float64)
    weight = q ** 2 / q.sum(axis=0)
    return (weight / weight.sum(axis=1, keepdims=True)).astype(np.float32)


class IdecFit(NamedTuple):
    """What `idec_refine` returns."""

    assignments: np.ndarray
    soft_assignments: np.ndarray
    centres: np.ndarray
    history: dict


def idec_refine(autoencoder, images, k, *, gamma=0.1, epochs=20, batch_size=64, learning_rate=1e-4, tol=0.001,
                seed=0, verbose=0):
    """IDEC: fine-tune a trained autoencoder so that its latents form ``k`` clusters.

    The loss is the reconstruction error plus ``gamma`` times KL(P || Q), Q the Student's t
    soft assignment of each latent to learnable centres (`protkit.layers.SoftAssignment`,
    started at k-means of the latents) and P the sharpened target (`target_distribution`),
    recomputed from all items before every epoch. Keeping the reconstruction term (IDEC, not
    DEC) keeps the latents faithful to the images. Training stops early when fewer than
    ``tol`` of the items changed cluster in an epoch. The autoencoder is updated in place.

    Args:
        autoencoder: a `protkit.models.autoencoder.dcae` (trained).
        images: (N, H, W, C) float32, prepared as for the autoencoder.
        k: number of clusters.
        gamma: weight of the clustering loss.
        epochs, batch_size, learning_rate: Adam; one target update per epoch.
        tol: the share of changed assignments below which training stops.
        seed: seeds k-means and the shuffling.

    Returns:
        `IdecFit`: hard and soft assignments after the last epoch, the centres, and a history
        with ``changed`` (share of items that changed cluster before each epoch) and
        ``clustering_loss`` (KL(P || Q) per epoch).
    """
    import keras
    from sklearn.cluster import KMeans

    from protkit.layers import SoftAssignment
    from protkit.models.autoencoder import encoder_of

    images = np.asarray(images, dtype=np.float32)
    encoder, decoder = encoder_of(autoencoder), autoencoder.get_layer("decoder")
    latents = encoder.predict(images, batch_size=256, verbose=0)
    centres = KMeans(int(k), n_init=10, random_state=seed).fit(latents).cluster_centers_
    inputs = keras.Input(images.shape[1:])
    code = encoder(inputs)
    assign = SoftAssignment(int(k), name="soft_assignment")
    model = keras.Model(inputs, [decoder(code), assign(code)], name="idec")
    assign.centres.assign(centres.astype(np.float32))
    model.compile(optimizer=keras.optimizers.Adam(learning_rate), loss=["mse", keras.losses.KLDivergence()],
                  loss_weights=[1.0, float(gamma)])
    keras.utils.set_random_seed(seed)
    history, previous = {"changed": [], "clustering_loss": []}, None
    for _ in range(int(epochs)):
        q = model.predict(images, batch_size=256, verbose=0)[1]
        labels = q.argmax(axis=1)
        changed = 1.0 if previous is None else float((labels != previous).mean())
        history["changed"].append(changed)
        if previous is not None and changed < tol:
            break
        previous = labels
        fitted = model.fit(images, [images, target_distribution(q)], batch_size=batch_size, epochs=1, shuffle=True,
                           verbose=verbose)
        losses = fitted.history
        history["clustering_loss"].append(float(next(v[-1] for name, v in losses.items() if "soft_assignment" in name)))
    q = model.predict(images, batch_size=256, verbose=0)[1]
    return IdecFit(q.argmax(axis=1), q, keras.ops.convert_to_numpy(assign.centres), history)


def match_clusters(y_true, clusters):
    """Match clusters to classes one-to-one, maximizing the number of agreeing items.

    Returns:
        dict: ``mapping`` {cluster: class} (unmatched clusters absent), ``y_pred`` (each
        item's matched class, -1 for an unmatched cluster), ``contingency`` (clusters x classes
        counts).
    """
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
    y_true = np.asarray(y_true, dtype=np.int64)
    matched = match_clusters(y_true, clusters)
    y_pred = matched["y_pred"]
    n_classes = int(y_true.max()) + 1 if class_names is None else len(class_names)
    recalls = [float((y_pred[y_true == c] == c).mean()) for c in range(n_classes) if (y_true == c).any()]
    names = class_names or [str(c) for c in range(n_classes)]
    valid = y_pred != UNMATCHED
    matrix = confusion_matrix(y_true[valid], y_pred[valid], n_classes) if valid.any() else \
        np.zeros((n_classes, n_classes), np.int64)
    majority = many_to_one(y_true, clusters)
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
        "many_to_one_balanced_accuracy": float(np.mean([(majority["y_pred"][y_true == c] == c).mean()
                                                        for c in range(n_classes) if (y_true == c).any()])),
        "many_to_one_mapping": {int(k): names[v] for k, v in majority["mapping"].items()},
    }


def many_to_one(y_true, clusters):
    """Each cluster given its majority class (several clusters may share one; for k > classes).

    Returns:
        dict: ``mapping`` {cluster: class}, ``y_pred`` (each item's cluster's class).
    """
    y_true, clusters = np.asarray(y_true, dtype=np.int64), np.asarray(clusters, dtype=np.int64)
    contingency = np.zeros((int(clusters.max()) + 1, int(y_true.max()) + 1), dtype=np.int64)
    np.add.at(contingency, (clusters, y_true), 1)
    mapping = {int(c): int(contingency[c].argmax()) for c in np.unique(clusters)}
    lookup = np.full(len(contingency), UNMATCHED, dtype=np.int64)
    for cluster, label in mapping.items():
        lookup[cluster] = label
    return {"mapping": mapping, "y_pred": lookup[clusters]}


def coarser_labels(labels, class_names, label_map):
    """Labels of coarser groups: ``label_map`` {class name: group name}; classes it leaves out keep their name.

    Returns:
        (labels (N,) as group indices, group names in first-seen class order).

    Raises:
        ValueError: naming a key of ``label_map`` that is not a class.
    """
    unknown = sorted(set(label_map) - set(class_names))
    if unknown:
        raise ValueError(f"label_map names {unknown}, which are not classes; the classes are {list(class_names)}")
    groups = [label_map.get(name, name) for name in class_names]
    names = list(dict.fromkeys(groups))
    lookup = np.array([names.index(group) for group in groups], dtype=np.int64)
    return lookup[np.asarray(labels, dtype=np.int64)], names


def k_selection(features, ks, seed=0, max_items=5000):
    """How many clusters: BIC (lower is better) and silhouette (higher is better) of a mixture for each k.

    The mixture is `fit_gmm`'s (standardized features, k-means initialization); the silhouette
    is computed on the standardized features of at most ``max_items`` items (a seeded sample).

    Returns:
        pandas.DataFrame with columns k, bic, silhouette (one row per k, in order).
    """
    from sklearn.metrics import silhouette_score

    features = np.asarray(features, dtype=np.float64)
    rows = []
    for k in ks:
        gmm, assignments, scaler = fit_gmm(features, int(k), seed=seed)
        scaled = scaler.transform(features)
        silhouette = (float(silhouette_score(scaled, assignments, sample_size=min(max_items, len(scaled)),
                                             random_state=seed)) if len(np.unique(assignments)) > 1 else float("nan"))
        rows.append({"k": int(k), "bic": float(gmm.bic(scaled)), "silhouette": silhouette})
    return pd.DataFrame(rows)


def tsne(features, seed=0, perplexity=30.0, max_items=5000):
    """A 2D t-SNE embedding of the latents (standardized first); at most ``max_items`` (seeded sample).

    Returns:
        (embedding (M, 2), indices of the embedded items).
    """
    features = np.asarray(features, dtype=np.float64)
    indices = np.arange(len(features))
    if len(features) > max_items:
        indices = np.sort(np.random.default_rng(seed).choice(len(features), max_items, replace=False))
    scaled = StandardScaler().fit_transform(features[indices])
    perplexity = min(float(perplexity), max(2.0, (len(indices) - 1) / 3))
    embedding = TSNE(n_components=2, perplexity=perplexity, init="pca", random_state=seed).fit_transform(scaled)
    return embedding, indices


def save_gmm(path, gmm, scaler=None):
    """Store a fitted GaussianMixture (and its StandardScaler) as plain arrays in an .npz file (no pickle)."""
    arrays = {"weights": gmm.weights_, "means": gmm.means_, "covariances": gmm.covariances_,
              "precisions_cholesky": gmm.precisions_cholesky_,
              "covariance_type": np.array(gmm.covariance_type)}
    if scaler is not None:
        arrays.update(scaler_mean=scaler.mean_, scaler_scale=scaler.scale_)
    with atomic_path(path) as temporary:
        np.savez(temporary, **arrays)


def load_gmm(path):
    """(GaussianMixture, StandardScaler or None) from `save_gmm`'s file; ready for ``predict``."""
    with np.load(path, allow_pickle=False) as stored:
        gmm = GaussianMixture(n_components=len(stored["weights"]), covariance_type=str(stored["covariance_type"]))
        gmm.weights_, gmm.means_ = stored["weights"], stored["means"]
        gmm.covariances_, gmm.precisions_cholesky_ = stored["covariances"], stored["precisions_cholesky"]
        gmm.converged_, gmm.n_iter_, gmm.lower_bound_ = True, 0, -np.inf
        scaler = None
        if "scaler_mean" in stored:
            scaler = StandardScaler()
            scaler.mean_, scaler.scale_ = stored["scaler_mean"], stored["scaler_scale"]
            scaler.var_, scaler.n_features_in_ = stored["scaler_scale"] ** 2, len(stored["scaler_mean"])
    return gmm, scaler


def cluster_dataset(dataset, k, *, out=None, overwrite=False, image_size=None, latent_dim=32, filters=(32, 64, 128),
                    epochs=None, batch_size=64, normalization="percentile", seed=0, verbose="auto", tsne_items=3000,
                    label_map=None, k_range=None, views="none", refine="none", gamma=0.1, refine_epochs=20,
                    encoder="autoencoder", temperature=None):
    """DCAEC end to end: train a DCAE on every item (labels unused), cluster its latents, report.

    Args:
        dataset: images, labelled or not; labels, when present, are used for evaluation only.
        k: number of clusters.
        out: a folder for ``autoencoder.keras``, ``gmm.npz``, ``assignments.csv`` (id, path,
            cluster, one probability column per cluster, label if known), ``config.json``,
            ``metrics.json`` (with labels) and figures; refused if not empty unless ``overwrite``.
        image_size: square size for the autoencoder; default the first item's size rounded
            down to a multiple of ``2 ** len(filters)``.
        latent_dim, filters, epochs, batch_size: the encoder's training (epochs default to
            ``DEFAULT_EPOCHS[encoder]``: 30 for the autoencoder, 100 for the contrastive encoder).
        normalization: "percentile" (per image: shape), "dataset" (per channel over the data:
            keeps absolute intensity such as DNA content) or "fixed".
        seed: seeds everything.
        tsne_items: items in the t-SNE figures (a seeded sample); 0 skips them.
        label_map: {class name: group name} to score against coarser groups as well (e.g. the
            mitotic phases as one group); the scores then hold ``groups`` (`cluster_scores`
            against them, with the map).
        k_range: ks for `k_selection` (BIC and silhouette over k, on the same latents; written
            as ``k_selection.csv`` and ``k_selection.png``); None skips it.
        views: "none", or a view set of `protkit.views` ("dihedral", "flips"): each latent is
            the mean over the cell's rotated and mirrored views, so a turned cell gets the
            latent (and the cluster) of the cell itself.
        refine: "none", or "idec": after the autoencoder, fine-tune it with a clustering loss
            (`idec_refine`, weight ``gamma``, up to ``refine_epochs`` target updates) and start
            the mixture from IDEC's clusters. Needs ``encoder="autoencoder"``.
        encoder: "autoencoder" (DCAEC: a DCAE trained to reconstruct the items) or
            "contrastive" (the same encoder trained without a decoder, to tell which two
            augmented views come from one cell, `protkit.contrastive.train_contrastive`; its
            ``temperature`` defaults to `protkit.contrastive.TEMPERATURE`).

    Returns:
        `protkit.results.ClusterResult` (also readable by key, as the dict it used to be).
    """
    # lazy: matching and scores need no TensorFlow
    from protkit.data import load_images
    from protkit.unsupervised import latent_features, train_autoencoder
    from protkit.views import check_views

    if len(dataset) < k:
        raise ValueError(f"cannot make {k} clusters from {len(dataset)} items")
    folder = None if out is None else RunFolder.open(out, overwrite=overwrite)
    if image_size is None:
        step = 2 ** len(filters)
        first = dataset.read(0).shape[:2]
        image_size = max(step, (min(first) // step) * step)
    if refine not in REFINEMENTS:
        raise ValueError(f"refine must be one of {REFINEMENTS}. Received: refine={refine!r}")
    if encoder not in ENCODERS:
        raise ValueError(f"encoder must be one of {ENCODERS}. Received: encoder={encoder!r}")
    if encoder == "contrastive" and refine != "none":
        raise ValueError("refine='idec' fine-tunes an autoencoder's reconstruction; it needs encoder='autoencoder'")
    check_views(views)
    epochs = DEFAULT_EPOCHS[encoder] if epochs is None else int(epochs)
    if encoder == "contrastive":
        from protkit.contrastive import TEMPERATURE, train_contrastive

        temperature = TEMPERATURE if temperature is None else float(temperature)
        ae = train_contrastive(dataset, image_size=image_size, latent_dim=latent_dim, filters=filters, epochs=epochs,
                               batch_size=max(batch_size, 2), normalization=normalization, temperature=temperature,
                               seed=seed, verbose=verbose)
    else:
        ae = train_autoencoder(dataset, image_size=image_size, latent_dim=latent_dim, filters=filters, epochs=epochs,
                               batch_size=batch_size, normalization=normalization, seed=seed, verbose=verbose)
    refined = None
    if refine == "idec":
        images = load_images(dataset, image_size=ae.image_size, normalizer=ae.normalizer)
        refined = idec_refine(ae.model, images, k, gamma=gamma, epochs=refine_epochs, batch_size=batch_size, seed=seed,
                              verbose=0)
        del images
    features = latent_features(ae.encoder, dataset, image_size=ae.image_size, normalizer=ae.normalizer, views=views,
                               average_views=True)
    gmm, assignments, scaler = fit_gmm(features, k, seed=seed,
                                       start=None if refined is None else refined.assignments)
    probabilities = gmm.predict_proba(scaler.transform(features))
    labelled = dataset.task == SINGLE_LABEL
    scores = cluster_scores(dataset.labels, assignments, class_names=dataset.class_names) if labelled else None
    if scores is not None and label_map:
        grouped, names = coarser_labels(dataset.labels, dataset.class_names, label_map)
        scores["groups"] = dict(cluster_scores(grouped, assignments, class_names=names), label_map=dict(label_map))
    selection = None if not k_range else k_selection(features, k_range, seed=seed)
    result = ClusterResult(assignments, probabilities, features, scores, ae, gmm,
                           None if folder is None else folder.path, selection)
    if folder is not None:
        write_cluster_run(folder, dataset, result, k, scaler, dict(
            k=int(k), image_size=list(ae.image_size), latent_dim=int(latent_dim), filters=list(filters),
            epochs=int(epochs), normalization=ae.normalizer.get_config(), seed=int(seed), data=dataset.source,
            encoder=encoder, temperature=temperature if encoder == "contrastive" else None,
            view_agreement=None if encoder != "contrastive" else {
                "positive": ae.positive_similarity, "negative": ae.negative_similarity},
            views=views, refine=refine, gamma=float(gamma) if refine != "none" else None,
            refine_history=None if refined is None else refined.history,
            channel_names=list(dataset.channel_names or []), items=len(dataset),
            autoencoder_val_mse=ae.val_mse, mean_image_val_mse=ae.baseline_mse), tsne_items)
    return result


def write_cluster_run(folder, dataset, result, k, scaler, config, tsne_items):
    """Write a cluster run's files into ``folder`` (a `protkit.runs.RunFolder`): the autoencoder,
    the mixture, ``assignments.csv``, ``config.json``, metrics and figures (see `cluster_dataset`)."""


    out = folder.path
    if config.get("encoder", "autoencoder") == "contrastive":  # the projection head is not needed again
        folder.save_model("encoder.keras", result.autoencoder.encoder)
    else:
        folder.save_model("autoencoder.keras", result.autoencoder.model)
    save_gmm(out / "gmm.npz", result.gmm, scaler)
    table = pd.DataFrame({"id": dataset.ids,
                          "path": [os.pathsep.join(item) for item in dataset.items] if dataset.items else "",
                          "cluster": result.assignments})
    for c in range(k):
        table[f"prob_cluster_{c}"] = np.round(result.probabilities[:, c], 6)
    if dataset.task == SINGLE_LABEL:
        table["label"] = [dataset.class_names[i] for i in dataset.labels]
    folder.write_table("assignments.csv", table, index=False)
    folder.write_json("config.json", config)
    if result.scores is not None:
        selection = None if result.k_selection is None else result.k_selection.to_dict(orient="records")
        folder.write_json("metrics.json", dict(result.scores, k_selection=selection, protocol={
            "labels": "used for evaluation only: clusters matched one-to-one to classes (Hungarian algorithm) "
                      "after fitting",
            "balanced_accuracy": "mean per-class recall of the matched clusters; unmatched clusters count as wrong",
            "many_to_one_balanced_accuracy": "each cluster given its majority class (clusters may share one)",
            "fit": f"{config.get('encoder', 'autoencoder')} and Gaussian mixture fitted on every item, "
                   "without labels"}))
        figure = plots.confusion_matrix(np.asarray(result.scores["confusion_matrix"]), dataset.class_names)
        plots.save(figure, out / "confusion_matrix.png", overwrite=True, close=True)
    if result.k_selection is not None:
        folder.write_table("k_selection.csv", result.k_selection, index=False)
        plots.save(plots.k_selection(result.k_selection, chosen=k), out / "k_selection.png", overwrite=True, close=True)
    if tsne_items:
        embedding, kept = tsne(result.features, seed=config["seed"], max_items=tsne_items)
        figure = plots.embedding_scatter(embedding, result.assignments[kept], title="t-SNE of latents: clusters",
                                         legend_title="cluster")
        plots.save(figure, out / "tsne_clusters.png", overwrite=True, close=True)
        if dataset.task == SINGLE_LABEL:
            names = np.asarray(dataset.class_names)[dataset.labels[kept]]
            figure = plots.embedding_scatter(embedding, names, title="t-SNE of latents: known labels",
                                             legend_title="label")
            plots.save(figure, out / "tsne_labels.png", overwrite=True, close=True)


def is_cluster_run(run_dir):
    """Whether ``run_dir`` is a finished `cluster_dataset` folder (its autoencoder or encoder, mixture, config)."""
    import pathlib

    run_dir = pathlib.Path(run_dir)
    return (all((run_dir / name).is_file() for name in ("gmm.npz", "config.json"))
            and any((run_dir / name).is_file() for name in ("autoencoder.keras", "encoder.keras")))


def assign_clusters(run_dir, dataset, out_csv=None, overwrite=False, batch_size=128):
    """Assign new items to a cluster run's clusters: its encoder, normalization and Gaussian mixture, unchanged.

    Nothing is refitted: the items are prepared as the run's were (image size, normalization),
    encoded by its frozen encoder, standardized with its scaler and given the mixture's
    posterior probabilities; the cluster is the most probable one. Assigning the run's own
    items again gives its ``assignments.csv`` clusters.

    Args:
        run_dir: a `cluster_dataset` output folder.
        dataset: the items (labels, if any, are copied into a ``label`` column, not used).
        out_csv: where to write id, path, cluster and one ``prob_cluster_<c>`` column per cluster
            (None: nothing is written); refused if it exists unless ``overwrite``.
        batch_size: images per encoder batch.

    Returns:
        pandas.DataFrame with those columns.

    Raises:
        ValueError: when the items' channel count is not the run's.
    """
    import json
    import pathlib

    import keras

    from protkit.data import Normalizer
    from protkit.models.autoencoder import encoder_of
    from protkit.runs import check_output_file
    from protkit.unsupervised import latent_features

    run_dir = pathlib.Path(run_dir)
    if not is_cluster_run(run_dir):
        raise FileNotFoundError(f"{run_dir}: not a finished cluster run (autoencoder.keras or encoder.keras, gmm.npz, "
                                f"config.json)")
    if out_csv is not None:
        check_output_file(out_csv, overwrite)  # before any work
    config = json.loads((run_dir / "config.json").read_text())
    if config.get("encoder", "autoencoder") == "contrastive":
        encoder = keras.saving.load_model(run_dir / "encoder.keras", safe_mode=True)
    else:
        encoder = encoder_of(keras.saving.load_model(run_dir / "autoencoder.keras", safe_mode=True))
    expected = encoder.input_shape[-1]
    channels = dataset.read(0).shape[-1] if len(dataset) else expected
    if channels != expected:
        names = ", ".join(config.get("channel_names") or [])
        raise ValueError(f"the cluster run was fitted on {expected} channel(s){f' ({names})' if names else ''}; "
                         f"the items have {channels}")
    gmm, scaler = load_gmm(run_dir / "gmm.npz")
    features = latent_features(encoder, dataset, image_size=tuple(config["image_size"]),
                               normalizer=Normalizer.from_config(config["normalization"]), batch_size=batch_size,
                               views=config.get("views", "none"), average_views=True)
    probabilities = gmm.predict_proba(features if scaler is None else scaler.transform(features))
    table = pd.DataFrame({"id": dataset.ids,
                          "path": [os.pathsep.join(item) for item in dataset.items] if dataset.items else "",
                          "cluster": probabilities.argmax(axis=1)})
    for c in range(probabilities.shape[1]):
        table[f"prob_cluster_{c}"] = np.round(probabilities[:, c], 6)
    if dataset.task == SINGLE_LABEL:
        table["label"] = [dataset.class_names[i] for i in dataset.labels]
    if out_csv is not None:
        with atomic_path(out_csv) as temporary:
            table.to_csv(temporary, index=False)
    return table
