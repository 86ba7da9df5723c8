"""Training, evaluation and prediction end to end: API and CLI, synthetic and real data."""

import json
import os
import signal
import subprocess
import sys
import time

import numpy as np
import pandas as pd
import pytest

from conftest import HEP2, IFC, requires, single_class_cells
from protkit.cli import main
from protkit.data import Dataset
from protkit.data.synthetic import HPA_CHANNEL_COLORS, SYNTHETIC_CLASSES, make_cells, write_hpa_layout
from protkit.metrics import decide_labels
from protkit.training import balanced_class_weight, train


@pytest.fixture(scope="module")
def synthetic_folder(tmp_path_factory):
    images, labels = make_cells(96, image_size=32, seed=3)
    folder = tmp_path_factory.mktemp("synthetic") / "hpa"
    write_hpa_layout(images, labels, folder, class_names=SYNTHETIC_CLASSES)
    (folder / "classes.txt").write_text("\n".join(SYNTHETIC_CLASSES) + "\n")
    return folder


def _hpa_args(folder):
    return [str(folder), "--labels", str(folder / "train.csv"), "--channels", ",".join(HPA_CHANNEL_COLORS),
            "--class-names", str(folder / "classes.txt")]


def test_train_api_without_run_dir_single_label():
    rng = np.random.default_rng(0)
    images = rng.random((40, 16, 16, 2)).astype(np.float32)
    labels = np.arange(40) % 2
    images[labels == 1, 4:12, 4:12, 0] += 2.0  # a learnable bright square
    ds = Dataset.from_arrays(images, labels=labels, class_names=["dim", "bright"])
    result = train(ds, model="cnn", epochs=2, image_size=16, batch_size=8, verbose=0,
                   model_kwargs={"filters": (8,), "hidden_units": 8})
    assert result.run_dir is None
    assert {"loss", "val_balanced_accuracy", "val_macro_f1"} <= set(result.history)
    assert set(result.metrics["validation"]) >= {"accuracy", "balanced_accuracy", "macro_f1", "confusion_matrix"}
    assert "stratified" in result.metrics["protocol"]["split"]


def test_keep_best_restores_the_best_epochs_weights():
    import keras

    from protkit.callbacks import KeepBest

    model = keras.Sequential([keras.Input((3,)), keras.layers.Dense(2)])
    keeper = KeepBest("val_score")
    keeper.set_model(model)
    keeper.on_train_begin()
    kept = None
    for epoch, score in enumerate([0.2, 0.7, float("nan"), 0.5]):
        model.set_weights([np.full_like(w, epoch) for w in model.get_weights()])
        keeper.on_epoch_end(epoch, {"val_score": score})
        if epoch == 1:
            kept = [np.array(w) for w in model.get_weights()]
    keeper.on_train_end()
    assert keeper.best_epoch == 1 and keeper.best == pytest.approx(0.7)
    assert all(np.array_equal(a, b) for a, b in zip(model.get_weights(), kept))  # not the last epoch's


def test_the_recipe_keeps_the_best_epoch_and_records_its_choices(tmp_path):
    from protkit.inference import load_run

    rng = np.random.default_rng(0)
    images = rng.random((48, 20, 20, 1)).astype(np.float32)
    labels = np.arange(48) % 2
    images[labels == 1, 6:14, 6:14, 0] += 1.0
    dataset = Dataset.from_arrays(images, labels=labels, class_names=["dim", "bright"])
    result = train(dataset, epochs=4, out=tmp_path / "run", verbose=0, model_kwargs={"stages": (1, 1), "width": 4})
    config = json.loads((tmp_path / "run" / "config.json").read_text())
    assert (config["model"], config["preset"], config["image_size"], config["tta"]) == ("resnet", "small", [24, 24],
                                                                                       "dihedral")
    assert config["lr_schedule"] == "warmup_cosine" and config["label_smoothing"] == 0.1
    assert config["class_weight"] == "balanced" and config["keep"] == "best"
    assert config["recipe_choices"]["image_size"].startswith("24 px")
    from protkit.data import load_images

    validation = load_images(dataset, result.split["validation"], image_size=24, normalizer=result.normalizer)
    assert np.allclose(result.predict(validation), result.probabilities["validation"], atol=1e-5)  # TTA + temperature
    history = result.history["val_balanced_accuracy"]
    assert config["kept_epoch"] == int(np.nanargmax(history)) + 1
    assert "kept_epoch" in result.metrics["protocol"]
    import keras

    saved, best = load_run(tmp_path / "run").model, keras.saving.load_model(tmp_path / "run" / "best.keras")
    assert all(np.array_equal(a, b) for a, b in zip(saved.get_weights(), best.get_weights()))  # the best epoch


