"""protkit.plots: composite numerics, one figure of each kind on tiny synthetic data, save."""

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import pytest  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402

from protkit import plots  # noqa: E402
from protkit.data import Dataset, Normalizer  # noqa: E402
from protkit.data.synthetic import HPA_CHANNEL_COLORS, SYNTHETIC_CLASSES, make_cells  # noqa: E402


@pytest.fixture(scope="module")
def cells():
    images, labels = make_cells(n=40, image_size=32)
    return Dataset.from_arrays(images, labels, class_names=SYNTHETIC_CLASSES, channel_names=HPA_CHANNEL_COLORS)


@pytest.fixture(scope="module")
def single_label():
    rng = np.random.default_rng(0)
    images = rng.integers(0, 4000, (12, 16, 16, 3), dtype=np.uint16)
    return Dataset.from_arrays(images, np.arange(12) % 3, class_names=["G1", "S", "G2"],
                               channel_names=["Ch3", "Ch4", "Ch6"])


@pytest.fixture(autouse=True)
def close_figures():
    yield
    plt.close("all")


def ramp(channels, lit, dtype=np.uint8):
    """An image whose channel `lit` rises from 0 to full scale left to right; the others are 0."""
    image = np.zeros((8, 16, channels), dtype)
    image[..., lit] = np.linspace(0, np.iinfo(dtype).max, 16).astype(dtype)[None, :]
    return image


# ---------------------------------------------------------------------- composite
def test_pure_red_channel_is_red_where_brightest():
    rgb = plots.channel_composite(ramp(4, 0))
    assert rgb.shape == (8, 16, 3) and rgb.dtype == np.float32
    np.testing.assert_allclose(rgb[0, -1], [1.0, 0.0, 0.0])
    assert np.all(rgb[..., 1:] == 0)
    assert rgb[0, 0, 0] == 0 and 0 < rgb[0, 8, 0] < 1


@pytest.mark.parametrize("lit, expected", [(0, (1, 0, 0)), (1, (0, 1, 0)), (2, (0, 0, 1)), (3, (1, 1, 0))])
def test_four_channels_take_the_hpa_colours(lit, expected):
    np.testing.assert_allclose(plots.channel_composite(ramp(4, lit))[3, -1], expected)


def test_one_channel_is_gray_and_2d_images_are_accepted():
    image = np.random.default_rng(1).integers(0, 65535, (10, 12), dtype=np.uint16)
    rgb = plots.channel_composite(image)
    assert rgb.shape == (10, 12, 3)
    np.testing.assert_array_equal(rgb[..., 0], rgb[..., 1])
    np.testing.assert_array_equal(rgb[..., 0], rgb[..., 2])
    assert rgb.min() == 0 and rgb.max() == 1


def test_channels_add_up_and_clip():
    image = ramp(4, 0)
    image[..., 1] = image[..., 0]
    np.testing.assert_allclose(plots.channel_composite(image)[0, -1], [1.0, 1.0, 0.0])
    both = ramp(2, 0)
    both[..., 1] = both[..., 0]
    np.testing.assert_allclose(plots.channel_composite(both)[0, -1], [1.0, 1.0, 1.0])  # green + magenta


def test_other_channel_counts_get_distinct_colours():
    tips = [tuple(plots.channel_composite(ramp(3, lit))[0, -1]) for lit in range(3)]
    assert len(set(tips)) == 3


def test_custom_colours_fixed_normalizer_and_no_normalizer():
    image = ramp(2, 1)
    rgb = plots.channel_composite(image, colors=["red", (0.0, 0.0, 1.0)], normalizer="fixed")
    np.testing.assert_allclose(rgb[0, -1], [0, 0, 1])
    np.testing.assert_allclose(rgb[0, :, 2], image[0, :, 1] / 255, rtol=1e-6)
    raw = np.full((4, 4, 1), 0.25, np.float32)
    np.testing.assert_allclose(plots.channel_composite(raw, normalizer=None), 0.25)
    with pytest.raises(ValueError, match="one colour per channel"):
        plots.channel_composite(image, colors=["red"])
    with pytest.raises(ValueError, match="image.shape"):
        plots.channel_composite(np.zeros((2, 3, 4, 5)))


