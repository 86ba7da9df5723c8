"""Classical augmentation for microscopy images with any number of channels.

Cells have no preferred orientation, so flips and rotations by any angle are label-preserving;
a mild zoom imitates cell-size variation. Keras 3's preprocessing layers work on any channel
count (unlike RGB-only colour augmentations), run inside tf.data, and are seeded.
GAN-based class balancing lives with the DCGAN model (`protkit.models.dcgan`).
"""

from __future__ import annotations

import keras


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