LEARNABLE = ("Nucleoli", "Plasma membrane", "Mitochondria")


@pytest.mark.backend_neutral
def test_training_on_learnable_cells_beats_chance():
    """Three localizations of the synthetic cells, 80 of each: the trained model must have learned them.

    Validation balanced accuracy measured over 20 seeds: 0.98-1.0. A model that learns nothing scores
    0.19-0.42 (labels shuffled, 10 seeds) or 0.15-0.52 (learning rate 0, 6 seeds); chance is 1/3.
    """
    images = np.concatenate([single_class_cells(name, 80, seed=c) for c, name in enumerate(LEARNABLE)])
    labels = np.repeat(np.arange(len(LEARNABLE)), 80)
    dataset = Dataset.from_arrays(images, labels=labels, class_names=list(LEARNABLE))
    # Batches of 8 and 25 epochs: enough steps for the batch-norm statistics the model predicts with.
    result = train(dataset, model="cnn", image_size=32, epochs=25, batch_size=8, learning_rate=3e-3,
                   lr_schedule="cosine", augment=False, seed=0, verbose=0,
                   model_kwargs={"filters": (8, 16), "hidden_units": 16})
    validation = result.metrics["validation"]
    chance = 1 / len(LEARNABLE)
    assert validation["balanced_accuracy"] >= chance + 0.4, validation["confusion_matrix"]


def _tiny_dataset():
    rng = np.random.default_rng(1)
    images = rng.random((32, 12, 12, 1)).astype(np.float32)
    labels = np.arange(32) % 2
    images[labels == 1, 3:9, 3:9, 0] += 2.0
    return Dataset.from_arrays(images, labels=labels, class_names=["dim", "bright"])


TINY_CNN = {"filters": (4,), "hidden_units": 4}


def test_recompute_batch_norm_sets_the_moving_statistics_to_the_mean_of_the_batch_statistics():
    import keras

    from protkit.training import recompute_batch_norm

    inputs = keras.Input((4, 4, 3))
    frozen = keras.layers.BatchNormalization(name="frozen")
    frozen.trainable = False
    model = keras.Model(inputs, frozen(keras.layers.BatchNormalization(name="bn")(inputs)))
    rng = np.random.default_rng(0)
    batches = [rng.normal(loc=3.0 + k, scale=1.0 + k, size=(8, 4, 4, 3)).astype("float32") for k in range(3)]
    assert recompute_batch_norm(model, batches) == 1  # the frozen layer is left alone
    layer = model.get_layer("bn")
    means = [batch.mean(axis=(0, 1, 2)) for batch in batches]
    variances = [batch.var(axis=(0, 1, 2)) for batch in batches]
    np.testing.assert_allclose(np.asarray(layer.moving_mean), np.mean(means, axis=0), rtol=1e-4)
    np.testing.assert_allclose(np.asarray(layer.moving_variance), np.mean(variances, axis=0), rtol=1e-3)
    assert layer.momentum == 0.99  # restored
    np.testing.assert_array_equal(np.asarray(model.get_layer("frozen").moving_mean), 0.0)


