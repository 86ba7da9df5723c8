"""Deep convolutional autoencoders (DCAE): 2D, 3D, and a fused 2D + 3D model.

An autoencoder learns without labels: an *encoder* squeezes an image into a short latent
vector, a *decoder* rebuilds the image from it, and training minimizes the reconstruction
error. The latent vectors are then features for other models:

- DCAE + MLP (HEp-2 staining patterns): freeze the encoder, train a small MLP on its latents
  (`mlp_classifier`, hidden sizes 250-50 as in the paper's 4096-250-50-5);
- DCAEC (imaging flow cytometry): cluster the latents with a Gaussian mixture
  (`protkit.clustering`).

Builders:

- `dcae(input_shape, latent_dim, filters)`: 2D (input (H, W, C)) or 3D (input (D, H, W, C)),
  picked from the input's rank. Strided convolutions halve every spatial axis per entry of
  ``filters``; a dense layer gives the latent; the decoder mirrors it with transposed
  convolutions and a linear output (a sigmoid output saturates on dark microscopy
  backgrounds and stalls training at a constant image). Inputs are normalized to about [0, 1].
- `fused_dcae(shape_2d, shape_3d, ...)`: a 2D and a 3D autoencoder side by side, trained on
  ``w1 * MSE_2d + (1 - w1) * MSE_3d`` (Keras ``loss_weights``, `compile_fused`); its encoder
  concatenates both latents.

`encoder_of(model)` returns the encoder, reusable on its own (``dcae``'s is the sub-model
named ``encoder``); `encoder_statistics(encoder)` adds texture statistics of its convolutions
to the latent; `mlp_classifier` is the small MLP of DCAE + MLP (the whole classifier, trainable
by `protkit train --model dcae_mlp`, is `protkit.models.dcae_mlp`).

Example:
>>> model = dcae((32, 32, 2), latent_dim=8, filters=(8, 16))
>>> model.output_shape, encoder_of(model).output_shape
((None, 32, 32, 2), (None, 8))
"""

from __future__ import annotations

import keras

from protkit._validation import check_filters, check_positive_int, is_int


def _check_shape(input_shape):
    shape = tuple(input_shape) if isinstance(input_shape, (tuple, list)) else ()
    if len(shape) not in (3, 4) or not all(is_int(s) and s > 0 for s in shape):
        raise ValueError(f"input_shape must be (height, width, channels) or (depth, height, width, channels) of "
                         f"positive ints. Received: input_shape={input_shape!r}")
    return tuple(int(s) for s in shape)


def _layers(rank):
    if rank == 2:
        return keras.layers.Conv2D, keras.layers.Conv2DTranspose
    return keras.layers.Conv3D, keras.layers.Conv3DTranspose


def _encoder_decoder(input_shape, latent_dim, filters, encoder_name="encoder", decoder_name="decoder"):
    shape = _check_shape(input_shape)
    latent_dim = check_positive_int(latent_dim, "latent_dim")
    filters = check_filters(filters)
    spatial, channels = shape[:-1], shape[-1]
    factor = 2 ** len(filters)
    if any(size % factor for size in spatial):
        raise ValueError(f"every spatial size of input_shape must be divisible by 2**len(filters) = {factor}. "
                         f"Received: input_shape={shape}, filters={filters}")
    conv, transpose = _layers(len(spatial))

    images = keras.Input(shape, name="images")
    x = images
    for i, width in enumerate(filters):
        x = conv(width, 3, strides=2, padding="same", activation="leaky_relu", name=f"enc_conv{i}")(x)
    grid = tuple(int(s) for s in x.shape[1:])
    x = keras.layers.Flatten(name="enc_flatten")(x)
    encoder = keras.Model(images, keras.layers.Dense(latent_dim, name="latent")(x), name=encoder_name)

    code = keras.Input((latent_dim,), name="latent_in")
    size = 1
    for s in grid:
        size *= s
    y = keras.layers.Dense(size, activation="leaky_relu", name="dec_dense")(code)
    y = keras.layers.Reshape(grid, name="dec_grid")(y)
    for i, width in enumerate(reversed(filters[:-1])):
        y = transpose(width, 3, strides=2, padding="same", activation="leaky_relu", name=f"dec_up{i}")(y)
    y = transpose(channels, 3, strides=2, padding="same", name="reconstruction")(y)
    return encoder, keras.Model(code, y, name=decoder_name)


def dcae(input_shape, latent_dim=64, filters=(32, 64, 128), name="dcae"):
    """A convolutional autoencoder, 2D or 3D by the rank of ``input_shape``.

    Args:
        input_shape: (H, W, C) or (D, H, W, C); every spatial size divisible by
            ``2 ** len(filters)``.
        latent_dim: size of the latent vector.
        filters: filters of the encoder's strided convolutions (the decoder mirrors them).
        name: model name; the encoder and decoder are ``encoder`` and ``decoder``.

    Returns:
        A `keras.Model` from images to reconstructions; compile it with ``loss="mse"``.
    """
    encoder, decoder = _encoder_decoder(input_shape, latent_dim, filters)
    images = keras.Input(tuple(input_shape), name="images")
    return keras.Model(images, decoder(encoder(images)), name=name)


