"""A self-supervised contrastive encoder (SimCLR-style): cells described by what survives augmentation.

An autoencoder must spend its latent on everything needed to redraw a cell, the exact position
of each bright spot included. A contrastive encoder is trained differently: every cell of a
batch is augmented twice (random rotation by any angle, flips, zoom, a per-channel intensity
jitter and pixel noise), and the encoder learns to tell, among all the views in the batch,
which two come from the same cell. What the augmentations change (orientation, a little size,
brightness, noise) is what the latent learns to ignore; what stays is the cell's shape and
texture, and, with mild intensity jitter and ``normalization="dataset"``, its DNA content.

- `nt_xent`: the normalized temperature-scaled cross-entropy loss over a batch of view pairs.
- `contrastive_views`: the random view of a batch used for training (runs inside tf.data).
- `train_contrastive`: fit an encoder of the DCAE's shape (`protkit.models.autoencoder`) with a
  small projection head on top; the projection is dropped afterwards and the encoder's latent
  is the feature (as in SimCLR).

`protkit.clustering.cluster_dataset(..., encoder="contrastive")` (``protkit cluster --encoder
contrastive``) clusters those latents with the same Gaussian mixture as DCAEC.

Example:
>>> import numpy as np
>>> z = np.eye(4, dtype="float32")[:2]  # two cells, each view pair identical and orthogonal to the other
>>> round(float(nt_xent(z, z, temperature=0.1)), 4)  # the positive wins by a margin of 1 / 0.1
0.0001
"""

from __future__ import annotations

from dataclasses import dataclass

import keras
import numpy as np

from protkit.augment import classical_augmentation
from protkit.data import Normalizer, load_images, make_pipeline
from protkit.models.autoencoder import _encoder_decoder

TEMPERATURE = 0.2


def nt_xent(z_a, z_b, temperature=TEMPERATURE):
    """NT-Xent loss of paired projections: each view must pick its partner among all 2B - 1 others.

    Args:
        z_a, z_b: (B, D) projections of the first and the second view of the same B cells.
        temperature: divides the cosine similarities (smaller: sharper).

    Returns:
        A scalar: the mean over the 2B views of ``-log softmax(similarities)[partner]``.
    """
    ops = keras.ops
    z = ops.concatenate([z_a, z_b], axis=0)
    z = z / ops.maximum(ops.sqrt(ops.sum(z * z, axis=-1, keepdims=True)), 1e-12)
    n = ops.shape(z_a)[0]
    similarities = ops.matmul(z, ops.transpose(z)) / temperature
    similarities = similarities - 1e9 * ops.eye(2 * n, dtype=similarities.dtype)  # a view is not its own partner
    positives = ops.sum(z[:n] * z[n:], axis=-1) / temperature
    positives = ops.concatenate([positives, positives], axis=0)
    return ops.mean(ops.logsumexp(similarities, axis=-1) - positives)


class NTXentLoss(keras.losses.Loss):
    """`nt_xent` as a Keras loss on the pair model's (B, 2, D) output; the targets are ignored."""

    def __init__(self, temperature=TEMPERATURE, name="nt_xent", **kwargs):
        super().__init__(name=name, **kwargs)
        self.temperature = float(temperature)

    def call(self, y_true, y_pred):
        return nt_xent(y_pred[:, 0], y_pred[:, 1], self.temperature)

    def get_config(self):
        return dict(super().get_config(), temperature=self.temperature)


def contrastive_views(zoom=0.2, intensity=0.1, noise=0.02, seed=0):
    """A function of a (B, H, W, C) batch giving one random view of each cell (inside tf.data).

    Args:
        zoom: the largest relative zoom in or out (besides rotation by any angle and flips).
        intensity: each channel of each view is multiplied by a factor drawn from
            [1 - intensity, 1 + intensity].
        noise: standard deviation of Gaussian pixel noise (images are normalized to about [0, 1]).
        seed: seeds the geometric layers; two calls with different seeds draw independently.
    """
    import tensorflow as tf

    from protkit.data.pipeline import _augment_fn

    geometric = _augment_fn(classical_augmentation(zoom=zoom, seed=seed, name=f"contrastive_view_{seed}"))

    def view(x):
        x = geometric(x)
        if intensity:
            shape = tf.stack([tf.shape(x)[0], 1, 1, tf.shape(x)[-1]])
            x = x * tf.random.uniform(shape, 1.0 - intensity, 1.0 + intensity, seed=seed + 11)
        if noise:
            x = x + tf.random.normal(tf.shape(x), stddev=noise, seed=seed + 12)
        return x

    return view


@dataclass
class ContrastiveResult:
    """What `train_contrastive` returns; ``model``, ``encoder``, ``image_size`` and ``normalizer``
    are used as an `protkit.unsupervised.AutoencoderResult`'s are.

    ``positive_similarity`` / ``negative_similarity``: mean cosine similarity of the latents of
    two views of the same cell and of two different cells (a held-out sample): training should
    separate them. ``baseline_mse`` and ``val_mse`` are None (nothing is reconstructed).
    """

    model: object
    encoder: object
    history: dict
    image_size: tuple
    normalizer: object
    positive_similarity: float
    negative_similarity: float
    baseline_mse: float | None = None
    val_mse: float | None = None


