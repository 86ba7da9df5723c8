"""Explanation maps: which feature map is a picture of the image, Grad-CAM, attention maps."""

from __future__ import annotations

import numpy as np

# What the positions of a feature map stand for, from best to worst for Grad-CAM.
SPACES = ("image", "mixed", "spectral", "global")


def _map_spaces(model):
    """{layer name: space} for every layer of a functional model (see `feature_map_space`)."""
    import keras

    from protkit.layers import FFTSpectrum, GlobalSpectralFilter, SpatialAttention

    spaces = {}
    for layer in model.layers:
        inputs = [] if isinstance(layer, keras.layers.InputLayer) else keras.tree.flatten(layer.input)
        parents = [spaces.get(tensor._keras_history.operation.name, "image") for tensor in inputs]
        space = max(parents, key=SPACES.index, default="image")
        if isinstance(layer, FFTSpectrum):
            space = max(space, "mixed" if layer.mode == "dual" else "spectral", key=SPACES.index)
        elif isinstance(layer, (SpatialAttention, keras.layers.MultiHeadAttention, GlobalSpectralFilter)):
            space = "global"
        spaces[layer.name] = space
    return spaces


def feature_map_space(model, layer):
    """What the positions of ``layer``'s output stand for.

    Returns:
        ``"image"`` (image positions: downstream of convolutions and poolings only),
        ``"mixed"`` (after an `FFTSpectrum` in ``"dual"`` mode: the image and its spectrum are
        convolved together, so a position is both a place and a spatial frequency),
        ``"spectral"`` (after a spectrum-only FFT: positions are frequencies) or ``"global"``
        (after self-attention or a `GlobalSpectralFilter`, whose image-sized filter is a
        circular convolution: every position has gathered from all the others).
    """
    spaces = _map_spaces(model)
    if layer not in spaces:
        raise ValueError(f"{model.name} has no layer {layer!r}. Received: layer={layer!r}")
    return spaces[layer]


