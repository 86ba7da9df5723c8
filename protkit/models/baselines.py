"""Baseline classifiers: a traditional CNN (stacked conv blocks), for any channel count."""

from __future__ import annotations

import keras

from protkit.models._parts import conv_bn_relu
from protkit.vocabulary import SINGLE_LABEL, output_activation


def traditional_cnn(
    input_shape,
    num_classes,
    task=SINGLE_LABEL,
    filters=(32, 64, 128),
    hidden_units=256,
    dropout=0.5,
    weight_decay=1e-4,
    name="traditional_cnn",
):
    """A plain CNN baseline: [Conv3x3-BN-ReLU-MaxPool] per stage, global pooling, dense head.

    Args:
        input_shape: (height, width, channels); any channel count.
        num_classes: number of classes / labels.
        task: ``"single_label"`` (softmax) or ``"multi_label"`` (sigmoid).
        filters: filters per stage; each stage halves the resolution.
        hidden_units: units of the dense layer before the classifier (0: none).
        dropout: dropout before the classifier.
        weight_decay: L2 factor on kernels.
        name: model name.

    Returns:
        keras.Model mapping images to class probabilities.

    Example:
    >>> model = traditional_cnn((32, 32, 4), num_classes=10, task="multi_label")
    >>> model.output_shape
    (None, 10)
    """
    activation = output_activation(task)
    if num_classes < 1:
        raise ValueError(f"num_classes must be >= 1. Received: num_classes={num_classes}")
    regularizer = keras.regularizers.L2(weight_decay) if weight_decay else None
    inputs = keras.Input(shape=tuple(input_shape), name="images")
    x = inputs
    for stage, width in enumerate(filters):
        x = conv_bn_relu(x, width, 3, regularizer=regularizer, names=(f"conv{stage}", f"bn{stage}", f"relu{stage}"))
        x = keras.layers.MaxPooling2D(2, padding="same", name=f"pool{stage}")(x)
    x = keras.layers.GlobalAveragePooling2D(name="gap")(x)
    if hidden_units:
        x = keras.layers.Dense(hidden_units, activation="relu", kernel_regularizer=regularizer, name="hidden")(x)
    if dropout:
        x = keras.layers.Dropout(dropout, name="dropout")(x)
    outputs = keras.layers.Dense(num_classes, activation=activation, name="probabilities")(x)
    return keras.Model(inputs, outputs, name=name)
