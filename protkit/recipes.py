"""What a training run is: the training defaults, the model's preset, one validated configuration.

`TrainConfig` holds every choice `protkit.training.train` makes (model, preset, size, epochs,
batch, learning rate and its schedule, optimizer, loss, normalization, augmentation, class
weights, split, early stopping, seed). It is checked completely when it is made and against the
dataset before anything is written, and `TrainConfig.identity` — the whole configuration plus
the facts of the data — is what an interrupted run must match to be resumed.

Defaults come from one place: a named preset of the model (`protkit.models.presets`; the Fast
Spec CNN's "cpu" when none is named), else `TRAINING_DEFAULTS`; explicit arguments win over both.

>>> TrainConfig.create(model="plcnn").image_size
(64, 64)
>>> TrainConfig.create(model="fast_spec_cnn", preset="paper").epochs
50
"""

from __future__ import annotations

import dataclasses

from protkit import _validation
from protkit.runs import jsonable
from protkit.views import VIEWS
from protkit.vocabulary import SINGLE_LABEL

# Training settings of a run whose model has no preset (or whose preset leaves one out).
TRAINING_DEFAULTS = {"image_size": (64, 64), "epochs": 15, "batch_size": 32, "learning_rate": 1e-3,
                     "optimizer": "adam"}
LR_SCHEDULES = (None, "plateau", "cosine")
NORMALIZATIONS = ("percentile", "dataset", "fixed")
OPTIMIZERS = ("adam", "sgd", "rmsprop")


def resolve_settings(model="fast_spec_cnn", preset=None, image_size=None, epochs=None, batch_size=None,
                     learning_rate=None):
    """Training settings of a run: explicit arguments, else the model's preset, else `TRAINING_DEFAULTS`.

    Returns:
        dict with ``model``, ``preset`` (the one used, or None), ``image_size`` ([height,
        width]), ``epochs``, ``batch_size``, ``learning_rate``, ``optimizer``.
    """
    config = TrainConfig.create(model=model, preset=preset, image_size=image_size, epochs=epochs,
                                batch_size=batch_size, learning_rate=learning_rate)
    return {"model": config.model, "preset": config.preset, "image_size": list(config.image_size),
            "epochs": config.epochs, "batch_size": config.batch_size, "learning_rate": config.learning_rate,
            "optimizer": config.optimizer}


