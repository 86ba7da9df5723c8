"""Train autoencoders on a `Dataset` without its labels, and use their latents.

- `train_autoencoder`: fit a `protkit.models.autoencoder.dcae` to reconstruct the images
  (labels are never read).
- `latent_features`: the frozen encoder's latent vector of every item (optionally of its 8
  rotated/mirrored views); `encoder_statistics` adds texture statistics of the encoder's
  convolutions to the latent.
- `train_latent_mlp` / `predict_latent_mlp`: DCAE + MLP: a small MLP on frozen latents, for
  labelled data (optionally on the 8 rotated/flipped views of every cell).

The same normalizer and image size must prepare every image an encoder sees; the returned
`AutoencoderResult` keeps both.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import NamedTuple

import keras
import numpy as np
from sklearn.preprocessing import StandardScaler

from protkit.augment import classical_augmentation
from protkit.data import Normalizer, load_images, make_pipeline, train_val_test_split
from protkit.models.autoencoder import dcae, encoder_of, encoder_statistics, mlp_classifier  # noqa: F401
from protkit.training import balanced_class_weight
from protkit.views import apply_view, view_count


@dataclass
class AutoencoderResult:
    """What `train_autoencoder` returns: the autoencoder, its encoder, history and data preparation."""

    model: object
    encoder: object
    history: dict
    image_size: tuple
    normalizer: object
    baseline_mse: float
    val_mse: float | None = None


def _reconstruction_pipeline(dataset, indices, image_size, normalizer, batch_size, shuffle, seed, augment):
    pipeline = make_pipeline(dataset, indices, image_size=image_size, batch_size=batch_size, labels=False,
                             normalizer=normalizer, shuffle=shuffle, seed=seed, augment=augment)
    return pipeline.map(lambda x: (x, x))


def train_autoencoder(dataset, indices=None, *, image_size=64, latent_dim=64, filters=(32, 64, 128), epochs=30,
                      batch_size=64, learning_rate=1e-3, normalization="percentile", val_fraction=0.1, augment=False,
                      seed=0, verbose="auto", callbacks=None):
    """Train a 2D DCAE on the images of ``dataset`` (labels unused).

    Args:
        dataset: a `Dataset` (labelled or not).
        indices: the items to learn from (default all).
        image_size: square size every image is resized to (divisible by 2**len(filters)).
        latent_dim, filters: the autoencoder's size.
        epochs, batch_size, learning_rate: Adam on the mean squared reconstruction error.
        normalization: "percentile", "dataset" (fitted on ``indices``) or "fixed". Pixels are
            clipped to [0, 1].
        val_fraction: a random share of ``indices`` held out to report reconstruction error.
        augment: random flips/rotations of the training images.
        seed: seeds the split, shuffling, augmentation and weights.

    Returns:
        `AutoencoderResult`. ``baseline_mse`` is the error of predicting the mean training image
        for every held-out image: a trained autoencoder must beat it.
    """
    indices = np.arange(len(dataset)) if indices is None else np.asarray(indices, dtype=np.int64)
    rng = np.random.default_rng(seed)
    order = rng.permutation(indices)
    n_val = int(round(len(order) * val_fraction)) if val_fraction else 0
    val_idx, train_idx = np.sort(order[:n_val]), np.sort(order[n_val:])
    size = (image_size, image_size) if isinstance(image_size, int) else tuple(image_size)
    normalizer = Normalizer(normalization, clip=True).fit(dataset, train_idx, seed=seed)
    keras.utils.set_random_seed(seed)
    model = dcae((*size, dataset.num_channels), latent_dim=latent_dim, filters=filters)
    model.compile(optimizer=keras.optimizers.Adam(learning_rate), loss="mse")
    augmentation = classical_augmentation(zoom=0.0, seed=seed) if augment else None
    train_ds = _reconstruction_pipeline(dataset, train_idx, size, normalizer, batch_size, True, seed, augmentation)
    val_ds = _reconstruction_pipeline(dataset, val_idx, size, normalizer, batch_size, False, seed, None) \
        if n_val else None
    history = model.fit(train_ds, validation_data=val_ds, epochs=epochs, verbose=verbose, callbacks=callbacks,
                        shuffle=False)  # the pipeline shuffles
    baseline = val_mse = None
    if n_val:
        sample = train_idx if len(train_idx) <= 2000 else np.sort(rng.choice(train_idx, 2000, replace=False))
        mean_image = load_images(dataset, sample, image_size=size, normalizer=normalizer).mean(axis=0)
        held = load_images(dataset, val_idx, image_size=size, normalizer=normalizer)
        baseline = float(((held - mean_image) ** 2).mean())
        val_mse = float(model.evaluate(val_ds, verbose=0))
    return AutoencoderResult(model, encoder_of(model), history.history, size, normalizer, baseline, val_mse)


def latent_features(encoder, dataset, indices=None, image_size=None, normalizer="percentile", batch_size=128,
                    views="none", average_views=False):
    """Latent vectors of ``dataset``'s items, prepared as the encoder's training data was.

    Args:
        encoder: the frozen encoder (`AutoencoderResult.encoder`).
        dataset, indices: the items (default all).
        image_size, normalizer: as the autoencoder was trained (`AutoencoderResult` keeps both).
        batch_size: images per batch.
        views: a view set of `protkit.views`: "none" (the image as it is, (N, latent_dim)),
            "dihedral" (the 8 rotations by 90 degrees and their mirror images; square images
            only) or "flips" (4 mirror images): (N, views, latent_dim). A cell has no preferred
            orientation, so an MLP can be trained on every view and average its predictions over
            them (`predict_latent_mlp`).
        average_views: return the mean latent over the views, (N, latent_dim): a latent that
            does not change when the cell turns (for clustering).

    Returns:
        float32 array, (N, latent_dim), or (N, views, latent_dim) with views and no averaging.
    """
    count = view_count(views)
    size = image_size or tuple(encoder.input_shape[1:3])
    pipeline = make_pipeline(dataset, indices, image_size=size, batch_size=batch_size, labels=False,
                             normalizer=normalizer, cache=False)
    if count == 1:
        return np.asarray(encoder.predict(pipeline, verbose=0), dtype=np.float32)
    height, width = (size, size) if isinstance(size, int) else tuple(size)
    if views == "dihedral" and height != width:
        raise ValueError(f"views='dihedral' needs square images. Received: image_size={size}")
    outputs = [np.asarray(encoder.predict(pipeline.map(lambda x, i=i: apply_view(x, views, i)), verbose=0),
                          dtype=np.float32) for i in range(count)]
    stacked = np.stack(outputs, axis=1)
    return stacked.mean(axis=1) if average_views else stacked


class LatentMLP(NamedTuple):
    """What `train_latent_mlp` returns (unpacks as ``model, scaler, history``)."""

    model: object
    scaler: object
    history: dict


def train_latent_mlp(train_features, train_labels, num_classes, *, hidden=(250, 50), dropout=0.3, epochs=100,
                     batch_size=64, learning_rate=1e-3, val_fraction=0.15, class_weight=None, seed=0, verbose=0):
    """DCAE + MLP: an MLP on frozen latent features (standardized), early-stopped on a held-out share.

    Args:
        train_features: (N, D) latents, or (N, V, D) with V views per item (``views="dihedral"``
            in `latent_features`): every view is a training sample, and the held-out share is
            drawn by item, so no view of a held-out item is trained on.
        train_labels: (N,) class indices.
        num_classes, hidden, dropout: the MLP.
        epochs, batch_size, learning_rate: Adam; early stopping (patience 10) on the held-out loss.
        val_fraction: share of the items held out for early stopping (stratified, seeded).
        class_weight: None, "balanced" or a dict.

    Returns:
        `LatentMLP`: the Keras MLP, the fitted StandardScaler, the per-epoch logs. Predict with
        `predict_latent_mlp`.
    """
    features = np.asarray(train_features, dtype=np.float32)
    labels = np.asarray(train_labels, dtype=np.int64)
    if features.ndim not in (2, 3) or len(features) != len(labels):
        raise ValueError(f"train_features must be (N, D) or (N, views, D) with N = {len(labels)} labels. "
                         f"Received: shape {features.shape}")
    fit_idx, val_idx, _ = train_val_test_split(labels, val_fraction=val_fraction, seed=seed)
    views = features.shape[1] if features.ndim == 3 else 1
    if features.ndim == 3:  # every view becomes a sample; the split above stays per item
        fit_idx = (fit_idx[:, None] * views + np.arange(views)).ravel()
        val_idx = (val_idx[:, None] * views + np.arange(views)).ravel()
        features = features.reshape(-1, features.shape[-1])
        labels = np.repeat(labels, views)
    scaler = StandardScaler().fit(features[fit_idx])
    scaled = scaler.transform(features).astype(np.float32)
    targets = np.eye(num_classes, dtype=np.float32)[labels]
    keras.utils.set_random_seed(seed)
    model = mlp_classifier(features.shape[1], num_classes, hidden=hidden, dropout=dropout)
    model.compile(optimizer=keras.optimizers.Adam(learning_rate), loss="categorical_crossentropy",
                  metrics=["accuracy"])
    weights = balanced_class_weight(labels[fit_idx], num_classes) if class_weight == "balanced" else class_weight
    stop = keras.callbacks.EarlyStopping(monitor="val_loss", patience=10, restore_best_weights=True)
    history = model.fit(scaled[fit_idx], targets[fit_idx], validation_data=(scaled[val_idx], targets[val_idx]),
                        epochs=epochs, batch_size=batch_size, class_weight=weights, callbacks=[stop], verbose=verbose)
    return LatentMLP(model, scaler, history.history)


def predict_latent_mlp(model, scaler, features, batch_size=1024):
    """Class probabilities from a `train_latent_mlp` model: (N, D) features, or (N, V, D) views
    whose predictions are averaged per item."""
    features = np.asarray(features, dtype=np.float32)
    flat = features.reshape(-1, features.shape[-1])
    probabilities = model.predict(scaler.transform(flat).astype(np.float32), batch_size=batch_size, verbose=0)
    if features.ndim == 3:
        probabilities = probabilities.reshape(features.shape[0], features.shape[1], -1).mean(axis=1)
    return probabilities
