"""Label tables: a CSV of ids and labels plus a file-name pattern, read into `Dataset` fields.

`csv_fields` (behind `Dataset.from_csv`) reads the table (UTF-8 with or without BOM, or UTF-16
with BOM), parses single- or multi-label cells into class indices or multi-hot rows, maps ids to
files through the pattern, and lists every problem (unknown label, empty or repeated id, missing
file) as (where, why), raised together as `DataError` unless the caller asked to skip them.
"""

from __future__ import annotations

import csv
import io
import os
import re
import string

import numpy as np
import pandas as pd

from protkit.data.sources import DataError, raise_unless_skipping, short_name_list

def csv_fields(csv_path, image_dir=None, id_column="Id", label_column="Target", pattern="{id}.png", channels=None,
               class_names=None, multi_label=None, label_separator=None, group_column=None, skip_bad=False,
               allow_empty=False):
    """The `Dataset` fields for a label table plus a file-name pattern; see `Dataset.from_csv`."""

    csv_path = os.fspath(csv_path)
    if not os.path.isfile(csv_path):
        raise FileNotFoundError(f"{csv_path}: label file not found")
    image_dir = os.fspath(image_dir) if image_dir is not None else os.path.dirname(os.path.abspath(csv_path))
    if not os.path.isdir(image_dir):
        raise FileNotFoundError(f"{image_dir}: image folder not found")
    table = read_table(csv_path)
    needed = [c for c in (id_column, label_column, group_column) if c is not None]
    absent = [c for c in needed if c not in table.columns]
    if absent:
        raise DataError(f"{csv_path}: column(s) {absent} not found; columns are {list(table.columns)}")
    fields = {name for _, name, _, _ in string.Formatter().parse(pattern) if name}
    if "id" not in fields:
        raise ValueError(f"pattern must contain {{id}}. Received: pattern={pattern!r}")
    if ("channel" in fields) != (channels is not None):
        raise ValueError(
            f"use {{channel}} in the pattern exactly when channels are given. "
            f"Received: pattern={pattern!r}, channels={channels}"
        )

    labels, class_names, label_problems = _parse_label_column(
        table, label_column, class_names, multi_label, label_separator)
    ids = table[id_column].str.strip().tolist()
    existing = set(os.listdir(image_dir))
    items, keep = [], []
    labelled_bad = {row for row, _ in label_problems}
    label_problems += [(row, why) for row, why in _id_problems(ids) if row not in labelled_bad]
    problems = [(f"{csv_path} row {row + 2}", why) for row, why in sorted(label_problems)]
    bad_rows = {row for row, _ in label_problems}
    channel_list = list(channels) if channels is not None else [None]
    for row, item_id in enumerate(ids):
        if row in bad_rows:
            continue
        names = [_format_pattern(pattern, item_id, channel, csv_path) for channel in channel_list]
        missing = [name for name in names if name not in existing and not os.path.isfile(os.path.join(image_dir, name))]
        if missing:
            why = f"file for id {item_id!r} (CSV row {row + 2}) not found"
            if len(names) > 1:
                absent = [c for c, name in zip(channel_list, names) if name in missing]
                why = (f"{len(missing)} of {len(names)} channel files for id {item_id!r} (CSV row {row + 2}) "
                       f"not found: {', '.join(absent)}")
            problems.append((os.path.join(image_dir, missing[0]), why))
            continue
        items.append(tuple(os.path.join(image_dir, name) for name in names))
        keep.append(row)
    problems.sort(key=lambda p: p[0])
    raise_unless_skipping(problems, skip_bad, csv_path)
    if not items and not allow_empty:
        raise DataError(f"{csv_path}: no item has its image file(s) in {image_dir}", problems)
    keep = np.asarray(keep, dtype=np.int64)
    return dict(
        items=items,
        labels=None if labels is None else labels[keep],
        class_names=class_names,
        channel_names=list(channels) if channels is not None else None,
        ids=[ids[i] for i in keep],
        groups=None if group_column is None else table[group_column].to_numpy()[keep],
        skipped=problems,
        source={"kind": "csv", "csv": os.path.abspath(csv_path), "image_dir": os.path.abspath(image_dir),
                "id_column": id_column, "label_column": label_column, "pattern": pattern,
                "channels": channels, "rows": len(table),
                "rows_per_class": None if labels is None else _counts(labels, class_names)},
    )


