"""Tests of the classifiers: Fast Spec CNN, PLCNN, ResNet, and the training presets."""

import doctest

import keras
import numpy as np
import pytest

from protkit.layers import FFTSpectrum
from protkit.layers import GlobalSpectralFilter
from protkit.layers import PlainBlock
from protkit.layers import ResidualBlock
from protkit.layers import SeparableConvBlock
from protkit.layers import SpatialAttention
from protkit.layers import ConvNeXtBlock
from protkit.models import build_model
from protkit.models import convnext as convnext_module
from protkit.models import fast_spec_cnn as fast_spec_cnn_module
from protkit.models import plcnn as plcnn_module
from protkit.models import presets
from protkit.models import resnet as resnet_module
from protkit.models.fast_spec_cnn import attention_scores_model
from protkit.models.fast_spec_cnn import fast_spec_cnn
from protkit.models.plcnn import plcnn
from protkit.models.presets import get_preset
from protkit.models.convnext import convnext
from protkit.models.resnet import resnet, se_resnet

# Backend-neutral: CI runs this module again under KERAS_BACKEND=jax.
pytestmark = pytest.mark.backend_neutral

# Small widths everywhere: these tests check wiring, not accuracy.
TINY_FAST_SPEC = dict(filters=(8, 8), stem_filters=8, stem_strides=1, num_heads=2, key_dim=8, hidden_units=16)


@pytest.fixture(autouse=True)
def _seed():
    keras.utils.set_random_seed(0)


def _images(shape, n=8, seed=0):
    return np.random.default_rng(seed).uniform(size=(n, *shape)).astype("float32")


def _targets(task, num_classes, n=8, seed=1):
    rng = np.random.default_rng(seed)
    if task == "single_label":
        return keras.utils.to_categorical(rng.integers(0, num_classes, n), num_classes)
    return (rng.uniform(size=(n, num_classes)) < 0.3).astype("float32")


def _all_layers(model):
    """The model's layers and, recursively, their sublayers."""
    return list(model._flatten_layers(include_self=False, recursive=True))


# --- every model, end to end: shapes, probabilities, training, saving -------------------

END_TO_END = [
    ("fast_spec_dual", fast_spec_cnn, dict(spectral="dual", **TINY_FAST_SPEC), (32, 32, 4), "multi_label"),
    ("fast_spec_spectral", fast_spec_cnn, dict(spectral="spectral", **TINY_FAST_SPEC), (40, 40, 3), "single_label"),
    ("fast_spec_global_filter", fast_spec_cnn, dict(spectral="global_filter", **TINY_FAST_SPEC), (32, 32, 2),
     "single_label"),
    (
        "fast_spec_spatial_no_attention",
        fast_spec_cnn,
        dict(spectral="spatial", attention=False, **TINY_FAST_SPEC),
        (32, 32, 1),
        "single_label",
    ),
    ("plcnn_small", plcnn, dict(filters=(8, 16), hidden_units=16), (32, 32, 4), "single_label"),
    ("plcnn_large", plcnn, dict(filters=(8, 16), hidden_units=16, large=True), (40, 40, 1), "multi_label"),
    ("resnet_single", resnet, dict(stages=(1, 1), width=8), (40, 40, 3), "single_label"),
    ("resnet_multi", resnet, dict(stages=(1, 1, 1), width=4, dropout=0.2), (32, 32, 1), "multi_label"),
    ("se_resnet", se_resnet, dict(stages=(1, 1), width=8), (40, 40, 3), "single_label"),
    ("convnext_single", convnext, dict(stages=(1, 1), width=8), (40, 40, 3), "single_label"),
    ("convnext_multi", convnext, dict(stages=(1,), width=8, stem_strides=1, dropout=0.2), (32, 32, 1), "multi_label"),
]


def _predict(model, x):
    return keras.ops.convert_to_numpy(model(x, training=False))


