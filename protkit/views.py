"""The rotated and mirrored views of a cell, shared by test-time augmentation and latent features.

A cell under the microscope has no preferred orientation: turned by 90 degrees or mirrored, it
is the same cell. The eight such views (the dihedral group of the square) serve three purposes
in protkit, all through this module:

- test-time augmentation: a classifier's probabilities averaged over the views
  (`protkit.inference`, ``--tta dihedral``);
- DCAE + MLP features: the latent of every view (`protkit.unsupervised.latent_features`);
- rotation-invariant latents: the latents averaged over the views.

View sets: ``"none"`` (the image as it is), ``"flips"`` (the image, mirrored left-right,
upside-down, and both: 4 views, any shape) and ``"dihedral"`` (rotations by 0, 90, 180 and 270
degrees, then the same four mirrored left-right: 8 views, square images only). View 0 is always
the image itself. Images are batches (N, H, W, C) of NumPy arrays or backend tensors.

>>> import numpy as np
>>> x = np.arange(4.0).reshape(1, 2, 2, 1)
>>> [v[0, :, :, 0].tolist() for v in image_views(x, "flips")][1]  # mirrored left-right
[[1.0, 0.0], [3.0, 2.0]]
>>> len(image_views(x, "dihedral"))
8
"""

from __future__ import annotations

import numpy as np

VIEWS = ("none", "flips", "dihedral")
# (quarter turns counter-clockwise, mirror left-right, mirror upside-down), in view order.
_TRANSFORMS = {
    "none": ((0, False, False),),
    "flips": ((0, False, False), (0, True, False), (0, False, True), (0, True, True)),
    "dihedral": tuple((turns, mirror, False) for mirror in (False, True) for turns in range(4)),
}


def check_views(views):
    """``views`` if it is one of `VIEWS`, else ValueError naming them."""
    if views not in VIEWS:
        raise ValueError(f"views must be one of {VIEWS}. Received: views={views!r}")
    return views


def view_count(views):
    """How many views a view set holds (1, 4 or 8)."""
    return len(_TRANSFORMS[check_views(views)])


def _ops(images):
    """The array functions for ``images``: NumPy, Keras ops, or TensorFlow's for TensorFlow
    tensors on another Keras backend (inside tf.data, which runs TensorFlow on every backend)."""
    if isinstance(images, np.ndarray):
        return np
    import keras

    if keras.backend.backend() != "tensorflow" and type(images).__module__.startswith("tensorflow"):
        return _TensorFlowOps
    return keras.ops


class _TensorFlowOps:
    """The two functions `apply_view` needs, for TensorFlow tensors."""

    @staticmethod
    def flip(x, axis):
        import tensorflow as tf

        return tf.reverse(x, [axis])

    @staticmethod
    def swapaxes(x, first, second):
        import tensorflow as tf

        order = list(range(len(x.shape)))
        order[first], order[second] = order[second], order[first]
        return tf.transpose(x, order)


def _turn(images, turns, ops):
    """Rotate (N, H, W, C) by ``turns`` quarter turns counter-clockwise, as ``np.rot90(axes=(1, 2))``."""
    turns %= 4
    if turns == 1:
        return ops.swapaxes(ops.flip(images, axis=2), 1, 2)
    if turns == 2:
        return ops.flip(ops.flip(images, axis=1), axis=2)
    if turns == 3:
        return ops.flip(ops.swapaxes(images, 1, 2), axis=2)
    return images


def apply_view(images, views, index):
    """View ``index`` of the set ``views`` of a batch (N, H, W, C)."""
    transforms = _TRANSFORMS[check_views(views)]
    if not 0 <= index < len(transforms):
        raise ValueError(f"index must be in [0, {len(transforms)}). Received: index={index}")
    turns, mirror, flip = transforms[index]
    ops = _ops(images)
    height, width = images.shape[1], images.shape[2]
    if turns % 2 and height != width:
        raise ValueError(f"views={views!r} turns images by 90 degrees and needs square images. "
                         f"Received: {height}x{width}; use views='flips'")
    images = _turn(images, turns, ops)
    if mirror:
        images = ops.flip(images, axis=2)
    if flip:
        images = ops.flip(images, axis=1)
    return images


def image_views(images, views="dihedral"):
    """Every view of a batch (N, H, W, C): a list of ``view_count(views)`` batches, view 0 first."""
    return [apply_view(images, views, index) for index in range(view_count(views))]


def view_averaged(predict, views="dihedral"):
    """A function images -> ``predict`` averaged over the views (probabilities, latents, ...).

    ``predict`` maps a batch (M, H, W, C) to (M, ...); the views of a batch go through it in one
    call (a batch ``view_count`` times larger) and the mean over views is returned. With
    ``views="none"`` ``predict`` itself is returned.
    """
    count = view_count(views)
    if count == 1:
        return predict

    def averaged(images):
        ops = _ops(images)
        stacked = ops.concatenate(image_views(images, views), axis=0)
        outputs = predict(stacked)
        outputs = ops.reshape(outputs, (count, -1, *tuple(outputs.shape[1:])))
        return ops.mean(outputs, axis=0)

    return averaged
