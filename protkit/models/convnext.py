"""A small ConvNeXt for cell crops, trained from scratch, any channel count."""

from __future__ import annotations

import keras

from protkit import _validation
from protkit.layers import ConvNeXtBlock
from protkit.vocabulary import SINGLE_LABEL, output_activation


def convnext(input_shape, num_classes, task=SINGLE_LABEL, stages=(2, 2, 4, 2), width=32, stem_strides=2,
             kernel_size=7, dropout=0.0, weight_decay=1e-4, name="convnext"):
    """A ConvNeXt of `ConvNeXtBlock`s, narrow and shallow enough for a CPU and images of 40-128 px.

    Stem: a ``stem_strides`` x ``stem_strides`` convolution with that stride (a "patchify"
    stem; 2 rather than ImageNet's 4, since cells are small) and a layer normalization
    (`stem_conv`, `stem_norm`). Stage `i` (`stage{i}_{j}` blocks) has `width * 2**i` channels;
    before every stage but the first, a layer normalization and a 2x2 stride-2 convolution
    halve the resolution (`down{i}_norm`, `down{i}_conv`). Then `gap` (global average pooling),
    `head_norm`, an optional `dropout` and `probabilities`. No pretrained weights.

    Args:
        input_shape: (height, width, channels); height and width may be None; any channel count.
        num_classes: positive int, number of classes / labels.
        task: "single_label" (softmax) or "multi_label" (sigmoid).
        stages: blocks per stage (ConvNeXt-T has (3, 3, 9, 3) at width 96).
        width: channels of the first stage.
        stem_strides: the stem's kernel and stride (1 keeps full resolution).
        kernel_size: the blocks' depthwise kernel.
        dropout: rate in [0, 1) before the classifier.
        weight_decay: L2 factor >= 0 on every convolution and dense kernel.
        name: model name.

    Returns:
        keras.Model mapping images to class probabilities.

    Example:
    >>> model = convnext((32, 32, 3), num_classes=4, stages=(1, 1), width=8)
    >>> model.get_layer("stage1_0").output.shape
    (None, 8, 8, 16)
    >>> model.output_shape
    (None, 4)
    """
    activation = output_activation(task)
    input_shape = _validation.check_input_shape(input_shape, static=False)
    num_classes = _validation.check_positive_int(num_classes, "num_classes")
    stages = _validation.check_filters(stages, "stages")
    width = _validation.check_positive_int(width, "width")
    stem_strides = _validation.check_positive_int(stem_strides, "stem_strides")
    dropout = _validation.check_rate(dropout, "dropout")
    weight_decay = _validation.check_non_negative(weight_decay, "weight_decay")
    regularizer = keras.regularizers.L2(weight_decay) if weight_decay > 0 else None

    inputs = keras.Input(shape=input_shape, name="images")
    x = keras.layers.Conv2D(width, stem_strides, strides=stem_strides, padding="same", kernel_regularizer=regularizer,
                            name="stem_conv")(inputs)
    x = keras.layers.LayerNormalization(epsilon=1e-6, name="stem_norm")(x)
    for stage, blocks in enumerate(stages):
        if stage > 0:
            x = keras.layers.LayerNormalization(epsilon=1e-6, name=f"down{stage}_norm")(x)
            x = keras.layers.Conv2D(width * 2**stage, 2, strides=2, padding="same", kernel_regularizer=regularizer,
                                    name=f"down{stage}_conv")(x)
        for block in range(blocks):
            x = ConvNeXtBlock(kernel_size=kernel_size, weight_decay=weight_decay, name=f"stage{stage}_{block}")(x)
    x = keras.layers.GlobalAveragePooling2D(name="gap")(x)
    x = keras.layers.LayerNormalization(epsilon=1e-6, name="head_norm")(x)
    if dropout > 0:
        x = keras.layers.Dropout(dropout, name="dropout")(x)
    outputs = keras.layers.Dense(num_classes, activation=activation, name="probabilities")(x)
    return keras.Model(inputs, outputs, name=name)
