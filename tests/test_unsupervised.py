"""Autoencoders (2D, 3D, fused), latent MLP, clustering evaluation, Grad-CAM, cluster explanation."""

import json
import pathlib

import keras
import numpy as np
import pandas as pd
import pytest
from scipy.optimize import linear_sum_assignment
from sklearn.metrics import balanced_accuracy_score

from conftest import IFC, planted_square_finder, planted_squares, requires, single_class_cells, write_png
from protkit.cli import main
from protkit.clustering import cluster_dataset, cluster_scores, fit_gmm, load_gmm, match_clusters, tsne
from protkit.data import Dataset
from protkit.data.synthetic import make_cells, make_volumes
from protkit.explain import explain_clusters, grad_cam, last_conv_layer, threshold_masks
from protkit.models.autoencoder import compile_fused, dcae, encoder_of, fused_dcae, mlp_classifier
from protkit.unsupervised import (encoder_statistics, latent_features, predict_latent_mlp, train_autoencoder,
                                 train_latent_mlp)


# ---------------------------------------------------------------- autoencoders
@pytest.mark.parametrize("shape", [(32, 32, 1), (32, 48, 5), (8, 16, 16, 4)])
def test_dcae_shapes_and_encoder(shape):
    model = dcae(shape, latent_dim=6, filters=(4, 8))
    assert model.output_shape == (None, *shape)
    assert encoder_of(model).output_shape == (None, 6)


@pytest.mark.parametrize("bad", [(30, 32, 1), (32, 32), (0, 32, 32, 1)])
def test_dcae_refuses_bad_shapes(bad):
    with pytest.raises(ValueError, match="input_shape"):
        dcae(bad, filters=(4, 8))


def test_dcae_keras_round_trip(tmp_path):
    model = dcae((16, 16, 2), latent_dim=4, filters=(4, 8))
    x = np.random.default_rng(0).random((3, 16, 16, 2)).astype(np.float32)
    model.save(tmp_path / "ae.keras")
    loaded = keras.saving.load_model(tmp_path / "ae.keras", safe_mode=True)
    np.testing.assert_allclose(loaded.predict(x, verbose=0), model.predict(x, verbose=0), atol=1e-6)
    np.testing.assert_allclose(encoder_of(loaded).predict(x, verbose=0), encoder_of(model).predict(x, verbose=0),
                               atol=1e-6)


@pytest.mark.backend_neutral
def test_autoencoder_beats_the_mean_image_on_synthetic_cells():
    images, labels = make_cells(160, image_size=32, seed=0)
    dataset = Dataset.from_arrays(images, labels=labels)
    result = train_autoencoder(dataset, image_size=32, latent_dim=16, filters=(16, 32), epochs=12, batch_size=16,
                               val_fraction=0.2, verbose=0)
    assert result.val_mse < 0.9 * result.baseline_mse
    features = latent_features(result.encoder, dataset, image_size=32, normalizer=result.normalizer)
    assert features.shape == (160, 16) and np.isfinite(features).all()


def test_3d_autoencoder_beats_the_mean_volume():
    volumes, _ = make_volumes(48, size=16, depth=8, seed=0)
    model = dcae((8, 16, 16, 4), latent_dim=16, filters=(8, 16))
    model.compile(optimizer=keras.optimizers.Adam(2e-3), loss="mse")
    keras.utils.set_random_seed(0)
    model.fit(volumes[:40], volumes[:40], epochs=30, batch_size=8, verbose=0)
    mse = float(((model.predict(volumes[40:], verbose=0) - volumes[40:]) ** 2).mean())
    baseline = float(((volumes[:40].mean(axis=0) - volumes[40:]) ** 2).mean())
    assert mse < baseline


def test_fused_loss_is_the_weighted_sum_of_both_errors():
    model = compile_fused(fused_dcae((16, 16, 2), (8, 16, 16, 2), 4, 4, (4, 8), (4, 8)), w1=0.8)
    rng = np.random.default_rng(0)
    x, v = rng.random((4, 16, 16, 2)).astype(np.float32), rng.random((4, 8, 16, 16, 2)).astype(np.float32)
    target_v = np.zeros_like(v)  # make the two errors differ
    total, loss_2d, loss_3d = model.evaluate([x, v], [x, target_v], verbose=0)
    assert loss_2d != pytest.approx(loss_3d)
    assert total == pytest.approx(0.8 * loss_2d + 0.2 * loss_3d, rel=1e-4)
    assert encoder_of(model).output_shape == (None, 8)
    with pytest.raises(ValueError, match="w1"):
        compile_fused(model, w1=1.5)


