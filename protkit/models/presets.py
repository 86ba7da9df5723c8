"""Training presets for the Fast Spec CNN, as plain dicts, and shared argument checks.

A preset holds two kinds of keys:

- model keys (`MODEL_KEYS`), read by `protkit.models.fast_spec_cnn.fast_spec_cnn`:
  `filters` (one separable block per entry), `stem_filters`, `stem_strides`, `kernel_size`, `num_heads`,
  `key_dim`, `attention_dropout`, `hidden_units`, `dropout`, `weight_decay`,
  `fft_normalize`, `include_phase`;
- training keys (`TRAINING_KEYS`), read by pipelines and notebooks: `image_size`
  (recommended (height, width); the model's input shape always comes from its argument),
  `batch_size`, `epochs`, `optimizer`, `learning_rate`.

`weight_decay` is both: the models apply it as an L2 penalty `weight_decay * sum(w**2)` on
every convolution and dense kernel, so train with plain Adam (`optimizer: "adam"`), not AdamW,
or the decay is counted twice.

Presets:

- `"paper"`: Table 1 of Savitha et al. (2024). Table 1 lists one filter count (32, 3x3) and no
  growth schedule, so the stem and every block keep 32 filters; the number of blocks is not
  given, and a full-resolution stem with four 2x2 poolings (224 -> 14) keeps attention over
  196 positions affordable. Attention has
  4 heads of key size 64, the head 256 hidden units and dropout 0.5, L2 weight decay 1e-4,
  Adam at 1e-3, batch 32, 50 epochs, input 224x224.
- `"cpu"`: small enough to train on 2 CPU cores at 64x64 (several hundred images/s): a
  16-filter stem of stride 2, then two blocks of 32 and 64 filters (64 -> 32 -> 16 -> 8, so
  attention runs over 8x8 = 64 positions), 2 heads of key size 32, 128 hidden units,
  dropout 0.3, 15 epochs. A full-resolution stem made training about 3.5 times slower per
  CPU-second, and a third block would leave attention only a 4x4 grid.

Example:
>>> preset = get_preset("paper")
>>> preset["filters"], preset["num_heads"], preset["key_dim"]
((32, 32, 32, 32), 4, 64)
>>> split_preset(preset)[0]["hidden_units"]
256
"""

from __future__ import annotations

import copy
import numbers

MODEL_KEYS = (
    "filters",
    "stem_filters",
    "stem_strides",
    "kernel_size",
    "num_heads",
    "key_dim",
    "attention_dropout",
    "hidden_units",
    "dropout",
    "weight_decay",
    "fft_normalize",
    "include_phase",
)
TRAINING_KEYS = ("image_size", "batch_size", "epochs", "optimizer", "learning_rate", "weight_decay")

_PRESETS = {
    "paper": {
        # model (Table 1 of Savitha et al., 2024)
        "filters": (32, 32, 32, 32),
        "stem_filters": 32,
        "stem_strides": 1,
        "kernel_size": 3,
        "num_heads": 4,
        "key_dim": 64,
        "attention_dropout": 0.0,
        "hidden_units": 256,
        "dropout": 0.5,
        "weight_decay": 1e-4,
        "fft_normalize": False,
        "include_phase": False,
        # training
        "image_size": (224, 224),
        "batch_size": 32,
        "epochs": 50,
        "optimizer": "adam",
        "learning_rate": 1e-3,
    },
    "cpu": {
        "filters": (32, 64),
        "stem_filters": 16,
        "stem_strides": 2,
        "kernel_size": 3,
        "num_heads": 2,
        "key_dim": 32,
        "attention_dropout": 0.0,
        "hidden_units": 128,
        "dropout": 0.3,
        "weight_decay": 1e-4,
        "fft_normalize": False,
        "include_phase": False,
        "image_size": (64, 64),
        "batch_size": 32,
        "epochs": 15,
        "optimizer": "adam",
        "learning_rate": 1e-3,
    },
}
PRESETS = tuple(_PRESETS)


def get_preset(name):
    """A fresh copy of the preset `name` (`"paper"` or `"cpu"`), safe to modify.

    Raises:
        ValueError: for an unknown name; the message lists the valid ones.
    """
    if name not in _PRESETS:
        raise ValueError(f"Unknown preset; expected one of {PRESETS}. Received: preset={name!r}")
    return copy.deepcopy(_PRESETS[name])


def split_preset(preset):
    """Splits a preset dict into (model keyword arguments, training settings).

    `weight_decay` goes to both. Keys that are neither raise ValueError.
    """
    unknown = sorted(set(preset) - set(MODEL_KEYS) - set(TRAINING_KEYS))
    if unknown:
        raise ValueError(
            f"Preset keys must be model keys {MODEL_KEYS} or training keys {TRAINING_KEYS}. "
            f"Received: unknown keys {unknown}"
        )
    model = {key: preset[key] for key in MODEL_KEYS if key in preset}
    training = {key: preset[key] for key in TRAINING_KEYS if key in preset}
    return model, training


# --- argument checks shared by the model builders --------------------------------------


def is_int(value):
    """True for ints (NumPy's included) but not bools."""
    return isinstance(value, numbers.Integral) and not isinstance(value, bool)


def is_number(value):
    """True for real numbers (NumPy's included) but not bools."""
    return isinstance(value, numbers.Real) and not isinstance(value, bool)


def check_input_shape(input_shape, static=True):
    """Returns `input_shape` as a tuple (height, width, channels) of positive ints, or raises.

    With `static=False`, height and width may be None (any image size).
    """
    shape = tuple(input_shape) if isinstance(input_shape, (tuple, list)) else None
    ok = shape is not None and len(shape) == 3 and is_int(shape[-1]) and shape[-1] > 0
    if ok:
        ok = all((size is None and not static) or (is_int(size) and size > 0) for size in shape[:2])
    if not ok:
        sizes = "positive ints" if static else "positive ints or None"
        raise ValueError(
            f"input_shape must be (height, width, channels) with {sizes} for height and width "
            f"and a positive int channel count. Received: input_shape={input_shape!r}"
        )
    return tuple(None if size is None else int(size) for size in shape)


def check_positive_int(value, name):
    if not is_int(value) or value <= 0:
        raise ValueError(f"{name} must be a positive int. Received: {name}={value!r}")
    return int(value)


def check_rate(value, name):
    """A dropout rate in [0, 1)."""
    if not is_number(value) or not 0 <= value < 1:
        raise ValueError(f"{name} must be a number in [0, 1). Received: {name}={value!r}")
    return float(value)


def check_non_negative(value, name):
    if not is_number(value) or value < 0:
        raise ValueError(f"{name} must be a number >= 0. Received: {name}={value!r}")
    return float(value)


def check_filters(filters, name="filters"):
    """A non-empty tuple of positive ints."""
    values = tuple(filters) if isinstance(filters, (tuple, list)) else None
    if not values or not all(is_int(v) and v > 0 for v in values):
        raise ValueError(f"{name} must be a non-empty sequence of positive ints. Received: {name}={filters!r}")
    return tuple(int(v) for v in values)
