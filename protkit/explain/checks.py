"""Sanity checks of explanation maps: model randomization and deletion curves."""

from __future__ import annotations

import numpy as np

from protkit.explain.maps import classes_to_explain, feature_map_space, grad_cam, last_conv_layer, predict_in_batches

RANDOMIZATION_PASS_MARK = 0.3  # mean Spearman correlation, trained vs randomized maps, must stay below
DELETION_PASS_RATIO = 0.8  # area under the deletion curve, over the random-order area, must stay below


def randomized_copy(model, seed=0):
    """The same architecture with freshly initialized weights (``keras.models.clone_model``).

    Layer names are kept, so a Grad-CAM layer named for ``model`` exists in the copy.
    Re-seeds Python, NumPy and Keras (`keras.utils.set_random_seed`) with ``seed`` first.
    """
    import keras

    keras.utils.set_random_seed(seed)
    return keras.models.clone_model(model)


def rank_correlation(a, b):
    """Spearman rank correlation of two maps of one shape (ties share their mean rank).

    Returns NaN when either map is constant (an all-zero Grad-CAM map ranks nothing).
    """
    from scipy.stats import rankdata

    a, b = np.ravel(a), np.ravel(b)
    if a.shape != b.shape:
        raise ValueError(f"maps of one shape are compared. Received: {np.shape(a)} and {np.shape(b)}")
    if np.ptp(a) == 0 or np.ptp(b) == 0:
        return float("nan")
    return float(np.corrcoef(rankdata(a), rankdata(b))[0, 1])


def randomization_test(model, images, class_index=None, layer=None, explainer=None, randomized=None, repeats=3,
                       seed=0, pass_mark=RANDOMIZATION_PASS_MARK, batch_size=32):
    """Model-randomization sanity check (Adebayo et al., 2018): do the maps depend on what was learnt?

    The maps of ``model`` and of the same architecture with random weights are computed for the
    same classes and compared by Spearman rank correlation, image by image. A map that mostly
    redraws the input (edges, bright regions) correlates with its randomized twin and says
    nothing about what the model learnt. Pass: mean correlation below ``pass_mark``.

    Args:
        model: the trained Keras classifier.
        images: (N, H, W, C) prepared as for the model.
        class_index: None (each image's top class under ``model``), an int, or (N,) ints; the
            randomized models are explained for the same classes.
        layer: Grad-CAM layer (default `last_conv_layer`); unused with ``explainer``.
        explainer: a function ``(model, images, class_index) -> (N, H, W) maps``; default
            `grad_cam` at ``layer``. `attention_heatmaps` is one.
        randomized: the model to compare with; default ``repeats`` copies with random weights
            (`randomized_copy`, seeds ``seed``, ``seed + 1``...). Passing ``model`` itself
            gives a correlation of 1: what a check that compared nothing would see.
        repeats: random initializations averaged (one initialization is a noisy reference).
        seed: seeds the random weights.
        pass_mark: the mean correlation must stay below it.
        batch_size: images per pass.

    Returns:
        dict: ``spearman_mean`` (over images and initializations; NaN when no pair of maps
        could be compared), ``spearman`` (N,) per image (mean over initializations; NaN where a
        map is constant), ``per_initialization`` (one mean each), ``images_compared``,
        ``pass_mark``, ``passed``, ``layer`` (None with an ``explainer``).
    """
    images = np.asarray(images, np.float32)
    targets = classes_to_explain(model, images, class_index, batch_size)
    if explainer is None:
        layer = layer or last_conv_layer(model)

        def explainer(net, x, index):
            return grad_cam(net, x, class_index=index, layer=layer, batch_size=batch_size)
    else:
        layer = None
    others = [randomized] if randomized is not None else [randomized_copy(model, seed + r) for r in range(repeats)]
    trained = explainer(model, images, targets)
    rho = np.array([[rank_correlation(a, b) for a, b in zip(trained, explainer(other, images, targets))]
                    for other in others])
    compared = np.isfinite(rho)
    with np.errstate(invalid="ignore"):
        per_image = np.where(compared.any(axis=0), np.nansum(rho, axis=0) / np.maximum(compared.sum(axis=0), 1), np.nan)
    mean = float(rho[compared].mean()) if compared.any() else float("nan")
    per_initialization = [float(row[np.isfinite(row)].mean()) if np.isfinite(row).any() else float("nan")
                          for row in rho]
    return {"spearman_mean": mean, "spearman": per_image, "per_initialization": per_initialization,
            "images_compared": int(compared.any(axis=0).sum()), "pass_mark": float(pass_mark),
            "passed": bool(compared.any() and mean < pass_mark), "layer": layer}


