"""How far apart two sets of features are: the kernel distance (KID) of generated images.

It compares the features a classifier computes for real and for generated (GAN) images;
`protkit.metrics` re-exports it next to the classification metrics.
"""

import numpy as np

from protkit._metric_inputs import as_finite_float


def kernel_distance(real_features, fake_features, subset_size=1000, subsets=10, seed=0):
    """Squared maximum mean discrepancy between two feature sets (the KID statistic).

    The unbiased MMD^2 estimate with the cubic polynomial kernel ``k(x, y) = (x.y / d + 1)^3``
    (d = feature size), averaged over random subsets, as in the Kernel Inception Distance —
    but computed on any features: protkit uses a protkit classifier's penultimate layer, since
    no Inception weights are downloaded. 0 means indistinguishable; larger is farther.

    Args:
        real_features, fake_features: arrays (N, d) and (M, d).
        subset_size: items per subset (capped by the smaller set).
        subsets: number of random subsets.
        seed: subset sampling seed.

    Returns:
        dict with ``mean`` and ``std`` over the subsets, and ``subset_size``.
    """
    real = as_finite_float(np.asarray(real_features, dtype=np.float64), "real_features")
    fake = as_finite_float(np.asarray(fake_features, dtype=np.float64), "fake_features")
    if real.ndim != 2 or fake.ndim != 2 or real.shape[1] != fake.shape[1]:
        raise ValueError(f"features must be (N, d) and (M, d) with the same d. Received: {real.shape} and {fake.shape}")
    size = min(int(subset_size), len(real), len(fake))
    if size < 2:
        raise ValueError("kernel_distance needs at least 2 items in each set")
    dim = real.shape[1]
    rng = np.random.default_rng(seed)
    values = []
    for _ in range(int(subsets)):
        x = real[rng.choice(len(real), size, replace=False)]
        y = fake[rng.choice(len(fake), size, replace=False)]
        k_xx, k_yy, k_xy = ((a @ b.T / dim + 1.0) ** 3 for a, b in ((x, x), (y, y), (x, y)))
        within = (k_xx.sum() - np.trace(k_xx) + k_yy.sum() - np.trace(k_yy)) / (size * (size - 1))
        values.append(within - 2.0 * k_xy.mean())
    return {"mean": float(np.mean(values)), "std": float(np.std(values)), "subset_size": size}
