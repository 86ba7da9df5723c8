"""Tests of protkit.layers: shapes, config, training, saving and numerics."""

import doctest

import keras
import numpy as np
import pytest
from layer_testing import run_layer_test

import protkit
import protkit.layers
from protkit.layers import ConvNeXtBlock
from protkit.layers import FFTSpectrum
from protkit.layers import GlobalSpectralFilter
from protkit.layers import PlainBlock
from protkit.layers import ResidualBlock
from protkit.layers import SeparableConvBlock
from protkit.layers import SoftAssignment
from protkit.layers import SpatialAttention

# Backend-neutral: CI runs this module again under KERAS_BACKEND=jax.
pytestmark = pytest.mark.backend_neutral

ALL_LAYERS = [
    FFTSpectrum,
    SeparableConvBlock,
    SpatialAttention,
    ResidualBlock,
    PlainBlock,
    SoftAssignment,
    ConvNeXtBlock,
    GlobalSpectralFilter,
]


@pytest.fixture(autouse=True)
def _seed():
    keras.utils.set_random_seed(0)


def _random(shape, seed=0):
    return np.random.default_rng(seed).uniform(size=shape).astype("float32")


# --- FFTSpectrum -------------------------------------------------------------


def _numpy_spectrum(x, mode, include_phase, normalize):
    coefficients = np.fft.fftshift(np.fft.fft2(x, axes=(1, 2)), axes=(1, 2))
    magnitude = np.abs(coefficients)
    if normalize:
        magnitude = magnitude / (x.shape[1] * x.shape[2])
    parts = [np.log1p(magnitude)]
    if include_phase:
        parts.append(np.angle(coefficients))
    spectrum = np.concatenate(parts, axis=-1)
    if mode == "dual":
        spectrum = np.concatenate([x, spectrum], axis=-1)
    return spectrum


@pytest.mark.parametrize(
    "init_kwargs, out_channels",
    [
        ({"mode": "spectral"}, 3),
        ({"mode": "dual", "include_phase": True, "normalize": True}, 9),
    ],
)
def test_fft_spectrum_layer(init_kwargs, out_channels):
    run_layer_test(
        FFTSpectrum,
        init_kwargs,
        input_shape=(2, 8, 8, 3),
        expected_output_shape=(2, 8, 8, out_channels),
        expected_num_trainable_weights=0,
        expected_num_non_trainable_weights=0,
    )


@pytest.mark.parametrize("shape", [(2, 6, 5, 3), (1, 5, 4, 1)])
@pytest.mark.parametrize("mode", ["spectral", "dual"])
@pytest.mark.parametrize("include_phase", [False, True])
@pytest.mark.parametrize("normalize", [False, True])
def test_fft_spectrum_matches_numpy(shape, mode, include_phase, normalize):
    x = np.random.default_rng(1).normal(size=shape).astype("float32")
    layer = FFTSpectrum(
        mode=mode, include_phase=include_phase, normalize=normalize
    )
    actual = keras.ops.convert_to_numpy(layer(x))
    expected = _numpy_spectrum(
        x.astype("float64"), mode, include_phase, normalize
    )
    assert actual.shape == expected.shape

    channels = shape[-1]
    num_real = actual.shape[-1] - (channels if include_phase else 0)
    np.testing.assert_allclose(
        actual[..., :num_real], expected[..., :num_real], atol=1e-4
    )
    if include_phase:
        # Angles of pi and -pi are the same; compare on the circle.
        difference = actual[..., num_real:] - expected[..., num_real:]
        wrapped = np.angle(np.exp(1j * difference))
        np.testing.assert_allclose(wrapped, 0.0, atol=1e-4)


def test_fft_spectrum_trains_through_flat_images():
    # A flat image has an all-zero spectrum but for one term: the magnitude
    # and phase must still give finite gradients to the layers before.
    inputs = keras.Input(shape=(6, 6, 2))
    features = keras.layers.Conv2D(2, 3, padding="same")(inputs)
    outputs = FFTSpectrum(include_phase=True)(features)
    model = keras.Model(inputs, outputs)
    model.compile(optimizer="adam", loss="mse")
    x = np.zeros((2, 6, 6, 2), dtype="float32")
    y = _random((2, 6, 6, 4))
    history = model.fit(x, y, epochs=2, verbose=0)
    assert np.all(np.isfinite(history.history["loss"]))
    for weight in model.trainable_weights:
        assert np.all(np.isfinite(keras.ops.convert_to_numpy(weight)))