@pytest.mark.parametrize("builder, kwargs, shape, task", [case[1:] for case in END_TO_END],
                         ids=[case[0] for case in END_TO_END])
def test_model_trains_and_round_trips(builder, kwargs, shape, task, tmp_path):
    num_classes = 5
    model = builder(shape, num_classes, task=task, name="under_test", **kwargs)
    assert model.name == "under_test"
    assert model.output_shape == (None, num_classes)
    x, y = _images(shape), _targets(task, num_classes)

    probabilities = _predict(model, x)
    assert probabilities.shape == (len(x), num_classes)
    assert np.all((probabilities >= 0) & (probabilities <= 1))
    if task == "single_label":
        np.testing.assert_allclose(probabilities.sum(axis=1), 1.0, atol=1e-5)
    else:  # independent sigmoids: rows need not sum to 1
        assert not np.allclose(probabilities.sum(axis=1), 1.0, atol=1e-3)

    loss = "categorical_crossentropy" if task == "single_label" else "binary_crossentropy"
    # Tracing a train function costs ~5-8 s per model on 2 cores under TensorFlow, so there only the
    # Fast Spec CNN (FFT and attention inside a graph) trains compiled; the others train eagerly.
    # JAX runs eagerly op by op, slower than one jit compile: there every model trains jitted.
    jax = keras.backend.backend() == "jax"
    compiled = jax or (builder is fast_spec_cnn and kwargs["spectral"] == "dual")
    model.compile(optimizer=keras.optimizers.Adam(1e-2), loss=loss, jit_compile=jax, run_eagerly=not compiled)
    before = [w.copy() for w in model.get_weights()]
    history = model.fit(x, y, batch_size=4, epochs=1, verbose=0)  # two steps
    assert np.isfinite(history.history["loss"][0])
    after = model.get_weights()
    changed = sum(not np.array_equal(b, a) for b, a in zip(before, after))
    assert changed > len(before) // 2

    path = tmp_path / "model.keras"
    model.save(path)
    loaded = keras.saving.load_model(path, safe_mode=True)
    np.testing.assert_allclose(_predict(loaded, x), _predict(model, x), atol=1e-6)


# --- Fast Spec CNN -----------------------------------------------------------------------


@pytest.mark.parametrize("spectral, channels", [("dual", 4 + 4), ("spectral", 4), ("spatial", 4),
                                               ("global_filter", 4)])
@pytest.mark.parametrize("attention", [True, False])
def test_fast_spec_cnn_variants(spectral, channels, attention):
    model = fast_spec_cnn((32, 32, 4), 3, spectral=spectral, attention=attention, **TINY_FAST_SPEC)
    names = [layer.name for layer in model.layers]
    if spectral in ("spatial", "global_filter"):
        assert "fft" not in names
        filters = [layer for layer in model.layers if isinstance(layer, GlobalSpectralFilter)]
        assert [layer.name for layer in filters] == (["global_filter0", "global_filter1"]
                                                     if spectral == "global_filter" else [])
        if filters:  # after each block, on its pooled map (32 px, no stem stride in TINY_FAST_SPEC)
            assert filters[0].input.shape == model.get_layer("block0").output.shape == (None, 16, 16, 8)
    else:
        assert isinstance(model.get_layer("fft"), FFTSpectrum)
        assert model.get_layer("fft").mode == spectral
    assert model.get_layer("stem_conv").input.shape[-1] == channels
    blocks = [layer for layer in model.layers if isinstance(layer, SeparableConvBlock)]
    assert [block.filters for block in blocks] == [8, 8]
    assert all(block.pool and block.kernel_size == (3, 3) for block in blocks)
    assert ("attention" in names) == attention
    if attention:
        layer = model.get_layer("attention")
        assert isinstance(layer, SpatialAttention)
        assert (layer.num_heads, layer.key_dim) == (2, 8)
        assert layer.input.shape == (None, 8, 8, 8)  # attends the last feature map
    assert names[-4:] == ["gap", "hidden", "dropout", "probabilities"]
    assert model.get_layer("probabilities").activation.__name__ == "sigmoid"  # multi_label default


