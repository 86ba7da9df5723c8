"""Streaming prediction over a large folder: peak memory of `protkit predict`, and resume after a kill.

Protocol:
- a small run is trained (traditional CNN, 1 epoch, 32x32 single-channel images of two made-up
  classes) into a temporary folder: what it predicts does not matter, its cost does;
- folders of 1,000 and 100,000 generated 32x32 PNGs (one flat folder each, no labels) are
  written to a temporary folder (nothing from ../shared/data is needed);
- `protkit predict RUN FOLDER --out predictions.csv` runs in its own process per folder; peak
  resident memory (the process's own ``ru_maxrss``), resident memory at the end (after the
  last row), wall time and rows are recorded;
- resume: the 100,000-image prediction is started again, killed with SIGKILL once 30,000 rows
  are on disk, and the same command is rerun; the final CSV must hold every image once.

Goal of the project: memory bounded in the number of images (peak RSS at 100,000 images close
to the 1,000-image figure, not 100x), and no duplicate or missing rows after a resume.

Run:
    python benchmarks/streaming.py             # full: 1,000 and 100,000 images (~10 min on 2 cores)
    python benchmarks/streaming.py --quick     # 300 and 3,000 images
"""

from __future__ import annotations

import pathlib
import signal
import subprocess
import sys
import time

import numpy as np

from _common import RESULTS, begin_report, finish_report, standard_parser, work_folder, write_json

DEFAULT_OUT = RESULTS / "streaming.json"
SEED = 0
SECTIONS = ("memory", "resume")
MODES = {
    "full": dict(sizes=[1_000, 100_000], kill_after=30_000, image_size=32, batch_size=64),
    "quick": dict(sizes=[300, 3_000], kill_after=1_000, image_size=32, batch_size=64),
}
# Runs `protkit predict`, then reports the process's peak resident memory and its resident
# memory at the end (Linux /proc; 0 elsewhere) on its last line.
_MEASURED = ("import re, resource, sys\n"
             "from protkit.cli import main\n"
             "code = main(sys.argv[1:])\n"
             "try:\n"
             "    now = int(re.search(r'VmRSS:\\s+(\\d+)', open('/proc/self/status').read()).group(1))\n"
             "except OSError:\n"
             "    now = 0\n"
             "print('RSS_KB', resource.getrusage(resource.RUSAGE_SELF).ru_maxrss, now, flush=True)\n"
             "sys.exit(code)\n")


def write_images(folder, count, size, seed):
    """``count`` random 32x32 8-bit PNGs (blobs on noise) in one flat folder."""
    import cv2

    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[:size, :size]
    for index in range(count):
        cy, cx, radius = rng.uniform(8, size - 8, 2).tolist() + [rng.uniform(3, 8)]
        image = rng.normal(20, 5, (size, size)) + 150 * (((yy - cy) ** 2 + (xx - cx) ** 2) < radius ** 2)
        cv2.imwrite(str(folder / f"cell{index:06d}.png"), np.clip(image, 0, 255).astype(np.uint8))


def train_run(workdir, size):
    from protkit.cli import main

    run = workdir / "run"
    if (run / "model.keras").exists():  # kept in --workdir by an earlier call
        return run
    data = workdir / "train"
    write_images(data / "small", 100, size, SEED)
    write_images(data / "large", 100, size, SEED + 1)  # same generator, another class name: cost only
    code = main(["train", str(data), "--model", "cnn", "--epochs", "1", "--image-size", str(size), "--out", str(run),
                 "--quiet"])
    if code != 0:
        raise RuntimeError("training the benchmark's run failed")
    return run


def predict(run, folder, out, batch_size, kill_after=None):
    """`protkit predict` in a subprocess: (wall s, (peak, end) RSS MiB or None if killed, stdout tail)."""
    command = [sys.executable, "-c", _MEASURED, "predict", str(run), str(folder), "--out", str(out),
               "--batch-size", str(batch_size)]
    started = time.perf_counter()
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    if kill_after is not None:
        partial = out.with_name(out.name + ".partial")
        while process.poll() is None:
            if partial.exists() and _lines(partial) - 1 >= kill_after:
                process.send_signal(signal.SIGKILL)
                break
            time.sleep(0.05)
    output = process.communicate()[0]
    wall = time.perf_counter() - started
    rss = [line.split()[1:] for line in output.splitlines() if line.startswith("RSS_KB")]
    if kill_after is None and process.returncode != 0:
        raise RuntimeError(f"protkit predict failed:\n{output[-3000:]}")
    return wall, (tuple(int(v) / 1024 for v in rss[-1]) if rss else None), output[-500:]


