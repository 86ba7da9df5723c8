"""Keras 3 layers for fluorescence-microscopy images (channels-last)."""

from protkit.layers.attention import SpatialAttention
from protkit.layers.clustering import SoftAssignment
from protkit.layers.convnext import ConvNeXtBlock
from protkit.layers.fft import FFTSpectrum
from protkit.layers.plain import PlainBlock
from protkit.layers.residual import ResidualBlock
from protkit.layers.separable import SeparableConvBlock
from protkit.layers.spectral_filter import GlobalSpectralFilter

__all__ = [
    "ConvNeXtBlock",
    "FFTSpectrum",
    "GlobalSpectralFilter",
    "PlainBlock",
    "ResidualBlock",
    "SeparableConvBlock",
    "SoftAssignment",
    "SpatialAttention",
]
