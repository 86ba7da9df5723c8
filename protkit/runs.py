"""Run folders and output files: the one owner of create, refuse, overwrite, resume and atomic writes.

Messages name the Python argument (``overwrite=True``); the command line shows its own
spelling (``--overwrite``). Every command that writes (train, cross-validation, cluster, demo, predict, evaluate, table
export) goes through this module, so they all follow one contract:

- a folder or file that exists is never replaced unless the caller asked (``overwrite``);
- a folder that an interrupted call left behind is recognised by its *stamp* (a JSON file
  holding the call's identity: every setting that shapes the result) and resumed only when the
  new call's identity is the same; otherwise the message names the settings that differ;
- files are written to a temporary name and renamed, so a killed process leaves the old file
  or the new one, never half of one.

>>> folder = RunFolder.open("runs/x", {"model": "cnn", "seed": 0}, resume="interrupted")  # doctest: +SKIP
>>> folder.resumed  # doctest: +SKIP
False
"""

from __future__ import annotations

import json
import os
import pathlib
import shutil
import tempfile

RESUME_MODES = ("never", "interrupted", "always")


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


def jsonable(value):
    """``value`` as it reads back from JSON (tuples become lists, unknown objects their ``str``)."""
    return json.loads(json.dumps(value, default=str))


def changed_settings(previous, identity):
    """Names of the settings of ``identity`` whose values differ in ``previous`` (both dicts)."""
    return [key for key, value in jsonable(identity).items() if previous.get(key) != value]


def check_output_file(path, overwrite=False):
    """Refuse an existing output file before any work is done (FileExistsError naming it)."""
    path = pathlib.Path(path)
    if path.exists() and not overwrite:
        raise FileExistsError(f"{path}: exists; pass overwrite=True to replace it")
    return path


class RunFolder:
    """A run's output folder, opened under the contract in the module docstring.

    Attributes:
        path: the folder.
        identity: the settings that make a call the same call (JSON-ready), or None.
        stamp: the name of the JSON file inside ``path`` that records identity and status.
        resumed: True when an interrupted call with the same identity left this folder.
    """

    def __init__(self, path, identity=None, stamp="config.json", resumed=False):
        self.path = pathlib.Path(path)
        self.identity = None if identity is None else jsonable(identity)
        self.stamp = stamp
        self.resumed = resumed

    @classmethod
    def open(cls, path, identity=None, *, overwrite=False, stamp="config.json", resume="never"):
        """Create ``path``, or take up the run an earlier call left in it.

        Args:
            path: the folder.
            identity: a dict of every setting that shapes the result (needed to resume).
            overwrite: remove whatever the folder holds and start again.
            stamp: the JSON file in the folder that records ``identity`` and a ``status``.
            resume: "never" (a non-empty folder is refused), "interrupted" (a folder whose stamp
                says ``"status": "running"`` with the same identity is resumed; a finished run
                is refused) or "always" (a folder with the same identity is taken up whatever
                its status: finished parts are reused, as cross-validation folds are).

        Raises:
            FileExistsError: the folder holds other files, a finished run, or a run of other
                settings (the message names them).
        """
        if resume not in RESUME_MODES:
            raise ValueError(f"resume must be one of {RESUME_MODES}. Received: resume={resume!r}")
        path = pathlib.Path(path)
        if path.exists() and not path.is_dir():
            raise FileExistsError(f"{path}: exists and is not a folder")
        if path.exists() and any(path.iterdir()):
            if overwrite:
                shutil.rmtree(path)
            else:
                cls._check_resumable(path, identity, stamp, resume)
                return cls(path, identity, stamp, resumed=True)
        path.mkdir(parents=True, exist_ok=True)
        return cls(path, identity, stamp)

    @staticmethod
    def is_interrupted(path, stamp="config.json"):
        """True if ``path`` holds a run whose stamp says it is still running (it was cut off)."""
        stamp_path = pathlib.Path(path) / stamp
        return stamp_path.is_file() and json.loads(stamp_path.read_text()).get("status") == "running"

    @staticmethod
    def _check_resumable(path, identity, stamp, resume):
        if resume == "never":
            raise FileExistsError(f"{path}: folder exists and is not empty; pass overwrite=True to "
                                  f"replace it")
        stamp_path = path / stamp
        previous = json.loads(stamp_path.read_text()) if stamp_path.is_file() else None
        if previous is None or (resume == "interrupted" and previous.get("status") != "running"):
            raise FileExistsError(f"{path}: folder exists and holds a finished run or other files; "
                                  f"pass overwrite=True to replace it")
        changed = changed_settings(previous, identity or {})
        if changed:
            what = "an interrupted run with different settings" if resume == "interrupted" else \
                "results of other settings"
            raise FileExistsError(f"{path}: holds {what} ({', '.join(changed)}); use another folder or "
                                  f"overwrite=True")

    def __truediv__(self, name):
        return self.path / name

    def write_stamp(self, status, **extra):
        """Write the stamp: the identity, ``status`` ("running" or "complete") and ``extra`` keys."""
        return write_json(self.path / self.stamp, dict(self.identity or {}, status=status, **extra))

    def write_json(self, name, data):
        """Write ``name`` inside the folder as JSON, atomically."""
        return write_json(self.path / name, data)

    def write_text(self, name, text):
        """Write ``name`` inside the folder as text, atomically."""
        return write_text(self.path / name, text)

    def write_table(self, name, frame, **to_csv):
        """Write a pandas DataFrame as ``name`` (CSV) inside the folder, atomically."""
        with atomic_path(self.path / name) as temporary:
            frame.to_csv(temporary, **to_csv)
        return self.path / name

    def save_model(self, name, model):
        """Save a Keras model as ``name`` inside the folder, atomically."""
        with atomic_path(self.path / name) as temporary:
            model.save(temporary)
        return self.path / name


