"""The self-supervised contrastive encoder: its loss against NumPy, its views, what training changes, the CLI."""

import json

import keras
import numpy as np
import pandas as pd
import pytest

from conftest import write_png
from protkit.cli import main
from protkit.clustering import cluster_dataset, fit_gmm, match_clusters
from protkit.contrastive import NTXentLoss, contrastive_views, nt_xent, train_contrastive, view_agreement
from protkit.data import Dataset
from protkit.models.autoencoder import _encoder_decoder
from protkit.unsupervised import latent_features


def _nt_xent_numpy(z_a, z_b, temperature):
    z = np.concatenate([z_a, z_b]).astype(np.float64)
    z /= np.linalg.norm(z, axis=1, keepdims=True)
    n = len(z_a)
    total = 0.0
    for i in range(2 * n):
        partner = (i + n) % (2 * n)
        logits = np.array([z[i] @ z[j] / temperature for j in range(2 * n) if j != i])
        others = [j for j in range(2 * n) if j != i]
        total -= logits[others.index(partner)] - np.log(np.exp(logits).sum())
    return total / (2 * n)


@pytest.mark.backend_neutral
@pytest.mark.parametrize("temperature", [0.1, 0.5])
def test_nt_xent_matches_a_numpy_reference(temperature):
    rng = np.random.default_rng(0)
    z_a, z_b = rng.normal(size=(2, 6, 5)).astype(np.float32)
    expected = _nt_xent_numpy(z_a, z_b, temperature)
    np.testing.assert_allclose(float(nt_xent(z_a, z_b, temperature)), expected, rtol=1e-5)
    loss = NTXentLoss(temperature)  # the Keras loss on the pair model's (B, 2, D) output
    np.testing.assert_allclose(float(loss(np.zeros(6), np.stack([z_a, z_b], axis=1))), expected, rtol=1e-5)
    assert NTXentLoss.from_config(loss.get_config()).temperature == temperature
    # Partners that agree give a lower loss than partners drawn at random.
    assert float(nt_xent(z_a, z_a + 0.01, temperature)) < expected


def test_two_views_of_a_batch_differ_and_keep_its_shape():
    images = np.random.default_rng(0).uniform(0, 1, (4, 16, 16, 3)).astype(np.float32)
    first, second = contrastive_views(seed=0), contrastive_views(seed=100)
    a, b = np.asarray(first(images)), np.asarray(second(images))
    assert a.shape == b.shape == images.shape
    assert not np.allclose(a, b, atol=1e-3) and not np.allclose(a, images, atol=1e-3)
    quiet = contrastive_views(zoom=0.0, intensity=0.0, noise=0.0, seed=0)  # flips and rotations only
    assert np.isclose(np.asarray(quiet(images)).mean(), images.mean(), atol=0.05)


def _two_textures(n=96, size=16, seed=0):
    """Two planted kinds that no turn of the cell changes: one large disk, or four small dots; (images, kind)."""
    rng = np.random.default_rng(seed)
    kind = np.arange(n) % 2
    yy, xx = np.mgrid[:size, :size]
    images = rng.normal(0.1, 0.03, (n, size, size, 1)).astype(np.float32)
    for i, which in enumerate(kind):
        cy, cx = rng.uniform(size / 2 - 2, size / 2 + 2, 2)
        if which == 0:
            images[i, ..., 0] += 0.7 * (((yy - cy) ** 2 + (xx - cx) ** 2) < rng.uniform(12, 20))
        else:
            for y, x in rng.integers(2, size - 2, (4, 2)):
                images[i, y - 1:y + 1, x - 1:x + 1, 0] += 0.8
    return np.clip(images, 0, 1), kind


@pytest.mark.backend_neutral
def test_contrastive_training_makes_two_views_of_a_cell_agree_and_finds_the_kinds():
    """Measured over seeds 0-2: the gap between same-cell and other-cell similarity grows from 0.00-0.12
    (untrained) to 0.45-0.91, and the mixture on the trained latents recovers the kinds (96-100 %)."""
    images, kind = _two_textures()
    data = Dataset.from_arrays(images)
    keras.utils.set_random_seed(0)
    untrained, _ = _encoder_decoder((16, 16, 1), 8, (8, 16))  # what train_contrastive starts from with seed 0
    before = np.subtract(*view_agreement(untrained, images, seed=0))
    result = train_contrastive(data, image_size=16, latent_dim=8, filters=(8, 16), projection=16, epochs=15,
                               batch_size=32, normalization="fixed", seed=0, verbose=0)
    assert result.history["loss"][-1] < result.history["loss"][0] - 0.3
    after = result.positive_similarity - result.negative_similarity
    assert after > before + 0.3, (before, after)
    features = latent_features(result.encoder, data, image_size=16, normalizer=result.normalizer)
    _, clusters, _ = fit_gmm(features, 2, seed=0)
    assert (match_clusters(kind, clusters)["y_pred"] == kind).mean() >= 0.9


def test_contrastive_cluster_run_predicts_its_own_assignments(tmp_path, capsys):
    images, kind = _two_textures(n=48)
    for i, (image, which) in enumerate(zip(images, kind)):
        write_png(tmp_path / "cells" / f"kind{which}" / f"c{i:02d}.png", (image[..., 0] * 255).astype(np.uint8))
    out = tmp_path / "clusters"
    assert main(["cluster", str(tmp_path / "cells"), "--k", "2", "--out", str(out), "--encoder", "contrastive",
                 "--epochs", "3", "--latent-dim", "4", "--batch-size", "16", "--temperature", "0.3",
                 "--tsne-items", "0", "--quiet"]) == 0, capsys.readouterr().err
    printed = capsys.readouterr().out
    assert "contrastive encoder: cosine similarity of two views of one cell" in printed
    config = json.loads((out / "config.json").read_text())
    assert config["encoder"] == "contrastive" and config["temperature"] == 0.3 and config["epochs"] == 3
    assert set(config["view_agreement"]) == {"positive", "negative"}
    assert (out / "encoder.keras").is_file() and not (out / "autoencoder.keras").exists()
    assert "contrastive" in json.loads((out / "metrics.json").read_text())["protocol"]["fit"]
    table = pd.read_csv(out / "assignments.csv")
    assert main(["predict", str(out), str(tmp_path / "cells"), "--out", str(tmp_path / "again.csv")]) == 0
    again = pd.read_csv(tmp_path / "again.csv").set_index("id").loc[table["id"]]
    np.testing.assert_array_equal(again["cluster"].to_numpy(), table["cluster"].to_numpy())
    np.testing.assert_allclose(again["prob_cluster_0"].to_numpy(), table["prob_cluster_0"].to_numpy(), atol=1e-4)


def test_cluster_refuses_unknown_encoders_and_idec_without_a_decoder():
    data = Dataset.from_arrays(np.zeros((4, 16, 16, 1), np.float32))
    with pytest.raises(ValueError, match="encoder must be one of"):
        cluster_dataset(data, 2, encoder="simclr")
    with pytest.raises(ValueError, match="needs encoder='autoencoder'"):
        cluster_dataset(data, 2, encoder="contrastive", refine="idec")
    with pytest.raises(ValueError, match="at least 2 items"):
        train_contrastive(data, indices=[0], image_size=16, filters=(8,), epochs=1)
