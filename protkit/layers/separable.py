"""Depthwise separable convolution block: conv, batch norm, ReLU, pooling."""

import math

import keras
from keras import ops


from protkit._validation import is_int as _is_int
from protkit._validation import is_number as _is_number
from protkit._validation import positive_int_pair as _positive_int_pair


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
        if not _is_int(filters) or filters <= 0:
            raise ValueError(
                "Argument `filters` must be a positive int. "
                f"Received: filters={filters}"
            )
        kernel_size = _positive_int_pair(kernel_size, "kernel_size")
        if not isinstance(pool, bool):
            raise ValueError(
                f"Argument `pool` must be a bool. Received: pool={pool}"
            )
        if not _is_number(weight_decay) or weight_decay < 0:
            raise ValueError(
                "Argument `weight_decay` must be a number >= 0. "
                f"Received: weight_decay={weight_decay}"
            )
        if not _is_number(dropout) or not 0 <= dropout < 1:
            raise ValueError(
                "Argument `dropout` must be a number in [0, 1). "
                f"Received: dropout={dropout}"
            )
        super().__init__(**kwargs)
        self.filters = int(filters)
        self.kernel_size = kernel_size
        self.pool = pool
        self.weight_decay = float(weight_decay)
        self.dropout = float(dropout)
        self.input_spec = keras.layers.InputSpec(ndim=4)

        regularizer = (
            keras.regularizers.L2(self.weight_decay)
            if self.weight_decay > 0
            else None
        )
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
        self.pooling = (
            keras.layers.MaxPooling2D(
                2, padding="same", dtype=self.dtype_policy, name="pooling"
            )
            if pool
            else None
        )
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
        batch, height, width = input_shape[:3]
        if self.pool:
            height = None if height is None else math.ceil(height / 2)
            width = None if width is None else math.ceil(width / 2)
        return (batch, height, width, self.filters)

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
