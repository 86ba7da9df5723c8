"""One helper that puts a protkit layer through the checks every layer needs."""

import os
import tempfile
import warnings

import keras
import numpy as np


def _numpy_weights(weights):
    return [keras.ops.convert_to_numpy(w) for w in weights]


def run_layer_test(
    layer_cls,
    init_kwargs,
    input_shape,
    expected_output_shape,
    input_data=None,
    expected_num_trainable_weights=None,
    expected_num_non_trainable_weights=None,
    run_training=True,
    run_saving=True,
    atol=1e-6,
):
    """Checks config, eager and symbolic calls, training and saving of a layer.

    Args:
        layer_cls: The layer class under test.
        init_kwargs: Dict of constructor arguments.
        input_shape: Full input shape, batch size included.
        expected_output_shape: Full output shape, batch size included.
        input_data: Optional array of shape `input_shape`; uniform random
            values in `[0, 1)` by default.
        expected_num_trainable_weights: Optional int checked after building.
        expected_num_non_trainable_weights: Optional int checked after
            building.
        run_training: Whether to fit a one-layer model for one step and
            check that a trainable weight moved (when there is one).
        run_saving: Whether to save that model as `.keras`, reload it with
            `safe_mode=True` and compare inference outputs.
        atol: Absolute tolerance of the saved/reloaded comparison.

    Returns:
        The functional `keras.Model` wrapping a fresh instance of the layer.
    """
    input_shape = tuple(input_shape)
    expected_output_shape = tuple(expected_output_shape)
    rng = np.random.default_rng(0)
    if input_data is None:
        input_data = rng.uniform(size=input_shape).astype("float32")

    # Config round trip: every constructor argument is in the config, and
    # rebuilding from the config gives the same config.
    layer = layer_cls(**init_kwargs)
    config = layer.get_config()
    missing = set(init_kwargs) - set(config)
    assert not missing, f"get_config() lacks arguments {sorted(missing)}"
    revived = layer_cls.from_config(config)
    assert revived.get_config() == config

    # Eager call and shape arithmetic.
    output = layer(input_data)
    assert tuple(output.shape) == expected_output_shape, (
        f"eager output shape {tuple(output.shape)} != {expected_output_shape}"
    )
    assert tuple(layer.compute_output_shape(input_shape)) == (
        expected_output_shape
    )
    if expected_num_trainable_weights is not None:
        assert len(layer.trainable_weights) == expected_num_trainable_weights
    if expected_num_non_trainable_weights is not None:
        assert (
            len(layer.non_trainable_weights)
            == expected_num_non_trainable_weights
        )

    # Symbolic call in a functional model (unknown batch size).
    inputs = keras.Input(shape=input_shape[1:])
    outputs = layer_cls(**init_kwargs)(inputs)
    assert tuple(outputs.shape) == (None,) + expected_output_shape[1:], (
        f"symbolic output shape {tuple(outputs.shape)} != "
        f"{(None,) + expected_output_shape[1:]}"
    )
    model = keras.Model(inputs, outputs)

    if run_training:
        targets = rng.normal(size=expected_output_shape).astype("float32")
        before = _numpy_weights(model.trainable_weights)
        model.compile(optimizer="adam", loss="mse")
        with warnings.catch_warnings():
            # A weightless layer still gets a compiled forward pass; Keras
            # warns that there is nothing to train.
            warnings.filterwarnings(
                "ignore", message="The model does not have any trainable"
            )
            history = model.fit(
                input_data,
                targets,
                batch_size=input_shape[0],
                epochs=1,
                verbose=0,
            )
        assert np.isfinite(history.history["loss"][-1])
        if before:
            after = _numpy_weights(model.trainable_weights)
            assert any(
                not np.array_equal(b, a) for b, a in zip(before, after)
            ), "one training step changed no trainable weight"

    if run_saving:
        expected = keras.ops.convert_to_numpy(model(input_data, training=False))
        with tempfile.TemporaryDirectory() as folder:
            path = os.path.join(folder, "model.keras")
            model.save(path)
            reloaded = keras.saving.load_model(path, safe_mode=True)
        assert isinstance(reloaded.layers[-1], layer_cls)
        actual = keras.ops.convert_to_numpy(
            reloaded(input_data, training=False)
        )
        np.testing.assert_allclose(actual, expected, atol=atol)

    return model
