"""Which Keras backend is faster here: TensorFlow or JAX, the same protkit model side by side.

Each measurement runs in a fresh child process (Keras picks its backend once per process, from
``KERAS_BACKEND``), and the backends alternate (TF, JAX, JAX, TF, ...) so that the machine's
load falls on both alike. In every child:

(a) training img/s of `model.fit` on images already in memory (the backend's own speed);
(b) training img/s of `model.fit` fed by protkit's file pipeline (`make_pipeline`, HEp-2 PNGs);
(c) prediction img/s of `protkit.inference.predict_run` on the same files (a CSV written,
    no test-time augmentation), and of the run's compiled forward pass on arrays.

The models: the recipe's default ResNet (``small`` preset) and the Fast Spec CNN (``cpu``
preset), 64x64 px, batch 32, built afresh from seed 0. The first epoch of each fit (tracing)
and the first prediction pass are not timed; rates are medians over the timed passes, then
over the child runs of each backend.

Run:
    python benchmarks/backends.py            # full, ~10 min on 2 cores
    python benchmarks/backends.py --quick    # ~3 min
"""

from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
import tempfile
import time

import numpy as np
from _common import (RESULTS, begin_report, epoch_timer, finish_report, open_hep2, print_heading, standard_parser,
                     stratified_subset)

DEFAULT_OUT = RESULTS / "backends.json"
SEED = 0
BACKENDS = ("tensorflow", "jax")
MODELS = {"resnet": "small", "fast_spec_cnn": "cpu"}
IMAGE_SIZE, BATCH = 64, 32
MODES = {
    # items: HEp-2 training/ images used (a multiple of BATCH); epochs: per fit, the first not
    # timed; rounds: child processes per backend; predict_passes: timed prediction passes.
    "full": dict(items=2048, epochs=4, rounds=2, predict_passes=3),
    "quick": dict(items=512, epochs=3, rounds=1, predict_passes=2),
}
PROTOCOL = [
    "One child process per (backend, round), KERAS_BACKEND set before Keras loads; order "
    "TF, JAX, JAX, TF, ... so both backends see the same machine load.",
    "Training: keras.utils.set_random_seed(0), the model built afresh, compiled as protkit's "
    "train compiles it (Adam 1e-3, categorical cross-entropy); epoch time from on_epoch_begin "
    "to on_epoch_end; the first epoch (tracing) is excluded; img/s = items / median epoch.",
    "Prediction: predict_run (files -> CSV, tta none) and the compiled forward pass on arrays, "
    "the first pass not timed; img/s = items / median pass.",
    "Rates are medians over the child runs of each backend; ratios are JAX / TensorFlow.",
]


# ---------------------------------------------------------------- child process
def child(data_dir, mode, out):
    """Measure every model on this process's backend; write {model: rates} as JSON to ``out``."""
    import keras

    from protkit.data import make_pipeline
    from protkit.data.pipeline import load_images
    from protkit.models import build_model
    from protkit.training import compile_for_task

    dataset = stratified_subset(open_hep2(data_dir), mode["items"], SEED)
    n = len(dataset) // BATCH * BATCH
    dataset = dataset.subset(np.arange(n))
    x = load_images(dataset, image_size=(IMAGE_SIZE, IMAGE_SIZE))
    y = dataset.targets()
    rates = {"backend": keras.backend.backend(), "items": n}
    for name, preset in MODELS.items():
        result = {}
        for feed in ("arrays", "files"):
            keras.utils.set_random_seed(SEED)
            model = build_model(name, (IMAGE_SIZE, IMAGE_SIZE, 1), dataset.num_classes, preset=preset)
            compile_for_task(model, dataset.task, 1e-3)
            timer = epoch_timer()
            if feed == "arrays":
                model.fit(x, y, batch_size=BATCH, epochs=mode["epochs"], shuffle=True, verbose=0, callbacks=[timer])
            else:
                pipeline = make_pipeline(dataset, batch_size=BATCH, image_size=(IMAGE_SIZE, IMAGE_SIZE), shuffle=True,
                                         seed=SEED)
                model.fit(pipeline, epochs=mode["epochs"], verbose=0, callbacks=[timer])
            result[f"train_{feed}_img_s"] = n / statistics.median(timer.wall[1:])
        result.update(_prediction(model, dataset, x, mode))
        rates[name] = result
        keras.backend.clear_session()
    with open(out, "w") as stream:
        json.dump(rates, stream)