class PartialOutput:
    """A streamed output file that an interrupted call leaves as ``<name>.partial`` and resumes.

    Rows go to ``<path>.partial``; a stamp ``<path>.partial.json`` records the call's identity.
    The same call again continues after the last complete row; another identity is refused;
    ``overwrite`` starts again. `finish` gives the file its final name.

    Args:
        path: the final output file (refused if it exists, unless ``overwrite``).
        identity: a dict that makes a call the same call (run, data, header).
        header: the CSV header row the partial file must start with.
        overwrite: replace ``path`` and discard an interrupted partial file.
    """

    def __init__(self, path, identity, header, overwrite=False):
        self.path = check_output_file(path, overwrite)
        self.partial = self.path.with_name(self.path.name + ".partial")
        self.stamp = self.path.with_name(self.path.name + ".partial.json")
        self.identity = jsonable(identity)
        self.header = list(header)
        if overwrite:
            self.discard()
        self.done = self._complete_rows() if self.partial.exists() else set()

    def _complete_rows(self):
        """Ids (first column) of the complete rows of the partial file; a cut-off last line is removed."""
        import csv

        previous = json.loads(self.stamp.read_text()) if self.stamp.exists() else None
        if previous != self.identity:
            raise FileExistsError(f"{self.partial}: an interrupted prediction of another run or other data; pass "
                                  f"overwrite=True to start again")
        with open(self.partial, "rb+") as stream:
            data = stream.read()
            end = data.rfind(b"\n") + 1
            if end < len(data):
                stream.truncate(end)
        lines = data[:end].decode("utf-8").splitlines()
        if not lines or next(csv.reader(lines[:1])) != self.header:
            raise FileExistsError(f"{self.partial}: does not start with the expected header; pass overwrite=True "
                                  f"to start again")
        return {row[0] for row in csv.reader(lines[1:]) if row}

    def open(self):
        """The partial file, opened for appending rows (the header and stamp written on a fresh start)."""
        import csv

        self.path.parent.mkdir(parents=True, exist_ok=True)
        if self.done:
            return open(self.partial, "a", newline="")
        write_json(self.stamp, self.identity)
        stream = open(self.partial, "w", newline="")
        csv.writer(stream).writerow(self.header)
        return stream

    def finish(self):
        """Give the complete file its final name and remove the stamp."""
        os.replace(self.partial, self.path)
        self.stamp.unlink(missing_ok=True)
        return self.path

    def discard(self):
        """Remove the partial file and its stamp."""
        self.partial.unlink(missing_ok=True)
        self.stamp.unlink(missing_ok=True)