def _lines(path):
    with open(path, "rb") as stream:
        return sum(chunk.count(b"\n") for chunk in iter(lambda: stream.read(1 << 20), b""))


def main(argv=None):
    import pandas as pd

    parser = standard_parser(__doc__, SECTIONS, DEFAULT_OUT, data=False)
    parser.add_argument("--workdir", type=pathlib.Path, help="default: a temporary folder, removed at the end")
    args, sections, mode, report = begin_report(parser, argv, "streaming", SECTIONS, MODES, SEED)
    report["protocol"] = __doc__.split("\n\n")[1]
    with work_folder(args.workdir, "protkit_streaming_") as workdir:
        run = train_run(workdir, mode["image_size"])
        folders = {}
        for count in mode["sizes"]:
            folder = workdir / f"images_{count}"
            if not folder.exists():
                started = time.perf_counter()
                write_images(folder, count, mode["image_size"], SEED + count)
                print(f"wrote {count:,} images in {time.perf_counter() - started:.0f} s", flush=True)
            folders[count] = folder
        if "memory" in sections:
            rows = {}
            for count, folder in folders.items():
                out = workdir / f"predictions_{count}.csv"
                out.unlink(missing_ok=True)
                wall, (peak, end), _ = predict(run, folder, out, mode["batch_size"])
                written = len(pd.read_csv(out, usecols=["id"]))
                rows[str(count)] = {"images": count, "rows": written, "peak_rss_mib": peak, "rss_at_end_mib": end,
                                    "wall_s": wall, "images_per_s_incl_startup": count / wall}
                print(f"{count:>7,} images: peak RSS {peak:.0f} MiB, at the end {end:.0f} MiB, {wall:.1f} s, "
                      f"{written:,} rows", flush=True)
            small, large = rows[str(mode["sizes"][0])], rows[str(mode["sizes"][-1])]
            ratio = large["peak_rss_mib"] / small["peak_rss_mib"]
            report["memory"] = {"runs": rows, "peak_rss_ratio_large_vs_small": ratio, "bounded": bool(ratio < 1.5)}
            write_json(report, args.out)
        if "resume" in sections:
            count = mode["sizes"][-1]
            out = workdir / "resumed.csv"
            for stale in (out, out.with_name(out.name + ".partial"), out.with_name(out.name + ".partial.json")):
                stale.unlink(missing_ok=True)
            first_wall, _, _ = predict(run, folders[count], out, mode["batch_size"], kill_after=mode["kill_after"])
            partial = out.with_name(out.name + ".partial")
            on_disk = _lines(partial) - 1
            second_wall, (peak, _), tail = predict(run, folders[count], out, mode["batch_size"])
            ids = pd.read_csv(out, usecols=["id"])["id"]
            expected = sorted(path.stem for path in folders[count].iterdir())
            report["resume"] = {
                "images": count, "killed_with": "SIGKILL", "rows_on_disk_when_killed": on_disk,
                "first_call_wall_s": first_wall, "second_call_wall_s": second_wall, "second_call_peak_rss_mib": peak,
                "final_rows": int(len(ids)), "duplicate_rows": int(ids.duplicated().sum()),
                "missing_items": len(set(expected) - set(ids)), "order_kept": ids.tolist() == expected,
                "second_call_message": tail.strip().splitlines()[-2] if tail.strip() else "",
            }
            print(f"resume: killed at {on_disk:,} rows; final {len(ids):,} rows, "
                  f"{report['resume']['duplicate_rows']} duplicates, {report['resume']['missing_items']} missing",
                  flush=True)
            write_json(report, args.out)
    finish_report(report, args.out)


if __name__ == "__main__":
    main()