def test_latent_mlp_learns_separable_features():
    rng = np.random.default_rng(0)
    labels = np.arange(300) % 3
    features = rng.normal(size=(300, 10)) + 3.0 * np.eye(3, 10)[labels]
    model, scaler, history = train_latent_mlp(features[:240], labels[:240], 3, epochs=60)
    accuracy = (model.predict(scaler.transform(features[240:]), verbose=0).argmax(axis=1) == labels[240:]).mean()
    assert accuracy > 0.9 and "val_loss" in history
    assert [layer.units for layer in mlp_classifier(4096, 5).layers if hasattr(layer, "units")] == [250, 50, 5]


@pytest.mark.backend_neutral
def test_dihedral_views_are_the_eight_rotations_and_flips():
    rng = np.random.default_rng(1)
    images = rng.integers(0, 255, (3, 8, 8, 2), dtype=np.uint8)
    dataset = Dataset.from_arrays(images)
    flatten = keras.Sequential([keras.Input((8, 8, 2)), keras.layers.Flatten()])  # the "encoder" shows the pixels
    views = latent_features(flatten, dataset, image_size=8, normalizer="fixed", views="dihedral")
    plain = latent_features(flatten, dataset, image_size=8, normalizer="fixed")
    assert views.shape == (3, 8, 128) and plain.shape == (3, 128)
    np.testing.assert_allclose(views[:, 0], plain)
    x = plain.reshape(3, 8, 8, 2)
    expected = [np.rot90(x, k, axes=(1, 2)) for k in range(4)]
    expected += [e[:, :, ::-1] for e in expected]
    for i, e in enumerate(expected):
        np.testing.assert_allclose(views[:, i], e.reshape(3, -1), err_msg=f"view {i}")
    with pytest.raises(ValueError, match="views must be one of"):
        latent_features(flatten, dataset, image_size=8, normalizer="fixed", views="all")


def test_latent_mlp_on_views_splits_by_item_and_averages_predictions():
    rng = np.random.default_rng(0)
    labels = np.arange(240) % 3
    features = rng.normal(size=(240, 4, 10)) + 3.0 * np.eye(3, 10)[labels][:, None, :]
    model, scaler, history = train_latent_mlp(features[:180], labels[:180], 3, epochs=40)
    probabilities = predict_latent_mlp(model, scaler, features[180:])
    assert probabilities.shape == (60, 3) and (probabilities.argmax(axis=1) == labels[180:]).mean() > 0.9
    by_view = np.stack([predict_latent_mlp(model, scaler, features[180:, v]) for v in range(4)], axis=1)
    np.testing.assert_allclose(probabilities, by_view.mean(axis=1), rtol=1e-5, atol=1e-6)
    with pytest.raises(ValueError, match="train_features must be"):
        train_latent_mlp(features[:10], labels[:12], 3)


# ---------------------------------------------------------------- clustering
def test_hungarian_matching_agrees_with_scipy_and_sklearn():
    y = np.array([0, 0, 0, 1, 1, 1, 2, 2, 2, 2])
    clusters = np.array([1, 1, 2, 0, 0, 0, 2, 2, 2, 1])
    matched = match_clusters(y, clusters)
    contingency = np.zeros((3, 3), int)
    np.add.at(contingency, (clusters, y), 1)
    rows, cols = linear_sum_assignment(-contingency)
    assert matched["mapping"] == dict(zip(rows.tolist(), cols.tolist())) == {0: 1, 1: 0, 2: 2}
    scores = cluster_scores(y, clusters)
    assert scores["balanced_accuracy"] == pytest.approx(balanced_accuracy_score(y, matched["y_pred"]))
    assert scores["accuracy"] == pytest.approx(0.8)


def test_many_to_one_matching_and_coarser_groups():
    from protkit.clustering import cluster_scores, coarser_labels, many_to_one

    y = np.array([0, 0, 1, 1, 2, 2])
    clusters = np.array([0, 0, 1, 2, 3, 3])  # class 1 split over two clusters
    assert many_to_one(y, clusters)["mapping"] == {0: 0, 1: 1, 2: 1, 3: 2}
    scores = cluster_scores(y, clusters, class_names=["a", "b", "c"])
    assert scores["many_to_one_balanced_accuracy"] == 1.0 and scores["balanced_accuracy"] < 1.0  # one-to-one misses
    grouped, names = coarser_labels(y, ["a", "b", "c"], {"b": "bc", "c": "bc"})
    assert names == ["a", "bc"] and grouped.tolist() == [0, 0, 1, 1, 1, 1]
    with pytest.raises(ValueError, match="not classes"):
        coarser_labels(y, ["a", "b", "c"], {"d": "x"})


