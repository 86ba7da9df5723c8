"""`GlobalSpectralFilter`: a learnable filter over the whole feature map, applied in the Fourier domain."""

import keras
import numpy as np
from keras import ops

from protkit._validation import bool_argument, check_non_negative


def _dft_parts(size):
    """(cos, -sin) parts of the size x size DFT matrix exp(-2 pi i k n / size)."""
    angle = -2.0 * np.pi * np.outer(np.arange(size), np.arange(size)) / size
    return np.cos(angle).astype("float32"), np.sin(angle).astype("float32")


@keras.saving.register_keras_serializable(package="protkit")
class GlobalSpectralFilter(keras.layers.Layer):
    """Multiplies every channel's 2D Fourier transform by a learnable complex filter (GFNet).

    For each channel ``x_c`` of a (height, width) feature map the layer computes

        ``y_c = real(ifft2(fft2(x_c) * (filter_real_c + i filter_imag_c)))``

    and returns ``inputs + y`` (``residual=True``, the default) or ``y``. One learnable
    complex number per frequency and channel gives each channel a filter as large as the
    map itself: a convolution with a global kernel at the cost of two transforms. Where the
    Fast Spec CNN's input FFT hands the convolutions a spectrum they were not built for
    (neighbouring frequencies are not neighbouring structures), this layer keeps the feature
    map in image space and lets the spectrum act where it is natural, as a filter.

    The transforms are products with the real and imaginary parts of the DFT matrices (no
    complex tensors: every backend and exchange format runs it; O(H W (H + W)) per channel,
    small for the feature maps of a cell classifier). They run in float32 whatever the dtype
    policy. The filter starts as a small random perturbation of zero (standard deviation
    ``init_scale``), so a residual layer starts close to the identity.

    Args:
        init_scale: Float >= 0, the standard deviation of the filter's start. Defaults to 0.02.
        residual: bool, whether to add the input back. Defaults to `True`.
        **kwargs: Base layer keyword arguments, such as `name` and `dtype`.

    Call arguments:
        inputs: A 4D tensor `(batch_size, height, width, channels)` with static height,
            width and channels.

    Output shape:
        The input's shape.

    Example:

    >>> x = np.random.rand(2, 8, 6, 3).astype("float32")
    >>> print(protkit.layers.GlobalSpectralFilter()(x).shape)
    (2, 8, 6, 3)

    Reference:
        - Rao Y. et al., "Global Filter Networks for Image Classification", NeurIPS 2021,
          arXiv:2107.00645.
    """

    def __init__(self, init_scale=0.02, residual=True, **kwargs):
        super().__init__(**kwargs)
        self.init_scale = check_non_negative(init_scale, "init_scale")
        self.residual = bool_argument(residual, "residual")
        self.input_spec = keras.layers.InputSpec(ndim=4)

    def build(self, input_shape):
        height, width, channels = input_shape[1:]
        if None in (height, width, channels):
            raise ValueError(f"GlobalSpectralFilter needs static height, width and channels. "
                             f"Received: input_shape={input_shape}")
        initializer = keras.initializers.RandomNormal(stddev=self.init_scale)
        self.filter_real = self.add_weight(name="filter_real", shape=(height, width, channels),
                                           initializer=initializer, dtype="float32")
        self.filter_imag = self.add_weight(name="filter_imag", shape=(height, width, channels),
                                           initializer=initializer, dtype="float32")
        self._height, self._width = int(height), int(width)

    def call(self, inputs):
        cos_h, sin_h = (ops.convert_to_tensor(part) for part in _dft_parts(self._height))
        cos_w, sin_w = (ops.convert_to_tensor(part) for part in _dft_parts(self._width))
        x = ops.transpose(ops.cast(inputs, "float32"), (0, 3, 1, 2))  # (batch, channels, height, width)
        # Forward DFT of a real map: (C_h + i S_h) x (C_w + i S_w).
        left_real, left_imag = ops.matmul(cos_h, x), ops.matmul(sin_h, x)
        real = ops.matmul(left_real, cos_w) - ops.matmul(left_imag, sin_w)
        imag = ops.matmul(left_real, sin_w) + ops.matmul(left_imag, cos_w)
        filter_real = ops.transpose(self.filter_real, (2, 0, 1))
        filter_imag = ops.transpose(self.filter_imag, (2, 0, 1))
        real, imag = real * filter_real - imag * filter_imag, real * filter_imag + imag * filter_real
        # Inverse DFT, real part: (C_h - i S_h) Y (C_w - i S_w) / (H W).
        top = ops.matmul(cos_h, real) + ops.matmul(sin_h, imag)
        bottom = ops.matmul(cos_h, imag) - ops.matmul(sin_h, real)
        filtered = (ops.matmul(top, cos_w) + ops.matmul(bottom, sin_w)) / float(self._height * self._width)
        filtered = ops.cast(ops.transpose(filtered, (0, 2, 3, 1)), self.compute_dtype)
        return ops.cast(inputs, self.compute_dtype) + filtered if self.residual else filtered

    def compute_output_shape(self, input_shape):
        return tuple(input_shape)

    def get_config(self):
        return dict(super().get_config(), init_scale=self.init_scale, residual=self.residual)
