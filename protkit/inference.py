"""Use a finished run: load it, evaluate it on labelled data, predict on new images.

The run's ``config.json`` carries the channels, image size, normalization statistics, class
names and (multi-label) thresholds, so new data is prepared exactly as the training data was.
"""

from __future__ import annotations

import csv
import json
import os
import pathlib
from collections import deque
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import keras
import numpy as np

import protkit.layers  # noqa: F401  (registers protkit's layers for deserialization)
from protkit import backend, metrics
from protkit.calibration import apply_temperature, calibration_report
from protkit.data import Normalizer, make_pipeline, readable_errors
from protkit.data.pipeline import ItemLoader
from protkit.data.readers import ImageReadError
from protkit.results import PredictionResult
from protkit.runs import PartialOutput, atomic_path, check_output_file, write_json
from protkit.views import check_views, view_averaged, view_count
from protkit.vocabulary import MULTI_LABEL


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

    @property
    def label_count(self):
        """Multi-label: the (fewest, most) labels per item the run enforces after its thresholds, or None."""
        bounds = self.config.get("label_count_bounds")
        return None if bounds is None else tuple(int(value) for value in bounds)

    @property
    def tta(self):
        """The run's test-time augmentation: a view set of `protkit.views` ("none" for older runs)."""
        return self.config.get("tta", "none")

    @property
    def temperature(self):
        """The run's temperature (`protkit.calibration`, fitted on its validation part) or None (none)."""
        return self.config.get("temperature")


class Ensemble:
    """Several trained models of one task as one: their probabilities averaged.

    Called like a Keras model (``ensemble(images, training=False)``) and with ``predict``; the
    members see the same prepared images. Each member's probabilities are first averaged over
    ``views`` (test-time augmentation, `protkit.views`) and scaled by its own temperature
    (``temperatures``, one per member, None for none; ``task`` says how), exactly as that
    member's own run would predict; then the members are averaged.
    """

    def __init__(self, members, temperatures=None, task=None, views="none"):
        self.members = list(members)
        self.temperatures = list(temperatures) if temperatures is not None else [None] * len(self.members)
        self.task = task
        self.views = check_views(views)

    def with_views(self, views):
        """The same ensemble averaging over ``views``."""
        return Ensemble(self.members, self.temperatures, self.task, views)

    def __call__(self, images, training=False):
        outputs = []
        for member, temperature in zip(self.members, self.temperatures):
            averaged = view_averaged(lambda x, net=member: net(x, training=training), self.views)
            outputs.append(scaled_by_temperature(averaged(images), temperature, self.task))
        return keras.ops.mean(keras.ops.stack(outputs, axis=0), axis=0)

    def predict(self, data, verbose=0, **kwargs):
        return np.mean([apply_temperature(model_probabilities(member, data, self.views, verbose=verbose), temperature,
                                          self.task)
                        for member, temperature in zip(self.members, self.temperatures)], axis=0)


def scaled_by_temperature(probabilities, temperature, task):
    """`protkit.calibration.apply_temperature` on a tensor (any Keras backend); None or 1: unchanged."""
    if temperature is None or float(temperature) == 1.0:
        return probabilities
    p = keras.ops.clip(probabilities, 1e-7, 1 - 1e-7)
    if task == MULTI_LABEL:
        return keras.ops.sigmoid((keras.ops.log(p) - keras.ops.log1p(-p)) / float(temperature))
    return keras.ops.softmax(keras.ops.log(p) / float(temperature), axis=-1)


def load_run(run_dir):
    """Load ``RUN_DIR/model.keras`` (safe mode: no code is deserialized) and its config.

    A cross-validation folder (`protkit.evaluation.cross_validate`'s ``out``) loads as the
    ensemble of its folds' models (`load_ensemble`).
    """
    run_dir = pathlib.Path(run_dir)
    if not (run_dir / "config.json").exists() and (run_dir / "settings.json").exists():
        folds = sorted((path for path in run_dir.glob("fold_*") if path.is_dir()), key=lambda p: int(p.name[5:]))
        if not folds:
            raise FileNotFoundError(f"{run_dir}: a cross-validation folder without finished folds")
        return load_ensemble(folds, run_dir)
    config_path, model_path = run_dir / "config.json", run_dir / "model.keras"
    if not config_path.exists():
        raise FileNotFoundError(f"{run_dir}: not a protkit run folder (no config.json)")
    config = json.loads(config_path.read_text())
    if config.get("status") != "complete" or not model_path.exists():
        raise FileNotFoundError(f"{run_dir}: the run did not finish (no model.keras); rerun `protkit train` "
                                f"with the same arguments to resume it")
    model = keras.saving.load_model(model_path, safe_mode=True)
    return Run(run_dir, model, config, Normalizer.from_config(config["normalization"]))


