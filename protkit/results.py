"""What protkit's entry points return: one documented type per role.

| role | function | returns |
|---|---|---|
| train a classifier | `protkit.training.train` | `TrainResult` |
| cross-validate | `protkit.evaluation.cross_validate` | `CVResult` |
| cluster (DCAEC) | `protkit.clustering.cluster_dataset` | `ClusterResult` |
| predict new items | `protkit.inference.predict_run` | `PredictionResult` |

Each is a dataclass: read its fields as attributes. `ClusterResult` and `PredictionResult` are
also readable by key (``result["assignments"]``), the dict form they had before.
"""

from __future__ import annotations

import dataclasses
import pathlib

import numpy as np


class _ReadableByKey:
    """``result["name"]`` reads the field ``name`` (the dict form of earlier versions)."""

    def __getitem__(self, name):
        if name not in {field.name for field in dataclasses.fields(self)}:
            raise KeyError(name)
        return getattr(self, name)

    def keys(self):
        return [field.name for field in dataclasses.fields(self)]


@dataclasses.dataclass
class TrainResult:
    """What `protkit.training.train` returns.

    Attributes:
        model: the trained Keras model.
        history: per-epoch logs (training and validation metrics).
        config: the run config (what `config.json` holds).
        split: indices of the "train", "validation" and "test" items.
        metrics: validation (and test) metrics with their protocol.
        probabilities: predicted probabilities for "validation" (and "test") items, in split order.
        run_dir: the run folder, or None.
        normalizer: the fitted `Normalizer` (prepare new images with it).

    ``result.predict(images)`` gives the run's probabilities as `evaluate` and `predict` do
    (its test-time augmentation and temperature); ``result.model.predict`` gives the bare
    network's, which the run's thresholds were not tuned on.
    """

    model: object
    history: dict
    config: dict
    split: dict
    metrics: dict
    probabilities: dict
    run_dir: pathlib.Path | None
    normalizer: object = None

    def predict(self, images):
        """Probabilities for prepared ``images`` (N, H, W, C) or a batched image pipeline: the views of the run's
        test-time augmentation averaged, then its temperature applied."""
        from protkit.calibration import apply_temperature
        from protkit.inference import model_probabilities

        probabilities = model_probabilities(self.model, images, self.config.get("tta", "none"))
        return apply_temperature(probabilities, self.config.get("temperature"), self.config["task"])


@dataclasses.dataclass
class CVResult:
    """What `protkit.evaluation.cross_validate` returns.

    Attributes:
        folds: one row per fold: fold, items in training (real and generated) and test, the
            task's metrics, per-class recall (single-label) or F1 (multi-label), minutes.
        summary: `protkit.evaluation.summarize(folds)`.
        predictions: per fold, ``test_indices``, ``y_true``, ``probabilities`` (calibrated as
            the fold's run says; for McNemar and pooled confusion matrices) and ``thresholds``
            (the fold's multi-label thresholds, tuned on its inner validation part; empty for
            single-label) and ``label_count`` (the fold's (fewest, most) labels per item; empty
            when none is enforced).
        protocol: the words that go with the numbers.
        out: the results folder, or None.
    """

    folds: object
    summary: object
    predictions: list = dataclasses.field(default_factory=list)
    protocol: dict = dataclasses.field(default_factory=dict)
    out: pathlib.Path | None = None

    def pooled_predictions(self):
        """(test indices, y_true, probabilities) of all folds together, in item order."""
        order = np.concatenate([p["test_indices"] for p in self.predictions])
        sort = np.argsort(order)
        y_true = np.concatenate([p["y_true"] for p in self.predictions])[sort]
        probabilities = np.concatenate([p["probabilities"] for p in self.predictions])[sort]
        return order[sort], y_true, probabilities


@dataclasses.dataclass
class ClusterResult(_ReadableByKey):
    """What `protkit.clustering.cluster_dataset` returns.

    Attributes:
        assignments: (N,) cluster of every item.
        probabilities: (N, k) posterior probability of every cluster.
        features: (N, D) latent vectors the mixture was fitted on.
        scores: `protkit.clustering.cluster_scores` against known labels, or None without labels.
        autoencoder: the `protkit.unsupervised.AutoencoderResult`, or with
            ``encoder="contrastive"`` the `protkit.contrastive.ContrastiveResult` (the same
            ``encoder``, ``image_size`` and ``normalizer``).
        gmm: the fitted `sklearn.mixture.GaussianMixture`.
        out: the run folder, or None.
        k_selection: `protkit.clustering.k_selection` table (k, BIC, silhouette) when a range
            of k was asked for, else None.
    """

    assignments: np.ndarray
    probabilities: np.ndarray
    features: np.ndarray
    scores: dict | None
    autoencoder: object
    gmm: object
    out: pathlib.Path | None = None
    k_selection: object = None


@dataclasses.dataclass
class PredictionResult(_ReadableByKey):
    """What `protkit.inference.predict_run` returns.

    Attributes:
        written: rows written by this call.
        resumed: rows kept from an interrupted call.
        skipped: "file: reason" for each item left out by this call (``skip_bad``).
        path: the predictions CSV.
    """

    written: int
    resumed: int
    skipped: list
    path: str
