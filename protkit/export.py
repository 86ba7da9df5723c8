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

import json
import pathlib

import numpy as np

from protkit.backend import require_tensorflow
from protkit.extras import MissingExtraError, require  # noqa: F401  (MissingExtraError: public here too)
from protkit.runs import atomic_path, check_output_file, write_json

EXPORT_PACKAGES = ("onnx", "onnxruntime", "tf2onnx")
TOLERANCE = 1e-4


def check_export_packages():
    """Raise `protkit.extras.MissingExtraError` naming what to install when the export extra is missing."""
    require("export", "ONNX export", EXPORT_PACKAGES)


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
        protkit.backend.BackendError: on a Keras backend other than TensorFlow (the conversion
            goes through tf2onnx); run folders are backend-neutral, so export with
            ``KERAS_BACKEND=tensorflow`` a run trained on any backend.
    """
    require_tensorflow("ONNX export (tf2onnx)")
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
        "label_count_bounds": run.config.get("label_count_bounds"), "test_time_augmentation": run.tta,
        "temperature": run.temperature,
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


BIOIMAGEIO_PACKAGES = ("bioimageio.spec",)
# What each model is, for the package's citation list (the method's paper).
MODEL_CITATIONS = {
    "fast_spec_cnn": {"text": "Savitha S. et al. (2024), Fast Spec CNN with multi-head attention and GAN augmentation",
                      "doi": "10.56294/sctconf2024804"},
    "resnet": {"text": "He K. et al. (2016), Deep Residual Learning for Image Recognition",
               "url": "https://arxiv.org/abs/1512.03385"},
    "se_resnet": {"text": "Hu J. et al. (2018), Squeeze-and-Excitation Networks",
                  "url": "https://arxiv.org/abs/1709.01507"},
    "convnext": {"text": "Liu Z. et al. (2022), A ConvNet for the 2020s",
                 "url": "https://arxiv.org/abs/2201.03545"},
    "plcnn": {"text": "PLCNN: parallel residual and plain convolutional branches (as rebuilt by protkit)",
              "url": "https://github.com/OWNER/protkit"},
    "cnn": {"text": "A traditional convolutional network (protkit's baseline)",
            "url": "https://github.com/OWNER/protkit"},
    "dcae_mlp": {"text": "Deep convolutional autoencoder features and an MLP for HEp-2 staining patterns",
                 "url": "https://github.com/OWNER/protkit"},
}


def _identifier(name):
    """A BioImage.io identifier from a class or channel name (letters, digits and underscores)."""
    import re

    text = re.sub(r"\W+", "_", str(name)).strip("_") or "unnamed"
    return text if text[0].isalpha() else f"c_{text}"


def _preprocessing(normalization, channels):
    """The run's normalization as BioImage.io preprocessing steps (applied to the raw, resized images)."""
    mode = normalization["mode"]
    steps = [{"id": "ensure_dtype", "kwargs": {"dtype": "float32"}}]
    if mode == "percentile":
        low, high = normalization["percentiles"]
        steps.append({"id": "scale_range", "kwargs": {"axes": ["y", "x"], "min_percentile": float(low),
                                                      "max_percentile": float(high)}})
    elif mode == "dataset":
        low = np.asarray(normalization["low"], np.float64).reshape(-1)
        high = np.asarray(normalization["high"], np.float64).reshape(-1)
        gain = 1 / np.maximum(high - low, 1e-6)
        steps.append({"id": "scale_linear", "kwargs": {"axis": "channel", "gain": gain.tolist(),
                                                       "offset": (-low * gain).tolist()}})
    else:
        steps.append({"id": "scale_linear", "kwargs": {"gain": 1 / float(normalization.get("scale") or 255.0),
                                                       "offset": 0.0}})
    if normalization.get("clip"):
        steps.append({"id": "clip", "kwargs": {"min": 0.0, "max": 1.0}})
    return steps