def test_k_selection_finds_three_separated_blobs():
    from protkit.clustering import k_selection

    rng = np.random.default_rng(0)
    centers = np.array([[0, 0], [8, 0], [0, 8]])
    features = np.concatenate([center + rng.normal(size=(60, 2)) for center in centers])
    table = k_selection(features, [2, 3, 4, 5])
    assert table.loc[table["bic"].idxmin(), "k"] == 3 and table.loc[table["silhouette"].idxmax(), "k"] == 3


def test_extra_clusters_count_as_wrong():
    y = np.array([0, 0, 1, 1])
    clusters = np.array([0, 2, 1, 1])  # cluster 2 cannot be matched: 2 classes
    scores = cluster_scores(y, clusters, class_names=["a", "b"])
    assert scores["unmatched_items"] == 1 and scores["per_class_recall"] == {"a": 0.5, "b": 1.0}
    assert scores["balanced_accuracy"] == pytest.approx(0.75)


def test_gmm_finds_well_separated_groups():
    rng = np.random.default_rng(0)
    truth = np.repeat([0, 1, 2], 50)
    features = rng.normal(size=(150, 4)) * 0.3 + np.array([[0, 0, 0, 0], [5, 0, 0, 0], [0, 5, 0, 0]])[truth]
    _, clusters, _ = fit_gmm(features, 3, seed=0)
    assert cluster_scores(truth, clusters)["balanced_accuracy"] == 1.0
    again = fit_gmm(features, 3, seed=0)[1]
    np.testing.assert_array_equal(again, clusters)  # seeded
    embedding, kept = tsne(features, max_items=100)
    assert embedding.shape == (100, 2) and len(kept) == 100
    with pytest.raises(ValueError, match="NaN"):
        fit_gmm(np.full((10, 2), np.nan), 2)


# ---------------------------------------------------------------- Grad-CAM
def _planted(n=200, size=24, seed=0):
    return planted_squares(n, size, seed)


@pytest.mark.backend_neutral
def test_grad_cam_peaks_at_the_planted_signal():
    images, labels, centers = _planted()
    model = planted_square_finder(images, labels)
    assert last_conv_layer(model) == "conv2"
    positives = np.flatnonzero(labels)[:40]
    heatmaps = grad_cam(model, images[positives], class_index=1)
    assert heatmaps.shape == (40, 24, 24) and heatmaps.min() >= 0 and heatmaps.max() <= 1
    peaks = np.array(np.unravel_index(heatmaps.reshape(40, -1).argmax(axis=1), (24, 24))).T
    near = np.abs(peaks - centers[positives]).max(axis=1) <= 3
    assert near.mean() >= 0.8
    masks = threshold_masks(heatmaps, 0.5)
    assert masks.shape == (40, 24, 24, 1) and set(np.unique(masks)) <= {0.0, 1.0}


def test_grad_cam_uses_the_pre_activation_score_per_label():
    inputs = keras.Input((8, 8, 2))
    x = keras.layers.Conv2D(3, 3, padding="same", name="conv")(inputs)
    x = keras.layers.GlobalAveragePooling2D()(x)
    model = keras.Model(inputs, keras.layers.Dense(3, activation="sigmoid")(x))
    images = np.random.default_rng(0).random((4, 8, 8, 2)).astype(np.float32)
    maps = [grad_cam(model, images, class_index=c) for c in range(3)]
    assert all(m.shape == (4, 8, 8) for m in maps)
    assert not np.allclose(maps[0], maps[1])
    with pytest.raises(ValueError):
        grad_cam(model, images, layer="no_such_layer")


