"""The shared view utility (`protkit.views`), test-time augmentation and ensembles of runs."""

import json

import keras
import numpy as np
import pandas as pd
import pytest

from protkit.data import Dataset
from protkit.views import apply_view, image_views, view_averaged, view_count


@pytest.mark.backend_neutral
def test_views_match_numpy_rotations_and_flips():
    x = np.random.default_rng(0).random((2, 5, 5, 3))
    dihedral = image_views(x, "dihedral")
    expected = [np.rot90(x, k, axes=(1, 2)) for k in range(4)]
    expected += [e[:, :, ::-1] for e in expected]
    assert len(dihedral) == view_count("dihedral") == 8
    for got, want in zip(dihedral, expected):
        np.testing.assert_array_equal(got, want)
    flips = image_views(np.zeros((1, 4, 6, 1)), "flips")  # any shape
    assert len(flips) == 4 and all(v.shape == (1, 4, 6, 1) for v in flips)
    keras_views = image_views(keras.ops.convert_to_tensor(x), "dihedral")  # backend tensors give the same
    for got, want in zip(keras_views, expected):
        np.testing.assert_allclose(keras.ops.convert_to_numpy(got), want)
    with pytest.raises(ValueError, match="square"):
        apply_view(np.zeros((1, 4, 6, 1)), "dihedral", 1)
    with pytest.raises(ValueError, match="views must be one of"):
        view_count("all")


@pytest.mark.backend_neutral
def test_view_averaged_is_the_mean_over_views_and_invariant():
    x = np.random.default_rng(1).random((3, 6, 6, 1))
    corner = lambda images: images[:, :1, :1, 0]  # noqa: E731  (an asymmetric "model": the top-left pixel)
    averaged = view_averaged(corner, "dihedral")(x)
    manual = np.mean([corner(v) for v in image_views(x, "dihedral")], axis=0)
    np.testing.assert_allclose(averaged, manual)
    assert not np.allclose(averaged, corner(x))  # it does something on an asymmetric model
    np.testing.assert_allclose(view_averaged(corner, "dihedral")(np.rot90(x, 1, axes=(1, 2))), averaged)
    assert view_averaged(corner, "none") is corner


def _cells(n=48, size=16, seed=0):
    rng = np.random.default_rng(seed)
    images = rng.random((n, size, size, 1)).astype(np.float32)
    labels = np.arange(n) % 2
    images[labels == 1, 2:6, 2:9, 0] += 2.0  # an off-centre bar: the model is not symmetric
    return Dataset.from_arrays(images, labels=labels, class_names=["plain", "bar"])


TINY = dict(model="cnn", epochs=2, image_size=16, batch_size=8, verbose=0, model_kwargs={"filters": (4,),
                                                                                          "hidden_units": 4})


@pytest.mark.backend_neutral
def test_tta_is_recorded_and_repeated_by_evaluate_and_predict(tmp_path):
    from protkit.data import make_pipeline
    from protkit.inference import evaluate_run, load_run, model_probabilities, predict_run
    from protkit.training import train

    dataset = _cells()
    result = train(dataset, out=tmp_path / "run", tta="dihedral", **TINY)
    config = json.loads((tmp_path / "run" / "config.json").read_text())
    assert config["tta"] == "dihedral" and result.metrics["protocol"]["test_time_augmentation"] == "dihedral"
    run = load_run(tmp_path / "run")
    single = evaluate_run(run, dataset, tta="none")
    repeated = evaluate_run(run, dataset)
    assert "8 views" in repeated["protocol"]["test_time_augmentation"]
    predict_run(run, dataset, tmp_path / "p.csv", progress=False)
    rows = pd.read_csv(tmp_path / "p.csv").filter(like="prob_").to_numpy()
    pipeline = make_pipeline(dataset, batch_size=16, labels=False, image_size=(16, 16), normalizer=run.normalizer)
    with_views = model_probabilities(run.model, pipeline, "dihedral")
    without = model_probabilities(run.model, pipeline, "none")
    from protkit.calibration import apply_temperature

    # predict repeats what evaluate measured: the views averaged, then the run's temperature
    np.testing.assert_allclose(rows, apply_temperature(with_views, run.temperature, run.task), atol=1e-5)
    assert np.abs(with_views - without).max() > 1e-4  # the views change an asymmetric model's output
    assert repeated["balanced_accuracy"] is not None and single["balanced_accuracy"] is not None
    with pytest.raises(ValueError, match="tta must be one of"):
        train(dataset, tta="rotate", **TINY)


def test_a_cross_validation_folder_predicts_as_the_mean_of_its_folds(tmp_path):
    from protkit.evaluation import cross_validate
    from protkit.inference import load_run, predict_run

    dataset = _cells(seed=2)
    cross_validate(dataset, k=2, out=tmp_path / "cv", progress=False, **{k: v for k, v in TINY.items()
                                                                            if k != "verbose"})
    ensemble = load_run(tmp_path / "cv")
    assert len(ensemble.config["ensemble"]) == 2
    members = [load_run(tmp_path / "cv" / f"fold_{i}") for i in range(2)]
    predict_run(ensemble, dataset, tmp_path / "ens.csv", progress=False)
    for i, member in enumerate(members):
        predict_run(member, dataset, tmp_path / f"m{i}.csv", progress=False)
    probs = [pd.read_csv(tmp_path / name).filter(like="prob_").to_numpy() for name in ("ens.csv", "m0.csv", "m1.csv")]
    np.testing.assert_allclose(probs[0], (probs[1] + probs[2]) / 2, atol=2e-6)
    assert not np.allclose(probs[1], probs[2])  # two different members, so the mean is not trivial


@pytest.mark.backend_neutral
def test_sharded_prediction_in_three_parts_equals_the_unsharded_csv(tmp_path, capsys):
    from conftest import write_png
    from protkit.cli import main
    from protkit.inference import shard_indices

    rng = np.random.default_rng(3)
    data = tmp_path / "cells"
    for name, level in (("dim", 40), ("bright", 200)):
        for i in range(11):
            write_png(data / name / f"c{i}.png", np.clip(rng.normal(level, 30, (16, 16)), 0, 255).astype(np.uint8))
    assert main(["train", str(data), "--model", "cnn", "--epochs", "1", "--image-size", "16", "--out",
                 str(tmp_path / "run"), "--quiet"]) == 0
    assert main(["predict", str(tmp_path / "run"), str(data), "--out", str(tmp_path / "all.csv")]) == 0
    parts = [str(tmp_path / f"part{i}.csv") for i in (1, 2, 3)]
    for i, part in enumerate(parts, start=1):
        assert main(["predict", str(tmp_path / "run"), str(data), "--shard", f"{i}/3", "--out", part]) == 0
    assert [len(pd.read_csv(part)) for part in parts] == [8, 7, 7]  # contiguous, near-equal parts
    assert main(["merge", parts[2], parts[0], "--out", str(tmp_path / "m.csv")]) == 2  # a part is missing
    assert "all of 1..3" in capsys.readouterr().err
    assert main(["merge", parts[2], parts[0], parts[1], "--out", str(tmp_path / "merged.csv")]) == 0
    assert (tmp_path / "merged.csv").read_text() == (tmp_path / "all.csv").read_text()  # row for row
    assert shard_indices(10, (3, 3)).tolist() == [7, 8, 9]
    with pytest.raises(SystemExit):
        main(["predict", str(tmp_path / "run"), str(data), "--shard", "0/3", "--out", str(tmp_path / "x.csv")])
