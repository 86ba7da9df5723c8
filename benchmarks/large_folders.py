"""A million files: how long `Dataset.from_folder`, `Dataset.from_csv` and `protkit datasets inspect` take, and their memory.

The files are generated once into ``--workdir`` (kept, so a rerun skips the writing): 4 class
folders of tiny 8x8 grayscale PNGs (the same bytes in every file: the listing, not decoding, is
what is measured) and a label table naming every file. Each measurement runs in its own child
process, which reports its wall time and peak resident memory (``ru_maxrss``); the import of
protkit and TensorFlow is outside the timed part but inside the memory figure.

Targets (issue 16): describing a 1,000,000-file dataset in under 60 s and 2 GB.

Run:
    python benchmarks/large_folders.py --workdir /tmp/protkit-1m            # 1,000,000 files
    python benchmarks/large_folders.py --files 20000 --workdir /tmp/pk-20k   # a quick look
"""

from __future__ import annotations

import csv
import json
import os
import pathlib
import subprocess
import sys
import time

from _common import RESULTS, begin_report, finish_report, print_heading, standard_parser

DEFAULT_OUT = RESULTS / "large_folders.json"
SEED = 0
CLASSES = ("alpha", "beta", "gamma", "delta")
MODES = {"full": dict(files=1_000_000), "quick": dict(files=20_000)}
TARGET_SECONDS, TARGET_GB = 60, 2.0

CHILD = r"""
import json, resource, sys, time
import protkit.data
kind, root, table = sys.argv[1:4]
started = time.perf_counter()
if kind == "from_folder":
    items = len(protkit.data.Dataset.from_folder(root))
elif kind == "from_csv":
    items = len(protkit.data.Dataset.from_csv(table, root, id_column="id", label_column="label", pattern="{id}"))
else:
    import contextlib, io
    from protkit.cli import main
    with contextlib.redirect_stdout(io.StringIO()) as printed:
        assert main(["datasets", "inspect", root, "--json"]) == 0
    items = json.loads(printed.getvalue())["items"]
seconds = time.perf_counter() - started
print(json.dumps({"seconds": seconds, "items": items, "peak_rss_gb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024**2}))
"""


def generate(folder, count):
    """``count`` tiny PNGs in 4 class folders, and ``labels.csv`` (id = path under the folder, label)."""
    import cv2
    import numpy as np

    stamp = folder / "generated.json"
    if stamp.is_file() and json.loads(stamp.read_text()).get("files") == count:
        return 0.0
    started = time.perf_counter()
    ok, png = cv2.imencode(".png", np.arange(64, dtype=np.uint8).reshape(8, 8))
    payload = png.tobytes()
    with open(folder / "labels.csv", "w", newline="") as stream:
        writer = csv.writer(stream)
        writer.writerow(["id", "label"])
        for index in range(count):
            name = CLASSES[index % len(CLASSES)]
            relative = f"{name}/cell{index:07d}.png"
            path = folder / "images" / relative
            if index < len(CLASSES):
                path.parent.mkdir(parents=True, exist_ok=True)
            with open(path, "wb") as image:
                image.write(payload)
            writer.writerow([relative, name])
    stamp.write_text(json.dumps({"files": count}))
    return time.perf_counter() - started


def measure(kind, folder):
    completed = subprocess.run([sys.executable, "-c", CHILD, kind, str(folder / "images"), str(folder / "labels.csv")],
                               capture_output=True, text=True, env=dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3"))
    if completed.returncode != 0:
        raise RuntimeError(f"{kind} failed:\n{completed.stderr[-3000:]}")
    return json.loads(completed.stdout.strip().splitlines()[-1])


def main(argv=None):
    parser = standard_parser(__doc__, None, DEFAULT_OUT, data=False, quick_help="20,000 files instead of 1,000,000")
    parser.add_argument("--files", type=int, default=None, help="number of files (overrides the mode)")
    parser.add_argument("--workdir", type=pathlib.Path, required=True, help="where the files are written (kept)")
    began = time.perf_counter()
    args, _, mode, report = begin_report(parser, argv, "large_folders", (), MODES, SEED)
    count = args.files or mode["files"]
    args.workdir.mkdir(parents=True, exist_ok=True)
    report["files"] = count
    report["generate_seconds"] = generate(args.workdir, count)
    report["protocol"] = ("one child process per measurement; seconds: the call alone (after imports); "
                          "peak_rss_gb: the child's peak resident memory, imports included; files on the "
                          "local disk, listed once before (the OS caches the directory entries)")
    measure("from_folder", args.workdir)  # warm the directory cache, not reported
    report["results"] = {kind: measure(kind, args.workdir) for kind in ("from_folder", "from_csv", "inspect")}
    report["targets"] = {"seconds": TARGET_SECONDS, "peak_rss_gb": TARGET_GB}
    finish_report(report, args.out, began, show=print_table)


def print_table(report):
    print_heading(report, "large folders")
    print(f"{report['files']:,} tiny PNGs in {len(CLASSES)} class folders (target: < {TARGET_SECONDS} s, "
          f"< {TARGET_GB} GB)")
    print(f"  {'call':<14}{'items':>10}{'seconds':>10}{'peak GB':>10}")
    for kind, row in report["results"].items():
        print(f"  {kind:<14}{row['items']:>10,}{row['seconds']:>10.1f}{row['peak_rss_gb']:>10.2f}")


if __name__ == "__main__":
    main()
