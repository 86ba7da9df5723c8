"""DCGAN for multi-channel cell images: generator and discriminator factories and a Model subclass.

The Fast Spec CNN paper enlarges and balances its training set with DCGAN images. Here:

- `dcgan_generator` / `dcgan_discriminator` build the two networks for any channel count and
  square sizes from 32 to 128 (transposed convolutions up from a small grid, 4x4 for 32, 64
  and 128; strided convolutions down to it). With ``num_classes`` both are *conditional*: the generator
  concatenates a learned projection of the label vector to the noise, the discriminator adds
  a projection term ``<embed(y), features>`` to its logit. The label vector may be one-hot
  (single-label) or multi-hot (multi-label: condition on the whole set of labels).
- `DCGAN` is a `keras.Model` whose `train_step` alternates one discriminator and one generator
  update (non-saturating loss). Images are expected in [-1, 1] (see `to_gan_range`): the
  generator ends in tanh.

`train_step` has one version per backend: TensorFlow (``tf.GradientTape``, stateful) and JAX
(stateless: ``jax.value_and_grad`` over ``stateless_call``, both optimizers' state carried by
the JAX trainer); the two compute the same updates. Other backends raise at construction.

Example:
>>> generator = dcgan_generator(32, channels=2, latent_dim=16, filters=32)
>>> discriminator = dcgan_discriminator(32, channels=2, filters=16)
>>> gan = DCGAN(generator, discriminator, seed=0)
>>> gan.compile()
>>> gan.generate(3).shape
(3, 32, 32, 2)
"""

from __future__ import annotations

import copy

import keras
import numpy as np

from protkit._validation import check_positive_int, is_int

MIN_SIZE, MAX_SIZE = 32, 128


def _grid(image_size):
    """(start grid size, number of 2x up/down-samplings) for a square image size in [32, 128]."""
    if not is_int(image_size) or not MIN_SIZE <= image_size <= MAX_SIZE:
        raise ValueError(f"image_size must be an int from {MIN_SIZE} to {MAX_SIZE}. Received: "
                         f"image_size={image_size!r}")
    start, steps = int(image_size), 0
    while start % 2 == 0 and start > 4:
        start //= 2
        steps += 1
    if steps < 2:
        raise ValueError(f"image_size must be divisible by 4 with a small odd part (e.g. 32, 40, 48, 64, 96, "
                         f"128). Received: image_size={image_size}")
    return start, steps


