"""Cells and nuclei of one synthetic image, and the random fields the patterns draw from.

Private to `protkit.data._cell_render` (which draws the channels): wobbly cell and nucleus
blobs placed apart (`_Blob`, `_layout`), the `Scene` that every channel of an image shares
(label map, masks, nucleoli, per-cell protein levels, point lookups), and small n-dimensional
helpers (`blur`, `smooth_noise`, `fine_noise`, `normal_field`, `unit_vectors`,
`random_directions`, `points_in`). Everything works for 2-D images and 3-D volumes.
"""

from __future__ import annotations

import functools
import math

import cv2
import numpy as np
from scipy import ndimage


# Small n-dimensional helpers ------------------------------------------------
def blur(a, sigma, channels=False):
    """Gaussian blur over the spatial axes of a 2-D or 3-D array (+ channel axis)."""
    if a.ndim - int(channels) == 2:
        return cv2.GaussianBlur(a, (0, 0), sigma, borderType=cv2.BORDER_REFLECT)
    sig = (sigma,) * (a.ndim - int(channels)) + (0,) * int(channels)
    return ndimage.gaussian_filter(a, sig, mode="reflect", truncate=3.0)


def smooth_noise(rng, shape, cell):
    """Zero-mean, unit-std random field varying over about `cell` pixels."""
    small = rng.standard_normal([max(2, round(s / cell)) for s in shape]).astype(np.float32)
    if len(shape) == 2:
        return cv2.resize(small, shape[::-1], interpolation=cv2.INTER_CUBIC)
    return ndimage.zoom(small, [s / m for s, m in zip(shape, small.shape)], order=1)


@functools.cache
def _normal_table():
    return np.random.default_rng(20240611).standard_normal(1 << 20, dtype=np.float32)


def normal_field(rng, shape):
    """Standard normal float32 array; mid-sized ones from two random table windows.

    Fresh Gaussian draws would dominate the cost of an image, so arrays of
    4097 to 2**19 values add two random windows of a fixed 2**20 table (times
    sqrt(1/2)): still N(0, 1) and uncorrelated within the array.
    """
    size, table = math.prod(shape), _normal_table()
    if not 4096 < size <= len(table) // 2:
        return rng.standard_normal(shape, dtype=np.float32)
    a, b = rng.integers(0, len(table) - size, 2)
    out = table[a:a + size] + table[b:b + size]
    out *= np.float32(math.sqrt(0.5))
    return out.reshape(shape)


def fine_noise(rng, shape, sigma):
    """Zero-mean, unit-std noise blurred by `sigma` pixels (a fine texture)."""
    field = blur(normal_field(rng, shape), sigma)
    return field / (field.std() + 1e-6)


def unit_vectors(v):
    """Vectors along the last axis scaled to unit length."""
    return v / np.sqrt(np.einsum("...i,...i->...", v, v))[..., None]


def random_directions(rng, m, ndim):
    """Random unit vectors (m, ndim); in 3-D mostly within the (y, x) plane."""
    v = rng.standard_normal((m, ndim))
    if ndim == 3:
        v[:, 0] *= 0.35
    return unit_vectors(v)


def points_in(rng, mask, m):
    """`m` random points (m, ndim) uniformly inside a boolean mask."""
    idx = np.flatnonzero(mask)
    if idx.size == 0 or m <= 0:
        return np.zeros((0, mask.ndim))
    pts = np.stack(np.unravel_index(idx[rng.integers(0, idx.size, m)], mask.shape), -1)
    return pts + rng.uniform(-0.5, 0.5, pts.shape)


def _rotation(angle, ndim, tilt=0.0):
    c, s = math.cos(angle), math.sin(angle)
    if ndim == 2:
        return np.array([[c, -s], [s, c]])
    ct, st = math.cos(tilt), math.sin(tilt)  # in-plane turn, then a small z-y tilt
    return np.array([[ct, -st * c, st * s], [st, ct * c, -ct * s], [0.0, s, c]])


