"""Private rendering internals of `protkit.data.synthetic`, shared by 2-D and 3-D.

On the cells of a `Scene` (`protkit.data._cell_scene`): one protein pattern per class in
`SYNTHETIC_CLASSES` order (`_PATTERNS`), the microtubule, nucleus and ER channels, then
optics and noise (`render_cells`). Label sampling, argument checks and quantization stay in
`protkit.data.synthetic`.
"""

from __future__ import annotations

import math

import numpy as np

from protkit.data._cell_scene import (
    Scene,
    blur,
    fine_noise,
    normal_field,
    points_in,
    random_directions,
    smooth_noise,
    unit_vectors,
)

# Rendering parameters -------------------------------------------------------
_NORM_ALPHA = 0.5  # each pattern is scaled to mean**alpha * peak**(1 - alpha) = 1
_PROTEIN_GAIN = (0.22, 0.5)  # median and log-sigma of the per-image protein gain
_PHOTONS_FULL_SCALE = 1500.0  # shot noise at noise=1
_READ_NOISE = 0.003  # Gaussian read noise at noise=1, full scale = 1


# Protein localization patterns, one function per class -----------------------
_SEGMENT = np.linspace(-0.5, 0.5, 5)[None, :, None]


def _mitochondria(rng, sc):
    """Many short rods in the cytoplasm, denser around the nucleus."""
    m = int(np.clip(np.count_nonzero(sc.cyto) / (22 * sc.unit**sc.nd), 6, 150 * sc.k))
    cand = points_in(rng, sc.cyto, 2 * m)
    keep = rng.random(len(cand)) < np.clip(1.2 - sc.rho_p[sc.index(cand)], 0.15, 1)
    centers = cand[keep][:m]
    length = rng.uniform(2.0, 5.5, (len(centers), 1, 1)) * max(sc.unit, 0.5)
    flat = sc.index(centers[:, None] + random_directions(rng, len(centers), sc.nd)[:, None]
                    * length * _SEGMENT)
    w = rng.uniform(0.5, 1, (len(centers), 1)) * sc.f_p[flat]
    return blur(sc.splat(flat, w), sc.sigma(0.7))


def _nuclear_bodies(rng, sc):
    """1-6 bright round dots per nucleus, off the nucleoli."""
    m = int(rng.integers(1, 7, sc.k).sum())
    flat = sc.index(points_in(rng, sc.nuc & (sc.nucleoli < 0.3), m))
    return sc.spots(flat, sc.f_p[flat] * rng.uniform(0.6, 1, m), sc.sigma(1.1))


def _nucleoli(rng, sc):
    """The 2-4 nucleoli of each nucleus."""
    return sc.nucleoli * sc.f_map


def _golgi(rng, sc):
    """A compact crescent of puncta hugging the nucleus on the centrosome side."""
    k, nd, m = sc.k, sc.nd, 18
    u = unit_vectors(sc.mtoc_dir + rng.normal(0, 0.3, (k, nd)))
    anchor = sc.nuc_center + u * (sc.nuclear_rim(u) + sc.unit)[:, None]
    rn = sc.rn[:, None, None]
    tang = rng.normal(0, 0.35, (k, m, nd)) * rn
    tang -= np.einsum("kmd,kd->km", tang, u)[..., None] * u[:, None]
    radial = np.abs(rng.normal(0, 0.15, (k, m, 1))) * rn
    bend = np.einsum("kmd,kmd->km", tang, tang)[..., None] / (2 * rn)
    flat = sc.index(anchor[:, None] + tang + u[:, None] * (radial - bend))
    own = sc.label_p[flat] == np.arange(1, k + 1)[:, None]
    return sc.spots(flat, own * sc.f[:, None] * rng.uniform(0.4, 1, (k, m)), sc.sigma(1.0))


def _nucleoplasm(rng, sc):
    """Diffuse, finely textured nuclear fill that spares the nucleoli."""
    tex = np.maximum(0.2, 1 + 0.2 * fine_noise(rng, sc.shape, sc.sigma(1.0)))
    return blur(sc.nuc * (1 - 0.85 * sc.nucleoli) * tex * sc.f_map, sc.sigma(0.6))


