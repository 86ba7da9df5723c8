"""Functional-API pieces shared by protkit's classifiers."""

from __future__ import annotations

import keras

# Layer names of a classifier's stem (the first conv-BN-ReLU, before the blocks).
STEM_NAMES = ("stem_conv", "stem_bn", "stem_relu")


def conv_bn_relu(x, filters, kernel_size, strides=1, regularizer=None, names=("conv", "bn", "relu")):
    """Applies a bias-free `"same"` Conv2D, BatchNormalization and ReLU to the tensor `x`.

    Args:
        x: a symbolic 4D tensor (batch, height, width, channels).
        filters, kernel_size, strides: those of the convolution.
        regularizer: kernel regularizer of the convolution, or None.
        names: the three layer names, convolution first (e.g.
            ``("stem_conv", "stem_bn", "stem_relu")``).

    Returns:
        The ReLU's output tensor.
    """
    conv_name, norm_name, relu_name = names
    x = keras.layers.Conv2D(
        filters,
        kernel_size,
        strides=strides,
        padding="same",
        use_bias=False,
        kernel_regularizer=regularizer,
        name=conv_name,
    )(x)
    x = keras.layers.BatchNormalization(name=norm_name)(x)
    return keras.layers.ReLU(name=relu_name)(x)

