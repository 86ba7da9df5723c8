"""Use a finished run: load it, evaluate it on labelled data, predict on new images.

The run's ``config.json`` carries the channels, image size, normalization statistics, class
names and (multi-label) thresholds, so new data is prepared exactly as the training data was.
"""

from __future__ import annotations

import csv
import json
import os
import pathlib
from dataclasses import dataclass

import numpy as np


@dataclass
class Run:
    """A loaded run: its folder, Keras model, config and normalizer."""

    run_dir: pathlib.Path
    model: object
    config: dict
    normalizer: object

    @property
    def task(self):
        return self.config["task"]

    @property
    def class_names(self):
        return list(self.config["class_names"])

    @property
    def thresholds(self):
        values = self.config.get("thresholds")
        return np.asarray(values, dtype=np.float32) if values is not None else 0.5


def load_run(run_dir):
    """Load ``RUN_DIR/model.keras`` (safe mode: no code is deserialized) and its config."""
    import keras

    import protkit.layers  # noqa: F401  (registers protkit's layers for deserialization)
    from protkit.data import Normalizer

    run_dir = pathlib.Path(run_dir)
    config_path, model_path = run_dir / "config.json", run_dir / "model.keras"
    if not config_path.exists():
        raise FileNotFoundError(f"{run_dir}: not a protkit run folder (no config.json)")
    config = json.loads(config_path.read_text())
    if config.get("status") != "complete" or not model_path.exists():
        raise FileNotFoundError(f"{run_dir}: the run did not finish (no model.keras); rerun `protkit train` "
                                f"with the same arguments to resume it")
    model = keras.saving.load_model(model_path, safe_mode=True)
    return Run(run_dir, model, config, Normalizer.from_config(config["normalization"]))


def align_labels(dataset, class_names):
    """The dataset's labels re-indexed to the run's class order (classes matched by name).

    Raises:
        ValueError: if the dataset holds a class the run does not know.
    """
    if dataset.labels is None:
        raise ValueError("evaluation needs labels: this dataset is unlabelled")
    index = {name: i for i, name in enumerate(class_names)}
    unknown = [name for name in dataset.class_names if name not in index]
    if unknown:
        raise ValueError(f"the data has classes the run was not trained on: {unknown}; "
                         f"the run knows {list(class_names)}")
    mapping = np.asarray([index[name] for name in dataset.class_names], dtype=np.int64)
    if dataset.task == "multi_label":
        aligned = np.zeros((len(dataset), len(class_names)), dtype=np.int8)
        aligned[:, mapping] = dataset.labels
        return aligned
    return mapping[dataset.labels]


def _check_task(run, dataset):
    if dataset.task is not None and dataset.task != run.task:
        raise ValueError(f"the run is {run.task}, the data is {dataset.task}")


def _loader(run, dataset):
    from protkit.data.pipeline import ItemLoader

    return ItemLoader(dataset, image_size=tuple(run.config["image_size"]), normalizer=run.normalizer,
                      num_channels=len(run.config["channel_names"]))


def evaluate_run(run, dataset, batch_size=64, verbose=0):
    """Metrics of ``run`` on a labelled ``dataset`` (thresholds from the run), with the protocol."""
    from protkit import metrics
    from protkit.data import make_pipeline, readable_errors

    _check_task(run, dataset)
    y_true = align_labels(dataset, run.class_names)
    pipeline = make_pipeline(dataset, batch_size=batch_size, labels=False, image_size=tuple(run.config["image_size"]),
                             normalizer=run.normalizer)
    _loader(run, dataset)  # checks the channel count against the run before any work
    with readable_errors():
        probabilities = run.model.predict(pipeline, verbose=verbose)
    result = metrics.evaluate_predictions(y_true, probabilities, run.task, class_names=run.class_names,
                                          thresholds=run.thresholds)
    result["protocol"] = {
        "data": dataset.source,
        "items": len(dataset),
        "run": str(run.run_dir),
        "thresholds": "tuned on the run's validation split" if run.config.get("thresholds") else "0.5",
        "note": "every item of DATA is scored; make sure it holds none of the run's training items",
    }
    return metrics.to_jsonable(result)