# ---------------------------------------------------------------------- figures
def test_class_balance_multi_label_sorted_and_annotated(cells):
    fig = plots.class_balance(cells)
    assert isinstance(fig, Figure) and len(fig.axes) == 1
    ax = fig.axes[0]
    assert "carrying the label" in ax.get_xlabel()
    widths = [bar.get_width() for bar in ax.patches]
    assert widths == sorted(widths) and widths[-1] == cells.labels.sum(axis=0).max()
    assert ax.get_yticklabels()[-1].get_text() == cells.class_counts().idxmax()
    assert {text.get_text().split()[0] for text in ax.texts} == {str(int(w)) for w in widths}


def test_class_balance_single_label_counts_and_given_axes(single_label):
    assert plots.class_balance(single_label).axes[0].get_xlabel() == "images"
    fig, ax = plt.subplots()
    assert plots.class_balance(pd.Series({"a": 3, "b": 30}), ax=ax, title="mine") is fig
    assert ax.get_title() == "mine" and [bar.get_width() for bar in ax.patches] == [3, 30]
    assert "10x" in plots.class_balance({"a": 3, "b": 30}).axes[0].get_title()
    with pytest.raises(ValueError, match="unlabelled"):
        plots.class_balance(Dataset.from_arrays(np.zeros((2, 4, 4, 1))))


def test_sample_grid_has_one_tile_per_class_and_example(cells, single_label):
    fig = plots.sample_grid(cells, per_class=3)
    assert isinstance(fig, Figure) and len(fig.axes) == len(SYNTHETIC_CLASSES) * 3
    assert fig.axes[0].get_ylabel().startswith(SYNTHETIC_CLASSES[0])
    assert "carrying the label" in fig._suptitle.get_text()
    assert len(plots.sample_grid(single_label, per_class=2, channel="Ch4").axes) == 3 * 2
    fig = plots.sample_grid(cells, per_class=2, classes=["Nucleoli"], normalizer="dataset")
    assert len(fig.axes) == 2 and fig.axes[0].images[0].get_array().shape == (32, 32, 3)
    assert len(plots.sample_grid(Dataset.from_arrays(np.zeros((3, 4, 4, 1))), per_class=5).axes) == 5
    with pytest.raises(ValueError, match="unknown channel"):
        plots.sample_grid(cells, channel="purple")


def test_raw_vs_inverted_and_channel_panels(cells, single_label):
    fig = plots.raw_vs_inverted(single_label.read(0), channel="Ch4", channel_names=single_label.channel_names)
    assert isinstance(fig, Figure) and len(fig.axes) == 4  # two images, two colourbars
    raw, inverted = (ax.images[0] for ax in fig.axes[:2])
    assert raw.get_cmap().name == "gray" and inverted.get_cmap().name == "gray_r"
    np.testing.assert_array_equal(raw.get_array(), single_label.read(0)[..., 1])
    fig = plots.channel_panels(cells.read(0), cells.channel_names)
    assert isinstance(fig, Figure) and len(fig.axes) == 5
    assert fig.axes[-1].images[0].get_array().shape == (32, 32, 3)
    assert len(plots.channel_panels(single_label.read(0), normalizer="fixed").axes) == 4


def test_normalization_comparison_shares_one_scale(single_label):
    fig = plots.normalization_comparison(single_label, channel="Ch4")
    assert isinstance(fig, Figure) and len(fig.axes) == 2 * 3 + 1
    assert all(ax.images[0].get_clim() == (0, 1) for ax in fig.axes[:-1])
    fitted = Normalizer("dataset").fit(single_label)
    assert len(plots.normalization_comparison(single_label, indices=[0], modes=[fitted]).axes) == 2


