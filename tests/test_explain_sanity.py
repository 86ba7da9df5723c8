"""Sanity checks of explanation maps (protkit.explain): each check must be able to fail.

A check that did nothing would pass a randomized model against itself, or a map of noise; these
tests make sure it does not, and that a map which does point at the evidence passes.
"""

import numpy as np
import pytest

from conftest import planted_square_finder, planted_squares
from protkit.explain import (
    attention_heatmaps,
    deletion_curve,
    feature_map_space,
    grad_cam,
    last_conv_layer,
    randomization_test,
    randomized_copy,
    rank_correlation,
    sanity_checks,
)
from protkit.models.fast_spec_cnn import fast_spec_cnn


def _planted(n=160, size=24, seed=0):
    """Class 1: a bright 5x5 square somewhere on noise; class 0: noise only."""
    images, labels, _ = planted_squares(n, size, seed)
    return images, labels


@pytest.fixture(scope="module")
def planted():
    """A small CNN trained for a few seconds to find the square, and 24 images that carry it."""
    images, labels = _planted()
    model = planted_square_finder(images, labels)
    return model, images[labels == 1][:24]


def test_rank_correlation_is_spearman():
    a = np.arange(12.0).reshape(3, 4)
    assert rank_correlation(a, a ** 3) == pytest.approx(1.0)  # monotone: same ranks
    assert rank_correlation(a, -a) == pytest.approx(-1.0)
    assert np.isnan(rank_correlation(a, np.zeros_like(a)))  # a constant map ranks nothing
    with pytest.raises(ValueError, match="one shape"):
        rank_correlation(a, a[:2])


def test_a_model_compared_with_itself_fails_the_randomization_test(planted):
    model, images = planted
    same = randomization_test(model, images, class_index=1, randomized=model)
    assert same["spearman_mean"] == pytest.approx(1.0, abs=1e-6)
    assert same["images_compared"] == len(images) and not same["passed"]
    assert same["layer"] == "conv2" and same["pass_mark"] == 0.3


def test_a_randomized_copy_has_the_layers_but_not_the_weights(planted):
    model, images = planted
    copy = randomized_copy(model, seed=3)
    assert [layer.name for layer in copy.layers[1:]] == [layer.name for layer in model.layers[1:]]
    assert not np.allclose(copy.get_layer("conv2").get_weights()[0], model.get_layer("conv2").get_weights()[0])
    result = randomization_test(model, images, class_index=1, repeats=3)
    assert len(result["per_initialization"]) == 3 and result["spearman"].shape == (len(images),)
    assert result["spearman_mean"] < 0.3 and result["passed"]  # trained maps are not what random weights draw


@pytest.mark.backend_neutral
def test_grad_cam_of_the_planted_signal_passes_deletion_and_noise_fails(planted):
    model, images = planted
    result = deletion_curve(model, images, class_index=1, steps=10, baseline="mean")
    assert result["fractions"].shape == result["curve"].shape == result["random_curve"].shape == (11,)
    assert result["curve"][0] == pytest.approx(result["random_curve"][0])  # same start
    assert result["curve"][-1] == pytest.approx(result["random_curve"][-1])  # and the same end: all removed
    assert result["ratio"] < 0.8 and result["passed"]
    noise = np.random.default_rng(1).random(images.shape[:3])
    flat = deletion_curve(model, images, noise, class_index=1, steps=10)
    assert 0.8 < flat["ratio"] < 1.25 and not flat["passed"]
    inverted = deletion_curve(model, images, 1 - grad_cam(model, images, class_index=1), class_index=1, steps=10)
    assert inverted["ratio"] > 1.0 and not inverted["passed"]  # least relevant first: slower than chance
    patches = deletion_curve(model, images, class_index=1, steps=10, patch=4)  # 4x4 blocks, 36 per image
    assert patches["patch"] == 4 and patches["passed"]
    assert not deletion_curve(model, images, noise, class_index=1, steps=10, patch=4)["passed"]
    with pytest.raises(ValueError, match="one \\(H, W\\) map per image"):
        deletion_curve(model, images, noise[:3], class_index=1)
    with pytest.raises(ValueError, match="baseline"):
        deletion_curve(model, images, noise, class_index=1, baseline="smear")
    blurred_run = deletion_curve(model, images, class_index=1, steps=10, baseline="blur")
    assert blurred_run["baseline"] == "blur" and blurred_run["curve"][0] == pytest.approx(result["curve"][0])
    with pytest.raises(ValueError, match="patch"):
        deletion_curve(model, images, noise, class_index=1, patch=0)


