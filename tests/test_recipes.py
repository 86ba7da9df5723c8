"""Training configuration (`protkit.recipes`), presets owned by their model, the shared vocabulary."""

import json

import numpy as np
import pytest

from protkit import vocabulary
from protkit.data import Dataset
from protkit.models.presets import preset_for
from protkit.recipes import RECIPE, TrainConfig, auto_epochs, auto_image_size, resolve_settings


def test_presets_belong_to_their_model():
    assert resolve_settings("fast_spec_cnn")["preset"] == "cpu"
    paper = resolve_settings("fast_spec_cnn", "paper")
    assert paper["image_size"] == [224, 224] and paper["epochs"] == 50
    plcnn = resolve_settings("plcnn")  # no preset: the recipe, not the Fast Spec CNN's paper setup
    assert plcnn["preset"] is None and plcnn["image_size"] == RECIPE["image_size"] == "auto"
    assert resolve_settings()["model"] == "resnet" and resolve_settings()["preset"] == "small"
    with pytest.raises(ValueError, match="'plcnn' has no preset 'paper'.*preset of fast_spec_cnn"):
        resolve_settings("plcnn", "paper")
    with pytest.raises(ValueError, match="its presets are"):
        preset_for("fast_spec_cnn", "tiny")
    assert resolve_settings("resnet", epochs=3, image_size=40)["image_size"] == [40, 40]


def test_every_argument_is_checked_when_the_config_is_made():
    for bad in ({"epochs": 0}, {"batch_size": -1}, {"learning_rate": 0}, {"val_fraction": 1.0},
                {"val_fraction": 0.6, "test_fraction": 0.5}, {"lr_schedule": "step"}, {"normalization": "z"},
                {"class_weight": "equal"}, {"early_stopping": 0}, {"optimizer": "lion"}, {"augment": "yes"},
                {"label_smoothing": 1.0}, {"keep": "first"}, {"tta": "rotate"}, {"epochs": "many"},
                {"keep": "best", "val_fraction": 0.0}):
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


def test_the_recipe_decides_its_auto_choices_from_the_data():
    images = np.zeros((30, 37, 41, 2), np.float32)
    dataset = Dataset.from_arrays(images, labels=np.arange(30) % 3, class_names=["a", "b", "c"])
    assert auto_image_size(dataset) == (40, 40)  # the median longer side 41, to a multiple of 8
    big = Dataset.from_arrays(np.zeros((4, 300, 200, 1), np.float32), labels=np.arange(4) % 2, class_names=["a", "b"])
    assert auto_image_size(big) == (128, 128)  # large fields are capped
    assert auto_epochs(200) == 60 and auto_epochs(7000) == 15 and auto_epochs(2000) == 50
    config, why = TrainConfig.create().for_data(dataset, n_train=24)
    assert (config.image_size, config.epochs, config.label_smoothing, config.class_weight, config.tta) == \
        ((40, 40), 60, 0.1, "balanced", "dihedral")
    assert set(why) == {"image_size", "epochs", "label_smoothing", "class_weight", "tta"}
    assert "median longer side" in why["image_size"] and "24 training items" in why["epochs"]
    multi, _ = TrainConfig.create().for_data(_multi_label(), n_train=10)
    assert (multi.label_smoothing, multi.class_weight) == (0.0, None)  # neither suits multi-label data
    given, why = TrainConfig.create(image_size=32, epochs=3, tta="none", label_smoothing=0.0,
                                    class_weight="none").for_data(dataset, n_train=24)
    assert why == {} and (given.image_size, given.epochs, given.tta, given.class_weight) == ((32, 32), 3, "none", None)
    assert "warm-up + cosine decay" in config.describe() and "best epoch kept" in config.describe()


def test_the_paper_preset_trains_as_the_paper_did():
    paper = TrainConfig.create(model="fast_spec_cnn", preset="paper")
    assert (paper.lr_schedule, paper.label_smoothing, paper.class_weight, paper.keep, paper.tta) == \
        ("constant", 0.0, None, "last", "none")
    cpu = TrainConfig.create(model="fast_spec_cnn")  # the cpu preset keeps the recipe's training
    assert (cpu.image_size, cpu.epochs, cpu.lr_schedule, cpu.keep) == ((64, 64), 15, "warmup_cosine", "best")
    assert TrainConfig.create(model="fast_spec_cnn", preset="paper", lr_schedule="cosine").lr_schedule == "cosine"


def test_the_recipe_model_is_the_small_resnet():
    from protkit.models import build_model

    model = build_model("resnet", (32, 32, 2), 3, preset="small")
    assert model.get_layer("stem_conv").filters == 16  # width 16
    assert len([layer for layer in model.layers if layer.name.startswith("res")]) == 8  # ResNet-18: 2, 2, 2, 2
    wider = build_model("resnet", (32, 32, 2), 3, preset="small", width=8)  # an explicit argument wins
    assert wider.get_layer("stem_conv").filters == 8


@pytest.mark.parametrize("module", ["protkit.recipes", "protkit.calibration", "protkit.models.presets"])
def test_module_examples_run(module):
    import doctest
    import importlib

    result = doctest.testmod(importlib.import_module(module))
    assert result.attempted > 0 and result.failed == 0


def test_single_label_training_needs_two_classes():
    from protkit.training import train

    one = Dataset.from_arrays(np.zeros((6, 8, 8, 1), np.float32), labels=np.zeros(6, int), class_names=["a", "b"])
    with pytest.raises(ValueError, match="at least 2 classes; every item here is 'a'"):
        train(one, model="cnn", epochs=1)
