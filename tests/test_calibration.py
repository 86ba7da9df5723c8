"""Temperature scaling, calibration error and reliability curves (`protkit.calibration`), and runs that apply them."""

import json

import numpy as np
import pytest

from protkit.calibration import (
    apply_temperature,
    calibration_report,
    expected_calibration_error,
    fit_temperature,
    reliability_curve,
)


def _softmax(z):
    e = np.exp(z - z.max(axis=1, keepdims=True))
    return e / e.sum(axis=1, keepdims=True)


def _overconfident(n=20000, k=4, true_temperature=2.0, seed=0):
    """Probabilities softmax(z) of labels drawn from softmax(z / T): the model is over-confident by T."""
    rng = np.random.default_rng(seed)
    z = rng.normal(scale=3.0, size=(n, k))
    truth = _softmax(z / true_temperature)
    labels = np.array([rng.choice(k, p=row) for row in truth])
    return _softmax(z), labels


def test_apply_temperature_matches_a_numpy_softmax_and_sigmoid():
    rng = np.random.default_rng(1)
    z = rng.normal(size=(5, 3))
    assert np.allclose(apply_temperature(_softmax(z), 2.5, "single_label"), _softmax(z / 2.5), atol=1e-6)
    p = 1 / (1 + np.exp(-z))
    assert np.allclose(apply_temperature(p, 0.5, "multi_label"), 1 / (1 + np.exp(-z / 0.5)), atol=1e-6)
    assert np.array_equal(apply_temperature(p, None, "multi_label"), p.astype(np.float32))
    # the top class never changes
    assert np.array_equal(apply_temperature(_softmax(z), 7.0, "single_label").argmax(1), z.argmax(1))


def test_fit_temperature_recovers_the_over_confidence_and_lowers_the_error():
    probabilities, labels = _overconfident()
    temperature = fit_temperature(probabilities, labels, "single_label")
    assert temperature == pytest.approx(2.0, rel=0.1)
    before = expected_calibration_error(probabilities, labels, "single_label")
    after = expected_calibration_error(apply_temperature(probabilities, temperature, "single_label"), labels,
                                       "single_label")
    assert before > 0.05 and after < 0.02 and after < before / 3
    report = calibration_report(probabilities, labels, "single_label", temperature)
    assert report["ece_before"] == pytest.approx(before) and report["ece_after"] == pytest.approx(after)


def test_fit_temperature_multi_label_sharpens_a_timid_model():
    rng = np.random.default_rng(2)
    z = rng.normal(scale=2.0, size=(5000, 3))
    labels = (rng.random(z.shape) < 1 / (1 + np.exp(-z))).astype(int)
    timid = 1 / (1 + np.exp(-z / 3.0))  # logits shrunk by 3: under-confident
    assert fit_temperature(timid, labels, "multi_label") == pytest.approx(1 / 3, rel=0.1)


def test_reliability_curve_by_hand():
    probabilities = np.array([[0.95, 0.05], [0.9, 0.1], [0.4, 0.6], [0.35, 0.65]])
    labels = np.array([0, 1, 1, 0])
    curve = reliability_curve(probabilities, labels, "single_label", bins=10)
    assert curve["counts"].sum() == 4 and curve["counts"][9] == 1 and curve["counts"][8] == 1
    # one per bin: 0.6 (right) in (0.5, 0.6], 0.65 (wrong) in (0.6, 0.7], 0.9 (wrong) in (0.8, 0.9], 0.95 (right)
    expected = (abs(1 - 0.6) + abs(0 - 0.65) + abs(0 - 0.9) + abs(1 - 0.95)) / 4
    assert curve["ece"] == pytest.approx(expected)


def test_a_run_records_its_temperature_and_evaluate_and_predict_apply_it(tmp_path):
    from protkit.data import Dataset, load_images
    from protkit.inference import Ensemble, evaluate_run, load_run, predict_run
    from protkit.training import train

    rng = np.random.default_rng(0)
    images = rng.random((60, 16, 16, 1)).astype(np.float32)
    labels = np.arange(60) % 3
    images[labels == 1, 4:12, 4:12, 0] += 1.0
    images[labels == 2, :, :8, 0] += 1.0
    dataset = Dataset.from_arrays(images, labels=labels, class_names=["a", "b", "c"])
    train(dataset, model="cnn", image_size=16, epochs=3, tta="none", out=tmp_path / "run", verbose=0,
          model_kwargs={"filters": (4,), "hidden_units": 4})
    run = load_run(tmp_path / "run")
    config = json.loads((tmp_path / "run" / "config.json").read_text())
    assert run.temperature == config["temperature"] and run.temperature != 1.0
    assert (tmp_path / "run" / "reliability.png").exists()
    metrics = json.loads((tmp_path / "run" / "metrics.json").read_text())
    assert set(metrics["validation"]["calibration"]) >= {"temperature", "ece_before", "ece_after"}
    raw = run.model.predict(load_images(dataset, image_size=16, normalizer=run.normalizer), verbose=0)
    calibrated = apply_temperature(raw, run.temperature, "single_label")
    predict_run(run, dataset, tmp_path / "p.csv", progress=False)
    import pandas as pd

    written = pd.read_csv(tmp_path / "p.csv")[["prob_a", "prob_b", "prob_c"]].to_numpy()
    assert np.allclose(written, calibrated, atol=1e-4) and not np.allclose(written, raw, atol=1e-3)
    evaluated = evaluate_run(run, dataset)
    assert "temperature" in evaluated["protocol"]["calibration"]
    assert evaluated["calibration"]["temperature"] == pytest.approx(run.temperature)
    assert evaluated["calibration"]["ece_after"] == pytest.approx(expected_calibration_error(calibrated, labels,
                                                                                             "single_label"), abs=1e-4)
    # an ensemble scales each member by its own temperature before the mean
    twice = Ensemble([run.model, run.model], [run.temperature, None], "single_label")
    prepared = load_images(dataset, image_size=16, normalizer=run.normalizer)[:5]
    mean = (calibrated[:5] + raw[:5]) / 2
    assert np.allclose(np.asarray(twice(prepared)), mean, atol=1e-5)
    assert np.allclose(twice.predict(prepared), mean, atol=1e-5)
