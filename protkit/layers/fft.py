"""Centred 2D Fourier spectrum of every channel of an image."""

import keras
import numpy as np
from keras import ops

from protkit._validation import bool_argument, choice_argument

_MODES = ("spectral", "dual")
_TRANSFORMS = ("fft", "matmul")

# Squared magnitudes below this count as zero. It keeps the square root and
# the phase differentiable where the spectrum vanishes (e.g. a flat
# background), at the cost of an error below 1e-6 in the log-magnitude.
_TINY = 1e-12


def _fftshift(x, axes):
    """Moves the zero-frequency term to the centre, like `np.fft.fftshift`."""
    for axis in axes:
        size = ops.shape(x)[axis]
        x = ops.roll(x, shift=size // 2, axis=axis)
    return x


@keras.saving.register_keras_serializable(package="protkit")
class FFTSpectrum(keras.layers.Layer):
    """Centred log-magnitude 2D Fourier spectrum of each channel.

    For every channel the layer takes the 2D discrete Fourier transform over
    height and width, moves the zero frequency to the centre of the map
    (as `np.fft.fftshift` does) and returns `log1p(|F|)`. Periodic texture
    in a fluorescence image (filaments, speckles, regular puncta) shows up
    as peaks in this map, which a small CNN finds more easily than in the
    spatial image. The transform runs in float32 whatever the layer's dtype
    policy, and the result is cast back to the compute dtype.

    The layer has no weights.

    Args:
        mode: `"spectral"` to return the spectrum only, or `"dual"` to
            return the spatial input followed by its spectrum on the channel
            axis. Defaults to `"spectral"`.
        include_phase: bool. If `True`, append the phase of each channel
            (radians, in `[-pi, pi]`) after the log-magnitude channels.
            Where the magnitude is (numerically) zero the phase is 0.
            Defaults to `False`.
        normalize: bool. If `True`, divide the magnitude by `height * width`
            before `log1p`, so that the value does not grow with the image
            size (the zero-frequency term becomes the channel mean).
            Defaults to `False`.
        transform: `"fft"` (the backend's fast Fourier transform, the
            default) or `"matmul"`: the same transform as products with the
            real and imaginary parts of the DFT matrices, the centring folded
            into them. Both give the same spectrum (to float32 rounding);
            `"matmul"` uses only real matrix products, which every exchange
            format can express (ONNX has no complex tensors, so
            `protkit.export.export_onnx` switches to it), at
            O(H W (H + W)) cost instead of O(H W log(H W)).
        **kwargs: Base layer keyword arguments, such as `name` and `dtype`.

    Call arguments:
        inputs: A 4D tensor `(batch_size, height, width, channels)`.

    Input shape:
        4D tensor with shape `(batch_size, height, width, channels)`.
        Height and width must be known when the layer is built.

    Output shape:
        4D tensor with shape `(batch_size, height, width, out_channels)`,
        where `out_channels = channels * (1 + include_phase)`, plus
        `channels` when `mode="dual"`. Channel order: spatial input (dual
        mode only), log-magnitudes, phases (if requested).

    Example:

    >>> x = np.random.rand(2, 16, 16, 3).astype("float32")
    >>> y = protkit.layers.FFTSpectrum(mode="dual", include_phase=True)(x)
    >>> print(y.shape)
    (2, 16, 16, 9)

    Reference:
        - Savitha S. et al., "An Upgraded Blended Model for Human Protein
          Classification Using Fast Spec CNN with Multi-Head Attention and
          GAN Augmentation", Salud, Ciencia y Tecnologia - Serie de
          Conferencias 3:804 (2024), doi:10.56294/sctconf2024804. Fast Spec
          CNN feeds an FFT spectrum to depthwise separable convolutions
          followed by multi-head attention.
    """

    def __init__(
        self, mode="spectral", include_phase=False, normalize=False, transform="fft", **kwargs
    ):
        choice_argument(mode, "mode", _MODES)
        bool_argument(include_phase, "include_phase")
        bool_argument(normalize, "normalize")
        choice_argument(transform, "transform", _TRANSFORMS)
        super().__init__(**kwargs)
        self.mode = mode
        self.include_phase = include_phase
        self.normalize = normalize
        self.transform = transform
        self.input_spec = keras.layers.InputSpec(ndim=4)

    def build(self, input_shape):
        if input_shape[1] is None or input_shape[2] is None:
            raise ValueError(
                "FFTSpectrum needs a static height and width. "
                f"Received: input_shape={input_shape}"
            )

    def _centred_dft(self, x):
        """(real, imag) of the centred 2D DFT of x (batch, channels, H, W), by products with the DFT matrices."""
        height, width = x.shape[2], x.shape[3]

        def matrices(n):
            # rows rolled by n // 2: the centring of `_fftshift` is folded into the matrix
            k = np.roll(np.arange(n), n // 2)[:, None]
            angle = 2 * np.pi * (k * np.arange(n)[None, :] % n) / n
            return (ops.convert_to_tensor(np.cos(angle).astype("float32")),
                    ops.convert_to_tensor(np.sin(angle).astype("float32")))

        cos_h, sin_h = matrices(height)
        cos_w, sin_w = matrices(width)
        cos_w, sin_w = ops.transpose(cos_w), ops.transpose(sin_w)
        # F = (Ch - i Sh) x (Cw - i Sw)^T
        left_cos, left_sin = ops.matmul(cos_h, x), ops.matmul(sin_h, x)
        real = ops.matmul(left_cos, cos_w) - ops.matmul(left_sin, sin_w)
        imag = -(ops.matmul(left_sin, cos_w) + ops.matmul(left_cos, sin_w))
        return real, imag

    def call(self, inputs):
        # (batch, height, width, channels) -> (batch, channels, height, width)
        # because `fft2` transforms the last two axes.
        x = ops.transpose(ops.cast(inputs, "float32"), (0, 3, 1, 2))
        if self.transform == "matmul":
            real, imag = self._centred_dft(x)
        else:
            real, imag = ops.fft2((x, ops.zeros_like(x)))
        squared = ops.square(real) + ops.square(imag)
        nonzero = ops.greater(squared, _TINY)
        magnitude = ops.sqrt(ops.maximum(squared, _TINY))
        if self.normalize:
            height, width = ops.shape(x)[2], ops.shape(x)[3]
            magnitude = magnitude / ops.cast(height * width, "float32")
        # log(1 + m) spelt out for "matmul": ONNX has no log1p (m >= 1e-6 here, so nothing is lost)
        features = [ops.log1p(magnitude) if self.transform == "fft" else ops.log(1.0 + magnitude)]
        if self.include_phase:
            # Replace vanishing coefficients by 1 + 0j before arctan2 so that
            # its gradient stays finite there.
            safe_real = ops.where(nonzero, real, ops.ones_like(real))
            safe_imag = ops.where(nonzero, imag, ops.zeros_like(imag))
            features.append(ops.arctan2(safe_imag, safe_real))
        spectrum = ops.concatenate(features, axis=1)
        if self.transform == "fft":  # the matmul transform is centred already
            spectrum = _fftshift(spectrum, axes=(2, 3))
        spectrum = ops.transpose(spectrum, (0, 2, 3, 1))
        spectrum = ops.cast(spectrum, self.compute_dtype)
        if self.mode == "dual":
            spatial = ops.cast(inputs, self.compute_dtype)
            return ops.concatenate([spatial, spectrum], axis=-1)
        return spectrum

    def compute_output_shape(self, input_shape):
        channels = input_shape[-1]
        if channels is not None:
            channels = channels * (2 if self.include_phase else 1)
            if self.mode == "dual":
                channels += input_shape[-1]
        return tuple(input_shape[:-1]) + (channels,)

    def get_config(self):
        config = super().get_config()
        config.update(
            {
                "mode": self.mode,
                "include_phase": self.include_phase,
                "transform": self.transform,
                "normalize": self.normalize,
            }
        )
        return config