def test_fft_spectrum_computes_in_float32_under_mixed_precision():
    x = _random((1, 8, 8, 2))
    full = keras.ops.convert_to_numpy(FFTSpectrum()(x))
    half = FFTSpectrum(dtype="mixed_float16")(x)
    assert keras.backend.standardize_dtype(half.dtype) == "float16"
    np.testing.assert_allclose(
        keras.ops.convert_to_numpy(half).astype("float32"), full, atol=1e-2
    )


def test_fft_spectrum_needs_static_size():
    with pytest.raises(ValueError, match="static height and width"):
        FFTSpectrum()(keras.Input(shape=(None, None, 3)))


# --- SeparableConvBlock ------------------------------------------------------


@pytest.mark.parametrize(
    "init_kwargs, input_shape, expected_output_shape",
    [
        (
            {"filters": 4, "weight_decay": 1e-4, "dropout": 0.1},
            (2, 8, 8, 3),
            (2, 4, 4, 4),
        ),
        (
            {"filters": 6, "kernel_size": (3, 5), "pool": False},
            (2, 7, 7, 3),
            (2, 7, 7, 6),
        ),
    ],
)
def test_separable_conv_block_layer(
    init_kwargs, input_shape, expected_output_shape
):
    run_layer_test(
        SeparableConvBlock,
        init_kwargs,
        input_shape=input_shape,
        expected_output_shape=expected_output_shape,
        # Depthwise and pointwise kernels, gamma and beta.
        expected_num_trainable_weights=4,
        expected_num_non_trainable_weights=2,
    )


def test_separable_conv_block_pools_odd_sizes_up():
    layer = SeparableConvBlock(filters=2)
    assert layer(_random((1, 7, 5, 3))).shape == (1, 4, 3, 2)


def test_separable_conv_block_weight_decay_is_l2():
    x = _random((1, 8, 8, 3))
    plain = SeparableConvBlock(filters=4)
    plain(x)
    assert len(plain.losses) == 0

    decayed = SeparableConvBlock(filters=4, weight_decay=0.01)
    decayed(x)
    conv = decayed.separable_conv
    expected = 0.01 * sum(
        np.sum(np.square(keras.ops.convert_to_numpy(kernel)))
        for kernel in (conv.depthwise_kernel, conv.pointwise_kernel)
    )
    total = sum(float(loss) for loss in decayed.losses)
    assert len(decayed.losses) == 2
    np.testing.assert_allclose(total, expected, rtol=1e-5)


# --- SpatialAttention --------------------------------------------------------


def test_spatial_attention_layer():
    run_layer_test(
        SpatialAttention,
        {"num_heads": 2, "key_dim": 4, "dropout": 0.1},
        input_shape=(2, 4, 4, 3),
        expected_output_shape=(2, 4, 4, 3),
        # Position embedding, 4 kernels and 4 biases of attention, gamma and
        # beta of the layer normalization.
        expected_num_trainable_weights=11,
        expected_num_non_trainable_weights=0,
    )


def test_spatial_attention_scores():
    layer = SpatialAttention(num_heads=2, key_dim=4)
    x = _random((2, 3, 4, 5))
    outputs, scores = layer(x, return_attention_scores=True)
    assert outputs.shape == (2, 3, 4, 5)
    assert scores.shape == (2, 2, 12, 12)
    scores = keras.ops.convert_to_numpy(scores)
    assert np.all(scores >= 0)
    np.testing.assert_allclose(scores.sum(axis=-1), 1.0, atol=1e-5)
    np.testing.assert_allclose(
        keras.ops.convert_to_numpy(outputs),
        keras.ops.convert_to_numpy(layer(x)),
        atol=1e-6,
    )

    inputs = keras.Input(shape=(3, 4, 5))
    symbolic_outputs, symbolic_scores = SpatialAttention()(
        inputs, return_attention_scores=True
    )
    assert symbolic_outputs.shape == (None, 3, 4, 5)
    assert symbolic_scores.shape == (None, 4, 12, 12)