def test_cluster_explanation_runs_and_separates_distinct_clusters():
    images, labels, _ = _planted(n=120, size=16, seed=1)
    keras.utils.set_random_seed(0)
    model = dcae((16, 16, 1), latent_dim=8, filters=(8, 16))
    model.compile(optimizer="adam", loss="mse")
    model.fit(images, images, epochs=3, batch_size=32, verbose=0)
    result = explain_clusters(encoder_of(model), images, labels, epochs=30, folds=3, mask_epochs=8)
    assert result["heatmaps"].shape == (120, 16, 16) and result["masks"].shape == (120, 16, 16, 1)
    assert result["layer"] == "enc_conv1" and result["chance"] == 0.5
    assert len(result["mask_cv"].folds) == 3
    assert result["classifier_accuracy"] > 0.8
    # The masks alone tell the two planted clusters apart. Measured over 10 seeds: 0.75-1.0 (1.0 with
    # these); masks made from random heatmaps score 0.48-0.53, chance is 0.5.
    assert result["mask_balanced_accuracy"] >= result["chance"] + 0.2, result["mask_cv"].folds


# ---------------------------------------------------------------- protkit cluster
@requires(IFC)
@pytest.mark.real_data
def test_cluster_cli_on_the_real_ifc_folder(tmp_path, capsys):
    out = tmp_path / "clusters"
    code = main(["cluster", str(IFC), "--channels", "Ch3,Ch4,Ch6", "--k", "7", "--out", str(out), "--epochs", "1",
                 "--latent-dim", "8", "--tsne-items", "300", "--quiet"])
    assert code == 0, capsys.readouterr().err
    table = pd.read_csv(out / "assignments.csv")
    assert len(table) == 2734 and set(table.cluster) <= set(range(7))
    assert [c for c in table.columns if c.startswith("prob_")] == [f"prob_cluster_{c}" for c in range(7)]
    np.testing.assert_allclose(table.filter(like="prob_").sum(axis=1), 1.0, atol=1e-4)
    assert set(table.label) == {"Anaphase", "G1", "G2", "Metaphase", "Prophase", "S_phase", "Telophase"}
    metrics = json.loads((out / "metrics.json").read_text())
    assert 0.0 < metrics["balanced_accuracy"] <= 1.0 and "Hungarian" in metrics["protocol"]["labels"]
    config = json.loads((out / "config.json").read_text())
    assert config["image_size"] == [40, 40] and config["channel_names"] == ["Ch3", "Ch4", "Ch6"]
    for name in ("autoencoder.keras", "gmm.npz", "tsne_clusters.png", "tsne_labels.png", "confusion_matrix.png"):
        assert (out / name).exists(), name
    gmm, scaler = load_gmm(out / "gmm.npz")
    encoder = encoder_of(keras.saving.load_model(out / "autoencoder.keras", safe_mode=True))
    assert encoder.output_shape == (None, 8) and gmm.n_components == 7 and scaler is not None
    assert "balanced accuracy" in capsys.readouterr().out
    assert main(["cluster", str(IFC), "--channels", "Ch3,Ch4,Ch6", "--k", "7", "--out", str(out)]) == 2
    assert "--overwrite" in capsys.readouterr().err


def _matched_balanced_accuracy(labels, clusters):
    """Balanced accuracy after the one-to-one cluster-to-class matching that agrees most (computed here, apart
    from protkit)."""
    classes, y = np.unique(np.asarray(labels), return_inverse=True)
    clusters = np.asarray(clusters)
    contingency = np.zeros((clusters.max() + 1, len(classes)), int)
    np.add.at(contingency, (clusters, y), 1)
    rows, cols = linear_sum_assignment(-contingency)
    lookup = np.full(len(contingency), -1)
    lookup[rows] = cols
    return balanced_accuracy_score(y, lookup[clusters])