def test_learning_curves_from_dict_and_dataframe():
    logs = {"loss": [1.0, 0.6, 0.4], "val_loss": [1.1, 0.7, 0.8], "accuracy": [0.3, 0.6, 0.8],
            "val_accuracy": [0.2, 0.5, 0.7], "learning_rate": [1e-3] * 3}
    fig = plots.learning_curves(logs)
    assert isinstance(fig, Figure) and [ax.get_title() for ax in fig.axes] == ["loss", "accuracy"]
    loss = fig.axes[0]
    assert [line.get_label() for line in loss.lines][:2] == ["train", "validation"]
    assert loss.lines[2].get_xdata()[0] == 2  # best validation loss at epoch 2 (counted from 1)
    frame = pd.DataFrame(logs).assign(epoch=[0, 1, 2])
    assert len(plots.learning_curves(frame, metrics=["loss"]).axes) == 1
    with pytest.raises(ValueError, match="not in the history"):
        plots.learning_curves(logs, metrics=["auc"])


def test_confusion_matrix_rows_sum_to_one():
    cm = np.array([[8, 2, 0], [1, 9, 0], [0, 0, 0]])
    fig = plots.confusion_matrix(cm, ["a", "b", "c"])
    assert isinstance(fig, Figure) and len(fig.axes) == 2  # heatmap + colourbar
    ax = fig.axes[0]
    assert ax.get_ylabel() == "true" and ax.get_xlabel() == "predicted"
    shown = np.ma.filled(ax.collections[0].get_array(), np.nan).reshape(3, 3)
    np.testing.assert_allclose(shown[:2].sum(axis=1), 1.0)
    assert np.isnan(shown[2]).all()  # a class without items stays blank
    assert "0.80" in {text.get_text().split()[0] for text in ax.texts}
    counts = plots.confusion_matrix(cm, ["a", "b", "c"], normalize=False).axes[0]
    assert counts.collections[0].get_array().max() == 9
    with pytest.raises(ValueError, match="cm.shape"):
        plots.confusion_matrix(cm, ["a", "b"])


# ---------------------------------------------------------------------- save
def test_save_writes_png_and_refuses_to_overwrite(tmp_path):
    fig = plots.class_balance({"a": 1, "b": 2})
    path = tmp_path / "figures" / "balance.png"
    assert plots.save(fig, path) == path
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    before = path.stat().st_size
    with pytest.raises(FileExistsError, match="balance.png"):
        plots.save(fig, path)
    assert path.stat().st_size == before
    plots.save(plots.class_balance({"a": 1, "b": 2, "c": 3}), path, overwrite=True, close=True)
    assert path.stat().st_size != before
    with pytest.raises(ValueError, match="PNG"):
        plots.save(fig, tmp_path / "balance.jpg")


# ---------------------------------------------------------------------- what the model sees
def stripes(period, size=32, channels=1):
    """Vertical stripes: intensity varies along x with the given period in pixels."""
    x = np.arange(size)
    row = 0.5 + 0.5 * np.cos(2 * np.pi * x / period)
    return np.repeat(np.broadcast_to(row, (size, size))[..., None], channels, axis=-1).astype(np.float32)


def test_log_spectra_match_numpy_and_find_the_stripe_frequency():
    image = np.random.default_rng(2).random((16, 16, 2)).astype(np.float32)
    expected = np.log1p(np.abs(np.fft.fftshift(np.fft.fft2(image, axes=(0, 1)), axes=(0, 1))))
    np.testing.assert_allclose(plots.log_spectra(image)[0], expected, rtol=1e-4, atol=1e-4)
    spectrum = plots.log_spectra(stripes(8))[0, ..., 0]
    spectrum[16, 16] = 0  # ignore the mean (zero frequency)
    row, column = np.unravel_index(np.argmax(spectrum), spectrum.shape)
    assert row == 16 and abs(column - 16) == 32 // 8  # 1/8 cycles per pixel on the x axis
    assert plots.log_spectra(np.zeros((3, 8, 8, 5))).shape == (3, 8, 8, 5)


