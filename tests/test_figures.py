"""Every figure kind in protkit.plots says what it shows: title, axis labels, legend or colour bar.

Each figure is drawn on small inputs and its matplotlib objects are inspected: a title (the
figure's or an axes'), x and y labels on axes that plot data, and a legend or colour bar where
colour carries meaning (channel colours of a composite, heatmaps, several series).
"""

import functools

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import pytest  # noqa: E402

from protkit import plots  # noqa: E402
from protkit.data import Dataset  # noqa: E402
from protkit.data.synthetic import HPA_CHANNEL_COLORS, SYNTHETIC_CLASSES, make_cells  # noqa: E402

NOT_FIGURES = {"channel_composite", "log_spectra", "attention_received", "save", "HPA_COLORS", "HPA_MEANINGS",
               "PALETTE", "TINTS"}


@pytest.fixture(scope="module")
def cells():
    images, labels = make_cells(n=24, image_size=32)
    return Dataset.from_arrays(images, labels, class_names=SYNTHETIC_CLASSES, channel_names=HPA_CHANNEL_COLORS)


@pytest.fixture(autouse=True)
def close_figures():
    yield
    plt.close("all")


def _comparison_table():
    return pd.DataFrame({"mean": [0.80, 0.72, 0.65], "ci_low": [0.70, 0.60, 0.61], "ci_high": [0.90, 0.84, 0.69],
                         "t_pvalue": [np.nan, 0.04, 0.2]}, index=["fast_spec_cnn", "no attention", "cnn"])


@functools.cache
def _sanity_result():
    import keras

    from protkit import explain

    keras.utils.set_random_seed(0)
    inputs = keras.Input((16, 16, 1))
    x = keras.layers.Conv2D(4, 3, padding="same", activation="relu", name="conv")(inputs)
    x = keras.layers.GlobalAveragePooling2D()(x)
    model = keras.Model(inputs, keras.layers.Dense(2, activation="softmax")(x))
    images = np.random.default_rng(0).random((6, 16, 16, 1)).astype(np.float32)
    return explain.sanity_checks(model, images, steps=4, seed=0)


def _inputs(cells):
    """Small inputs shared by the figures."""
    from protkit import metrics

    rng = np.random.default_rng(0)
    y_true = (rng.random((60, 3)) < 0.4).astype(int)
    y_prob = np.clip(0.6 * y_true + 0.5 * rng.random((60, 3)), 0, 1)
    heat = np.zeros((3, 32, 32), np.float32)
    heat[:, 8:20, 8:20] = 1.0
    scores = np.full((2, 16, 16), 1 / 16)
    scores[:, :, 0] = 0.5
    return {"image": cells.read(0), "images": cells.arrays[:3].astype(np.float32) / 255, "heat": heat,
            "scores": scores, "y_true": y_true, "y_prob": y_prob, "rng": rng,
            "per_class": metrics.multilabel_metrics(y_true, y_prob, class_names=["a", "b", "c"])["per_class"],
            "trap": metrics.accuracy_trap_table(y_true, y_prob, thresholds=0.5),
            "groups": {"first": cells.arrays[:4].astype(np.float32) / 255,
                       "second": cells.arrays[4:8].astype(np.float32) / 255}}


