"""tf.data pipelines from a `Dataset`: parallel decode, normalize, resize, cache, batch, prefetch.

Resize policy: with ``image_size`` given, every item is resized to it (area interpolation when
shrinking, linear when enlarging), so folders of mixed sizes work. Without it, every item must
have the size of the first one; a different size raises an error naming the file.
"""

from __future__ import annotations

import cv2
import numpy as np
import tensorflow as tf

from protkit.data import readers
from protkit.data.normalization import get_normalizer

AUTOTUNE = tf.data.AUTOTUNE
# cache="auto" keeps decoded items in memory when they take at most this much (float32).
CACHE_AUTO_BYTES = 2 * 1024**3


def _size_tuple(image_size):
    if image_size is None:
        return None
    if isinstance(image_size, int):
        return (image_size, image_size)
    height, width = image_size
    return (int(height), int(width))


def resize(image, size):
    """Resize an (H, W, C) float image to ``size`` = (height, width); any channel count."""
    height, width = size
    if image.shape[:2] == (height, width):
        return image
    shrinking = height * width < image.shape[0] * image.shape[1]
    interpolation = cv2.INTER_AREA if shrinking else cv2.INTER_LINEAR
    channels = image.shape[-1]
    # OpenCV resizes at most 4 channels at once and drops a trailing singleton axis.
    parts = [cv2.resize(image[..., i:i + 4], (width, height), interpolation=interpolation)
             for i in range(0, channels, 4)]
    parts = [p[..., None] if p.ndim == 2 else p for p in parts]
    return np.concatenate(parts, axis=-1) if len(parts) > 1 else parts[0]


class ItemLoader:
    """Decode, check, normalize and resize single items: the work done per item in the pipeline.

    Args:
        dataset: the `Dataset`.
        image_size: None or (height, width) / int.
        normalizer: `Normalizer`, mode name or config.
        num_channels: expected channel count; default the dataset's (or the first item's).
    """

    def __init__(self, dataset, image_size=None, normalizer="percentile", num_channels=None):
        self.dataset = dataset
        self.normalizer = get_normalizer(normalizer)
        if not self.normalizer.fitted:
            raise ValueError("dataset normalization is not fitted: call "
                             "Normalizer('dataset').fit(dataset, train_indices) on the training split first")
        first = dataset.read(0) if len(dataset) else None
        self.num_channels = num_channels or (len(dataset.channel_names) if dataset.channel_names
                                             else (first.shape[-1] if first is not None else 1))
        self.image_size = _size_tuple(image_size) or (first.shape[:2] if first is not None else None)
        self.resize = image_size is not None

    def where(self, index):
        if self.dataset.arrays is not None:
            return f"item {self.dataset.ids[index]!r}"
        return ", ".join(self.dataset.items[index])

    def _read_checked(self, index):
        raw = self.dataset.read(index)
        if raw.shape[-1] != self.num_channels:
            raise readers.ImageReadError(
                self.where(index),
                f"expected {self.num_channels} channel(s), the file(s) hold {raw.shape[-1]}")
        if not self.resize and tuple(raw.shape[:2]) != tuple(self.image_size):
            raise readers.ImageReadError(
                self.where(index),
                f"expected size {self.image_size[0]}x{self.image_size[1]} like the first item, got "
                f"{raw.shape[0]}x{raw.shape[1]}; pass --image-size / image_size= to resize every item")
        return raw

    def __call__(self, index):
        image = self.normalizer(self._read_checked(int(index)))
        if self.resize:
            image = resize(image, self.image_size)
        return image

    def load_batch(self, indices):
        """Load several items into one (B, H, W, C) float32 array.

        Items of one size and dtype are normalized together in one vectorized call; this is
        what the tf.data pipeline calls, once per batch rather than once per item.
        """
        raws = [self._read_checked(int(index)) for index in indices]
        if not raws:
            return np.zeros((0, *self.image_size, self.num_channels), np.float32)
        if len({(raw.shape, raw.dtype) for raw in raws}) == 1:
            images = list(self.normalizer.apply_batch(np.stack(raws)))
        else:
            images = [self.normalizer(raw) for raw in raws]
        if self.resize:
            images = [resize(image, self.image_size) for image in images]
        return np.stack(images)

    def load_all(self, indices=None, num_threads=4):
        """Load items into one (N, H, W, C) float32 array (threads; decoders release the GIL)."""
        from concurrent.futures import ThreadPoolExecutor

        indices = range(len(self.dataset)) if indices is None else indices
        with ThreadPoolExecutor(num_threads) as pool:
            images = list(pool.map(self, indices))
        shape = (0, *self.image_size, self.num_channels) if not images else None
        return np.stack(images) if images else np.zeros(shape, np.float32)


