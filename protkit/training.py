"""Train a classifier on a `Dataset` into a run folder: one entry point, presets, resumable.

`train` splits the data (stratified; grouped when the dataset has groups), fits the
normalization on the training split only, builds the model, picks the loss from the task,
trains with classical augmentation, logs per-epoch validation metrics, and writes RUN_DIR:

    model.keras     the trained model after the last epoch (loads with safe_mode=True)
    best.keras      the model at its best validation epoch (balanced accuracy / macro-F1; after a
                    resume, "best" counts from the resumed epoch on)
    config.json     everything `evaluate`/`predict` need: classes, channels, image size,
                    normalization statistics, thresholds, task, split protocol
    history.csv     per-epoch training and validation metrics
    metrics.json    validation (and test, if a test fraction was held out) metrics + protocol
    *.png           learning curves; confusion matrix (single-label)

Loss from the task: single-label → softmax + categorical cross-entropy; multi-label → sigmoid
+ binary cross-entropy (or focal). The Fast Spec CNN paper used categorical cross-entropy on a
multi-label task; that treats the labels of an image as competing for one unit of probability,
which is wrong when an image carries several labels, so protkit does not do it.

A run killed mid-way resumes when the same call is made again (`keras.callbacks.BackupAndRestore`
keeps the last finished epoch in RUN_DIR/backup); a finished run is never overwritten unless
``overwrite=True``.
"""

from __future__ import annotations

import json
import pathlib
import shutil
import time
from dataclasses import dataclass

import numpy as np

SINGLE_LABEL = "single_label"
MULTI_LABEL = "multi_label"
MONITOR = {SINGLE_LABEL: "val_balanced_accuracy", MULTI_LABEL: "val_macro_f1"}
# Keys of a run that must match for an interrupted run to be resumed.
_RESUME_KEYS = ("model", "preset", "task", "class_names", "channel_names", "image_size", "epochs",
                "batch_size", "learning_rate", "seed", "data", "normalization_mode", "val_fraction", "test_fraction",
                "lr_schedule")


@dataclass
class TrainResult:
    """What `train` returns.

    Attributes:
        model: the trained Keras model.
        history: per-epoch logs (training and validation metrics).
        config: the run config (what `config.json` holds).
        split: indices of the "train", "validation" and "test" items.
        metrics: validation (and test) metrics with their protocol.
        probabilities: predicted probabilities for "validation" (and "test") items, in split order.
        run_dir: the run folder, or None.
        normalizer: the fitted `Normalizer` (prepare new images with it).
    """

    model: object
    history: dict
    config: dict
    split: dict
    metrics: dict
    probabilities: dict
    run_dir: pathlib.Path | None
    normalizer: object = None


def resolve_settings(model="fast_spec_cnn", preset="cpu", image_size=None, epochs=None, batch_size=None,
                     learning_rate=None):
    """Training settings: explicit arguments win over the preset's values."""
    from protkit.models.presets import get_preset

    values = get_preset(preset)
    size = image_size if image_size is not None else values.get("image_size", 64)
    size = (size, size) if isinstance(size, int) else tuple(int(s) for s in size)
    return {
        "model": model,
        "preset": preset,
        "image_size": list(size),
        "epochs": int(epochs if epochs is not None else values.get("epochs", 15)),
        "batch_size": int(batch_size if batch_size is not None else values.get("batch_size", 32)),
        "learning_rate": float(learning_rate if learning_rate is not None else values.get("learning_rate", 1e-3)),
    }


LR_SCHEDULES = (None, "plateau", "cosine")


