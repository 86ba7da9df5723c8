"""Optional extras: features that need packages the base install leaves out say what to install."""

from __future__ import annotations

import importlib.util

# extra name -> the packages it installs (pyproject.toml's optional-dependencies say the versions)
EXTRAS = {"export": ("onnx", "onnxruntime", "tf2onnx", "bioimageio.spec"),
          "formats": ("bioio", "bioio_ome_tiff", "bioio_ome_zarr"),
          "jax": ("jax",)}


class MissingExtraError(ImportError):
    """An optional extra a feature needs is not installed (the message says what to install)."""


def require(extra, feature, packages=None):
    """Raise `MissingExtraError` unless the packages of ``extra`` (or ``packages``) import."""
    missing = [name for name in (packages or EXTRAS[extra]) if importlib.util.find_spec(name) is None]
    if missing:
        raise MissingExtraError(f"{feature} needs {', '.join(missing)}: pip install -e \".[{extra}]\"")
