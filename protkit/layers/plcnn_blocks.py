"""Residual and plain convolution blocks, the two branches of a PLCNN.

A PLCNN runs two branches side by side on the same image: one made of
residual blocks, one of plain convolution blocks. After every stage the two
feature maps have the same height and width and are concatenated on the
channel axis. Each branch comes in a small (2 convolutions) and a large
(3 convolutions) block:

- R_s: `ResidualBlock(filters, num_convs=2)`, or `ResidualBlock.small(filters)`
- R_l: `ResidualBlock(filters, num_convs=3)`, or `ResidualBlock.large(filters)`
- P_s: `PlainBlock(filters, num_convs=2)`, or `PlainBlock.small(filters)`
- P_l: `PlainBlock(filters, num_convs=3)`, or `PlainBlock.large(filters)`

A residual block with `strides=2` and a plain block with `pool=True` both
turn a `height` of `h` into `ceil(h / 2)`, so their outputs can always be
concatenated.
"""

import math

import keras
from keras import ops

from protkit._validation import is_int as _is_int, is_number as _is_number, positive_int_pair as _positive_int_pair


def _validate_common(filters, num_convs, weight_decay):
    if not _is_int(filters) or filters <= 0:
        raise ValueError(
            "Argument `filters` must be a positive int. "
            f"Received: filters={filters}"
        )
    if not _is_int(num_convs) or num_convs <= 0:
        raise ValueError(
            "Argument `num_convs` must be a positive int (2 for a small "
            f"block, 3 for a large one). Received: num_convs={num_convs}"
        )
    if not _is_number(weight_decay) or weight_decay < 0:
        raise ValueError(
            "Argument `weight_decay` must be a number >= 0. "
            f"Received: weight_decay={weight_decay}"
        )


def _conv_bn(layer, count, filters, kernel_size, first_strides, weight_decay):
    """Creates `count` (Conv2D, BatchNormalization) pairs for `layer`."""
    regularizer = (
        keras.regularizers.L2(weight_decay) if weight_decay > 0 else None
    )
    convs, norms = [], []
    for index in range(count):
        convs.append(
            keras.layers.Conv2D(
                filters,
                kernel_size,
                strides=first_strides if index == 0 else 1,
                padding="same",
                use_bias=False,
                kernel_regularizer=regularizer,
                dtype=layer.dtype_policy,
                name=f"conv_{index}",
            )
        )
        norms.append(
            keras.layers.BatchNormalization(
                dtype=layer.dtype_policy, name=f"batch_norm_{index}"
            )
        )
    return convs, norms


def _build_chain(convs, norms, input_shape):
    shape = input_shape
    for conv, norm in zip(convs, norms):
        conv.build(shape)
        shape = conv.compute_output_shape(shape)
        norm.build(shape)
    return shape


def _halve(size, factor):
    return None if size is None else math.ceil(size / factor)