def test_blurred_baseline_keeps_brightness_and_removes_detail():
    from protkit.explain.checks import blurred

    rng = np.random.default_rng(0)
    flat = np.full((2, 16, 16, 3), 0.25, np.float32)
    assert np.allclose(blurred(flat), flat)  # nothing to remove
    noisy = rng.random((2, 32, 32, 1)).astype(np.float32)
    smooth = blurred(noisy)
    assert smooth.shape == noisy.shape
    assert smooth.std() < 0.3 * noisy.std()  # detail gone
    assert abs(float(smooth.mean()) - float(noisy.mean())) < 0.02  # brightness kept


def test_sanity_checks_runs_both_and_reports_the_layer(planted):
    model, images = planted
    result = sanity_checks(model, images[:12], class_index=1, steps=5)
    assert result["method"] == "Grad-CAM" and result["layer"] == "conv2" and result["space"] == "image"
    assert set(result) >= {"randomization", "deletion", "passed", "classes"}
    assert result["passed"] == (result["randomization"]["passed"] and result["deletion"]["passed"])


def test_default_layer_is_in_image_space_before_attention():
    model = fast_spec_cnn((64, 64, 4), 3)  # the cpu preset: 64 -> 32 (stem) -> 16 -> 8, then attention
    assert feature_map_space(model, "attention") == "global"
    assert feature_map_space(model, "block1") == "mixed"  # the spectrum is stacked onto the image's channels
    assert last_conv_layer(model) == "block0"  # 16x16: not after attention, not the 8x8 map
    spatial = fast_spec_cnn((64, 64, 4), 3, spectral="spatial")
    assert feature_map_space(spatial, "block1") == "image" and last_conv_layer(spatial) == "block0"
    assert last_conv_layer(spatial, min_size=8) == "block1"
    # a global spectral filter mixes every position with all the others (an image-sized circular convolution)
    filtered = fast_spec_cnn((64, 64, 4), 3, spectral="global_filter")
    assert feature_map_space(filtered, "block0") == "image"
    assert feature_map_space(filtered, "global_filter0") == "global"
    assert feature_map_space(filtered, "block1") == "global" and last_conv_layer(filtered) == "block0"
    spectral = fast_spec_cnn((32, 32, 1), 2, spectral="spectral", filters=(8,), hidden_units=8)
    assert feature_map_space(spectral, "block0") == "spectral"
    with pytest.raises(ValueError, match="positions are frequencies"):
        last_conv_layer(spectral)
    with pytest.raises(ValueError, match="no_such_layer"):
        feature_map_space(model, "no_such_layer")


@pytest.mark.backend_neutral
def test_attention_heatmaps_are_maps_of_the_image():
    model = fast_spec_cnn((32, 32, 2), 2, filters=(8,), hidden_units=8)
    images = np.random.default_rng(0).random((3, 32, 32, 2)).astype(np.float32)
    maps = attention_heatmaps(model, images)
    assert maps.shape == (3, 32, 32) and maps.min() >= 0 and maps.max(axis=(1, 2)) == pytest.approx(1.0)
    same = randomization_test(model, images, class_index=0, explainer=attention_heatmaps, randomized=model)
    assert same["spearman_mean"] == pytest.approx(1.0, abs=1e-6) and same["layer"] is None
