"""Trained models out of Python: ONNX, checked against Keras on the run's own images.

`export_onnx(RUN_DIR, OUT.onnx)` writes the run's network as an ONNX model (Keras's own
``model.export(format="onnx")``, which converts through ``tf2onnx``) and a sidecar
``OUT.onnx.json`` with everything a consumer needs to use it as protkit does: the input name
and shape (batch, height, width, channels, float32), the channel and class names, the
normalization, the run's multi-label thresholds, test-time augmentation and temperature (the
ONNX graph is the bare network: a single view, no temperature), and the largest difference
between the ONNX and Keras outputs on the check images.

ONNX has no complex tensors, so the Fast Spec CNN's `protkit.layers.FFTSpectrum` is exported
with ``transform="matmul"`` (the same spectrum as products with the DFT matrices; no weights
change). Needs the optional extra ``pip install -e ".[export]"`` (onnx, onnxruntime, tf2onnx).
"""

from __future__ import annotations

import importlib.util
import json
import pathlib

import numpy as np

from protkit.runs import atomic_path, check_output_file, write_json

EXPORT_PACKAGES = ("onnx", "onnxruntime", "tf2onnx")
TOLERANCE = 1e-4


class MissingExtraError(ImportError):
    """An optional extra a feature needs is not installed (the message says what to install)."""


def check_export_packages():
    """Raise `MissingExtraError` naming what to install when the export extra is missing."""
    missing = [name for name in EXPORT_PACKAGES if importlib.util.find_spec(name) is None]
    if missing:
        raise MissingExtraError(f"ONNX export needs {', '.join(missing)}: pip install -e \".[export]\" "
                          f"(or pip install {' '.join(missing)})")


def exportable(model):
    """A copy of ``model`` (same weights) whose layers every exchange format can express.

    `FFTSpectrum` layers switch to ``transform="matmul"``. An adapted feature
    `keras.layers.Normalization` (DCAE + MLP's ``feature_scaling``) becomes the equal `Dense`
    layer with a diagonal kernel 1 / std and bias -mean / std: its mean and variance are plain
    tensors, not variables, which tf2onnx would leave as graph inputs. Everything else is
    rebuilt from its own config and keeps its weights. Returns ``model`` itself when nothing
    needs to change.
    """
    import keras

    from protkit.layers import FFTSpectrum

    kinds = (FFTSpectrum, keras.layers.Normalization)
    if not any(isinstance(layer, kinds) for layer in model._flatten_layers()):
        return model

    def clone(layer):
        if isinstance(layer, keras.Model):
            return keras.models.clone_model(layer, clone_function=clone)
        if isinstance(layer, keras.layers.Normalization):
            if len(layer.input.shape) != 2:
                raise ValueError(f"layer {layer.name!r}: only a Normalization of feature vectors exports")
            return keras.layers.Dense(layer.input.shape[-1], name=layer.name)
        config = layer.get_config()
        if isinstance(layer, FFTSpectrum):
            config["transform"] = "matmul"
        return layer.__class__.from_config(config)

    copy = keras.models.clone_model(model, clone_function=clone)
    _copy_weights(model, copy)
    return copy


def _copy_weights(original, copy):
    import keras

    for before, after in zip(original.layers, copy.layers):
        if isinstance(before, keras.Model):
            _copy_weights(before, after)
        elif isinstance(before, keras.layers.Normalization):
            mean = np.asarray(before.mean, np.float64).reshape(-1)
            # as Normalization computes it: (x - mean) / max(sqrt(variance), epsilon)
            std = np.maximum(np.sqrt(np.asarray(before.variance, np.float64).reshape(-1)), keras.config.epsilon())
            after.set_weights([np.diag(1 / std).astype(np.float32), (-mean / std).astype(np.float32)])
        elif before.weights:
            after.set_weights(before.get_weights())


def export_onnx(run_dir, out_path, images=None, overwrite=False):
    """Write ``run_dir``'s model as ONNX at ``out_path`` (and ``out_path.json``), checked against Keras.

    Args:
        run_dir: a `protkit.training.train` run folder.
        out_path: the ``.onnx`` file; refused if it exists unless ``overwrite``.
        images: (N, H, W, C) images prepared as the run prepares them, to compare ONNX and Keras
            on; default 8 seeded random images in [0, 1] of the run's shape.
        overwrite: replace existing files.

    Returns:
        dict: what the sidecar JSON holds (``max_abs_difference`` included).

    Raises:
        MissingExtraError: without the export extra (the message says what to install).
        ValueError: when the ONNX outputs differ from Keras's by more than `TOLERANCE`.
    """
    check_export_packages()
    import onnxruntime

    from protkit.inference import Ensemble, load_run

    out_path = check_output_file(out_path, overwrite)
    sidecar = check_output_file(out_path.with_name(out_path.name + ".json"), overwrite)
    run = load_run(run_dir)
    if isinstance(run.model, Ensemble):
        raise ValueError(f"{run_dir}: a cross-validation folder; export one fold's run folder")
    height, width = run.config["image_size"]
    channels = len(run.config["channel_names"])
    if images is None:
        images = np.random.default_rng(0).random((8, height, width, channels)).astype(np.float32)
    images = np.asarray(images, np.float32)
    keras_out = run.model.predict(images, verbose=0)
    network = exportable(run.model)
    network.predict(images[:1], verbose=0)  # Keras exports only a model that has been called
    with atomic_path(out_path) as temporary:
        network.export(str(temporary), format="onnx", verbose=False)
    session = onnxruntime.InferenceSession(str(out_path), providers=["CPUExecutionProvider"])
    input_name = session.get_inputs()[0].name
    onnx_out = session.run(None, {input_name: images})[0]
    difference = float(np.abs(onnx_out - keras_out).max())
    if not difference <= TOLERANCE:
        out_path.unlink()
        raise ValueError(f"the ONNX model's outputs differ from Keras's by {difference:.2e} (> {TOLERANCE:g}); "
                         f"nothing was kept")
    record = {
        "run": str(pathlib.Path(run_dir).resolve()), "onnx": out_path.name, "input_name": input_name,
        "input_shape": [None, int(height), int(width), int(channels)], "input_dtype": "float32",
        "output": "probabilities (softmax: single-label; sigmoid: multi-label)", "task": run.task,
        "class_names": run.class_names, "channel_names": list(run.config["channel_names"]),
        "normalization": run.config["normalization"], "thresholds": run.config.get("thresholds"),
        "test_time_augmentation": run.tta, "temperature": run.temperature,
        "note": ("the graph is the bare network on one view: prepare images with the normalization above; "
                 "protkit's own predictions also average the test-time views and apply the temperature"),
        "checked_images": int(len(images)), "max_abs_difference": difference, "tolerance": TOLERANCE,
    }
    write_json(sidecar, record)
    return record


def load_sidecar(out_path):
    """The sidecar JSON written next to an exported model."""
    path = pathlib.Path(out_path)
    return json.loads(path.with_name(path.name + ".json").read_text())