@keras.saving.register_keras_serializable(package="protkit")
class ResidualBlock(keras.layers.Layer):
    """Residual block of `num_convs` 3x3 convolutions (PLCNN's R_s and R_l).

    The main path is `num_convs` times conv-BN-ReLU, except that the last
    ReLU comes after the addition:

    `outputs = relu(BN(conv(... relu(BN(conv(inputs))) ...)) + shortcut)`

    The shortcut is the input itself when the block keeps the shape
    (`strides == 1` and input channels == `filters`); otherwise it is a 1x1
    convolution with the block's strides followed by batch normalization.
    Only the first convolution is strided. Convolutions use `"same"` padding
    and no bias.

    `ResidualBlock.small(filters, **kwargs)` builds R_s (`num_convs=2`) and
    `ResidualBlock.large(filters, **kwargs)` builds R_l (`num_convs=3`).

    Args:
        filters: Positive int, number of output channels.
        num_convs: Positive int, convolutions on the main path: 2 for the
            small block R_s, 3 for the large block R_l. Defaults to 2.
        strides: Positive int or tuple of two positive ints, strides of the
            first convolution (and of the projection shortcut). Defaults to 1.
        kernel_size: Positive int or tuple of two positive ints, size of the
            main-path convolutions. Defaults to 3.
        weight_decay: Float >= 0. If positive, an L2 penalty
            `weight_decay * sum(w**2)` is added on every convolution kernel.
            Defaults to 0.0.
        **kwargs: Base layer keyword arguments, such as `name` and `dtype`.

    Call arguments:
        inputs: A 4D tensor `(batch_size, height, width, channels)`.
        training: Python bool, whether batch normalization runs in training
            mode.

    Input shape:
        4D tensor with shape `(batch_size, height, width, channels)`, with
        the channel count known when the layer is built.

    Output shape:
        4D tensor with shape
        `(batch_size, ceil(height / sh), ceil(width / sw), filters)`, where
        `(sh, sw)` are the strides.

    Example:

    >>> x = np.random.rand(2, 9, 9, 4).astype("float32")
    >>> y = protkit.layers.ResidualBlock.large(8, strides=2)(x)
    >>> print(y.shape)
    (2, 5, 5, 8)

    Reference:
        - Tahir M., Anwar S. and Mian A., "Deep localization of subcellular
          protein structures from fluorescence microscopy images", Machine
          Vision and Applications, arXiv:1910.04287. PLCNN concatenates a
          branch of residual blocks and a branch of plain blocks stage by
          stage.
    """

    SMALL = 2
    LARGE = 3

    def __init__(
        self,
        filters,
        num_convs=2,
        strides=1,
        kernel_size=3,
        weight_decay=0.0,
        **kwargs,
    ):
        _validate_common(filters, num_convs, weight_decay)
        strides = _positive_int_pair(strides, "strides")
        kernel_size = _positive_int_pair(kernel_size, "kernel_size")
        super().__init__(**kwargs)
        self.filters = int(filters)
        self.num_convs = int(num_convs)
        self.strides = strides
        self.kernel_size = kernel_size
        self.weight_decay = float(weight_decay)
        self.input_spec = keras.layers.InputSpec(ndim=4)

        self.convs, self.norms = _conv_bn(
            self,
            self.num_convs,
            self.filters,
            self.kernel_size,
            self.strides,
            self.weight_decay,
        )
        # Created in build() when the input shape asks for a projection.
        self.shortcut_conv = None
        self.shortcut_norm = None

    @classmethod
    def small(cls, filters, **kwargs):
        """R_s: a residual block with two convolutions."""
        return cls(filters, num_convs=cls.SMALL, **kwargs)

    @classmethod
    def large(cls, filters, **kwargs):
        """R_l: a residual block with three convolutions."""
        return cls(filters, num_convs=cls.LARGE, **kwargs)

    def build(self, input_shape):
        if input_shape[-1] is None:
            raise ValueError(
                "ResidualBlock needs a known channel count. "
                f"Received: input_shape={input_shape}"
            )
        _build_chain(self.convs, self.norms, input_shape)
        if self.strides != (1, 1) or input_shape[-1] != self.filters:
            regularizer = (
                keras.regularizers.L2(self.weight_decay)
                if self.weight_decay > 0
                else None
            )
            # A 1x1 convolution with strides s equals subsampling every s-th pixel, then a 1x1
            # convolution with strides 1 (same weights). `call` does the latter: TensorFlow
            # 2.21's oneDNN CPU kernel for strided 1x1 convolutions corrupts the heap in
            # training at 64x64 (a segfault; tests/test_layers.py keeps a regression test).
            self.shortcut_conv = keras.layers.Conv2D(
                self.filters,
                1,
                strides=1,
                use_bias=False,
                kernel_regularizer=regularizer,
                dtype=self.dtype_policy,
                name="shortcut_conv",
            )
            self.shortcut_norm = keras.layers.BatchNormalization(
                dtype=self.dtype_policy, name="shortcut_batch_norm"
            )
            _build_chain(
                [self.shortcut_conv], [self.shortcut_norm], input_shape
            )

    def call(self, inputs, training=None):
        x = inputs
        for index, (conv, norm) in enumerate(zip(self.convs, self.norms)):
            x = norm(conv(x), training=training)
            if index < self.num_convs - 1:
                x = ops.relu(x)
        shortcut = inputs
        if self.shortcut_conv is not None:
            sampled = inputs
            if self.strides != (1, 1):
                sampled = inputs[:, :: self.strides[0], :: self.strides[1], :]
            shortcut = self.shortcut_norm(
                self.shortcut_conv(sampled), training=training
            )
        return ops.relu(x + shortcut)

    def compute_output_shape(self, input_shape):
        batch, height, width = input_shape[:3]
        return (
            batch,
            _halve(height, self.strides[0]),
            _halve(width, self.strides[1]),
            self.filters,
        )

    def get_config(self):
        config = super().get_config()
        config.update(
            {
                "filters": self.filters,
                "num_convs": self.num_convs,
                "strides": self.strides,
                "kernel_size": self.kernel_size,
                "weight_decay": self.weight_decay,
            }
        )
        return config