_SHARED_KEYS = ("task", "class_names", "channel_names", "image_size", "normalization")


def load_ensemble(run_dirs, where=None):
    """Load several runs as one `Run` whose model averages theirs (`Ensemble`).

    The runs must share task, classes, channels, image size and normalization (a "dataset"
    normalization fitted per fold differs from fold to fold, so such folds cannot share one
    input). Multi-label thresholds are the mean of the members' thresholds; test-time
    augmentation is the first run's.

    Args:
        run_dirs: the run folders (e.g. the ``fold_*`` folders of a cross-validation).
        where: the folder reported as the ensemble's ``run_dir`` (default the first run's parent).
    """
    runs = [load_run(path) for path in run_dirs]
    first = runs[0]
    for run in runs[1:]:
        differ = [key for key in _SHARED_KEYS if run.config.get(key) != first.config.get(key)]
        if differ:
            raise ValueError(f"{run.run_dir} and {first.run_dir} differ in {', '.join(differ)}: they cannot form "
                             f"one ensemble" + (" (normalization 'dataset' is fitted per fold: train with "
                                                "'percentile' or 'fixed' to ensemble folds)"
                                                if "normalization" in differ else ""))
    # each member's temperature is applied inside the ensemble, to its own output
    config = dict(first.config, ensemble=[str(run.run_dir) for run in runs], temperature=None)
    if first.config.get("thresholds") is not None:
        config["thresholds"] = np.mean([run.config["thresholds"] for run in runs], axis=0).tolist()
    bounds = [run.label_count for run in runs if run.label_count is not None]
    config["label_count_bounds"] = ([min(low for low, _ in bounds), max(high for _, high in bounds)]
                                    if bounds else None)
    folder = pathlib.Path(where) if where is not None else pathlib.Path(first.run_dir).parent
    members = Ensemble([run.model for run in runs], [run.temperature for run in runs], first.task)
    return Run(folder, members, config, first.normalizer)


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
    if dataset.task == MULTI_LABEL:
        aligned = np.zeros((len(dataset), len(class_names)), dtype=np.int8)
        aligned[:, mapping] = dataset.labels
        return aligned
    return mapping[dataset.labels]


def check_task_matches(run, dataset):
    """Raise ValueError if labelled ``dataset`` is of another task than ``run``."""
    if dataset.task is not None and dataset.task != run.task:
        raise ValueError(f"the run is {run.task}, the data is {dataset.task}")


def metadata_differences(run, dataset, tolerance=0.01):
    """What differs between the run's recorded channel names and pixel sizes and ``dataset``'s: a list of sentences.

    Pixel sizes (micrometres, from microscope files' metadata) count as different beyond a relative
    ``tolerance``; a side that has none is not compared.
    """
    from protkit.data.bioformats import pixel_size

    notes = []
    trained = list(run.config.get("channel_names") or [])
    if dataset.channel_names and trained and list(dataset.channel_names) != trained:
        notes.append(f"channels: the run was trained on {trained}, the data names {list(dataset.channel_names)}")
    before, now = run.config.get("pixel_size_um"), pixel_size(dataset)
    if before and now:
        for axis in ("y", "x", "z"):
            a, b = before.get(axis), now.get(axis)
            if a and b and abs(a - b) > tolerance * max(abs(a), abs(b)):
                notes.append(f"pixel size along {axis}: {a:g} um in the run's data, {b:g} um here (the model sees "
                             f"cells {a / b:.2f} times their trained size; resample or retrain)")
    return notes


def item_loader(run, dataset):
    """An `ItemLoader` that prepares ``dataset``'s items as ``run``'s training data was prepared
    (size, normalization, channel count checked against the run)."""

    return ItemLoader(dataset, image_size=tuple(run.config["image_size"]), normalizer=run.normalizer,
                      num_channels=len(run.config["channel_names"]))