@pytest.mark.backend_neutral
def test_cluster_cli_on_synthetic_cell_folders(tmp_path, capsys):
    """`protkit cluster` end to end on a folder per class, the folder names used for scoring only.

    The planted, separable difference: "sparse" fields hold one cell (nucleoli stained), "crowded" fields
    four (cytosol stained). Balanced accuracy of the clusters measured over 8 seeds: 0.99-1.0; chance is 0.5.
    """
    fields = {"sparse": single_class_cells("Nucleoli", 40, seed=0, cells_per_image=(1, 1)),
              "crowded": single_class_cells("Cytosol", 40, seed=1, cells_per_image=(4, 4))}
    for name, images in fields.items():
        for i, image in enumerate(images):
            write_png(tmp_path / "cells" / name / f"cell{i:02d}.png", image[..., 1])  # the protein channel
    out = tmp_path / "clusters"
    args = ["cluster", str(tmp_path / "cells"), "--k", "2", "--out", str(out), "--epochs", "10", "--latent-dim", "8",
            "--batch-size", "16", "--tsne-items", "80", "--quiet", "--k-range", "2-4",
            "--label-map", "sparse=few cells,crowded=many cells"]
    assert main(args) == 0, capsys.readouterr().err
    printed = capsys.readouterr().out
    assert "balanced accuracy" in printed and "many-to-one" in printed and "k=4: BIC" in printed
    metrics = json.loads((out / "metrics.json").read_text())
    assert [row["k"] for row in metrics["k_selection"]] == [2, 3, 4] and (out / "k_selection.png").exists()
    assert metrics["groups"]["label_map"] == {"sparse": "few cells", "crowded": "many cells"}
    assert metrics["groups"]["balanced_accuracy"] == pytest.approx(metrics["balanced_accuracy"])  # a renaming

    table = pd.read_csv(out / "assignments.csv")
    assert len(table) == 80 and table["id"].is_unique and set(table.cluster) == {0, 1}
    assert list(table.columns) == ["id", "path", "cluster", "prob_cluster_0", "prob_cluster_1", "label"]
    probabilities = table[["prob_cluster_0", "prob_cluster_1"]].to_numpy()
    np.testing.assert_allclose(probabilities.sum(axis=1), 1.0, atol=1e-4)
    np.testing.assert_array_equal(probabilities.argmax(axis=1), table.cluster)
    assert (table.label == [pathlib.Path(path).parent.name for path in table.path]).all()
    balanced = _matched_balanced_accuracy(table.label, table.cluster)
    assert balanced >= 0.5 + 0.3, pd.crosstab(table.cluster, table.label)
    assert json.loads((out / "metrics.json").read_text())["balanced_accuracy"] == pytest.approx(balanced)

    config = json.loads((out / "config.json").read_text())
    assert config["k"] == 2 and config["items"] == 80 and config["image_size"] == [32, 32]
    assert config["latent_dim"] == 8 and config["epochs"] == 10
    for name in ("tsne_clusters.png", "tsne_labels.png", "confusion_matrix.png"):
        assert (out / name).exists(), name
    encoder = encoder_of(keras.saving.load_model(out / "autoencoder.keras", safe_mode=True))
    assert encoder.output_shape == (None, 8)
    gmm, scaler = load_gmm(out / "gmm.npz")
    assert gmm.n_components == 2 and scaler is not None

    # A second call does not overwrite the finished run.
    before = (out / "assignments.csv").read_bytes()
    assert main(args) == 2
    assert "--overwrite" in capsys.readouterr().err
    assert (out / "assignments.csv").read_bytes() == before

    # New cells go to the saved clusters (nothing refitted): the run's own cells get their clusters again,
    # and new cells of each kind land in the cluster of their kind.
    assert main(["predict", str(out), str(tmp_path / "cells"), "--out", str(tmp_path / "again.csv")]) == 0
    again = pd.read_csv(tmp_path / "again.csv").set_index("id").loc[table["id"]]
    np.testing.assert_array_equal(again["cluster"].to_numpy(), table["cluster"].to_numpy())
    np.testing.assert_allclose(again[["prob_cluster_0", "prob_cluster_1"]].to_numpy(), probabilities, atol=1e-4)
    new = {"sparse": single_class_cells("Nucleoli", 10, seed=5, cells_per_image=(1, 1)),
           "crowded": single_class_cells("Cytosol", 10, seed=6, cells_per_image=(4, 4))}
    for name, images in new.items():
        for i, image in enumerate(images):
            write_png(tmp_path / "new" / name / f"new{i:02d}.png", image[..., 1])
    capsys.readouterr()
    assert main(["predict", str(out), str(tmp_path / "new"), "--out", str(tmp_path / "new.csv")]) == 0
    assert "assigned to the clusters" in capsys.readouterr().out
    fresh = pd.read_csv(tmp_path / "new.csv")
    cluster_of = table.groupby("label")["cluster"].agg(lambda c: c.mode()[0])  # each kind's majority cluster
    assert (fresh["cluster"] == fresh["label"].map(cluster_of)).mean() >= 0.8
    assert main(["predict", str(out), str(tmp_path / "new"), "--out", str(tmp_path / "new.csv")]) == 2  # no overwrite


