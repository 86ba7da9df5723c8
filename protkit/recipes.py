"""What a training run is: the recipe, the model's preset, one validated configuration.

`TrainConfig` holds every choice `protkit.training.train` makes (model, preset, size, epochs,
batch, learning rate and its schedule, optimizer, loss, label smoothing, normalization,
augmentation, class weights, split, early stopping, which epoch is kept, test-time
augmentation, seed). It is checked completely when it is made and against the dataset before
anything is written; `TrainConfig.for_data` then turns the recipe's data-dependent choices
("auto") into numbers, and `TrainConfig.identity` — the whole resolved configuration plus the
facts of the data — is what an interrupted run must match to be resumed.

Defaults come from one place: `RECIPE`, changed by a named preset of the model
(`protkit.models.presets`: the ResNet's "small", the Fast Spec CNN's "cpu" or "paper");
explicit arguments win over both. The recipe (what `protkit train DATA` does with no recipe
flags; measured in ``benchmarks/recipe.py``):

- model: the ResNet, preset "small" (ResNet-18 layout, width 16);
- image size "auto": the items' own size (the median of their longer side, read from file
  headers), rounded to a multiple of 8, at least 16 and at most 128 px (so large fields
  such as HPA's are shrunk, small cells are not);
- epochs "auto": ``SAMPLES_PER_RUN`` images seen in all, i.e. 100,000 / training items,
  within 15..60 epochs (a few hundred cells get 60 epochs, HEp-2's 7,000 get 15);
- Adam at 1e-3, batch 32, a linear warm-up over the first epoch (at most a tenth of the
  run) then cosine decay to zero ("warmup_cosine");
- single-label: label smoothing 0.1 and balanced class weights; multi-label: neither;
- the best validation epoch kept as the run's model ("best");
- test-time augmentation "auto": the 8 dihedral views for square images, else the 4 flips;
- probabilities calibrated by a temperature fitted on the validation part ("temperature",
  `protkit.calibration`; it never changes the top class);
- multi-label: the per-class thresholds tuned on validation, then as many labels per item as
  the training items carry ("training": between the fewest and the most of them, see
  `protkit.metrics.decide_labels`).

>>> TrainConfig.create().model, TrainConfig.create().preset
('resnet', 'small')
>>> TrainConfig.create(model="fast_spec_cnn", preset="paper").epochs
50
>>> TrainConfig.create(model="plcnn").image_size
'auto'
"""

from __future__ import annotations

import dataclasses
import math

import numpy as np

from protkit import _validation
from protkit.runs import jsonable
from protkit.views import VIEWS
from protkit.vocabulary import MULTI_LABEL, SINGLE_LABEL

AUTO = "auto"
# What a run does for every choice it is not given (a preset of the model changes some).
RECIPE = {"model": "resnet", "image_size": AUTO, "epochs": AUTO, "batch_size": 32, "learning_rate": 1e-3,
          "optimizer": "adam", "lr_schedule": "warmup_cosine", "label_smoothing": AUTO, "class_weight": AUTO,
          "keep": "best", "tta": AUTO, "calibration": "temperature", "label_count": AUTO}
TRAINING_DEFAULTS = RECIPE  # the name of earlier versions
RECIPE_KEYS = tuple(key for key in RECIPE if key != "model")
AUTO_SIZE_RANGE = (16, 128)  # image_size="auto": the items' median longer side, within these, a multiple of 8
SAMPLES_PER_RUN = 100_000  # epochs="auto": about this many images seen ...
EPOCH_RANGE = (15, 60)  # ... within these epochs
BUDGET_EPOCH_CAP = 200  # epochs="auto" with a time budget: the budget decides, at most this many
SMOOTHING = {SINGLE_LABEL: 0.1, MULTI_LABEL: 0.0}  # label_smoothing="auto"
CLASS_WEIGHT = {SINGLE_LABEL: "balanced", MULTI_LABEL: None}  # class_weight="auto"
LR_SCHEDULES = ("constant", "plateau", "cosine", "warmup_cosine")
NORMALIZATIONS = ("percentile", "dataset", "fixed")
OPTIMIZERS = ("adam", "sgd", "rmsprop")
KEEP = ("best", "last")
CALIBRATIONS = ("temperature", "none")
LABEL_COUNTS = ("training", "none")  # label_count: bounds from the training labels, or thresholds alone
LABEL_COUNT = {SINGLE_LABEL: "none", MULTI_LABEL: "training"}  # label_count="auto"