def test_a_one_epoch_model_gets_its_batch_norm_statistics_checked_and_a_longer_one_does_not(tmp_path):
    common = dict(model="resnet", image_size=12, batch_size=8, verbose=0, augment=False,
                  model_kwargs={"stages": (1,), "width": 4}, tta="none")
    short = train(_tiny_dataset(), epochs=1, out=tmp_path / "short", **common)
    record = json.loads((tmp_path / "short" / "config.json").read_text())["batch_norm_statistics"]
    before, after = record["validation_balanced_accuracy_before"], record["validation_balanced_accuracy_after"]
    assert record["items"] == len(short.split["train"]) and record["recomputed"] == (after > before)
    final = short.metrics["validation"]["balanced_accuracy"]  # what the run's model scores, one view
    assert final == pytest.approx(after if record["recomputed"] else before)
    longer = train(_tiny_dataset(), epochs=3, keep="last", **common)
    assert longer.config["batch_norm_statistics"]["recomputed"] is False
    assert "epoch 3" in longer.config["batch_norm_statistics"]["why"]


@pytest.mark.parametrize("schedule", ["cosine", "plateau", "warmup_cosine"])
def test_learning_rate_schedules_change_the_rate(schedule):
    import keras

    seen = []

    class RecordRate(keras.callbacks.Callback):
        def on_epoch_end(self, epoch, logs=None):
            seen.append(float(keras.ops.convert_to_numpy(self.model.optimizer.learning_rate)))

    result = train(_tiny_dataset(), model="cnn", epochs=6, image_size=12, batch_size=8, verbose=0,
                   learning_rate=0.01, augment=False, lr_schedule=schedule, callbacks=[RecordRate()],
                   model_kwargs=TINY_CNN)
    assert len(seen) == 6  # the extra callback ran every epoch
    assert result.config["lr_schedule"] == schedule
    if schedule == "cosine":
        assert seen[0] < 0.01 and seen[-1] < 1e-6 and all(a > b for a, b in zip(seen, seen[1:]))
    elif schedule == "warmup_cosine":  # 6 epochs of 2 steps: warm-up over 1 step (a tenth of 12), then decay
        assert seen[0] < 0.01 and seen[-1] < 1e-6 and all(a > b for a, b in zip(seen, seen[1:]))
        assert seen[0] > 0.009  # past the warm-up after one epoch: near the peak, not at its start
    else:  # a tiny set stalls quickly: the rate is halved at least once, never below 1/64
        assert min(seen) <= 0.005 and min(seen) >= 0.01 / 64


def test_a_time_budget_plans_the_epochs_that_fit_and_the_schedule_completes_in_them(tmp_path):
    import keras

    seen = []

    class RecordRate(keras.callbacks.Callback):
        def on_epoch_end(self, epoch, logs=None):
            seen.append(float(keras.ops.convert_to_numpy(self.model.optimizer.learning_rate)))

    common = dict(model="cnn", image_size=12, batch_size=8, verbose=0, augment=False, model_kwargs=TINY_CNN,
                  lr_schedule="cosine")
    # a 15-second budget, far too short for 500 epochs: the plan cuts them, and the cosine reaches ~0 at the planned end
    short = train(_tiny_dataset(), epochs=500, time_budget=0.25, out=tmp_path / "short", callbacks=[RecordRate()],
                  **common)
    plan = short.config["budget_plan"]
    assert 1 <= plan["epochs"] < 500 and plan["cap"] == 500 and short.config["budget_epochs"] == plan["epochs"]
    assert len(seen) == plan["epochs"] and len(pd.read_csv(tmp_path / "short" / "history.csv")) == plan["epochs"]
    if plan["epochs"] > 1:
        assert seen[-1] < 1e-3 * seen[0]  # the schedule ran its whole course in the planned epochs
    assert plan["epoch_s"] > 0 and "budget" in short.config["recipe_choices"]["epochs"]
    assert json.loads((tmp_path / "short" / "config.json").read_text())["epochs"] == 500  # the identity keeps the cap
    # a generous budget keeps the cap, and the network starts as without a budget (the timing copy is separate)
    roomy = train(_tiny_dataset(), epochs=2, time_budget=30, **common)
    plain = train(_tiny_dataset(), epochs=2, **common)
    assert roomy.config["budget_epochs"] == 2
    for a, b in zip(roomy.model.get_weights(), plain.model.get_weights()):
        np.testing.assert_allclose(a, b, atol=1e-5)
    # a resumed run keeps the plan its folder recorded (no new timing: the epochs do not change mid-run)
    import dataclasses

    from protkit.recipes import TrainConfig
    from protkit.runs import RunFolder
    from protkit.training import fit_in_budget

    config = TrainConfig.create(model="cnn", epochs=500, image_size=12, time_budget=0.25)
    folder = RunFolder(tmp_path / "short", None, "config.json", resumed=True)
    kept, again = fit_in_budget(config, None, None, None, 1, 0.0, folder)  # nothing to time: no data given
    assert again == plan and kept.epochs == plan["epochs"] and dataclasses.replace(kept, epochs=500) == config
    with pytest.raises(ValueError, match="time_budget must be a number"):
        train(_tiny_dataset(), time_budget=0, **common)
    with pytest.raises(ValueError, match="dcae_mlp pretrains"):
        train(_tiny_dataset(), time_budget=1, **dict(common, model="dcae_mlp", model_kwargs=None))


