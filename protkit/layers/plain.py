"""`PlainBlock`: convolutions without a shortcut, then max pooling (PLCNN's P_s and P_l)."""

import keras
from keras import ops

from protkit._validation import bool_argument, conv_block_arguments, positive_int_pair
from protkit.layers._conv_stack import ConvBNStack, build_chain, halving_pool, pooled_output_shape


@keras.saving.register_keras_serializable(package="protkit")
class PlainBlock(ConvBNStack):
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

    def __init__(
        self,
        filters,
        num_convs=2,
        pool=True,
        kernel_size=3,
        weight_decay=0.0,
        **kwargs,
    ):
        filters, num_convs, weight_decay = conv_block_arguments(
            filters, num_convs, weight_decay
        )
        pool = bool_argument(pool, "pool")
        kernel_size = positive_int_pair(kernel_size, "kernel_size")
        super().__init__(filters, num_convs, kernel_size, weight_decay, **kwargs)
        self.pool = pool
        self.pooling = halving_pool(self, pool)

    def build(self, input_shape):
        build_chain(self.convs, self.norms, input_shape)

    def call(self, inputs, training=None):
        x = inputs
        for conv, norm in zip(self.convs, self.norms):
            x = ops.relu(norm(conv(x), training=training))
        if self.pooling is not None:
            x = self.pooling(x)
        return x

    def compute_output_shape(self, input_shape):
        return pooled_output_shape(input_shape, self.filters, self.pool)

    def get_config(self):
        config = super().get_config()
        config["pool"] = self.pool
        return config
