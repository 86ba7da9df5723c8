"""Callbacks: per-epoch validation metrics written into `logs`, a confusion-matrix figure, GAN
sample grids, an epoch backup that a killed process cannot leave half-written, and the best
epoch kept as the run's model."""

from __future__ import annotations

import json
import os

import keras
import matplotlib.pyplot as plt
import numpy as np

from protkit import metrics, plots
from protkit.data import Dataset
from protkit.models.dcgan import from_gan_range
from protkit.vocabulary import EPOCH_METRICS, MULTI_LABEL, check_task

LOGGED = EPOCH_METRICS  # the per-epoch numbers written into logs (prefixed "val_"), per task


class ValidationMetrics(keras.callbacks.Callback):
    """Compute protkit's metrics on validation data after every epoch and put them into ``logs``.

    Place it before `keras.callbacks.CSVLogger`, `EarlyStopping` or `ModelCheckpoint` in the
    callback list: they then see (and `History` keeps) e.g. ``val_macro_f1`` or
    ``val_balanced_accuracy``.

    Args:
        data: a tf.data pipeline (or array) of validation images *without* labels, in the order
            of ``y_true``.
        y_true: class indices (single-label) or multi-hot rows (multi-label).
        task: "single_label" or "multi_label".
        class_names: for the per-class table kept in ``self.last``.
        threshold: decision threshold for multi-label metrics.
    """
    def __init__(self, data, y_true, task, class_names=None, threshold=0.5):
        super().__init__()
        check_task(task)
        self.data = data
        self.y_true = np.asarray(y_true)
        self.task = task
        self.class_names = class_names
        self.threshold = threshold
        self.last = None
        self.last_probabilities = None

    def on_epoch_end(self, epoch, logs=None):
        probabilities = self.model.predict(self.data, verbose=0)
        self.last_probabilities = probabilities
        if self.task == MULTI_LABEL:
            result = metrics.multilabel_metrics(self.y_true, probabilities, thresholds=self.threshold,
                                                class_names=self.class_names)
        else:
            result = metrics.singlelabel_metrics(self.y_true, probabilities, class_names=self.class_names,
                                                 num_classes=probabilities.shape[-1])
        self.last = result
        if logs is not None:
            for key in LOGGED[self.task]:
                value = result[key]
                logs[f"val_{key}"] = float(value) if value is not None else float("nan")


class ConfusionMatrixFigure(keras.callbacks.Callback):
    """At the end of training, save the validation confusion matrix of a single-label model.

    Args:
        validation: the `ValidationMetrics` callback of the same fit (its last predictions are used).
        class_names: row/column labels.
        path: PNG path to write.
    """
    def __init__(self, validation, class_names, path):
        super().__init__()
        self.validation = validation
        self.class_names = class_names
        self.path = path

    def on_train_end(self, logs=None):
        result = self.validation.last
        if result is None or "confusion_matrix" not in result:
            return
        figure = plots.confusion_matrix(np.asarray(result["confusion_matrix"]), self.class_names)
        plots.save(figure, self.path, overwrite=True)

        plt.close(figure)


