"""ResNet baseline built from protkit's ResidualBlock, trained from scratch, any channel count."""

from __future__ import annotations

import keras

from protkit.layers import ResidualBlock
from protkit import _validation
from protkit.models._parts import STEM_NAMES, conv_bn_relu
from protkit.vocabulary import SINGLE_LABEL, output_activation

# Residual blocks (two 3x3 convolutions each) per stage, as in He et al. (2016), Table 1.
DEPTHS = {18: (2, 2, 2, 2), 34: (3, 4, 6, 3)}


def resnet(
    input_shape,
    num_classes,
    task=SINGLE_LABEL,
    depth=None,
    stages=None,
    width=32,
    downsample_stem=False,
    dropout=0.0,
    weight_decay=1e-4,
    squeeze_excite=0.0,
    name="resnet",
):
    """A ResNet of basic residual blocks, narrow enough to train from scratch on a CPU.

    Stem, then stage `i` (one per entry of `stages`) of `stages[i]` `ResidualBlock`s
    (`res{i}_{j}`) with `width * 2**i` filters; the first block of every stage but the first
    has stride 2 (with a 1x1 projection shortcut). Then `gap` (global average pooling),
    an optional `dropout` and `probabilities` (Dense `num_classes`). The stem is a 3x3
    convolution at full resolution (`stem_conv`, `stem_bn`, `stem_relu`), suited to small cell
    crops; with `downsample_stem=True` it is ImageNet's 7x7 stride-2 convolution followed by a
    3x3 stride-2 max pooling (`stem_pool`), for inputs of about 224x224. No pretrained weights.

    Args:
        input_shape: (height, width, channels); height and width may be None; any channel
            count.
        num_classes: positive int, number of classes / labels.
        task: `"single_label"` (softmax, the default) or `"multi_label"` (sigmoid).
        depth: 18 or 34, the ResNet-18/34 stage layout (2, 2, 2, 2) or (3, 4, 6, 3). Give
            `depth` or `stages`, not both; with neither, ResNet-18.
        stages: blocks per stage, a sequence of positive ints.
        width: positive int, filters of the stem and the first stage (64 in the paper).
        downsample_stem: bool, whether the stem divides the resolution by 4.
        dropout: rate in [0, 1) before the classifier (0: no Dropout layer).
        weight_decay: L2 factor >= 0 on every convolution kernel.
        squeeze_excite: the squeeze-and-excitation bottleneck of every block as a fraction
            of its filters (`ResidualBlock`); 0 (the default): none. `se_resnet` is 0.25.
        name: model name.

    Returns:
        keras.Model mapping images to class probabilities.

    Example:
    >>> model = resnet((32, 32, 3), num_classes=4, stages=(1, 1), width=8)
    >>> model.get_layer("res1_0").output.shape
    (None, 16, 16, 16)
    >>> model.output_shape
    (None, 4)

    Reference:
        He K., Zhang X., Ren S. and Sun J., "Deep Residual Learning for Image Recognition",
        CVPR 2016, arXiv:1512.03385.
    """
    activation = output_activation(task)
    input_shape = _validation.check_input_shape(input_shape, static=False)
    num_classes = _validation.check_positive_int(num_classes, "num_classes")
    if depth is not None and stages is not None:
        raise ValueError(f"Give depth or stages, not both. Received: depth={depth!r}, stages={stages!r}")
    if stages is None:
        depth = 18 if depth is None else depth
        if depth not in DEPTHS:
            raise ValueError(f"depth must be one of {tuple(DEPTHS)}. Received: depth={depth!r}")
        stages = DEPTHS[depth]
    stages = _validation.check_filters(stages, "stages")
    width = _validation.check_positive_int(width, "width")
    if not isinstance(downsample_stem, bool):
        raise ValueError(f"downsample_stem must be a bool. Received: downsample_stem={downsample_stem!r}")
    dropout = _validation.check_rate(dropout, "dropout")
    weight_decay = _validation.check_non_negative(weight_decay, "weight_decay")
    regularizer = keras.regularizers.L2(weight_decay) if weight_decay > 0 else None

    inputs = keras.Input(shape=input_shape, name="images")
    x = conv_bn_relu(
        inputs, width, 7 if downsample_stem else 3, 2 if downsample_stem else 1, regularizer, STEM_NAMES
    )
    if downsample_stem:
        x = keras.layers.MaxPooling2D(3, strides=2, padding="same", name="stem_pool")(x)
    for stage, blocks in enumerate(stages):
        for block in range(blocks):
            x = ResidualBlock(
                width * 2**stage,
                num_convs=ResidualBlock.SMALL,
                strides=2 if stage > 0 and block == 0 else 1,
                weight_decay=weight_decay,
                squeeze_excite=squeeze_excite,
                name=f"res{stage}_{block}",
            )(x)
    x = keras.layers.GlobalAveragePooling2D(name="gap")(x)
    if dropout > 0:
        x = keras.layers.Dropout(dropout, name="dropout")(x)
    outputs = keras.layers.Dense(num_classes, activation=activation, name="probabilities")(x)
    return keras.Model(inputs, outputs, name=name)


def se_resnet(input_shape, num_classes, task=SINGLE_LABEL, squeeze_excite=0.25, name="se_resnet", **kwargs):
    """`resnet` with a squeeze-and-excitation gate in every residual block (SE-ResNet, Hu et al. 2018).

    Every argument is `resnet`'s; ``squeeze_excite`` defaults to 0.25 (reduction 4).

    >>> model = se_resnet((32, 32, 3), num_classes=4, stages=(1, 1), width=8)
    >>> model.get_layer("res1_0").squeeze_excite, model.name
    (0.25, 'se_resnet')
    """
    return resnet(input_shape, num_classes, task=task, squeeze_excite=squeeze_excite, name=name, **kwargs)
