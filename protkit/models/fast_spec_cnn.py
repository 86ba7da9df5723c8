"""Fast Spec CNN: FFT spectrum, depthwise separable convolutions and multi-head attention."""

from __future__ import annotations

import keras

from protkit.layers import FFTSpectrum
from protkit.layers import GlobalSpectralFilter
from protkit.layers import SeparableConvBlock
from protkit.layers import SpatialAttention
from protkit import _validation
from protkit.models import presets as _presets
from protkit.models._parts import STEM_NAMES, conv_bn_relu
from protkit.vocabulary import MULTI_LABEL, output_activation

SPECTRAL_MODES = ("dual", "spectral", "spatial", "global_filter")
ATTENTION_LAYER = "attention"


def _model_settings(preset, overrides):
    owned = _presets.MODEL_PRESETS["fast_spec_cnn"]
    if preset not in owned:
        raise ValueError(f"Unknown preset; expected one of {owned}. Received: preset={preset!r}")
    settings, _ = _presets.split_preset(_presets.get_preset(preset))
    unknown = sorted(set(overrides) - set(_presets.MODEL_KEYS))
    if unknown:
        raise ValueError(
            f"fast_spec_cnn overrides must be model keys {_presets.MODEL_KEYS} (training keys such "
            f"as image_size or batch_size belong to the training loop). Received: {unknown}"
        )
    settings.update(overrides)
    settings["filters"] = _validation.check_filters(settings["filters"])
    for key in ("stem_filters", "stem_strides", "kernel_size", "num_heads", "key_dim", "hidden_units"):
        settings[key] = _validation.check_positive_int(settings[key], key)
    for key in ("dropout", "attention_dropout"):
        settings[key] = _validation.check_rate(settings[key], key)
    settings["weight_decay"] = _validation.check_non_negative(settings["weight_decay"], "weight_decay")
    for key in ("fft_normalize", "include_phase"):
        if not isinstance(settings[key], bool):
            raise ValueError(f"{key} must be a bool. Received: {key}={settings[key]!r}")
    return settings


def fast_spec_cnn(
    input_shape,
    num_classes,
    task=MULTI_LABEL,
    spectral="dual",
    attention=True,
    regularization=True,
    preset="cpu",
    name="fast_spec_cnn",
    **overrides,
):
    """Fast Spec CNN: FFT spectrum -> stem conv -> separable blocks -> attention -> dense head.

    The layers, by name:

    1. `fft` (`FFTSpectrum`, unless `spectral="spatial"`): the centred log-magnitude
       spectrum of every channel, alone (`"spectral"`) or after the image on the channel
       axis (`"dual"`).
    2. `stem_conv`, `stem_bn`, `stem_relu`: a `kernel_size` convolution to `stem_filters`
       channels with strides `stem_strides` (1 in the paper preset, 2 in the cpu one),
       batch norm, ReLU.
    3. `block0` ... `block{N-1}` (`SeparableConvBlock`): one per entry of `filters`, each a
       depthwise separable `kernel_size` convolution, batch norm, ReLU and 2x2 max pooling;
       with `spectral="global_filter"` each is followed by `global_filter{i}`
       (`GlobalSpectralFilter`: the feature map plus its global, learnable Fourier-domain
       filtering).
    4. `attention` (`SpatialAttention`, if `attention`): multi-head self-attention between
       the positions of the last feature map (`num_heads` heads of size `key_dim`); fetch
       its maps with `attention_scores_model`.
    5. `gap` (global average pooling), `hidden` (Dense `hidden_units`, ReLU), `dropout`,
       `probabilities` (Dense `num_classes`, softmax or sigmoid).

    Weight decay is an L2 penalty on the stem, separable and hidden kernels.

    Args:
        input_shape: (height, width, channels) with static height and width (the FFT and
            the attention need them); any channel count. The preset's `image_size` is only
            a recommendation for pipelines.
        num_classes: positive int, number of classes / labels.
        task: `"multi_label"` (sigmoid, the default) or `"single_label"` (softmax).
        spectral: `"dual"` (image and spectrum, the paper's), `"spectral"` (spectrum only),
            `"spatial"` (no FFT) or `"global_filter"` (no input FFT; a residual learnable
            filter in the Fourier domain after every block, as in global filter networks).
        attention: bool, whether to add the attention layer.
        regularization: bool. `False` is the ablation without regularization: dropout,
            attention dropout and weight decay are all set to 0 (no Dropout layer, no
            regularizer), whatever the preset or overrides say.
        preset: `"cpu"` (default) or `"paper"`; see `protkit.models.presets`.
        name: model name.
        **overrides: replace model keys of the preset (`filters`, `stem_filters`,
            `stem_strides`, `kernel_size`, `num_heads`, `key_dim`, `attention_dropout`, `hidden_units`,
            `dropout`, `weight_decay`, `fft_normalize`, `include_phase`).

    Returns:
        keras.Model mapping images to class probabilities.

    Example:
    >>> model = fast_spec_cnn((64, 64, 4), num_classes=5)  # the "cpu" preset
    >>> model.output_shape
    (None, 5)
    >>> model.get_layer("attention").input.shape  # 64 / 2 (stem) / 2 / 2 (blocks)
    (None, 8, 8, 64)
    >>> attention_scores_model(model).output_shape  # (batch, heads, 8 * 8, 8 * 8)
    (None, 2, 64, 64)

    Reference:
        Savitha S. et al., "An Upgraded Blended Model for Human Protein Classification Using
        Fast Spec CNN with Multi-Head Attention and GAN Augmentation", Salud, Ciencia y
        Tecnologia - Serie de Conferencias 3:804 (2024), doi:10.56294/sctconf2024804.
    """
    activation = output_activation(task)
    num_classes = _validation.check_positive_int(num_classes, "num_classes")
    if spectral not in SPECTRAL_MODES:
        raise ValueError(f"spectral must be one of {SPECTRAL_MODES}. Received: spectral={spectral!r}")
    for flag, value in (("attention", attention), ("regularization", regularization)):
        if not isinstance(value, bool):
            raise ValueError(f"{flag} must be a bool. Received: {flag}={value!r}")
    settings = _model_settings(preset, overrides)
    input_shape = _validation.check_input_shape(input_shape, static=True)
    if not regularization:
        settings.update(dropout=0.0, attention_dropout=0.0, weight_decay=0.0)
    weight_decay = settings["weight_decay"]
    regularizer = keras.regularizers.L2(weight_decay) if weight_decay > 0 else None

    inputs = keras.Input(shape=input_shape, name="images")
    x = inputs
    if spectral in ("dual", "spectral"):
        x = FFTSpectrum(
            mode=spectral,
            include_phase=settings["include_phase"],
            normalize=settings["fft_normalize"],
            name="fft",
        )(x)
    x = conv_bn_relu(
        x, settings["stem_filters"], settings["kernel_size"], settings["stem_strides"], regularizer, STEM_NAMES
    )
    for index, width in enumerate(settings["filters"]):
        x = SeparableConvBlock(
            width,
            kernel_size=settings["kernel_size"],
            pool=True,
            weight_decay=weight_decay,
            name=f"block{index}",
        )(x)
        if spectral == "global_filter":
            x = GlobalSpectralFilter(name=f"global_filter{index}")(x)
    if attention:
        x = SpatialAttention(
            num_heads=settings["num_heads"],
            key_dim=settings["key_dim"],
            dropout=settings["attention_dropout"],
            name=ATTENTION_LAYER,
        )(x)
    x = keras.layers.GlobalAveragePooling2D(name="gap")(x)
    x = keras.layers.Dense(
        settings["hidden_units"], activation="relu", kernel_regularizer=regularizer, name="hidden"
    )(x)
    if settings["dropout"] > 0:
        x = keras.layers.Dropout(settings["dropout"], name="dropout")(x)
    outputs = keras.layers.Dense(num_classes, activation=activation, name="probabilities")(x)
    return keras.Model(inputs, outputs, name=name)


