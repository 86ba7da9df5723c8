"""The README's main job runs end to end (fast mode) and writes its report."""

import json

import pandas as pd

from protkit.cli import main


def test_demo_fast_writes_report_and_refuses_to_overwrite(tmp_path, capsys):
    out = tmp_path / "demo"
    assert main(["demo", "--out", str(out), "--fast"]) == 0
    for name in ("report.md", "accuracy_trap.csv", "dataset.json", "class_balance.png", "samples.png",
                 "data/train.csv", "run/model.keras", "run/metrics.json", "run/config.json"):
        assert (out / name).exists(), name
    trap = pd.read_csv(out / "accuracy_trap.csv", index_col=0)
    assert list(trap.index) == ["model", "all-negative baseline", "most-frequent-labels baseline"]
    assert trap.loc["all-negative baseline", "macro_f1"] == 0
    assert trap.loc["all-negative baseline", "elementwise_accuracy"] > 0.7  # the trap
    metrics = json.loads((out / "run" / "metrics.json").read_text())
    assert {"macro_f1", "exact_match_accuracy", "elementwise_accuracy"} <= set(metrics["test"])
    assert "Macro-F1 and exact-match accuracy are the numbers to read" in (out / "report.md").read_text()
    capsys.readouterr()
    assert main(["demo", "--out", str(out), "--fast"]) == 2
    assert "pass --overwrite" in capsys.readouterr().err
