"""What a new user sees first: a quick --help, no TensorFlow chatter, plain text when redirected."""

import subprocess
import sys

import numpy as np

from conftest import write_png


def _protkit(*args, cwd=None, timeout=600):
    code = "import sys; from protkit.cli import main; sys.exit(main(sys.argv[1:]))"
    return subprocess.run([sys.executable, "-c", code, *args], capture_output=True, text=True, cwd=cwd,
                          timeout=timeout)


def test_help_and_argument_errors_do_not_load_tensorflow():
    code = ("import sys; from protkit.cli import build_parser\n"
            "for argv in (['--help'], ['train', '--help'], ['train']):\n"
            "    try:\n"
            "        build_parser().parse_args(argv)\n"
            "    except SystemExit:\n"
            "        pass\n"
            "assert 'tensorflow' not in sys.modules and 'keras' not in sys.modules, 'TensorFlow loaded'\n"
            "print('ok')")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert result.stdout.strip().endswith("ok"), result.stderr[-2000:]


def _two_class_folder(root):
    rng = np.random.default_rng(0)
    for name, level in (("dim", 40), ("bright", 200)):
        for i in range(12):
            write_png(root / name / f"c{i}.png", np.clip(rng.normal(level, 20, (16, 16)), 0, 255).astype(np.uint8))
    return root


def test_a_default_run_prints_no_tensorflow_lines_and_no_escape_codes(tmp_path):
    data = _two_class_folder(tmp_path / "cells")
    result = _protkit("train", str(data), "--model", "cnn", "--epochs", "2", "--image-size", "16",
                      "--out", str(tmp_path / "run"))
    assert result.returncode == 0, result.stderr[-3000:]
    for marker in ("I0000", "E0000", "W0000", "absl::InitializeLog", "cuda", "oneDNN"):
        assert marker not in result.stderr and marker not in result.stdout, marker
    assert "\x1b[" not in result.stdout and "\r" not in result.stdout  # redirected: one plain line per epoch
    assert "Epoch 2/2" in result.stdout and "validation figures" in result.stdout
    verbose = _protkit("evaluate", str(tmp_path / "run"), str(data), "--verbose")
    assert verbose.returncode == 0, verbose.stderr[-3000:]
    assert "I0000" in verbose.stderr or "WARNING" in verbose.stderr  # --verbose shows TensorFlow's own lines


def test_cli_messages_use_cli_spelling(tmp_path):
    data = _two_class_folder(tmp_path / "cells")
    (tmp_path / "run").mkdir()
    (tmp_path / "run" / "mine.txt").write_text("x")
    result = _protkit("train", str(data), "--model", "cnn", "--epochs", "1", "--out", str(tmp_path / "run"))
    assert result.returncode == 2
    assert "--overwrite" in result.stderr and "overwrite=True" not in result.stderr
    named = _protkit("train", str(data), "--model", "plcnn", "--preset", "paper", "--out", str(tmp_path / "r2"))
    assert named.returncode == 2 and "has no preset 'paper'" in named.stderr
    assert not (tmp_path / "r2").exists()


def test_per_channel_files_without_channels_are_refused_with_the_cli_fix(tmp_path, capsys):
    from conftest import write_tiff
    from protkit.cli import main

    rng = np.random.default_rng(0)
    for name in ("G1", "M"):
        for i in range(4):
            for channel in ("Ch3", "Ch4"):
                write_tiff(tmp_path / "ifc" / name / f"c{i}_{channel}.tif", rng.integers(0, 4000, (8, 8), np.uint16))
    assert main(["datasets", "inspect", str(tmp_path / "ifc")]) == 2
    error = capsys.readouterr().err
    assert "--channels Ch3,Ch4" in error and "--one-file-per-item" in error and "detect_channels" not in error
    assert main(["datasets", "inspect", str(tmp_path / "ifc"), "--one-file-per-item", "--json"]) == 0
    assert '"items": 16' in capsys.readouterr().out  # asked for: every file its own item
    assert main(["datasets", "inspect", str(tmp_path / "ifc"), "--channels", "Ch3,Ch4", "--json"]) == 0
    assert '"items": 8' in capsys.readouterr().out