def resolve_settings(model=None, preset=None, image_size=None, epochs=None, batch_size=None, learning_rate=None):
    """Training settings of a run: explicit arguments, else the model's preset, else `RECIPE`.

    Returns:
        dict with ``model``, ``preset`` (the one used, or None), ``image_size`` ([height,
        width], or "auto": the data decide, see `auto_image_size`), ``epochs`` (or "auto"),
        ``batch_size``, ``learning_rate``, ``optimizer``.
    """
    config = TrainConfig.create(model=model, preset=preset, image_size=image_size, epochs=epochs,
                                batch_size=batch_size, learning_rate=learning_rate)
    size = config.image_size if config.image_size == AUTO else list(config.image_size)
    return {"model": config.model, "preset": config.preset, "image_size": size, "epochs": config.epochs,
            "batch_size": config.batch_size, "learning_rate": config.learning_rate, "optimizer": config.optimizer}


def auto_image_size(dataset, limit=2000, seed=0):
    """``image_size="auto"``: (side, side), the median longer side of the items, a multiple of 8 in `AUTO_SIZE_RANGE`.

    Reads file headers only (at most ``limit`` items, a seeded sample), so it takes well under a
    second on HEp-2's 10,000 files.
    """
    from protkit.data.checks import item_sizes

    sizes = item_sizes(dataset, limit=limit, seed=seed)
    if len(sizes) == 0:
        raise ValueError("image_size='auto' needs readable items to measure; give image_size=")
    side = float(np.median(np.max(sizes, axis=1)))
    low, high = AUTO_SIZE_RANGE
    side = int(min(max(8 * math.floor(side / 8 + 0.5), low), high))
    return side, side


def auto_epochs(n_train):
    """``epochs="auto"``: about `SAMPLES_PER_RUN` images seen, within `EPOCH_RANGE`."""
    low, high = EPOCH_RANGE
    return int(min(max(round(SAMPLES_PER_RUN / max(int(n_train), 1)), low), high))


def image_size_for(dataset, model=None, preset=None, image_size=None):
    """The (height, width) a run of ``model`` on ``dataset`` uses (the recipe's "auto" measured on the data)."""
    size = TrainConfig.create(model=model, preset=preset, image_size=image_size).image_size
    return auto_image_size(dataset) if size == AUTO else size


