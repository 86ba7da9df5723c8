"""Reading microscopy data: files → `Dataset` → tf.data pipeline; splits; synthetic cells."""

from protkit.data.datasets import (
    HPA_CLASSES,
    MULTI_LABEL,
    SINGLE_LABEL,
    DataError,
    Dataset,
    PerChannelFilesError,
    channel_files_by_id,
)
from protkit.data.examples import notebook_dataset
from protkit.data.inspect import format_summary, inspect_dataset
from protkit.data.normalization import Normalizer
from protkit.data.readers import ImageReadError, check_image, probe_image, read_channels, read_image, read_volume
from protkit.data.splits import (
    describe_split,
    groups_from_regex,
    iterative_stratification,
    kfold_indices,
    train_val_test_split,
)

__all__ = [
    "HPA_CLASSES",
    "MULTI_LABEL",
    "SINGLE_LABEL",
    "DataError",
    "Dataset",
    "ImageReadError",
    "Normalizer",
    "PerChannelFilesError",
    "channel_files_by_id",
    "check_image",
    "describe_split",
    "format_summary",
    "groups_from_regex",
    "inspect_dataset",
    "iterative_stratification",
    "kfold_indices",
    "load_images",
    "make_pipeline",
    "notebook_dataset",
    "probe_image",
    "read_channels",
    "read_image",
    "read_volume",
    "readable_errors",
    "resize",
    "train_val_test_split",
]

_PIPELINE = {"load_images", "make_pipeline", "readable_errors", "resize"}


def __getattr__(name):
    # The pipeline imports TensorFlow; load it on first use so that reading and inspecting
    # data (and the CLI's `datasets inspect`) start fast.
    if name in _PIPELINE:
        from protkit.data import pipeline

        return getattr(pipeline, name)
    raise AttributeError(f"module 'protkit.data' has no attribute {name!r}")