# kind: (draw(cells, inputs) -> Figure, what carries meaning by colour: "legend" and/or "colorbar")
FIGURES = {
    "class_balance": (lambda c, i: plots.class_balance(c), ()),
    "sample_grid": (lambda c, i: plots.sample_grid(c, per_class=2, classes=["Nucleoplasm", "Cytosol"]), ("legend",)),
    "normalization_comparison": (lambda c, i: plots.normalization_comparison(c, channel="green"), ("colorbar",)),
    "channel_panels": (lambda c, i: plots.channel_panels(i["image"], channel_names=c.channel_names), ("legend",)),
    "raw_vs_inverted": (lambda c, i: plots.raw_vs_inverted(i["image"], channel=1), ("colorbar",)),
    "augmentation_grid": (lambda c, i: plots.augmentation_grid(i["image"], lambda batch: batch[:, :, ::-1], n=2),
                          ("legend",)),
    "spectrum": (lambda c, i: plots.spectrum(i["image"], channel_names=c.channel_names), ("colorbar", "legend")),
    "mean_spectra": (lambda c, i: plots.mean_spectra(i["groups"], channel=1), ("colorbar", "legend")),
    "attention_map": (lambda c, i: plots.attention_map(i["image"], i["scores"], (4, 4), channel_names=c.channel_names),
                      ("legend",)),
    "learning_curves": (lambda c, i: plots.learning_curves({"loss": [1.0, 0.7, 0.5], "val_loss": [1.1, 0.8, 0.7]}),
                        ("legend",)),
    "confusion_matrix": (lambda c, i: plots.confusion_matrix([[5, 1], [2, 4]], ["G1", "G2"]), ("colorbar",)),
    "per_class_bars": (lambda c, i: plots.per_class_bars(i["per_class"], metric=["precision", "recall"]),
                       ("legend",)),
    "accuracy_trap": (lambda c, i: plots.accuracy_trap(i["trap"]), ("legend",)),
    "comparison_bars": (lambda c, i: plots.comparison_bars(_comparison_table(), metric="macro-F1",
                                                           reference="fast_spec_cnn"), ("legend",)),
    "embedding_scatter": (lambda c, i: plots.embedding_scatter(i["rng"].normal(size=(30, 2)),
                                                               np.repeat(["a", "b", "c"], 10)), ("legend",)),
    "heatmap_overlays": (lambda c, i: plots.heatmap_overlays(i["images"], i["heat"], titles=["x", "y", "z"],
                                                             normalizer=None, channel="green",
                                                             channel_names=c.channel_names), ("colorbar", "legend")),
    "reconstructions": (lambda c, i: plots.reconstructions(i["images"], i["images"] * 0.5, n=2,
                                                           channel_names=c.channel_names), ("legend",)),
    "sanity_checks": (lambda c, i: plots.sanity_checks(_sanity_result()), ("legend",)),
    "reliability_diagram": (lambda c, i: plots.reliability_diagram(_reliability_curves(i["rng"])), ("legend",)),
    "k_selection": (lambda c, i: plots.k_selection(pd.DataFrame({"k": [2, 3, 4], "bic": [10.0, 8.0, 9.0],
                                                                 "silhouette": [0.3, 0.4, 0.2]}), chosen=3),
                    ("legend",)),
}


def _reliability_curves(rng):
    from protkit.calibration import apply_temperature, reliability_curve

    labels = rng.integers(0, 3, 60)
    probabilities = rng.dirichlet(np.ones(3), 60)
    return {"before": reliability_curve(probabilities, labels, "single_label"),
            "after": reliability_curve(apply_temperature(probabilities, 2.0, "single_label"), labels, "single_label")}


def _draw(kind, cells):
    draw, meaning = FIGURES[kind]
    return draw(cells, _inputs(cells)), meaning


def _is_colorbar(ax):
    return ax.get_label() == "<colorbar>"


def _legends(fig):
    return [legend for legend in [*fig.legends, *(ax.get_legend() for ax in fig.axes)] if legend is not None]


def _title(fig):
    texts = [fig._suptitle.get_text() if fig._suptitle is not None else ""]
    texts += [ax.get_title(loc) for ax in fig.axes for loc in ("center", "left", "right")]
    return " ".join(text for text in texts if text.strip())


def _plots_data(ax):
    """Axes that draw data on real axes: lines, bars or points with tick labels (not image tiles)."""
    if _is_colorbar(ax) or ax.images or not ax.axison:
        return False
    has_ticks = len(ax.get_xticks()) > 0 and len(ax.get_yticks()) > 0
    return has_ticks and bool(ax.lines or ax.patches or ax.collections)