def attention_scores_model(model, layer_name=ATTENTION_LAYER):
    """A model mapping images to the attention weights of `model`'s attention layer.

    The attention layer is called once more on its own input tensor with
    `return_attention_scores=True`; the new model shares all weights with `model`, so it
    follows further training. It is meant for inspection, not for saving.

    Args:
        model: a functional model with a `SpatialAttention` layer, such as `fast_spec_cnn`
            (also after `keras.saving.load_model`).
        layer_name: name of that layer. Defaults to `"attention"`.

    Returns:
        keras.Model mapping images to scores of shape
        `(batch, num_heads, height * width, height * width)` (each row sums to 1), where
        height and width are those of the attended feature map.

    Example:
    >>> model = fast_spec_cnn((32, 32, 1), num_classes=2, filters=(8,), hidden_units=8)
    >>> attention_scores_model(model).output_shape
    (None, 2, 64, 64)

    Reference:
        Vaswani A. et al., "Attention Is All You Need", NeurIPS 2017.
    """
    names = [layer.name for layer in model.layers]
    if layer_name not in names:
        raise ValueError(
            f"Model {model.name!r} has no layer named {layer_name!r} (built with attention=False?). "
            f"Received: layer_name={layer_name!r}"
        )
    layer = model.get_layer(layer_name)
    if not isinstance(layer, SpatialAttention):
        raise ValueError(
            f"Layer {layer_name!r} must be a SpatialAttention layer. Received: {type(layer).__name__}"
        )
    scores = _AttentionScores(layer, name=f"{layer_name}_scores")(layer.input)
    return keras.Model(model.inputs[0] if len(model.inputs) == 1 else model.inputs, scores, name=f"{model.name}_attention_scores")


class _AttentionScores(keras.layers.Layer):
    """Calls a `SpatialAttention` layer with `return_attention_scores=True`, keeps the scores.

    Calling the attention layer itself a second time would give it a node with two outputs
    next to its original node with one, which a functional model cannot trace; this wrapper
    is a separate layer with one output that shares the attention layer's weights.
    """

    def __init__(self, attention, **kwargs):
        super().__init__(**kwargs)
        self.attention = attention

    def call(self, inputs):
        return self.attention(inputs, return_attention_scores=True)[1]

    def compute_output_spec(self, inputs):
        return self.attention.compute_output_spec(inputs, return_attention_scores=True)[1]