def make_pipeline(
    dataset,
    indices=None,
    *,
    image_size=None,
    batch_size=32,
    normalizer="percentile",
    labels=True,
    shuffle=False,
    seed=0,
    augment=None,
    cache="auto",
    repeat=False,
    drop_remainder=False,
    num_parallel_calls=AUTOTUNE,
    deterministic=True,
):
    """A batched ``tf.data.Dataset`` of (images, targets) — or images only — from a `Dataset`.

    Args:
        dataset: the `protkit.data.Dataset`.
        indices: the items to use (e.g. a split's training indices); default all.
        image_size: None (all items must share the first item's size) or int / (H, W).
        batch_size: items per batch.
        normalizer: a `Normalizer`, ``"percentile"``, ``"fixed"``, or a fitted ``"dataset"``
            normalizer (fit it on the training split).
        labels: yield (x, y) with y one-hot (single-label) or multi-hot (multi-label), float32.
            False, or an unlabelled dataset, yields x only.
        shuffle: reshuffle the items every epoch (seeded).
        seed: shuffle seed.
        augment: None, or a callable taking a batch ``x`` (and ``training=True`` if it is a
            Keras layer) and returning the augmented batch; applied after batching.
        cache: "auto" (default: decode every item once, before the first epoch, and keep them in
            memory when they take at most `CACHE_AUTO_BYTES`; else decode every epoch), True
            (in memory whatever the size), False, or a file path prefix for an on-disk cache.
            On a CPU that training already keeps busy, decoding every epoch costs about a third
            of the throughput; memory then feeds batches as fast as arrays given to ``fit``.
        repeat: repeat forever (for step-based training).
        drop_remainder: drop a last incomplete batch.
        num_parallel_calls: parallel decoders; default AUTOTUNE.
        deterministic: keep item order across parallel decoding (seeded runs are repeatable).

    Returns:
        tf.data.Dataset.

    Example:
    >>> from protkit.data import Dataset, make_pipeline
    >>> ds = Dataset.from_arrays(np.zeros((4, 8, 8, 2), np.uint8), labels=[0, 1, 0, 1])
    >>> x, y = next(iter(make_pipeline(ds, batch_size=4)))
    >>> tuple(x.shape), tuple(y.shape)
    ((4, 8, 8, 2), (4, 2))
    """
    indices = np.arange(len(dataset)) if indices is None else np.asarray(indices, dtype=np.int64)
    if len(indices) == 0:
        raise ValueError("cannot build a pipeline over zero items")
    if batch_size < 1:
        raise ValueError(f"batch_size must be >= 1. Received: batch_size={batch_size}")
    loader = ItemLoader(dataset, image_size=image_size, normalizer=normalizer)
    with_labels = bool(labels) and dataset.labels is not None
    height, width = loader.image_size
    channels = loader.num_channels

    if cache == "auto":
        cache = len(indices) * height * width * channels * 4 <= CACHE_AUTO_BYTES

    # Every batch full (nothing dropped): the batch dimension is then static, and TensorFlow's
    # kernels for a fixed shape run faster than for (None, H, W, C), as Keras's arrays feed does.
    full_batches = drop_remainder or repeat or len(indices) % batch_size == 0

    def finish(ds):
        """Shuffle, repeat and batch a dataset of single items."""
        if shuffle:
            ds = ds.shuffle(len(indices), seed=seed, reshuffle_each_iteration=True)
        if repeat:
            ds = ds.repeat()
        return ds.batch(batch_size, drop_remainder=full_batches)

    if dataset.arrays is not None or cache is True:
        # In memory: decode, normalize and resize once (threads), then take whole batches of rows.
        images = loader.load_all(indices)
        ds = _batches_of_rows(images, dataset.targets()[indices] if with_labels else None, finish)
    else:
        def load(batch_indices):
            images = tf.numpy_function(loader.load_batch, [batch_indices], tf.float32, stateful=False)
            images.set_shape((batch_size if full_batches else None, height, width, channels))
            return images

        def decode(ds):
            """Map batches of indices (and targets) to batches of images: one Python call per batch."""
            if with_labels:
                return ds.map(lambda i, y: (load(i), y), num_parallel_calls=num_parallel_calls,
                              deterministic=deterministic)
            return ds.map(load, num_parallel_calls=num_parallel_calls, deterministic=deterministic)

        slices = (indices, dataset.targets()[indices]) if with_labels else indices
        ds = tf.data.Dataset.from_tensor_slices(slices)
        if cache:
            # An on-disk cache: decode once, keep single items, then reshuffle and batch them every epoch.
            ds = decode(ds.batch(batch_size)).unbatch()
            ds = finish(ds.cache(str(cache)))
        else:
            if shuffle:
                ds = ds.shuffle(len(indices), seed=seed, reshuffle_each_iteration=True)
            if repeat:
                ds = ds.repeat()
            ds = decode(ds.batch(batch_size, drop_remainder=full_batches))
    if not repeat:
        # unbatch() forgets the length; tell Keras how many batches come, so it does not warn.
        batches = len(indices) // batch_size if drop_remainder else -(-len(indices) // batch_size)
        ds = ds.apply(tf.data.experimental.assert_cardinality(batches))
    if augment is not None:
        apply = _augment_fn(augment)
        if with_labels:
            ds = ds.map(lambda x, y: (apply(x), y), num_parallel_calls=num_parallel_calls)
        else:
            ds = ds.map(apply, num_parallel_calls=num_parallel_calls)
    return ds.prefetch(AUTOTUNE)


