"""PLCNN: parallel residual and plain branches, concatenated stage by stage, plus global features."""

from __future__ import annotations

import keras

from protkit.layers import PlainBlock
from protkit.layers import ResidualBlock
from protkit import _validation
from protkit.vocabulary import SINGLE_LABEL, output_activation


def plcnn(
    input_shape,
    num_classes,
    task=SINGLE_LABEL,
    filters=(32, 64, 128),
    large=False,
    global_path=True,
    hidden_units=256,
    dropout=0.5,
    weight_decay=1e-4,
    name="plcnn",
):
    """PLCNN, the protein localization CNN: two branches per stage, joined after every stage.

    Stage `i` (one per entry of `filters`, width `f = filters[i]`) runs two branches side by
    side on the same tensor, the image for stage 0 and the previous stage's concatenation
    after that:

    - `stage{i}_residual`: `ResidualBlock(f, strides=2)`, the residual block R_s (R_l when
      `large`);
    - `stage{i}_plain`: `PlainBlock(f, pool=True)`, the plain block P_s (P_l when `large`).

    Both halve the height and width (rounding up), so `stage{i}_concat` joins them on the
    channel axis into `2 * f` channels, and that single tensor feeds BOTH branches of the next
    stage: each branch sees what the other learnt, stage after stage.

    Global-feature path (`global_path=True`): `stage{i}_gap` averages every stage's
    concatenation over positions, and `global_features` joins them
    (`2 * sum(filters)` features), so the classifier sees fine, early features next to the
    coarse, late ones. With `global_path=False`, only the last stage is pooled (`gap`).
    Classifier: `hidden` (Dense `hidden_units`, ReLU), `dropout`, `probabilities`
    (Dense `num_classes`, softmax or sigmoid). There is no stem: stage 0 reads the raw image.
    Weight decay is an L2 penalty on every convolution kernel and on the hidden kernel.

    Args:
        input_shape: (height, width, channels); height and width may be None; any channel
            count.
        num_classes: positive int, number of classes / labels.
        task: `"single_label"` (softmax, the default) or `"multi_label"` (sigmoid).
        filters: output channels of each branch, one entry per stage.
        large: bool; `False` uses the small blocks R_s/P_s (2 convolutions), `True` the large
            blocks R_l/P_l (3 convolutions).
        global_path: bool, whether the classifier reads the pooled output of every stage
            (`True`) or of the last one only.
        hidden_units: positive int, units of the hidden dense layer.
        dropout: rate in [0, 1) before the classifier (0: no Dropout layer).
        weight_decay: L2 factor >= 0 on kernels.
        name: model name.

    Returns:
        keras.Model mapping images to class probabilities.

    Example:
    >>> model = plcnn((32, 32, 4), num_classes=10, filters=(8, 16))
    >>> model.get_layer("global_features").output.shape
    (None, 48)
    >>> model.output_shape
    (None, 10)

    Reference:
        Tahir M., Anwar S. and Mian A., "Deep localization of subcellular protein
        structures from fluorescence microscopy images", arXiv:1910.04287 (code:
        github.com/saeed-anwar/PLCNN).
    """
    activation = output_activation(task)
    input_shape = _validation.check_input_shape(input_shape, static=False)
    num_classes = _validation.check_positive_int(num_classes, "num_classes")
    filters = _validation.check_filters(filters)
    for flag, value in (("large", large), ("global_path", global_path)):
        if not isinstance(value, bool):
            raise ValueError(f"{flag} must be a bool. Received: {flag}={value!r}")
    hidden_units = _validation.check_positive_int(hidden_units, "hidden_units")
    dropout = _validation.check_rate(dropout, "dropout")
    weight_decay = _validation.check_non_negative(weight_decay, "weight_decay")
    num_convs = ResidualBlock.LARGE if large else ResidualBlock.SMALL
    regularizer = keras.regularizers.L2(weight_decay) if weight_decay > 0 else None

    inputs = keras.Input(shape=input_shape, name="images")
    x = inputs
    pooled = []
    for stage, width in enumerate(filters):
        residual = ResidualBlock(
            width, num_convs=num_convs, strides=2, weight_decay=weight_decay, name=f"stage{stage}_residual"
        )(x)
        plain = PlainBlock(
            width, num_convs=num_convs, pool=True, weight_decay=weight_decay, name=f"stage{stage}_plain"
        )(x)
        x = keras.layers.Concatenate(axis=-1, name=f"stage{stage}_concat")([residual, plain])
        if global_path:
            pooled.append(keras.layers.GlobalAveragePooling2D(name=f"stage{stage}_gap")(x))
    if global_path:
        features = (
            keras.layers.Concatenate(name="global_features")(pooled) if len(pooled) > 1
            # One stage: nothing to join; keep the name so the path can be found.
            else keras.layers.Identity(name="global_features")(pooled[0])
        )
    else:
        features = keras.layers.GlobalAveragePooling2D(name="gap")(x)
    x = keras.layers.Dense(hidden_units, activation="relu", kernel_regularizer=regularizer, name="hidden")(features)
    if dropout > 0:
        x = keras.layers.Dropout(dropout, name="dropout")(x)
    outputs = keras.layers.Dense(num_classes, activation=activation, name="probabilities")(x)
    return keras.Model(inputs, outputs, name=name)
