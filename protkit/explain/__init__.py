"""Why did a model decide? Grad-CAM heatmaps, their sanity checks, and the DCAEC cluster test.

**Grad-CAM** (Selvaraju et al., 2017): for one class, take the gradient of the class score with
respect to a convolutional feature map, average it over positions to weight each channel,
sum the weighted channels, keep the positive part, and scale to [0, 1]. protkit uses the score
*before* the softmax / sigmoid (the logit), so classes do not mask each other and multi-label
models get one heatmap per label.

**Which feature map** (`last_conv_layer`): a map is only a picture of the image when its
positions are image positions. In the Fast Spec CNN the last 4D map is the attention block's
output, where every position has gathered from all others (and from a learned position
embedding); and with ``spectral="dual"`` every map after the FFT mixes pixel (i, j) with spatial
frequency (i - H/2, j - W/2), since the spectrum is stacked onto the image's channels. The
default layer is the last map that is in image space (else, after a dual FFT, in mixed space),
never after attention or a spectrum-only FFT, and fine enough to localize (`feature_map_space`).

**Sanity checks** (trust a map only when both pass): `randomization_test` (Adebayo et al.,
2018): the maps of the trained model and of the same architecture with random weights must
differ (mean Spearman correlation below 0.3); `deletion_curve` (Petsiuk et al., 2018): removing
the most relevant pixels first must lower the class score faster than removing them in random
order (area under the curve below 0.8 of the random-order area). `sanity_checks` runs both.

**Cluster explanation** (the DCAEC paper): clusters found without labels are explained by
training a classifier (the frozen encoder plus two dense layers) to predict them, computing
Grad-CAM heatmaps for each image's own cluster, thresholding them into binary masks, and
asking whether a small CNN can tell the clusters apart from the *masks alone* (5-fold CV). High
accuracy means each cluster looks at a distinctive region of the cell.

Modules: `protkit.explain.maps` (which feature map, Grad-CAM, attention maps),
`protkit.explain.checks` (the sanity checks), `protkit.explain.clusters` (the cluster test).
Everything is importable from `protkit.explain`.
"""

from protkit.explain.checks import (
    DELETION_PASS_RATIO,
    RANDOMIZATION_PASS_MARK,
    deletion_curve,
    randomization_test,
    randomized_copy,
    rank_correlation,
    sanity_checks,
)
from protkit.explain.clusters import cluster_classifier, explain_clusters, threshold_masks
from protkit.explain.maps import (
    SPACES,
    attention_heatmaps,
    feature_map_space,
    grad_cam,
    last_conv_layer,
    predict_in_batches,
)

__all__ = [
    "DELETION_PASS_RATIO", "RANDOMIZATION_PASS_MARK", "SPACES", "attention_heatmaps", "cluster_classifier",
    "deletion_curve", "explain_clusters", "feature_map_space", "grad_cam", "last_conv_layer", "predict_in_batches",
    "randomization_test", "randomized_copy", "rank_correlation", "sanity_checks", "threshold_masks",
]
