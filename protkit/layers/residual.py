"""`ResidualBlock`: a residual block of 3x3 convolutions (PLCNN's R_s and R_l, ResNet's basic block)."""

import keras
from keras import ops

from protkit._validation import conv_block_arguments, positive_int_pair
from protkit.layers._conv_stack import ConvBNStack, build_chain, halved, l2_regularizer


@keras.saving.register_keras_serializable(package="protkit")
class ResidualBlock(ConvBNStack):
    """Residual block of `num_convs` 3x3 convolutions (PLCNN's R_s and R_l).

    The main path is `num_convs` times conv-BN-ReLU, except that the last
    ReLU comes after the addition:

    `outputs = relu(BN(conv(... relu(BN(conv(inputs))) ...)) + shortcut)`

    The shortcut is the input itself when the block keeps the shape
    (`strides == 1` and input channels == `filters`); otherwise it is a 1x1
    convolution with the block's strides followed by batch normalization.
    Only the first convolution is strided. Convolutions use `"same"` padding
    and no bias.

    With `squeeze_excite > 0` the main path is recalibrated channel by channel
    before the addition (squeeze-and-excitation): its per-channel means go
    through a bottleneck `Dense(max(1, round(filters * squeeze_excite)), relu)`
    and `Dense(filters, sigmoid)`, and each channel is multiplied by its gate.

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
        squeeze_excite: Float in [0, 1], the squeeze-and-excitation
            bottleneck as a fraction of `filters` (0.25 in Hu et al.'s
            SE-ResNet with reduction 4); 0 leaves it out. Defaults to 0.0.
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
        - Hu J., Shen L. and Sun G., "Squeeze-and-Excitation Networks", CVPR
          2018, arXiv:1709.01507.
    """

    def __init__(
        self,
        filters,
        num_convs=2,
        strides=1,
        kernel_size=3,
        weight_decay=0.0,
        squeeze_excite=0.0,
        **kwargs,
    ):
        filters, num_convs, weight_decay = conv_block_arguments(
            filters, num_convs, weight_decay
        )
        if isinstance(squeeze_excite, bool) or not isinstance(
            squeeze_excite, (int, float)
        ) or not 0 <= squeeze_excite <= 1:
            raise ValueError(
                "squeeze_excite must be a number in [0, 1]. "
                f"Received: squeeze_excite={squeeze_excite!r}"
            )
        strides = positive_int_pair(strides, "strides")
        kernel_size = positive_int_pair(kernel_size, "kernel_size")
        super().__init__(
            filters,
            num_convs,
            kernel_size,
            weight_decay,
            first_strides=strides,
            **kwargs,
        )
        self.strides = strides
        self.squeeze_excite = float(squeeze_excite)
        self.se_reduce = self.se_expand = None
        if self.squeeze_excite > 0:
            self.se_reduce = keras.layers.Dense(
                max(1, round(filters * self.squeeze_excite)),
                activation="relu",
                dtype=self.dtype_policy,
                name="se_reduce",
            )
            self.se_expand = keras.layers.Dense(
                filters,
                activation="sigmoid",
                dtype=self.dtype_policy,
                name="se_expand",
            )
        # Created in build() when the input shape asks for a projection.
        self.shortcut_conv = None
        self.shortcut_norm = None

    def build(self, input_shape):
        if input_shape[-1] is None:
            raise ValueError(
                "ResidualBlock needs a known channel count. "
                f"Received: input_shape={input_shape}"
            )
        build_chain(self.convs, self.norms, input_shape)
        if self.se_reduce is not None:
            self.se_reduce.build((None, self.filters))
            self.se_expand.build(self.se_reduce.compute_output_shape((None, self.filters)))
        if self.strides != (1, 1) or input_shape[-1] != self.filters:
            # A 1x1 convolution with strides s equals subsampling every s-th pixel, then a 1x1
            # convolution with strides 1 (same weights). `call` does the latter: TensorFlow
            # 2.21's oneDNN CPU kernel for strided 1x1 convolutions corrupts the heap in
            # training at 64x64 (a segfault; tests/test_layers.py keeps a regression test).
            self.shortcut_conv = keras.layers.Conv2D(
                self.filters,
                1,
                strides=1,
                use_bias=False,
                kernel_regularizer=l2_regularizer(self.weight_decay),
                dtype=self.dtype_policy,
                name="shortcut_conv",
            )
            self.shortcut_norm = keras.layers.BatchNormalization(
                dtype=self.dtype_policy, name="shortcut_batch_norm"
            )
            build_chain([self.shortcut_conv], [self.shortcut_norm], input_shape)

    def call(self, inputs, training=None):
        x = inputs
        for index, (conv, norm) in enumerate(zip(self.convs, self.norms)):
            x = norm(conv(x), training=training)
            if index < self.num_convs - 1:
                x = ops.relu(x)
        if self.se_reduce is not None:
            gate = self.se_expand(self.se_reduce(ops.mean(x, axis=(1, 2))))
            x = x * gate[:, None, None, :]
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
            halved(height, self.strides[0]),
            halved(width, self.strides[1]),
            self.filters,
        )

    def get_config(self):
        config = super().get_config()
        config["strides"] = self.strides
        config["squeeze_excite"] = self.squeeze_excite
        return config