def _prediction(model, dataset, x, mode):
    """img/s of predict_run (files -> CSV) and of the compiled forward pass on arrays."""
    from protkit.data import Normalizer
    from protkit.inference import Run, compiled_forward, predict_run

    config = {"task": dataset.task, "class_names": list(dataset.class_names), "image_size": [IMAGE_SIZE] * 2,
              "channel_names": ["gray"], "tta": "none"}
    with tempfile.TemporaryDirectory() as folder:
        run = Run(folder, model, config, Normalizer("percentile"))
        forward = compiled_forward(run, "none")
        seconds = {"predict_run": [], "forward_arrays": []}
        for attempt in range(mode["predict_passes"] + 1):
            started = time.perf_counter()
            predict_run(run, dataset, os.path.join(folder, "p.csv"), overwrite=True, progress=False, tta="none")
            middle = time.perf_counter()
            for start in range(0, len(x), 64):
                forward(x[start:start + 64])
            if attempt:
                seconds["predict_run"].append(middle - started)
                seconds["forward_arrays"].append(time.perf_counter() - middle)
    return {f"{name}_img_s": len(x) / statistics.median(values) for name, values in seconds.items()}


# ---------------------------------------------------------------- parent
def main(argv=None):
    argv = sys.argv[1:] if argv is None else argv
    if argv and argv[0] == "--child":
        _, data_dir, mode_name, out = argv
        return child(data_dir, MODES[mode_name], out)
    parser = standard_parser(__doc__, None, DEFAULT_OUT)
    began = time.perf_counter()
    args, _, mode, report = begin_report(parser, argv, "backends", (), MODES, SEED)
    report["protocol"] = PROTOCOL
    order = [backend for round_ in range(mode["rounds"])
             for backend in (BACKENDS if round_ % 2 == 0 else BACKENDS[::-1])]
    report["run_order"], runs = order, {backend: [] for backend in BACKENDS}
    for backend in order:
        with tempfile.NamedTemporaryFile(suffix=".json", delete=False) as handle:
            out = handle.name
        env = dict(os.environ, KERAS_BACKEND=backend)
        print(f"child run on {backend} ...", flush=True)
        completed = subprocess.run([sys.executable, __file__, "--child", str(args.data), report["mode"], out],
                                   env=env, capture_output=True, text=True)
        if completed.returncode != 0:
            raise RuntimeError(f"the {backend} child failed:\n{completed.stderr[-3000:]}")
        with open(out) as stream:
            runs[backend].append(json.load(stream))
        os.unlink(out)
    report["runs"] = runs
    report["summary"] = summarize(runs)
    finish_report(report, args.out, began, show=print_table)


def summarize(runs):
    """Per model and measure: the median over each backend's runs, and JAX / TensorFlow."""
    summary = {}
    for model in MODELS:
        measures = [key for key in runs["tensorflow"][0][model]]
        summary[model] = {}
        for measure in measures:
            medians = {backend: statistics.median(run[model][measure] for run in runs[backend]) for backend in runs}
            summary[model][measure] = dict(medians, jax_over_tensorflow=medians["jax"] / medians["tensorflow"])
    return summary


def print_table(report):
    print_heading(report, "backends")
    print(f"HEp-2 training/, {report['runs']['tensorflow'][0]['items']} images at {IMAGE_SIZE}x{IMAGE_SIZE}, "
          f"batch {BATCH}; img/s, median over {len(report['runs']['tensorflow'])} run(s) per backend")
    print(f"  {'model':<15}{'measure':<24}{'TensorFlow':>12}{'JAX':>10}{'JAX / TF':>10}")
    for model, measures in report["summary"].items():
        for measure, values in measures.items():
            print(f"  {model:<15}{measure:<24}{values['tensorflow']:>12.0f}{values['jax']:>10.0f}"
                  f"{values['jax_over_tensorflow']:>10.2f}")


if __name__ == "__main__":
    main()