def test_unknown_learning_rate_schedule_is_refused():
    with pytest.raises(ValueError, match="lr_schedule must be one of"):
        train(_tiny_dataset(), model="cnn", epochs=1, image_size=12, lr_schedule="step", model_kwargs=TINY_CNN)


def test_balanced_class_weight():
    weights = balanced_class_weight(np.array([0, 0, 0, 1]), 3)
    assert weights[1] == pytest.approx(3 * weights[0]) and weights[2] == 1.0


@pytest.mark.backend_neutral
def test_cli_multilabel_train_evaluate_predict(tmp_path, synthetic_folder, capsys):
    run = tmp_path / "run"
    code = main(["train", *_hpa_args(synthetic_folder), "--model", "fast_spec_cnn", "--epochs", "1",
                 "--image-size", "32", "--out", str(run), "--quiet"])
    assert code == 0
    for name in ("model.keras", "best.keras", "config.json", "history.csv", "metrics.json", "split.csv", "learning_curves.png"):
        assert (run / name).exists(), name
    config = json.loads((run / "config.json").read_text())
    assert config["task"] == "multi_label" and config["class_names"] == list(SYNTHETIC_CLASSES)
    assert config["channel_names"] == list(HPA_CHANNEL_COLORS) and len(config["thresholds"]) == 10
    history = pd.read_csv(run / "history.csv")
    assert {"val_macro_f1", "val_exact_match_accuracy", "val_elementwise_accuracy"} <= set(history.columns)
    metrics = json.loads((run / "metrics.json").read_text())
    assert "elementwise accuracy" in metrics["protocol"]["metrics"].replace("_", " ")

    # evaluate and predict take only DATA: channels, pattern and columns come from the run.
    # Numeric labels in the CSV are read with the run's class names: no --class-names needed.
    assert main(["evaluate", str(run), str(synthetic_folder), "--labels", str(synthetic_folder / "train.csv"),
                 "--out", str(tmp_path / "m.json")]) == 0
    evaluated = json.loads((tmp_path / "m.json").read_text())
    assert {"macro_f1", "exact_match_accuracy", "elementwise_accuracy"} <= set(evaluated)
    out = tmp_path / "predictions.csv"
    assert main(["predict", str(run), str(synthetic_folder), "--labels", str(synthetic_folder / "train.csv"),
                 "--class-names", str(synthetic_folder / "classes.txt"), "--out", str(out)]) == 0
    predictions = pd.read_csv(out, keep_default_na=False)
    assert len(predictions) == 96
    assert list(predictions.columns[:3]) == ["id", "path", "predicted"]
    assert [c for c in predictions.columns if c.startswith("prob_")] == [f"prob_{c}" for c in SYNTHETIC_CLASSES]
    # the label-count rule: the bounds of the training items' labels, kept by every predicted set
    split = pd.read_csv(run / "split.csv", keep_default_na=False)
    truth = pd.read_csv(synthetic_folder / "train.csv", keep_default_na=False).set_index("Id")
    train_ids = split.loc[split["part"] == "train", "id"].astype(str)
    counts = truth.loc[train_ids, "Target"].astype(str).str.split().str.len()
    assert config["label_count_bounds"] == [int(counts.min()), int(counts.max())]
    probabilities = predictions[[f"prob_{c}" for c in SYNTHETIC_CLASSES]].to_numpy()
    expected = decide_labels(probabilities, np.asarray(config["thresholds"]), config["label_count_bounds"])
    assert predictions["predicted"].tolist() == [";".join(np.asarray(SYNTHETIC_CLASSES)[row]) for row in expected]
    # Outputs are never overwritten silently.
    assert main(["predict", str(run), str(synthetic_folder), "--labels", str(synthetic_folder / "train.csv"),
                 "--out", str(out)]) == 2
    assert "pass --overwrite" in capsys.readouterr().err
    assert main(["train", *_hpa_args(synthetic_folder), "--model", "cnn", "--epochs", "1", "--out", str(run)]) == 2