def fused_dcae(shape_2d, shape_3d, latent_2d=32, latent_3d=32, filters_2d=(32, 64, 128), filters_3d=(16, 32, 64),
               name="fused_dcae"):
    """A 2D and a 3D autoencoder trained together; the fused encoder concatenates both latents.

    Inputs ``[image_2d, volume_3d]``, outputs ``[reconstruction_2d, reconstruction_3d]``;
    sub-models ``encoder_2d``, ``decoder_2d``, ``encoder_3d``, ``decoder_3d``; `encoder_of`
    gives the fused encoder (both latents concatenated).
    Compile with `compile_fused` to train on ``w1 * MSE_2d + (1 - w1) * MSE_3d``.
    """
    if len(_check_shape(shape_2d)) != 3 or len(_check_shape(shape_3d)) != 4:
        raise ValueError(f"shape_2d must be (H, W, C) and shape_3d (D, H, W, C). Received: {shape_2d}, {shape_3d}")
    enc_2d, dec_2d = _encoder_decoder(shape_2d, latent_2d, filters_2d, "encoder_2d", "decoder_2d")
    enc_3d, dec_3d = _encoder_decoder(shape_3d, latent_3d, filters_3d, "encoder_3d", "decoder_3d")
    image = keras.Input(tuple(shape_2d), name="image_2d")
    volume = keras.Input(tuple(shape_3d), name="volume_3d")
    code_2d, code_3d = enc_2d(image), enc_3d(volume)
    out_2d = keras.layers.Identity(name="reconstruction_2d")(dec_2d(code_2d))
    out_3d = keras.layers.Identity(name="reconstruction_3d")(dec_3d(code_3d))
    return keras.Model([image, volume], [out_2d, out_3d], name=name)


def compile_fused(model, w1=0.5, learning_rate=1e-3):
    """Compile a `fused_dcae` on ``w1 * MSE_2d + (1 - w1) * MSE_3d``."""
    if not 0.0 <= float(w1) <= 1.0:
        raise ValueError(f"w1 must lie in [0, 1]. Received: w1={w1}")
    model.compile(optimizer=keras.optimizers.Adam(learning_rate), loss=["mse", "mse"],
                  loss_weights=[float(w1), 1.0 - float(w1)])
    return model


def encoder_of(model):
    """The encoder of a protkit autoencoder: a model from its input(s) to the latent vector.

    For `dcae` its ``encoder`` sub-model; for `fused_dcae` a model from ``[image, volume]`` to
    the concatenated latents. Works on reloaded models too.
    """
    names = {layer.name for layer in model.layers}
    if "encoder" in names:
        return model.get_layer("encoder")
    if {"encoder_2d", "encoder_3d"} <= names:
        image, volume = model.inputs
        codes = [model.get_layer("encoder_2d")(image), model.get_layer("encoder_3d")(volume)]
        return keras.Model([image, volume], keras.layers.Concatenate(name="fused_latent")(codes), name="encoder")
    raise ValueError(f"{model.name} is not a protkit autoencoder: no 'encoder' or 'encoder_2d'/'encoder_3d' layers")


def encoder_statistics(encoder, layers=None):
    """A feature model: the encoder's latent, plus texture statistics of its convolutions.

    For each chosen convolution of the encoder, the mean and the standard deviation of every
    output channel over the image (over the volume, for 3D): how much of each learned pattern a
    cell holds, and how unevenly, wherever it sits. Staining patterns such as speckled or
    homogeneous are textures, which such statistics describe well; they also do not move when a
    cell turns. The latent comes first, so ``features[..., :latent_dim]`` is the latent alone.
    Use the model as the ``encoder`` of `protkit.unsupervised.latent_features`.

    Args:
        encoder: a protkit autoencoder's encoder (`AutoencoderResult.encoder` or `encoder_of`).
        layers: names of the convolution layers to summarize; default every convolution but
            the first (whose filters mostly respond to edges and noise).

    Returns:
        A `keras.Model` from the encoder's input to (latent_dim + 2 * channels of the chosen
        layers) features.
    """
    convolutions = [layer for layer in encoder.layers if isinstance(layer, (keras.layers.Conv2D, keras.layers.Conv3D))]
    chosen = convolutions[1:] if layers is None else [encoder.get_layer(name) for name in layers]
    if not chosen:
        raise ValueError(f"the encoder has no convolution to summarize (layers={layers!r})")
    outputs = [encoder.outputs[0]]
    for layer in chosen:
        maps = layer.output
        axes = tuple(range(1, len(maps.shape) - 1))
        mean = keras.ops.mean(maps, axis=axes)
        variance = keras.ops.mean(keras.ops.square(maps), axis=axes) - keras.ops.square(mean)
        outputs += [mean, keras.ops.sqrt(keras.ops.maximum(variance, 1e-12))]
    return keras.Model(encoder.inputs, keras.layers.Concatenate(name="features")(outputs), name="encoder_statistics")


def mlp_classifier(input_dim, num_classes, hidden=(250, 50), dropout=0.3, task="single_label", name="latent_mlp"):
    """The small MLP of DCAE + MLP: latent features -> hidden layers -> class probabilities."""
    from protkit.vocabulary import output_activation

    features = keras.Input((check_positive_int(input_dim, "input_dim"),), name="features")
    x = features
    for i, units in enumerate(check_filters(hidden, "hidden")):
        x = keras.layers.Dense(units, activation="relu", name=f"hidden{i}")(x)
        if dropout:
            x = keras.layers.Dropout(dropout, name=f"dropout{i}")(x)
    outputs = keras.layers.Dense(check_positive_int(num_classes, "num_classes"), activation=output_activation(task),
                                 name="probabilities")(x)
    return keras.Model(features, outputs, name=name)