def test_cluster_on_an_unlabelled_folder_writes_no_metrics(tmp_path):
    images, _ = make_cells(24, image_size=32, seed=3)
    for i, image in enumerate(images):
        write_png(tmp_path / "cells" / f"cell{i:02d}.png", image[..., 1])
    dataset = Dataset.from_folder(tmp_path / "cells")
    assert dataset.labels is None
    result = cluster_dataset(dataset, 3, out=tmp_path / "run", epochs=1, latent_dim=4, filters=(8, 16),
                             verbose=0, tsne_items=0)
    assert result["scores"] is None and not (tmp_path / "run" / "metrics.json").exists()
    table = pd.read_csv(tmp_path / "run" / "assignments.csv")
    assert len(table) == 24 and "label" not in table.columns
    gmm, scaler = load_gmm(tmp_path / "run" / "gmm.npz")
    np.testing.assert_array_equal(gmm.predict(scaler.transform(result["features"])), result["assignments"])


def test_encoder_statistics_are_the_latent_then_channel_means_and_stds():
    model = dcae((16, 16, 2), latent_dim=6, filters=(4, 8))
    encoder = encoder_of(model)
    stats = encoder_statistics(encoder)
    x = np.random.default_rng(0).random((3, 16, 16, 2)).astype(np.float32)
    features = stats.predict(x, verbose=0)
    assert features.shape == (3, 6 + 2 * 8)  # latent, then mean and std of the second convolution's 8 maps
    np.testing.assert_allclose(features[:, :6], encoder.predict(x, verbose=0), rtol=1e-5, atol=1e-6)
    second = [layer for layer in encoder.layers if isinstance(layer, keras.layers.Conv2D)][1]
    maps = keras.Model(encoder.inputs, second.output).predict(x, verbose=0)
    np.testing.assert_allclose(features[:, 6:14], maps.mean(axis=(1, 2)), rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(features[:, 14:], maps.std(axis=(1, 2)), rtol=1e-3, atol=1e-4)
    with pytest.raises(ValueError, match="no convolution"):
        encoder_statistics(encoder, layers=[])


def test_dcae_mlp_is_a_model_train_evaluate_and_predict_know(tmp_path):
    """DCAE + MLP through protkit.training.train: the autoencoder pretrained and frozen, the MLP
    fitted on its features, one model.keras that evaluate and predict use like any run."""
    import keras

    from protkit.inference import evaluate_run, load_run, predict_run
    from protkit.models import build_model
    from protkit.models import dcae_mlp as dcae_mlp_module
    from protkit.training import train

    rng = np.random.default_rng(0)
    images = rng.random((90, 16, 16, 2)).astype(np.float32) * 0.2
    labels = np.arange(90) % 3
    images[labels == 1, 4:12, 4:12, 0] += 0.8
    images[labels == 2, :, :8, 1] += 0.8
    dataset = Dataset.from_arrays(images, labels=labels, class_names=["a", "b", "c"])
    seen = {}
    original = dcae_mlp_module.pretrain

    def recording(network, *args, **kwargs):
        history = original(network, *args, **kwargs)
        seen["history"] = history
        seen["encoder"] = [np.array(w) for w in network.get_layer("encoder_statistics").get_weights()]
        return history

    dcae_mlp_module.pretrain = recording
    try:
        result = train(dataset, model="dcae_mlp", out=tmp_path / "run", epochs=20, verbose=0, tta="none",
                       model_kwargs={"autoencoder_epochs": 10, "head_epochs": 30, "latent_dim": 8, "filters": (8, 16),
                                     "hidden": (16,)})
    finally:
        dcae_mlp_module.pretrain = original
    assert seen["history"]["loss"][-1] < seen["history"]["loss"][0]  # the autoencoder learned to reconstruct
    run = load_run(tmp_path / "run")
    features = run.model.get_layer("encoder_statistics")
    assert not features.trainable
    # the head's training left the pretrained encoder as it was
    assert all(np.array_equal(a, b) for a, b in zip(features.get_weights(), seen["encoder"]))
    scaling = run.model.get_layer("feature_scaling")
    assert np.abs(np.asarray(scaling.mean)).max() > 0  # adapted to the training features, not left at 0 / 1
    assert result.config["model"] == "dcae_mlp" and "autoencoder_epochs" in result.config["model_kwargs"]
    assert evaluate_run(run, dataset)["balanced_accuracy"] > 0.6  # the planted patterns are learnt
    predict_run(run, dataset, tmp_path / "p.csv", progress=False)
    assert len(pd.read_csv(tmp_path / "p.csv")) == 90
    untrained = build_model("dcae_mlp", (16, 16, 2), 3, latent_dim=8, filters=(8, 16), hidden=(16,))
    assert isinstance(untrained.get_layer("latent_mlp"), keras.Model)


def test_dcae_mlp_head_stage_fits_the_head_on_the_eight_views_before_fine_tuning():
    """`pretrain(head_items=...)` leaves a classifier that already knows the planted classes, its
    head's weights those of an MLP trained on the views' features and its scaling that MLP's scaler."""
    from protkit.data import Normalizer, make_pipeline
    from protkit.models import build_model
    from protkit.models.dcae_mlp import pretrain

    rng = np.random.default_rng(1)
    images = rng.random((96, 16, 16, 1)).astype(np.float32) * 0.2
    labels = np.arange(96) % 2
    images[labels == 1, 5:11, 5:11, 0] += 0.8  # a central square: the same in every view
    dataset = Dataset.from_arrays(images, labels=labels, class_names=["empty", "square"])
    normalizer = Normalizer("fixed").fit(dataset)
    keras.utils.set_random_seed(0)
    network = build_model("dcae_mlp", (16, 16, 1), 2, latent_dim=8, filters=(8, 16), hidden=(16,))
    untouched = [np.array(w) for w in network.get_layer("latent_mlp").get_weights()]
    pipeline = make_pipeline(dataset, batch_size=16, labels=False, normalizer=normalizer)
    logs = pretrain(network, pipeline, epochs=3, verbose=0, head_items=(dataset, np.arange(96), (16, 16), normalizer),
                    head_epochs=40)
    assert 1 <= logs["head_epochs"] <= 40 and logs["head_loss"][-1] < logs["head_loss"][0]
    moved = network.get_layer("latent_mlp").get_weights()
    assert all(not np.allclose(a, b) for a, b in zip(untouched, moved))
    predicted = network.predict(images, verbose=0).argmax(axis=1)  # before any fine-tuning on images
    assert (predicted == labels).mean() >= 0.9
    without = build_model("dcae_mlp", (16, 16, 1), 2, latent_dim=8, filters=(8, 16), hidden=(16,))
    assert "head_epochs" not in pretrain(without, pipeline, epochs=1, verbose=0)  # no head stage without items


# ---------------------------------------------------------------- clusters that find the biology (issue 15, part 4)


@pytest.mark.backend_neutral
def test_soft_assignment_is_students_t_against_numpy_and_round_trips():
    from layer_testing import run_layer_test
    from protkit.layers import SoftAssignment

    run_layer_test(SoftAssignment, {"k": 3, "alpha": 2.0}, (4, 5), (4, 3), expected_num_trainable_weights=1)
    layer = SoftAssignment(2, alpha=1.0)
    z = np.array([[0.0, 0.0], [3.0, 4.0], [1.0, 0.0]], np.float32)
    layer.build(z.shape)
    layer.centres.assign(np.array([[0.0, 0.0], [3.0, 4.0]], np.float32))
    squared = ((z[:, None, :] - np.array([[0.0, 0.0], [3.0, 4.0]])[None]) ** 2).sum(-1)
    kernel = 1.0 / (1.0 + squared)
    np.testing.assert_allclose(keras.ops.convert_to_numpy(layer(z)), kernel / kernel.sum(1, keepdims=True), rtol=1e-5)


def test_target_distribution_sharpens_and_keeps_rows_summing_to_one():
    from protkit.clustering import target_distribution

    q = np.array([[0.6, 0.4], [0.55, 0.45], [0.2, 0.8]])
    p = target_distribution(q)
    np.testing.assert_allclose(p.sum(axis=1), 1.0, rtol=1e-6)
    assert (p.max(axis=1) > q.max(axis=1)).all() and (p.argmax(1) == q.argmax(1)).all()


def _two_blob_cells(n=64, size=16, seed=0):
    """Two planted kinds: a bright blob top-left or bottom-right, on noise; (images, kind)."""
    rng = np.random.default_rng(seed)
    kind = np.arange(n) % 2
    images = rng.normal(0.1, 0.05, (n, size, size, 1)).astype(np.float32)
    for i, which in enumerate(kind):
        corner = slice(2, 7) if which == 0 else slice(size - 7, size - 2)
        images[i, corner, corner, 0] += rng.uniform(0.6, 0.9)
    return np.clip(images, 0, 1), kind


def test_idec_clustering_loss_sharpens_the_clusters_beyond_reconstruction_alone():
    """IDEC's clustering term must move the latents: with gamma > 0 the soft assignments end far more
    confident than the same fine-tuning with gamma = 0 (reconstruction alone), and the clusters find the kinds."""
    from protkit.clustering import idec_refine, match_clusters
    from protkit.models.autoencoder import dcae

    images, kind = _two_blob_cells()
    confidence = {}
    for gamma in (0.0, 1.0):
        keras.utils.set_random_seed(0)
        model = dcae((16, 16, 1), latent_dim=4, filters=(8, 16))
        model.compile(optimizer="adam", loss="mse")
        model.fit(images, images, epochs=5, batch_size=16, verbose=0)
        before = [np.array(w) for w in model.get_layer("encoder").get_weights()]
        fit = idec_refine(model, images, 2, gamma=gamma, epochs=8, batch_size=16, learning_rate=1e-3, tol=0.0)
        after = model.get_layer("encoder").get_weights()
        assert any(not np.allclose(a, b) for a, b in zip(before, after))  # fine-tuned in place
        assert fit.soft_assignments.shape == (64, 2) and len(fit.history["changed"]) >= 2
        confidence[gamma] = float(fit.soft_assignments.max(axis=1).mean())
        if gamma:  # (KL(P || Q) need not fall: P is sharpened again from Q before every epoch)
            assert len(fit.history["clustering_loss"]) == len(fit.history["changed"])
            assert (match_clusters(kind, fit.assignments)["y_pred"] == kind).mean() >= 0.9
    assert confidence[1.0] > confidence[0.0] + 0.05, confidence


@pytest.mark.backend_neutral
def test_view_averaged_latents_of_a_turned_cell_equal_those_of_the_cell():
    from protkit.data import Dataset
    from protkit.models.autoencoder import dcae, encoder_of
    from protkit.unsupervised import latent_features

    images, _ = _two_blob_cells(n=4)
    images[:, 3:5, 9:13, 0] = 0.7  # an asymmetric mark, so a turn changes the image
    turned = np.concatenate([np.rot90(images, 1, axes=(1, 2)), images[:, :, ::-1]])  # rotated, mirrored
    keras.utils.set_random_seed(0)
    encoder = encoder_of(dcae((16, 16, 1), latent_dim=6, filters=(8, 16)))
    data = Dataset.from_arrays(np.concatenate([images, turned]))

    def latents(views):
        return latent_features(encoder, data, normalizer="fixed", views=views, average_views=True)

    plain, averaged = latents("none"), latents("dihedral")
    np.testing.assert_allclose(averaged[4:8], averaged[:4], atol=1e-5)
    np.testing.assert_allclose(averaged[8:], averaged[:4], atol=1e-5)
    assert not np.allclose(plain[4:8], plain[:4], atol=1e-3)  # without averaging a turn moves the latent


def test_cluster_run_with_views_and_idec_predicts_its_own_assignments(tmp_path, capsys):
    from protkit.cli import main

    images, kind = _two_blob_cells(n=40)
    for i, (image, which) in enumerate(zip(images, kind)):
        write_png(tmp_path / "cells" / f"kind{which}" / f"c{i:02d}.png", (image[..., 0] * 255).astype(np.uint8))
    out = tmp_path / "clusters"
    assert main(["cluster", str(tmp_path / "cells"), "--k", "2", "--out", str(out), "--epochs", "4", "--latent-dim", "4",
                 "--batch-size", "16", "--tsne-items", "0", "--quiet", "--views", "dihedral", "--refine", "idec",
                 "--gamma", "0.5"]) == 0, capsys.readouterr().err
    config = json.loads((out / "config.json").read_text())
    assert config["views"] == "dihedral" and config["refine"] == "idec" and config["gamma"] == 0.5
    assert config["refine_history"]["changed"][0] == 1.0
    table = pd.read_csv(out / "assignments.csv")
    assert main(["predict", str(out), str(tmp_path / "cells"), "--out", str(tmp_path / "again.csv")]) == 0
    again = pd.read_csv(tmp_path / "again.csv").set_index("id").loc[table["id"]]
    np.testing.assert_array_equal(again["cluster"].to_numpy(), table["cluster"].to_numpy())
    with pytest.raises(ValueError, match="refine must be one of"):
        cluster_dataset(Dataset.from_arrays(images), 2, refine="dec")