def test_spatial_attention_position_embedding_breaks_symmetry():
    # Without position information attention cannot tell where a token is,
    # so flipping the image flips the output; the learned embedding breaks
    # that symmetry.
    layer = SpatialAttention(num_heads=2, key_dim=4)
    x = _random((1, 4, 4, 3))
    layer(x)
    embedding = keras.ops.convert_to_numpy(layer.position_embedding)

    layer.position_embedding.assign(np.zeros_like(embedding))
    flipped = keras.ops.convert_to_numpy(layer(x[:, ::-1]))
    reference = keras.ops.convert_to_numpy(layer(x))[:, ::-1]
    np.testing.assert_allclose(flipped, reference, atol=1e-5)

    layer.position_embedding.assign(embedding)
    flipped = keras.ops.convert_to_numpy(layer(x[:, ::-1]))
    reference = keras.ops.convert_to_numpy(layer(x))[:, ::-1]
    assert not np.allclose(flipped, reference, atol=1e-5)


def test_spatial_attention_needs_static_size():
    with pytest.raises(ValueError, match="static height, width"):
        SpatialAttention()(keras.Input(shape=(None, None, 3)))


# --- ResidualBlock and PlainBlock --------------------------------------------


def test_squeeze_excitation_gates_the_main_path_as_numpy_does():
    block = ResidualBlock(filters=4, squeeze_excite=0.5)
    x = np.random.default_rng(3).normal(size=(2, 5, 5, 4)).astype("float32")
    outputs = keras.ops.convert_to_numpy(block(x, training=False))
    main = x
    for index, (conv, norm) in enumerate(zip(block.convs, block.norms)):
        main = norm(conv(main), training=False)
        main = keras.ops.relu(main) if index < block.num_convs - 1 else main
    main = keras.ops.convert_to_numpy(main)
    w1, b1 = (keras.ops.convert_to_numpy(w) for w in block.se_reduce.weights)
    w2, b2 = (keras.ops.convert_to_numpy(w) for w in block.se_expand.weights)
    assert w1.shape == (4, 2)  # half of 4 filters
    squeezed = np.maximum(main.mean(axis=(1, 2)) @ w1 + b1, 0.0)
    gate = 1.0 / (1.0 + np.exp(-(squeezed @ w2 + b2)))
    expected = np.maximum(main * gate[:, None, None, :] + x, 0.0)  # identity shortcut
    np.testing.assert_allclose(outputs, expected, atol=1e-5)
    without = ResidualBlock(filters=4)
    without(x)
    without.set_weights(block.get_weights()[: len(without.get_weights())])
    assert not np.allclose(keras.ops.convert_to_numpy(without(x, training=False)), outputs, atol=1e-3)


@pytest.mark.parametrize("bad", [-0.1, 1.5, True, "0.25"])
def test_squeeze_excitation_ratio_is_checked(bad):
    with pytest.raises(ValueError, match="squeeze_excite must be a number in"):
        ResidualBlock(filters=4, squeeze_excite=bad)


def test_residual_block_with_squeeze_excitation_layer():
    run_layer_test(
        ResidualBlock,
        {"filters": 4, "strides": 2, "squeeze_excite": 0.25},
        input_shape=(2, 6, 6, 3),
        expected_output_shape=(2, 3, 3, 4),
        expected_num_trainable_weights=6 + 3 + 4,  # 2 convs and BNs, the projection and its BN, two dense layers
    )


# --- GlobalSpectralFilter ----------------------------------------------------


def test_global_spectral_filter_layer():
    run_layer_test(
        GlobalSpectralFilter,
        {"init_scale": 0.1},
        input_shape=(2, 6, 5, 3),
        expected_output_shape=(2, 6, 5, 3),
        expected_num_trainable_weights=2,
        atol=1e-5,
    )


