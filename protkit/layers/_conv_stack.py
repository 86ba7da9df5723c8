"""Pieces shared by protkit's convolution blocks (`ResidualBlock`, `PlainBlock`, `SeparableConvBlock`).

`ConvBNStack` is the common base of the residual and plain blocks: `num_convs` pairs of a
`"same"`-padded, bias-free convolution and a batch normalization, plus the `small` (2
convolutions) and `large` (3 convolutions) constructors. It is not registered for
serialization itself: each subclass is, under its own name.
"""

import math

import keras


def l2_regularizer(weight_decay):
    """`keras.regularizers.L2(weight_decay)`, or None when `weight_decay` is 0."""
    return keras.regularizers.L2(weight_decay) if weight_decay > 0 else None


def halved(size, factor):
    """`ceil(size / factor)`, the size after a `"same"` stride or pooling; None stays None."""
    return None if size is None else math.ceil(size / factor)


def pooled_output_shape(input_shape, filters, pool):
    """`(batch, height, width, filters)`, with height and width halved (rounding up) if `pool`."""
    batch, height, width = input_shape[:3]
    if pool:
        height, width = halved(height, 2), halved(width, 2)
    return (batch, height, width, filters)


def halving_pool(layer, pool):
    """The 2x2, stride-2, `"same"` max pooling named `pooling` of `layer`, or None without `pool`."""
    if not pool:
        return None
    return keras.layers.MaxPooling2D(
        2, padding="same", dtype=layer.dtype_policy, name="pooling"
    )


def build_chain(convs, norms, input_shape):
    """Builds (conv, norm) pairs one after the other from `input_shape`; returns the output shape."""
    shape = input_shape
    for conv, norm in zip(convs, norms):
        conv.build(shape)
        shape = conv.compute_output_shape(shape)
        norm.build(shape)
    return shape


def conv_bn_pairs(layer, count, filters, kernel_size, first_strides, weight_decay):
    """`count` (Conv2D, BatchNormalization) pairs for `layer`: `conv_{i}`, `batch_norm_{i}`.

    Only the first convolution has strides `first_strides`; all use `"same"` padding, no
    bias, and an L2 penalty on the kernel when `weight_decay` is positive.
    """
    regularizer = l2_regularizer(weight_decay)
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


class ConvBNStack(keras.layers.Layer):
    """Base of the residual and plain blocks: `num_convs` conv + batch-norm pairs.

    Subclasses check their arguments (`protkit._validation.conv_block_arguments` for the
    shared ones) before calling `super().__init__`, which stores `filters`, `num_convs`,
    `kernel_size` and `weight_decay` and creates `self.convs` and `self.norms`.
    `get_config` returns those four; subclasses add their own.
    """

    SMALL = 2
    LARGE = 3

    def __init__(
        self,
        filters,
        num_convs,
        kernel_size,
        weight_decay,
        first_strides=1,
        **kwargs,
    ):
        super().__init__(**kwargs)
        self.filters = filters
        self.num_convs = num_convs
        self.kernel_size = kernel_size
        self.weight_decay = weight_decay
        self.input_spec = keras.layers.InputSpec(ndim=4)
        self.convs, self.norms = conv_bn_pairs(
            self,
            self.num_convs,
            self.filters,
            self.kernel_size,
            first_strides,
            self.weight_decay,
        )

    @classmethod
    def small(cls, filters, **kwargs):
        """The small block (R_s or P_s): two convolutions."""
        return cls(filters, num_convs=cls.SMALL, **kwargs)

    @classmethod
    def large(cls, filters, **kwargs):
        """The large block (R_l or P_l): three convolutions."""
        return cls(filters, num_convs=cls.LARGE, **kwargs)

    def get_config(self):
        config = super().get_config()
        config.update(
            {
                "filters": self.filters,
                "num_convs": self.num_convs,
                "kernel_size": self.kernel_size,
                "weight_decay": self.weight_decay,
            }
        )
        return config