def test_spectrum_shows_the_image_and_one_spectrum_per_channel(cells):
    image = cells.read(0)
    fig = plots.spectrum(image, channel_names=cells.channel_names)
    assert isinstance(fig, Figure) and len(fig.axes) == 1 + 4 + 1  # image, 4 spectra, colourbar
    assert fig.axes[0].images[0].get_array().shape == (32, 32, 3)
    shown = np.asarray(fig.axes[2].images[0].get_array())
    np.testing.assert_allclose(shown, plots.log_spectra(image, normalizer="percentile")[0, ..., 1], rtol=1e-5)
    assert fig.axes[2].get_title() == "spectrum of green"
    one = plots.spectrum(image, channel="blue", channel_names=cells.channel_names)
    assert len(one.axes) == 3 and one.axes[0].images[0].get_cmap().name == "gray"
    with pytest.raises(ValueError, match="unknown channel"):
        plots.spectrum(image, channel="purple", channel_names=cells.channel_names)


def test_mean_spectra_profile_puts_fine_texture_above_smooth_signal():
    rng = np.random.default_rng(3)
    fine = rng.random((4, 32, 32, 1)).astype(np.float32)  # pixel-sized speckle: a flat spectrum
    y, x = np.mgrid[:32, :32]
    blob = np.exp(-((y - 16) ** 2 + (x - 16) ** 2) / 50.0)[None, ..., None]
    smooth = (blob + 0.01 * rng.random((5, 32, 32, 1))).astype(np.float32)
    fig = plots.mean_spectra({"fine": fine, "smooth": smooth, "none": np.zeros((0, 32, 32, 1))})
    assert isinstance(fig, Figure) and len(fig.axes) == 3 + 1 + 1  # 3 groups, profile, colourbar
    profile = next(ax for ax in fig.axes if ax.get_title() == "radial profile")
    (fine_line, smooth_line) = profile.lines
    assert fine_line.get_label() == "fine (n=4)" and smooth_line.get_label() == "smooth (n=5)"
    frequency = fine_line.get_xdata()
    assert frequency[0] > 0 and frequency[-1] == pytest.approx(0.5)
    near = np.argmin(np.abs(frequency - 0.35))
    assert fine_line.get_ydata()[near] > smooth_line.get_ydata()[near] + 1
    with pytest.raises(ValueError, match="one size"):
        plots.mean_spectra({"a": fine, "b": np.zeros((2, 16, 16, 1))})


def test_augmentation_grid_is_reproducible_and_leaves_the_layer_alone():
    import keras

    from protkit.augment import classical_augmentation

    image = np.random.default_rng(4).integers(0, 255, (24, 24, 5), dtype=np.uint8)
    augment = classical_augmentation(seed=1)
    tiles = [np.asarray(ax.images[0].get_array()) for ax in plots.augmentation_grid(image, augment, n=4).axes]
    assert len(tiles) == 5 and tiles[0].shape == (24, 24, 3)
    np.testing.assert_allclose(tiles[0], plots.channel_composite(image))
    assert all(not np.allclose(tile, tiles[0]) for tile in tiles[1:])
    again = [np.asarray(ax.images[0].get_array()) for ax in plots.augmentation_grid(image, augment, n=4).axes]
    np.testing.assert_array_equal(np.stack(tiles), np.stack(again))  # same seed, same figure
    other = [np.asarray(ax.images[0].get_array()) for ax in plots.augmentation_grid(image, augment, 4, seed=1).axes]
    assert not np.allclose(np.stack(tiles[1:]), np.stack(other[1:]))
    assert "RandomFlip" in plots.augmentation_grid(image, augment, n=1)._suptitle.get_text()
    unseeded = keras.layers.RandomRotation(0.5)  # seed=None: random, except in the figure
    first, second = (np.asarray(plots.augmentation_grid(image, unseeded, n=2).axes[1].images[0].get_array())
                     for _ in range(2))
    np.testing.assert_array_equal(first, second)
    assert len(plots.augmentation_grid(image, augment, n=8).axes) == 2 * 7  # 9 tiles on two rows of 7


