"""Training configuration (`protkit.recipes`), presets owned by their model, the shared vocabulary."""

import json

import numpy as np
import pytest

from protkit import vocabulary
from protkit.data import Dataset
from protkit.models.presets import preset_for
from protkit.recipes import TRAINING_DEFAULTS, TrainConfig, resolve_settings


def test_presets_belong_to_their_model():
    assert resolve_settings("fast_spec_cnn")["preset"] == "cpu"
    paper = resolve_settings("fast_spec_cnn", "paper")
    assert paper["image_size"] == [224, 224] and paper["epochs"] == 50
    plcnn = resolve_settings("plcnn")  # no preset: the training defaults, not the Fast Spec CNN's paper setup
    assert plcnn["preset"] is None and plcnn["image_size"] == list(TRAINING_DEFAULTS["image_size"])
    with pytest.raises(ValueError, match="'plcnn' has no preset 'paper'.*preset of fast_spec_cnn"):
        resolve_settings("plcnn", "paper")
    with pytest.raises(ValueError, match="its presets are"):
        preset_for("fast_spec_cnn", "tiny")
    assert resolve_settings("resnet", epochs=3, image_size=40)["image_size"] == [40, 40]


def test_every_argument_is_checked_when_the_config_is_made():
    for bad in ({"epochs": 0}, {"batch_size": -1}, {"learning_rate": 0}, {"val_fraction": 1.0},
                {"val_fraction": 0.6, "test_fraction": 0.5}, {"lr_schedule": "step"}, {"normalization": "z"},
                {"class_weight": "equal"}, {"early_stopping": 0}, {"optimizer": "lion"}, {"augment": "yes"}):
        with pytest.raises(ValueError):
            TrainConfig.create(model="cnn", **bad)
    with pytest.raises(TypeError, match="unknown training argument"):
        TrainConfig.create(model="cnn", epoch=3)
    with pytest.raises(ValueError, match="unknown model"):
        TrainConfig.create(model="vgg")


def _multi_label():
    labels = np.zeros((12, 2), np.int8)
    labels[::2, 0] = labels[1::2, 1] = 1
    return Dataset.from_arrays(np.zeros((12, 8, 8, 1), np.float32), labels=labels, class_names=["a", "b"])


def test_a_bad_class_weight_raises_before_the_run_folder_exists(tmp_path):
    from protkit.training import train

    with pytest.raises(ValueError, match="single-label"):
        train(_multi_label(), model="cnn", class_weight="balanced", out=tmp_path / "run", epochs=1)
    assert not (tmp_path / "run").exists()  # nothing was written


def test_the_resume_identity_is_the_whole_configuration():
    dataset = _multi_label()
    a = TrainConfig.create(model="cnn").identity(dataset, ["ch0"])
    for change in ({"loss": "focal"}, {"augment": False}, {"early_stopping": 3}, {"model_kwargs": {"filters": (8,)}},
                   {"class_weight": {0: 2.0}}):
        b = TrainConfig.create(model="cnn", **change).identity(dataset, ["ch0"])
        assert [key for key in a if a[key] != b[key]] == [next(iter(change))]
    json.dumps(a, allow_nan=False)  # JSON-ready as config.json records it


def test_vocabulary_is_consistent():
    assert vocabulary.TASKS == ("single_label", "multi_label")
    for task in vocabulary.TASKS:
        assert vocabulary.MONITOR[task] == "val_" + vocabulary.FOLD_METRICS[task][0]
        assert vocabulary.MONITOR[task][4:] in vocabulary.EPOCH_METRICS[task]  # the monitor is logged every epoch
        assert set(vocabulary.FOLD_METRICS[task]) <= set(vocabulary.SHOWN_METRICS)
    with pytest.raises(ValueError, match="task must be one of"):
        vocabulary.output_activation("regression")
    assert vocabulary.split_kind("multi_label", grouped=True, noun="folds") == "grouped (no group in two folds)"