def test_fast_spec_cnn_regularization_ablation():
    regularized = fast_spec_cnn((32, 32, 4), 3, **TINY_FAST_SPEC, attention_dropout=0.1)
    plain = fast_spec_cnn((32, 32, 4), 3, regularization=False, **TINY_FAST_SPEC, attention_dropout=0.1)

    assert regularized.get_layer("dropout").rate == get_preset("cpu")["dropout"]
    assert len(regularized.losses) > 0  # L2 penalties on stem, blocks and hidden kernels

    assert not any(isinstance(layer, keras.layers.Dropout) for layer in plain.layers)
    assert all(getattr(layer, "rate", 0) == 0 for layer in _all_layers(plain)
               if isinstance(layer, keras.layers.Dropout))  # MultiHeadAttention's own, inert
    assert plain.get_layer("attention").dropout == 0.0
    assert all(block.dropout == 0 and block.weight_decay == 0 for block in plain.layers
               if isinstance(block, SeparableConvBlock))
    assert plain.losses == []
    regularizers = ("kernel_regularizer", "depthwise_regularizer", "pointwise_regularizer")
    assert all(getattr(layer, attr, None) is None for layer in _all_layers(plain) for attr in regularizers)
    assert plain.count_params() == regularized.count_params()


def test_paper_preset_matches_table_1():
    preset = get_preset("paper")
    assert preset["image_size"] == (224, 224)
    assert set(preset["filters"]) == {32} and preset["stem_filters"] == 32 and preset["stem_strides"] == 1
    assert preset["kernel_size"] == 3
    assert (preset["num_heads"], preset["key_dim"]) == (4, 64)
    assert preset["hidden_units"] == 256
    assert preset["dropout"] == 0.5
    assert preset["weight_decay"] == 1e-4
    assert (preset["optimizer"], preset["learning_rate"]) == ("adam", 1e-3)
    assert (preset["batch_size"], preset["epochs"]) == (32, 50)

    model = fast_spec_cnn((224, 224, 4), 10, preset="paper")
    assert model.get_layer("attention").input.shape == (None, 14, 14, 32)
    # dual input: 4 image + 4 spectrum channels
    stem = 3 * 3 * 8 * 32 + 4 * 32
    blocks = 4 * (3 * 3 * 32 + 32 * 32 + 4 * 32)
    attention = 14 * 14 * 32 + 3 * (32 * 4 * 64 + 4 * 64) + (4 * 64 * 32 + 32) + 2 * 32
    head = (32 * 256 + 256) + (256 * 10 + 10)
    assert model.count_params() == stem + blocks + attention + head


def test_cpu_preset_is_small():
    preset = get_preset("cpu")
    assert preset["image_size"] == (64, 64)
    assert (preset["num_heads"], preset["key_dim"], preset["hidden_units"]) == (2, 32, 128)
    model = fast_spec_cnn((64, 64, 4), 10)
    assert model.get_layer("stem_conv").output.shape == (None, 32, 32, preset["stem_filters"])
    assert model.get_layer("attention").input.shape == (None, 8, 8, preset["filters"][-1])
    assert model.count_params() < 100_000


def test_attention_scores_model():
    model = fast_spec_cnn((32, 32, 4), 3, **TINY_FAST_SPEC)
    x = _images((32, 32, 4), n=3)
    scores = _predict(attention_scores_model(model), x)
    assert scores.shape == (3, 2, 64, 64)  # (batch, heads, HW, HW), HW = 8 * 8
    np.testing.assert_allclose(scores.sum(axis=-1), 1.0, atol=1e-5)
    # The same weights as the model: compare with a direct call on the attended feature map.
    features = _predict(keras.Model(model.inputs, model.get_layer("attention").input), x)
    _, direct = model.get_layer("attention")(features, return_attention_scores=True)
    np.testing.assert_allclose(scores, keras.ops.convert_to_numpy(direct), atol=1e-5)
    assert not np.allclose(scores, 1 / 64, atol=1e-4)  # not trivially uniform

    with pytest.raises(ValueError, match="no layer named 'attention'"):
        attention_scores_model(fast_spec_cnn((32, 32, 4), 3, attention=False, **TINY_FAST_SPEC))


