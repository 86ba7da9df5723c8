"""Classical augmentation for microscopy images with any number of channels.

Cells have no preferred orientation, so flips and rotations by any angle are label-preserving;
a mild zoom imitates cell-size variation. Keras 3's preprocessing layers work on any channel
count (unlike RGB-only colour augmentations), run inside tf.data, and are seeded.
`gan_balance` adds DCGAN images of the rarer classes to a training split (the networks are in
`protkit.models.dcgan`).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import keras
import numpy as np

from protkit.vocabulary import SINGLE_LABEL


def classical_augmentation(flips=True, rotation=True, zoom=0.1, seed=0, name="augmentation"):
    """A `keras.Sequential` of random flips, rotations and zoom for (B, H, W, C) batches.

    Args:
        flips: random horizontal and vertical flips.
        rotation: random rotation by any angle (True), a fraction of a full turn (float), or
            False. Borders are filled by reflection, so no black corners appear.
        zoom: maximum relative zoom in or out (0 disables).
        seed: seed of the random layers.
        name: the model name.

    Returns:
        keras.Sequential; call it with ``training=True`` (protkit's pipeline does) to augment.

    Example:
    >>> augment = classical_augmentation(seed=1)
    >>> augment(np.zeros((2, 16, 16, 5), "float32"), training=True).shape
    TensorShape([2, 16, 16, 5])
    """
    if zoom < 0 or zoom >= 1:
        raise ValueError(f"zoom must lie in [0, 1). Received: zoom={zoom}")
    layers = []
    if flips:
        layers.append(keras.layers.RandomFlip("horizontal_and_vertical", seed=seed))
    if rotation:
        factor = 0.5 if rotation is True else float(rotation)
        layers.append(keras.layers.RandomRotation(factor, fill_mode="reflect", seed=seed + 1))
    if zoom:
        layers.append(keras.layers.RandomZoom(zoom, fill_mode="reflect", seed=seed + 2))
    return keras.Sequential(layers, name=name)


@dataclass
class GanBalance:
    """What `gan_balance` returns.

    Attributes:
        dataset: an in-memory `Dataset` of the real training items followed by the generated
            ones, images in [0, 1] (train on it with ``normalization="fixed"``); its
            ``synthetic`` mask marks the generated items and its ids start with "synthetic-".
        gan: the (trained) conditional `DCGAN`.
        added: generated items per class (multi-label: items whose conditioning vector holds
            the class).
        counts_before, counts_after: items per class, real only and real + generated.
        history: the GAN's `fit` history (empty when a trained GAN was given).
    """

    dataset: object
    gan: object
    added: dict
    counts_before: dict
    counts_after: dict
    history: dict = field(default_factory=dict)

    def pipeline(self, batch_size=32, augment=None, seed=0, shuffle=True):
        """A shuffled, batched tf.data pipeline over real + generated training items."""
        from protkit.data import Normalizer, make_pipeline

        return make_pipeline(self.dataset, batch_size=batch_size, normalizer=Normalizer("fixed"), shuffle=shuffle,
                             seed=seed, augment=augment)


def _balance_targets(counts, target):
    """Wanted items per class from "max", an int, or {class name: count}."""
    if target == "max":
        top = max(counts.values())
        return {name: top for name in counts}
    if isinstance(target, dict):
        unknown = sorted(set(target) - set(counts))
        if unknown:
            raise ValueError(f"unknown class name(s) in target: {unknown}; classes are {list(counts)}")
        return {name: int(target.get(name, count)) for name, count in counts.items()}
    if isinstance(target, (int, np.integer)) and not isinstance(target, bool) and target > 0:
        return {name: int(target) for name in counts}
    raise ValueError(f'target must be "max", a positive int or a dict of class counts. Received: target={target!r}')


def _conditioning_rows(labels, num_classes, wanted, rng):
    """Label vectors to generate: single-label one-hot rows; multi-label rows drawn from the
    training rows that hold each short class (keeps real label combinations), rarest first."""
    if labels.ndim == 1:
        eye = np.eye(num_classes, dtype=np.float32)
        have = np.bincount(labels, minlength=num_classes)
        return np.concatenate([np.repeat(eye[c:c + 1], max(0, n - have[c]), axis=0) for c, n in enumerate(wanted)]
                              + [np.zeros((0, num_classes), np.float32)])
    counts = labels.sum(axis=0).astype(np.int64)
    rows = []
    for c in np.argsort(counts, kind="stable"):
        missing = wanted[c] - counts[c]
        pool = labels[labels[:, c] == 1]
        if missing <= 0 or not len(pool):
            continue
        chosen = pool[rng.integers(0, len(pool), missing)]
        rows.append(chosen)
        counts += chosen.sum(axis=0)
    return np.concatenate(rows).astype(np.float32) if rows else np.zeros((0, num_classes), np.float32)


def gan_balance(dataset, train_indices=None, target="max", *, gan=None, image_size=64, normalizer="percentile",
                epochs=50, batch_size=32, latent_dim=128, generator_filters=256, discriminator_filters=64,
                seed=0, verbose=0, callbacks=None):
    """Add DCGAN images so that every class of a training split reaches ``target`` items.

    Only ``train_indices`` are read: give the training part of a split made beforehand, so no
    validation or test image shapes the GAN. A conditional DCGAN is trained on those images
    (or ``gan`` is used as given), then images of the short classes are generated.

    Args:
        dataset: a labelled `Dataset` (single- or multi-label).
        train_indices: the training items (default all: only for data you will not test on).
        target: "max" (every class up to the largest), an int, or {class name: count}.
        gan: a trained conditional `DCGAN` to reuse (its image size and classes must match).
        image_size: square size of the real and generated images (32 to 128).
        normalizer: how the real images are normalized before the GAN sees them.
        epochs, batch_size, latent_dim, generator_filters, discriminator_filters: the GAN's
            training and size (ignored with ``gan``).
        seed: seeds the GAN's weights, noise and the multi-label conditioning draws.
        verbose: Keras verbosity of the GAN's training.
        callbacks: extra Keras callbacks for the GAN's `fit` (e.g. sample grids).

    Returns:
        `GanBalance`.
    """
    from protkit.data import Dataset, load_images
    from protkit.models.dcgan import DCGAN, dcgan_discriminator, dcgan_generator, from_gan_range, to_gan_range

    if dataset.labels is None:
        raise ValueError("GAN balancing needs labels: this dataset is unlabelled")
    indices = np.arange(len(dataset)) if train_indices is None else np.asarray(train_indices, dtype=np.int64)
    if dataset.synthetic is not None and dataset.synthetic[indices].any():
        raise ValueError("train_indices include generated items: balance real items only")
    real = dataset.subset(indices)
    images = np.clip(load_images(real, image_size=image_size, normalizer=normalizer), 0.0, 1.0)
    targets = real.targets()
    counts = {name: int(n) for name, n in zip(real.class_names, targets.sum(axis=0))}
    wanted = _balance_targets(counts, target)
    rows = _conditioning_rows(real.labels, real.num_classes, [wanted[n] for n in real.class_names],
                              np.random.default_rng(seed))

    history = {}
    if gan is None:
        keras.utils.set_random_seed(seed)
        channels = images.shape[-1]
        gan = DCGAN(dcgan_generator(image_size, channels, latent_dim, real.num_classes, generator_filters),
                    dcgan_discriminator(image_size, channels, real.num_classes, discriminator_filters), seed=seed)
        gan.compile()
        fitted = gan.fit(to_gan_range(images), targets, batch_size=batch_size, epochs=epochs, shuffle=True,
                         verbose=verbose, callbacks=callbacks)
        history = fitted.history
    elif not getattr(gan, "conditional", False) or gan.num_classes != real.num_classes:
        raise ValueError(f"gan must be a conditional DCGAN over {real.num_classes} classes")
    elif tuple(gan.generator.outputs[0].shape[1:]) != images.shape[1:]:
        raise ValueError(f"the gan makes images of shape {tuple(gan.generator.outputs[0].shape[1:])}, "
                         f"the data has {images.shape[1:]}")

    generated = from_gan_range(gan.generate(labels=rows, seed=seed)) if len(rows) else images[:0]
    labels = rows.argmax(axis=1) if real.task == SINGLE_LABEL else rows.astype(np.int8)
    combined = Dataset.from_arrays(
        np.concatenate([images, generated]).astype(np.float32),
        labels=np.concatenate([real.labels, labels]),
        class_names=real.class_names,
        channel_names=real.channel_names,
        ids=list(real.ids) + [f"synthetic-{i:06d}" for i in range(len(rows))],
        groups=None if real.groups is None else np.concatenate(
            [real.groups.astype(object), np.full(len(rows), "synthetic", dtype=object)]),
        synthetic=np.r_[np.zeros(len(real), bool), np.ones(len(rows), bool)],
    )
    after = combined.targets().sum(axis=0)
    return GanBalance(
        dataset=combined, gan=gan,
        added={name: int(n) for name, n in zip(real.class_names, rows.sum(axis=0))},
        counts_before=counts,
        counts_after={name: int(n) for name, n in zip(real.class_names, after)},
        history={k: [float(v) for v in values] for k, values in history.items()},
    )


def classifier_features(model, images, layer=None, batch_size=128):
    """Features of ``images`` from a trained protkit classifier, for `protkit.metrics.kernel_distance`.

    Args:
        model: a Keras classifier (e.g. a run's ``model.keras``).
        images: (N, H, W, C) in the range the classifier was trained on (generated images:
            `protkit.models.dcgan.from_gan_range` first).
        layer: the layer whose output is used; default the input of the last layer (the
            penultimate features: ``hidden`` in protkit's models).
        batch_size: images per forward pass.
    """
    tensor = model.get_layer(layer).output if layer else model.layers[-1].input
    extractor = keras.Model(model.inputs, tensor)
    return np.asarray(extractor.predict(np.asarray(images, np.float32), batch_size=batch_size, verbose=0))
