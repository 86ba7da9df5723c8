"""Model presets, as plain dicts: which model owns which preset, and the one it uses by default.

The Fast Spec CNN has `"paper"` and `"cpu"` and the ResNet has `"small"` (below); `plcnn` and
`cnn` have none and take the recipe of `protkit.recipes` and their own builder's keyword
arguments. Naming a preset for a model that lacks it is an error that says so (`preset_for`).

A preset holds two kinds of keys:

- model keys: the Fast Spec CNN's (`MODEL_KEYS`, read by
  `protkit.models.fast_spec_cnn.fast_spec_cnn`): `filters` (one separable block per entry),
  `stem_filters`, `stem_strides`, `kernel_size`, `num_heads`, `key_dim`, `attention_dropout`,
  `hidden_units`, `dropout`, `weight_decay`, `fft_normalize`, `include_phase`; the ResNet's
  (`RESNET_KEYS`): `depth`, `width`;
- training keys (`TRAINING_KEYS`), the recipe of `protkit.recipes` this preset changes:
  `image_size` (recommended (height, width); the model's input shape always comes from its
  argument), `batch_size`, `epochs`, `optimizer`, `learning_rate`, `lr_schedule`,
  `label_smoothing`, `class_weight`, `keep`, `tta`, `calibration`. A key left out keeps the
  recipe's value.

`weight_decay` is both: the models apply it as an L2 penalty `weight_decay * sum(w**2)` on
every convolution and dense kernel, so train with plain Adam (`optimizer: "adam"`), not AdamW,
or the decay is counted twice.

Presets:

- `"paper"`: Table 1 of Savitha et al. (2024). Table 1 lists one filter count (32, 3x3) and no
  growth schedule, so the stem and every block keep 32 filters; the number of blocks is not
  given, and a full-resolution stem with four 2x2 poolings (224 -> 14) keeps attention over
  196 positions affordable. Attention has
  4 heads of key size 64, the head 256 hidden units and dropout 0.5, L2 weight decay 1e-4,
  Adam at 1e-3, batch 32, 50 epochs, input 224x224; and the paper's training as it was: a
  constant learning rate, no label smoothing, no class weights, the last epoch kept, no
  test-time augmentation, no calibration.
- `"cpu"`: small enough to train on 2 CPU cores at 64x64 (several hundred images/s): a
  16-filter stem of stride 2, then two blocks of 32 and 64 filters (64 -> 32 -> 16 -> 8, so
  attention runs over 8x8 = 64 positions), 2 heads of key size 32, 128 hidden units,
  dropout 0.3, 15 epochs. A full-resolution stem made training about 3.5 times slower per
  CPU-second, and a third block would leave attention only a 4x4 grid. The rest of its
  training is the recipe's (schedule, best epoch kept, test-time augmentation).
- `"small"` (the ResNet's, and with it `protkit train`'s default model): the ResNet-18 layout
  (2, 2, 2, 2 basic blocks) at width 16 (16-32-64-128 filters, 0.7 M weights) and the
  recipe's training: at 78 px it trained on HEp-2 at about 90 images/s on 2 CPU cores (15
  epochs of 6,960 cells in 20 min, ``benchmarks/results/reference.json``).

Example:
>>> preset = get_preset("paper")
>>> preset["filters"], preset["num_heads"], preset["key_dim"]
((32, 32, 32, 32), 4, 64)
>>> split_preset(preset)[0]["hidden_units"]
256
"""

from __future__ import annotations

import copy

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
RESNET_KEYS = ("depth", "width")
TRAINING_KEYS = ("image_size", "batch_size", "epochs", "optimizer", "learning_rate", "weight_decay", "lr_schedule",
                 "label_smoothing", "class_weight", "keep", "tta", "calibration", "label_count")

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
        "lr_schedule": "constant",
        "label_smoothing": 0.0,
        "class_weight": "none",
        "keep": "last",
        "tta": "none",
        "calibration": "none",
        "label_count": "none",
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
    "small": {
        "depth": 18,
        "width": 16,
    },
}
PRESETS = tuple(_PRESETS)


# The presets each model owns, and the one a run of it uses when none is named.
MODEL_PRESETS = {"fast_spec_cnn": ("paper", "cpu"), "resnet": ("small",), "se_resnet": ("small",)}
DEFAULT_PRESET = {"fast_spec_cnn": "cpu", "resnet": "small", "se_resnet": "small"}


def preset_for(model, preset=None):
    """The preset a run of ``model`` uses: ``preset`` if the model owns it, else its default.

    Returns None for a model without presets when none is named.

    Raises:
        ValueError: ``preset`` names a preset ``model`` does not have; the message says which
            models own it.
    """
    if preset is None:
        return DEFAULT_PRESET.get(model)
    owned = MODEL_PRESETS.get(model, ())
    if preset not in owned:
        owners = [name for name, names in MODEL_PRESETS.items() if preset in names]
        where = f"; {preset!r} is a preset of {', '.join(owners)}" if owners else ""
        have = f"its presets are {owned}" if owned else "it has no presets (leave the preset out)"
        raise ValueError(f"model {model!r} has no preset {preset!r}: {have}{where}")
    return preset


def get_preset(name):
    """A fresh copy of the preset `name` (`"paper"`, `"cpu"` or `"small"`), safe to modify.

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
    model_keys = MODEL_KEYS + RESNET_KEYS
    unknown = sorted(set(preset) - set(model_keys) - set(TRAINING_KEYS))
    if unknown:
        raise ValueError(
            f"Preset keys must be model keys {model_keys} or training keys {TRAINING_KEYS}. "
            f"Received: unknown keys {unknown}"
        )
    model = {key: preset[key] for key in model_keys if key in preset}
    training = {key: preset[key] for key in TRAINING_KEYS if key in preset}
    return model, training