def evaluate_run(run, dataset, batch_size=64, verbose=0, tta=None):
    """Metrics of ``run`` on a labelled ``dataset`` (thresholds from the run), with the protocol.

    ``tta``: a view set of `protkit.views` to average over (default the run's own, `Run.tta`).
    """
    check_task_matches(run, dataset)
    tta = check_views(run.tta if tta is None else tta)
    y_true = align_labels(dataset, run.class_names)
    pipeline = make_pipeline(dataset, batch_size=batch_size, labels=False, image_size=tuple(run.config["image_size"]),
                             normalizer=run.normalizer)
    item_loader(run, dataset)  # checks the channel count against the run before any work
    with readable_errors():
        raw = model_probabilities(run.model, pipeline, tta, verbose=verbose)
    probabilities = apply_temperature(raw, run.temperature, run.task)
    result = metrics.evaluate_predictions(y_true, probabilities, run.task, class_names=run.class_names,
                                          thresholds=run.thresholds, label_count=run.label_count)
    if not isinstance(run.model, Ensemble):  # an ensemble scales its members inside: no single "before"
        result["calibration"] = calibration_report(raw, y_true, run.task, run.temperature or 1.0)
    result["protocol"] = {
        "data": dataset.source,
        "items": len(dataset),
        "run": str(run.run_dir),
        "thresholds": "tuned on the run's validation split" if run.config.get("thresholds") else "0.5",
        **({"label_count": f"{run.label_count[0]} to {run.label_count[1]} labels per item (the run's training "
                           f"range), after the thresholds"} if run.label_count else {}),
        "test_time_augmentation": _tta_words(tta),
        "calibration": (f"temperature {run.temperature:.3f}, fitted on the run's validation part"
                        if run.temperature else "none"),
        "note": "every item of DATA is scored; make sure it holds none of the run's training items",
    }
    return metrics.to_jsonable(result)


def model_probabilities(model, data, tta="none", verbose=0):
    """Probabilities of ``model`` on a batched image pipeline (or array), averaged over the views
    of ``tta`` (`protkit.views`); with "none" this is ``model.predict``."""
    if isinstance(model, Ensemble):  # each member averages its own views, then its temperature
        return model.with_views(tta).predict(data, verbose=verbose)
    if check_views(tta) == "none":
        return model.predict(data, verbose=verbose)
    forward = backend.compiled(view_averaged(lambda x: model(x, training=False), tta))
    if isinstance(data, np.ndarray):
        return np.concatenate([forward(data[start:start + 64]) for start in range(0, len(data), 64)], axis=0)
    return np.concatenate([forward(batch) for batch in data.as_numpy_iterator()], axis=0)


def _tta_words(tta):
    if tta == "none":
        return "none (each image as it is)"
    return f"probabilities averaged over {view_count(tta)} views ({tta}: rotations by 90 degrees and mirror images)" \
        if tta == "dihedral" else f"probabilities averaged over {view_count(tta)} mirror images"


def shard_indices(count, shard=None):
    """The item indices of ``shard`` = (i, n), the i-th of n contiguous, near-equal parts, i counted
    from 1 (as ``--shard 1/3`` ... ``3/3``); all items for None."""
    if shard is None:
        return np.arange(count, dtype=np.int64)
    index, parts = shard
    if not (isinstance(index, int) and isinstance(parts, int) and 1 <= index <= parts):
        raise ValueError(f"shard must be (i, n) with 1 <= i <= n. Received: shard={shard!r}")
    return np.array_split(np.arange(count, dtype=np.int64), parts)[index - 1]