def test_predict_wrong_channel_count_is_a_clear_error(tmp_path, synthetic_folder, capsys):
    run = tmp_path / "run"
    assert main(["train", *_hpa_args(synthetic_folder), "--model", "cnn", "--epochs", "1", "--image-size", "32",
                 "--out", str(run), "--quiet"]) == 0
    from conftest import write_png

    gray = tmp_path / "gray"
    for i in range(3):
        write_png(gray / f"{i}.png", np.zeros((32, 32), np.uint8))
    capsys.readouterr()
    assert main(["predict", str(run), str(gray), "--channels", "x", "--out", str(tmp_path / "p.csv")]) == 2
    assert "no image file here is named <stem>_<channel>" in capsys.readouterr().err
    from protkit.inference import load_run, predict_run
    from protkit.data import ImageReadError

    with pytest.raises(ImageReadError, match=r"0\.png: expected 4 channel\(s\), the file\(s\) hold 1 "
                                             r"\(the run was trained on red, green, blue, yellow\)"):
        predict_run(load_run(run), Dataset.from_folder(gray), tmp_path / "p.csv", progress=False)
    assert not (tmp_path / "p.csv").exists() and not (tmp_path / "p.csv.partial").exists()
    result = predict_run(load_run(run), Dataset.from_folder(gray), tmp_path / "p.csv", skip_bad=True, progress=False)
    assert result["written"] == 0 and len(result["skipped"]) == 3

    # A batch that mixes good items and a corrupt file: the good ones are predicted, the bad one is named.
    mixed = tmp_path / "mixed"
    for i in range(3):
        write_png(mixed / f"good{i}.png", np.zeros((32, 32, 4), np.uint8))
    (mixed / "zbroken.png").write_bytes(b"not a png")
    with pytest.raises(ImageReadError, match=r"zbroken\.png: not a readable image"):
        predict_run(load_run(run), Dataset.from_folder(mixed), tmp_path / "m.csv", progress=False)
    result = predict_run(load_run(run), Dataset.from_folder(mixed), tmp_path / "m.csv", skip_bad=True,
                         progress=False)
    assert result["written"] == 3 and len(result["skipped"]) == 1 and "zbroken.png" in result["skipped"][0]
    assert pd.read_csv(tmp_path / "m.csv")["id"].tolist() == ["good0", "good1", "good2"]


