"""DCAE + MLP as one classifier: an autoencoder's encoder, its texture statistics, a small MLP.

The HEp-2 method: a convolutional autoencoder learns the cells without labels; its frozen
encoder then describes each cell by its latent vector and, for every convolution after the
first, the mean and standard deviation of each feature map over the cell (textures such as
"speckled" or "homogeneous" are in those statistics, `encoder_statistics`); the features are
standardized and a small MLP (250-50, as in the paper's 4096-250-50-5) classifies them.

Here the three parts are one `keras.Model` (images -> probabilities), so a run of it is a run
like any other: `protkit evaluate` and `protkit predict` load its ``model.keras``, test-time
augmentation averages its predictions over the 8 views of a cell, and an ensemble of folds
works. Training is two stages (`protkit.training.train` runs both for ``model="dcae_mlp"``):

1. `pretrain`: the encoder with a mirrored decoder (`protkit.models.autoencoder`) is fitted to
   reconstruct the training images (labels unused; the training pipeline's flips and rotations
   as augmentation), then frozen, and the standardization layer ``feature_scaling`` is adapted
   to the training features. For single-label data (`fit_head_on_views`), the MLP head is then
   fitted on the frozen features of the 8 rotations and mirror images of every training cell,
   each view a sample, early-stopped on a held-out share of the cells (15 %), the scaling set
   to those features: the recipe that reached 93.8 % on HEp-2 `validation/` by hand;
2. the whole classifier is then fine-tuned like any other (per-epoch validation, the best epoch
   kept, class weights, label smoothing), each training image a fresh random view of its cell;
   only the head and nothing of the frozen encoder moves.

>>> model = dcae_mlp((32, 32, 2), 3, latent_dim=8, filters=(8, 16), hidden=(16,))
>>> model.get_layer("encoder_statistics").output_shape  # 8 latent + mean and std of 16 channels
(None, 40)
>>> model.output_shape
(None, 3)
"""

from __future__ import annotations

import keras

from protkit.models.autoencoder import _encoder_decoder, encoder_statistics, mlp_classifier
from protkit.vocabulary import SINGLE_LABEL

FEATURES, SCALING, HEAD = "encoder_statistics", "feature_scaling", "latent_mlp"
PRETRAIN_KEYS = ("autoencoder_epochs", "head_epochs")  # model_kwargs read by `pretrain`, not by the builder
AUTOENCODER_EPOCHS = 30
HEAD_EPOCHS = 300  # at most: early stopping on a held-out share (patience 10) ends it far sooner


def dcae_mlp(input_shape, num_classes, task=SINGLE_LABEL, latent_dim=256, filters=(32, 64, 128), hidden=(250, 50),
             dropout=0.3, name="dcae_mlp"):
    """The untrained DCAE + MLP classifier (see the module docstring); `pretrain` fits its encoder.

    Args:
        input_shape: (height, width, channels), height and width divisible by ``2 ** len(filters)``.
        num_classes: classes (softmax) or labels (sigmoid, ``task="multi_label"``).
        task: "single_label" or "multi_label".
        latent_dim, filters: the autoencoder (256 and 32-64-128 won on HEp-2, benchmarks/unsupervised.py).
        hidden, dropout: the MLP.
        name: model name; its parts are ``encoder_statistics``, ``feature_scaling`` and ``latent_mlp``.

    Returns:
        keras.Model mapping images to probabilities.
    """
    encoder, _ = _encoder_decoder(input_shape, latent_dim, filters)
    features = encoder_statistics(encoder)  # a nested model named "encoder_statistics" (FEATURES)
    images = keras.Input(tuple(input_shape), name="images")
    scaled = keras.layers.Normalization(axis=-1, name=SCALING)(features(images))
    head = mlp_classifier(features.output_shape[-1], num_classes, hidden=hidden, dropout=dropout, task=task, name=HEAD)
    return keras.Model(images, head(scaled), name=name)


