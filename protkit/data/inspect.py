"""What a user runs first on a new folder: counts, channels, dtypes, sizes and problems."""

from __future__ import annotations

import collections
import re

import numpy as np

from protkit.data import readers
from protkit.vocabulary import MULTI_LABEL

_SHOWN = 10


def inspect_dataset(dataset, sample_items=64, seed=0):
    """Summarize a `Dataset` as a JSON-friendly dict.

    Reads every item's header (size, channels, dtype) and checks each file's structure, then
    decodes a random sample of items for per-channel value ranges (so a 16-bit set shows values
    above 255).

    ``problems`` lists what would stop or mislead training (unreadable or truncated files,
    skipped items, empty class folders, mixed sizes or channel counts) and ``problem_count``
    counts it: a caller can exit non-zero when it is above 0. ``notes`` lists what protkit
    handles but a user should know (NaN pixels, constant channels).

    Args:
        dataset: the `protkit.data.Dataset`.
        sample_items: how many items to decode for value ranges.
        seed: which items are sampled.
    """
    summary = {
        "items": len(dataset),
        "task": dataset.task or "unlabelled",
        "source": dataset.source,
        "classes": {},
        "channels": dataset.channel_names,
        "dtypes": {},
        "image_sizes": {},
        "value_range": {},
        "groups": None,
        "problems": [],
        "problem_count": 0,
        "notes": [],
        "skipped": len(dataset.skipped),
        "ignored_files": dict(dataset.ignored),
    }
    _describe_labels(dataset, summary)
    summary["problems"] = [f"{where}: {why}" for where, why in dataset.skipped]
    if len(dataset) == 0:
        summary["problem_count"] = len(summary["problems"])
        return summary

    ok = _describe_headers(dataset, summary)
    _describe_values(dataset, summary, ok.index.to_numpy(), sample_items, seed)
    summary["problem_count"] = len(summary["problems"])
    return summary


def _describe_labels(dataset, summary):
    """CSV rows, class counts, labels per item and groups, into ``summary``."""
    if dataset.source.get("rows") is not None:
        summary["csv_rows"] = dataset.source["rows"]
        if dataset.source.get("rows_per_class") and dataset.source["rows"] != len(dataset):
            summary["csv_rows_per_class"] = dataset.source["rows_per_class"]
    if dataset.labels is not None:
        summary["classes"] = {name: int(count) for name, count in dataset.class_counts().items()}
        if dataset.task == MULTI_LABEL:
            per_item = dataset.labels.sum(axis=1)
            summary["labels_per_item"] = {int(k): int(v) for k, v in zip(*np.unique(per_item, return_counts=True))}
    if dataset.groups is not None:
        unique, counts = np.unique(dataset.groups.astype(str), return_counts=True)
        summary["groups"] = {"count": int(len(unique)), "largest": int(counts.max()), "smallest": int(counts.min())}


def _describe_headers(dataset, summary):
    """dtypes, sizes, channels and header problems from every item's header; returns the readable rows."""
    table = dataset.probe()
    unreadable = table[table["error"].notna()]
    summary["problems"] += [str(e) for e in unreadable["error"]]
    ok = table[table["error"].isna()]
    summary["dtypes"] = {str(k): int(v) for k, v in ok["dtype"].value_counts().items()}
    sizes = ok.groupby(["height", "width", "channels"]).size().sort_values(ascending=False)
    summary["image_sizes"] = {f"{int(h)}x{int(w)}x{int(c)}": int(n) for (h, w, c), n in sizes.items()}
    if summary["channels"] is None and len(ok):
        channels = int(ok["channels"].mode()[0])
        summary["channels"] = [f"ch{i}" for i in range(channels)]
    heights_widths = ok.groupby(["height", "width"]).size()
    if len(heights_widths) > 1:
        summary["problems"].append(
            f"mixed image sizes ({len(heights_widths)} different): pass --image-size / image_size= to resize "
            f"every item")
    channel_counts = ok["channels"].value_counts()
    if len(channel_counts) > 1:
        summary["problems"].append(
            "mixed channel counts: " + ", ".join(f"{int(n)} item(s) with {int(c)}" for c, n in channel_counts.items())
            + "; every item needs the same channels")
    return ok


