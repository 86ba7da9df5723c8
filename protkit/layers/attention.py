"""Multi-head self-attention across the positions of a feature map."""

import keras
from keras import ops

from protkit._validation import (
    positive_int_argument,
    positive_number_argument,
    rate_argument,
)


@keras.saving.register_keras_serializable(package="protkit")
class SpatialAttention(keras.layers.Layer):
    """Multi-head self-attention between the positions of a feature map.

    Each of the `height * width` positions of the input becomes a token of
    `channels` features, so every position can gather evidence from the
    whole cell, not only from its convolutional neighbourhood. A learned
    position embedding of shape `(height * width, channels)` is added to
    the queries and keys (not to the values), which lets attention depend on
    where a token lies. The block then adds the attention output to its
    input and applies layer normalization:

    `tokens = reshape(inputs, (batch, height * width, channels))`
    `attended = MHA(query=tokens + pos, key=tokens + pos, value=tokens)`
    `outputs = reshape(LayerNorm(tokens + attended), inputs.shape)`

    Attention costs memory in `(height * width) ** 2`, so use it on small
    feature maps, after a few pooling stages.

    Args:
        num_heads: Positive int, number of attention heads. Defaults to 4.
        key_dim: Positive int, size of each head's query and key projection.
            Defaults to 64.
        dropout: Float in `[0, 1)`, dropout rate on the attention weights.
            Defaults to 0.0.
        epsilon: Positive float, small constant of the layer normalization.
            Defaults to 1e-6.
        embeddings_initializer: Initializer of the position embedding.
            Defaults to `"truncated_normal"`.
        **kwargs: Base layer keyword arguments, such as `name` and `dtype`.

    Call arguments:
        inputs: A 4D tensor `(batch_size, height, width, channels)`.
        training: Python bool, whether attention dropout is active.
        return_attention_scores: bool. If `True`, also return the attention
            weights (after softmax, before dropout). Defaults to `False`.

    Input shape:
        4D tensor with shape `(batch_size, height, width, channels)`, with
        height, width and channels known when the layer is built.

    Output shape:
        Same shape as the input. With `return_attention_scores=True`, a tuple
        `(outputs, scores)` where `scores` has shape
        `(batch_size, num_heads, height * width, height * width)` and each
        row sums to 1.

    Example:

    >>> x = np.random.rand(2, 4, 4, 8).astype("float32")
    >>> layer = protkit.layers.SpatialAttention(num_heads=2, key_dim=8)
    >>> y, scores = layer(x, return_attention_scores=True)
    >>> print(y.shape, scores.shape)
    (2, 4, 4, 8) (2, 2, 16, 16)

    Reference:
        - Savitha S. et al., "An Upgraded Blended Model for Human Protein
          Classification Using Fast Spec CNN with Multi-Head Attention and
          GAN Augmentation", Salud, Ciencia y Tecnologia - Serie de
          Conferencias 3:804 (2024), doi:10.56294/sctconf2024804. Fast Spec
          CNN applies multi-head attention to the feature maps of its
          depthwise separable convolutions.
        - Vaswani A. et al., "Attention Is All You Need", NeurIPS 2017.
    """

    def __init__(
        self,
        num_heads=4,
        key_dim=64,
        dropout=0.0,
        epsilon=1e-6,
        embeddings_initializer="truncated_normal",
        **kwargs,
    ):
        num_heads = positive_int_argument(num_heads, "num_heads")
        key_dim = positive_int_argument(key_dim, "key_dim")
        dropout = rate_argument(dropout, "dropout")
        epsilon = positive_number_argument(epsilon, "epsilon")
        super().__init__(**kwargs)
        self.num_heads = num_heads
        self.key_dim = key_dim
        self.dropout = dropout
        self.epsilon = epsilon
        self.embeddings_initializer = keras.initializers.get(
            embeddings_initializer
        )
        self.input_spec = keras.layers.InputSpec(ndim=4)

        self.attention = keras.layers.MultiHeadAttention(
            num_heads=self.num_heads,
            key_dim=self.key_dim,
            dropout=self.dropout,
            dtype=self.dtype_policy,
            name="attention",
        )
        self.layer_norm = keras.layers.LayerNormalization(
            epsilon=self.epsilon, dtype=self.dtype_policy, name="layer_norm"
        )

    def build(self, input_shape):
        height, width, channels = input_shape[1:]
        if height is None or width is None or channels is None:
            raise ValueError(
                "SpatialAttention needs a static height, width and channel "
                f"count. Received: input_shape={input_shape}"
            )
        self._grid = (height, width, channels)
        token_shape = (input_shape[0], height * width, channels)
        self.position_embedding = self.add_weight(
            name="position_embedding",
            shape=(height * width, channels),
            initializer=self.embeddings_initializer,
        )
        self.attention.build(token_shape, token_shape, token_shape)
        self.layer_norm.build(token_shape)

    def call(self, inputs, training=None, return_attention_scores=False):
        height, width, channels = self._grid
        tokens = ops.reshape(inputs, (-1, height * width, channels))
        positioned = tokens + ops.cast(self.position_embedding, tokens.dtype)
        attended = self.attention(
            query=positioned,
            value=tokens,
            key=positioned,
            training=training,
            return_attention_scores=return_attention_scores,
        )
        if return_attention_scores:
            attended, scores = attended
        outputs = self.layer_norm(tokens + attended)
        outputs = ops.reshape(outputs, (-1, height, width, channels))
        if return_attention_scores:
            return outputs, scores
        return outputs

    def compute_output_shape(self, input_shape):
        return tuple(input_shape)

    def compute_output_spec(
        self, inputs, training=None, return_attention_scores=False
    ):
        outputs = keras.KerasTensor(inputs.shape, dtype=self.compute_dtype)
        if not return_attention_scores:
            return outputs
        batch, height, width = inputs.shape[:3]
        tokens = height * width
        scores = keras.KerasTensor(
            (batch, self.num_heads, tokens, tokens), dtype=self.compute_dtype
        )
        return outputs, scores

    def get_config(self):
        config = super().get_config()
        config.update(
            {
                "num_heads": self.num_heads,
                "key_dim": self.key_dim,
                "dropout": self.dropout,
                "epsilon": self.epsilon,
                "embeddings_initializer": keras.initializers.serialize(
                    self.embeddings_initializer
                ),
            }
        )
        return config