def read_table(csv_path):
    """A label table as strings: UTF-8 (with or without BOM) or UTF-16 with BOM; `DataError` else."""
    with open(csv_path, "rb") as handle:
        raw = handle.read()
    encoding = "utf-16" if raw.startswith((b"\xff\xfe", b"\xfe\xff")) else "utf-8-sig"
    try:
        text = raw.decode(encoding)
    except UnicodeDecodeError as error:
        raise DataError(f"{csv_path}: not {encoding.split('-sig')[0].upper()} text (byte 0x{raw[error.start]:02x} "
                        f"at position {error.start}); save the label table as UTF-8") from None
    if "\x00" in text:
        raise DataError(f"{csv_path}: holds NUL bytes; expected a text CSV file")
    try:
        table = pd.read_csv(io.StringIO(text), dtype=str, keep_default_na=False)
    except pd.errors.EmptyDataError:
        raise DataError(f"{csv_path}: the file is empty; expected a header row and one row per item") from None
    except (pd.errors.ParserError, csv.Error) as error:
        raise DataError(f"{csv_path}: not a readable CSV table ({str(error).strip()})") from None
    table.columns = [str(column).strip() for column in table.columns]
    return table


def _id_problems(ids):
    """(row, why) for empty ids and for repeats of an id (the first row keeps it)."""
    problems, first_row = [], {}
    for row, item_id in enumerate(ids):
        if not item_id:
            problems.append((row, "empty id"))
        elif item_id in first_row:
            problems.append((row, f"duplicate id {item_id!r} (first in CSV row {first_row[item_id] + 2}); "
                                  f"one file would become two items"))
        else:
            first_row[item_id] = row
    return problems


def _format_pattern(pattern, item_id, channel, csv_path):
    values = {"id": item_id}
    if channel is not None:
        values["channel"] = channel
    try:
        return pattern.format(**values)
    except (ValueError, TypeError):
        pass
    try:
        values["id"] = int(item_id)
    except ValueError:
        raise DataError(f"{csv_path}: id {item_id!r} cannot fill the pattern {pattern!r} "
                        f"(the pattern expects a number)") from None
    return pattern.format(**values)


def _parse_label_column(table, label_column, class_names, multi_label, separator):
    """Parse labels into class indices or multi-hot rows.

    Returns (labels or None, class_names, problems) with problems as (row index, why).
    """
    if label_column is None:
        return None, list(class_names or []), []
    cells = table[label_column].astype(str).str.strip().tolist()
    tokens = [cell.split(separator) if cell else [] for cell in cells]
    if multi_label is None:
        multi_label = any(len(t) > 1 for t in tokens)
    if not multi_label:
        tokens = [[cell] if cell else [] for cell in cells]
    all_tokens = sorted({tok for row in tokens for tok in row})
    numeric = bool(all_tokens) and all(re.fullmatch(r"\d+", tok) for tok in all_tokens)
    if class_names is None:
        # The classes are the labels present: numeric ids keep their names, in numeric order.
        class_names = sorted(all_tokens, key=int) if numeric else all_tokens
        index_by_number = False
    else:
        # Integer labels index descriptive names (HPA's Target); numeric names match by name only.
        index_by_number = numeric and not any(re.fullmatch(r"\d+", str(name)) for name in class_names)
    class_names = list(class_names)
    index_of = {name: i for i, name in enumerate(class_names)}

    def to_index(tok):
        if tok in index_of:
            return index_of[tok]
        if index_by_number and int(tok) < len(class_names):
            return int(tok)
        return None

    problems = []
    if multi_label:
        labels = np.zeros((len(cells), len(class_names)), dtype=np.int8)
    else:
        labels = np.zeros(len(cells), dtype=np.int64)
    for row, row_tokens in enumerate(tokens):
        if not row_tokens and not multi_label:
            problems.append((row, "empty label"))
            continue
        for tok in row_tokens:
            index = to_index(tok)
            if index is None:
                problems.append((row, f"unknown label {tok!r}; known: {short_name_list(class_names)}"))
                break
            if multi_label:
                labels[row, index] = 1
            else:
                labels[row] = index
    return labels, class_names, problems


def _counts(labels, class_names):
    counts = labels.sum(axis=0) if labels.ndim == 2 else np.bincount(labels, minlength=len(class_names))
    return {name: int(count) for name, count in zip(class_names, counts)}