def _batches_of_rows(images, targets, finish):
    """Batches of an (N, H, W, C) array (and its targets): shuffled, batched row numbers, then one
    gather per batch, in the graph (no Python, no GIL). Per-item tf.data elements would cost far
    more at small image sizes. The array is captured by reference, not serialized into a graph."""
    table = tf.convert_to_tensor(images)
    target_table = None if targets is None else tf.convert_to_tensor(targets)

    def take(rows):
        x = tf.gather(table, rows)
        return x if target_table is None else (x, tf.gather(target_table, rows))

    return finish(tf.data.Dataset.range(len(images))).map(take)  # one gather per batch: no threads needed


def _augment_fn(augment):
    import keras

    if isinstance(augment, keras.Sequential):
        # Layer by layer: Keras' preprocessing layers switch to TensorFlow ops inside tf.data on
        # any backend, a Sequential around them does not (under JAX it would call jax.numpy).
        layers = list(augment.layers)

        def apply(x):
            for layer in layers:
                x = layer(x, training=True)
            return x

        return apply
    if isinstance(augment, keras.layers.Layer):
        return lambda x: augment(x, training=True)
    return augment


def load_images(dataset, indices=None, image_size=None, normalizer="percentile", num_threads=4):
    """Decode, normalize and resize items into one (N, H, W, C) float32 array in memory."""
    return ItemLoader(dataset, image_size=image_size, normalizer=normalizer).load_all(indices, num_threads)


class _ReadableErrors:
    """Context manager: re-raise a decode error from inside tf.data as a plain `ImageReadError`.

    TensorFlow wraps exceptions raised in ``tf.numpy_function`` into an ``InvalidArgumentError``
    with its own traceback; this keeps only protkit's message (file name and what was expected).
    """

    def __enter__(self):
        return self

    def __exit__(self, kind, error, traceback):
        if kind is not None and issubclass(kind, tf.errors.OpError):
            for line in str(error.message).splitlines():
                marker = "ImageReadError: "
                if marker in line:
                    path_and_reason = line.split(marker, 1)[1]
                    path, _, reason = path_and_reason.partition(": ")
                    raise readers.ImageReadError(path, reason) from None
        return False


def readable_errors():
    """``with readable_errors(): model.fit(pipeline)`` turns decode failures into clear errors."""
    return _ReadableErrors()
