"""Train a classifier on a `Dataset` into a run folder: one entry point made of named steps.

`train` is six steps over one validated `protkit.recipes.TrainConfig` (the recipe's "auto"
choices decided for the data once the split is known, `TrainConfig.for_data`):

1. `split_items`: stratified (grouped when the dataset has groups) train / validation / test;
2. `open_run_folder`: create RUN_DIR, or resume the interrupted run of the same configuration;
3. `make_feeds`: the normalization fitted on the training split, the tf.data pipelines (with a
   ``time_budget``, `fit_in_budget` then times a few steps and plans the epochs that fit);
4. `build_and_compile`: the model, its loss from the task, the optimizer and schedule;
5. `make_callbacks`: per-epoch validation metrics, schedule, early stopping, the best epoch
   kept, checkpoints, logs;
6. `fit`, then `check_batch_norm` (a model from its first two epochs gets its batch-norm
   statistics recomputed if that improves validation), then `score_and_write`: thresholds,
   validation / test metrics, the run folder's files.

Every argument is checked before anything is written. RUN_DIR holds:

    model.keras     the run's model (loads with safe_mode=True): its best validation epoch
                    (balanced accuracy / macro-F1) with keep="best", the recipe's, else its last;
                    from the first two epochs, with batch-norm statistics recomputed when that
                    scores better (config.json's ``batch_norm_statistics`` says)
    best.keras      the model at its best validation epoch (after a resume, "best" counts from
                    the resumed epoch on)
    config.json     everything `evaluate`/`predict` need: classes, channels, image size,
                    normalization statistics, thresholds, task, split protocol, the recipe
    history.csv     per-epoch training and validation metrics
    metrics.json    validation (and test, if a test fraction was held out) metrics + protocol
    *.png           learning curves; validation confusion matrix of the run's model (single-label);
                    reliability diagram before / after temperature scaling

Loss from the task: single-label → softmax + categorical cross-entropy (with the recipe's label
smoothing); multi-label → sigmoid + binary cross-entropy (or focal). The Fast Spec CNN paper used
categorical cross-entropy on a multi-label task; that treats the labels of an image as competing
for one unit of probability, which is wrong when an image carries several labels, so protkit
does not do it.

A run killed mid-way resumes when the same call is made again (`protkit.callbacks.EpochBackup`
keeps the last finished epoch in RUN_DIR/backup; the whole configuration must match); a
finished run is never overwritten unless ``overwrite=True``.
"""

from __future__ import annotations

import collections
import dataclasses
import json
import shutil
import time

import keras
import numpy as np
import pandas as pd

from protkit import calibration as calibration_lib
from protkit import distribute, plots
from protkit import metrics as metrics_lib
from protkit.augment import classical_augmentation
from protkit.callbacks import EpochBackup, KeepBest, ValidationMetrics
from protkit.data import Normalizer, make_pipeline, readable_errors, train_val_test_split
from protkit.inference import model_probabilities
from protkit.models import build_model
from protkit.recipes import LR_SCHEDULES, RECIPE, TrainConfig, resolve_settings  # noqa: F401  (public here too)
from protkit.results import TrainResult  # noqa: F401  (public here too)
from protkit.runs import RunFolder, atomic_path
from protkit.vocabulary import METRIC_DEFINITIONS, MONITOR, MULTI_LABEL, SINGLE_LABEL, check_task, split_kind, version

_OPTIMIZERS = {"adam": keras.optimizers.Adam, "sgd": keras.optimizers.SGD, "rmsprop": keras.optimizers.RMSprop}
Feeds = collections.namedtuple("Feeds", "train validation validation_images normalizer")