def predict_run(run, dataset, out_csv, overwrite=False, skip_bad=False, batch_size=64, progress=True, tta=None,
                shard=None):
    """Write ``predictions.csv``: one row per item, streamed batch by batch, resumable.

    Rows go to ``<out_csv>.partial`` as batches finish (memory stays bounded whatever the number
    of images); the file takes its final name when every item is done. An interrupted call
    (Ctrl-C, a killed process, an unreadable file) leaves the partial file; the same call again
    continues after the last complete row, so no item is predicted or written twice
    (`protkit.runs.PartialOutput`).

    Columns: ``id``, ``path``, ``predicted`` (class name; multi-label: the names above their
    thresholds, within the run's label-count bounds, separated by ";"), then one probability
    column per class (``prob_<class>``).

    Args:
        run: a `Run`.
        dataset: the images (labels, if any, are ignored).
        out_csv: output path; refused if it exists unless ``overwrite``. With ``overwrite`` an
            interrupted partial file is discarded too (start again).
        skip_bad: leave out unreadable items or items with the wrong channel count (counted and
            listed in the result) instead of stopping with an error naming the file.
        batch_size: images per batch.
        progress: show a progress bar.
        tta: a view set of `protkit.views` to average over (default the run's own, `Run.tta`).
        shard: (i, n): predict only the i-th of n contiguous parts of the items (i from 1; a
            scheduler's array job runs one part each), and record the part in
            ``<out_csv>.shard.json`` so `merge_predictions` can join the parts in order.

    Returns:
        `protkit.results.PredictionResult`: ``written`` (rows written by this call), ``resumed``
        (rows kept from an interrupted call), ``skipped`` ("file: reason", this call), ``path``.
    """
    tta = check_views(run.tta if tta is None else tta)
    header = ["id", "path", "predicted"] + [f"prob_{name}" for name in run.class_names]
    identity = {"run": str(pathlib.Path(run.run_dir).resolve()), "data": str(dataset.source), "items": len(dataset),
                "header": header, "tta": tta, "shard": None if shard is None else list(shard)}
    if len(dataset) == 0:
        raise ValueError("no images to predict")
    check_task_matches(run, dataset)
    share = shard_indices(len(dataset), shard)
    output = PartialOutput(out_csv, identity, header, overwrite=overwrite)
    done = output.done
    todo = np.asarray([i for i in share if str(dataset.ids[i]) not in done], dtype=np.int64) if done else share
    reader = BatchReader(run, dataset, skip_bad=skip_bad)
    bar = keras.utils.Progbar(len(share), unit_name="image") if progress else None
    if bar is not None and done:
        bar.update(len(share) - len(todo))
    forward = compiled_forward(run, tta)
    written = 0
    try:
        with readable_errors(), output.open() as stream:
            writer = csv.writer(stream)
            for indices, images, ok in reader.batches(todo, batch_size):
                probabilities = forward(images)
                decided = (metrics.decide_labels(probabilities, run.thresholds, run.label_count)
                           if run.task == MULTI_LABEL else [None] * len(indices))  # one call per batch
                for index, row, good, chosen in zip(indices, probabilities, ok, decided):
                    if good:
                        writer.writerow(prediction_row(dataset, index, row, run.class_names, run.thresholds,
                                                       run.task, run.label_count, chosen=chosen))
                        written += 1
                stream.flush()  # a killed process keeps every finished batch
                if bar is not None:
                    bar.add(len(indices))
    except BaseException as error:
        if written + len(done) == 0:
            output.discard()
        else:
            error.add_note(f"{written + len(done)} prediction(s) are kept in {output.partial}; the same command again "
                           f"continues from there (overwrite=True starts again)")
        raise
    output.finish()
    if shard is not None:
        write_json(output.path.with_name(output.path.name + ".shard.json"),
                   dict(identity, first=int(share[0]) if len(share) else 0, count=len(share)))
    return PredictionResult(written, len(done), [reader.problems[i] for i in sorted(reader.problems)], str(output.path))


def merge_predictions(parts, out_csv, overwrite=False):
    """Join the CSVs of a sharded prediction (``predict_run(..., shard=(i, n))``) into one, in item order.

    Every part must have its ``.shard.json`` record: the same run, data, header and n, and
    together the parts 1..n, each once. The merged file is written atomically.

    Returns:
        the number of rows written.
    """
    out_csv = check_output_file(out_csv, overwrite)
    records = []
    for part in map(pathlib.Path, parts):
        stamp = part.with_name(part.name + ".shard.json")
        if not part.is_file() or not stamp.is_file():
            raise FileNotFoundError(f"{part}: not a finished shard of a prediction (expected {part} and {stamp})")
        records.append((json.loads(stamp.read_text()), part))
    first = records[0][0]
    for record, part in records:
        differ = [key for key in ("run", "data", "items", "header", "tta") if record.get(key) != first.get(key)]
        if differ or record["shard"][1] != first["shard"][1]:
            raise ValueError(f"{part}: a shard of another prediction (differs in {', '.join(differ) or 'n'})")
    parts_of = first["shard"][1]
    found = sorted(record["shard"][0] for record, _ in records)
    if found != list(range(1, parts_of + 1)):
        raise ValueError(f"the shards found are {found}; all of 1..{parts_of}, each once, are needed")
    rows = 0
    with atomic_path(out_csv) as temporary, open(temporary, "w", newline="") as merged:
        writer = csv.writer(merged)
        writer.writerow(first["header"])
        for record, part in sorted(records, key=lambda pair: pair[0]["shard"][0]):
            with open(part, newline="") as stream:
                reader = csv.reader(stream)
                if next(reader) != first["header"]:
                    raise ValueError(f"{part}: its header is not the shard record's")
                for row in reader:
                    writer.writerow(row)
                    rows += 1
    return rows