@dataclasses.dataclass(frozen=True)
class TrainConfig:
    """Every choice of a training run, validated. Make one with `TrainConfig.create`.

    Attributes are those of `protkit.training.train`; ``preset`` is the preset actually used
    (None for a model without presets) and ``image_size`` a (height, width) pair.
    """

    model: str = "fast_spec_cnn"
    preset: str | None = None
    image_size: tuple = TRAINING_DEFAULTS["image_size"]
    epochs: int = TRAINING_DEFAULTS["epochs"]
    batch_size: int = TRAINING_DEFAULTS["batch_size"]
    learning_rate: float = TRAINING_DEFAULTS["learning_rate"]
    optimizer: str = TRAINING_DEFAULTS["optimizer"]
    loss: object = "auto"
    normalization: str = "percentile"
    augment: object = True
    class_weight: object = None
    val_fraction: float = 0.2
    test_fraction: float = 0.0
    early_stopping: int | None = None
    lr_schedule: str | None = None
    seed: int = 0
    deterministic: bool = False
    tta: str = "none"
    model_kwargs: dict = dataclasses.field(default_factory=dict)

    @classmethod
    def create(cls, *, model="fast_spec_cnn", preset=None, image_size=None, epochs=None, batch_size=None,
               learning_rate=None, optimizer=None, **choices):
        """Resolve the defaults (explicit > the model's preset > `TRAINING_DEFAULTS`) and check everything.

        Raises:
            ValueError: naming the first argument that is out of range or unknown.
        """
        from protkit.models import MODELS
        from protkit.models.presets import get_preset, preset_for

        if model not in MODELS:
            raise ValueError(f"unknown model; choose one of {MODELS}. Received: model={model!r}")
        preset = preset_for(model, preset)
        values = dict(TRAINING_DEFAULTS, **({} if preset is None else get_preset(preset)))
        explicit = {"image_size": image_size, "epochs": epochs, "batch_size": batch_size,
                    "learning_rate": learning_rate, "optimizer": optimizer}
        values.update({key: value for key, value in explicit.items() if value is not None})
        unknown = sorted(set(choices) - {field.name for field in dataclasses.fields(cls)})
        if unknown:
            raise TypeError(f"unknown training argument(s): {', '.join(unknown)}")
        choices["model_kwargs"] = dict(choices.get("model_kwargs") or {})
        config = cls(model=model, preset=preset, image_size=_validation.positive_int_pair(values["image_size"],
                                                                                          "image_size"),
                     epochs=values["epochs"], batch_size=values["batch_size"], learning_rate=values["learning_rate"],
                     optimizer=values["optimizer"], **choices)
        config.check()
        return config

    def check(self):
        """Raise ValueError for the first setting that is out of range (nothing else is done)."""
        _validation.check_positive_int(self.epochs, "epochs")
        _validation.check_positive_int(self.batch_size, "batch_size")
        if not _validation.is_number(self.learning_rate) or self.learning_rate <= 0:
            raise ValueError(f"learning_rate must be a number > 0. Received: learning_rate={self.learning_rate!r}")
        _choose("optimizer", self.optimizer, OPTIMIZERS)
        _choose("normalization", self.normalization, NORMALIZATIONS)
        _choose("lr_schedule", self.lr_schedule, LR_SCHEDULES)
        _choose("tta", self.tta, VIEWS)
        if self.tta == "dihedral" and self.image_size[0] != self.image_size[1]:
            raise ValueError(f"tta='dihedral' turns images by 90 degrees and needs square images. Received: "
                             f"image_size={self.image_size}; use tta='flips'")
        if not (isinstance(self.augment, bool) or callable(self.augment) or self.augment is None):
            raise ValueError(f"augment must be True, False or a callable. Received: augment={self.augment!r}")
        if not (self.class_weight is None or self.class_weight == "balanced" or isinstance(self.class_weight, dict)):
            raise ValueError(f"class_weight must be None, 'balanced' or a dict. Received: "
                             f"class_weight={self.class_weight!r}")
        for name in ("val_fraction", "test_fraction"):
            value = getattr(self, name)
            if not _validation.is_number(value) or not 0 <= value < 1:
                raise ValueError(f"{name} must be a number in [0, 1). Received: {name}={value!r}")
        if self.val_fraction + self.test_fraction >= 1:
            raise ValueError(f"val_fraction + test_fraction must leave items to train on. Received: "
                             f"{self.val_fraction} + {self.test_fraction}")
        if self.early_stopping is not None:
            _validation.check_positive_int(self.early_stopping, "early_stopping")
        if not _validation.is_int(self.seed):
            raise ValueError(f"seed must be an int. Received: seed={self.seed!r}")
        return self

    def check_dataset(self, dataset):
        """Raise ValueError if ``dataset`` cannot be trained with this configuration."""
        if dataset.task is None:
            raise ValueError("training needs labels: this dataset is unlabelled")
        if len(dataset.real_indices) == 0:
            raise ValueError("every item of this dataset is marked synthetic: validation needs real items. To train "
                             "on generated images alone (train-on-synthetic, test-on-real), rebuild the Dataset "
                             "without the synthetic mask and test on real images apart")
        if self.class_weight == "balanced" and dataset.task != SINGLE_LABEL:
            raise ValueError("class_weight='balanced' is for single-label data; for rare labels in "
                             "multi-label data use loss='focal'")
        if isinstance(self.class_weight, dict):
            bad = [key for key in self.class_weight if not _validation.is_int(key)
                   or not 0 <= key < dataset.num_classes]
            if bad:
                raise ValueError(f"class_weight keys must be class indices 0..{dataset.num_classes - 1}. "
                                 f"Received: {bad}")
        if self.loss == "focal" and dataset.task == SINGLE_LABEL:
            raise ValueError("loss='focal' is for multi-label data")
        return self

    def settings(self):
        """The configuration as JSON-ready values (what ``config.json`` records of it)."""
        values = dataclasses.asdict(self)
        values["image_size"] = list(self.image_size)
        values["normalization_mode"] = values.pop("normalization")
        values["augment"] = _describe(self.augment)
        values["loss"] = _describe(self.loss)
        if isinstance(self.class_weight, dict):
            values["class_weight"] = {str(key): float(value) for key, value in self.class_weight.items()}
        return jsonable(values)

    def identity(self, dataset, channel_names):
        """What an interrupted run must match to be resumed: the whole configuration and the data's facts."""
        return dict(self.settings(), task=dataset.task, class_names=list(dataset.class_names),
                    channel_names=list(channel_names), data=dataset.source)


def _choose(name, value, allowed):
    if value not in allowed:
        raise ValueError(f"{name} must be one of {allowed}. Received: {name}={value!r}")


def _describe(value):
    """A JSON-ready word for a setting that may be an object (a callable augmentation, a Keras loss)."""
    if value is True:
        return "classical"
    if value is False or value is None:
        return "none"
    if isinstance(value, str):
        return value
    kind = type(value)
    name = getattr(value, "__qualname__", None) or kind.__qualname__
    return f"{getattr(value, '__module__', kind.__module__)}.{name}"