def _fibrillar_center(rng, sc):
    """Clusters of tiny dots inside each nucleolus."""
    n = len(sc.nucleoli_at)
    pts = sc.nucleoli_at[:, None] + rng.normal(0, 0.45 * sc.nl_sigma, (n, 6, sc.nd))
    amp = sc.f[sc.nucleoli_cell][:, None] * rng.uniform(0.3, 1, (n, 6))
    return sc.spots(sc.index(pts), amp, sc.sigma(0.55))


def _cytosol(rng, sc):
    """Diffuse cytoplasm with smooth texture, absent from the nucleus."""
    tex = np.maximum(0.2, 1 + 0.3 * smooth_noise(rng, sc.shape, 12 * sc.unit))
    fill = sc.cyto * tex * (0.75 + 0.25 * np.clip(1 - sc.rho_cell, 0, 1)) * sc.f_map
    return blur(fill, sc.sigma(0.7))


def _plasma_membrane(rng, sc):
    """A thin, slightly patchy ring along each cell outline."""
    tex = np.maximum(0.2, 1 + 0.4 * fine_noise(rng, sc.shape, sc.sigma(1.5)))
    return blur(sc.edge * tex * sc.f_map, sc.sigma(0.8))


def _centrosome(rng, sc):
    """One or two (60 %) small bright dots next to the nucleus."""
    gap = rng.uniform(1.2, 2.2, (sc.k, 1)) * max(sc.unit, 0.8)
    pts = np.stack([sc.mtoc, sc.mtoc + random_directions(rng, sc.k, sc.nd) * gap], axis=1)
    amp = sc.f[:, None] * rng.uniform(0.8, 1, (sc.k, 2))
    amp[:, 1] *= rng.random(sc.k) < 0.6
    flat = sc.index(pts)
    amp *= sc.label_p[flat] == np.arange(1, sc.k + 1)[:, None]  # inside its own cell
    return sc.spots(flat, amp, sc.sigma(0.7))


def _nuclear_speckles(rng, sc):
    """10-30 irregular small dots per nucleus, off the nucleoli and the rim."""
    m = int(rng.integers(10, 31, sc.k).sum())
    centers = points_in(rng, sc.nuc & (sc.nucleoli < 0.3) & (sc.rho_nuc < 0.9), m)
    flat = sc.index(centers[:, None] + rng.normal(0, 0.8 * max(sc.unit, 0.5), (m, 3, sc.nd)))
    return sc.spots(flat, rng.uniform(0.4, 1, (m, 1)) * sc.f_p[flat], sc.sigma(0.9))


_PATTERNS = (_mitochondria, _nuclear_bodies, _nucleoli, _golgi, _nucleoplasm,
             _fibrillar_center, _cytosol, _plasma_membrane, _centrosome, _nuclear_speckles)


# Reference channels ----------------------------------------------------------
def _microtubules(rng, sc):
    """Random-walk filaments radiating from each centrosome, clipped to the cell."""
    nd, n_fil = sc.nd, 36 * sc.k
    n_step = int(1.5 * max(float(c.axes.max()) for c in sc.cells))
    walk = np.cumsum(0.12 * normal_field(rng, (n_fil, n_step, nd)), axis=1)
    if nd == 3:
        walk[..., 0] *= 0.3
    dirs = random_directions(rng, n_fil, nd)[:, None] + walk
    dirs = unit_vectors(dirs)
    start = np.repeat(sc.mtoc, 36, axis=0)[:, None] + rng.normal(0, 1.2 * sc.unit, (n_fil, 1, nd))
    flat = sc.index(start + np.cumsum(dirs, axis=1))  # 1-pixel steps
    own = sc.label_p[flat] == np.repeat(np.arange(1, sc.k + 1), 36)[:, None]
    w = own * rng.uniform(0.5, 1, (n_fil, 1)) * np.where(sc.nuc_p[flat], 0.3, 1.0)
    sigma = sc.sigma(0.6)
    lines = blur(sc.splat(flat, w), sigma)
    lines *= 0.8 * (2 * math.pi * sigma**2) ** ((nd - 1) / 2)  # a lone filament peaks at 0.8
    return lines + np.float32(0.12) * sc.cyto + np.float32(0.04) * sc.nuc