@pytest.mark.backend_neutral
def test_interrupted_prediction_resumes_without_duplicate_rows(tmp_path, synthetic_folder):
    from conftest import write_png
    from protkit.data import ImageReadError
    from protkit.inference import load_run, predict_run

    run = tmp_path / "run"
    assert main(["train", *_hpa_args(synthetic_folder), "--model", "cnn", "--epochs", "1", "--image-size", "32",
                 "--out", str(run), "--quiet"]) == 0
    folder = tmp_path / "images"
    rng = np.random.default_rng(0)
    for i in range(40):
        write_png(folder / f"cell{i:03d}.png", rng.integers(0, 255, (32, 32, 4), dtype=np.uint8))
    good = (folder / "cell025.png").read_bytes()
    (folder / "cell025.png").write_bytes(b"truncated")
    loaded, out = load_run(run), tmp_path / "p.csv"
    partial = tmp_path / "p.csv.partial"
    with pytest.raises(ImageReadError, match="cell025.png") as failure:
        predict_run(loaded, Dataset.from_folder(folder), out, batch_size=8, progress=False)
    assert "kept in" in "".join(getattr(failure.value, "__notes__", []))
    assert not out.exists() and len(pd.read_csv(partial)) == 24  # the three batches before the bad file
    with open(partial, "a") as stream:
        stream.write("cell024,half a ro")  # a row cut off by a killed process
    (folder / "cell025.png").write_bytes(good)  # the user fixes the file and runs the same call again
    result = predict_run(loaded, Dataset.from_folder(folder), out, batch_size=8, progress=False)
    assert result["resumed"] == 24 and result["written"] == 16
    rows = pd.read_csv(out)
    assert rows["id"].tolist() == [f"cell{i:03d}" for i in range(40)]  # each item once, in order
    fresh = predict_run(loaded, Dataset.from_folder(folder), tmp_path / "fresh.csv", batch_size=8, progress=False)
    assert fresh["resumed"] == 0
    np.testing.assert_allclose(rows.filter(like="prob_").to_numpy(),
                               pd.read_csv(tmp_path / "fresh.csv").filter(like="prob_").to_numpy(), atol=1e-6)
    assert not partial.exists() and not (tmp_path / "p.csv.partial.json").exists()
    # A partial file of other data is not mixed in.
    from protkit.runs import write_json

    write_json(tmp_path / "p2.csv.partial.json", {"run": "elsewhere"})
    (tmp_path / "p2.csv.partial").write_text("id\n")
    with pytest.raises(FileExistsError, match="another run or other data"):
        predict_run(loaded, Dataset.from_folder(folder), tmp_path / "p2.csv", progress=False)


@requires(HEP2)
def test_cli_on_real_hep2_csv_subset(tmp_path):
    table = pd.read_csv(HEP2 / "training_labels.csv")
    subset = table.groupby("Image class").head(25)
    csv = tmp_path / "subset.csv"
    subset.to_csv(csv, index=False)
    run = tmp_path / "hep2"
    args = [str(HEP2 / "training"), "--labels", str(csv), "--id-column", "Image ID", "--label-column",
            "Image class", "--pattern", "{id:05d}.png"]
    assert main(["train", *args, "--model", "plcnn", "--epochs", "1", "--image-size", "32", "--out", str(run),
                 "--quiet"]) == 0
    config = json.loads((run / "config.json").read_text())
    assert config["channel_names"] == ["ch0"] and config["task"] == "single_label"
    assert (run / "confusion_matrix.png").exists()
    val = pd.read_csv(HEP2 / "validation_labels.csv").groupby("Image class").head(5)
    val.to_csv(tmp_path / "val.csv", index=False)
    assert main(["evaluate", str(run), str(HEP2 / "validation"), "--labels", str(tmp_path / "val.csv"),
                 "--out", str(tmp_path / "val.json")]) == 0
    assert json.loads((tmp_path / "val.json").read_text())["protocol"]["items"] == 30