def test_every_figure_kind_is_covered():
    kinds = set(plots.__all__) - NOT_FIGURES
    assert kinds == set(FIGURES), f"draw the new figure kinds here too: {sorted(kinds ^ set(FIGURES))}"


@pytest.mark.parametrize("kind", sorted(FIGURES))
def test_figure_has_title_axis_labels_and_legend(cells, kind):
    fig, meaning = _draw(kind, cells)
    assert _title(fig), f"{kind}: no title"
    data_axes = [ax for ax in fig.axes if _plots_data(ax)]
    for ax in data_axes:
        assert ax.get_xlabel().strip() and ax.get_ylabel().strip(), \
            f"{kind}: axes {ax.get_title()!r} lacks an axis label (x {ax.get_xlabel()!r}, y {ax.get_ylabel()!r})"
    ticked_images = [ax for ax in fig.axes if ax.images and not _is_colorbar(ax) and len(ax.get_xticks())]
    if ticked_images:  # panels of one kind (spectra) share their axes: the first carries the labels
        assert any(ax.get_xlabel() and ax.get_ylabel() for ax in ticked_images), f"{kind}: image axes unlabelled"
    if "colorbar" in meaning:
        bars = [ax for ax in fig.axes if _is_colorbar(ax)]
        assert bars and all(bar.get_ylabel() or bar.get_xlabel() for bar in bars), f"{kind}: no labelled colour bar"
    if "legend" in meaning:
        legends = _legends(fig)
        assert legends and all(legend.get_texts() for legend in legends), f"{kind}: no legend"


@pytest.mark.parametrize("kind", ["sample_grid", "channel_panels", "heatmap_overlays", "reconstructions",
                                  "attention_map", "spectrum"])
def test_composites_say_which_colour_is_which_channel(cells, kind):
    fig, _ = _draw(kind, cells)
    texts = [text.get_text() for legend in _legends(fig) for text in legend.get_texts()]
    assert "green: protein of interest" in texts and "blue: nucleus (DNA)" in texts, texts
    assert len([t for t in texts if ":" in t]) == 4


def test_comparison_bars_explain_bars_whiskers_line_and_p_values(cells):
    fig, _ = _draw("comparison_bars", cells)
    ax = fig.axes[0]
    texts = [text.get_text() for text in ax.get_legend().get_texts()]
    assert "mean over folds" in texts and any("95 %" in t for t in texts)
    assert "fast_spec_cnn: mean 0.800" in texts and any("paired t-test vs fast_spec_cnn" in t for t in texts)
    table = _comparison_table()
    notes = {a.get_text(): a.xy for a in ax.texts}
    assert set(notes) == {"p=0.040", "p=0.200"}  # none for the reference itself
    for model, p in (("no attention", "p=0.040"), ("cnn", "p=0.200")):
        assert notes[p][1] == pytest.approx(table.loc[model, "ci_high"])  # anchored at the whisker's top...
    assert all(a.get_va() == "bottom" and a.xyann[1] > 0 for a in ax.texts)  # ...and drawn above it
    assert ax.get_ylim()[1] > table["ci_high"].max()


def test_heatmap_overlays_draw_over_the_protein_channel(cells):
    fig, _ = _draw("heatmap_overlays", cells)
    image_axes = [ax for ax in fig.axes if not _is_colorbar(ax)]
    assert len(image_axes) == 9  # composite, protein channel, heatmap over it; three rows
    assert [ax.get_title() for ax in image_axes[:3]] == ["composite", "green: protein of interest\n(gray)",
                                                     "Grad-CAM over green"]
    assert image_axes[0].get_ylabel() == "x"
    (bar,) = [ax for ax in fig.axes if _is_colorbar(ax)]
    assert "Grad-CAM relevance" in bar.get_ylabel()