class _Blob:
    """A wobbly ellipse (2-D) or ellipsoid (3-D) in pixel coordinates.

    The radius along a body-frame direction u is scaled by
    1 + sum_k a_k T_k(v_k . u) for k = 2, 3, 4, T_k the Chebyshev polynomials
    and v_k random unit vectors: in 2-D exactly the Fourier wobble
    1 + sum_k a_k cos(k (theta - phi_k)).
    """

    def __init__(self, rng, center, axes, rot, wobble):
        self.center, self.axes, self.rot = np.asarray(center, float), np.asarray(axes, float), rot
        nd = len(axes)
        self.dirs = unit_vectors(rng.standard_normal((3, nd)))
        self.amps = wobble * rng.uniform(0.3, 1.0, 3)
        self.ext = max(axes) * (1 + float(self.amps.sum())) + 1
        to_body = (rot / self.axes).T  # image offset -> body-normalized coordinates
        self._linear = np.vstack([to_body, self.dirs @ to_body]).astype(np.float32)

    def _radius(self, cos_terms):
        """1 + sum_k a_k T_k(cos_k), k = 2, 3, 4, for cos_terms of shape (3, ...)."""
        a2, a3, a4 = (np.float32(a) for a in self.amps)
        s2, s3, s4 = cos_terms * cos_terms
        return (1 - a2 + a4) + (2 * a2) * s2 + cos_terms[1] * ((4 * a3) * s3 - 3 * a3) \
            + (8 * a4) * s4 * (s4 - 1)

    def rho(self, shape):
        """Normalized radius (< 1 inside) on the pixel grid; np.inf outside its box."""
        out = np.full(shape, np.inf, np.float32)
        lo = [max(0, math.floor(c - self.ext)) for c in self.center]
        hi = [min(s, math.ceil(c + self.ext) + 1) for s, c in zip(shape, self.center)]
        if any(h <= l for l, h in zip(lo, hi)):
            return out
        nd = len(shape)
        # 2-D boxes are evaluated every other pixel and upsampled (rho is smooth):
        # coarse sample k sits at lo + step * k + (step - 1) / 2.
        step = 2 if nd == 2 and min(h - l for l, h in zip(lo, hi)) >= 16 else 1
        n = [-(-(h - l) // step) for l, h in zip(lo, hi)]
        lin = self._linear.reshape(nd + 3, nd, *[1] * nd)
        forms = sum(lin[:, k] * (np.arange(n[k], dtype=np.float32) * step + np.float32(
            lo[k] + (step - 1) / 2 - self.center[k])).reshape([-1 if j == k else 1
                                                               for j in range(nd)])
            for k in range(nd))  # (nd + 3, *box): body coordinates, then v_k . body
        r = np.sqrt(np.einsum("i...,i...->...", forms[:nd], forms[:nd])) + np.float32(1e-6)
        val = r / self._radius(forms[nd:] / r)
        if step > 1:
            val = cv2.resize(val, (n[1] * step, n[0] * step), interpolation=cv2.INTER_LINEAR)
        out[tuple(map(slice, lo, hi))] = val[tuple(slice(0, h - l) for l, h in zip(lo, hi))]
        return out

    def boundary(self, u):
        """Distance from the centre to the boundary along image directions u (m, nd)."""
        q = (u @ self.rot) / self.axes
        qn = np.sqrt(np.einsum("mi,mi->m", q, q))
        return self._radius(((q / qn[:, None]) @ self.dirs.T).T) / qn

    def to_image(self, y):
        """Body-normalized points (m, nd) to pixel coordinates."""
        return self.center + (y * self.axes) @ self.rot.T


# Scene: cells, nuclei and the landmarks every channel shares ------------------
_RADIUS_RANGE = {1: (0.24, 0.31), 2: (0.19, 0.24), 3: (0.16, 0.20), 4: (0.14, 0.18)}
_LAYOUT_LOW = (0.0, 0.0, 0.38, 0.0, 0.0, 0.0)  # ecc, angle, nucleus/cell, ecc_n, shift, turn
_LAYOUT_HIGH = (0.4, math.pi, 0.5, 0.25, 0.5, 2 * math.pi)


def _layout(rng, shape, n_cells, radius_scale):
    """Cells and nuclei as (cells, nuclei) lists of _Blob, centres spread apart."""
    nd, (height, width) = len(shape), shape[-2:]
    lo, hi = _RADIUS_RANGE[n_cells]
    cells, nuclei, placed = [], [], []
    for _ in range(n_cells):
        r = (lo + (hi - lo) * rng.random()) * radius_scale * min(height, width)
        for _try in range(30):
            y, x = rng.random(2).tolist()
            c = (0.75 * r + y * (height - 1.5 * r), 0.75 * r + x * (width - 1.5 * r))
            if all(math.dist(c, c2) >= 0.8 * (r + r2) for c2, r2 in placed):
                break
        placed.append((c, r))
        ecc, angle, rn, ecc_n, shift, turn = (
            a + (b - a) * v for a, b, v in zip(_LAYOUT_LOW, _LAYOUT_HIGH, rng.random(6).tolist()))
        rn *= r
        shift *= max(0.0, r / (1 + ecc) - rn * (1 + ecc_n))  # nucleus stays inside
        nuc_c = (c[0] + shift * math.sin(turn), c[1] + shift * math.cos(turn))
        cell_ax, nuc_ax = [r * (1 + ecc), r / (1 + ecc)], [rn * (1 + ecc_n), rn / (1 + ecc_n)]
        tilt = 0.0
        if nd == 3:
            # Flat cells: the z half-axis is about a third of the depth.
            cz, hz = shape[0] * rng.normal(0.5, 0.04), shape[0] * rng.uniform(0.26, 0.34)
            fz, tilt = rng.uniform(0.6, 0.75), rng.normal(0, 0.08)
            c, nuc_c, cell_ax, nuc_ax = (cz, *c), (cz, *nuc_c), [hz] + cell_ax, [hz * fz] + nuc_ax
        cells.append(_Blob(rng, c, cell_ax, _rotation(angle, nd, tilt), 0.07))
        nuc_rot = _rotation(angle + rng.normal(0, 0.4), nd, tilt)
        nuclei.append(_Blob(rng, nuc_c, nuc_ax, nuc_rot, 0.035))
    return cells, nuclei


class Scene:
    """The cells of one image: label map, masks, nucleoli, per-cell values.

    Point patterns go through `index` (nearest pixel of a grid padded by one
    pixel, so points off the image land in the pad) and `splat`/`spots`.
    """

    def __init__(self, rng, shape, n_cells, unit, radius_scale=1.0):
        nd = len(shape)
        self.shape, self.unit, self.nd, self.k = shape, unit, nd, n_cells
        self.cells, self.nuclei = _layout(rng, shape, n_cells, radius_scale)
        self.rho_cell = self.cells[0].rho(shape)
        self.label = np.ones(shape, np.uint8)  # 0 background, i + 1 for cell i
        for i, cell in enumerate(self.cells[1:], start=2):
            rho = cell.rho(shape)
            self.label[rho < self.rho_cell] = i
            np.minimum(self.rho_cell, rho, out=self.rho_cell)
        self.label[self.rho_cell >= 1] = 0
        self.inside = self.label > 0
        self.area = max(1, int(np.count_nonzero(self.inside)))
        self.rho_nuc = np.full(shape, np.inf, np.float32)  # of the pixel's own cell
        for i, nuc in enumerate(self.nuclei):
            np.copyto(self.rho_nuc, nuc.rho(shape), where=self.label == i + 1)
        self.nuc = self.rho_nuc < 1
        self.cyto = self.inside & ~self.nuc
        self.f = rng.lognormal(0, 0.3, n_cells)  # protein level of each cell
        self.rn = np.array([math.sqrt(b.axes[-1] * b.axes[-2]) for b in self.nuclei])
        self.radius = np.array([math.sqrt(b.axes[-1] * b.axes[-2]) for b in self.cells])
        self.nuc_center = np.array([b.center for b in self.nuclei])
        # The centrosome sits next to the nucleus: microtubule aster, Golgi side.
        self.mtoc_dir = random_directions(rng, n_cells, nd)
        self.mtoc = self.nuc_center + self.mtoc_dir * (
            self.nuclear_rim(self.mtoc_dir) + 1.5 * unit)[:, None]
        nucleoli, owner = [], []
        for i, nuc in enumerate(self.nuclei):  # 2-4 nucleoli spread around the centre
            m = int(rng.integers(2, 5))
            angle = rng.uniform(0, 2 * np.pi) + np.arange(m) * (2 * np.pi / m)
            y = np.zeros((m, nd))
            y[:, -2], y[:, -1] = np.sin(angle), np.cos(angle)
            if nd == 3:
                y[:, 0] = rng.normal(0, 0.25, m)
            nucleoli.append(nuc.to_image(y * rng.uniform(0.25, 0.55, (m, 1))))
            owner += [i] * m
        self.nucleoli_at, self.nucleoli_cell = np.concatenate(nucleoli), np.array(owner)
        # Padded flat lookups for point patterns.
        self._padded = tuple(s + 2 for s in shape)
        self._strides = np.array([math.prod(self._padded[k + 1:]) for k in range(nd)])
        self.label_p, self.nuc_p = self._pad(self.label), self._pad(self.nuc)
        self.f_map = self.per_cell(self.f)
        self.f_p, self.rho_p = self._pad(self.f_map), self._pad(self.rho_cell)
        self.nl_sigma = max(0.8, 0.17 * float(self.rn.mean()))
        lumps = np.repeat(self.nucleoli_at, 2, axis=0)
        lumps += rng.normal(0, 0.4 * self.nl_sigma, lumps.shape)
        spots = self.spots(self.index(lumps), rng.uniform(0.6, 0.9, len(lumps)), self.nl_sigma)
        self.nucleoli = np.minimum(spots, 1) * self.nuc
        edge = np.zeros(shape, bool)
        for ax in range(nd):  # pixels whose label differs from a neighbour's
            a, b = [slice(None)] * nd, [slice(None)] * nd
            a[ax], b[ax] = slice(1, None), slice(None, -1)
            diff = self.label[tuple(a)] != self.label[tuple(b)]
            edge[tuple(a)] |= diff
            edge[tuple(b)] |= diff
        self.edge = edge & self.inside

    def _pad(self, a):
        out = np.zeros(self._padded, a.dtype)
        out[(slice(1, -1),) * self.nd] = a
        return out.ravel()

    def per_cell(self, values):
        """Per-pixel map of per-cell values (0 outside cells), float32."""
        return np.take(np.concatenate([[0.0], values]).astype(np.float32), self.label)

    def nuclear_rim(self, u):
        """Distance from each nucleus centre to its rim along u (n_cells, nd)."""
        return np.array([b.boundary(u[i:i + 1])[0] for i, b in enumerate(self.nuclei)])

    def index(self, pts):
        """Padded flat index of the nearest pixel of points (..., nd)."""
        ij = np.rint(pts).astype(np.intp) + 1
        np.clip(ij, 0, np.array(self._padded) - 1, out=ij)
        return ij @ self._strides

    def splat(self, flat, weights):
        """Sum of `weights` at padded flat indices, as an image."""
        acc = np.bincount(flat.ravel(), np.ravel(weights), minlength=math.prod(self._padded))
        return acc.reshape(self._padded)[(slice(1, -1),) * self.nd].astype(np.float32)

    def spots(self, flat, amplitude, sigma):
        """Gaussian spots of peak `amplitude` and width `sigma` at padded flat indices."""
        mass = (2 * math.pi * sigma**2) ** (self.nd / 2)
        return blur(self.splat(flat, np.asarray(amplitude) * mass), sigma)

    def sigma(self, s):
        return max(0.6, s * self.unit)
