"""The DCAEC cluster-explanation test: can a small CNN tell the clusters apart from Grad-CAM masks alone?"""

from __future__ import annotations

import numpy as np

from protkit.explain.maps import grad_cam


def threshold_masks(heatmaps, threshold=0.5):
    """Binary masks (N, H, W, 1) float32: 1 where the heatmap reaches ``threshold``."""
    if not 0.0 < float(threshold) < 1.0:
        raise ValueError(f"threshold must lie in (0, 1). Received: threshold={threshold}")
    return (np.asarray(heatmaps) >= threshold).astype(np.float32)[..., None]


def cluster_classifier(encoder, num_clusters, hidden=64, latents=None, name="cluster_classifier"):
    """The frozen encoder + two dense layers, predicting cluster indices (softmax).

    With ``latents`` (the encoder's outputs on the data), the latent vector is standardized
    with their mean and variance before the dense layers.

    The encoder's layers are copied, with their weights, into the new graph (not shared: a
    layer called in two graphs has two outputs), so Grad-CAM reaches its convolutions by name
    (e.g. ``enc_conv2``).
    """
    import keras

    inputs = keras.Input(encoder.input_shape[1:], name="images")
    x = inputs
    for layer in encoder.layers[1:]:
        copy = layer.__class__.from_config(layer.get_config())
        x = copy(x)
        copy.set_weights(layer.get_weights())
        copy.trainable = False
    if latents is not None:
        # Autoencoder latents can be tiny in scale: standardize them (statistics of ``latents``).
        norm = keras.layers.Normalization(name="latent_norm")
        norm.adapt(np.asarray(latents, np.float32))
        x = norm(x)
    x = keras.layers.Dense(hidden, activation="relu", name="cluster_hidden")(x)
    outputs = keras.layers.Dense(num_clusters, activation="softmax", name="cluster_probabilities")(x)
    return keras.Model(inputs, outputs, name=name)


def explain_clusters(encoder, images, clusters, *, epochs=20, threshold=0.5, folds=5, mask_epochs=10, seed=0,
                     layer=None, progress=False):
    """The DCAEC cluster-explanation test.

    Args:
        encoder: the trained encoder (a `dcae` encoder sub-model).
        images: (N, H, W, C) prepared as for the encoder.
        clusters: (N,) cluster index per image (from `protkit.clustering.fit_gmm`).
        epochs: epochs of the cluster classifier.
        threshold: heatmap level that makes a mask pixel.
        folds: k of the cross-validation of the mask classifier.
        mask_epochs: epochs of the mask CNN per fold.
        seed: seeds the classifier, folds and mask CNN.
        layer: Grad-CAM layer (default the encoder's last convolution).

    Returns:
        dict: ``classifier_accuracy`` (on the images it was trained on: it only has to mimic
        the clustering), ``heatmaps`` (N, H, W), ``masks`` (N, H, W, 1), ``mask_cv`` (a
        `protkit.evaluation.CVResult` of a small CNN trained on the masks), ``mask_balanced_accuracy``
        (its mean over folds), ``chance`` (1 / number of clusters).
    """
    import keras

    from protkit.data import Dataset
    from protkit.evaluation import cross_validate

    images = np.asarray(images, np.float32)
    clusters = np.asarray(clusters, dtype=np.int64)
    k = int(clusters.max()) + 1
    keras.utils.set_random_seed(seed)
    classifier = cluster_classifier(encoder, k, latents=encoder.predict(images, verbose=0))
    classifier.compile(optimizer=keras.optimizers.Adam(1e-3), loss="sparse_categorical_crossentropy",
                       metrics=["accuracy"])
    classifier.fit(images, clusters, epochs=epochs, batch_size=64, verbose=0, shuffle=True)
    accuracy = float((classifier.predict(images, verbose=0).argmax(axis=1) == clusters).mean())
    conv = layer or [lay.name for lay in classifier.layers if lay.name.startswith("enc_conv")][-1]
    heatmaps = grad_cam(classifier, images, class_index=clusters, layer=conv)
    masks = threshold_masks(heatmaps, threshold)
    mask_data = Dataset.from_arrays(masks, labels=clusters, class_names=[f"cluster {c}" for c in range(k)])
    size = masks.shape[1]
    cv = cross_validate(mask_data, k=folds, model="cnn", image_size=size, normalization="fixed", augment=False,
                        epochs=mask_epochs, batch_size=32, seed=seed, progress=progress,
                        model_kwargs={"filters": (16, 32), "hidden_units": 32, "dropout": 0.2})
    return {"classifier_accuracy": accuracy, "heatmaps": heatmaps, "masks": masks, "mask_cv": cv,
            "mask_balanced_accuracy": float(cv.folds["balanced_accuracy"].mean()), "chance": 1.0 / k,
            "layer": conv}