def compile_for_task(model, task, learning_rate=1e-3, loss="auto"):
    """Compile with the loss and metrics the task calls for.

    Args:
        model: a Keras model ending in softmax (single-label) or sigmoid (multi-label).
        task: "single_label" or "multi_label".
        learning_rate: Adam learning rate (a float or a Keras schedule).
        loss: "auto" (categorical / binary cross-entropy by task), "focal" (multi-label:
            binary focal cross-entropy, for rare labels), or any Keras loss.
    """
    import keras

    if task == SINGLE_LABEL:
        chosen = "categorical_crossentropy" if loss == "auto" else loss
        task_metrics = [keras.metrics.CategoricalAccuracy(name="accuracy")]
    elif task == MULTI_LABEL:
        if loss == "auto":
            chosen = "binary_crossentropy"
        elif loss == "focal":
            chosen = keras.losses.BinaryFocalCrossentropy(gamma=2.0)
        else:
            chosen = loss
        task_metrics = [keras.metrics.F1Score(average="macro", threshold=0.5, name="macro_f1"),
                        keras.metrics.BinaryAccuracy(name="elementwise_accuracy")]
    else:
        raise ValueError(f"task must be 'single_label' or 'multi_label'. Received: task={task!r}")
    model.compile(optimizer=keras.optimizers.Adam(learning_rate), loss=chosen, metrics=task_metrics)
    return model


def balanced_class_weight(labels, num_classes):
    """Single-label class weights n / (k * count_c), so every class weighs the same in the loss."""
    counts = np.bincount(labels, minlength=num_classes).astype(float)
    present = counts > 0
    weights = np.ones(num_classes)
    weights[present] = len(labels) / (present.sum() * counts[present])
    return {int(i): float(w) for i, w in enumerate(weights)}


def _prepare_run_dir(run_dir, settings, overwrite):
    """Create RUN_DIR, or recognise an interrupted run with the same settings (resume)."""
    run_dir = pathlib.Path(run_dir)
    config_path = run_dir / "config.json"
    if run_dir.exists() and any(run_dir.iterdir()):
        if overwrite:
            shutil.rmtree(run_dir)
        else:
            previous = json.loads(config_path.read_text()) if config_path.exists() else None
            interrupted = previous is not None and previous.get("status") == "running"
            if not interrupted:
                raise FileExistsError(f"{run_dir}: folder exists and holds a finished run or other files; "
                                      f"pass --overwrite (overwrite=True) to replace it")
            changed = [k for k in _RESUME_KEYS if previous.get(k) != settings.get(k)]
            if changed:
                raise FileExistsError(f"{run_dir}: holds an interrupted run with different settings "
                                      f"({', '.join(changed)}); use another folder or --overwrite")
            return run_dir, True
    run_dir.mkdir(parents=True, exist_ok=True)
    return run_dir, False