def _pair_model(encoder, projection):
    """(view a, view b) -> (B, 2, projection) through the shared encoder and projection head."""
    head = keras.Sequential([keras.Input(encoder.output_shape[1:]),
                             keras.layers.Dense(projection, activation="relu", name="projection_hidden"),
                             keras.layers.Dense(projection, name="projection")], name="projection_head")
    shape = tuple(encoder.input_shape[1:])
    view_a, view_b = keras.Input(shape, name="view_a"), keras.Input(shape, name="view_b")
    pair = keras.layers.Concatenate(axis=1)([keras.layers.Reshape((1, projection))(head(encoder(v)))
                                             for v in (view_a, view_b)])
    return keras.Model([view_a, view_b], pair, name="contrastive_pairs")


def view_agreement(encoder, images, seed=0, zoom=0.2, intensity=0.1, noise=0.02, max_items=512):
    """(positive, negative): mean cosine similarity of two views' latents of one cell / of two cells."""
    import tensorflow as tf

    rng = np.random.default_rng(seed)
    if len(images) > max_items:
        images = images[np.sort(rng.choice(len(images), max_items, replace=False))]
    first, second = (contrastive_views(zoom, intensity, noise, seed=seed + 1000 * (i + 1)) for i in range(2))
    latents = []
    for view in (first, second):
        z = np.asarray(encoder.predict(np.asarray(view(tf.constant(images))), verbose=0), dtype=np.float64)
        latents.append(z / np.maximum(np.linalg.norm(z, axis=1, keepdims=True), 1e-12))
    a, b = latents
    positive = float(np.mean(np.sum(a * b, axis=1)))
    shuffled = np.roll(np.arange(len(b)), 1)  # every cell against another one
    negative = float(np.mean(np.sum(a * b[shuffled], axis=1)))
    return positive, negative


def train_contrastive(dataset, indices=None, *, image_size=64, latent_dim=32, filters=(32, 64, 128), projection=64,
                      epochs=100, batch_size=128, learning_rate=1e-3, temperature=TEMPERATURE,
                      normalization="percentile", zoom=0.2, intensity=0.1, noise=0.02, seed=0, verbose="auto",
                      callbacks=None):
    """Train an encoder on ``dataset``'s images by contrasting augmented views (labels unused).

    Args:
        dataset: a `Dataset` (labelled or not).
        indices: the items to learn from (default all).
        image_size: square size every image is resized to (divisible by 2**len(filters)).
        latent_dim, filters: the encoder (the DCAE's encoder: strided convolutions, a dense latent).
        projection: width of the two-layer projection head the loss sees (dropped afterwards).
        epochs, batch_size, learning_rate: Adam on `nt_xent`; every batch gives ``2 * batch_size``
            views, the larger the batch the more negatives per view.
        temperature: of `nt_xent`.
        normalization: "percentile", "dataset" (fitted on ``indices``) or "fixed"; clipped to [0, 1].
        zoom, intensity, noise: the views (`contrastive_views`).
        seed: seeds the shuffling, the views and the weights.
        verbose, callbacks: for `keras.Model.fit`.

    Returns:
        `ContrastiveResult`.
    """
    indices = np.arange(len(dataset)) if indices is None else np.asarray(indices, dtype=np.int64)
    if len(indices) < 2:
        raise ValueError(f"contrastive training needs at least 2 items. Received: {len(indices)}")
    size = (image_size, image_size) if isinstance(image_size, int) else tuple(image_size)
    normalizer = Normalizer(normalization, clip=True).fit(dataset, indices, seed=seed)
    keras.utils.set_random_seed(seed)
    encoder, _ = _encoder_decoder((*size, dataset.num_channels), latent_dim, filters)
    model = _pair_model(encoder, int(projection))
    model.compile(optimizer=keras.optimizers.Adam(learning_rate), loss=NTXentLoss(temperature))
    first = contrastive_views(zoom, intensity, noise, seed=seed)
    second = contrastive_views(zoom, intensity, noise, seed=seed + 100)
    batch = min(int(batch_size), len(indices))
    pipeline = make_pipeline(dataset, indices, image_size=size, batch_size=batch, labels=False,
                             normalizer=normalizer, shuffle=True, seed=seed)

    def pairs(x):
        import tensorflow as tf

        return (first(x), second(x)), tf.zeros(tf.shape(x)[:1])

    history = model.fit(pipeline.map(pairs), epochs=int(epochs), verbose=verbose, callbacks=callbacks, shuffle=False)
    sample = indices if len(indices) <= 512 else np.sort(np.random.default_rng(seed).choice(indices, 512, replace=False))
    positive, negative = view_agreement(encoder, load_images(dataset, sample, image_size=size, normalizer=normalizer),
                                        seed=seed, zoom=zoom, intensity=intensity, noise=noise)
    return ContrastiveResult(model, encoder, history.history, size, normalizer, positive, negative)
