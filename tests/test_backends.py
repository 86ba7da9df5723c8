"""Keras backends: protkit's per-backend helpers, and the JAX backend end to end on a real set
(a run trained on JAX predicts the same rows on TensorFlow).

The helper tests are backend-neutral: CI runs them under TensorFlow and again under
``KERAS_BACKEND=jax``. The end-to-end test starts the CLI with ``KERAS_BACKEND=jax`` in
subprocesses, so it runs in the TensorFlow pass; without JAX it skips, except under CI=true,
where a missing JAX is a failure.
"""

import csv
import json
import os
import subprocess
import sys

import keras
import numpy as np
import pytest

from conftest import HEP2, requires
from protkit import backend, distribute


def _require_jax():
    if os.environ.get("CI") == "true":
        import jax  # noqa: F401  (CI installs the jax extra: its absence is a failure there)
    else:
        pytest.importorskip("jax", reason='the jax extra: pip install -e ".[jax]"')


@pytest.mark.backend_neutral
def test_compiled_equals_the_plain_call_for_every_batch_size():
    keras.utils.set_random_seed(0)
    model = keras.Sequential([keras.Input((8, 8, 2)), keras.layers.Conv2D(3, 3), keras.layers.GlobalAveragePooling2D(),
                              keras.layers.Dense(4, activation="softmax")])
    forward = backend.compiled(lambda x: model(x, training=False), (8, 8, 2))
    for count in (5, 2):  # two batch sizes: one trace (TF) or one per size (JAX), same numbers
        x = np.random.default_rng(count).random((count, 8, 8, 2), dtype=np.float32)
        out = forward(x)
        assert isinstance(out, np.ndarray) and out.shape == (count, 4)
        np.testing.assert_allclose(out, keras.ops.convert_to_numpy(model(x)), atol=1e-6)


@pytest.mark.backend_neutral
def test_gradients_match_the_analytic_gradient():
    x = np.random.default_rng(0).normal(size=(3, 4, 5)).astype(np.float32)
    weights = keras.ops.convert_to_tensor(np.arange(5, dtype=np.float32))

    def scores(t):  # per item: sum of w_c * x^2; d/dx = 2 w_c x
        return keras.ops.sum(keras.ops.square(t) * weights, axis=(1, 2))

    values, grads = backend.gradients(scores, x)
    np.testing.assert_allclose(values, (x ** 2 * np.arange(5)).sum(axis=(1, 2)), rtol=1e-5)
    np.testing.assert_allclose(grads, 2 * x * np.arange(5), rtol=1e-5, atol=1e-6)


@pytest.mark.backend_neutral
def test_tf_distribute_says_it_needs_tensorflow(monkeypatch):
    monkeypatch.setattr(backend, "name", lambda: "jax")
    assert distribute.get_strategy("auto") is None and distribute.get_strategy("default") is None
    for strategy in ("mirrored", "multiworker"):
        with pytest.raises(backend.BackendError, match="KERAS_BACKEND=tensorflow"):
            distribute.get_strategy(strategy)


@pytest.mark.backend_neutral
def test_require_tensorflow_names_the_feature_and_the_way_out(monkeypatch):
    monkeypatch.setattr(backend, "name", lambda: "jax")
    with pytest.raises(backend.BackendError, match=r"tf.distribute needs the TensorFlow backend.*'jax'"):
        backend.require_tensorflow("tf.distribute")


@pytest.mark.backend_neutral
def test_export_says_it_needs_tensorflow(monkeypatch, tmp_path):
    from protkit.export import export_bioimageio, export_onnx

    monkeypatch.setattr(backend, "name", lambda: "jax")
    with pytest.raises(backend.BackendError, match="ONNX export"):
        export_onnx(tmp_path, tmp_path / "model.onnx")
    with pytest.raises(backend.BackendError, match="BioImage.io export"):
        export_bioimageio(tmp_path, None, tmp_path / "model.zip")


def _protkit(args, cwd):
    env = dict(os.environ, KERAS_BACKEND="jax")
    completed = subprocess.run([sys.executable, "-m", "protkit.cli", *args], cwd=cwd, env=env, capture_output=True,
                               text=True)
    assert completed.returncode == 0, completed.stderr[-3000:]
    return completed.stdout


def _hep2_subset(tmp_path, part, per_class):
    """A label table of ``per_class`` items per class of HEp-2 ``part`` (the images stay in ../shared)."""
    with open(HEP2 / f"{part}_labels.csv", newline="") as stream:
        rows = list(csv.DictReader(stream))
    kept, counts = [], {}
    for row in rows:
        if counts.get(row["Image class"], 0) < per_class:
            counts[row["Image class"]] = counts.get(row["Image class"], 0) + 1
            kept.append(row)
    table = tmp_path / f"{part}.csv"
    with open(table, "w", newline="") as stream:
        writer = csv.DictWriter(stream, fieldnames=["Image ID", "Image class"])
        writer.writeheader()
        writer.writerows(kept)
    return table, len(kept)


@pytest.mark.real_data
@requires(HEP2)
def test_the_jax_backend_trains_evaluates_and_predicts_hep2_from_the_command_line(tmp_path):
    _require_jax()
    train_table, _ = _hep2_subset(tmp_path, "training", 24)
    val_table, val_items = _hep2_subset(tmp_path, "validation", 8)
    labels = ["--id-column", "Image ID", "--label-column", "Image class", "--pattern", "{id:05d}.png"]
    run = tmp_path / "run"
    _protkit(["train", str(HEP2 / "training"), "--labels", str(train_table), *labels, "--image-size", "32",
              "--epochs", "2", "--out", str(run), "--quiet"], tmp_path)
    config = json.loads((run / "config.json").read_text())
    assert config["keras_backend"] == "jax" and config["status"] == "complete"
    _protkit(["evaluate", str(run), str(HEP2 / "validation"), "--labels", str(val_table), *labels,
              "--out", str(tmp_path / "evaluation.json")], tmp_path)
    evaluation = json.loads((tmp_path / "evaluation.json").read_text())
    assert evaluation["protocol"]["items"] == val_items and 0 <= evaluation["balanced_accuracy"] <= 1
    _protkit(["predict", str(run), str(HEP2 / "validation"), "--labels", str(val_table), *labels,
              "--out", str(tmp_path / "predictions.csv")], tmp_path)
    with open(tmp_path / "predictions.csv", newline="") as stream:
        rows = list(csv.DictReader(stream))
    assert len(rows) == val_items
    probabilities = np.array([[float(row[f"prob_{name}"]) for name in config["class_names"]] for row in rows])
    np.testing.assert_allclose(probabilities.sum(axis=1), 1.0, atol=1e-4)
    # The run folder is backend-neutral: TensorFlow (this process) predicts the same rows.
    from protkit.cli import main

    assert main(["predict", str(run), str(HEP2 / "validation"), "--labels", str(val_table), *labels,
                 "--out", str(tmp_path / "tf.csv")]) == 0
    with open(tmp_path / "tf.csv", newline="") as stream:
        tf_rows = list(csv.DictReader(stream))
    assert [row["id"] for row in tf_rows] == [row["id"] for row in rows]
    tf_probabilities = np.array([[float(row[f"prob_{name}"]) for name in config["class_names"]] for row in tf_rows])
    np.testing.assert_allclose(tf_probabilities, probabilities, atol=1e-5)