@pytest.mark.parametrize("residual", [True, False])
def test_global_spectral_filter_matches_numpy(residual):
    layer = GlobalSpectralFilter(init_scale=0.5, residual=residual)
    x = np.random.default_rng(6).normal(size=(2, 6, 5, 3)).astype("float32")
    outputs = keras.ops.convert_to_numpy(layer(x))
    weights = keras.ops.convert_to_numpy(layer.filter_real) + 1j * keras.ops.convert_to_numpy(layer.filter_imag)
    filtered = np.fft.ifft2(np.fft.fft2(x.astype("float64"), axes=(1, 2)) * weights[None], axes=(1, 2)).real
    np.testing.assert_allclose(outputs, filtered + x if residual else filtered, atol=1e-4)


def test_global_spectral_filter_with_a_flat_filter_scales_and_a_shifted_one_rolls():
    layer = GlobalSpectralFilter(residual=False)
    x = _random((1, 4, 4, 2))
    layer(x)
    layer.filter_real.assign(np.full((4, 4, 2), 2.0, "float32"))
    layer.filter_imag.assign(np.zeros((4, 4, 2), "float32"))
    np.testing.assert_allclose(keras.ops.convert_to_numpy(layer(x)), 2 * x, atol=1e-5)
    frequencies = np.fft.fftfreq(4)[None, :, None]  # exp(-2 pi i f) along the width: a shift by one column
    layer.filter_real.assign(np.broadcast_to(np.cos(-2 * np.pi * frequencies), (4, 4, 2)).astype("float32"))
    layer.filter_imag.assign(np.broadcast_to(np.sin(-2 * np.pi * frequencies), (4, 4, 2)).astype("float32"))
    np.testing.assert_allclose(keras.ops.convert_to_numpy(layer(x)), np.roll(x, 1, axis=2), atol=1e-5)
    with pytest.raises(ValueError, match="static height, width and channels"):
        GlobalSpectralFilter().build((None, None, 4, 2))


# --- ConvNeXtBlock -----------------------------------------------------------


def test_convnext_block_layer():
    run_layer_test(
        ConvNeXtBlock,
        {"kernel_size": 3, "expansion": 2, "layer_scale": 0.5, "weight_decay": 1e-4},
        input_shape=(2, 6, 6, 3),
        expected_output_shape=(2, 6, 6, 3),
        expected_num_trainable_weights=2 + 2 + 2 + 2 + 1,  # depthwise, norm, two dense, gamma
    )


def test_convnext_block_matches_numpy():
    from scipy.special import erf

    block = ConvNeXtBlock(kernel_size=3, expansion=2, layer_scale=0.7)
    x = np.random.default_rng(4).normal(size=(2, 5, 6, 3)).astype("float32")
    block(x)
    for weight in (block.depthwise.bias, block.norm.beta, block.expand.bias, block.project.bias):
        weight.assign(np.random.default_rng(5).normal(size=weight.shape).astype("float32") * 0.1)
    outputs = keras.ops.convert_to_numpy(block(x))

    kernel = keras.ops.convert_to_numpy(block.depthwise.kernel)[..., 0]  # (3, 3, channels)
    padded = np.pad(x.astype("float64"), ((0, 0), (1, 1), (1, 1), (0, 0)))
    spatial = np.zeros(x.shape)
    for dy in range(3):
        for dx in range(3):
            spatial += padded[:, dy:dy + 5, dx:dx + 6, :] * kernel[dy, dx]
    spatial += keras.ops.convert_to_numpy(block.depthwise.bias)
    mean, var = spatial.mean(-1, keepdims=True), spatial.var(-1, keepdims=True)
    normed = (spatial - mean) / np.sqrt(var + 1e-6) * keras.ops.convert_to_numpy(block.norm.gamma) \
        + keras.ops.convert_to_numpy(block.norm.beta)
    w1, b1 = (keras.ops.convert_to_numpy(w) for w in block.expand.weights)
    w2, b2 = (keras.ops.convert_to_numpy(w) for w in block.project.weights)
    hidden = normed @ w1 + b1
    hidden = 0.5 * hidden * (1.0 + erf(hidden / np.sqrt(2.0)))  # exact GELU
    expected = x + 0.7 * (hidden @ w2 + b2)
    np.testing.assert_allclose(outputs, expected, atol=1e-4)
    assert ConvNeXtBlock(layer_scale=0.0).get_config()["layer_scale"] == 0.0