def test_augmentation_grid_with_a_plain_function():
    image = ramp(2, 0)
    fig = plots.augmentation_grid(image, lambda batch: batch[:, :, ::-1], n=2)  # mirror left-right
    flipped = np.asarray(fig.axes[1].images[0].get_array())
    np.testing.assert_allclose(flipped, plots.channel_composite(image)[:, ::-1])
    with pytest.raises(ValueError, match="n must be"):
        plots.augmentation_grid(image, lambda batch: batch, n=0)
    with pytest.raises(ValueError, match="batch shape"):
        plots.augmentation_grid(image, lambda batch: batch[:, ::2], n=2)


def test_attention_received_averages_queries_and_heads():
    uniform = np.full((4, 4), 0.25)
    focused = np.zeros((4, 4))
    focused[:, 0] = 1.0  # every query attends to key 0
    scores = np.stack([focused, uniform])[None]  # (1, heads, HW, HW)
    received = plots.attention_received(scores, (2, 2))
    np.testing.assert_allclose(received, [[2.5, 0.5], [0.5, 0.5]])
    assert received.sum() == pytest.approx(4)  # HW: 1 = uniform
    np.testing.assert_allclose(plots.attention_received(scores, (2, 2), head=1), np.ones((2, 2)))
    np.testing.assert_allclose(plots.attention_received(focused, (1, 4)), [[4, 0, 0, 0]])
    with pytest.raises(ValueError, match="grid_shape"):
        plots.attention_received(scores, (3, 3))


def test_attention_map_draws_contours_where_attention_exceeds_uniform(cells):
    from matplotlib.contour import ContourSet

    scores = np.full((2, 4, 4), 0.1)
    scores[:, :, 0] = 0.7  # every query attends most to the top-left position: 2.8x uniform
    fig = plots.attention_map(cells.read(0), scores, (2, 2))
    assert isinstance(fig, Figure) and len(fig.axes) == 1
    ax = fig.axes[0]
    assert ax.images[0].get_array().shape == (32, 32, 3)
    (contours,) = [c for c in ax.collections if isinstance(c, ContourSet)]
    assert list(contours.levels) == [2.0]  # 4x and more are above the peak
    assert "2x uniform" in ax.get_xlabel() and "peak 2.8x" in ax.get_xlabel()
    fig, ax = plt.subplots()
    uniform = np.full((1, 2, 4, 4), 0.25)
    assert plots.attention_map(cells.read(0), uniform, (2, 2), ax=ax, title="cell 0") is fig
    assert ax.get_title() == "cell 0" and "nowhere reaches 2x" in ax.get_xlabel()
    assert not [c for c in ax.collections if isinstance(c, ContourSet)]


# ---------------------------------------------------------------------- results
@pytest.fixture(scope="module")
def predictions():
    rng = np.random.default_rng(5)
    y_true = (rng.random((120, 4)) < [0.5, 0.3, 0.1, 0.05]).astype(int)
    y_prob = np.clip(y_true * [0.7, 0.5, 0.3, 0.0] + 0.4 * rng.random((120, 4)), 0, 1)
    return y_true, y_prob


def test_per_class_bars_sorted_with_macro_line(predictions):
    from protkit import metrics

    result = metrics.multilabel_metrics(*predictions, class_names=["a", "b", "c", "d"])
    table = result["per_class"]
    fig = plots.per_class_bars(table)
    ax = fig.axes[0]
    widths = [bar.get_width() for bar in ax.patches]
    assert widths == sorted(widths)  # best class drawn last, on top
    np.testing.assert_allclose(sorted(widths), np.sort(table["f1"]))
    top = ax.get_yticklabels()[-1].get_text()
    assert top.startswith(table["f1"].idxmax()) and f"(n={table['support'].max()})" in top
    macro = ax.lines[0].get_xdata()[0]
    assert macro == pytest.approx(result["macro_f1"])
    grouped = plots.per_class_bars(metrics.to_jsonable(table), metric=["precision", "recall", "f1"])
    assert len(grouped.axes[0].patches) == 3 * 4
    with pytest.raises(ValueError, match="accuracy"):
        plots.per_class_bars(table, metric="accuracy")