def test_attention_scores_model_after_loading(tmp_path):
    model = fast_spec_cnn((16, 16, 2), 2, spectral="spectral", **TINY_FAST_SPEC)
    model.save(tmp_path / "m.keras")
    loaded = keras.saving.load_model(tmp_path / "m.keras", safe_mode=True)
    x = _images((16, 16, 2), n=2)
    np.testing.assert_allclose(
        _predict(attention_scores_model(loaded), x),
        _predict(attention_scores_model(model), x),
        atol=1e-6,
    )


def test_overrides_and_presets_errors():
    model = fast_spec_cnn((32, 32, 1), 2, filters=(4, 4, 4), num_heads=1, key_dim=4, hidden_units=8)
    assert [layer.filters for layer in model.layers if isinstance(layer, SeparableConvBlock)] == [4, 4, 4]
    assert model.get_layer("hidden").units == 8

    with pytest.raises(ValueError, match=r"one of \('paper', 'cpu', 'small'\)\. Received: preset='tiny'"):
        get_preset("tiny")
    with pytest.raises(ValueError, match="Received: preset='tiny'"):
        fast_spec_cnn((32, 32, 1), 2, preset="tiny")
    with pytest.raises(ValueError, match=r"one of \('paper', 'cpu'\)\. Received: preset='small'"):
        fast_spec_cnn((32, 32, 1), 2, preset="small")  # the ResNet's, not the Fast Spec CNN's
    with pytest.raises(ValueError, match="training loop"):
        fast_spec_cnn((32, 32, 1), 2, batch_size=8)
    with pytest.raises(ValueError, match=r"Received: \['colour'\]"):
        fast_spec_cnn((32, 32, 1), 2, colour=True)
    with pytest.raises(ValueError, match="Received: spectral='wavelet'"):
        fast_spec_cnn((32, 32, 1), 2, spectral="wavelet")
    with pytest.raises(ValueError, match="Received: dropout=1.0"):
        fast_spec_cnn((32, 32, 1), 2, dropout=1.0)
    with pytest.raises(ValueError, match=r"Received: input_shape=\(None, 32, 1\)"):
        fast_spec_cnn((None, 32, 1), 2)  # the FFT and attention need a static size

    copy = get_preset("cpu")
    copy["filters"] = (1,)
    assert get_preset("cpu")["filters"] != (1,)  # a copy, not the stored dict
    model_keys, training = presets.split_preset(get_preset("paper"))
    assert set(model_keys) == set(presets.MODEL_KEYS)
    assert training["weight_decay"] == model_keys["weight_decay"] == 1e-4


# --- PLCNN -------------------------------------------------------------------------------


def _inbound(layer):
    """Names of the layers feeding `layer` (first call)."""
    tensors = layer.input if isinstance(layer.input, list) else [layer.input]
    return [tensor._keras_history.operation.name for tensor in tensors]