def train(dataset, *, model=None, preset=None, out=None, image_size=None, epochs=None, batch_size=None,
          learning_rate=None, loss="auto", normalization="percentile", augment=True, class_weight=None,
          val_fraction=0.2, test_fraction=0.0, early_stopping=None, seed=0, overwrite=False, verbose="auto",
          model_kwargs=None, lr_schedule=None, callbacks=None, deterministic=False, strategy=None, optimizer=None,
          tta=None, skip_bad=False, label_smoothing=None, keep=None, calibration=None, label_count=None,
          time_budget=None):
    """Train a classifier on ``dataset`` and (with ``out``) write a complete run folder.

    Every recipe choice left as None takes `protkit.recipes.RECIPE` (changed by the model's
    preset): the ResNet ("small"), the items' own size up to 128 px, epochs that follow the data
    size, warm-up + cosine decay, label smoothing and balanced class weights (single-label), the
    best validation epoch kept, dihedral test-time augmentation. The run records what was
    chosen and why (``config.json``: ``recipe_choices``) and, unless ``verbose=0``, prints it.

    Args:
        dataset: a labelled `protkit.data.Dataset`. If it has groups, the split is grouped (no
            group in two parts); give groups with ``dataset.with_groups(...)``.
        model: "resnet" (the recipe's), "se_resnet" (squeeze-and-excitation in every block),
            "convnext" (a small ConvNeXt), "fast_spec_cnn", "plcnn", "cnn" (traditional CNN) or
            "dcae_mlp" (an autoencoder pretrained on the training images, frozen, then an MLP on
            its features; `protkit.models.dcae_mlp`).
        preset: one of the model's presets (`protkit.models.presets`): the Fast Spec CNN has
            "cpu" (its default; fits 2 CPU cores) and "paper" (Table 1 of its paper, trained
            as the paper did); the ResNet has "small" (its default); the other models have
            none. Naming a preset the model lacks is an error.
        out: the run folder (None: nothing is written, nothing can be resumed).
        image_size, epochs, batch_size, learning_rate, optimizer: override the preset (or
            `protkit.recipes.RECIPE`); ``image_size`` and ``epochs`` may be "auto" (the
            data decide); optimizer "adam", "sgd" or "rmsprop".
        loss: "auto", "focal" (multi-label) or a Keras loss.
        normalization: "percentile", "dataset" (fitted on the training split) or "fixed".
        augment: classical flips/rotations/zoom on training batches (True), False, or a callable.
        class_weight: "auto" (balanced for single-label, none for multi-label), "balanced"
            (single-label), "none" or a dict.
        label_smoothing: a number in [0, 1) or "auto" (0.1 single-label, 0 multi-label).
        keep: "best" (the run's model is its best validation epoch) or "last".
        calibration: "temperature" (a temperature fitted on the validation probabilities by
            `protkit.calibration.fit_temperature`, recorded in the run and applied by
            `evaluate` and `predict`; the top class never changes) or "none".
        label_count: multi-label: "auto" / "training" (after the thresholds, each item gets
            between the fewest and the most labels a training item carries, see
            `protkit.metrics.decide_labels`; recorded as ``label_count_bounds``) or "none"
            (thresholds alone). Single-label data: "auto" or "none".
        time_budget: None, or minutes of wall clock for the whole call: a few training and
            prediction steps of a throwaway copy of the model are timed (`fit_in_budget`), and
            the run gets as many epochs as fit, at most ``epochs`` (with "auto": at most
            `protkit.recipes.BUDGET_EPOCH_CAP`, the budget decides);
            the schedule then runs its whole course in that many. Recorded in ``config.json``
            (``budget_epochs``, ``budget_plan``); a resumed run keeps its plan. Not with
            ``dcae_mlp`` or a ``strategy``.
        val_fraction, test_fraction: the split (seeded, stratified or grouped).
        early_stopping: None, or patience in epochs on the validation monitor (best weights kept).
        seed: seeds the split, the shuffling, augmentation and weight initialisation.
        overwrite: replace an existing finished run in ``out``.
        verbose: Keras verbosity ("auto", 0, 1, 2).
        model_kwargs: extra arguments for the model builder.
        lr_schedule: "warmup_cosine" (the recipe's: a linear warm-up over the first epoch, at
            most a tenth of the run, then cosine decay to zero), "cosine" (cosine decay to
            zero over ``epochs``), "plateau" (halve it when the validation monitor has not
            improved for 4 epochs, down to 1/64 of the start) or "constant".
        callbacks: extra Keras callbacks for `keras.Model.fit` (e.g. a time budget).
        deterministic: switch on TensorFlow's op determinism (process-wide, and it stays on):
            with the same seed, a CPU run repeats bit for bit (tested). Some GPU kernels have
            no deterministic version and then raise; parallel data loading keeps its order
            either way.
        strategy: None (one device), a name from `protkit.distribute.STRATEGIES` ("auto",
            "default", "mirrored", "multiworker") or a `tf.distribute.Strategy`. The model is
            built and compiled in its scope; ``batch_size`` is the global batch (split across
            replicas); in a multi-worker cluster only the chief writes ``out``.
        tta: test-time augmentation, a view set of `protkit.views`: "none", "flips" (4 mirror
            images), "dihedral" (8 rotations and mirror images; square images) or "auto"
            (dihedral for square images, else flips). The final
            validation / test figures and thresholds use it, and the run records it, so
            `evaluate` and `predict` repeat it. Per-epoch validation stays on single views.
        skip_bad: the pre-check (`Dataset.verify`: every file's header and structure, channel
            counts) runs before anything is written; a bad item stops training with an error
            naming the file, or with ``skip_bad`` is left out, counted and listed in the run's
            ``config.json`` (``skipped``).

    Returns:
        `protkit.results.TrainResult`.
    """
    config = TrainConfig.create(
        model=model, preset=preset, image_size=image_size, epochs=epochs, batch_size=batch_size,
        learning_rate=learning_rate, optimizer=optimizer, loss=loss, normalization=normalization, augment=augment,
        class_weight=class_weight, val_fraction=val_fraction, test_fraction=test_fraction,
        early_stopping=early_stopping, lr_schedule=lr_schedule, seed=seed, deterministic=deterministic,
        model_kwargs=model_kwargs, tta=tta, label_smoothing=label_smoothing, keep=keep,
        calibration=calibration, label_count=label_count, time_budget=time_budget).check_dataset(dataset)
    started = time.perf_counter()  # a time budget counts from here
    if time_budget is not None and strategy is not None:
        raise ValueError("time_budget times one device; it is not supported with a distribution strategy")
    # A multi-worker strategy must exist before TensorFlow does any other work.
    strategy = None if strategy is None else distribute.get_strategy(strategy)
    before = len(dataset.skipped)
    dataset = dataset.verify(skip_bad=skip_bad, image_size=config.image_size)  # before anything is written
    channel_names = _channel_names(dataset)
    split = split_items(dataset, config)
    config, chosen = config.for_data(dataset, len(split["train"]))
    if verbose != 0:
        print(f"recipe: {config.describe()}", flush=True)
    folder, backup_dir = open_run_folder(out, config.identity(dataset, channel_names), overwrite, strategy)
    if config.deterministic:
        import tensorflow as tf

        tf.config.experimental.enable_op_determinism()
    keras.utils.set_random_seed(config.seed)
    feeds = make_feeds(dataset, split, config, strategy)
    plan = None
    if config.time_budget is not None:
        config, plan = fit_in_budget(config, dataset, split, feeds, len(channel_names), started, folder)
        chosen["epochs"] = plan["why"]
        keras.utils.set_random_seed(config.seed)  # the network starts as it would without the timing copy
        if verbose != 0:
            print(f"time budget: {plan['why']}", flush=True)
    network = build_and_compile(config, dataset, len(channel_names), len(split["train"]), strategy, feeds, verbose,
                                split=split)
    validation, fit_callbacks = make_callbacks(config, dataset, split, feeds, folder, backup_dir)
    settings = dict(folder.identity if folder is not None else config.identity(dataset, channel_names),
                    recipe_choices=chosen,
                    skipped=[": ".join(map(str, problem)) if isinstance(problem, tuple) else str(problem)
                             for problem in dataset.skipped[before:]])
    if strategy is not None:
        settings["strategy"] = distribute.describe(strategy)
    if plan is not None:
        settings.update(budget_epochs=config.epochs, budget_plan=plan)
    if folder is not None:
        if folder.resumed:
            print(f"resuming the interrupted run in {folder.path} from its last finished epoch")
        folder.write_json("config.json", _run_config(settings, "running", feeds, dataset,
                                                     started=time.strftime("%Y-%m-%d %H:%M:%S")))
    history, minutes = fit(network, config, dataset, split, feeds, fit_callbacks + list(callbacks or []), verbose)
    kept = [callback for callback in fit_callbacks if isinstance(callback, KeepBest)]
    if kept:
        settings["kept_epoch"] = None if kept[0].best_epoch is None else kept[0].best_epoch + 1
    if strategy is None:
        settings["batch_norm_statistics"] = check_batch_norm(network, config, dataset, split, feeds, validation,
                                                             settings.get("kept_epoch") or config.epochs)
    return score_and_write(network, history, minutes, config, settings, dataset, split, feeds, folder, strategy)


