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
    report = (out / "report.md").read_text()
    assert "Macro-F1 and exact-match accuracy are the numbers to read" in report
    # cross-validation of three models on shared folds, exported three ways, with paired tests
    comparison = pd.read_csv(out / "comparison_macro_f1.csv", index_col=0)
    assert list(comparison.index) == ["fast_spec_cnn", "fast_spec_cnn, no attention", "traditional CNN"]
    assert {"mean", "ci_low", "ci_high", "t_pvalue"} <= set(comparison.columns)
    assert (out / "comparison_macro_f1.tex").read_text().startswith("\\begin{table}")
    for name in ("comparison_macro_f1.md", "comparison_exact_match_accuracy.csv", "comparison_macro_f1.png",
                 "gradcam.png", "attention.png", "cv/fast_spec_cnn/folds.csv"):
        assert (out / name).exists(), name
    assert "## Cross-validation" in report and "![Grad-CAM](gradcam.png)" in report
    assert "![attention](attention.png)" in report  # the second kind of map, with its own sanity checks
    sanity = json.loads((out / "gradcam_sanity.json").read_text())
    assert set(sanity["attention"]) == {"randomization", "deletion", "passed"}
    capsys.readouterr()
    assert main(["demo", "--out", str(out), "--fast"]) == 2
    assert "pass --overwrite" in capsys.readouterr().err