def test_plcnn_concatenates_both_branches_at_every_stage():
    model = plcnn((32, 32, 4), 7, filters=(8, 16, 24))
    previous = "images"
    for stage, width in enumerate((8, 16, 24)):
        residual = model.get_layer(f"stage{stage}_residual")
        plain = model.get_layer(f"stage{stage}_plain")
        concat = model.get_layer(f"stage{stage}_concat")
        assert isinstance(residual, ResidualBlock) and residual.strides == (2, 2) and residual.num_convs == 2
        assert isinstance(plain, PlainBlock) and plain.pool and plain.num_convs == 2
        assert isinstance(concat, keras.layers.Concatenate)
        assert _inbound(concat) == [residual.name, plain.name]
        # both branches read the previous stage's concatenation
        assert _inbound(residual) == _inbound(plain) == [previous]
        size = 32 // 2 ** (stage + 1)
        assert concat.output.shape == (None, size, size, 2 * width)
        previous = concat.name

    global_features = model.get_layer("global_features")
    assert _inbound(global_features) == ["stage0_gap", "stage1_gap", "stage2_gap"]
    assert global_features.output.shape == (None, 2 * (8 + 16 + 24))
    assert _inbound(model.get_layer("stage1_gap")) == ["stage1_concat"]
    assert _inbound(model.get_layer("hidden")) == ["global_features"]


def test_plcnn_options():
    large = plcnn((33, 33, 2), 3, filters=(8, 8), large=True)
    assert all(large.get_layer(f"stage{i}_{kind}").num_convs == 3 for i in (0, 1) for kind in ("residual", "plain"))
    assert large.get_layer("stage1_concat").output.shape == (None, 9, 9, 16)  # odd sizes round up

    local = plcnn((32, 32, 2), 3, filters=(8, 8), global_path=False, dropout=0.0, weight_decay=0.0)
    names = [layer.name for layer in local.layers]
    assert "global_features" not in names and "dropout" not in names
    assert not any(name.endswith("_gap") and name.startswith("stage") for name in names)
    assert _inbound(local.get_layer("gap")) == ["stage1_concat"]
    assert local.losses == []

    single_stage = plcnn((16, 16, 1), 2, filters=(4,))
    assert single_stage.get_layer("global_features").output.shape == (None, 8)

    any_size = plcnn((None, None, 3), 2, filters=(4, 4))
    assert _predict(any_size, _images((20, 28, 3), n=2)).shape == (2, 2)

    with pytest.raises(ValueError, match=r"Received: filters=\(\)"):
        plcnn((32, 32, 1), 2, filters=())
    with pytest.raises(ValueError, match="Received: large=1"):
        plcnn((32, 32, 1), 2, large=1)
    with pytest.raises(ValueError, match="Received: task='multi'"):
        plcnn((32, 32, 1), 2, task="multi")
    with pytest.raises(ValueError, match="Received: num_classes=0"):
        plcnn((32, 32, 1), 0)


# --- ResNet ------------------------------------------------------------------------------


@pytest.mark.parametrize("depth, layout", [(18, (2, 2, 2, 2)), (34, (3, 4, 6, 3))])
def test_resnet_depths(depth, layout):
    model = resnet((64, 64, 3), 4, depth=depth, width=4)
    blocks = [layer for layer in model.layers if isinstance(layer, ResidualBlock)]
    assert len(blocks) == sum(layout)
    expected = [4 * 2**stage for stage, count in enumerate(layout) for _ in range(count)]
    assert [block.filters for block in blocks] == expected
    assert model.get_layer(f"res3_{layout[3] - 1}").output.shape == (None, 8, 8, 32)
    # 2 convs (conv + BN) per block, + stem conv, and each downsampling block adds a projection.
    convs = [layer for layer in _all_layers(model) if isinstance(layer, keras.layers.Conv2D)]
    assert len(convs) == 1 + 2 * sum(layout) + 3