@pytest.mark.parametrize(
    "init_kwargs, input_shape, expected_output_shape, num_trainable",
    [
        # R_s keeping the shape: identity shortcut, 2 kernels + 2 BN pairs.
        ({"filters": 3}, (2, 8, 8, 3), (2, 8, 8, 3), 6),
        # R_l going down: 3 kernels + 3 BN pairs + projection kernel and BN.
        (
            {"filters": 4, "num_convs": 3, "strides": 2, "weight_decay": 1e-4},
            (2, 7, 7, 3),
            (2, 4, 4, 4),
            12,
        ),
    ],
)
def test_residual_block_layer(
    init_kwargs, input_shape, expected_output_shape, num_trainable
):
    run_layer_test(
        ResidualBlock,
        init_kwargs,
        input_shape=input_shape,
        expected_output_shape=expected_output_shape,
        expected_num_trainable_weights=num_trainable,
    )


def test_residual_block_identity_shortcut():
    block = ResidualBlock(filters=3)
    x = np.random.default_rng(2).normal(size=(2, 5, 5, 3)).astype("float32")
    block(x)
    assert block.shortcut_conv is None
    assert len(block.convs) == 2

    # With a silent main path the block reduces to relu(inputs).
    for conv in block.convs:
        conv.kernel.assign(np.zeros(conv.kernel.shape, dtype="float32"))
    outputs = keras.ops.convert_to_numpy(block(x, training=False))
    np.testing.assert_allclose(outputs, np.maximum(x, 0.0), atol=1e-6)


@pytest.mark.parametrize(
    "init_kwargs", [{"filters": 5}, {"filters": 3, "strides": 2}]
)
def test_residual_block_projects_when_shape_changes(init_kwargs):
    block = ResidualBlock(**init_kwargs)
    outputs = block(_random((1, 6, 6, 3)))
    assert block.shortcut_conv is not None
    assert tuple(block.shortcut_conv.kernel.shape) == (1, 1, 3, block.filters)
    assert outputs.shape == block.compute_output_shape((1, 6, 6, 3))


@pytest.mark.parametrize("size", [6, 7])
def test_strided_shortcut_equals_a_strided_1x1_convolution(size):
    block = ResidualBlock(filters=4, strides=2)
    x = _random((2, size, size, 3))
    block(x)
    reference = keras.layers.Conv2D(4, 1, strides=2, padding="same", use_bias=False)
    reference.build((None, size, size, 3))
    reference.kernel.assign(block.shortcut_conv.kernel)
    sampled = x[:, ::2, ::2, :]
    ours = keras.ops.convert_to_numpy(block.shortcut_conv(sampled))
    np.testing.assert_allclose(ours, keras.ops.convert_to_numpy(reference(x)), atol=1e-5)


def test_strided_residual_block_trains_at_64_pixels(tmp_path):
    """Regression: TF 2.21's oneDNN strided 1x1 convolution crashed training here (segfault)."""
    import subprocess
    import sys

    script = tmp_path / "train.py"
    script.write_text(
        "import numpy as np, keras\n"
        "from protkit.layers import ResidualBlock\n"
        "inputs = keras.Input((64, 64, 4))\n"
        "x = keras.layers.GlobalAveragePooling2D()(ResidualBlock(16, strides=2)(inputs))\n"
        "model = keras.Model(inputs, keras.layers.Dense(3, activation='softmax')(x))\n"
        "model.compile(optimizer='adam', loss='categorical_crossentropy')\n"
        "rng = np.random.default_rng(0)\n"
        "for n in (80, 100):\n"
        "    model.fit(rng.random((n, 64, 64, 4), dtype=np.float32), np.eye(3)[rng.integers(0, 3, n)],\n"
        "              batch_size=32, epochs=2, verbose=0)\n"
        "print('trained')\n")
    done = subprocess.run([sys.executable, str(script)], capture_output=True, text=True, timeout=300)
    assert done.returncode == 0 and "trained" in done.stdout, done.stderr[-2000:]