def export_bioimageio(run_dir, dataset, out_zip, overwrite=False, authors=("protkit user",), license="CC-BY-4.0",
                      data_citation=None):
    """Write a BioImage.io model package (``rdf.yaml``, ONNX weights, test tensors, cover) and validate it.

    The weights are the run's ONNX export (`export_onnx`, checked against Keras) and a zipped
    TensorFlow SavedModel (BioImage.io's ``tensorflow_saved_model_bundle``; the spec has no entry
    for Keras 3 ``.keras`` files); the test input
    is the first item of ``dataset`` resized to the run's size (raw intensities) and the test
    output the run's network on it after the run's normalization, which ``rdf.yaml`` states as
    BioImage.io preprocessing (percentile: ``scale_range`` over y and x; dataset: per-channel
    ``scale_linear`` with the fitted statistics; fixed: ``scale_linear``). The package is
    validated with ``bioimageio.spec`` (format and files) before it is kept.

    Args:
        run_dir: a training run folder.
        dataset: items of the run's kind, for the test tensors; None: the run's own training data
            (`run_dataset`).
        out_zip: the package file; refused if it exists unless ``overwrite``.
        authors: names for ``authors``.
        license: an SPDX license identifier for the package.
        data_citation: {"text": ..., "url" or "doi": ...} for the training data, else the run's data
            source is named in the documentation only.

    Returns:
        dict: ``path``, ``validation`` ("passed"), ``weights`` and the test tensors' shapes.

    Raises:
        MissingExtraError: without the export extras; ValueError: when validation fails;
        protkit.backend.BackendError: on a Keras backend other than TensorFlow.
    """
    import tempfile

    require_tensorflow("BioImage.io export (tf2onnx and a TensorFlow SavedModel)")
    check_export_packages()
    require("export", "BioImage.io export", BIOIMAGEIO_PACKAGES)
    import onnx

    from protkit.data import Normalizer
    from protkit.data.pipeline import resize
    from protkit.inference import load_run

    out_zip = check_output_file(out_zip, overwrite)
    run = load_run(run_dir)
    dataset = run_dataset(run) if dataset is None else dataset
    height, width = run.config["image_size"]
    channel_names = list(run.config["channel_names"])
    raw = resize(dataset.read(0).astype(np.float32), (height, width))[None].astype(np.float32)
    normalizer = Normalizer.from_config(run.config["normalization"])
    prepared = np.stack([normalizer(image) for image in raw]).astype(np.float32)
    with tempfile.TemporaryDirectory(prefix="protkit_bioimageio_") as folder:
        folder = pathlib.Path(folder)
        record = export_onnx(run_dir, folder / "model.onnx", images=prepared)
        tf_version = _saved_model_bundle(run.model, folder / "tf_saved_model.zip", prepared)
        output = run.model.predict(prepared, verbose=0).astype(np.float32)
        np.save(folder / "test_input.npy", raw)
        np.save(folder / "test_output.npy", output)
        _cover(folder / "cover.png", raw[0], output[0], run, channel_names)
        (folder / "README.md").write_text(_documentation(run, record, dataset), encoding="utf-8")
        rdf = _rdf(run, record, channel_names, height, width, onnx.load(folder / "model.onnx").opset_import[0].version,
                   list(authors), license, data_citation)
        rdf["weights"]["tensorflow_saved_model_bundle"] = {"source": "tf_saved_model.zip",
                                                           "tensorflow_version": tf_version}
        _validate_and_pack(rdf, folder, out_zip)
    return {"path": str(out_zip), "validation": "passed", "weights": ["onnx", "tensorflow_saved_model_bundle"],
            "test_input_shape": list(raw.shape),
            "test_output_shape": list(output.shape), "max_abs_difference": record["max_abs_difference"]}


def _saved_model_bundle(model, out_zip, images):
    """The model as a zipped TensorFlow SavedModel (Keras's ``export(format="tf_saved_model")``); its version."""
    import shutil
    import tempfile

    import tensorflow as tf

    with tempfile.TemporaryDirectory(prefix="protkit_saved_model_") as folder:
        model.predict(images[:1], verbose=0)  # Keras exports only a model that has been called
        model.export(str(pathlib.Path(folder) / "saved_model"), format="tf_saved_model", verbose=False)
        shutil.make_archive(str(out_zip.with_suffix("")), "zip", pathlib.Path(folder) / "saved_model")
    return tf.__version__


def run_dataset(run):
    """The data a run was trained on, opened again from its ``config.json`` (folder or CSV sources)."""
    from protkit.data import Dataset

    source = run.config.get("data", {})
    channels = source.get("channels")
    if source.get("kind") == "folder":
        return Dataset.from_folder(source["root"], channels=channels, class_names=run.class_names)
    if source.get("kind") == "csv":
        return Dataset.from_csv(source["csv"], image_dir=source["image_dir"], id_column=source["id_column"],
                                label_column=source["label_column"], pattern=source["pattern"], channels=channels,
                                class_names=run.class_names)
    raise ValueError(f"the run's data ({source.get('kind', 'unknown')}) cannot be opened again from its config; "
                     f"pass the items to use for the test tensors")


