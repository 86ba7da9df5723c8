"""`SoftAssignment`: Student's t soft assignment of latent vectors to learnable cluster centres (DEC/IDEC)."""

import keras
from keras import ops

from protkit._validation import check_positive_int


@keras.saving.register_keras_serializable(package="protkit")
class SoftAssignment(keras.layers.Layer):
    """Soft assignment of each latent vector to `k` learnable centres (DEC, IDEC).

    For a latent ``z_i`` and centres ``mu_j`` the layer returns

        q_ij = (1 + |z_i - mu_j|^2 / alpha) ^ (-(alpha + 1) / 2),  normalized so that sum_j q_ij = 1,

    Student's t kernel with ``alpha`` degrees of freedom. Trained against a sharpened target
    distribution (`protkit.clustering.target_distribution`), it pulls each latent towards the
    centre it is most likely to belong to and moves the centres.

    Args:
        k: Positive int, number of clusters.
        alpha: Positive float, degrees of freedom of the kernel. Defaults to 1.0.
        **kwargs: Base layer keyword arguments, such as `name`.

    Call arguments:
        inputs: A 2D tensor `(batch_size, latent_dim)`.

    Output shape:
        2D tensor `(batch_size, k)`; rows sum to 1.

    Example:

    >>> layer = protkit.layers.SoftAssignment(3)
    >>> q = layer(np.random.rand(4, 2).astype("float32"))
    >>> print(q.shape)
    (4, 3)

    Reference:
        - Xie J., Girshick R. and Farhadi A., "Unsupervised deep embedding for clustering
          analysis", ICML 2016 (DEC); Guo X. et al., "Improved deep embedded clustering with
          local structure preservation", IJCAI 2017 (IDEC: the reconstruction loss is kept).
    """

    def __init__(self, k, alpha=1.0, **kwargs):
        super().__init__(**kwargs)
        self.k = check_positive_int(k, "k")
        if not float(alpha) > 0:
            raise ValueError(f"alpha must be positive. Received: alpha={alpha}")
        self.alpha = float(alpha)

    def build(self, input_shape):
        self.centres = self.add_weight(name="centres", shape=(self.k, int(input_shape[-1])),
                                       initializer="glorot_uniform")

    def call(self, inputs):
        squared = ops.sum(ops.square(ops.expand_dims(inputs, 1) - self.centres), axis=-1)
        kernel = ops.power(1.0 + squared / self.alpha, -(self.alpha + 1.0) / 2.0)
        return kernel / ops.sum(kernel, axis=1, keepdims=True)

    def compute_output_shape(self, input_shape):
        return (input_shape[0], self.k)

    def get_config(self):
        return {**super().get_config(), "k": self.k, "alpha": self.alpha}