def test_accuracy_trap_bars_match_the_table(predictions):
    from protkit import metrics

    table = metrics.accuracy_trap_table(*predictions, thresholds=0.5)
    fig = plots.accuracy_trap(table, reference={"paper": 0.9879})
    ax = fig.axes[0]
    heights = np.array([bar.get_height() for bar in ax.patches]).reshape(table.shape)
    np.testing.assert_allclose(heights, table.to_numpy())
    assert ax.lines[0].get_ydata()[0] == pytest.approx(0.9879)
    trap = table.loc["all-negative baseline", "elementwise_accuracy"]
    assert f"{100 * trap:.1f} %" in ax.get_title()
    assert [text.get_text() for text in ax.get_legend().get_texts()][0] == "model"
    with pytest.raises(ValueError, match="DataFrame"):
        plots.accuracy_trap({"model": 1})


def test_embedding_scatter_one_series_per_group():
    rng = np.random.default_rng(0)
    figure = plots.embedding_scatter(rng.normal(size=(30, 2)), np.repeat(["a", "b", "c"], 10), legend_title="label")
    ax = figure.axes[0]
    assert len(ax.collections) == 3
    assert [t.get_text() for t in ax.get_legend().get_texts()] == ["a (10)", "b (10)", "c (10)"]
    with pytest.raises(ValueError, match="one group per point"):
        plots.embedding_scatter(np.zeros((4, 3)), np.zeros(4))
    plt.close("all")


def test_heatmap_overlays_and_reconstructions(cells):
    images = cells.arrays[:3].astype(np.float32) / 255
    heat = np.zeros((3, 32, 32), np.float32)
    heat[:, 10:20, 10:20] = 1
    figure = plots.heatmap_overlays(images, heat, masks=heat > 0.5, titles=["x", "y", "z"], normalizer=None)
    assert len(figure.axes) == 9 + 1 and figure.axes[0].get_ylabel() == "x"  # 3 x 3 images and the colour bar
    assert figure.axes[-1].get_label() == "<colorbar>"
    assert len(figure.axes[1].images) == 2  # the composite, then the heatmap over it
    with pytest.raises(ValueError, match="one \\(H, W\\) heatmap per image"):
        plots.heatmap_overlays(images, heat[:2])
    figure = plots.reconstructions(images, images * 0.5, n=2)
    assert len(figure.axes) == 4 and figure.axes[0].get_title().startswith("MSE ")
    expected = float(((images[0] - images[0] * 0.5) ** 2).mean())
    assert figure.axes[0].get_title() == f"MSE {expected:.4f}"
    plt.close("all")


def test_shared_plot_helpers():
    from protkit.plots import _common

    assert _common.as_hwc(np.zeros((3, 4))).shape == (3, 4, 1)
    with pytest.raises(ValueError, match=r"image.shape=\(2,\)"):
        _common.as_hwc(np.zeros(2))
    assert _common.channel_index("Ch4", ["Ch3", "Ch4"], 2) == 1
    assert _common.channel_index(-1, None, 3) == 2
    with pytest.raises(ValueError, match="Received: channel=3"):
        _common.channel_index(3, None, 3)
    assert _common.channel_label(1, ["a"]) == "ch1"
    assert _common.channel_colors(4, None) == plots.HPA_COLORS
    assert _common.rgb("green") == (0.0, 1.0, 0.0)  # full strength, not CSS's half-dark green
    assert _common.color_name((1.0, 0.0, 0.0)) == "#ff0000"
    scaled = _common.scaled_for_display(np.array([[[-1.0, np.nan, 2.0]]]), None)
    np.testing.assert_array_equal(scaled, [[[0.0, 0.0, 1.0]]])