def last_conv_layer(model, min_size=None):
    """The default Grad-CAM layer: the last feature map in image space that is fine enough.

    Among the layers with a (batch, H, W, C) output (not the input, not the FFT itself), maps
    after attention or a spectrum-only FFT are left out (`feature_map_space`), and so are maps
    with fewer than ``min_size`` positions per side when a finer one exists (an 8x8 map over a
    64x64 cell, upsampled, smears a nucleus over its surroundings). Of the rest, the last one
    in image space is chosen, or failing that (after a dual FFT) the last one in mixed space.

    Args:
        model: a functional Keras model.
        min_size: fewest positions per side; default min(16, input side // 4).

    Raises:
        ValueError: no such map (e.g. a spectrum-only model, whose positions are frequencies).
    """
    import keras

    from protkit.layers import FFTSpectrum

    spaces = _map_spaces(model)
    maps = [layer for layer in model.layers
            if not isinstance(layer, (keras.layers.InputLayer, FFTSpectrum)) and len(layer.output.shape) == 4]
    usable = [layer for layer in maps if spaces[layer.name] in ("image", "mixed")]
    if not usable:
        found = {layer.name: spaces[layer.name] for layer in maps}
        raise ValueError(f"{model.name} has no (batch, height, width, channels) map in image space for Grad-CAM; "
                         f"its maps are {found or 'none'} (spectral: positions are frequencies; global: after "
                         f"attention or a global spectral filter). Pass layer= to choose one anyway.")
    if min_size is None:
        side = min(size or 64 for size in model.inputs[0].shape[1:3])
        min_size = min(16, max(1, side // 4))
    fine = [layer for layer in usable if min(layer.output.shape[1:3]) >= min_size] or usable
    in_image = [layer for layer in fine if spaces[layer.name] == "image"]
    return (in_image or fine)[-1].name


def _logit_head(model):
    """(features tensor, function features -> logits) for a model ending in Dense + softmax/sigmoid."""
    import keras

    head = model.layers[-1]
    activation = getattr(head, "activation", None)
    name = getattr(activation, "__name__", "")
    if isinstance(head, keras.layers.Dense) and name in ("softmax", "sigmoid"):
        def logits(features):
            out = keras.ops.matmul(features, head.kernel)
            return out + head.bias if head.use_bias else out

        return head.input, logits
    return model.outputs[0], lambda outputs: outputs


def grad_cam(model, images, class_index=None, layer=None, batch_size=32):
    """Grad-CAM heatmaps of ``images`` for one class each, at the input resolution.

    Args:
        model: a Keras classifier with a convolutional feature map (protkit's models, or any).
        images: (N, H, W, C) prepared as for the model.
        class_index: None (each image's top class), an int (the same class for all), or (N,)
            ints (e.g. each image's own cluster).
        layer: name of the feature-map layer; default `last_conv_layer(model)`.
        batch_size: images per gradient pass.

    Returns:
        (N, H, W) float32 heatmaps in [0, 1] (all zero where no position raises the score).
    """
    import keras

    from protkit.backend import gradients

    images = np.asarray(images, np.float32)
    layer = layer or last_conv_layer(model)
    features, to_logits = _logit_head(model)
    feature_map = model.get_layer(layer).output
    to_map = keras.Model(model.inputs[0] if len(model.inputs) == 1 else model.inputs, feature_map)
    # The rest of the network as a function of (images, feature map): paths that bypass the map
    # (skip connections from before it) still see the images; the gradient is taken at the map.
    from_map = keras.Model([*model.inputs, feature_map], features)
    targets = classes_to_explain(model, images, class_index, batch_size)
    heatmaps = []
    for start in range(0, len(images), batch_size):
        x = keras.ops.convert_to_tensor(images[start:start + batch_size])
        chosen = keras.ops.convert_to_tensor(targets[start:start + batch_size][:, None])
        maps = keras.ops.convert_to_numpy(to_map(x, training=False))

        def scores(at, x=x, chosen=chosen):
            logits = to_logits(from_map([x, at], training=False))
            return keras.ops.take_along_axis(logits, chosen, axis=1)[:, 0]

        _, grads = gradients(scores, maps)
        weights = grads.mean(axis=(1, 2), keepdims=True)
        cam = np.maximum((weights * maps).sum(axis=-1), 0.0)
        cam = keras.ops.convert_to_numpy(keras.ops.image.resize(cam[..., None], images.shape[1:3],
                                                                interpolation="bilinear"))[..., 0]
        top = cam.max(axis=(1, 2), keepdims=True)
        heatmaps.append(cam / np.where(top > 0, top, 1.0))
    return np.concatenate(heatmaps).astype(np.float32)


# ---------------------------------------------------------------- sanity checks


def predict_in_batches(model, images, batch_size=32):
    """``model``'s outputs, called eagerly in batches (``predict`` would trace every new model again)."""
    import keras

    return np.concatenate([keras.ops.convert_to_numpy(model(images[start:start + batch_size], training=False))
                           for start in range(0, len(images), batch_size)])


def classes_to_explain(model, images, class_index=None, batch_size=32):
    """One class per image: each image's top class (None), the same int for all, or (N,) ints."""
    if class_index is None:
        return np.argmax(predict_in_batches(model, images, batch_size), axis=-1)
    return np.broadcast_to(np.asarray(class_index, dtype=np.int64), (len(images),)).copy()


def attention_heatmaps(model, images, class_index=None, layer="attention", batch_size=32):
    """How much attention each part of the image receives, as (N, H, W) maps in [0, 1].

    The mean over heads and query positions of the attention weights each position of
    ``layer`` (a `protkit.layers.SpatialAttention`, e.g. the Fast Spec CNN's) receives,
    bilinearly upsampled to the image size and divided by its maximum. Attention does not
    depend on the class: ``class_index`` is accepted, and ignored, so that the function can be
    the ``explainer`` of `randomization_test`.
    """
    import keras

    from protkit.models.fast_spec_cnn import attention_scores_model

    images = np.asarray(images, np.float32)
    height, width = model.get_layer(layer).input.shape[1:3]
    scores = predict_in_batches(attention_scores_model(model, layer), images, batch_size)
    received = scores.mean(axis=(1, 2)).reshape(len(images), height, width, 1)
    maps = keras.ops.convert_to_numpy(keras.ops.image.resize(received, images.shape[1:3],
                                                            interpolation="bilinear"))[..., 0]
    return (maps / maps.max(axis=(1, 2), keepdims=True)).astype(np.float32)
