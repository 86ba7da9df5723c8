"""Intensity normalization: a choice the user sees, because the biology depends on it.

Modes:

- ``"percentile"`` (per image, per channel): maps the 1st..99.8th percentile of each channel of
  each image to 0..1. Good for morphology; it erases absolute intensity differences between
  images.
- ``"dataset"`` (per channel, statistics fitted on the *training* split): the same percentile
  mapping, but with one low/high pair per channel for the whole data set. It keeps absolute
  intensity, e.g. DNA content in cell-cycle data. The fitted values are stored in the config
  saved with a model, so prediction uses the training statistics.
- ``"fixed"``: divide by the dtype's full scale (255 for 8-bit, 65535 for 16-bit) or by a given
  ``scale`` (e.g. 4095 for 12-bit cameras that store into 16-bit files).

Constant channels map to 0 (no division by zero), and NaN or infinite pixels become 0.
"""

from __future__ import annotations

import warnings

import numpy as np

from protkit.data import readers

MODES = ("percentile", "dataset", "fixed")
_EPS = 1e-6


class Normalizer:
    """Map raw intensities to roughly 0..1, per image, per data set, or by a fixed scale.

    Args:
        mode: ``"percentile"``, ``"dataset"`` or ``"fixed"`` (see the module docstring).
        percentiles: (low, high) percentiles for the ``percentile`` and ``dataset`` modes.
        low, high: per-channel statistics for ``dataset`` mode (set by `fit`, or restored from
            a saved config).
        scale: for ``fixed`` mode, the divisor; default the dtype's full scale.
        clip: clip the output to [0, 1].

    Example:
    >>> norm = Normalizer("percentile")
    >>> out = norm(np.arange(16, dtype=np.uint8).reshape(4, 4, 1))
    >>> float(out.min()), float(out.max()) > 0.99
    (0.0, True)
    """

    def __init__(self, mode="percentile", percentiles=(1.0, 99.8), low=None, high=None, scale=None, clip=False):
        if mode not in MODES:
            raise ValueError(f"mode must be one of {MODES}. Received: mode={mode!r}")
        low_p, high_p = (float(p) for p in percentiles)
        if not 0.0 <= low_p < high_p <= 100.0:
            raise ValueError(f"percentiles must satisfy 0 <= low < high <= 100. Received: percentiles={percentiles}")
        if scale is not None and not float(scale) > 0:
            raise ValueError(f"scale must be positive. Received: scale={scale}")
        self.mode = mode
        self.percentiles = (low_p, high_p)
        self.low = None if low is None else np.asarray(low, dtype=np.float32)
        self.high = None if high is None else np.asarray(high, dtype=np.float32)
        self.scale = None if scale is None else float(scale)
        self.clip = bool(clip)

    @property
    def fitted(self):
        return self.mode != "dataset" or (self.low is not None and self.high is not None)

    def __repr__(self):
        extra = f", low={self.low.tolist()}, high={self.high.tolist()}" if self.mode == "dataset" and self.fitted else ""
        return f"Normalizer(mode={self.mode!r}, percentiles={self.percentiles}{extra})"

    def fit(self, dataset, indices=None, max_items=1000, max_pixels_per_item=4096, seed=0):
        """Fit per-channel statistics (``dataset`` mode) on the training items.

        Args:
            dataset: a `protkit.data.Dataset`.
            indices: the training indices (fit on the training split only, never on test).
            max_items: items sampled for the statistics.
            max_pixels_per_item: pixels sampled per item and channel.
            seed: sampling seed.

        Returns:
            self.
        """
        if self.mode != "dataset":
            return self
        indices = np.arange(len(dataset)) if indices is None else np.asarray(indices)
        if len(indices) == 0:
            raise ValueError("cannot fit normalization statistics on zero items")
        rng = np.random.default_rng(seed)
        if len(indices) > max_items:
            indices = rng.choice(indices, size=max_items, replace=False)
        samples = []
        for index in indices:
            image = _as_float(dataset.read(int(index)))
            flat = image.reshape(-1, image.shape[-1])
            if len(flat) > max_pixels_per_item:
                flat = flat[rng.choice(len(flat), size=max_pixels_per_item, replace=False)]
            samples.append(flat)
        pixels = np.concatenate(samples)
        pixels = np.where(np.isfinite(pixels), pixels, np.nan)
        low, high = np.nanpercentile(pixels, self.percentiles, axis=0)
        self.low = np.nan_to_num(low).astype(np.float32)
        self.high = np.nan_to_num(high).astype(np.float32)
        return self

    def __call__(self, image, dtype_max=None):
        """Normalize one (H, W, C) image (any dtype) to float32."""
        return self.apply_batch(np.asarray(image)[None], dtype_max=dtype_max)[0]

    def apply_batch(self, images, dtype_max=None):
        """Normalize a stack (N, H, W, C) at once; returns float32."""
        images = np.asarray(images)
        if dtype_max is None:
            dtype_max = readers.dtype_max(images.dtype)
        x = _as_float(images)
        finite = np.isfinite(x)
        has_bad = not finite.all()
        if has_bad:
            x = np.where(finite, x, np.nan)
        if self.mode == "fixed":
            out = x / (self.scale or dtype_max)
        else:
            if self.mode == "percentile" and not has_bad and np.issubdtype(images.dtype, np.integer) \
                    and images.dtype.itemsize <= 2 and images.size:
                low, high = _integer_percentiles(images, self.percentiles)
            elif self.mode == "percentile":
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore", RuntimeWarning)  # all-NaN channels: handled below
                    func = np.nanpercentile if has_bad else np.percentile
                    low, high = func(x, self.percentiles, axis=(1, 2), keepdims=True)
            else:
                if not self.fitted:
                    raise ValueError("dataset normalization is not fitted: call "
                                     "Normalizer('dataset').fit(train_dataset) on the training split first")
                if self.low.shape[-1] != x.shape[-1]:
                    raise ValueError(f"normalizer was fitted on {self.low.shape[-1]} channels, "
                                     f"the images have {x.shape[-1]}")
                low, high = self.low, self.high
            span = high - low
            out = np.where(span > _EPS, (x - low) / np.where(span > _EPS, span, 1.0), 0.0)
        if has_bad:
            out = np.nan_to_num(out, nan=0.0, posinf=0.0, neginf=0.0)
        if self.clip:
            out = np.clip(out, 0.0, 1.0)
        return out.astype(np.float32, copy=False)

    def get_config(self):
        return {
            "mode": self.mode,
            "percentiles": list(self.percentiles),
            "low": None if self.low is None else self.low.tolist(),
            "high": None if self.high is None else self.high.tolist(),
            "scale": self.scale,
            "clip": self.clip,
        }

    @classmethod
    def from_config(cls, config):
        return cls(**config)