def predict_run(run, dataset, out_csv, overwrite=False, skip_bad=False, batch_size=64, progress=True):
    """Write ``predictions.csv``: one row per item, streamed batch by batch, resumable.

    Rows go to ``<out_csv>.partial`` as batches finish (memory stays bounded whatever the number
    of images); the file takes its final name when every item is done. An interrupted call
    (Ctrl-C, a killed process, an unreadable file) leaves the partial file; the same call again
    continues after the last complete row, so no item is predicted or written twice.

    Columns: ``id``, ``path``, ``predicted`` (class name; multi-label: the names above their
    thresholds, separated by ";"), then one probability column per class (``prob_<class>``).

    Args:
        run: a `Run`.
        dataset: the images (labels, if any, are ignored).
        out_csv: output path; refused if it exists unless ``overwrite``. With ``overwrite`` an
            interrupted partial file is discarded too (start again).
        skip_bad: leave out unreadable items or items with the wrong channel count (counted and
            listed in the returned dict) instead of stopping with an error naming the file.
        batch_size: images per batch.
        progress: show a progress bar.

    Returns:
        dict with ``written`` (rows written by this call), ``resumed`` (rows kept from an
        interrupted call), ``skipped`` (list of "file: reason", this call) and ``path``.
    """
    import keras
    import tensorflow as tf

    from protkit._io import write_json
    from protkit.data import readable_errors
    from protkit.data.readers import ImageReadError

    out_csv = pathlib.Path(out_csv)
    if out_csv.exists() and not overwrite:
        raise FileExistsError(f"{out_csv}: exists; pass --overwrite to replace it")
    if len(dataset) == 0:
        raise ValueError("no images to predict")
    _check_task(run, dataset)
    header = ["id", "path", "predicted"] + [f"prob_{name}" for name in run.class_names]
    partial = out_csv.with_name(out_csv.name + ".partial")
    stamp = out_csv.with_name(out_csv.name + ".partial.json")
    identity = {"run": str(pathlib.Path(run.run_dir).resolve()), "data": str(dataset.source), "items": len(dataset),
                "header": header}
    done = set()
    if overwrite:
        partial.unlink(missing_ok=True)
        stamp.unlink(missing_ok=True)
    elif partial.exists():
        previous = json.loads(stamp.read_text()) if stamp.exists() else None
        if previous != identity:
            raise FileExistsError(f"{partial}: an interrupted prediction of another run or other data; pass "
                                  f"--overwrite to start again")
        done = _complete_rows(partial, header)
    todo = np.asarray([i for i in range(len(dataset)) if str(dataset.ids[i]) not in done] if done
                      else np.arange(len(dataset)), dtype=np.int64)
    loader = _loader(run, dataset)
    height, width = run.config["image_size"]
    channels = len(run.config["channel_names"])
    problems = {}

    def fail(index, error):
        reason = str(getattr(error, "reason", error))
        if "channel(s)" in reason:
            reason += f" (the run was trained on {', '.join(run.config['channel_names'])})"
        return ImageReadError(getattr(error, "path", None) or loader.where(int(index)), reason)

    def load_batch(indices):
        """One batch of images and a mask of readable items; bad items fail or are skipped."""
        try:
            return loader.load_batch(indices), np.ones(len(indices), bool)
        except (ImageReadError, FileNotFoundError):
            pass  # find the bad item(s) one by one
        images, ok = np.zeros((len(indices), height, width, channels), np.float32), np.ones(len(indices), bool)
        for position, index in enumerate(indices):
            try:
                images[position] = loader(index)
            except (ImageReadError, FileNotFoundError) as error:
                if not skip_bad:
                    raise fail(index, error) from None
                problems[int(index)] = str(error)
                ok[position] = False
        return images, ok

    def batches():
        """(indices, images, ok) per batch, decoded ahead on a reader thread, in order.

        Decoders release the GIL, so reading runs beside the model; no tf.data graph is needed.
        """
        from collections import deque
        from concurrent.futures import ThreadPoolExecutor

        starts = iter(range(0, len(todo), batch_size))
        with ThreadPoolExecutor(max_workers=_DECODE_THREADS) as pool:
            pending = deque()
            while True:
                while len(pending) < _DECODE_AHEAD:
                    start = next(starts, None)
                    if start is None:
                        break
                    indices = todo[start:start + batch_size]
                    pending.append((indices, pool.submit(load_batch, indices)))
                if not pending:
                    return
                indices, future = pending.popleft()
                yield (indices, *future.result())

    class_names = run.class_names
    thresholds = run.thresholds
    out_csv.parent.mkdir(parents=True, exist_ok=True)
    bar = keras.utils.Progbar(len(dataset), unit_name="image") if progress else None
    if bar is not None and done:
        bar.update(len(dataset) - len(todo))
    # A compiled forward pass: calling it per batch costs far less Python than predict_on_batch.
    forward = tf.function(lambda x: run.model(x, training=False),
                          input_signature=[tf.TensorSpec((None, height, width, channels), tf.float32)])
    written = 0
    if not done:
        write_json(stamp, identity)
    try:
        with readable_errors(), open(partial, "a" if done else "w", newline="") as stream:
            writer = csv.writer(stream)
            if not done:
                writer.writerow(header)
            for indices, images, ok in batches():
                probabilities = forward(images).numpy()
                for index, row, good in zip(indices, probabilities, ok):
                    if good:
                        writer.writerow(_prediction_row(dataset, index, row, class_names, thresholds, run.task))
                        written += 1
                stream.flush()  # a killed process keeps every finished batch
                if bar is not None:
                    bar.add(len(indices))
    except BaseException as error:
        if written + len(done) == 0:
            partial.unlink(missing_ok=True)
            stamp.unlink(missing_ok=True)
        else:
            error.add_note(f"{written + len(done)} prediction(s) are kept in {partial}; the same command again "
                           f"continues from there (--overwrite starts again)")
        raise
    os.replace(partial, out_csv)
    stamp.unlink(missing_ok=True)
    return {"written": written, "resumed": len(done), "skipped": [problems[i] for i in sorted(problems)],
            "path": str(out_csv)}


def _complete_rows(partial, header):
    """Ids of the complete rows of an interrupted ``partial`` CSV; a cut-off last line is removed."""
    with open(partial, "rb+") as stream:
        data = stream.read()
        end = data.rfind(b"\n") + 1
        if end < len(data):
            stream.truncate(end)
    lines = data[:end].decode("utf-8").splitlines()
    if not lines or next(csv.reader(lines[:1])) != header:
        raise FileExistsError(f"{partial}: does not start with the expected header; pass --overwrite to start again")
    return {row[0] for row in csv.reader(lines[1:]) if row}


_DECODE_THREADS = 1  # a thread reading images while the model runs (decoding is the lighter part)
_DECODE_AHEAD = 2  # batches decoded ahead of the model


def _prediction_row(dataset, index, probabilities, class_names, thresholds, task):
    if task == "multi_label":
        limits = np.broadcast_to(thresholds, probabilities.shape)
        predicted = ";".join(name for name, p, t in zip(class_names, probabilities, limits) if p > t)
    else:
        predicted = class_names[int(np.argmax(probabilities))]
    path = os.pathsep.join(dataset.items[index]) if dataset.items else ""
    return [dataset.ids[index], path, predicted] + [f"{p:.6f}" for p in probabilities]