def dcgan_generator(image_size=64, channels=4, latent_dim=128, num_classes=None, filters=256, name="generator"):
    """The DCGAN generator: noise (and labels) -> a (image_size, image_size, channels) image in [-1, 1].

    Args:
        image_size: output height and width, 32 to 128, divisible by 4.
        channels: output channels (any count).
        latent_dim: size of the noise vector.
        num_classes: None (unconditional) or the length of the label vector (conditional).
        filters: filters of the first (smallest) feature map; halved at every upsampling, not
            below 16.
        name: model name.

    Returns:
        A functional `keras.Model`; inputs ``noise`` (and ``labels`` when conditional).
    """
    start, steps = _grid(image_size)
    channels = check_positive_int(channels, "channels")
    latent_dim = check_positive_int(latent_dim, "latent_dim")
    filters = check_positive_int(filters, "filters")
    noise = keras.Input((latent_dim,), name="noise")
    inputs, x = [noise], noise
    if num_classes is not None:
        labels = keras.Input((check_positive_int(num_classes, "num_classes"),), name="labels")
        inputs.append(labels)
        x = keras.layers.Concatenate(name="noise_and_labels")(
            [noise, keras.layers.Dense(latent_dim, name="label_projection")(labels)])
    x = keras.layers.Dense(start * start * filters, use_bias=False, name="project")(x)
    x = keras.layers.BatchNormalization(name="project_bn")(x)
    x = keras.layers.ReLU(name="project_relu")(x)
    x = keras.layers.Reshape((start, start, filters), name="grid")(x)
    for step in range(steps):
        width = max(filters // 2 ** (step + 1), 16)
        x = keras.layers.Conv2DTranspose(width, 4, strides=2, padding="same", use_bias=False, name=f"up{step}")(x)
        x = keras.layers.BatchNormalization(name=f"up{step}_bn")(x)
        x = keras.layers.ReLU(name=f"up{step}_relu")(x)
    image = keras.layers.Conv2D(channels, 3, padding="same", activation="tanh", dtype="float32", name="image")(x)
    return keras.Model(inputs if len(inputs) > 1 else noise, image, name=name)


def dcgan_discriminator(image_size=64, channels=4, num_classes=None, filters=64, dropout=0.3, name="discriminator"):
    """The DCGAN discriminator: an image (and its labels) -> one real/fake logit.

    Strided 4x4 convolutions with LeakyReLU (no batch norm: real and fake batches are scored
    apart), dropout, then a dense logit; conditional models add a projection term.

    Args:
        image_size: input height and width, 32 to 128, divisible by 4.
        channels: input channels.
        num_classes: None (unconditional) or the length of the label vector.
        filters: filters of the first convolution, doubled at every step, at most 512.
        dropout: dropout rate after every convolution.
        name: model name.
    """
    start, steps = _grid(image_size)
    image = keras.Input((image_size, image_size, check_positive_int(channels, "channels")), name="image")
    filters = check_positive_int(filters, "filters")
    x = image
    for step in range(steps):
        x = keras.layers.Conv2D(min(filters * 2 ** step, 512), 4, strides=2, padding="same", name=f"down{step}")(x)
        x = keras.layers.LeakyReLU(0.2, name=f"down{step}_lrelu")(x)
        if dropout:
            x = keras.layers.Dropout(dropout, name=f"down{step}_dropout")(x)
    features = keras.layers.Flatten(name="features")(x)
    logit = keras.layers.Dense(1, name="logit")(features)
    if num_classes is None:
        return keras.Model(image, logit, name=name)
    labels = keras.Input((check_positive_int(num_classes, "num_classes"),), name="labels")
    embedded = keras.layers.Dense(features.shape[-1], use_bias=False, name="label_embedding")(labels)
    projection = keras.layers.Dot(axes=1, name="projection")([features, embedded])
    logit = keras.layers.Add(name="conditional_logit")([logit, projection])
    return keras.Model([image, labels], logit, name=name)


def to_gan_range(images):
    """Images normalized to [0, 1] (protkit's pipeline) -> [-1, 1] for the GAN (clipped)."""
    return np.clip(np.asarray(images, np.float32), 0.0, 1.0) * 2.0 - 1.0


def from_gan_range(images):
    """Generator output in [-1, 1] -> [0, 1], the range protkit's classifiers are trained on."""
    return (np.asarray(images, np.float32) + 1.0) / 2.0


@keras.saving.register_keras_serializable(package="protkit")
class DCGAN(keras.Model):
    """A GAN trained with `fit`: one discriminator step, then one generator step, per batch.

    Args:
        generator: a model from `dcgan_generator` (or any model mapping noise [, labels] to
            images in [-1, 1]).
        discriminator: a model from `dcgan_discriminator` mapping images [, labels] to logits;
            conditional if and only if the generator is.
        seed: seed of the noise (`keras.random.SeedGenerator`).
        label_smoothing: real targets are ``1 - label_smoothing`` for the discriminator.

    `fit` takes images in [-1, 1] — a dataset of ``x`` or, for a conditional GAN, ``(x, y)`` with
    ``y`` one-hot or multi-hot. Metrics ``d_loss`` and ``g_loss`` are the batch-averaged
    losses of the epoch.

    Raises:
        protkit.backend.BackendError: on a backend other than TensorFlow or JAX.
    """

    def __init__(self, generator, discriminator, seed=None, label_smoothing=0.0, **kwargs):
        if keras.backend.backend() not in ("tensorflow", "jax"):
            from protkit.backend import BackendError

            raise BackendError(f"protkit's DCGAN has a training step for TensorFlow and JAX; the Keras backend is "
                               f"{keras.backend.backend()!r}. Set KERAS_BACKEND=tensorflow or jax.")
        super().__init__(**kwargs)
        self.generator = generator
        self.discriminator = discriminator
        self.latent_dim = int(generator.inputs[0].shape[-1])
        self.num_classes = int(generator.inputs[1].shape[-1]) if len(generator.inputs) > 1 else None
        disc_classes = int(discriminator.inputs[1].shape[-1]) if len(discriminator.inputs) > 1 else None
        if disc_classes != self.num_classes:
            raise ValueError(f"generator and discriminator must both be unconditional or both conditional on the "
                             f"same number of classes. Received: {self.num_classes} and {disc_classes}")
        self.seed = seed
        self.label_smoothing = float(label_smoothing)
        self.seed_generator = keras.random.SeedGenerator(seed)
        self.d_loss_tracker = keras.metrics.Mean(name="d_loss")
        self.g_loss_tracker = keras.metrics.Mean(name="g_loss")
        self.built = True

    @property
    def conditional(self):
        return self.num_classes is not None

    def compile(self, d_optimizer=None, g_optimizer=None, **kwargs):
        """Adam(2e-4, beta_1=0.5) for both networks unless given (the DCGAN paper's choice)."""
        super().compile(**kwargs)
        self.d_optimizer = d_optimizer or keras.optimizers.Adam(2e-4, beta_1=0.5)
        self.g_optimizer = g_optimizer or keras.optimizers.Adam(2e-4, beta_1=0.5)
        self.bce = keras.losses.BinaryCrossentropy(from_logits=True)
        # Built now, so a saved model's optimizer state loads into them (training can continue).
        self.d_optimizer.build(self.discriminator.trainable_variables)
        self.g_optimizer.build(self.generator.trainable_variables)
        if keras.backend.backend() == "jax":
            # The JAX trainer carries `self.optimizer.variables` through its stateless step.
            self.optimizer = _OptimizerPair(self.d_optimizer, self.g_optimizer)

    def get_compile_config(self):
        # Reloaded models are compiled with default Adam optimizers, then their saved state is loaded.
        return {"optimizers": "default"}

    def compile_from_config(self, config):
        self.compile()

    @property
    def metrics(self):
        return [self.d_loss_tracker, self.g_loss_tracker]

    def _generator_inputs(self, noise, labels):
        return [noise, labels] if self.conditional else noise

    def _discriminate(self, images, labels, training):
        return self.discriminator([images, labels] if self.conditional else images, training=training)

    def call(self, inputs, training=False):
        """Generator output for ``noise`` or ``[noise, labels]``."""
        return self.generator(inputs, training=training)

    def _unpack(self, data):
        if isinstance(data, (tuple, list)):
            images, labels = data[0], (data[1] if len(data) > 1 else None)
        else:
            images, labels = data, None
        if self.conditional and labels is None:
            raise ValueError("a conditional DCGAN needs (images, labels) batches")
        labels = None if labels is None or not self.conditional else keras.ops.cast(labels, "float32")
        return images, labels

    def _gan_losses(self, real_logits, fake_logits):
        """(discriminator loss, generator loss) of one batch's logits (non-saturating GAN loss)."""
        d_loss = (self.bce(keras.ops.ones_like(real_logits) * (1.0 - self.label_smoothing), real_logits)
                  + self.bce(keras.ops.zeros_like(fake_logits), fake_logits))
        return d_loss, self.bce(keras.ops.ones_like(fake_logits), fake_logits)

    def train_step(self, *args):
        if keras.backend.backend() == "jax":
            return self._jax_train_step(*args)
        return self._tf_train_step(*args)

    def _tf_train_step(self, data):
        import tensorflow as tf

        images, labels = self._unpack(data)
        batch = keras.ops.shape(images)[0]

        noise = keras.random.normal((batch, self.latent_dim), seed=self.seed_generator)
        with tf.GradientTape() as tape:
            fake = self.generator(self._generator_inputs(noise, labels), training=True)
            real_logits = self._discriminate(images, labels, True)
            fake_logits = self._discriminate(fake, labels, True)
            d_loss = self._gan_losses(real_logits, fake_logits)[0]
        weights = self.discriminator.trainable_weights
        self.d_optimizer.apply_gradients(zip(tape.gradient(d_loss, weights), weights))

        noise = keras.random.normal((batch, self.latent_dim), seed=self.seed_generator)
        with tf.GradientTape() as tape:
            fake = self.generator(self._generator_inputs(noise, labels), training=True)
            fake_logits = self._discriminate(fake, labels, True)
            g_loss = self._gan_losses(fake_logits, fake_logits)[1]
        weights = self.generator.trainable_weights
        self.g_optimizer.apply_gradients(zip(tape.gradient(g_loss, weights), weights))

        self.d_loss_tracker.update_state(d_loss)
        self.g_loss_tracker.update_state(g_loss)
        return {metric.name: metric.result() for metric in self.metrics}

    def _jax_train_step(self, state, data):
        """The same two updates as `_tf_train_step`, stateless: (logs, new state) from (state, batch)."""
        import jax

        trainable, non_trainable, optimizer_values, metric_values = state
        images, labels = self._unpack(data)
        batch = keras.ops.shape(images)[0]
        values = {id(v): value for v, value in zip(self.trainable_variables, trainable)}
        values.update({id(v): value for v, value in zip(self.non_trainable_variables, non_trainable)})

        def of(variables):
            return [values[id(v)] for v in variables]

        with keras.StatelessScope(state_mapping=[(self.seed_generator.state, values[id(self.seed_generator.state)])]) \
                as scope:
            noises = [keras.random.normal((batch, self.latent_dim), seed=self.seed_generator) for _ in range(2)]
            values[id(self.seed_generator.state)] = scope.get_current_value(self.seed_generator.state)
        generator, discriminator = self.generator, self.discriminator

        def forward(g_trainable, d_trainable, g_state, d_state, noise):
            inputs = self._generator_inputs(noise, labels)
            fake, g_state = generator.stateless_call(g_trainable, g_state, inputs, training=True)
            real_logits, d_state = discriminator.stateless_call(
                d_trainable, d_state, [images, labels] if self.conditional else images, training=True)
            fake_logits, d_state = discriminator.stateless_call(
                d_trainable, d_state, [fake, labels] if self.conditional else fake, training=True)
            return real_logits, fake_logits, g_state, d_state

        def d_loss_of(d_trainable, g_trainable, g_state, d_state):
            real, fake, g_state, d_state = forward(g_trainable, d_trainable, g_state, d_state, noises[0])
            return self._gan_losses(real, fake)[0], (g_state, d_state)

        def g_loss_of(g_trainable, d_trainable, g_state, d_state):
            # As in the TensorFlow step, only the fake batch goes through the discriminator here.
            inputs = self._generator_inputs(noises[1], labels)
            fake, g_state = generator.stateless_call(g_trainable, g_state, inputs, training=True)
            fake_logits, d_state = discriminator.stateless_call(
                d_trainable, d_state, [fake, labels] if self.conditional else fake, training=True)
            return self._gan_losses(fake_logits, fake_logits)[1], (g_state, d_state)

        d_count = len(self.d_optimizer.variables)
        d_opt, g_opt = optimizer_values[:d_count], optimizer_values[d_count:]
        g_trainable, d_trainable = of(generator.trainable_variables), of(discriminator.trainable_variables)
        g_state, d_state = of(generator.non_trainable_variables), of(discriminator.non_trainable_variables)

        (d_loss, (g_state, d_state)), grads = jax.value_and_grad(d_loss_of, has_aux=True)(
            d_trainable, g_trainable, g_state, d_state)
        d_trainable, d_opt = self.d_optimizer.stateless_apply(d_opt, grads, d_trainable)
        (g_loss, (g_state, d_state)), grads = jax.value_and_grad(g_loss_of, has_aux=True)(
            g_trainable, d_trainable, g_state, d_state)
        g_trainable, g_opt = self.g_optimizer.stateless_apply(g_opt, grads, g_trainable)

        for variables, new in ((generator.trainable_variables, g_trainable),
                               (discriminator.trainable_variables, d_trainable),
                               (generator.non_trainable_variables, g_state),
                               (discriminator.non_trainable_variables, d_state)):
            values.update({id(v): value for v, value in zip(variables, new)})
        logs, new_metric_values, start = {}, [], 0
        for metric, loss in ((self.d_loss_tracker, d_loss), (self.g_loss_tracker, g_loss)):
            count = len(metric.variables)
            updated = metric.stateless_update_state(metric_values[start:start + count], loss)
            logs[metric.name] = metric.stateless_result(updated)
            new_metric_values += list(updated)
            start += count
        state = (of(self.trainable_variables), of(self.non_trainable_variables), [*d_opt, *g_opt], new_metric_values)
        return logs, state

    def generate(self, count=None, labels=None, seed=None, batch_size=256):
        """Sample images in [-1, 1] as a NumPy array.

        Args:
            count: number of images (unconditional, or conditional with one label vector /
                class index to repeat).
            labels: conditional only: class indices (N,), label vectors (N, num_classes), or a
                single index / vector repeated ``count`` times.
            seed: a seed for this call's noise (repeatable samples); default the model's
                generator stream.
            batch_size: images per generator call.
        """
        vectors = None
        if self.conditional:
            if labels is None:
                raise ValueError("a conditional DCGAN needs labels: class indices or label vectors")
            vectors = self.label_vectors(labels, count)
            count = len(vectors)
        elif labels is not None:
            raise ValueError("this DCGAN is unconditional; call generate(count) without labels")
        count = check_positive_int(count, "count")
        if seed is not None:
            noise = np.random.default_rng(seed).standard_normal((count, self.latent_dim)).astype(np.float32)
        else:
            noise = keras.ops.convert_to_numpy(keras.random.normal((count, self.latent_dim),
                                                                   seed=self.seed_generator))
        parts = []
        for start in range(0, count, batch_size):
            chunk = slice(start, start + batch_size)
            inputs = [noise[chunk], vectors[chunk]] if self.conditional else noise[chunk]
            parts.append(keras.ops.convert_to_numpy(self.generator(inputs, training=False)))
        return np.concatenate(parts)

    def label_vectors(self, labels, count=None):
        """Class indices or label vectors -> float32 (N, num_classes) one-hot / multi-hot rows."""
        array = np.asarray(labels)
        if array.ndim == 0 or (array.ndim == 1 and array.shape[0] == self.num_classes and count is not None
                               and array.dtype.kind == "f"):
            array = np.repeat(array[None], check_positive_int(count or 1, "count"), axis=0)
        if array.ndim == 1:  # class indices
            if array.dtype.kind not in "iu" or array.min() < 0 or array.max() >= self.num_classes:
                raise ValueError(f"class indices must be ints in [0, {self.num_classes}). Received: {labels!r}")
            return np.eye(self.num_classes, dtype=np.float32)[array]
        if array.ndim != 2 or array.shape[1] != self.num_classes:
            raise ValueError(f"label vectors must have shape (N, {self.num_classes}). Received shape {array.shape}")
        return array.astype(np.float32)

    def get_config(self):
        config = super().get_config()
        config.update(
            generator=keras.saving.serialize_keras_object(self.generator),
            discriminator=keras.saving.serialize_keras_object(self.discriminator),
            seed=self.seed,
            label_smoothing=self.label_smoothing,
        )
        return config

    @classmethod
    def from_config(cls, config):
        config = copy.deepcopy(config)  # deserialization consumes the nested configs
        generator = keras.saving.deserialize_keras_object(config.pop("generator"))
        discriminator = keras.saving.deserialize_keras_object(config.pop("discriminator"))
        return cls(generator, discriminator, **config)


class _OptimizerPair:
    """The discriminator's and the generator's optimizers seen as one by Keras's JAX trainer, which
    carries ``model.optimizer.variables`` through its stateless training step."""

    built = True

    def __init__(self, d_optimizer, g_optimizer):
        self.d_optimizer, self.g_optimizer = d_optimizer, g_optimizer

    @property
    def variables(self):
        return [*self.d_optimizer.variables, *self.g_optimizer.variables]

    def build(self, variables):
        return None