@requires(IFC)
def test_cli_on_real_ifc_with_channels_and_groups(tmp_path):
    run = tmp_path / "ifc"
    # Group by cell number blocks so that the split is grouped (the three file prefixes are too few).
    assert main(["train", str(IFC), "--channels", "Ch3,Ch4,Ch6", "--group-by", r"regex:_(\d\d)\d_Ch",
                 "--model", "cnn", "--epochs", "1", "--image-size", "40", "--out", str(run), "--quiet"]) == 0
    split = pd.read_csv(run / "split.csv")
    split["group"] = split["id"].str.extract(r"_(\d\d)\d$")[0]
    assert split.groupby("group")["part"].nunique().max() == 1  # no group in two parts
    config = json.loads((run / "config.json").read_text())
    assert config["groups"] is True and "grouped" in json.loads((run / "metrics.json").read_text())["protocol"]["split"]


def test_interrupted_run_resumes_after_kill(tmp_path, synthetic_folder):
    run = tmp_path / "resumable"
    command = [sys.executable, "-m", "protkit.cli", "train", *_hpa_args(synthetic_folder), "--model", "cnn",
               "--epochs", "8", "--image-size", "32", "--batch-size", "8", "--out", str(run), "--quiet"]
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3")
    process = subprocess.Popen(command, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    history = run / "history.csv"
    deadline = time.time() + 240
    while time.time() < deadline and process.poll() is None:
        if history.exists() and len(history.read_text().strip().splitlines()) >= 3:  # header + 2 epochs
            break
        time.sleep(0.2)
    assert process.poll() is None, process.stdout.read().decode()[-2000:]
    process.send_signal(signal.SIGKILL)
    process.wait()
    logged_before = len(pd.read_csv(history))
    assert json.loads((run / "config.json").read_text())["status"] == "running"
    assert not (run / "model.keras").exists()

    again = subprocess.run(command, env=env, capture_output=True, text=True, timeout=300)
    assert again.returncode == 0, again.stdout[-2000:] + again.stderr[-2000:]
    assert "resuming the interrupted run" in again.stdout
    epochs = pd.read_csv(history)["epoch"].tolist()
    assert epochs[-1] == 7
    resumed_from = epochs[logged_before] if len(epochs) > logged_before else 8
    assert resumed_from >= logged_before - 1  # at most one epoch lost
    assert json.loads((run / "config.json").read_text())["status"] == "complete"


_DETERMINISM_SCRIPT = """
import json, sys
import numpy as np
from protkit.data import Dataset
from protkit.data.synthetic import make_cells
from protkit.training import train

images, labels = make_cells(96, image_size=32, seed=1)
ds = Dataset.from_arrays(images, labels=labels)
result = train(ds, model="fast_spec_cnn", image_size=32, epochs=2, batch_size=16, seed=7, verbose=0,
               deterministic=True)
weights = np.concatenate([np.ravel(w) for w in result.model.get_weights()])
json.dump({"history": {k: [float(v) for v in vals] for k, vals in result.history.items()},
           "weights_sum": float(np.sum(weights, dtype=np.float64)), "weights_head": weights[:50].tolist()},
          open(sys.argv[1], "w"))
"""


def test_same_seed_twice_gives_identical_runs_on_cpu(tmp_path):
    """Op determinism on, the same seed, two fresh processes: identical metrics and weights."""
    script = tmp_path / "run.py"
    script.write_text(_DETERMINISM_SCRIPT)
    outputs = []
    for name in ("first.json", "second.json"):
        done = subprocess.run([sys.executable, str(script), str(tmp_path / name)], capture_output=True, text=True,
                              timeout=600, env=dict(os.environ, CUDA_VISIBLE_DEVICES=""))
        assert done.returncode == 0, done.stderr[-2000:]
        outputs.append(json.loads((tmp_path / name).read_text()))
    first, second = outputs
    assert first["history"] == second["history"]
    assert first["weights_sum"] == second["weights_sum"] and first["weights_head"] == second["weights_head"]
    assert len(first["history"]["loss"]) == 2
