"""The Keras backend protkit runs on, and the few places where that matters.

protkit's layers and models are written with ``keras.ops``, so they run on every Keras 3 backend
(``KERAS_BACKEND=tensorflow``, the default, or ``jax``). The data pipeline is tf.data on every
backend (Keras feeds its batches to JAX as arrays). What differs per backend lives here:

- `compiled`: a function of float32 batches compiled once (``tf.function`` or ``jax.jit``);
- `gradients`: d(sum of outputs)/d(inputs) of a function (``tf.GradientTape`` or ``jax.grad``),
  used by Grad-CAM;
- `require_tensorflow`: one clear error for what stays TensorFlow-only (``tf.distribute``).

>>> name() in ("tensorflow", "jax", "torch", "numpy")
True
"""

from __future__ import annotations

import numpy as np


def name():
    """The Keras backend in use: "tensorflow", "jax", "torch" or "numpy"."""
    import keras

    return keras.backend.backend()


class BackendError(RuntimeError):
    """A protkit feature that the current Keras backend cannot run."""


def require_tensorflow(feature):
    """Raise `BackendError` unless Keras runs on TensorFlow, naming ``feature`` and the way out."""
    if name() != "tensorflow":
        raise BackendError(f"{feature} needs the TensorFlow backend; Keras runs on {name()!r} here "
                           f"(KERAS_BACKEND={name()}); run it with KERAS_BACKEND=tensorflow")


def compiled(function, input_shape=None):
    """``function`` (a batch of images -> a tensor) compiled for the backend; NumPy in, NumPy out.

    TensorFlow: a ``tf.function`` (with ``input_shape`` = (H, W, C), one trace for every batch
    size); JAX: ``jax.jit`` (one trace per batch size); other backends: called as it is. The
    model's weights are read when the function is first traced for a shape: compile again after
    changing them.
    """
    import keras

    backend = name()
    if backend == "tensorflow":
        import tensorflow as tf

        signature = None if input_shape is None else [tf.TensorSpec((None, *input_shape), tf.float32)]
        traced = tf.function(function, input_signature=signature, autograph=False)
        return lambda images: traced(tf.convert_to_tensor(np.asarray(images, np.float32))).numpy()
    if backend == "jax":
        import jax

        jitted = jax.jit(function)
        return lambda images: np.asarray(jitted(np.asarray(images, np.float32)))
    return lambda images: keras.ops.convert_to_numpy(function(keras.ops.convert_to_tensor(
        np.asarray(images, np.float32))))


def gradients(function, inputs):
    """``(outputs, d sum(outputs) / d inputs)`` of ``function`` at ``inputs``, as NumPy arrays.

    ``function`` maps a float32 tensor to a tensor of per-item scores; its gradient with respect
    to every element of ``inputs`` is returned. The model weights are constants here.
    """
    inputs = np.asarray(inputs, np.float32)
    backend = name()
    if backend == "tensorflow":
        import tensorflow as tf

        x = tf.convert_to_tensor(inputs)
        with tf.GradientTape() as tape:
            tape.watch(x)
            outputs = function(x)
        return outputs.numpy(), tape.gradient(outputs, x).numpy()
    if backend == "jax":
        import jax
        import jax.numpy as jnp

        outputs, pullback = jax.vjp(function, jnp.asarray(inputs))
        (grad,) = pullback(jnp.ones_like(outputs))
        return np.asarray(outputs), np.asarray(grad)
    if backend == "torch":
        import torch

        x = torch.tensor(inputs, requires_grad=True)
        outputs = function(x)
        outputs.sum().backward()
        return outputs.detach().cpu().numpy(), x.grad.cpu().numpy()
    raise BackendError(f"gradients need the TensorFlow, JAX or PyTorch backend; Keras runs on {backend!r}")
