"""Output folders and files: never overwrite without being asked; write atomically."""

from __future__ import annotations

import json
import os
import pathlib
import shutil
import tempfile


def prepare_output_dir(path, overwrite=False):
    """Create ``path`` for a run's outputs.

    An existing non-empty folder is refused (FileExistsError naming it) unless ``overwrite``;
    with ``overwrite`` its contents are removed first.
    """
    path = pathlib.Path(path)
    if path.exists() and not path.is_dir():
        raise FileExistsError(f"{path}: exists and is not a folder")
    if path.exists() and any(path.iterdir()):
        if not overwrite:
            raise FileExistsError(f"{path}: folder exists and is not empty; pass --overwrite to replace it")
        shutil.rmtree(path)
    path.mkdir(parents=True, exist_ok=True)
    return path


def write_json(path, data):
    """Write JSON through a temporary file and a rename, so a crash never leaves half a file."""
    path = pathlib.Path(path)
    handle, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(handle, "w") as stream:
            json.dump(data, stream, indent=2, allow_nan=False)
            stream.write("\n")
        os.replace(temporary, path)
    except BaseException:
        if os.path.exists(temporary):
            os.unlink(temporary)
        raise
    return path


def write_text(path, text):
    """Write a text file through a temporary file and a rename (see `atomic_path`)."""
    with atomic_path(path) as temporary:
        temporary.write_text(text, encoding="utf-8")
    return pathlib.Path(path)


def markdown_table(frame, digits=3):
    """A pandas DataFrame as a GitHub-flavoured Markdown table (index as the first column)."""

    def cell(value):
        if isinstance(value, float):
            return f"{value:.{digits}f}"
        return str(value)

    header = [str(frame.index.name or "")] + [str(c) for c in frame.columns]
    rows = [[cell(index)] + [cell(v) for v in row] for index, row in zip(frame.index, frame.itertuples(index=False))]
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    lines += ["| " + " | ".join(row) + " |" for row in rows]
    return "\n".join(lines)


class atomic_path:
    """Context manager: a temporary name beside ``path`` that replaces ``path`` on success.

    Write anything to the yielded path (Keras ``model.save``, ``DataFrame.to_csv``, ...); when
    the block ends without an error it is renamed onto ``path`` in one step, so a killed process
    leaves either the old file or the new one, never half of one. On an error it is removed.

    >>> with atomic_path("model.keras") as temporary:  # doctest: +SKIP
    ...     model.save(temporary)
    """

    def __init__(self, path):
        self.path = pathlib.Path(path)

    def __enter__(self):
        handle, name = tempfile.mkstemp(dir=self.path.parent, prefix=f".{self.path.stem}.", suffix=self.path.suffix)
        os.close(handle)
        os.unlink(name)  # writers such as Keras refuse or append to an existing file
        self.temporary = pathlib.Path(name)
        return self.temporary

    def __exit__(self, kind, error, traceback):
        if kind is None:
            os.replace(self.temporary, self.path)
        elif self.temporary.exists():
            self.temporary.unlink()
        return False