def pretrain(network, train_images, validation_images=None, epochs=AUTOENCODER_EPOCHS, learning_rate=1e-3,
             verbose="auto", head_items=None, head_epochs=HEAD_EPOCHS, seed=0):
    """Stage 1: fit ``network``'s encoder as an autoencoder, freeze it, and either adapt its feature
    scaling to the training features or (with ``head_items``) fit the head on the 8 views' features,
    which sets the scaling too (`fit_head_on_views`).

    Args:
        network: a `dcae_mlp` model.
        train_images, validation_images: tf.data pipelines of image batches (labels, if any, are dropped).
        epochs, learning_rate: Adam on the mean squared reconstruction error.
        verbose: Keras verbosity.
        head_items: None, or (dataset, training indices, image size, normalizer) of single-label
            items to fit the head on.
        head_epochs, seed: for `fit_head_on_views`.

    Returns:
        The autoencoder's history (``loss``, and ``val_loss`` with validation images), with
        ``head_epochs`` (epochs the head ran) and ``head_loss`` after a head stage.
    """
    features = network.get_layer(FEATURES)
    encoder = keras.Model(features.inputs, features.get_layer("latent").output, name="encoder")
    widths = [layer.filters for layer in encoder.layers if isinstance(layer, keras.layers.Conv2D)]
    _, decoder = _encoder_decoder(tuple(encoder.input_shape[1:]), encoder.output_shape[-1], widths)
    images = keras.Input(tuple(encoder.input_shape[1:]))
    autoencoder = keras.Model(images, decoder(encoder(images)), name="dcae")
    autoencoder.compile(optimizer=keras.optimizers.Adam(learning_rate), loss="mse")
    pairs = _image_pairs(train_images)
    history = autoencoder.fit(pairs, validation_data=None if validation_images is None else
                              _image_pairs(validation_images), epochs=int(epochs), shuffle=False, verbose=verbose)
    features.trainable = False
    logs = dict(history.history)
    if head_items is not None:  # the head stage sets the scaling itself (to its views' scaler)
        head_history = fit_head_on_views(network, *head_items, epochs=head_epochs, seed=seed)
        logs.update(head_epochs=len(head_history["loss"]), head_loss=head_history["loss"])
    else:  # the features as arrays (a Keras model cannot run inside tf.data on the JAX backend)
        network.get_layer(SCALING).adapt(features.predict(_images_only(train_images), verbose=0))
    return logs


def fit_head_on_views(network, dataset, indices, image_size, normalizer, epochs=HEAD_EPOCHS, seed=0):
    """Fit the head of a `dcae_mlp` ``network`` (frozen features) on the 8 views of the training cells.

    `protkit.unsupervised.train_latent_mlp` trains an MLP of the head's shape on the features of
    the 8 rotations and mirror images of every item (each view a sample; 15 % of the items held
    out for early stopping); its weights become the head's and its standardization the
    ``feature_scaling`` layer's.

    Args:
        network: a `dcae_mlp` model whose features are trained (``pretrain``).
        dataset, indices: the single-label training items.
        image_size, normalizer: how the items are prepared (the run's).
        epochs: the most epochs (early stopping, patience 10).
        seed: the held-out share and the weights.

    Returns:
        The head's per-epoch logs.
    """
    from protkit.unsupervised import latent_features, train_latent_mlp

    features = network.get_layer(FEATURES)
    head = network.get_layer(HEAD)
    dense = [layer for layer in head.layers if isinstance(layer, keras.layers.Dense)]
    dropouts = [layer.rate for layer in head.layers if isinstance(layer, keras.layers.Dropout)]
    views = latent_features(features, dataset, indices, image_size=image_size, normalizer=normalizer,
                            views="dihedral")
    fitted = train_latent_mlp(views, dataset.labels[indices], dataset.num_classes,
                              hidden=tuple(layer.units for layer in dense[:-1]),
                              dropout=dropouts[0] if dropouts else 0.0, epochs=epochs, seed=seed)
    head.set_weights(fitted.model.get_weights())
    scaling = network.get_layer(SCALING)
    scaling.adapt_mean.assign(fitted.scaler.mean_.astype("float32"))
    scaling.adapt_variance.assign(fitted.scaler.var_.astype("float32"))
    scaling.finalize_state()
    return fitted.history


def _images_only(pipeline):
    return pipeline.map(lambda *batch: batch[0])


def _image_pairs(pipeline):
    return pipeline.map(lambda *batch: (batch[0], batch[0]))
