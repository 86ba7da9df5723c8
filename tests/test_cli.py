import json

import numpy as np
import pytest

from conftest import HEP2, HPA, IFC, requires, write_png
from protkit.cli import main


def run(capsys, *argv):
    code = main([str(a) for a in argv])
    out, err = capsys.readouterr()
    return code, out, err


def test_inspect_class_folder(capsys, class_folder):
    code, out, _ = run(capsys, "datasets", "inspect", class_folder)
    assert code == 0
    assert "items:    6" in out and "alpha  3" in out and "beta   3" in out
    assert "uint8 (6)" in out and "16x16x1 (6)" in out and "problems: none found" in out


def test_inspect_reports_problems_instead_of_crashing(capsys, tmp_path):
    write_png(tmp_path / "a" / "ok.png", np.zeros((8, 8), np.uint8))
    write_png(tmp_path / "a" / "big.png", np.zeros((9, 8), np.uint8))
    (tmp_path / "a" / "broken.png").write_bytes(b"xx")
    code, out, _ = run(capsys, "datasets", "inspect", tmp_path, "--json")
    summary = json.loads(out)
    assert code == 1 and summary["items"] == 3  # problems found: a non-zero exit a script can test
    assert any("broken.png" in p for p in summary["problems"])
    assert any("mixed image sizes" in p for p in summary["problems"])


def test_clear_error_and_exit_code(capsys, tmp_path):
    (tmp_path / "empty").mkdir()
    code, _, err = run(capsys, "datasets", "inspect", tmp_path / "empty", "--channels", "a,b")
    assert code == 0  # inspect reports an empty folder rather than failing
    code, _, err = run(capsys, "datasets", "inspect", tmp_path / "missing")
    assert code == 2 and "missing: folder not found" in err


@requires(HEP2)
def test_inspect_hep2(capsys):
    code, out, _ = run(capsys, "datasets", "inspect", HEP2 / "training", "--labels", HEP2 / "training_labels.csv",
                       "--id-column", "Image ID", "--label-column", "Image class", "--pattern", "{id:05d}.png", "--json")
    summary = json.loads(out)
    assert summary["items"] == 8701 and summary["classes"]["Golgi"] == 449 and summary["classes"]["Speckled"] == 1800
    assert summary["dtypes"] == {"uint8": 8701} and summary["image_sizes"] == {"78x78x1": 8701}
    assert summary["problems"] == []


@requires(IFC)
def test_inspect_ifc_with_channels_and_groups(capsys):
    code, out, _ = run(capsys, "datasets", "inspect", IFC, "--channels", "Ch3,Ch4,Ch6",
                       "--group-by", r"regex:^(CP\d+)_", "--json")
    summary = json.loads(out)
    assert summary["items"] == 2734 and summary["classes"]["Anaphase"] == 12
    assert summary["channels"] == ["Ch3", "Ch4", "Ch6"] and summary["dtypes"] == {"uint16": 2734}
    assert max(high for _, high in summary["value_range"].values()) > 255
    assert summary["groups"]["count"] == 3


@requires(HPA)
def test_inspect_hpa_counts_rows_and_explains_missing_channels(capsys):
    code, out, _ = run(capsys, "datasets", "inspect", HPA / "train_sample", "--labels", HPA / "train.csv",
                       "--channels", "red,green,blue,yellow", "--class-names", "hpa", "--skip-bad")
    assert code == 0
    assert "csv rows: 31072" in out and "classes:  28" in out
    assert "Nucleoplasm                    0 / 12885" in out
    assert "30872  N of N channel files" in out  # ids with no file at all
    code, out, _ = run(capsys, "datasets", "inspect", HPA / "train_sample", "--labels", HPA / "train.csv",
                       "--channels", "red,green,blue,yellow")
    assert code == 1 and "training on this data would stop at these 31072 item(s)" in out


def test_group_by_spec_errors(capsys, class_folder):
    with pytest.raises(SystemExit, match="column:NAME"):
        main(["datasets", "inspect", str(class_folder), "--group-by", "specimen"])
