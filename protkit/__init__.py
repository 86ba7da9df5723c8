"""protkit: Keras 3 building blocks and notebooks for fluorescence microscopy of proteins and cells."""

__version__ = "0.1.0"