def train(
    dataset,
    *,
    model="fast_spec_cnn",
    preset="cpu",
    out=None,
    image_size=None,
    epochs=None,
    batch_size=None,
    learning_rate=None,
    loss="auto",
    normalization="percentile",
    augment=True,
    class_weight=None,
    val_fraction=0.2,
    test_fraction=0.0,
    early_stopping=None,
    seed=0,
    overwrite=False,
    verbose="auto",
    model_kwargs=None,
    lr_schedule=None,
    callbacks=None,
    deterministic=False,
    strategy=None,
):
    """Train a classifier on ``dataset`` and (with ``out``) write a complete run folder.

    Args:
        dataset: a labelled `protkit.data.Dataset`. If it has groups, the split is grouped (no
            group in two parts); give groups with ``dataset.with_groups(...)``.
        model: "fast_spec_cnn", "plcnn", "cnn" (traditional CNN) or "resnet".
        preset: "cpu" (fits 2 CPU cores) or "paper" (the Fast Spec CNN paper's Table 1).
        out: the run folder (None: nothing is written, nothing can be resumed).
        image_size, epochs, batch_size, learning_rate: override the preset.
        loss: "auto", "focal" (multi-label) or a Keras loss.
        normalization: "percentile", "dataset" (fitted on the training split) or "fixed".
        augment: classical flips/rotations/zoom on training batches (True), False, or a callable.
        class_weight: None, "balanced" (single-label) or a dict.
        val_fraction, test_fraction: the split (seeded, stratified or grouped).
        early_stopping: None, or patience in epochs on the validation monitor (best weights kept).
        seed: seeds the split, the shuffling, augmentation and weight initialisation.
        overwrite: replace an existing finished run in ``out``.
        verbose: Keras verbosity ("auto", 0, 1, 2).
        model_kwargs: extra arguments for the model builder.
        lr_schedule: None (constant learning rate), "plateau" (halve it when the validation
            monitor has not improved for 4 epochs, down to 1/64 of the start) or "cosine"
            (cosine decay to zero over ``epochs``).
        callbacks: extra Keras callbacks for `keras.Model.fit` (e.g. a time budget).
        deterministic: switch on TensorFlow's op determinism (process-wide, and it stays on):
            with the same seed, a CPU run repeats bit for bit (tested). Some GPU kernels have
            no deterministic version and then raise; parallel data loading keeps its order
            either way.
        strategy: None (one device), a name from `protkit.distribute.STRATEGIES` ("auto",
            "default", "mirrored", "multiworker") or a `tf.distribute.Strategy`. The model is
            built and compiled in its scope; ``batch_size`` is the global batch (split across
            replicas); in a multi-worker cluster only the chief writes ``out``.

    Returns:
        `TrainResult`.
    """
    import keras

    from protkit import distribute
    from protkit import metrics as metrics_lib
    from protkit import plots
    from protkit._io import atomic_path, write_json
    from protkit.augment import classical_augmentation
    from protkit.callbacks import ConfusionMatrixFigure, EpochBackup, ValidationMetrics
    from protkit.data import Normalizer, make_pipeline, readable_errors, train_val_test_split
    from protkit.models import build_model

    if dataset.task is None:
        raise ValueError("training needs labels: this dataset is unlabelled")
    # First: a multi-worker strategy must exist before TensorFlow does any other work.
    strategy = None if strategy is None else distribute.get_strategy(strategy)
    chief = strategy is None or distribute.is_chief(strategy)
    task = dataset.task
    settings = resolve_settings(model, preset, image_size, epochs, batch_size, learning_rate)
    height, width = settings["image_size"]
    settings.update(
        task=task, class_names=list(dataset.class_names), channel_names=_channel_names(dataset),
        seed=int(seed), data=dataset.source, normalization_mode=normalization,
        val_fraction=float(val_fraction), test_fraction=float(test_fraction), lr_schedule=lr_schedule,
    )
    if lr_schedule not in LR_SCHEDULES:
        raise ValueError(f"lr_schedule must be one of {LR_SCHEDULES}. Received: lr_schedule={lr_schedule!r}")
    # Only real items are split; generated ones (GAN balancing) join the training part.
    real = dataset.real_indices
    if len(real) == 0:
        raise ValueError("every item of this dataset is marked synthetic: validation needs real items. To train "
                         "on generated images alone (train-on-synthetic, test-on-real), rebuild the Dataset "
                         "without the synthetic mask and test on real images apart")
    train_idx, val_idx, test_idx = (real[part] for part in train_val_test_split(
        dataset.labels[real], val_fraction=val_fraction, test_fraction=test_fraction,
        groups=None if dataset.groups is None else dataset.groups[real], seed=seed))
    if len(real) < len(dataset):
        train_idx = np.sort(np.concatenate([train_idx, np.flatnonzero(dataset.synthetic)]))
    run_dir, resuming, backup_dir = None, False, None
    if out is not None and chief:
        run_dir, resuming = _prepare_run_dir(out, settings, overwrite)
        backup_dir = run_dir / "backup"
    elif out is not None:  # another worker of a cluster: writes nothing but its own epoch backup
        backup_dir = distribute.worker_backup_dir(out, strategy)
        if overwrite:
            shutil.rmtree(backup_dir, ignore_errors=True)
    if deterministic:
        import tensorflow as tf

        tf.config.experimental.enable_op_determinism()
    keras.utils.set_random_seed(seed)
    normalizer = Normalizer(normalization).fit(dataset, np.intersect1d(train_idx, real), seed=seed)
    augmentation = classical_augmentation(seed=seed) if augment is True else (augment or None)
    common = dict(image_size=(height, width), normalizer=normalizer)
    train_ds = make_pipeline(dataset, train_idx, batch_size=settings["batch_size"], shuffle=True, seed=seed,
                             augment=augmentation, **common)
    val_ds = make_pipeline(dataset, val_idx, batch_size=64, **common)
    val_images = make_pipeline(dataset, val_idx, batch_size=64, labels=False, **common)
    if strategy is not None:
        train_ds, val_ds, val_images = (distribute.shard_by_data(ds, strategy) for ds in (train_ds, val_ds, val_images))
        settings["strategy"] = distribute.describe(strategy)

    with distribute.scope(strategy):
        network = build_model(settings["model"], (height, width, len(settings["channel_names"])),
                              dataset.num_classes, task=task, preset=preset, **(model_kwargs or {}))
        learning_rate = settings["learning_rate"]
        if lr_schedule == "cosine":
            steps = settings["epochs"] * -(-len(train_idx) // settings["batch_size"])
            learning_rate = keras.optimizers.schedules.CosineDecay(learning_rate, decay_steps=steps)
        compile_for_task(network, task, learning_rate, loss=loss)
    if strategy is not None:
        target_shape = (None, dataset.num_classes)
        distribute.build_for(network, strategy, ((None, height, width, len(settings["channel_names"])), "float32"),
                             (target_shape, "float32"))

    validation = ValidationMetrics(val_images, dataset.labels[val_idx], task, class_names=dataset.class_names)
    monitor = MONITOR[task]
    extra_callbacks, callbacks = list(callbacks or []), [validation]
    if lr_schedule == "plateau":
        callbacks.append(keras.callbacks.ReduceLROnPlateau(monitor=monitor, mode="max", factor=0.5, patience=4,
                                                           min_lr=settings["learning_rate"] / 64, verbose=0))
    if early_stopping:
        callbacks.append(keras.callbacks.EarlyStopping(monitor=monitor, mode="max", patience=int(early_stopping),
                                                       restore_best_weights=True))
    if run_dir is not None:
        callbacks.append(keras.callbacks.ModelCheckpoint(str(run_dir / "best.keras"), monitor=monitor, mode="max",
                                                         save_best_only=True))
    if backup_dir is not None:
        callbacks.append(EpochBackup(str(backup_dir)))
    if run_dir is not None:
        callbacks.append(keras.callbacks.CSVLogger(str(run_dir / "history.csv"), append=resuming))
        if task == SINGLE_LABEL:
            callbacks.append(ConfusionMatrixFigure(validation, dataset.class_names, run_dir / "confusion_matrix.png"))
        config = dict(settings, status="running", protkit_version=_version(), normalization=normalizer.get_config(),
                      groups=dataset.groups is not None, started=time.strftime("%Y-%m-%d %H:%M:%S"))
        if resuming:
            print(f"resuming the interrupted run in {run_dir} from its last finished epoch")
        write_json(run_dir / "config.json", config)
    callbacks += extra_callbacks

    weights = class_weight
    if class_weight == "balanced":
        if task != SINGLE_LABEL:
            raise ValueError("class_weight='balanced' is for single-label data; for rare labels in "
                             "multi-label data use loss='focal'")
        weights = balanced_class_weight(dataset.labels[train_idx], dataset.num_classes)

    started = time.perf_counter()
    with readable_errors():
        history = network.fit(train_ds, validation_data=val_ds, epochs=settings["epochs"], callbacks=callbacks,
                              class_weight=weights, shuffle=False, verbose=verbose)
    minutes = (time.perf_counter() - started) / 60

    # Thresholds (multi-label) are tuned on validation and stored for evaluate/predict.
    val_prob = network.predict(val_images, verbose=0)
    thresholds = None
    if task == MULTI_LABEL:
        thresholds = metrics_lib.tune_thresholds(dataset.labels[val_idx], val_prob)
    results = {"validation": metrics_lib.evaluate_predictions(
        dataset.labels[val_idx], val_prob, task, class_names=dataset.class_names,
        thresholds=thresholds if thresholds is not None else 0.5)}
    probabilities = {"validation": val_prob}
    if len(test_idx):
        test_images = make_pipeline(dataset, test_idx, batch_size=64, labels=False, **common)
        if strategy is not None:
            test_images = distribute.shard_by_data(test_images, strategy)
        test_prob = network.predict(test_images, verbose=0)
        results["test"] = metrics_lib.evaluate_predictions(
            dataset.labels[test_idx], test_prob, task, class_names=dataset.class_names,
            thresholds=thresholds if thresholds is not None else 0.5)
        probabilities["test"] = test_prob
    split = {"train": train_idx, "validation": val_idx, "test": test_idx}
    results["protocol"] = protocol(dataset, split, seed, thresholds is not None)
    results["training_minutes"] = round(minutes, 3)

    config = dict(settings, status="complete", protkit_version=_version(), normalization=normalizer.get_config(),
                  thresholds=None if thresholds is None else [float(t) for t in thresholds],
                  groups=dataset.groups is not None, training_minutes=round(minutes, 3),
                  split_sizes={k: int(len(v)) for k, v in split.items()})
    if run_dir is not None:
        with atomic_path(run_dir / "model.keras") as temporary:
            network.save(temporary)
        write_json(run_dir / "config.json", config)
        write_json(run_dir / "metrics.json", metrics_lib.to_jsonable(results))
        _write_split(run_dir / "split.csv", dataset, split)
        figure = plots.learning_curves(history.history)
        plots.save(figure, run_dir / "learning_curves.png", overwrite=True)
        import matplotlib.pyplot as plt

        plt.close("all")
    return TrainResult(network, history.history, config, split, results, probabilities, run_dir, normalizer)


def protocol(dataset, split, seed, tuned_thresholds):
    """Words that go with every number: split, grouping, metric definitions."""
    grouped = dataset.groups is not None
    text = {
        "split": (f"{len(split['train'])} train / {len(split['validation'])} validation / {len(split['test'])} test "
                  f"items, seed {seed}, " + ("grouped (no group in two parts)" if grouped else
                                             "stratified" if dataset.task == SINGLE_LABEL else
                                             "iterative multi-label stratification")),
        "grouping": "by dataset groups" if grouped else "none (items assumed independent)",
    }
    if dataset.synthetic is not None and dataset.synthetic.any():
        text["synthetic"] = (f"{int(dataset.synthetic.sum())} generated items, all in the training part; "
                             f"validation and test hold real items only")
    if dataset.task == SINGLE_LABEL:
        text["metrics"] = ("accuracy; balanced_accuracy = mean class accuracy = mean per-class recall; "
                           "macro_f1 = unweighted mean of per-class F1")
    else:
        text["metrics"] = ("macro_f1 = mean of per-class F1; exact_match_accuracy = all labels of an image right; "
                           "elementwise_accuracy = fraction of correct label decisions (high even for "
                           "all-negative predictions: see all_negative_elementwise_accuracy)")
        text["thresholds"] = "per-class, tuned on validation" if tuned_thresholds else "0.5"
    return text


def _write_split(path, dataset, split):
    import pandas as pd

    from protkit._io import atomic_path

    rows = [(dataset.ids[i], part) for part, indices in split.items() for i in indices]
    with atomic_path(path) as temporary:
        pd.DataFrame(rows, columns=["id", "part"]).to_csv(temporary, index=False)


def _channel_names(dataset):
    if dataset.channel_names:
        return list(dataset.channel_names)
    channels = dataset.read(0).shape[-1]
    return [f"ch{i}" for i in range(channels)]


def _version():
    from protkit import __version__

    return __version__