def split_items(dataset, config):
    """Step 1: {"train", "validation", "test"} indices; generated items join the training part only."""
    real = dataset.real_indices
    parts = train_val_test_split(dataset.labels[real], val_fraction=config.val_fraction,
                                 test_fraction=config.test_fraction,
                                 groups=None if dataset.groups is None else dataset.groups[real], seed=config.seed)
    train_idx, val_idx, test_idx = (real[part] for part in parts)
    if len(real) < len(dataset):
        train_idx = np.sort(np.concatenate([train_idx, np.flatnonzero(dataset.synthetic)]))
    return {"train": train_idx, "validation": val_idx, "test": test_idx}


def open_run_folder(out, identity, overwrite, strategy=None):
    """Step 2: (RunFolder or None, epoch-backup folder or None). Another worker of a cluster writes
    nothing into ``out`` but keeps its own epoch backup."""
    if out is None:
        return None, None
    if strategy is None or distribute.is_chief(strategy):
        folder = RunFolder.open(out, identity, overwrite=overwrite, stamp="config.json", resume="interrupted")
        return folder, folder / "backup"
    backup_dir = distribute.worker_backup_dir(out, strategy)
    if overwrite:
        shutil.rmtree(backup_dir, ignore_errors=True)
    return None, backup_dir


