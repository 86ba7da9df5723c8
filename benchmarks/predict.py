"""Benchmark `protkit predict` (PNG files -> predictions.csv) against `model.predict` in memory.

All 10,876 HEp-2 images (training/ + validation/) are scored by a Fast Spec CNN (cpu preset)
trained for one epoch into a temporary run folder. Variants, images/s:

- in_memory: `run.model.predict` on the images already decoded, normalized and resized into
  one array by `load_images` (what a model costs with no I/O at all);
- predict_run: `protkit.inference.predict_run` in-process, from the files to the CSV;
- cli: `protkit predict` in a subprocess per folder, end to end (Python and TensorFlow
  start-up, model load, prediction, CSV), reported apart from the in-process numbers.

Also both with test-time augmentation: predict_run with tta="dihedral" against model.predict on
the 8 views of every image, stacked in memory before the clock (the mean over views taken after).
Goal of the project: predict_run images/s / in_memory images/s >= 0.95. A diagnosis block times
the parts of predict_run alone (decoding on one thread, the compiled forward pass on arrays
already in memory, the CSV rows).

Run:
    python benchmarks/predict.py            # full, ~5-10 min on 2 cores
    python benchmarks/predict.py --quick    # < 2 min
"""

from __future__ import annotations

import csv
import io
import statistics
import subprocess
import sys
import time

import numpy as np

from _common import (RESULTS, ROOT, Clock, finish_report, machine_facts, open_hep2, parse_run, print_heading,
                     standard_parser, warm_page_cache, work_folder)

# ---------------------------------------------------------------- configurable parameters
DEFAULT_OUT = RESULTS / "predict.json"
SEED = 0
BATCH = 64              # predict batch size, all variants (protkit predict's default)
GOAL_RATIO = 0.95  # issue 16: predict_run / model.predict on arrays, with TTA against the 8 views in memory
MODES = {
    # items_per_part: images per folder (None: all); train_items: images of the 1-epoch run;
    # rounds: interleaved (in_memory, predict_run) pairs.
    "full": dict(items_per_part=None, train_items=None, rounds=5, cli=True),
    "quick": dict(items_per_part=1000, train_items=1000, rounds=1, cli=True),
}
PARTS = ("training", "validation")

PROTOCOL = [
    "Model: fast_spec_cnn, cpu preset, 64x64, trained 1 epoch (protkit.training.train, seed 0) on "
    "HEp-2 training/ into a temporary run folder; accuracy is irrelevant here, cost is what is measured.",
    "Before timing, every PNG is read once (page-cache warm-up), so all variants decode from the OS "
    "page cache. The run is loaded once (load_run) and each variant is warmed up on a few batches "
    "(graph tracing) before the clock starts; in-process timings exclude start-up and model load.",
    "in_memory: run.model.predict(x, batch_size=%d) on x = load_images(all items, image_size=run's, "
    "normalizer=run.normalizer), decoded before the clock starts. predict_run: "
    "protkit.inference.predict_run(run, training+validation (Dataset.concatenate), csv, "
    "batch_size=%d, progress=False), from files to the finished CSV." % (BATCH, BATCH),
    "Passes alternate in_memory, predict_run, predict_run, in_memory, ...; medians. "
    "ratio = predict_run img/s / in_memory img/s. CPU ms/img is process CPU time (all threads).",
    "cli: `protkit predict RUN_DIR <folder> --labels <folder>_labels.csv --out CSV --overwrite --tta none` once per "
    "folder in a subprocess; wall time end to end, summed over the two folders. cli_startup: the same "
    "command on a 64-image CSV (start-up + model load + one batch).",
    "The machine is shared: compare ratios from one run; loadavg_start/end show how busy it was.",
]


