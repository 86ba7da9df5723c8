"""Shared by the benchmark scripts: data openers, command line, timing, machine facts, JSON report.

Importing it quiets TensorFlow's C++ log and Keras's "ran out of data" warning, so a script
imports it before anything that imports TensorFlow.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import pathlib
import platform
import shutil
import sys
import tempfile
import time
import warnings

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
# Keras warns at the end of every epoch over a tf.data pipeline of unknown length; it is harmless.
warnings.filterwarnings("ignore", message="Your input ran out of data")

import numpy as np

ROOT = pathlib.Path(__file__).resolve().parents[1]
DEFAULT_DATA = pathlib.Path(os.environ.get("PROTKIT_SHARED_DATA", ROOT.parent / "shared" / "data"))
RESULTS = ROOT / "benchmarks" / "results"
IFC_CHANNELS = ["Ch3", "Ch4", "Ch6"]


class Clock:
    """Wall seconds (perf_counter) and process CPU seconds (all threads) of a `with` block."""

    def __enter__(self):
        self._wall, self._cpu = time.perf_counter(), time.process_time()
        return self

    def __exit__(self, *exc):
        self.wall = time.perf_counter() - self._wall
        self.cpu = time.process_time() - self._cpu
        return False


def epoch_timer():
    """A Keras callback recording each epoch's wall (``wall``) and process CPU (``cpu``) seconds.

    Built on call, so Keras loads only when a script (or its child process) needs it.
    """
    import keras

    class EpochTimer(keras.callbacks.Callback):
        def __init__(self):
            super().__init__()
            self.wall, self.cpu = [], []

        def on_epoch_begin(self, epoch, logs=None):
            self._start = (time.perf_counter(), time.process_time())

        def on_epoch_end(self, epoch, logs=None):
            self.wall.append(time.perf_counter() - self._start[0])
            self.cpu.append(time.process_time() - self._start[1])

    return EpochTimer()


# ---------------------------------------------------------------- data
def stratified_subset(dataset, count, seed=0):
    """``count`` items drawn per class in proportion (quick modes); the whole set for None."""
    if count is None or count >= len(dataset):
        return dataset
    from protkit.data import train_val_test_split

    _, keep, _ = train_val_test_split(dataset.labels, val_fraction=count / len(dataset), seed=seed)
    return dataset.subset(keep)


def open_hep2(data_dir, part="training", channels=None):
    """HEp-2 ``training/`` or ``validation/`` with its labels, or FileNotFoundError naming what is missing."""
    from protkit.data import Dataset

    folder = pathlib.Path(data_dir) / "hep2_icpr2014"
    csv_path, images = folder / f"{part}_labels.csv", folder / part
    if not csv_path.is_file() or not images.is_dir():
        raise FileNotFoundError(f"not found: {csv_path} and {images}/")
    return Dataset.from_csv(csv_path, images, id_column="Image ID", label_column="Image class", pattern="{id:05d}.png")


def open_ifc(data_dir, channels=None):
    """IFC Jurkat Experiment_1 (per-channel TIFFs, default Ch3, Ch4, Ch6), or FileNotFoundError."""
    from protkit.data import Dataset

    folder = pathlib.Path(data_dir) / "ifc_jurkat_cellcycle" / "Experiment_1"
    if not folder.is_dir():
        raise FileNotFoundError(f"not found: {folder}/")
    return Dataset.from_folder(folder, channels=channels or IFC_CHANNELS)


def open_set(name, data_dir, items=None, seed=0):
    """"hep2" (`training/`) or "ifc" (Ch3, Ch4, Ch6), whole or a stratified subset of ``items``; a
    section named after one of them ("ifc_spectral") opens that set."""
    name = name.split("_")[0]
    if name not in ("hep2", "ifc"):
        raise ValueError(f"name must be 'hep2' or 'ifc'. Received: name={name!r}")
    dataset = open_hep2(data_dir) if name == "hep2" else open_ifc(data_dir)
    return stratified_subset(dataset, items, seed)


def record_skip(report, name, error):
    """Print why ``name`` is skipped and record it under ``report["skipped"]``."""
    print(f"skipping {name}: {error}", file=sys.stderr)
    report.setdefault("skipped", {})[name] = str(error)


def open_sections(sections, data_dir, items, report, seed=0):
    """(name, dataset) for each data set of ``sections`` that is there; a missing one is skipped
    (`record_skip`)."""
    for name in sections:
        try:
            dataset = open_set(name, data_dir, items, seed)
        except FileNotFoundError as error:
            record_skip(report, name, error)
            continue
        yield name, dataset


def run_section(report, name, runner):
    """``report[name] = runner()``; False, with the reason recorded, when its data is missing."""
    try:
        report[name] = runner()
    except FileNotFoundError as error:
        record_skip(report, name, error)
        return False
    return True


def label_counts(dataset):
    """{class name: number of items}, as plain ints."""
    return {name: int(n) for name, n in dataset.class_counts().items()}


def warm_page_cache(dataset):
    """Read every file of ``dataset`` once, so later passes read from the OS page cache; returns the bytes read."""
    total = 0
    for paths in dataset.items:
        for path in paths:
            with open(path, "rb") as stream:
                total += len(stream.read())
    return total


# ---------------------------------------------------------------- machine
def _loadavg():
    return list(os.getloadavg()) if hasattr(os, "getloadavg") else None


def machine_facts():
    """CPU count, platform and library versions, and the load average when the run starts."""
    import cv2
    import keras
    import tensorflow as tf

    return {
        "cpu_count": os.cpu_count(), "platform": platform.platform(), "python": platform.python_version(),
        "numpy": np.__version__, "tensorflow": tf.__version__, "keras": keras.__version__,
        "keras_backend": keras.backend.backend(), "opencv": cv2.__version__,
        "gpus": len(tf.config.list_physical_devices("GPU")),
        "cpus_usable": len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else None,
        "loadavg_start": _loadavg(),
    }


# ---------------------------------------------------------------- command line
def standard_parser(doc, sections, default_out, data=True, quick_help="small subsets, few epochs (smoke test)"):
    """An argument parser with the options every benchmark takes.

    ``--quick``, ``--sections`` and ``--update`` (unless ``sections`` is None), ``--data`` (with
    ``data``) and ``--out``; the description is the first paragraph of the script's docstring ``doc``.
    """
    parser = argparse.ArgumentParser(description=doc.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help=quick_help)
    if sections is not None:
        parser.add_argument("--sections", default=",".join(sections), help=f"parts to run, from {','.join(sections)}")
        parser.add_argument("--update", action="store_true",
                            help="keep the parts of an existing --out file that this run does not redo")
    if data:
        parser.add_argument("--data", type=pathlib.Path, default=DEFAULT_DATA, help="shared data folder")
    parser.add_argument("--out", type=pathlib.Path, default=default_out, help="JSON results file")
    return parser


def parse_run(parser, argv, modes, all_sections=()):
    """Parse the command line of a `standard_parser`.

    Returns:
        (args, sections asked for, mode name, mode settings); ``--items``, where the parser has
        it, replaces the mode's ``items``.
    """
    args = parser.parse_args(argv)
    sections = [s.strip() for s in getattr(args, "sections", "").split(",") if s.strip()]
    if set(sections) - set(all_sections):
        parser.error(f"unknown section(s): {sorted(set(sections) - set(all_sections))}")
    mode_name = "quick" if args.quick else "full"
    mode = modes[mode_name]
    if getattr(args, "items", None) is not None:  # a stratified subset instead of the mode's default
        mode = dict(mode, items=args.items)
    return args, sections, mode_name, mode


def previous_report(args):
    """With ``--update``, the report already in ``--out`` ({} without it or when there is none)."""
    return json.loads(args.out.read_text()) if getattr(args, "update", False) and args.out.is_file() else {}


@contextlib.contextmanager
def work_folder(path, prefix):
    """``path`` (kept afterwards, so a rerun can resume there), or a temporary folder removed at the end."""
    folder = pathlib.Path(path) if path is not None else pathlib.Path(tempfile.mkdtemp(prefix=prefix))
    try:
        yield folder
    finally:
        if path is None:
            shutil.rmtree(folder, ignore_errors=True)


def resumable_row(saved, compute):
    """The row saved in ``saved`` (JSON) by an earlier run, or ``compute()``'s, saved there first.

    Long benchmark arms write one such file each, so a killed run resumes where it stopped.
    """
    saved = pathlib.Path(saved)
    if saved.exists():
        return json.loads(saved.read_text())
    row = compute()
    saved.parent.mkdir(parents=True, exist_ok=True)
    saved.write_text(json.dumps(row))
    return row


# ---------------------------------------------------------------- report
def write_json(report, out):
    """Write strict JSON (NaN and infinity become null) through a temporary file and a rename."""
    from protkit.metrics import to_jsonable

    out = pathlib.Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    partial = out.with_name(out.name + ".tmp")
    partial.write_text(json.dumps(to_jsonable(report), indent=2, allow_nan=False) + "\n", encoding="utf-8")
    partial.replace(out)


def begin_report(parser, argv, benchmark, all_sections, modes, seed):
    """Parse the command line (`parse_run`) and start the report (kept parts of --out with --update).

    Returns:
        (args, sections, mode, report).
    """
    args, sections, mode_name, mode = parse_run(parser, argv, modes, all_sections)
    report = previous_report(args)
    # A kept section keeps the settings and machine of the run that measured it; the top level
    # describes this run.
    for name in set(all_sections) - set(sections):
        if isinstance(report.get(name), dict) and "run" not in report[name]:
            report[name]["run"] = {key: report[key] for key in ("mode", "parameters", "machine") if key in report}
    report.update({"benchmark": benchmark, "mode": mode_name, "parameters": dict(mode, seed=seed),
                   "machine": machine_facts()})
    return args, sections, mode, report


def print_heading(report, title):
    """The first lines of a script's tables: which benchmark, mode and machine, and what was skipped."""
    machine = report["machine"]
    print(f"\nprotkit {title} benchmark ({report['mode']}), {machine['cpu_count']} CPUs, "
          f"TF {machine['tensorflow']}, Keras {machine['keras']}")
    for name, reason in report.get("skipped", {}).items():
        print(f"  skipped {name}: {reason}")


def finish_report(report, out, began=None, minutes=False, show=None):
    """Record the load average at the end, print the tables with ``show``, write the report, say where.

    With ``began`` (a perf_counter reading) the time since then is recorded too, as
    ``total_minutes`` (``minutes``) or ``total_seconds``.
    """
    report["machine"]["loadavg_end"] = _loadavg()
    took = ""
    if began is not None:
        seconds = time.perf_counter() - began
        if minutes:
            report["total_minutes"], took = seconds / 60, f" ({seconds / 60:.1f} min)"
        else:
            report["total_seconds"], took = seconds, f" ({seconds:.0f} s)"
    if show is not None:
        show(report)
    write_json(report, out)
    print(f"\nwrote {out}{took}")
