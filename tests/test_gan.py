"""DCGAN: factories, training steps, saving, conditional sampling; GAN balancing; kernel distance."""

import keras
import numpy as np
import pandas as pd
import pytest

from protkit.augment import classifier_features, gan_balance
from protkit.data import Dataset
from protkit.metrics import kernel_distance
from protkit.models.dcgan import DCGAN, dcgan_discriminator, dcgan_generator, from_gan_range, to_gan_range
from protkit.training import train


def _tiny_gan(num_classes=None, size=32, channels=2, seed=0):
    keras.utils.set_random_seed(seed)
    generator = dcgan_generator(size, channels, latent_dim=16, num_classes=num_classes, filters=32)
    discriminator = dcgan_discriminator(size, channels, num_classes=num_classes, filters=16)
    gan = DCGAN(generator, discriminator, seed=seed)
    gan.compile()
    return gan


def _halves(n, size=32, seed=0):
    """Class 0: the left half is bright; class 1: the right half. Values in [-1, 1]."""
    rng = np.random.default_rng(seed)
    labels = np.arange(n) % 2
    images = rng.normal(-0.8, 0.05, (n, size, size, 1)).astype(np.float32)
    for i, label in enumerate(labels):
        half = slice(0, size // 2) if label == 0 else slice(size // 2, size)
        images[i, :, half] = rng.normal(0.8, 0.05, (size, size // 2, 1))
    return np.clip(images, -1, 1), labels


@pytest.mark.parametrize("size", [32, 40, 48, 64, 128])
@pytest.mark.parametrize("channels", [1, 5])
def test_factories_give_the_requested_shapes(size, channels):
    generator = dcgan_generator(size, channels, latent_dim=8, filters=32)
    discriminator = dcgan_discriminator(size, channels, filters=8)
    assert generator.output_shape == (None, size, size, channels)
    assert discriminator.output_shape == (None, 1)
    conditional = dcgan_discriminator(size, channels, num_classes=3, filters=8)
    assert [tuple(t.shape) for t in conditional.inputs] == [(None, size, size, channels), (None, 3)]


@pytest.mark.parametrize("size", [16, 30, 34, 256, 64.0])
def test_unsupported_sizes_are_refused(size):
    with pytest.raises(ValueError, match="image_size"):
        dcgan_generator(size, 1)


def test_mismatched_networks_are_refused():
    with pytest.raises(ValueError, match="both be unconditional or both conditional"):
        DCGAN(dcgan_generator(32, 1, latent_dim=8, num_classes=2, filters=16), dcgan_discriminator(32, 1, filters=8))


def test_other_backends_get_a_clear_error(monkeypatch):
    generator, discriminator = dcgan_generator(32, 1, latent_dim=8, filters=16), dcgan_discriminator(32, 1, filters=8)
    monkeypatch.setattr(keras.backend, "backend", lambda: "torch")
    with pytest.raises(RuntimeError, match="KERAS_BACKEND=tensorflow or jax"):
        DCGAN(generator, discriminator)


@pytest.mark.backend_neutral
def test_a_few_steps_train_both_networks():
    gan = _tiny_gan()
    images = np.random.default_rng(0).uniform(-1, 1, (32, 32, 32, 2)).astype(np.float32)
    before_g = [w.numpy().copy() for w in gan.generator.trainable_weights]
    before_d = [w.numpy().copy() for w in gan.discriminator.trainable_weights]
    history = gan.fit(images, batch_size=8, epochs=2, verbose=0).history
    assert set(history) == {"d_loss", "g_loss"} and len(history["d_loss"]) == 2
    assert all(np.isfinite(v) for values in history.values() for v in values)
    assert any(not np.allclose(a, b.numpy()) for a, b in zip(before_g, gan.generator.trainable_weights))
    assert any(not np.allclose(a, b.numpy()) for a, b in zip(before_d, gan.discriminator.trainable_weights))
    assert [m.name for m in gan.metrics] == ["d_loss", "g_loss"]


@pytest.mark.backend_neutral
def test_keras_file_round_trip(tmp_path):
    gan = _tiny_gan(num_classes=3)
    images = np.random.default_rng(1).uniform(-1, 1, (16, 32, 32, 2)).astype(np.float32)
    gan.fit(images, np.eye(3, dtype=np.float32)[np.arange(16) % 3], batch_size=8, epochs=1, verbose=0)
    gan.save(tmp_path / "gan.keras")
    loaded = keras.saving.load_model(tmp_path / "gan.keras")
    assert isinstance(loaded, DCGAN) and loaded.conditional and loaded.num_classes == 3
    assert int(loaded.d_optimizer.iterations) == int(gan.d_optimizer.iterations) == 2  # optimizer state kept
    np.testing.assert_allclose(loaded.generate(labels=[0, 1, 2], seed=5), gan.generate(labels=[0, 1, 2], seed=5),
                               atol=1e-6)
    config = gan.get_config()
    assert DCGAN.from_config(config).get_config()["generator"] == config["generator"]
    loaded.fit(images, np.eye(3, dtype=np.float32)[np.arange(16) % 3], batch_size=8, epochs=1, verbose=0)


def test_generate_validates_labels():
    conditional, plain = _tiny_gan(num_classes=2), _tiny_gan()
    assert conditional.generate(4, labels=1, seed=0).shape == (4, 32, 32, 2)
    assert conditional.generate(labels=np.array([[1.0, 1.0]]), seed=0).shape == (1, 32, 32, 2)
    with pytest.raises(ValueError, match="needs labels"):
        conditional.generate(3)
    with pytest.raises(ValueError, match="class indices"):
        conditional.generate(labels=[0, 2])
    with pytest.raises(ValueError, match="unconditional"):
        plain.generate(2, labels=[0, 1])
    np.testing.assert_array_equal(plain.generate(2, seed=3), plain.generate(2, seed=3))
    assert np.abs(plain.generate(8, seed=3)).max() <= 1.0  # tanh range


@pytest.mark.backend_neutral
def test_conditional_sampling_returns_the_requested_classes():
    images, labels = _halves(256, size=32)
    keras.utils.set_random_seed(0)
    gan = DCGAN(dcgan_generator(32, 1, latent_dim=16, num_classes=2, filters=64),
                dcgan_discriminator(32, 1, num_classes=2, filters=16), seed=0)
    gan.compile()
    gan.fit(images, np.eye(2, dtype=np.float32)[labels], batch_size=32, epochs=10, verbose=0)
    requested = np.repeat([0, 1], 32)
    generated = gan.generate(labels=requested, seed=1)
    left, right = generated[:, :, :16].mean(axis=(1, 2, 3)), generated[:, :, 16:].mean(axis=(1, 2, 3))
    made = (right > left).astype(int)  # which half is bright says which class was drawn
    assert (made == requested).mean() >= 0.9


def _imbalanced(n_major=24, n_minor=6, size=32, seed=0):
    images, _ = _halves(n_major + n_minor, size=size, seed=seed)
    labels = np.r_[np.zeros(n_major, int), np.ones(n_minor, int)]
    images = from_gan_range(images)  # [0, 1]
    return Dataset.from_arrays(images, labels=labels, class_names=["common", "rare"], groups=np.arange(len(labels)))


def test_gan_balance_fills_the_short_classes_and_marks_them():
    dataset = _imbalanced()
    balance = gan_balance(dataset, target="max", image_size=32, normalizer="fixed", epochs=1, batch_size=8,
                          latent_dim=8, generator_filters=32, discriminator_filters=8)
    assert balance.counts_before == {"common": 24, "rare": 6}
    assert balance.added == {"common": 0, "rare": 18}
    assert balance.counts_after == {"common": 24, "rare": 24}
    out = balance.dataset
    assert len(out) == 48 and out.synthetic.sum() == 18 and not out.synthetic[:30].any()
    assert all(i.startswith("synthetic-") for i, s in zip(out.ids, out.synthetic) if s)
    assert out.arrays.min() >= 0 and out.arrays.max() <= 1
    x, y = next(iter(balance.pipeline(batch_size=48, shuffle=False)))
    assert tuple(x.shape) == (48, 32, 32, 1) and float(y.numpy()[30:, 1].min()) == 1.0
    reuse = gan_balance(dataset, target={"rare": 10}, gan=balance.gan, image_size=32, normalizer="fixed")
    assert reuse.added == {"common": 0, "rare": 4} and reuse.history == {}


def test_gan_balance_refuses_bad_arguments():
    dataset = _imbalanced()
    with pytest.raises(ValueError, match="target must be"):
        gan_balance(dataset, target=0, image_size=32, epochs=0)
    with pytest.raises(ValueError, match="unknown class"):
        gan_balance(dataset, target={"Golgi": 5}, image_size=32, epochs=0)
    marked = Dataset.from_arrays(dataset.arrays, labels=dataset.labels, synthetic=np.arange(30) >= 28)
    with pytest.raises(ValueError, match="generated items"):
        gan_balance(marked, image_size=32, epochs=0)


def test_multi_label_conditioning_keeps_real_label_sets():
    from protkit.augment import _conditioning_rows

    labels = np.array([[1, 0, 0]] * 10 + [[1, 1, 0]] * 3 + [[0, 0, 1]] * 6, dtype=np.int8)
    rows = _conditioning_rows(labels, 3, [13, 13, 13], np.random.default_rng(0))
    real_sets = {tuple(r) for r in labels}
    assert {tuple(r.astype(int)) for r in rows} <= real_sets
    after = labels.sum(axis=0) + rows.sum(axis=0)
    assert (after >= 13).all()


def test_generated_items_never_reach_validation_or_test(tmp_path):
    dataset = _imbalanced(n_major=30, n_minor=30)
    fake = Dataset.from_arrays(np.full((60, 32, 32, 1), 0.5, np.float32), labels=np.arange(60) % 2,
                               class_names=dataset.class_names, ids=[f"synthetic-{i}" for i in range(60)],
                               groups=np.full(60, -1), synthetic=np.ones(60, bool))
    mixed = Dataset.concatenate([dataset, fake])
    assert mixed.synthetic.sum() == 60
    result = train(mixed, model="cnn", epochs=1, image_size=32, batch_size=16, val_fraction=0.3, test_fraction=0.3,
                   normalization="fixed", augment=False, out=tmp_path / "run", verbose=0,
                   model_kwargs={"filters": (4,), "hidden_units": 4})
    parts = pd.read_csv(tmp_path / "run" / "split.csv", dtype=str)
    held_out = parts[parts.part != "train"]
    assert len(held_out) > 0 and not held_out.id.str.startswith("synthetic-").any()
    assert set(result.split["train"]) >= set(np.flatnonzero(mixed.synthetic))
    assert len(held_out) == len(result.split["validation"]) + len(result.split["test"])
    assert "generated items" in result.metrics["protocol"]["synthetic"]


def test_kernel_distance_matches_a_direct_computation():
    rng = np.random.default_rng(0)
    x, y = rng.normal(size=(6, 3)), rng.normal(1.0, 1.0, size=(6, 3))

    def k(a, b):
        return (a @ b / 3 + 1) ** 3

    n = 6
    xx = sum(k(x[i], x[j]) for i in range(n) for j in range(n) if i != j) / (n * (n - 1))
    yy = sum(k(y[i], y[j]) for i in range(n) for j in range(n) if i != j) / (n * (n - 1))
    xy = sum(k(x[i], y[j]) for i in range(n) for j in range(n)) / (n * n)
    result = kernel_distance(x, y, subset_size=6, subsets=1)
    assert result["mean"] == pytest.approx(xx + yy - 2 * xy)
    same = kernel_distance(rng.normal(size=(400, 4)), rng.normal(size=(400, 4)), subset_size=200)
    shifted = kernel_distance(rng.normal(size=(400, 4)), rng.normal(0.7, 1.0, size=(400, 4)), subset_size=200)
    assert abs(same["mean"]) < 0.05 < shifted["mean"]
    with pytest.raises(ValueError, match="same d"):
        kernel_distance(x, y[:, :2])


def test_classifier_features_are_the_penultimate_layer():
    inputs = keras.Input((8, 8, 1))
    hidden = keras.layers.Dense(5, name="hidden")(keras.layers.Flatten()(inputs))
    model = keras.Model(inputs, keras.layers.Dense(2, activation="softmax")(hidden))
    features = classifier_features(model, np.zeros((3, 8, 8, 1)))
    assert features.shape == (3, 5)
    assert classifier_features(model, np.zeros((3, 8, 8, 1)), layer="hidden").shape == (3, 5)


def test_gan_range_round_trip():
    images = np.linspace(0, 1, 11, dtype=np.float32)
    np.testing.assert_allclose(from_gan_range(to_gan_range(images)), images, atol=1e-7)
    assert to_gan_range(np.array([2.0]))[0] == 1.0


def test_sample_grids_are_drawn_every_n_epochs(tmp_path):
    from protkit.callbacks import GanSamples

    gan = _tiny_gan(num_classes=2)
    images = np.random.default_rng(2).uniform(-1, 1, (8, 32, 32, 2)).astype(np.float32)
    samples = GanSamples(every=2, per_class=3, class_names=["a", "b"], folder=tmp_path, show=False)
    gan.fit(images, np.eye(2, dtype=np.float32)[np.arange(8) % 2], batch_size=8, epochs=4, verbose=0,
            callbacks=[samples])
    assert [p.name for p in samples.figures_written] == ["samples_epoch_002.png", "samples_epoch_004.png"]
    assert all(p.stat().st_size > 1000 for p in samples.figures_written)
    assert len(samples.figure().axes) == 6  # 2 classes x 3 samples
