import numpy as np
import pytest

from conftest import write_png
from protkit.data import Dataset, Normalizer, load_images, make_pipeline


def test_percentile_normalization_matches_numpy_reference():
    image = np.random.default_rng(0).integers(0, 4000, (9, 7, 3)).astype(np.uint16)
    out = Normalizer("percentile", percentiles=(2, 98))(image)
    for c in range(3):
        low, high = np.percentile(image[..., c].astype(np.float32), [2, 98])
        np.testing.assert_allclose(out[..., c], (image[..., c] - low) / (high - low), rtol=1e-5, atol=1e-6)


def test_fixed_normalization_uses_dtype_or_scale():
    image = np.full((2, 2, 1), 4095, np.uint16)
    assert Normalizer("fixed")(image).max() == pytest.approx(4095 / 65535)
    assert Normalizer("fixed", scale=4095)(image).max() == pytest.approx(1.0)
    assert Normalizer("fixed")(np.full((2, 2, 1), 255, np.uint8)).max() == pytest.approx(1.0)


def test_dataset_normalization_keeps_absolute_intensity_and_round_trips():
    rng = np.random.default_rng(0)
    dim = rng.integers(100, 200, (5, 8, 8, 2)).astype(np.uint16)
    bright = dim * 3
    ds = Dataset.from_arrays(np.concatenate([dim, bright]))
    norm = Normalizer("dataset").fit(ds, indices=np.arange(10))
    out_dim, out_bright = norm(dim[0]), norm(bright[0])
    assert out_bright.mean() > 2 * out_dim.mean()  # per-image percentile would erase this
    per_image = Normalizer("percentile")
    assert abs(per_image(bright[0]).mean() - per_image(dim[0]).mean()) < 0.15
    restored = Normalizer.from_config(norm.get_config())
    np.testing.assert_array_equal(restored(dim[0]), out_dim)
    with pytest.raises(ValueError, match="not fitted"):
        Normalizer("dataset")(dim[0])


def test_normalizer_rejects_bad_arguments():
    with pytest.raises(ValueError, match=r"Received: mode='zscore'"):
        Normalizer("zscore")
    with pytest.raises(ValueError, match=r"Received: percentiles"):
        Normalizer(percentiles=(99, 1))


def test_pipeline_from_files_equals_in_memory_path(class_folder):
    files = Dataset.from_folder(class_folder)
    arrays = Dataset.from_arrays(np.stack([files.read(i) for i in range(len(files))]),
                                 labels=files.labels, class_names=files.class_names)
    a = [(x.numpy(), y.numpy()) for x, y in make_pipeline(files, batch_size=4)]
    b = [(x.numpy(), y.numpy()) for x, y in make_pipeline(arrays, batch_size=4)]
    assert len(a) == len(b) == 2
    for (xa, ya), (xb, yb) in zip(a, b):
        np.testing.assert_allclose(xa, xb, atol=1e-6)
        np.testing.assert_array_equal(ya, yb)
    assert a[0][1].shape == (4, 2) and a[0][1].sum(axis=1).tolist() == [1, 1, 1, 1]  # one-hot


def test_pipeline_order_indices_and_seeded_shuffle(class_folder):
    ds = Dataset.from_folder(class_folder)
    ordered = np.concatenate([x.numpy() for x, _ in make_pipeline(ds, indices=[5, 0, 3], batch_size=2)])
    expected = load_images(ds, indices=[5, 0, 3])
    np.testing.assert_allclose(ordered, expected, atol=1e-6)

    def epoch(seed):
        return np.concatenate([y.numpy().argmax(1) for _, y in make_pipeline(ds, batch_size=6, shuffle=True, seed=seed)])
    first, again = epoch(3), epoch(3)
    np.testing.assert_array_equal(first, again)
    assert sorted(first.tolist()) == sorted(ds.labels.tolist())


def test_pipeline_cache_shuffle_and_repeat(class_folder):
    ds = Dataset.from_folder(class_folder)
    pipe = make_pipeline(ds, batch_size=4, shuffle=True, cache=True, repeat=True, drop_remainder=True)
    shapes = [tuple(x.shape) for x, _ in pipe.take(5)]
    assert shapes == [(4, 16, 16, 1)] * 5


def test_pipeline_augment_hook_and_unlabelled(tmp_path):
    for i in range(3):
        write_png(tmp_path / "flat" / f"{i}.png", np.full((6, 6), 10 * i, np.uint8))
    ds = Dataset.from_folder(tmp_path / "flat")
    assert ds.task is None
    calls = []

    def augment(x):
        calls.append(1)
        return x + 1.0

    batches = list(make_pipeline(ds, batch_size=3, normalizer="fixed", augment=augment))
    assert len(batches) == 1 and calls  # images only, augmented
    np.testing.assert_allclose(batches[0].numpy().min(), 1.0)


def test_pipeline_with_keras_augmentation_layer_any_channel_count():
    import keras

    ds = Dataset.from_arrays(np.random.default_rng(0).random((4, 8, 8, 5)).astype(np.float32), labels=[0, 1, 0, 1])
    flip = keras.layers.RandomFlip("horizontal", seed=1)
    x, y = next(iter(make_pipeline(ds, batch_size=4, augment=flip, normalizer="fixed")))
    assert tuple(x.shape) == (4, 8, 8, 5)


def test_multilabel_targets_are_multi_hot():
    labels = np.array([[1, 0, 1], [0, 1, 0]])
    ds = Dataset.from_arrays(np.zeros((2, 4, 4, 1), np.uint8), labels=labels)
    _, y = next(iter(make_pipeline(ds, batch_size=2)))
    np.testing.assert_array_equal(y.numpy(), labels)
    assert ds.task == "multi_label"


def test_dataset_subset_and_concatenate(class_folder):
    ds = Dataset.from_folder(class_folder)
    part = ds.subset([0, 4])
    assert len(part) == 2 and part.labels.tolist() == [0, 1] and part.ids == [ds.ids[0], ds.ids[4]]
    both = Dataset.concatenate([ds, part], names=["all", "part"])
    assert len(both) == 8 and both.groups.tolist().count("part") == 2
    with pytest.raises(ValueError, match="classes differ"):
        Dataset.concatenate([ds, Dataset.from_arrays(np.zeros((1, 2, 2, 1)), labels=[0], class_names=["x"])])
