"""The run-folder owner (`protkit.runs`): refuse, overwrite, resume by identity, streamed outputs."""

import json

import pytest

from protkit.runs import PartialOutput, RunFolder, changed_settings, check_output_file


def _user_file(folder):
    folder.mkdir(parents=True)
    (folder / "mine.txt").write_text("user data")


def test_a_non_empty_folder_is_refused_and_overwrite_replaces_it(tmp_path):
    _user_file(tmp_path / "run")
    for resume in ("never", "interrupted", "always"):
        with pytest.raises(FileExistsError, match="pass overwrite=True"):
            RunFolder.open(tmp_path / "run", {"seed": 0}, resume=resume)
    assert (tmp_path / "run" / "mine.txt").read_text() == "user data"
    folder = RunFolder.open(tmp_path / "run", {"seed": 0}, overwrite=True)
    assert not folder.resumed and list(folder.path.iterdir()) == []
    (tmp_path / "file").write_text("x")
    with pytest.raises(FileExistsError, match="not a folder"):
        RunFolder.open(tmp_path / "file")


def test_an_interrupted_run_resumes_only_with_the_same_identity(tmp_path):
    identity = {"model": "cnn", "image_size": (32, 32), "loss": "auto", "augment": "classical"}
    first = RunFolder.open(tmp_path / "run", identity, resume="interrupted")
    first.write_stamp("running")
    again = RunFolder.open(tmp_path / "run", dict(identity), resume="interrupted")
    assert again.resumed  # tuples and lists compare as they read back from JSON
    with pytest.raises(FileExistsError, match=r"different settings \(loss, augment\)"):
        RunFolder.open(tmp_path / "run", dict(identity, loss="focal", augment="none"), resume="interrupted")
    first.write_stamp("complete")
    with pytest.raises(FileExistsError, match="finished run"):
        RunFolder.open(tmp_path / "run", identity, resume="interrupted")
    assert RunFolder.open(tmp_path / "run", identity, resume="always").resumed  # e.g. finished CV folds reload
    assert not RunFolder.is_interrupted(tmp_path / "run")
    assert json.loads((tmp_path / "run" / "config.json").read_text())["status"] == "complete"


def test_changed_settings_names_every_difference():
    assert changed_settings({"a": [1, 2], "b": 1}, {"a": (1, 2), "b": 2, "c": None}) == ["b"]


def test_folder_writes_are_atomic_and_land_inside(tmp_path):
    import pandas as pd

    folder = RunFolder.open(tmp_path / "run")
    folder.write_json("metrics.json", {"a": 1})
    folder.write_text("report.md", "# r\n")
    folder.write_table("table.csv", pd.DataFrame({"x": [1, 2]}), index=False)
    assert sorted(p.name for p in folder.path.iterdir()) == ["metrics.json", "report.md", "table.csv"]
    with pytest.raises(ValueError):
        folder.write_json("metrics.json", {"a": float("nan")})
    assert json.loads((folder / "metrics.json").read_text()) == {"a": 1}


def test_check_output_file_refuses_before_work(tmp_path):
    target = tmp_path / "metrics.json"
    assert check_output_file(target) == target
    target.write_text("{}")
    with pytest.raises(FileExistsError, match="pass overwrite=True"):
        check_output_file(target)
    assert check_output_file(target, overwrite=True) == target


def test_partial_output_resumes_after_the_last_complete_row(tmp_path):
    header = ["id", "value"]
    identity = {"run": "r", "data": "d"}
    output = PartialOutput(tmp_path / "out.csv", identity, header)
    with output.open() as stream:
        stream.write("a,1\nb,2\nc,")  # killed mid-row
    again = PartialOutput(tmp_path / "out.csv", identity, header)
    assert again.done == {"a", "b"}  # the cut-off row is dropped
    assert again.partial.read_text() == "id,value\na,1\nb,2\n"
    with pytest.raises(FileExistsError, match="another run or other data"):
        PartialOutput(tmp_path / "out.csv", {"run": "other", "data": "d"}, header)
    with again.open() as stream:
        stream.write("c,3\n")
    assert again.finish().read_text() == "id,value\na,1\nb,2\nc,3\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out.csv"]
    with pytest.raises(FileExistsError, match="exists"):
        PartialOutput(tmp_path / "out.csv", identity, header)
    fresh = PartialOutput(tmp_path / "out.csv", identity, header, overwrite=True)
    assert fresh.done == set()