def blurred(images, sigma=None):
    """Each image of (N, H, W, C) smoothed channel by channel with a Gaussian of ``sigma`` pixels
    (default: an eighth of the smaller side), edges reflected: the image with its detail removed
    but its overall intensity kept, the deletion baseline ``"blur"``."""
    import cv2

    images = np.asarray(images, np.float32)
    sigma = max(min(images.shape[1:3]) / 8, 1.0) if sigma is None else float(sigma)
    out = np.empty_like(images)
    for i, image in enumerate(images):
        smooth = cv2.GaussianBlur(image, (0, 0), sigmaX=sigma, sigmaY=sigma, borderType=cv2.BORDER_REFLECT)
        out[i] = smooth.reshape(image.shape)
    return out


def deletion_curve(model, images, heatmaps=None, class_index=None, layer=None, steps=20, baseline="mean", seed=0,
                   patch=1, pass_ratio=DELETION_PASS_RATIO, batch_size=64):
    """Deletion sanity check (Petsiuk et al., 2018): does removing the "relevant" pixels hurt most?

    Pixels are removed most-relevant first, in ``steps`` equal steps until none is left, each
    replaced in every channel by ``baseline``; after each step the model's output for the class
    (a probability for protkit's classifiers) is recorded. The same is done in a random order
    (one per image, seeded). A map that points at the evidence makes the score fall faster than
    the random order does. Ties in a map (e.g. Grad-CAM's zeros) are broken at random, so a flat
    map scores like the random order. Pass: area under the mean curve below ``pass_ratio`` times
    the random-order area.

    Pixels scattered at random make speckle no training image had; a model that reacts to it
    (the Fast Spec CNN's spectrum does) loses its score faster under the random order than under
    any map. ``patch`` > 1 removes square patches instead (ranked by their mean relevance, the
    random order shuffling the same patches), so both orders remove blocks alike; a patch the
    size of one feature-map cell matches Grad-CAM's own resolution.

    Args:
        model: the Keras classifier.
        images: (N, H, W, C) prepared as for the model.
        heatmaps: (N, H, W) relevance maps; default `grad_cam` (at ``layer``) for the classes.
        class_index: None (each image's top class), an int, or (N,) ints.
        layer: Grad-CAM layer when ``heatmaps`` is None (default `last_conv_layer`).
        steps: number of removal steps (positive).
        baseline: the value removed pixels take: ``"mean"`` (each image's per-channel mean),
            ``"blur"`` (the same pixel of the image blurred by `blurred`: detail removed, the
            cell's outline and brightness kept, so the image stays one the model has seen the
            like of), ``"zero"`` (0, after the model's normalization) or a number.
        seed: seeds the random order and the tie-breaking.
        patch: side in pixels of the units removed (1: single pixels).
        pass_ratio: the area ratio must stay below it.
        batch_size: images per forward pass.

    Returns:
        dict: ``fractions`` (steps + 1,) of the units removed, ``curve`` and ``random_curve`` (the
        mean score after each step), ``auc`` and ``random_auc`` (trapezoid areas over the
        removed fraction), ``ratio`` (auc / random_auc), ``pass_ratio``, ``passed``,
        ``baseline``, ``patch``.
    """
    images = np.asarray(images, np.float32)
    steps = int(steps)
    if steps < 1:
        raise ValueError(f"steps must be a positive int. Received: steps={steps}")
    targets = classes_to_explain(model, images, class_index, batch_size)
    if heatmaps is None:
        heatmaps = grad_cam(model, images, class_index=targets, layer=layer, batch_size=batch_size)
    heatmaps = np.asarray(heatmaps, np.float64)
    n, height, width, channels = images.shape
    if heatmaps.shape != (n, height, width):
        raise ValueError(f"one (H, W) map per image: expected {(n, height, width)}. Received: {heatmaps.shape}")
    if baseline == "mean":
        fill = images.mean(axis=(1, 2), keepdims=True)
    elif baseline == "blur":
        fill = blurred(images)
    elif baseline == "zero" or (isinstance(baseline, (int, float)) and not isinstance(baseline, bool)):
        fill = np.full((n, 1, 1, channels), 0.0 if baseline == "zero" else baseline, np.float32)
    else:
        raise ValueError(f"baseline must be 'mean', 'blur', 'zero' or a number. Received: baseline={baseline!r}")
    patch = int(patch)
    if patch < 1:
        raise ValueError(f"patch must be a positive int. Received: patch={patch}")
    grid_rows, grid_columns = -(-height // patch), -(-width // patch)
    padded = np.pad(heatmaps, ((0, 0), (0, grid_rows * patch - height), (0, grid_columns * patch - width)), mode="edge")
    units = padded.reshape(n, grid_rows, patch, grid_columns, patch).mean(axis=(2, 4)).reshape(n, -1)
    rng = np.random.default_rng(seed)
    # rank[i, u]: when unit u of image i is removed (0 = first); ties broken by a random key.
    by_map = np.argsort(np.lexsort((rng.random(units.shape), -units), axis=1), axis=1)
    by_chance = np.argsort(rng.random(units.shape), axis=1)
    fractions = np.linspace(0.0, 1.0, steps + 1)
    rows = np.arange(n)

    def scores(rank):
        pixels = np.repeat(np.repeat(rank.reshape(n, grid_rows, grid_columns), patch, 1), patch, 2)[:, :height, :width]
        curve = []
        for fraction in fractions:
            removed = (pixels < round(fraction * units.shape[1]))[..., None]
            out = predict_in_batches(model, np.where(removed, fill, images).astype(np.float32), batch_size)
            curve.append(float(out[rows, targets].mean()))
        return np.array(curve)

    curve, random_curve = scores(by_map), scores(by_chance)
    auc, random_auc = float(np.trapezoid(curve, fractions)), float(np.trapezoid(random_curve, fractions))
    ratio = auc / random_auc if random_auc > 0 else float("nan")
    return {"fractions": fractions, "curve": curve, "random_curve": random_curve, "auc": auc,
            "random_auc": random_auc, "ratio": ratio, "pass_ratio": float(pass_ratio),
            "passed": bool(np.isfinite(ratio) and ratio < pass_ratio), "baseline": baseline, "patch": patch}


def sanity_checks(model, images, class_index=None, layer=None, explainer=None, steps=20, baseline="mean", seed=0,
                  patch=1, batch_size=32):
    """Both sanity checks of one kind of map on ``images``: `randomization_test` and `deletion_curve`.

    Args:
        model, images, class_index, layer, explainer, seed, batch_size: as in `randomization_test`
            (Grad-CAM at `last_conv_layer` unless ``layer`` or ``explainer`` says otherwise).
        steps, baseline, patch: as in `deletion_curve`.

    Returns:
        dict: ``method`` ("Grad-CAM" or the explainer's name), ``layer`` and ``space`` (its
        `feature_map_space`; None with an explainer), ``classes`` (N,) explained,
        ``randomization`` and ``deletion`` (the two results), ``passed`` (both passed).
    """
    images = np.asarray(images, np.float32)
    targets = classes_to_explain(model, images, class_index, batch_size)
    if explainer is None:
        layer = layer or last_conv_layer(model)
        heatmaps = grad_cam(model, images, class_index=targets, layer=layer, batch_size=batch_size)
        method, space = "Grad-CAM", feature_map_space(model, layer)
    else:
        heatmaps, layer = explainer(model, images, targets), None
        method, space = getattr(explainer, "__name__", "explainer"), None
    randomization = randomization_test(model, images, targets, layer=layer, explainer=explainer, seed=seed,
                                       batch_size=batch_size)
    deletion = deletion_curve(model, images, heatmaps, class_index=targets, steps=steps, baseline=baseline,
                              seed=seed, patch=patch, batch_size=batch_size)
    return {"method": method, "layer": layer, "space": space, "classes": targets, "randomization": randomization,
            "deletion": deletion, "passed": randomization["passed"] and deletion["passed"]}
