"""`ConvNeXtBlock`: a depthwise large-kernel convolution and a channel MLP, added to its input."""

import keras
from keras import ops

from protkit._validation import check_non_negative, check_positive_int


@keras.saving.register_keras_serializable(package="protkit")
class ConvNeXtBlock(keras.layers.Layer):
    """The ConvNeXt block: spatial mixing per channel, then channel mixing per pixel, residual.

    `outputs = inputs + gamma * Dense_C(gelu(Dense_eC(LayerNorm(DepthwiseConv_kxk(inputs)))))`

    A depthwise `kernel_size` x `kernel_size` convolution (7 x 7 by default: a wide view at a
    low cost) sees each channel on its own; a layer normalization over the channels and a two-
    layer MLP, `expansion` times wider in the middle, mix the channels at every pixel; the
    per-channel `gamma` (layer scale, started at `layer_scale`) lets a deep stack begin close
    to the identity. The block keeps the input's shape; the network downsamples between
    stages (`protkit.models.convnext`).

    Args:
        kernel_size: Positive int, the depthwise kernel. Defaults to 7.
        expansion: Positive int, the MLP's hidden width over the channels. Defaults to 4.
        layer_scale: Float >= 0, the start value of `gamma`; 0 leaves the scale out.
            Defaults to 1e-6.
        weight_decay: Float >= 0. If positive, an L2 penalty on the convolution and MLP
            kernels. Defaults to 0.0.
        **kwargs: Base layer keyword arguments, such as `name` and `dtype`.

    Call arguments:
        inputs: A 4D tensor `(batch_size, height, width, channels)`.

    Output shape:
        The input's shape.

    Example:

    >>> x = np.random.rand(2, 8, 8, 4).astype("float32")
    >>> print(protkit.layers.ConvNeXtBlock()(x).shape)
    (2, 8, 8, 4)

    Reference:
        - Liu Z. et al., "A ConvNet for the 2020s", CVPR 2022, arXiv:2201.03545.
    """

    def __init__(self, kernel_size=7, expansion=4, layer_scale=1e-6, weight_decay=0.0, **kwargs):
        super().__init__(**kwargs)
        self.kernel_size = check_positive_int(kernel_size, "kernel_size")
        self.expansion = check_positive_int(expansion, "expansion")
        self.layer_scale = check_non_negative(layer_scale, "layer_scale")
        self.weight_decay = check_non_negative(weight_decay, "weight_decay")
        self.input_spec = keras.layers.InputSpec(ndim=4)
        regularizer = keras.regularizers.L2(self.weight_decay) if self.weight_decay > 0 else None
        self.depthwise = keras.layers.DepthwiseConv2D(self.kernel_size, padding="same",
                                                      depthwise_regularizer=regularizer, dtype=self.dtype_policy,
                                                      name="depthwise")
        self.norm = keras.layers.LayerNormalization(epsilon=1e-6, dtype=self.dtype_policy, name="norm")
        self._regularizer = regularizer
        self.expand = self.project = None  # their widths follow the input's channels (build)

    def build(self, input_shape):
        channels = input_shape[-1]
        if channels is None:
            raise ValueError(f"ConvNeXtBlock needs a known channel count. Received: input_shape={input_shape}")
        self.depthwise.build(input_shape)
        self.norm.build(input_shape)
        self.expand = keras.layers.Dense(self.expansion * channels, kernel_regularizer=self._regularizer,
                                         dtype=self.dtype_policy, name="expand")
        self.project = keras.layers.Dense(channels, kernel_regularizer=self._regularizer, dtype=self.dtype_policy,
                                          name="project")
        self.expand.build(input_shape)
        self.project.build((*input_shape[:-1], self.expansion * channels))
        self.gamma = None
        if self.layer_scale > 0:
            self.gamma = self.add_weight(name="gamma", shape=(channels,),
                                         initializer=keras.initializers.Constant(self.layer_scale))

    def call(self, inputs):
        x = self.expand(self.norm(self.depthwise(inputs)))
        # The exact GELU written with erf: TensorFlow's own gelu uses erfc, which ONNX lacks.
        x = self.project(0.5 * x * (1.0 + ops.erf(x * 0.7071067811865476)))
        if self.gamma is not None:
            x = x * self.gamma
        return inputs + x

    def compute_output_shape(self, input_shape):
        return tuple(input_shape)

    def get_config(self):
        return dict(super().get_config(), kernel_size=self.kernel_size, expansion=self.expansion,
                    layer_scale=self.layer_scale, weight_decay=self.weight_decay)