def test_resnet_options_and_errors():
    assert len([layer for layer in resnet((32, 32, 1), 2, width=4).layers
                if isinstance(layer, ResidualBlock)]) == 8  # ResNet-18 by default
    imagenet = resnet((224, 224, 4), 2, stages=(1,), width=4, downsample_stem=True)
    assert imagenet.get_layer("stem_pool").output.shape == (None, 56, 56, 4)
    assert imagenet.get_layer("stem_conv").kernel_size == (7, 7)

    with pytest.raises(ValueError, match="Received: depth=50"):
        resnet((32, 32, 1), 2, depth=50)
    with pytest.raises(ValueError, match=r"Received: depth=18, stages=\(1, 1\)"):
        resnet((32, 32, 1), 2, depth=18, stages=(1, 1))
    with pytest.raises(ValueError, match="Received: width=0"):
        resnet((32, 32, 1), 2, width=0)
    with pytest.raises(ValueError, match=r"Received: input_shape=\(32, 32\)"):
        resnet((32, 32), 2)


# --- docstring examples ------------------------------------------------------------------


def test_se_resnet_gates_every_block_and_is_a_model_name():
    model = build_model("se_resnet", (32, 32, 2), 3)  # its preset "small": the ResNet-18 layout at width 16
    blocks = [layer for layer in model.layers if isinstance(layer, ResidualBlock)]
    assert len(blocks) == 8 and {block.squeeze_excite for block in blocks} == {0.25}
    assert blocks[-1].se_reduce.units == 32 and blocks[-1].se_expand.units == 128  # a quarter of 128 filters
    plain = build_model("resnet", (32, 32, 2), 3)
    assert model.count_params() > plain.count_params()
    assert all(block.se_reduce is None for block in plain.layers if isinstance(block, ResidualBlock))
    with pytest.raises(ValueError, match="squeeze_excite must be a number in"):
        resnet((32, 32, 1), 2, squeeze_excite=2)


def test_convnext_stages_downsample_and_widen():
    model = build_model("convnext", (64, 64, 3), 4)
    blocks = [layer for layer in model.layers if isinstance(layer, ConvNeXtBlock)]
    assert [block.name for block in blocks][:3] == ["stage0_0", "stage0_1", "stage1_0"] and len(blocks) == 10
    assert model.get_layer("stem_conv").output.shape == (None, 32, 32, 32)  # 2x2 patchify stem
    assert model.get_layer("stage3_1").output.shape == (None, 4, 4, 256)
    with pytest.raises(ValueError, match="Received: stages=()"):
        convnext((32, 32, 1), 2, stages=())


@pytest.mark.parametrize("module", [presets, fast_spec_cnn_module, plcnn_module, resnet_module, convnext_module],
                         ids=lambda module: module.__name__)
def test_docstring_examples(module):
    result = doctest.testmod(module, optionflags=doctest.NORMALIZE_WHITESPACE)
    assert result.attempted > 0
    assert result.failed == 0


# --- shared pieces -------------------------------------------------------------------------


def test_conv_bn_relu_names_its_layers_and_keeps_the_stem_of_every_model():
    from protkit.models._parts import STEM_NAMES, conv_bn_relu
    from protkit.models.baselines import traditional_cnn

    inputs = keras.Input((8, 8, 2))
    outputs = conv_bn_relu(inputs, 4, 3, strides=2, regularizer=keras.regularizers.L2(1e-3), names=STEM_NAMES)
    model = keras.Model(inputs, outputs)
    conv = model.get_layer("stem_conv")
    assert (conv.strides, conv.padding, conv.use_bias) == ((2, 2), "same", False)
    assert conv.kernel_regularizer is not None and outputs.shape == (None, 4, 4, 4)
    assert float(np.min(model(_images((8, 8, 2), n=2)))) >= 0.0  # ReLU last
    for built in (resnet((16, 16, 1), 2, stages=(1,), width=4), fast_spec_cnn((16, 16, 1), 2, **TINY_FAST_SPEC)):
        assert [built.get_layer(name).name for name in STEM_NAMES] == list(STEM_NAMES)
    cnn = traditional_cnn((16, 16, 1), 2, filters=(4, 4))
    assert [type(cnn.get_layer(f"{kind}1")).__name__ for kind in ("conv", "bn", "relu")] == [
        "Conv2D", "BatchNormalization", "ReLU"]