@pytest.mark.parametrize(
    "init_kwargs, input_shape, expected_output_shape",
    [
        ({"filters": 4, "num_convs": 3}, (2, 7, 7, 3), (2, 4, 4, 4)),
        ({"filters": 2, "pool": False}, (2, 8, 6, 3), (2, 8, 6, 2)),
    ],
)
def test_plain_block_layer(init_kwargs, input_shape, expected_output_shape):
    run_layer_test(
        PlainBlock,
        init_kwargs,
        input_shape=input_shape,
        expected_output_shape=expected_output_shape,
        expected_num_trainable_weights=3 * init_kwargs.get("num_convs", 2),
    )


@pytest.mark.parametrize("block_cls", [ResidualBlock, PlainBlock])
def test_small_and_large_blocks(block_cls):
    small = block_cls.small(4)
    large = block_cls.large(4, kernel_size=5)
    assert (small.num_convs, len(small.convs)) == (2, 2)
    assert (large.num_convs, len(large.convs)) == (3, 3)
    assert large.kernel_size == (5, 5)
    assert block_cls.from_config(large.get_config()).num_convs == 3


def test_plcnn_stage_branches_concatenate():
    # One PLCNN stage: residual and plain branches halve odd sizes alike.
    inputs = keras.Input(shape=(7, 7, 3))
    residual = ResidualBlock.small(4, strides=2)(inputs)
    plain = PlainBlock.small(4)(inputs)
    merged = keras.layers.Concatenate()([residual, plain])
    assert merged.shape == (None, 4, 4, 8)
    model = keras.Model(inputs, merged)
    assert model(_random((2, 7, 7, 3))).shape == (2, 4, 4, 8)


# --- Shared checks -----------------------------------------------------------


@pytest.mark.parametrize(
    "layer_cls, init_kwargs, received",
    [
        (FFTSpectrum, {"mode": "both"}, "mode=both"),
        (FFTSpectrum, {"include_phase": 1}, "include_phase=1"),
        (FFTSpectrum, {"normalize": "yes"}, "normalize=yes"),
        (SeparableConvBlock, {"filters": 0}, "filters=0"),
        (SeparableConvBlock, {"kernel_size": (3,)}, "kernel_size=(3,)"),
        (SeparableConvBlock, {"pool": "yes"}, "pool=yes"),
        (SeparableConvBlock, {"weight_decay": -1.0}, "weight_decay=-1.0"),
        (SeparableConvBlock, {"dropout": 1.0}, "dropout=1.0"),
        (SpatialAttention, {"num_heads": 0}, "num_heads=0"),
        (SpatialAttention, {"key_dim": 2.5}, "key_dim=2.5"),
        (SpatialAttention, {"dropout": -0.1}, "dropout=-0.1"),
        (SpatialAttention, {"epsilon": 0}, "epsilon=0"),
        (ResidualBlock, {"filters": -1}, "filters=-1"),
        (ResidualBlock, {"filters": 4, "num_convs": 0}, "num_convs=0"),
        (ResidualBlock, {"filters": 4, "strides": 0}, "strides=0"),
        (ResidualBlock, {"filters": 4, "kernel_size": "3"}, "kernel_size=3"),
        (PlainBlock, {"filters": 4, "pool": None}, "pool=None"),
        (PlainBlock, {"filters": 4, "weight_decay": True}, "weight_decay=True"),
    ],
)
def test_bad_arguments_raise(layer_cls, init_kwargs, received):
    with pytest.raises(ValueError) as error:
        layer_cls(**init_kwargs)
    assert str(error.value).endswith(f"Received: {received}")


