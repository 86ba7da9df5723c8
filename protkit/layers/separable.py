"""Depthwise separable convolution block: conv, batch norm, ReLU, pooling."""

import keras
from keras import ops

from protkit._validation import (
    bool_argument,
    non_negative_argument,
    positive_int_argument,
    positive_int_pair,
    rate_argument,
)
from protkit.layers._conv_stack import halving_pool, l2_regularizer, pooled_output_shape


@keras.saving.register_keras_serializable(package="protkit")
class SeparableConvBlock(keras.layers.Layer):
    """Depthwise separable convolution, batch norm, ReLU and max pooling.

    The block applies a depthwise `kernel_size` convolution to each channel,
    a 1x1 pointwise convolution to `filters` channels (both with `"same"`
    padding and no bias), batch normalization and ReLU, then optionally a
    2x2 max pooling and dropout. A separable convolution needs about
    `1 / filters + 1 / kernel_size**2` of the weights and multiply-adds of
    a full convolution, which keeps the Fast Spec CNN small.

    Args:
        filters: Positive int, number of output channels. Defaults to 32.
        kernel_size: Positive int or tuple of two positive ints, size of the
            depthwise window. Defaults to 3.
        pool: bool. If `True`, finish with a 2x2 max pooling of stride 2
            (`"same"` padding, so odd sizes round up). Defaults to `True`.
        weight_decay: Float >= 0. If positive, an L2 penalty
            `weight_decay * sum(w**2)` is added on the depthwise and pointwise
            kernels. Defaults to 0.0.
        dropout: Float in `[0, 1)`, dropout rate applied last, in training
            only. Defaults to 0.0.
        **kwargs: Base layer keyword arguments, such as `name` and `dtype`.

    Call arguments:
        inputs: A 4D tensor `(batch_size, height, width, channels)`.
        training: Python bool, whether batch normalization and dropout run
            in training mode.

    Input shape:
        4D tensor with shape `(batch_size, height, width, channels)`.

    Output shape:
        4D tensor with shape `(batch_size, new_height, new_width, filters)`,
        where `new_height = ceil(height / 2)` if `pool` else `height`, and the
        same for the width.

    Example:

    >>> x = np.random.rand(2, 9, 9, 4).astype("float32")
    >>> y = protkit.layers.SeparableConvBlock(filters=8)(x)
    >>> print(y.shape)
    (2, 5, 5, 8)

    Reference:
        - Savitha S. et al., "An Upgraded Blended Model for Human Protein
          Classification Using Fast Spec CNN with Multi-Head Attention and
          GAN Augmentation", Salud, Ciencia y Tecnologia - Serie de
          Conferencias 3:804 (2024), doi:10.56294/sctconf2024804. Fast Spec
          CNN stacks depthwise separable convolution blocks on an FFT
          spectrum, followed by multi-head attention.
    """

    def __init__(
        self,
        filters=32,
        kernel_size=3,
        pool=True,
        weight_decay=0.0,
        dropout=0.0,
        **kwargs,
    ):
        filters = positive_int_argument(filters, "filters")
        kernel_size = positive_int_pair(kernel_size, "kernel_size")
        pool = bool_argument(pool, "pool")
        weight_decay = non_negative_argument(weight_decay, "weight_decay")
        dropout = rate_argument(dropout, "dropout")
        super().__init__(**kwargs)
        self.filters = filters
        self.kernel_size = kernel_size
        self.pool = pool
        self.weight_decay = weight_decay
        self.dropout = dropout
        self.input_spec = keras.layers.InputSpec(ndim=4)

        regularizer = l2_regularizer(self.weight_decay)
        self.separable_conv = keras.layers.SeparableConv2D(
            filters,
            kernel_size,
            padding="same",
            use_bias=False,
            depthwise_regularizer=regularizer,
            pointwise_regularizer=regularizer,
            dtype=self.dtype_policy,
            name="separable_conv",
        )
        self.batch_norm = keras.layers.BatchNormalization(
            dtype=self.dtype_policy, name="batch_norm"
        )
        self.pooling = halving_pool(self, pool)
        self.dropout_layer = (
            keras.layers.Dropout(
                self.dropout, dtype=self.dtype_policy, name="dropout"
            )
            if self.dropout > 0
            else None
        )

    def build(self, input_shape):
        self.separable_conv.build(input_shape)
        conv_shape = self.separable_conv.compute_output_shape(input_shape)
        self.batch_norm.build(conv_shape)

    def call(self, inputs, training=None):
        x = self.separable_conv(inputs)
        x = self.batch_norm(x, training=training)
        x = ops.relu(x)
        if self.pooling is not None:
            x = self.pooling(x)
        if self.dropout_layer is not None:
            x = self.dropout_layer(x, training=training)
        return x

    def compute_output_shape(self, input_shape):
        return pooled_output_shape(input_shape, self.filters, self.pool)

    def get_config(self):
        config = super().get_config()
        config.update(
            {
                "filters": self.filters,
                "kernel_size": self.kernel_size,
                "pool": self.pool,
                "weight_decay": self.weight_decay,
                "dropout": self.dropout,
            }
        )
        return config
