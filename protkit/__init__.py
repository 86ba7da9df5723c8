"""protkit: Keras 3 building blocks and notebooks for fluorescence microscopy of proteins and cells.

Start with `protkit.data.Dataset` (read your folders), `protkit.data.make_pipeline` (tf.data),
`protkit.train` (a run folder from a dataset), `protkit.load_run` / `evaluate_run` /
`predict_run` (use a run), and `protkit.metrics` (honest numbers).
"""

__version__ = "0.1.0"

from protkit.data import (  # noqa: E402  (light: no TensorFlow import)
    DataError,
    Dataset,
    ImageReadError,
    Normalizer,
    inspect_dataset,
    kfold_indices,
    train_val_test_split,
)

# These import TensorFlow/Keras; they load on first use so `import protkit` stays quick.
_LAZY = {
    "make_pipeline": "protkit.data.pipeline",
    "load_images": "protkit.data.pipeline",
    "train": "protkit.training",
    "load_run": "protkit.inference",
    "evaluate_run": "protkit.inference",
    "predict_run": "protkit.inference",
    "build_model": "protkit.models",
}


def __getattr__(name):
    if name in _LAZY:
        import importlib

        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'protkit' has no attribute {name!r}")


__all__ = [
    "DataError",
    "Dataset",
    "ImageReadError",
    "Normalizer",
    "__version__",
    "build_model",
    "evaluate_run",
    "inspect_dataset",
    "kfold_indices",
    "load_images",
    "load_run",
    "make_pipeline",
    "predict_run",
    "train",
    "train_val_test_split",
]
