"""The pre-check run before training: every item's files, sizes and channel counts, in seconds.

`verify_items` (behind `Dataset.verify`) reads each file's header and checks its structure
(`protkit.data.readers.check_image`: PNG chunk checksums, the JPEG end marker, TIFF data
extents) without decoding pixels, then compares channel counts and sizes across items the
way the tf.data pipeline will. A problem found here would otherwise stop training after an
epoch, or later.
"""

from __future__ import annotations

import collections
import os
import time
from concurrent.futures import ThreadPoolExecutor

import numpy as np

from protkit.data import readers

THREADS_ABOVE_S = 200e-6  # per item: slower reads than this wait on the disk, and threads then pay


def _where_and_why(error, fallback):
    """(file, reason) of a read error, without the path repeated in the reason."""
    if isinstance(error, readers.ImageReadError):
        return error.path, error.reason
    return fallback, str(error).removeprefix(f"{fallback}: ")


def map_items(function, items, max_workers=None):
    """``[function(item) for item in items]``, in order; on a thread pool when that is faster.

    File reads release the GIL, so threads help when reads wait on a slow or network disk. On
    a local disk or the page cache a header read takes some 20 microseconds, and threads only
    add contention (twice as slow on 2 cores, measured on a million files). So with
    ``max_workers=None`` the first items are timed in this thread and the rest follow them
    there when each took under `THREADS_ABOVE_S`; otherwise (or with ``max_workers`` > 1) the
    rest go to a pool, in chunks, so the per-task cost stays small.
    """
    items = list(items)
    head = items[:256]
    started = time.perf_counter()
    results = [function(item) for item in head]
    per_item = (time.perf_counter() - started) / max(1, len(head))
    rest = items[len(head):]
    if not rest or max_workers == 1 or (max_workers is None and per_item < THREADS_ABOVE_S):
        return results + [function(item) for item in rest]
    workers = max_workers or min(16, 2 * (os.cpu_count() or 1))
    size = max(1, min(4096, len(rest) // (4 * workers)))
    chunks = [rest[start:start + size] for start in range(0, len(rest), size)]
    with ThreadPoolExecutor(workers) as pool:
        return results + [result for chunk in pool.map(lambda part: [function(item) for item in part], chunks)
                          for result in chunk]


def _check_item(paths, decode):
    """(height, width, channels, None) of one item, or (None, None, None, (where, why))."""
    try:
        infos = [readers.check_image(path) for path in paths]
    except (readers.ImageReadError, FileNotFoundError) as error:
        return None, None, None, _where_and_why(error, paths[0])
    first = infos[0]
    for info in infos[1:]:
        if (info.height, info.width) != (first.height, first.width):
            return None, None, None, (info.path, f"channel files of one item must have the same size: expected "
                                                 f"{first.height}x{first.width} as in {first.path}, got "
                                                 f"{info.height}x{info.width}")
    channels = sum(info.channels for info in infos)
    if decode:
        try:
            image = readers.read_channels(paths)
        except (readers.ImageReadError, FileNotFoundError) as error:
            return None, None, None, _where_and_why(error, paths[0])
        if image.shape != (first.height, first.width, channels):
            return None, None, None, (paths[0], f"the header says {first.height}x{first.width}x{channels}, the "
                                                f"pixels decode to {'x'.join(map(str, image.shape))}")
    return first.height, first.width, channels, None


def verify_items(dataset, image_size=None, decode=False, max_workers=None):
    """Check every item of a file-based dataset; returns (bad indices, problems as (where, why)).

    Args:
        dataset: the `Dataset` (file-based; in-memory items are checked for finite values).
        image_size: None when items are not resized: then every item must have the size of most
            items (as the pipeline requires one size). Any value: sizes are not compared.
        decode: also decode every item (slower; finds damaged compressed data that a header and
            structure check cannot see).
        max_workers: threads (default: 2 per CPU core, at most 16).
    """
    if dataset.arrays is not None:
        bad = [i for i in range(len(dataset)) if not np.isfinite(dataset.arrays[i]).any()]
        return bad, [(f"item {dataset.ids[i]!r}", "no finite pixel value") for i in bad]
    results = map_items(lambda paths: _check_item(paths, decode), dataset.items, max_workers)
    problems = {index: problem for index, (*_, problem) in enumerate(results) if problem}
    readable = [(index, result) for index, result in enumerate(results) if not result[3]]
    if dataset.channel_names is not None:
        expected_channels = len(dataset.channel_names)
        names = f" ({', '.join(dataset.channel_names)})"
    else:
        expected_channels = _most_common([channels for _, (_, _, channels, _) in readable])
        names = " like most items"
    size = None if image_size is not None else _most_common([(h, w) for _, (h, w, _, _) in readable])
    for index, (height, width, channels, _) in readable:
        where = dataset.items[index][0]
        if channels != expected_channels:
            problems[index] = (where, f"expected {expected_channels} channel(s){names}, the file(s) hold {channels}")
        elif size is not None and (height, width) != size:
            problems[index] = (where, f"size {height}x{width} differs from {size[0]}x{size[1]} of most items; pass "
                                      f"--image-size / image_size= to resize every item")
    bad = sorted(problems)
    return bad, [problems[index] for index in bad]


def item_sizes(dataset, limit=None, seed=0, max_workers=None):
    """(n, 2) array of the (height, width) of items, from file headers (no pixels decoded).

    Args:
        dataset: a `Dataset` (in-memory items: their array shapes).
        limit: measure at most this many items, a seeded random sample (None: all).
        seed: seeds the sample.
        max_workers: threads (default: 2 per CPU core, at most 16).

    Unreadable items are left out (the pre-check `verify_items` reports them).
    """
    chosen = np.arange(len(dataset))
    if limit is not None and len(chosen) > limit:
        chosen = np.sort(np.random.default_rng(seed).choice(chosen, size=int(limit), replace=False))
    if dataset.arrays is not None:
        return np.array([dataset.arrays[i].shape[:2] for i in chosen], dtype=int).reshape(-1, 2)
    results = map_items(lambda i: _check_item(dataset.items[i], False), chosen, max_workers)
    return np.array([(height, width) for height, width, _, problem in results if not problem],
                    dtype=int).reshape(-1, 2)


def _most_common(values):
    """The most frequent value (the first seen on a tie), or None."""
    return collections.Counter(values).most_common(1)[0][0] if values else None
