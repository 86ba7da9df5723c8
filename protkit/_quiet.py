"""Load TensorFlow without its start-up chatter, for the command line.

TensorFlow's C++ runtime writes a handful of lines to standard error while it loads (oneDNN
notices, "Could not find cuda drivers", a cuInit error on a machine without a GPU), some of
them before its own log filter is set up, so ``TF_CPP_MIN_LOG_LEVEL`` alone cannot hide them.
`load_tensorflow` raises the filter and points the process's standard error at the null device
while ``tensorflow`` and ``keras`` are imported, then restores it: Python errors, warnings and
everything printed later still show. ``protkit --verbose`` skips all of this.
"""

from __future__ import annotations

import contextlib
import os
import sys


@contextlib.contextmanager
def _stderr_to_null():
    sys.stderr.flush()
    try:
        saved = os.dup(2)
    except OSError:  # no file descriptor 2 (some embedded interpreters): nothing to hide
        yield
        return
    null = os.open(os.devnull, os.O_WRONLY)
    os.dup2(null, 2)
    try:
        yield
    finally:
        os.dup2(saved, 2)
        os.close(null)
        os.close(saved)


def load_tensorflow(verbose=False):
    """Import TensorFlow and Keras; unless ``verbose``, without their C++ and absl start-up lines."""
    if verbose or "tensorflow" in sys.modules:
        return
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    with _stderr_to_null():
        import keras  # noqa: F401
        import tensorflow as tf

        if "TF_CONFIG" not in os.environ:  # a multi-worker strategy must come before any device work
            tf.config.list_physical_devices()  # devices are probed here; a machine without a GPU says so
    tf.get_logger().setLevel("ERROR")  # e.g. AutoGraph's "could not transform" notes