def make_feeds(dataset, split, config, strategy=None):
    """Step 3: the normalizer fitted on the real training items, and the training / validation pipelines."""
    real_train = np.intersect1d(split["train"], dataset.real_indices)
    normalizer = Normalizer(config.normalization).fit(dataset, real_train, seed=config.seed)
    augmentation = classical_augmentation(seed=config.seed) if config.augment is True else (config.augment or None)
    common = dict(image_size=config.image_size, normalizer=normalizer)
    train_ds = make_pipeline(dataset, split["train"], batch_size=config.batch_size, shuffle=True, seed=config.seed,
                             augment=augmentation, **common)
    val_ds = make_pipeline(dataset, split["validation"], batch_size=64, **common)
    val_images = make_pipeline(dataset, split["validation"], batch_size=64, labels=False, **common)
    if strategy is not None:
        train_ds, val_ds, val_images = (distribute.shard_by_data(ds, strategy) for ds in (train_ds, val_ds, val_images))
    return Feeds(train_ds, val_ds, val_images, normalizer)


BUDGET_STEPS = 10  # training steps timed by `fit_in_budget` (after one that traces the step)
BUDGET_MARGIN_S = 10.0  # kept for writing the run's files and figures


def fit_in_budget(config, dataset, split, feeds, channels, started, folder=None):
    """Step 3b: (the configuration with the epochs that fit ``config.time_budget``, the plan).

    A copy of the model with its own weights (built, compiled, then thrown away: the run's
    network is not touched) trains `BUDGET_STEPS` batches from its own copy of the training
    pipeline (the run's feed and seeds are not advanced) and predicts two batches.
    An epoch costs its training steps plus two passes over the validation part (Keras's
    validation and `ValidationMetrics`); the end costs the test-time views of the validation
    and test parts and `BUDGET_MARGIN_S`; the first epoch also traces the step. The epochs are
    what is left of the budget over the cost of one, within 1..``config.epochs``. A resumed run
    takes the plan its folder recorded.
    """
    from protkit.views import view_count

    cap = config.epochs
    if folder is not None and folder.resumed:
        previous = json.loads((folder / "config.json").read_text())
        if previous.get("budget_plan"):
            plan = previous["budget_plan"]
            return dataclasses.replace(config, epochs=int(plan["epochs"])), plan
    height, width = config.image_size
    probe = build_model(config.model, (height, width, channels), dataset.num_classes, task=dataset.task,
                        preset=config.preset, **config.model_kwargs)
    compile_for_task(probe, dataset.task, config.learning_rate, loss=config.loss, optimizer=config.optimizer,
                     label_smoothing=config.label_smoothing)
    # its own pipeline (own shuffle and augmentation seeds): the run's feed is not advanced
    augmentation = classical_augmentation(seed=config.seed + 1) if config.augment is True else (config.augment or None)
    batches = make_pipeline(dataset, split["train"], batch_size=config.batch_size, shuffle=True, seed=config.seed + 1,
                            augment=augmentation, image_size=config.image_size,
                            normalizer=feeds.normalizer).repeat().as_numpy_iterator()
    began = time.perf_counter()
    probe.train_on_batch(*next(batches))
    first = time.perf_counter() - began
    began = time.perf_counter()
    for _ in range(BUDGET_STEPS):
        probe.train_on_batch(*next(batches))
    step = (time.perf_counter() - began) / BUDGET_STEPS
    images = make_pipeline(dataset, split["train"], batch_size=64, labels=False, image_size=config.image_size,
                           normalizer=feeds.normalizer).repeat().as_numpy_iterator()  # never empty, unlike validation
    probe.predict_on_batch(next(images))
    began, seen = time.perf_counter(), 0
    for _ in range(2):
        batch = next(images)
        probe.predict_on_batch(batch)
        seen += len(batch)
    per_image = (time.perf_counter() - began) / max(seen, 1)
    steps_per_epoch = -(-len(split["train"]) // config.batch_size)
    epoch = steps_per_epoch * step + 2 * len(split["validation"]) * per_image
    views = view_count(config.tta)
    end = views * (len(split["validation"]) + len(split["test"])) * per_image + BUDGET_MARGIN_S
    spent = time.perf_counter() - started
    left = 60.0 * config.time_budget - spent - max(first - step, 0.0)
    epochs = int(min(max((left - end) // epoch, 1), cap))
    if epochs <= BATCH_NORM_EPOCHS:  # such a short run ends with `check_batch_norm`: two validation passes and more
        end += (2 * len(split["validation"]) + 3 * min(len(split["train"]), BATCH_NORM_ITEMS)) * per_image
        epochs = int(min(max((left - end) // epoch, 1), cap))
    why = (f"{epochs}: what fits the {config.time_budget:g}-minute budget (an epoch about {epoch:.1f} s, measured on "
           f"{BUDGET_STEPS} steps), at most {cap}")
    plan = {"epochs": epochs, "cap": cap, "budget_minutes": config.time_budget, "epoch_s": round(epoch, 3),
            "step_s": round(step, 5), "predict_image_s": round(per_image, 6), "end_s": round(end, 2),
            "spent_before_training_s": round(spent, 2), "why": why}
    del probe
    return dataclasses.replace(config, epochs=epochs), plan


def build_and_compile(config, dataset, channels, n_train, strategy=None, feeds=None, verbose="auto", split=None):
    """Step 4: the model (in the strategy's scope), compiled for the task with the configured schedule.

    A model with a pretraining stage (``dcae_mlp``: its autoencoder, `protkit.models.dcae_mlp.pretrain`)
    gets it here, on the training feed, before it is compiled (and, single-label with ``split``, its
    head fitted on the 8 views of the training items).
    """
    height, width = config.image_size
    kwargs = dict(config.model_kwargs)
    with distribute.scope(strategy):
        if config.model == "dcae_mlp":
            from protkit.models import dcae_mlp

            epochs = kwargs.pop("autoencoder_epochs", dcae_mlp.AUTOENCODER_EPOCHS)
            head_epochs = kwargs.pop("head_epochs", dcae_mlp.HEAD_EPOCHS)
        network = build_model(config.model, (height, width, channels), dataset.num_classes, task=dataset.task,
                              preset=config.preset, **kwargs)
        if config.model == "dcae_mlp" and feeds is not None:
            single = dataset.task == SINGLE_LABEL and split is not None and head_epochs
            head_items = (dataset, split["train"], config.image_size, feeds.normalizer) if single else None
            dcae_mlp.pretrain(network, feeds.train, feeds.validation, epochs=epochs, verbose=verbose,
                              head_items=head_items, head_epochs=head_epochs, seed=config.seed)
        learning_rate = learning_rate_schedule(config, n_train)
        compile_for_task(network, dataset.task, learning_rate, loss=config.loss, optimizer=config.optimizer,
                         label_smoothing=config.label_smoothing)
    if strategy is not None:
        distribute.build_for(network, strategy, ((None, height, width, channels), "float32"),
                             ((None, dataset.num_classes), "float32"))
    return network


def learning_rate_schedule(config, n_train):
    """The learning rate of a resolved configuration: a float, or a Keras schedule over its steps."""
    steps = config.epochs * -(-n_train // config.batch_size)
    if config.lr_schedule == "cosine":
        return keras.optimizers.schedules.CosineDecay(config.learning_rate, decay_steps=steps)
    if config.lr_schedule == "warmup_cosine":
        warmup = max(1, min(-(-n_train // config.batch_size), steps // 10))
        return keras.optimizers.schedules.CosineDecay(config.learning_rate / 100, decay_steps=max(steps - warmup, 1),
                                                      warmup_target=config.learning_rate, warmup_steps=warmup)
    return config.learning_rate


def make_callbacks(config, dataset, split, feeds, folder=None, backup_dir=None):
    """Step 5: (the `ValidationMetrics` callback, every callback of the fit in order)."""
    validation = ValidationMetrics(feeds.validation_images, dataset.labels[split["validation"]], dataset.task,
                                   class_names=dataset.class_names)
    monitor = MONITOR[dataset.task]
    chosen = [validation]
    if config.lr_schedule == "plateau":
        chosen.append(keras.callbacks.ReduceLROnPlateau(monitor=monitor, mode="max", factor=0.5, patience=4,
                                                        min_lr=config.learning_rate / 64, verbose=0))
    if config.early_stopping:
        chosen.append(keras.callbacks.EarlyStopping(monitor=monitor, mode="max", patience=config.early_stopping,
                                                    restore_best_weights=True))
    if config.keep == "best":
        chosen.append(KeepBest(monitor))
    if folder is not None:
        chosen.append(keras.callbacks.ModelCheckpoint(str(folder / "best.keras"), monitor=monitor, mode="max",
                                                      save_best_only=True))
    if backup_dir is not None:
        chosen.append(EpochBackup(str(backup_dir)))
    if folder is not None:
        chosen.append(keras.callbacks.CSVLogger(str(folder / "history.csv"), append=folder.resumed))
    return validation, chosen


def fit(network, config, dataset, split, feeds, callbacks, verbose="auto"):
    """Step 6a: `keras.Model.fit` with the class weights the configuration asks for; (history, minutes)."""
    weights = config.class_weight
    if weights == "balanced":
        weights = balanced_class_weight(dataset.labels[split["train"]], dataset.num_classes)
    started = time.perf_counter()
    with readable_errors():
        history = network.fit(feeds.train, validation_data=feeds.validation, epochs=config.epochs,
                              callbacks=callbacks, class_weight=weights, shuffle=False, verbose=verbose)
    return history.history, (time.perf_counter() - started) / 60


BATCH_NORM_EPOCHS = 2  # a model from this epoch or earlier gets its batch-norm statistics checked
BATCH_NORM_ITEMS = 640  # training items whose batch statistics are averaged


def recompute_batch_norm(model, batches):
    """Set every trainable `BatchNormalization` layer's moving mean and variance to the average of
    its batch statistics over ``batches`` (forward passes in training mode; no weight is trained).

    During training these are exponential moving averages (momentum 0.99) of batch statistics
    taken while the weights were still changing: after one or two epochs they can be far from
    what the final weights produce, and a network that fits its training batches then predicts
    one class for everything at inference. Averaging the statistics of the final weights over a
    few hundred images repairs that.

    Args:
        model: a Keras model.
        batches: an iterable of image batches (arrays), prepared as for training.

    Returns:
        The number of layers whose statistics were replaced (0: nothing to do).
    """
    layers = _trainable_batch_norms(model)
    if not layers:
        return 0
    momentum = [layer.momentum for layer in layers]
    try:
        for step, images in enumerate(batches):
            for layer in layers:  # moving * m + batch * (1 - m) with m = k / (k + 1): the mean of k + 1 batches
                layer.momentum = step / (step + 1.0)
            model(images, training=True)
    finally:
        for layer, value in zip(layers, momentum):
            layer.momentum = value
    return len(layers)


def _trainable_batch_norms(model):
    return [layer for layer in model._flatten_layers(include_self=False, recursive=True)
            if isinstance(layer, keras.layers.BatchNormalization) and layer.trainable]


def check_batch_norm(network, config, dataset, split, feeds, validation, epochs_seen):
    """Step 6a': a model from its first `BATCH_NORM_EPOCHS` epochs gets its batch-norm statistics
    recomputed (`recompute_batch_norm` on up to `BATCH_NORM_ITEMS` training items, no augmentation),
    kept only if the validation score (the monitored metric, one view) improves; otherwise the
    moving averages stay. Later models keep theirs (on fully trained IFC runs recomputing them
    changed validation balanced accuracy by -0.7 to -18.8 points). Returns what was done, for config.json.
    """
    if epochs_seen > BATCH_NORM_EPOCHS:
        return {"recomputed": False,
                "why": f"the model is from epoch {epochs_seen} (> {BATCH_NORM_EPOCHS}): its moving averages are kept"}
    if not len(split["validation"]):
        return {"recomputed": False, "why": "no validation part to check them on"}
    if not _trainable_batch_norms(network):  # checked first: no validation pass for nothing
        return {"recomputed": False, "why": "the model has no trainable batch normalization"}
    monitor = MONITOR[dataset.task]

    def score():
        logs = {}
        validation.on_epoch_end(0, logs)
        return logs[monitor]

    before = score()
    saved = [np.array(w) for w in network.get_weights()]
    train_items = np.intersect1d(split["train"], dataset.real_indices)
    chosen = np.sort(np.random.default_rng(config.seed).permutation(train_items)[:BATCH_NORM_ITEMS])
    batches = make_pipeline(dataset, chosen, batch_size=config.batch_size, labels=False, image_size=config.image_size,
                            normalizer=feeds.normalizer)
    recompute_batch_norm(network, batches.as_numpy_iterator())
    after = score()
    record = {"items": int(len(chosen)), f"validation_{monitor[4:]}_before": float(before),
              f"validation_{monitor[4:]}_after": float(after)}
    if not after > before:
        network.set_weights(saved)
        return dict(record, recomputed=False, why="recomputing them did not improve validation: moving averages kept")
    return dict(record, recomputed=True, why=f"the model is from epoch {epochs_seen}: statistics recomputed on "
                                             f"{len(chosen)} training items improved validation")


def score_and_write(network, history, minutes, config, settings, dataset, split, feeds, folder=None, strategy=None):
    """Step 6b: thresholds tuned on validation (multi-label), validation / test metrics, and the run's files."""
    raw = {"validation": model_probabilities(network, feeds.validation_images, config.tta)}
    if len(split["test"]):
        test_images = make_pipeline(dataset, split["test"], batch_size=64, labels=False, image_size=config.image_size,
                                    normalizer=feeds.normalizer)
        if strategy is not None:
            test_images = distribute.shard_by_data(test_images, strategy)
        raw["test"] = model_probabilities(network, test_images, config.tta)
    temperature = None
    if config.calibration == "temperature":
        temperature = calibration_lib.fit_temperature(raw["validation"], dataset.labels[split["validation"]],
                                                      dataset.task)
    probabilities = {part: calibration_lib.apply_temperature(probs, temperature, dataset.task)
                     for part, probs in raw.items()}
    thresholds = bounds = None
    if dataset.task == MULTI_LABEL:
        thresholds = metrics_lib.tune_thresholds(dataset.labels[split["validation"]], probabilities["validation"])
        if config.label_count == "training":
            bounds = metrics_lib.label_count_bounds(dataset.labels[split["train"]])
    results = {part: metrics_lib.evaluate_predictions(
        dataset.labels[split[part]], probs, dataset.task, class_names=dataset.class_names,
        thresholds=thresholds if thresholds is not None else 0.5, label_count=bounds)
        for part, probs in probabilities.items()}
    for part, probs in raw.items():
        results[part]["calibration"] = calibration_lib.calibration_report(probs, dataset.labels[split[part]],
                                                                          dataset.task, temperature or 1.0)
    results["protocol"] = dict(protocol(dataset, split, config.seed, thresholds is not None),
                               test_time_augmentation=config.tta)
    if bounds is not None:
        results["protocol"]["label_count"] = (f"{bounds[0]} to {bounds[1]} labels per item (the training items' "
                                              f"range), enforced after the thresholds")
    if config.keep == "best":
        results["protocol"]["kept_epoch"] = (f"epoch {settings.get('kept_epoch')} of {config.epochs}, the best on "
                                             f"validation: the validation figures are optimistic; test figures "
                                             f"(test_fraction) or `evaluate` on other data are not")
    results["training_minutes"] = round(minutes, 3)
    run_config = _run_config(settings, "complete", feeds, dataset, training_minutes=round(minutes, 3),
                             temperature=temperature,
                             thresholds=None if thresholds is None else [float(t) for t in thresholds],
                             label_count_bounds=None if bounds is None else list(bounds),
                             split_sizes={part: int(len(indices)) for part, indices in split.items()})
    if folder is not None:
        folder.save_model("model.keras", network)
        folder.write_json("config.json", run_config)
        folder.write_json("metrics.json", metrics_lib.to_jsonable(results))
        write_split(folder / "split.csv", dataset, split)
        plots.save(plots.learning_curves(history), folder / "learning_curves.png", overwrite=True, close=True)
        _reliability_figure(folder / "reliability.png", raw, probabilities, dataset, split, temperature)
        if dataset.task == SINGLE_LABEL:
            plots.save(plots.confusion_matrix(np.asarray(results["validation"]["confusion_matrix"]),
                                              dataset.class_names),
                       folder / "confusion_matrix.png", overwrite=True, close=True)
    return TrainResult(network, history, run_config, split, results, probabilities,
                       None if folder is None else folder.path, feeds.normalizer)


def _reliability_figure(path, raw, calibrated, dataset, split, temperature):
    """Reliability before and after temperature scaling, on the test part when there is one (it chose nothing)."""
    part = "test" if "test" in raw else "validation"
    labels = dataset.labels[split[part]]
    curves = {"as trained": calibration_lib.reliability_curve(raw[part], labels, dataset.task)}
    if temperature is not None:
        curves[f"temperature {temperature:.2f}"] = calibration_lib.reliability_curve(calibrated[part], labels,
                                                                                     dataset.task)
    title = f"Calibration on the {part} part" + (" (where the temperature was fitted)" if part == "validation" else "")
    plots.save(plots.reliability_diagram(curves, title=title), path, overwrite=True, close=True)


def _run_config(settings, status, feeds, dataset, **extra):
    from protkit.data.bioformats import pixel_size

    return dict(settings, status=status, protkit_version=version(), keras_backend=keras.backend.backend(),
                keras_version=keras.__version__, normalization=feeds.normalizer.get_config(),
                groups=dataset.groups is not None, pixel_size_um=pixel_size(dataset), **extra)


def compile_for_task(model, task, learning_rate=1e-3, loss="auto", optimizer="adam", label_smoothing=0.0):
    """Compile with the loss and metrics the task calls for.

    Args:
        model: a Keras model ending in softmax (single-label) or sigmoid (multi-label).
        task: "single_label" or "multi_label".
        learning_rate: the learning rate (a float or a Keras schedule).
        loss: "auto" (categorical / binary cross-entropy by task), "focal" (multi-label:
            binary focal cross-entropy, for rare labels), or any Keras loss.
        optimizer: "adam", "sgd" or "rmsprop".
        label_smoothing: for ``loss="auto"``: the targets are moved this share towards uniform
            (single-label) or towards 0.5 (multi-label).
    """
    check_task(task)
    if optimizer not in _OPTIMIZERS:
        raise ValueError(f"optimizer must be one of {tuple(_OPTIMIZERS)}. Received: optimizer={optimizer!r}")
    if task == SINGLE_LABEL:
        chosen = keras.losses.CategoricalCrossentropy(label_smoothing=label_smoothing) if loss == "auto" else loss
        task_metrics = [keras.metrics.CategoricalAccuracy(name="accuracy")]
    else:
        chosen = keras.losses.BinaryCrossentropy(label_smoothing=label_smoothing) if loss == "auto" else loss
        if chosen == "focal":
            chosen = keras.losses.BinaryFocalCrossentropy(gamma=2.0)
        task_metrics = [keras.metrics.F1Score(average="macro", threshold=0.5, name="macro_f1"),
                        keras.metrics.BinaryAccuracy(name="elementwise_accuracy")]
    model.compile(optimizer=_OPTIMIZERS[optimizer](learning_rate), loss=chosen, metrics=task_metrics)
    return model


def balanced_class_weight(labels, num_classes):
    """Single-label class weights n / (k * count_c), so every class weighs the same in the loss."""
    counts = np.bincount(labels, minlength=num_classes).astype(float)
    present = counts > 0
    weights = np.ones(num_classes)
    weights[present] = len(labels) / (present.sum() * counts[present])
    return {int(i): float(w) for i, w in enumerate(weights)}


def protocol(dataset, split, seed, tuned_thresholds):
    """Words that go with every number: split, grouping, metric definitions."""
    grouped = dataset.groups is not None
    text = {
        "split": (f"{len(split['train'])} train / {len(split['validation'])} validation / {len(split['test'])} test "
                  f"items, seed {seed}, {split_kind(dataset.task, grouped)}"),
        "grouping": "by dataset groups" if grouped else "none (items assumed independent)",
    }
    if dataset.synthetic is not None and dataset.synthetic.any():
        text["synthetic"] = (f"{int(dataset.synthetic.sum())} generated items, all in the training part; "
                             f"validation and test hold real items only")
    text["metrics"] = METRIC_DEFINITIONS[dataset.task]
    if dataset.task == MULTI_LABEL:
        text["thresholds"] = "per-class, tuned on validation" if tuned_thresholds else "0.5"
    return text


def write_split(path, dataset, split):
    """Write ``split.csv``: one row per item, its id and its part ("train", "validation", "test")."""
    rows = [(dataset.ids[i], part) for part, indices in split.items() for i in indices]
    with atomic_path(path) as temporary:
        pd.DataFrame(rows, columns=["id", "part"]).to_csv(temporary, index=False)


def _channel_names(dataset):
    if dataset.channel_names:
        return list(dataset.channel_names)
    channels = dataset.read(0).shape[-1]
    return [f"ch{i}" for i in range(channels)]