def _integer_percentiles(images, percentiles):
    """Per-image, per-channel percentiles of 8/16-bit images from histograms.

    Exactly NumPy's default (linear interpolation) percentile, ~10x faster than `np.percentile`
    on small images because counting values replaces sorting them.

    Returns (low, high), each of shape (N, 1, 1, C), float32.
    """
    n, height, width, channels = images.shape
    count = height * width
    ranks = np.asarray(percentiles, dtype=np.float64) / 100.0 * (count - 1)
    below = np.floor(ranks).astype(np.int64)
    fraction = ranks - below
    above = np.minimum(below + 1, count - 1)
    out = np.empty((2, n, 1, 1, channels), dtype=np.float32)
    for i in range(n):
        for c in range(channels):
            cumulative = np.cumsum(np.bincount(images[i, :, :, c].ravel()))
            # The value at sorted position r is the first value whose cumulative count exceeds r.
            lower = np.searchsorted(cumulative, below, side="right")
            upper = np.searchsorted(cumulative, above, side="right")
            out[:, i, 0, 0, c] = lower + fraction * (upper - lower)
    return out[0], out[1]


def _as_float(array):
    array = np.asarray(array)
    return array if array.dtype == np.float32 else array.astype(np.float32)


def get_normalizer(normalizer):
    """Accept a `Normalizer`, a mode name, or a config dict."""
    if isinstance(normalizer, Normalizer):
        return normalizer
    if isinstance(normalizer, str):
        return Normalizer(normalizer)
    if isinstance(normalizer, dict):
        return Normalizer.from_config(normalizer)
    raise ValueError(f"normalizer must be a Normalizer, one of {MODES}, or a config dict. "
                     f"Received: normalizer={normalizer!r}")