@keras.saving.register_keras_serializable(package="protkit")
class PlainBlock(keras.layers.Layer):
    """Plain block of `num_convs` 3x3 convolutions (PLCNN's P_s and P_l).

    `num_convs` times conv-BN-ReLU (`"same"` padding, no bias), then an
    optional 2x2 max pooling of stride 2 with `"same"` padding, so a plain
    block with `pool=True` and a residual block with `strides=2` give the
    same output size. There is no shortcut.

    `PlainBlock.small(filters, **kwargs)` builds P_s (`num_convs=2`) and
    `PlainBlock.large(filters, **kwargs)` builds P_l (`num_convs=3`).

    Args:
        filters: Positive int, number of output channels.
        num_convs: Positive int, number of convolutions: 2 for the small
            block P_s, 3 for the large block P_l. Defaults to 2.
        pool: bool. If `True`, finish with max pooling. Defaults to `True`.
        kernel_size: Positive int or tuple of two positive ints, size of the
            convolutions. Defaults to 3.
        weight_decay: Float >= 0. If positive, an L2 penalty
            `weight_decay * sum(w**2)` is added on every convolution kernel.
            Defaults to 0.0.
        **kwargs: Base layer keyword arguments, such as `name` and `dtype`.

    Call arguments:
        inputs: A 4D tensor `(batch_size, height, width, channels)`.
        training: Python bool, whether batch normalization runs in training
            mode.

    Input shape:
        4D tensor with shape `(batch_size, height, width, channels)`.

    Output shape:
        4D tensor with shape `(batch_size, new_height, new_width, filters)`,
        where `new_height = ceil(height / 2)` if `pool` else `height`, and the
        same for the width.

    Example:

    >>> x = np.random.rand(2, 9, 9, 4).astype("float32")
    >>> y = protkit.layers.PlainBlock.small(8)(x)
    >>> print(y.shape)
    (2, 5, 5, 8)

    Reference:
        - Tahir M., Anwar S. and Mian A., "Deep localization of subcellular
          protein structures from fluorescence microscopy images", Machine
          Vision and Applications, arXiv:1910.04287. PLCNN concatenates a
          branch of residual blocks and a branch of plain blocks stage by
          stage.
    """

    SMALL = 2
    LARGE = 3

    def __init__(
        self,
        filters,
        num_convs=2,
        pool=True,
        kernel_size=3,
        weight_decay=0.0,
        **kwargs,
    ):
        _validate_common(filters, num_convs, weight_decay)
        if not isinstance(pool, bool):
            raise ValueError(
                f"Argument `pool` must be a bool. Received: pool={pool}"
            )
        kernel_size = _positive_int_pair(kernel_size, "kernel_size")
        super().__init__(**kwargs)
        self.filters = int(filters)
        self.num_convs = int(num_convs)
        self.pool = pool
        self.kernel_size = kernel_size
        self.weight_decay = float(weight_decay)
        self.input_spec = keras.layers.InputSpec(ndim=4)

        self.convs, self.norms = _conv_bn(
            self,
            self.num_convs,
            self.filters,
            self.kernel_size,
            1,
            self.weight_decay,
        )
        self.pooling = (
            keras.layers.MaxPooling2D(
                2, padding="same", dtype=self.dtype_policy, name="pooling"
            )
            if pool
            else None
        )

    @classmethod
    def small(cls, filters, **kwargs):
        """P_s: a plain block with two convolutions."""
        return cls(filters, num_convs=cls.SMALL, **kwargs)

    @classmethod
    def large(cls, filters, **kwargs):
        """P_l: a plain block with three convolutions."""
        return cls(filters, num_convs=cls.LARGE, **kwargs)

    def build(self, input_shape):
        _build_chain(self.convs, self.norms, input_shape)

    def call(self, inputs, training=None):
        x = inputs
        for conv, norm in zip(self.convs, self.norms):
            x = ops.relu(norm(conv(x), training=training))
        if self.pooling is not None:
            x = self.pooling(x)
        return x

    def compute_output_shape(self, input_shape):
        batch, height, width = input_shape[:3]
        if self.pool:
            height, width = _halve(height, 2), _halve(width, 2)
        return (batch, height, width, self.filters)

    def get_config(self):
        config = super().get_config()
        config.update(
            {
                "filters": self.filters,
                "num_convs": self.num_convs,
                "pool": self.pool,
                "kernel_size": self.kernel_size,
                "weight_decay": self.weight_decay,
            }
        )
        return config