# ---------------------------------------------------------------- data and run
def open_parts(data_dir, items_per_part):
    """{"training": Dataset, "validation": Dataset} of HEp-2, optionally the first N items of each."""
    parts = {}
    for part in PARTS:
        dataset = open_hep2(data_dir, part)
        if items_per_part is not None and items_per_part < len(dataset):
            dataset = dataset.subset(np.arange(items_per_part))
        parts[part] = dataset
    return parts


def train_brief_run(training, run_dir, train_items):
    from protkit.training import train

    dataset = training if train_items is None else training.subset(
        np.sort(np.random.default_rng(SEED).choice(len(training), min(train_items, len(training)), replace=False)))
    with Clock() as clock:
        result = train(dataset, model="fast_spec_cnn", preset="cpu", out=run_dir, epochs=1, seed=SEED, verbose=0,
                       calibration="none")  # no temperature: the CSV must equal model.predict
    return {"items": len(dataset), "seconds": clock.wall, "image_size": result.config["image_size"],
            "internal_val_balanced_accuracy": result.metrics["validation"]["balanced_accuracy"]}


# ---------------------------------------------------------------- variants
def time_in_memory(run, x, views=None):
    """model.predict on the images in memory; with ``views`` (the 8 dihedral views of every image,
    stacked view after view, made before the clock) the mean over the views."""
    with Clock() as clock:
        if views is None:
            probabilities = run.model.predict(x, batch_size=BATCH, verbose=0)
        else:
            outputs = run.model.predict(views, batch_size=BATCH, verbose=0)
            probabilities = outputs.reshape(len(views) // len(x), len(x), -1).mean(axis=0)
    return clock, probabilities


def time_predict_run(run, dataset, out_csv, tta="none"):
    from protkit.inference import predict_run

    with Clock() as clock:
        result = predict_run(run, dataset, out_csv, overwrite=True, batch_size=BATCH, progress=False, tta=tta)
    if result["written"] != len(dataset):
        raise RuntimeError(f"predict_run wrote {result['written']} rows, expected {len(dataset)}")
    return clock


def time_cli(run_dir, data_dir, part, count, workdir):
    """Wall seconds of `protkit predict` on one HEp-2 folder (first `count` rows of its CSV)."""
    folder = data_dir / "hep2_icpr2014"
    labels = folder / f"{part}_labels.csv"
    if count is not None:
        labels = workdir / f"{part}_{count}.csv"
        with open(folder / f"{part}_labels.csv") as source:
            rows = source.read().splitlines()[: count + 1]
        labels.write_text("\n".join(rows) + "\n")
    out_csv = workdir / f"cli_{part}_{count}.csv"
    command = [sys.executable, "-m", "protkit.cli", "predict", str(run_dir), str(folder / part),
               "--labels", str(labels), "--out", str(out_csv), "--overwrite", "--tta", "none"]
    started = time.perf_counter()
    completed = subprocess.run(command, capture_output=True, text=True, cwd=ROOT)
    seconds = time.perf_counter() - started
    if completed.returncode != 0:
        raise RuntimeError(f"{' '.join(command)} failed:\n{completed.stderr[-2000:]}")
    with open(out_csv) as stream:
        written = sum(1 for _ in stream) - 1
    return seconds, written


# ---------------------------------------------------------------- diagnosis
def diagnose(run, dataset, x, probabilities):
    """Time the parts of predict_run alone: decoding, the model's forward pass, the CSV rows."""
    from protkit.inference import compiled_forward, item_loader, prediction_row

    n = len(dataset)
    parts = {}
    loader = item_loader(run, dataset)
    batches = [np.arange(i, min(i + BATCH, n)) for i in range(0, n, BATCH)]
    with Clock() as clock:
        for indices in batches:
            loader.load_batch(indices)
    parts["decode_one_thread"] = clock

    forward = compiled_forward(run, "none")
    arrays = [x[i:i + BATCH] for i in range(0, n, BATCH)]
    forward(arrays[0])
    forward(arrays[-1])
    with Clock() as clock:
        for batch in arrays:
            forward(batch)
    parts["model_forward_in_memory"] = clock

    with Clock() as clock:
        writer = csv.writer(io.StringIO())
        for index, row in enumerate(probabilities):
            writer.writerow(prediction_row(dataset, index, row, run.class_names, run.thresholds, run.task))
    parts["csv_rows"] = clock

    return {name: {"seconds": c.wall, "img_s": n / c.wall, "cpu_ms_per_img": 1000 * c.cpu / n}
            for name, c in parts.items()}


# ---------------------------------------------------------------- report
def summarize(clocks, n):
    wall = statistics.median(c.wall for c in clocks)
    cpu = statistics.median(c.cpu for c in clocks)
    return {"img_s": n / wall, "seconds": wall, "cpu_ms_per_img": 1000 * cpu / n,
            "all_img_s": [n / c.wall for c in clocks]}


def print_table(report):
    print_heading(report, "predict")
    print(f"HEp-2 training/ + validation/: {report['items']} PNGs, fast_spec_cnn cpu preset at "
          f"{report['run']['image_size'][0]}x{report['run']['image_size'][1]}, batch {BATCH}, "
          f"{report['parameters']['rounds']} interleaved round(s)")
    print(f"  {'variant':<50}{'img/s':>8}{'CPU ms/img':>12}{'vs memory':>11}")
    memory = report["variants"]["in_memory"]
    for name, row in report["variants"].items():
        # each variant against the in-memory pass over the same views
        ratio = row["img_s"] / report["variants"]["in_memory_dihedral" if name.endswith("dihedral") else "in_memory"][
            "img_s"]
        print(f"  {name:<50}{row['img_s']:>8.0f}{row['cpu_ms_per_img']:>12.3f}{ratio:>11.2f}")
    cli = report.get("cli")
    if cli:
        print(f"  {'cli: protkit predict x2, end to end':<50}{cli['img_s']:>8.0f}"
              f"{'':>12}{cli['img_s'] / memory['img_s']:>11.2f}   ({cli['seconds']:.1f} s; start-up + load "
              f"+ 64 images: {cli['startup_seconds']:.1f} s per call)")
    print(f"  load_images into memory (not in the rates above): {report['load_images_seconds']:.1f} s")
    for label, key in (("", "ratio_predict_run_over_in_memory"),
                       (" (8 dihedral views)", "ratio_predict_run_dihedral_over_in_memory_dihedral")):
        ratio = report[key]
        print(f"  goal predict_run / in_memory{label} >= {GOAL_RATIO}: {ratio:.2f} -> "
              f"{'met' if ratio >= GOAL_RATIO else 'NOT met'}")
    print("\n  diagnosis (each part alone, same items):")
    for name, row in report["diagnosis"].items():
        print(f"  {name:<50}{row['img_s']:>8.0f}{row['cpu_ms_per_img']:>12.3f}")


def main(argv=None):
    parser = standard_parser(__doc__, None, DEFAULT_OUT, quick_help="1,000 images per folder, one round (< 2 min)")
    parser.add_argument("--no-cli", action="store_true", help="skip the `protkit predict` subprocess timing")
    args, _, mode_name, mode = parse_run(parser, argv, MODES)
    began = time.perf_counter()

    from protkit.data import Dataset, load_images
    from protkit.inference import load_run, predict_run

    machine = machine_facts()
    parts = open_parts(args.data, mode["items_per_part"])
    dataset = Dataset.concatenate([parts[p] for p in PARTS], names=list(PARTS))
    n = len(dataset)
    warm_bytes = warm_page_cache(dataset)
    with work_folder(None, "protkit_predict_") as workdir:
        run_facts = train_brief_run(parts["training"], workdir / "run", mode["train_items"])
        run = load_run(workdir / "run")
        size = tuple(run.config["image_size"])
        with Clock() as loading:
            x = load_images(dataset, image_size=size, normalizer=run.normalizer)

        # Warm-up: trace predict (full and short batches) and predict_on_batch, untimed.
        run.model.predict(x[: BATCH + 7], batch_size=BATCH, verbose=0)
        predict_run(run, dataset.subset(np.arange(BATCH + 7)), workdir / "warm.csv", overwrite=True, progress=False)

        from protkit.views import image_views

        x_views = np.concatenate(image_views(x, "dihedral"))  # the 8 views in memory, before any clock
        predict_run(run, dataset.subset(np.arange(BATCH + 7)), workdir / "warm.csv", overwrite=True, progress=False,
                    tta="dihedral")
        variants_order = ("in_memory", "predict_run", "in_memory_dihedral", "predict_run_dihedral")
        clocks = {name: [] for name in variants_order}
        probabilities = {}
        for round_index in range(mode["rounds"]):
            for variant in variants_order if round_index % 2 == 0 else variants_order[::-1]:
                if variant.startswith("in_memory"):
                    clock, probabilities[variant] = time_in_memory(
                        run, x, x_views if variant.endswith("dihedral") else None)
                else:
                    tta = "dihedral" if variant.endswith("dihedral") else "none"
                    clock = time_predict_run(run, dataset, workdir / f"{variant}.csv", tta)
                clocks[variant].append(clock)
        del x_views
        # Every path must give the same predictions (same pixels, same model, same views).
        max_difference = 0.0
        for views in ("", "_dihedral"):
            written = np.loadtxt(workdir / f"predict_run{views}.csv", delimiter=",", skiprows=1,
                                 usecols=range(3, 3 + len(run.class_names)))
            max_difference = max(max_difference, float(np.abs(written - probabilities[f"in_memory{views}"]).max()))
        probabilities = probabilities["in_memory"]
        variants = {name: summarize(c, n) for name, c in clocks.items()}
        diagnosis = diagnose(run, dataset, x, probabilities)

        cli = None
        if mode["cli"] and not args.no_cli:
            startup, _ = time_cli(workdir / "run", args.data, "training", 64, workdir)
            seconds, written_rows = 0.0, 0
            for part in PARTS:
                part_seconds, part_rows = time_cli(workdir / "run", args.data, part, mode["items_per_part"], workdir)
                seconds, written_rows = seconds + part_seconds, written_rows + part_rows
            cli = {"seconds": seconds, "img_s": written_rows / seconds, "rows": written_rows,
                   "startup_seconds": startup, "calls": len(PARTS)}

    report = {
        "benchmark": "predict",
        "mode": mode_name,
        "parameters": dict(mode, seed=SEED, batch_size=BATCH),
        "machine": machine,
        "data_dir": str(args.data),
        "items": n,
        "items_per_part": {p: len(parts[p]) for p in PARTS},
        "page_cache_warmup_bytes": warm_bytes,
        "protocol": PROTOCOL,
        "run": run_facts,
        "load_images_seconds": loading.wall,
        "variants": variants,
        "ratio_predict_run_over_in_memory": variants["predict_run"]["img_s"] / variants["in_memory"]["img_s"],
        "cpu_ratio_predict_run_over_in_memory": (variants["in_memory"]["cpu_ms_per_img"]
                                                 / variants["predict_run"]["cpu_ms_per_img"]),
        "ratio_predict_run_dihedral_over_in_memory_dihedral": (variants["predict_run_dihedral"]["img_s"]
                                                               / variants["in_memory_dihedral"]["img_s"]),
        "goal_ratio": GOAL_RATIO,
        "max_abs_difference_csv_vs_in_memory": max_difference,
        "diagnosis": diagnosis,
        "cli": cli,
    }
    report["goal_met"] = {"no_tta": report["ratio_predict_run_over_in_memory"] >= GOAL_RATIO,
                          "dihedral": report["ratio_predict_run_dihedral_over_in_memory_dihedral"] >= GOAL_RATIO}
    finish_report(report, args.out, began, show=print_table)


if __name__ == "__main__":
    main()
