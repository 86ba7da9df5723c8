"""Cross-validation (folds, grouping, resume, GAN arm) and the statistics, checked against SciPy."""

import math

import numpy as np
import pytest
from scipy import stats

from protkit import evaluation
from protkit.data import Dataset
from protkit.evaluation import compare, confidence_interval, cross_validate, mcnemar, paired_tests, summarize

TINY = dict(model="cnn", image_size=16, epochs=1, batch_size=8, augment=False,
            model_kwargs={"filters": (4,), "hidden_units": 4})


def _squares(n=36, groups=False, seed=0):
    rng = np.random.default_rng(seed)
    labels = np.arange(n) % 3
    images = rng.random((n, 16, 16, 1)).astype(np.float32) * 0.2
    for i, label in enumerate(labels):
        images[i, 4 * label:4 * label + 6, 4:12, 0] += 0.8
    return Dataset.from_arrays(images, labels=labels, class_names=["a", "b", "c"],
                               groups=(np.arange(n) // 4) if groups else None)


def test_paired_tests_agree_with_scipy():
    a = np.array([0.81, 0.84, 0.79, 0.88, 0.83])
    b = np.array([0.78, 0.80, 0.80, 0.83, 0.79])
    result = paired_tests(a, b)
    t = stats.ttest_rel(a, b)
    w = stats.wilcoxon(a, b)
    assert result["t_statistic"] == pytest.approx(t.statistic) and result["t_pvalue"] == pytest.approx(t.pvalue)
    assert result["wilcoxon_statistic"] == pytest.approx(w.statistic)
    assert result["wilcoxon_pvalue"] == pytest.approx(w.pvalue)
    assert result["mean_difference"] == pytest.approx(0.03)
    same = paired_tests(a, a)
    assert math.isnan(same["t_pvalue"]) and math.isnan(same["wilcoxon_pvalue"])
    with pytest.raises(ValueError, match="equal-length"):
        paired_tests(a, b[:3])


def test_mcnemar_exact_and_chi_square():
    y = np.zeros(40, int)
    a = np.r_[np.zeros(30, int), np.ones(10, int)]  # a wrong on the last 10
    b = np.r_[np.ones(3, int), np.zeros(37, int)]  # b wrong on the first 3
    result = mcnemar(y, a, b)
    assert (result["only_a_right"], result["only_b_right"]) == (3, 10) and result["exact"]
    assert result["p_value"] == pytest.approx(stats.binomtest(3, 13, 0.5).pvalue)
    chi = mcnemar(y, a, b, exact=False)
    assert chi["statistic"] == pytest.approx((abs(3 - 10) - 1) ** 2 / 13)
    assert chi["p_value"] == pytest.approx(stats.chi2.sf(36 / 13, 1))
    rows = np.array([[1, 0], [1, 1], [0, 1]])
    multi = mcnemar(rows, np.array([[1, 0], [1, 0], [0, 1]]), rows)
    assert (multi["only_a_right"], multi["only_b_right"]) == (0, 1)
    assert mcnemar(y, a, a)["p_value"] == 1.0


def test_confidence_interval_and_summary():
    values = np.array([0.7, 0.75, 0.8, 0.72])
    low, high = confidence_interval(values)
    expected = stats.t.interval(0.95, 3, loc=values.mean(), scale=stats.sem(values))
    assert (low, high) == pytest.approx(expected)
    import pandas as pd

    table = summarize(pd.DataFrame({"fold": range(4), "balanced_accuracy": values, "n_test": 10}))
    assert list(table.index) == ["balanced_accuracy"]
    assert table.loc["balanced_accuracy", "std"] == pytest.approx(values.std(ddof=1))


def test_cross_validate_folds_cover_the_data_once(tmp_path):
    dataset = _squares()
    result = cross_validate(dataset, k=3, out=tmp_path / "cv", progress=False, **TINY)
    tested = np.concatenate([p["test_indices"] for p in result.predictions])
    assert sorted(tested.tolist()) == list(range(len(dataset)))  # disjoint and covering
    for prediction in result.predictions:  # stratified: every class in every test fold, equally
        assert np.bincount(dataset.labels[prediction["test_indices"]], minlength=3).tolist() == [4, 4, 4]
    assert list(result.folds.fold) == [0, 1, 2]
    assert {"balanced_accuracy", "accuracy", "macro_f1", "recall:a", "minutes"} <= set(result.folds.columns)
    assert (result.folds.n_train == 24).all() and (result.folds.n_test == 12).all()
    assert {"mean", "ci_low", "ci_high"} <= set(result.summary.columns)
    assert (tmp_path / "cv" / "folds.csv").exists() and (tmp_path / "cv" / "summary.csv").exists()
    order, y_true, probabilities = result.pooled_predictions()
    assert order.tolist() == list(range(36)) and probabilities.shape == (36, 3)
    np.testing.assert_array_equal(y_true, dataset.labels)


def test_grouped_folds_never_split_a_group():
    dataset = _squares(groups=True)
    result = cross_validate(dataset, k=3, progress=False, **TINY)
    fold_of = {}
    for fold, prediction in enumerate(result.predictions):
        for group in dataset.groups[prediction["test_indices"]]:
            assert fold_of.setdefault(group, fold) == fold
    assert "grouped" in result.protocol["folds"]


def test_interrupted_cross_validation_resumes(tmp_path, monkeypatch):
    import keras

    dataset = _squares()
    calls = []
    real_run_fold = evaluation._run_fold

    def counting(*args, **kwargs):
        calls.append(args[1])
        return real_run_fold(*args, **kwargs)

    class Crash(keras.callbacks.Callback):
        def on_train_begin(self, logs=None):
            if len(calls) == 2:
                raise KeyboardInterrupt("simulated interruption in fold 2")

    monkeypatch.setattr(evaluation, "_run_fold", counting)
    with pytest.raises(KeyboardInterrupt):
        cross_validate(dataset, k=3, out=tmp_path / "cv", progress=False, callbacks=[Crash()], **TINY)
    assert calls == [0, 1] and (tmp_path / "cv" / "fold_0.npz").exists()
    assert not (tmp_path / "cv" / "fold_1.npz").exists()
    first = cross_validate(dataset, k=3, out=tmp_path / "cv", progress=False, **TINY)
    assert calls == [0, 1, 1, 2]  # fold 0 was not trained again
    again = cross_validate(dataset, k=3, out=tmp_path / "cv", progress=False, **TINY)
    assert calls == [0, 1, 1, 2]
    np.testing.assert_allclose(again.folds.balanced_accuracy, first.folds.balanced_accuracy)
    with pytest.raises(FileExistsError, match="other settings"):
        cross_validate(dataset, k=3, out=tmp_path / "cv", progress=False, **dict(TINY, epochs=2))


def test_gan_arm_balances_training_folds_only():
    rng = np.random.default_rng(0)
    labels = np.r_[np.zeros(24, int), np.ones(9, int)]
    images = rng.random((33, 32, 32, 1)).astype(np.float32)
    dataset = Dataset.from_arrays(images, labels=labels, class_names=["common", "rare"])
    result = cross_validate(dataset, k=3, progress=False, normalization="fixed",
                            gan={"epochs": 1, "batch_size": 8, "latent_dim": 8, "generator_filters": 32,
                                 "discriminator_filters": 8},
                            **dict(TINY, image_size=32))
    assert (result.folds.n_synthetic == 10).all()  # 16 common vs 6 rare per training fold
    assert (result.folds.n_test == 11).all()
    assert "test folds real" in result.protocol["gan"]
    with pytest.raises(ValueError, match="real items only"):
        marked = Dataset.from_arrays(images, labels=labels, synthetic=np.arange(33) > 30)
        cross_validate(marked, k=3, progress=False, **TINY)


def test_compare_tests_every_model_against_the_reference():
    import pandas as pd

    def fake(values):
        table = pd.DataFrame({"fold": range(len(values)), "macro_f1": values})
        return evaluation.CVResult(table, summarize(table))

    results = {"none": fake([0.60, 0.62, 0.58, 0.61]), "classical": fake([0.66, 0.65, 0.63, 0.67]),
               "gan": fake([0.64, 0.66, 0.60, 0.65])}
    table = compare(results, "macro_f1", reference="classical")
    assert list(table.index) == ["none", "classical", "gan"]
    assert np.isnan(table.loc["classical", "t_pvalue"])
    expected = stats.ttest_rel([0.64, 0.66, 0.60, 0.65], [0.66, 0.65, 0.63, 0.67]).pvalue
    assert table.loc["gan", "t_pvalue"] == pytest.approx(expected)
    assert table.loc["none", "difference_vs_classical"] == pytest.approx(-0.05)
    with pytest.raises(ValueError, match="no per-fold column"):
        compare(results, "recall:Golgi")


def test_export_table_writes_csv_markdown_and_latex(tmp_path):
    import pandas as pd

    table = pd.DataFrame({"mean": [0.81234, 0.7], "t_pvalue": [float("nan"), 0.0312]},
                         index=pd.Index(["fast_spec_cnn", "cnn & co"], name="model"))
    paths = evaluation.export_table(table, tmp_path / "compare", caption="macro_f1, 5 folds")
    assert pd.read_csv(paths["csv"], index_col=0).loc["fast_spec_cnn", "mean"] == pytest.approx(0.81234)
    assert "| fast_spec_cnn | 0.8123 | nan |" in paths["md"].read_text()
    tex = paths["tex"].read_text()
    assert r"fast\_spec\_cnn & 0.8123 & -- \\" in tex and r"cnn \& co & 0.7000 & 0.0312 \\" in tex
    assert tex.count(r"\toprule") == 1 and r"\caption{macro\_f1, 5 folds}" in tex
    with pytest.raises(FileExistsError, match="overwrite"):
        evaluation.export_table(table, tmp_path / "compare")


def test_comparison_bars_draw_one_bar_per_model():
    import matplotlib

    matplotlib.use("Agg")
    import pandas as pd

    from protkit import plots

    table = pd.DataFrame({"mean": [0.8, 0.7], "ci_low": [0.75, 0.6], "ci_high": [0.85, 0.8],
                          "t_pvalue": [float("nan"), 0.04]}, index=["a", "b"])
    figure = plots.comparison_bars(table, metric="macro_f1", reference="a")
    ax = figure.axes[0]
    assert len(ax.patches) == 2 and [t.get_text() for t in ax.texts] == ["p=0.040"]
    assert ax.get_ylabel() == "macro_f1"


_CV_SCRIPT = """
import sys
from protkit.data import Dataset
from protkit.data.synthetic import make_cells
from protkit.evaluation import cross_validate

images, labels = make_cells(90, image_size=32, seed=4)
labels = labels.argmax(axis=1) if labels.ndim == 2 else labels
result = cross_validate(Dataset.from_arrays(images, labels=labels % 3), k=2, model="cnn", image_size=32, epochs=6,
                        batch_size=8, out=sys.argv[1])
print("FOLDS", len(result.folds))
"""


def test_cross_validation_killed_mid_fold_resumes_there(tmp_path):
    import json
    import os
    import signal
    import subprocess
    import sys
    import time

    import pandas as pd

    folder = tmp_path / "cv"
    command = [sys.executable, "-c", _CV_SCRIPT, str(folder)]
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3")
    process = subprocess.Popen(command, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    history = folder / "fold_1" / "history.csv"
    deadline = time.time() + 300
    while time.time() < deadline and process.poll() is None:
        if history.exists() and len(history.read_text().strip().splitlines()) >= 3:  # header + 2 epochs of fold 2
            break
        time.sleep(0.2)
    assert process.poll() is None, process.stdout.read().decode()[-2000:]
    process.send_signal(signal.SIGKILL)  # a real kill, mid-way through the second fold
    process.wait()
    assert (folder / "fold_0.npz").exists() and not (folder / "fold_1.npz").exists()
    assert json.loads((folder / "fold_1" / "config.json").read_text())["status"] == "running"
    logged_before = len(pd.read_csv(history))

    again = subprocess.run(command, env=env, capture_output=True, text=True, timeout=300)
    assert again.returncode == 0, again.stdout[-2000:] + again.stderr[-2000:]
    assert "fold 1/2: done earlier" in again.stdout  # the finished fold is not trained again
    assert "resuming the interrupted run" in again.stdout and "FOLDS 2" in again.stdout
    epochs = pd.read_csv(history)["epoch"].tolist()
    assert epochs[-1] == 5
    resumed_from = epochs[logged_before] if len(epochs) > logged_before else 6
    assert resumed_from >= logged_before - 1  # at most one epoch of the killed fold lost
    assert len(pd.read_csv(folder / "folds.csv")) == 2