def _rdf(run, record, channel_names, height, width, opset, authors, license, data_citation):
    classes = [_identifier(name) for name in run.class_names]
    cite = [MODEL_CITATIONS.get(run.config["model"], MODEL_CITATIONS["cnn"])]
    if data_citation:
        cite.append(dict(data_citation))
    softmax = run.task != "multi_label"
    return {
        "type": "model", "format_version": "0.5.4",
        "name": f"protkit {run.config['model']} {run.task.replace('_', '-')}",
        "description": (f"{'Single' if softmax else 'Multi'}-label classifier of fluorescence-microscopy cells into "
                        f"{len(classes)} classes, trained with protkit"),
        "authors": [{"name": name} for name in authors], "cite": cite, "license": license,
        "documentation": "README.md", "covers": ["cover.png"], "tags": ["classification", "fluorescence", "protkit"],
        "inputs": [{
            "id": "images", "description": "raw intensities of one cell, resized to the run's size",
            "axes": [{"type": "batch"}, {"type": "space", "id": "y", "size": int(height)},
                     {"type": "space", "id": "x", "size": int(width)},
                     {"type": "channel", "channel_names": [_identifier(name) for name in channel_names]}],
            "test_tensor": {"source": "test_input.npy"}, "data": {"type": "float32"},
            "preprocessing": _preprocessing(run.config["normalization"], len(channel_names))}],
        "outputs": [{
            "id": "probabilities", "description": "softmax over the classes" if softmax else "one sigmoid per label",
            "axes": [{"type": "batch"}, {"type": "channel", "channel_names": classes}],
            "test_tensor": {"source": "test_output.npy"}, "data": {"type": "float32"}}],
        "weights": {"onnx": {"source": "model.onnx", "opset_version": int(opset)}},
        "config": {"protkit": {"thresholds": run.config.get("thresholds"),
                               "label_count_bounds": run.config.get("label_count_bounds"),
                               "test_time_augmentation": run.tta,
                               "temperature": run.temperature, "class_names": run.class_names,
                               "onnx_vs_keras_max_abs_difference": record["max_abs_difference"]}},
    }


def _validate_and_pack(rdf, folder, out_zip):
    from bioimageio.spec import ValidationContext, build_description, save_bioimageio_package

    (folder / "rdf.yaml").write_text(json.dumps(rdf, indent=2), encoding="utf-8")  # JSON is YAML
    with ValidationContext(root=folder, perform_io_checks=True):
        description = build_description(rdf)
    summary = description.validation_summary
    if summary.status not in ("passed", "valid-format"):
        errors = "; ".join(f"{'.'.join(map(str, error.loc))}: {error.msg}" for error in summary.errors[:5])
        raise ValueError(f"the BioImage.io description does not validate ({summary.status}): {errors}")
    with atomic_path(out_zip) as temporary:
        save_bioimageio_package(description, output_path=temporary)


def _cover(path, image, probabilities, run, channel_names):
    import matplotlib

    matplotlib.use("Agg", force=False)
    import matplotlib.pyplot as plt

    fig, (left, right) = plt.subplots(1, 2, figsize=(8, 4), layout="constrained")
    first = image[..., 0]
    left.imshow(first, cmap="gray")
    left.set(title=f"test input: {channel_names[0]}", xticks=[], yticks=[])
    right.barh(run.class_names, probabilities, color="#1f77b4")
    right.set(xlim=(0, 1), xlabel="probability", title="test output")
    fig.suptitle(f"protkit {run.config['model']}")
    fig.savefig(path, dpi=80)
    plt.close(fig)


def _documentation(run, record, dataset):
    source = run.config.get("data", {})
    where = source.get("root") or source.get("image_dir") or source.get("kind", "unknown")
    return (f"# protkit {run.config['model']}\n\nA {run.task.replace('_', '-')} classifier of fluorescence-microscopy "
            f"cells trained with protkit (recipe in `config.protkit` of rdf.yaml and in the run's config.json).\n\n"
            f"- classes: {', '.join(run.class_names)}\n- channels: {', '.join(run.config['channel_names'])}\n"
            f"- input: {record['input_shape'][1]}x{record['input_shape'][2]} pixels, raw intensities; the "
            f"preprocessing in rdf.yaml is the run's normalization ({run.config['normalization']['mode']})\n"
            f"- training data: {where} ({source.get('rows', '?')} items)\n"
            f"- protkit's own predictions also average {run.tta} test-time views and apply a temperature "
            f"({run.temperature}); the exported network is the bare one.\n"
            f"\n# Validation\n\nThe ONNX weights reproduce the Keras model to {record['max_abs_difference']:.1e} "
            f"(largest absolute difference on the check images, onnxruntime); the package passed `bioimageio.spec` "
            f"validation when it was written. Accuracy: see the run's metrics.json and its protocol.\n")