@pytest.mark.parametrize("layer_cls", ALL_LAYERS)
def test_docstring_example_runs(layer_cls):
    examples = doctest.DocTestFinder().find(
        layer_cls,
        layer_cls.__name__,
        globs={"np": np, "keras": keras, "protkit": protkit},
    )
    examples = [test for test in examples if test.examples]
    assert examples, f"{layer_cls.__name__} has no docstring example"
    runner = doctest.DocTestRunner()
    for test in examples:
        runner.run(test)
    assert runner.failures == 0


def test_public_api():
    assert sorted(protkit.layers.__all__) == sorted(
        layer.__name__ for layer in ALL_LAYERS
    )
    for layer_cls in ALL_LAYERS:
        name = keras.saving.get_registered_name(layer_cls)
        assert name == f"protkit>{layer_cls.__name__}"


def test_old_plcnn_blocks_import_path_still_works():
    from protkit.layers import plain, plcnn_blocks, residual

    assert plcnn_blocks.ResidualBlock is residual.ResidualBlock is ResidualBlock
    assert plcnn_blocks.PlainBlock is plain.PlainBlock is PlainBlock


def _rewrite_keras_config(path, old, new):
    """Rewrites `old` to `new` in the config.json of the `.keras` file at `path`."""
    import zipfile

    with zipfile.ZipFile(path) as archive:
        members = {name: archive.read(name) for name in archive.namelist()}
    assert old.encode() in members["config.json"]
    members["config.json"] = members["config.json"].replace(old.encode(), new.encode())
    with zipfile.ZipFile(path, "w") as archive:
        for name, data in members.items():
            archive.writestr(name, data)


@pytest.mark.parametrize("module", ["protkit.layers.residual", "protkit.layers.plcnn_blocks"])
def test_saved_conv_blocks_reload(tmp_path, module):
    # Files saved before the blocks moved name the module `protkit.layers.plcnn_blocks`;
    # Keras finds the classes by their registered names (`protkit>ResidualBlock`), so both load.
    inputs = keras.Input(shape=(9, 9, 3))
    residual = ResidualBlock.large(4, strides=2, weight_decay=1e-3, name="residual")(inputs)
    plain = PlainBlock.small(4, name="plain")(inputs)
    model = keras.Model(inputs, keras.layers.Concatenate()([residual, plain]))
    path = tmp_path / "blocks.keras"
    model.save(path)
    for old_module in ("protkit.layers.residual", "protkit.layers.plain"):
        if module != old_module:
            _rewrite_keras_config(path, f'"module": "{old_module}"', f'"module": "{module}"')
    reloaded = keras.saving.load_model(path, safe_mode=True)
    assert isinstance(reloaded.get_layer("residual"), ResidualBlock)
    assert isinstance(reloaded.get_layer("plain"), PlainBlock)
    assert reloaded.get_layer("residual").get_config() == model.get_layer("residual").get_config()
    x = _random((2, 9, 9, 3))
    np.testing.assert_allclose(reloaded(x), model(x), atol=1e-6)


@pytest.mark.parametrize(
    "check, value, message",
    [
        ("positive_int_argument", 0, "Argument `x` must be a positive int. Received: x=0"),
        ("positive_number_argument", 0, "Argument `x` must be a positive number. Received: x=0"),
        ("non_negative_argument", -1, "Argument `x` must be a number >= 0. Received: x=-1"),
        ("rate_argument", 1, "Argument `x` must be a number in [0, 1). Received: x=1"),
        ("bool_argument", 1, "Argument `x` must be a bool. Received: x=1"),
    ],
)
def test_layer_argument_checks(check, value, message):
    from protkit import _validation

    with pytest.raises(ValueError) as error:
        getattr(_validation, check)(value, "x")
    assert str(error.value) == message
    with pytest.raises(ValueError, match=r"must be one of \('a', 'b'\)\. Received: x=c"):
        _validation.choice_argument("c", "x", ("a", "b"))


def test_conv_block_arguments_are_checked_and_cast():
    from protkit._validation import conv_block_arguments

    assert conv_block_arguments(np.int64(4), 3, 0) == (4, 3, 0.0)
    with pytest.raises(ValueError, match=r"\(2 for a small block, 3 for a large one\)\. Received: num_convs=True"):
        conv_block_arguments(4, True, 0.0)