@dataclasses.dataclass(frozen=True)
class TrainConfig:
    """Every choice of a training run, validated. Make one with `TrainConfig.create`.

    Attributes are those of `protkit.training.train`; ``preset`` is the preset actually used
    (None for a model without presets) and ``image_size`` a (height, width) pair. Before
    `for_data`, ``image_size``, ``epochs``, ``label_smoothing``, ``class_weight`` and ``tta``
    may be "auto" (the data decide).
    """

    model: str = RECIPE["model"]
    preset: str | None = None
    image_size: object = RECIPE["image_size"]
    epochs: object = RECIPE["epochs"]
    batch_size: int = RECIPE["batch_size"]
    learning_rate: float = RECIPE["learning_rate"]
    optimizer: str = RECIPE["optimizer"]
    lr_schedule: str = RECIPE["lr_schedule"]
    label_smoothing: object = RECIPE["label_smoothing"]
    class_weight: object = RECIPE["class_weight"]
    keep: str = RECIPE["keep"]
    tta: str = RECIPE["tta"]
    calibration: str = RECIPE["calibration"]
    label_count: str = RECIPE["label_count"]
    loss: object = "auto"
    normalization: str = "percentile"
    augment: object = True
    val_fraction: float = 0.2
    test_fraction: float = 0.0
    early_stopping: int | None = None
    seed: int = 0
    deterministic: bool = False
    time_budget: float | None = None
    model_kwargs: dict = dataclasses.field(default_factory=dict)

    @classmethod
    def create(cls, *, model=None, preset=None, **choices):
        """Resolve the defaults (explicit > the model's preset > `RECIPE`) and check everything.

        A recipe choice (`RECIPE_KEYS`) given as None takes the default; ``class_weight="none"``
        and ``lr_schedule="constant"`` ask for none.

        Raises:
            ValueError: naming the first argument that is out of range or unknown.
        """
        from protkit.models import MODELS
        from protkit.models.presets import TRAINING_KEYS, get_preset, preset_for

        model = RECIPE["model"] if model is None else model
        if model not in MODELS:
            raise ValueError(f"unknown model; choose one of {MODELS}. Received: model={model!r}")
        preset = preset_for(model, preset)
        unknown = sorted(set(choices) - {field.name for field in dataclasses.fields(cls)})
        if unknown:
            raise TypeError(f"unknown training argument(s): {', '.join(unknown)}")
        values = {key: RECIPE[key] for key in RECIPE_KEYS}
        if preset is not None:
            values.update({key: value for key, value in get_preset(preset).items()
                           if key in TRAINING_KEYS and key in values})
        values.update({key: value for key, value in choices.items() if value is not None or key not in RECIPE_KEYS})
        values["model_kwargs"] = dict(values.get("model_kwargs") or {})
        if values["image_size"] != AUTO:
            values["image_size"] = _validation.positive_int_pair(values["image_size"], "image_size")
        if values["class_weight"] == "none":
            values["class_weight"] = None
        config = cls(model=model, preset=preset, **values)
        config.check()
        return config

    def check(self):
        """Raise ValueError for the first setting that is out of range (nothing else is done)."""
        if self.epochs != AUTO:
            _validation.check_positive_int(self.epochs, "epochs")
        _validation.check_positive_int(self.batch_size, "batch_size")
        if not _validation.is_number(self.learning_rate) or self.learning_rate <= 0:
            raise ValueError(f"learning_rate must be a number > 0. Received: learning_rate={self.learning_rate!r}")
        _choose("optimizer", self.optimizer, OPTIMIZERS)
        _choose("normalization", self.normalization, NORMALIZATIONS)
        _choose("lr_schedule", self.lr_schedule, LR_SCHEDULES)
        _choose("keep", self.keep, KEEP)
        _choose("calibration", self.calibration, CALIBRATIONS)
        _choose("tta", self.tta, VIEWS + (AUTO,))
        _choose("label_count", self.label_count, LABEL_COUNTS + (AUTO,))
        if self.label_smoothing != AUTO and not (_validation.is_number(self.label_smoothing)
                                                 and 0 <= self.label_smoothing < 1):
            raise ValueError(f"label_smoothing must be a number in [0, 1) or 'auto'. Received: "
                             f"label_smoothing={self.label_smoothing!r}")
        if self.tta == "dihedral" and self.image_size != AUTO and self.image_size[0] != self.image_size[1]:
            raise ValueError(f"tta='dihedral' turns images by 90 degrees and needs square images. Received: "
                             f"image_size={self.image_size}; use tta='flips'")
        if not (isinstance(self.augment, bool) or callable(self.augment) or self.augment is None):
            raise ValueError(f"augment must be True, False or a callable. Received: augment={self.augment!r}")
        if not (self.class_weight in (None, AUTO, "balanced") or isinstance(self.class_weight, dict)):
            raise ValueError(f"class_weight must be 'auto', 'balanced', 'none' or a dict. Received: "
                             f"class_weight={self.class_weight!r}")
        for name in ("val_fraction", "test_fraction"):
            value = getattr(self, name)
            if not _validation.is_number(value) or not 0 <= value < 1:
                raise ValueError(f"{name} must be a number in [0, 1). Received: {name}={value!r}")
        if self.val_fraction + self.test_fraction >= 1:
            raise ValueError(f"val_fraction + test_fraction must leave items to train on. Received: "
                             f"{self.val_fraction} + {self.test_fraction}")
        if self.keep == "best" and self.val_fraction == 0:
            raise ValueError("keep='best' picks the epoch by its validation score and needs val_fraction > 0; "
                             "use keep='last'")
        if self.calibration == "temperature" and self.val_fraction == 0:
            raise ValueError("calibration='temperature' is fitted on the validation part and needs val_fraction > 0; "
                             "use calibration='none'")
        if self.early_stopping is not None:
            _validation.check_positive_int(self.early_stopping, "early_stopping")
        if self.time_budget is not None:
            if not _validation.is_number(self.time_budget) or not self.time_budget > 0:
                raise ValueError(f"time_budget must be a number of minutes > 0 or None. Received: "
                                 f"time_budget={self.time_budget!r}")
            if self.model == "dcae_mlp":
                raise ValueError("time_budget plans the epochs of one network's training; dcae_mlp pretrains an "
                                 "autoencoder first: give epochs= instead")
        if not _validation.is_int(self.seed):
            raise ValueError(f"seed must be an int. Received: seed={self.seed!r}")
        return self

    def for_data(self, dataset, n_train):
        """(the configuration with every "auto" decided for ``dataset``, {choice: why} for those decided).

        ``n_train`` is the number of training items (`epochs="auto"` follows it).
        """
        task, changes, why = dataset.task, {}, {}
        if self.image_size == AUTO:
            changes["image_size"] = auto_image_size(dataset, seed=self.seed)
            low, high = AUTO_SIZE_RANGE
            why["image_size"] = (f"{changes['image_size'][0]} px: the items' median longer side, to a multiple of 8 "
                                 f"within {low}..{high}")
        if self.epochs == AUTO and self.time_budget is not None:
            changes["epochs"] = BUDGET_EPOCH_CAP
            why["epochs"] = f"what fits the {self.time_budget:g}-minute budget, at most {BUDGET_EPOCH_CAP}"
        elif self.epochs == AUTO:
            changes["epochs"] = auto_epochs(n_train)
            why["epochs"] = (f"{changes['epochs']}: about {SAMPLES_PER_RUN:,} images seen over {n_train:,} training "
                             f"items, within {EPOCH_RANGE[0]}..{EPOCH_RANGE[1]}")
        if self.label_smoothing == AUTO:
            changes["label_smoothing"] = SMOOTHING[task]
            why["label_smoothing"] = f"{SMOOTHING[task]} for {task.replace('_', '-')} data"
        if self.class_weight == AUTO:
            changes["class_weight"] = CLASS_WEIGHT[task]
            why["class_weight"] = f"{CLASS_WEIGHT[task] or 'none'} for {task.replace('_', '-')} data"
        if self.label_count == AUTO:
            changes["label_count"] = LABEL_COUNT[task]
            if task == MULTI_LABEL:
                why["label_count"] = "training: each item gets as many labels as training items carry"
        if self.tta == AUTO:
            height, width = changes.get("image_size", self.image_size)
            changes["tta"] = "dihedral" if height == width else "flips"
            why["tta"] = f"{changes['tta']}: {'square' if height == width else 'non-square'} images"
        return dataclasses.replace(self, **changes).check(), why

    def describe(self):
        """One line that names the recipe of a resolved configuration, for the screen."""
        schedule = {"constant": "constant learning rate", "plateau": "learning rate halved on plateaus",
                    "cosine": "cosine decay", "warmup_cosine": "warm-up + cosine decay"}[self.lr_schedule]
        weights = {None: "no class weights", "balanced": "balanced class weights"}.get(
            self.class_weight if not isinstance(self.class_weight, dict) else "given", "given class weights")
        size = "x".join(map(str, self.image_size)) if self.image_size != AUTO else AUTO
        model = self.model if self.preset is None else f"{self.model} ({self.preset})"
        counts = ", label count from the training labels" if self.label_count == "training" else ""
        return (f"{model}, {size} px, {self.epochs} epochs, batch {self.batch_size}, {self.optimizer} at "
                f"{self.learning_rate:g} with {schedule}, label smoothing {self.label_smoothing}, {weights}, "
                f"{self.keep} epoch kept, test-time augmentation {self.tta}, calibration {self.calibration}{counts}")

    def check_dataset(self, dataset):
        """Raise ValueError if ``dataset`` cannot be trained with this configuration."""
        if dataset.task is None:
            raise ValueError("training needs labels: this dataset is unlabelled")
        if len(dataset.real_indices) == 0:
            raise ValueError("every item of this dataset is marked synthetic: validation needs real items. To train "
                             "on generated images alone (train-on-synthetic, test-on-real), rebuild the Dataset "
                             "without the synthetic mask and test on real images apart")
        if dataset.task == SINGLE_LABEL and len(np.unique(dataset.labels)) < 2:
            raise ValueError(f"single-label training needs items of at least 2 classes; every item here is "
                             f"{dataset.class_names[int(dataset.labels[0])]!r}" if len(dataset) else
                             "single-label training needs items of at least 2 classes; there are no items")
        if self.class_weight == "balanced" and dataset.task != SINGLE_LABEL:
            raise ValueError("class_weight='balanced' is for single-label data; for rare labels in "
                             "multi-label data use loss='focal'")
        if isinstance(self.class_weight, dict):
            bad = [key for key in self.class_weight if not _validation.is_int(key)
                   or not 0 <= key < dataset.num_classes]
            if bad:
                raise ValueError(f"class_weight keys must be class indices 0..{dataset.num_classes - 1}. "
                                 f"Received: {bad}")
        if self.label_count == "training" and dataset.task != MULTI_LABEL:
            raise ValueError("label_count='training' bounds the labels per item of multi-label data; single-label "
                             "items carry one label: use 'auto' or 'none'")
        if self.loss == "focal" and dataset.task == SINGLE_LABEL:
            raise ValueError("loss='focal' is for multi-label data")
        return self

    def settings(self):
        """The configuration as JSON-ready values (what ``config.json`` records of it)."""
        values = dataclasses.asdict(self)
        values["image_size"] = self.image_size if self.image_size == AUTO else list(self.image_size)
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