def compiled_forward(run, tta=None):
    """``run``'s model as a compiled forward pass over float32 batches, NumPy in and out (far less
    Python per batch than ``predict_on_batch``; `protkit.backend.compiled`), averaged over the
    views of ``tta`` (default the run's own), then scaled by the run's temperature."""
    height, width = run.config["image_size"]
    channels = len(run.config["channel_names"])

    views = check_views(run.tta if tta is None else tta)
    if isinstance(run.model, Ensemble):  # each member averages its own views, then its temperature
        averaged = run.model.with_views(views)
    else:
        def averaged_views(images):
            return run.model(images, training=False)

        averaged = view_averaged(averaged_views, views)

    def forward(images):  # the temperature was fitted on view-averaged probabilities, so it comes after
        return scaled_by_temperature(averaged(images), run.temperature, run.task)

    return backend.compiled(forward, (height, width, channels))


class BatchReader:
    """Batches of ``dataset``'s items prepared for ``run``, decoded ahead on a reader thread, in order.

    Decoders release the GIL, so reading runs beside the model; no tf.data graph is needed. A bad
    item (unreadable, wrong channel count) stops with an error naming its file, or with
    ``skip_bad`` is left out and recorded in ``problems`` ({index: "file: reason"}).
    """
    threads = 1  # a thread reading images while the model runs (decoding is the lighter part)
    ahead = 2  # batches decoded ahead of the model

    def __init__(self, run, dataset, skip_bad=False):
        self.run, self.skip_bad, self.problems = run, skip_bad, {}
        self.loader = item_loader(run, dataset)
        height, width = run.config["image_size"]
        self.shape = (height, width, len(run.config["channel_names"]))

    def _error(self, index, error):
        reason = str(getattr(error, "reason", error))
        if "channel(s)" in reason:
            reason += f" (the run was trained on {', '.join(self.run.config['channel_names'])})"
        return ImageReadError(getattr(error, "path", None) or self.loader.where(int(index)), reason)

    def load(self, indices):
        """(images, mask of readable items) of one batch; bad items fail or are skipped one by one."""
        try:
            return self.loader.load_batch(indices), np.ones(len(indices), bool)
        except (ImageReadError, FileNotFoundError):
            pass  # find the bad item(s) one by one
        images, ok = np.zeros((len(indices), *self.shape), np.float32), np.ones(len(indices), bool)
        for position, index in enumerate(indices):
            try:
                images[position] = self.loader(index)
            except (ImageReadError, FileNotFoundError) as error:
                if not self.skip_bad:
                    raise self._error(index, error) from None
                self.problems[int(index)] = str(error)
                ok[position] = False
        return images, ok

    def batches(self, indices, batch_size):
        """(indices, images, ok) per batch of ``indices``."""
        starts = iter(range(0, len(indices), batch_size))
        with ThreadPoolExecutor(max_workers=self.threads) as pool:
            pending = deque()
            while True:
                while len(pending) < self.ahead:
                    start = next(starts, None)
                    if start is None:
                        break
                    chunk = indices[start:start + batch_size]
                    pending.append((chunk, pool.submit(self.load, chunk)))
                if not pending:
                    return
                chunk, future = pending.popleft()
                yield (chunk, *future.result())


def prediction_row(dataset, index, probabilities, class_names, thresholds, task, label_count=None, chosen=None):
    """One ``predictions.csv`` row: id, path(s), the predicted label(s), the probabilities (6 decimals).

    ``chosen``: the item's decided labels (0/1, multi-label), when the caller decided a whole
    batch at once; None decides this row alone (the same result).
    """
    if task == MULTI_LABEL:
        if chosen is None:
            chosen = metrics.decide_labels(np.asarray(probabilities)[None, :], thresholds, label_count)[0]
        predicted = ";".join(name for name, keep in zip(class_names, chosen) if keep)
    else:
        predicted = class_names[int(np.argmax(probabilities))]
    path = os.pathsep.join(dataset.items[index]) if dataset.items else ""
    return [dataset.ids[index], path, predicted] + [f"{p:.6f}" for p in probabilities]