def _describe_values(dataset, summary, readable, sample_items, seed):
    """Per-channel value ranges (and NaN / constant-channel notes) of a seeded sample of the readable items."""
    rng = np.random.default_rng(seed)
    chosen = rng.choice(readable, size=min(sample_items, len(readable)), replace=False) if len(readable) else []
    low, high, nonfinite, constant = None, None, 0, 0
    for index in chosen:
        try:
            image = dataset.read(int(index))
        except (readers.ImageReadError, FileNotFoundError) as error:
            summary["problems"].append(str(error))
            continue
        flat = image.reshape(-1, image.shape[-1]).astype(np.float64)
        finite = np.isfinite(flat)
        nonfinite += int((~finite).any())
        flat = np.where(finite, flat, np.nan)
        item_low, item_high = np.nanmin(flat, axis=0), np.nanmax(flat, axis=0)
        constant += int(np.any(item_low == item_high))
        low = item_low if low is None or len(low) != len(item_low) else np.fmin(low, item_low)
        high = item_high if high is None or len(high) != len(item_high) else np.fmax(high, item_high)
    if low is not None:
        names = summary["channels"] if summary["channels"] and len(summary["channels"]) == len(low) else range(len(low))
        summary["value_range"] = {str(n): [float(a), float(b)] for n, a, b in zip(names, low, high)}
        summary["value_range_sample"] = int(len(chosen))
    if nonfinite:
        summary["notes"].append(f"{nonfinite} sampled item(s) hold NaN/inf pixels (normalization maps them to 0)")
    if constant:
        summary["notes"].append(f"{constant} sampled item(s) have a constant channel (normalized to 0)")


def format_summary(summary):
    """Render `inspect_dataset`'s dict as the text the CLI prints."""
    lines = [f"items:    {summary['items']}"]
    if "csv_rows" in summary:
        lines.append(f"csv rows: {summary['csv_rows']}")
    lines.append(f"task:     {summary['task']}")
    if summary["classes"]:
        all_rows = summary.get("csv_rows_per_class")
        lines.append(f"classes:  {len(summary['classes'])}" + ("   (items found / all CSV rows)" if all_rows else ""))
        width = max(len(name) for name in summary["classes"])
        for name, count in summary["classes"].items():
            lines.append(f"  {name:<{width}}  {count}" + (f" / {all_rows[name]}" if all_rows else ""))
    if summary.get("labels_per_item"):
        lines.append("labels per item: " + ", ".join(f"{k}: {v}" for k, v in summary["labels_per_item"].items()))
    channels = summary["channels"]
    lines.append(f"channels: {len(channels) if channels else '?'} ({', '.join(channels) if channels else 'unknown'})")
    if summary["dtypes"]:
        lines.append("dtypes:   " + ", ".join(f"{k} ({v})" for k, v in summary["dtypes"].items()))
    if summary["image_sizes"]:
        lines.append("sizes:    " + ", ".join(f"{k} ({v})" for k, v in summary["image_sizes"].items()))
    if summary["value_range"]:
        lines.append(f"values (min..max over {summary.get('value_range_sample', 0)} sampled items):")
        for name, (low, high) in summary["value_range"].items():
            lines.append(f"  {name}: {low:g} .. {high:g}")
    if summary["groups"]:
        g = summary["groups"]
        lines.append(f"groups:   {g['count']} (sizes {g['smallest']}..{g['largest']})")
    if summary["ignored_files"]:
        lines.append("ignored files: " + ", ".join(f"{v} {k}" for k, v in summary["ignored_files"].items()))
    problems = summary["problems"]
    for note in summary.get("notes", []):
        lines.append(f"note:     {note}")
    if summary["skipped"]:
        lines.append(f"left out: {summary['skipped']} item(s) or folder(s) with problems (listed below; not in the "
                     f"counts above)")
    lines.append(f"problems: {len(problems) if problems else 'none found'}")
    kinds = problem_kinds(problems)
    if len(problems) > _SHOWN and len(kinds) < len(problems):
        lines.append("  by kind:")
        for kind, count in kinds.most_common(_SHOWN):
            lines.append(f"    {count:>7}  {kind}")
        lines.append("  first ones:")
    for problem in problems[:_SHOWN]:
        lines.append(f"  - {problem}")
    if len(problems) > _SHOWN:
        lines.append(f"  ... and {len(problems) - _SHOWN} more (use --json for all)")
    return "\n".join(lines)


def problem_kinds(problems):
    """Count problems by kind: the message with paths, quoted values and numbers blanked out."""
    kinds = collections.Counter()
    for problem in problems:
        head, sep, tail = problem.partition(": ")
        text = tail if sep else head
        text = re.sub(r"'[^']*'|\"[^\"]*\"", "…", text)
        text = re.sub(r"\d+", "N", text)
        kinds[text] += 1
    return kinds