def _er_and_nucleus(rng, sc):
    """ER: reticular network, brightest near the nucleus, plus the nuclear envelope.

    Nucleus: filled, textured, dimmer in the nucleoli.
    """
    field = fine_noise(rng, sc.shape, sc.sigma(1.3))
    rn = sc.per_cell(sc.rn)
    dist = np.minimum(sc.rho_nuc - 1, 50) * rn  # ~ pixels from the nuclear rim (< 0 inside)
    near = np.exp(np.maximum(dist, 0) / (-0.45 * sc.per_cell(sc.radius) - 1e-6))
    envelope = np.exp(-(dist / sc.sigma(0.9)) ** 2)
    network = 0.2 + np.exp(-(field / 0.45) ** 2)  # bright along the zero lines of the field
    er = sc.cyto * network * (0.35 + near) + np.float32(0.5) * sc.inside * envelope
    profile = 0.75 + 0.25 * np.clip((1 - sc.rho_nuc) / 0.3, 0, 1)
    texture = 1 + 0.12 * field + 0.12 * smooth_noise(rng, sc.shape, 8 * sc.unit)
    dapi = sc.nuc * profile * texture * (1 - 0.45 * sc.nucleoli)
    return er, dapi * sc.per_cell(rng.lognormal(0, 0.15, sc.k))


def render_cells(rng, shape, classes, n_cells, unit, noise, radius_scale=1.0):
    """One noisy image (*shape, 4) float32, roughly in [0, 1] (not yet clipped).

    Args:
        rng: a `numpy.random.Generator`; the image depends on it alone.
        shape: (height, width) or (depth, height, width).
        classes: indices into `SYNTHETIC_CLASSES` of the protein patterns to draw.
        n_cells: cells in the image, 1 to 4.
        unit: scale of the patterns in pixels (image_size / 128 for images, size / 64 for volumes).
        noise: shot and read noise level (0: none, 1: the default).
        radius_scale: factor on the cell radii.

    Channels: microtubules, protein, nucleus, ER (the Human Protein Atlas order).
    """
    sc = Scene(rng, shape, n_cells, unit, radius_scale)
    mt = _microtubules(rng, sc) * rng.lognormal(math.log(0.5), 0.25)
    er, dapi = _er_and_nucleus(rng, sc)
    protein = np.zeros(shape, np.float32)
    for k in classes:
        p = _PATTERNS[k](rng, sc)
        peak = float(p.max())
        if peak > 0:  # scale between equal total and equal peak, then a random gain
            mean = float(p.sum()) / sc.area
            scale = mean**_NORM_ALPHA * peak ** (1 - _NORM_ALPHA)
            protein += p * (rng.lognormal(0, 0.35) / scale)
    unspecific = sc.cyto + np.float32(0.6) * sc.nuc  # a faint background stain
    protein += np.float32(rng.uniform(0, 0.08)) * unspecific * sc.f_map
    gains = [1.0, rng.lognormal(math.log(_PROTEIN_GAIN[0]), _PROTEIN_GAIN[1]),
             rng.lognormal(math.log(0.6), 0.2), rng.lognormal(math.log(0.45), 0.25)]
    offsets = rng.uniform(0.01, 0.05, 4).tolist()  # background level of each channel
    img = np.stack([c * np.float32(g) + np.float32(b)
                    for c, g, b in zip((mt, protein, dapi, er), gains, offsets)], axis=-1)
    img = blur(img, max(0.5, 0.5 * unit), channels=True)  # optics
    gauss = normal_field(rng, img.shape)  # drawn at every noise level: same cells for all
    if noise > 0:  # shot noise (Gaussian approximation of Poisson) + read noise
        std = img * np.float32(noise**2 / _PHOTONS_FULL_SCALE)
        std += np.float32((_READ_NOISE * noise) ** 2)
        np.sqrt(std, out=std)
        img += std * gauss
    return img
