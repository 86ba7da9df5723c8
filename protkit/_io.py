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