class GanSamples(keras.callbacks.Callback):
    """Every ``every`` epochs of a `protkit.models.dcgan.DCGAN` fit, draw generated samples.

    One row per class (conditional GANs; the same noise every time, so rows can be compared
    across epochs) or one row of samples. The figure is shown in a notebook (``show``) and/or
    written as ``samples_epoch_NNN.png`` into ``folder``.

    Args:
        every: epochs between figures.
        per_class: samples per row.
        class_names: row titles (default the class indices).
        colors: channel colours of the composite (see `protkit.plots.channel_composite`).
        folder: where PNGs go (None: not saved).
        show: display the figure (IPython) as training goes.
        seed: the fixed noise.
    """
    def __init__(self, every=5, per_class=4, class_names=None, colors=None, folder=None, show=True, seed=0):
        super().__init__()
        if int(every) < 1:
            raise ValueError(f"every must be a positive int. Received: every={every}")
        self.every, self.per_class, self.class_names = int(every), int(per_class), class_names
        self.colors, self.folder, self.show, self.seed = colors, folder, show, seed
        self.figures_written = []

    def figure(self, title=None):
        gan = self.model
        if gan.conditional:
            labels = np.repeat(np.arange(gan.num_classes), self.per_class)
            images = from_gan_range(gan.generate(labels=labels, seed=self.seed))
            names = self.class_names or [str(i) for i in range(gan.num_classes)]
            dataset = Dataset.from_arrays(images, labels=labels, class_names=names)
        else:
            dataset = Dataset.from_arrays(from_gan_range(gan.generate(self.per_class, seed=self.seed)))
        figure = plots.sample_grid(dataset, per_class=self.per_class, normalizer="fixed", colors=self.colors)
        if title:
            figure.suptitle(title)
        return figure

    def on_epoch_end(self, epoch, logs=None):
        if (epoch + 1) % self.every:
            return

        figure = self.figure(f"generated, epoch {epoch + 1}")
        if self.folder is not None:

            path = plots.save(figure, f"{self.folder}/samples_epoch_{epoch + 1:03d}.png", overwrite=True)
            self.figures_written.append(path)
        if self.show:
            try:
                from IPython.display import display

                display(figure)
            except ImportError:
                pass
        plt.close(figure)


class EpochBackup(keras.callbacks.BackupAndRestore):
    """`keras.callbacks.BackupAndRestore` whose files are replaced atomically.

    Keras writes the backup's weights and epoch counter in place: a process killed during that
    write leaves a file that cannot be read, and the next run fails to resume (seen in protkit's
    kill-and-resume test). Here both go to a temporary file first and are renamed over the old
    ones, so the backup always holds a complete epoch. The weights are replaced first: a kill
    between the two renames costs one epoch done again, never a lost backup.
    """
    def __init__(self, backup_dir):
        super().__init__(backup_dir, delete_checkpoint=True)

    def _save_model(self):
        os.makedirs(self.backup_dir, exist_ok=True)
        weights = self._weights_path + ".tmp.weights.h5"
        self.model.save_weights(filepath=weights, overwrite=True)
        os.replace(weights, self._weights_path)
        metadata = self._training_metadata_path + ".tmp"
        with open(metadata, "w") as stream:
            json.dump({"epoch": self._current_epoch, "batch": self._last_batch_seen}, stream)
        os.replace(metadata, self._training_metadata_path)


class KeepBest(keras.callbacks.Callback):
    """Keep the weights of the epoch with the best ``monitor`` and put them back when training ends.

    The run's model is then its best validation epoch (the recipe's ``keep="best"``), not its
    last one. ``best_epoch`` (0-based, None before any epoch) and ``best`` (its score) say which;
    an epoch whose score is NaN never counts as best. After a resume, "best" counts from the
    resumed epoch on. Unlike `keras.callbacks.EarlyStopping`, training is never cut short.

    Args:
        monitor: the logs key (e.g. "val_balanced_accuracy").
        mode: "max" (higher is better) or "min".
    """
    def __init__(self, monitor, mode="max"):
        super().__init__()
        if mode not in ("max", "min"):
            raise ValueError(f"mode must be 'max' or 'min'. Received: mode={mode!r}")
        self.monitor, self.mode = monitor, mode
        self.best, self.best_epoch, self._weights = None, None, None

    def on_train_begin(self, logs=None):
        self.best, self.best_epoch, self._weights = None, None, None

    def on_epoch_end(self, epoch, logs=None):
        value = (logs or {}).get(self.monitor)
        if value is None or not np.isfinite(value):
            return
        if self.best is None or (value > self.best if self.mode == "max" else value < self.best):
            self.best, self.best_epoch = float(value), int(epoch)
            self._weights = [np.array(w) for w in self.model.get_weights()]

    def on_train_end(self, logs=None):
        if self._weights is not None:
            self.model.set_weights(self._weights)
