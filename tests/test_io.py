"""Output files: atomic writes and refusal to overwrite."""

import pytest

from protkit.runs import atomic_path, write_json, write_text


def test_atomic_path_replaces_only_on_success(tmp_path):
    target = tmp_path / "table.csv"
    target.write_text("old\n")
    with pytest.raises(RuntimeError):
        with atomic_path(target) as temporary:
            temporary.write_text("half a fi")
            raise RuntimeError("killed mid-write")
    assert target.read_text() == "old\n"  # the old file survives a failed write
    with atomic_path(target) as temporary:
        assert temporary.parent == tmp_path and temporary.suffix == ".csv" and not temporary.exists()
        temporary.write_text("new\n")
    assert target.read_text() == "new\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["table.csv"]  # no temporary file left behind


def test_write_text_and_json_leave_no_temporaries(tmp_path):
    write_text(tmp_path / "report.md", "# report\n")
    write_json(tmp_path / "metrics.json", {"a": 1})
    assert (tmp_path / "report.md").read_text() == "# report\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["metrics.json", "report.md"]
    with pytest.raises(ValueError):
        write_json(tmp_path / "metrics.json", {"a": float("nan")})  # invalid JSON is refused
    assert (tmp_path / "metrics.json").read_text().strip().startswith("{")


def test_epoch_backup_holds_complete_files_and_resumes(tmp_path):
    import json

    import keras
    import numpy as np

    from protkit.callbacks import EpochBackup

    class Crash(keras.callbacks.Callback):
        def on_epoch_begin(self, epoch, logs=None):
            if epoch == 2:
                raise KeyboardInterrupt("killed")

    def model():
        keras.utils.set_random_seed(0)
        net = keras.Sequential([keras.Input((3,)), keras.layers.Dense(2)])
        net.compile(optimizer="adam", loss="mse")
        return net

    x, y = np.ones((8, 3), np.float32), np.zeros((8, 2), np.float32)
    backup = tmp_path / "backup"
    with pytest.raises(KeyboardInterrupt):
        model().fit(x, y, epochs=5, verbose=0, callbacks=[EpochBackup(str(backup)), Crash()])
    assert sorted(p.name for p in backup.iterdir()) == ["latest.weights.h5", "training_metadata.json"]
    assert json.loads((backup / "training_metadata.json").read_text())["epoch"] == 2
    history = model().fit(x, y, epochs=5, verbose=0, callbacks=[EpochBackup(str(backup))])
    assert len(history.history["loss"]) == 3  # epochs 3-5 only: the two finished ones are not redone
    assert not backup.exists() or not any(backup.iterdir())  # a finished run removes its backup


def test_map_items_keeps_order_and_takes_threads_only_for_slow_reads():
    import threading
    import time

    from protkit.data.checks import map_items

    def where(item):
        return item, threading.current_thread().name

    fast = map_items(where, range(2000))
    assert [item for item, _ in fast] == list(range(2000))
    assert {name for _, name in fast} == {threading.current_thread().name}  # tiny work: no pool

    def slow(item):  # a read that waits on the disk
        time.sleep(0.0005)
        return where(item)

    waited = map_items(slow, range(600))
    assert [item for item, _ in waited] == list(range(600))
    assert len({name for _, name in waited}) > 1  # the rest went to the pool
    assert [item for item, _ in map_items(where, range(700), max_workers=3)] == list(range(700))
