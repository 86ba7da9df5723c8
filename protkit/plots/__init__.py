"""Every figure protkit shows: the notebooks, the CLI and the reports draw the same pictures.

Figure functions return the `matplotlib.figure.Figure` (made with pyplot, so ``plt.show()``
shows it in a notebook); `save` writes it as a PNG. Image functions take raw images of any
dtype, (H, W) or (H, W, C), and scale them for display with a `protkit.data.Normalizer` (or
its mode name: ``"percentile"``, ``"dataset"``, ``"fixed"``), the same choice a model sees.
No function here picks a matplotlib backend or calls ``plt.show()``.

Modules, all re-exported here (write ``plots.sample_grid``, not ``plots.datasets.sample_grid``):

- `images`: one image: `channel_composite`, `channel_panels`, `raw_vs_inverted`;
- `datasets`: a whole dataset: `class_balance`, `sample_grid`, `normalization_comparison`;
- `models`: what a model sees: `augmentation_grid`, `spectrum`, `mean_spectra`, `attention_map`,
  and their pure NumPy parts `log_spectra`, `attention_received`;
- `training`: `learning_curves`;
- `unsupervised`: `embedding_scatter` (t-SNE of latents), `reconstructions` (autoencoder output
  next to its input), `k_selection` (BIC and silhouette over the number of clusters);
- `explanations`: `heatmap_overlays` (Grad-CAM or attention over the cells), `sanity_checks`
  (the deletion and model-randomization checks of `protkit.explain.sanity_checks`);
- `metrics`: results: `confusion_matrix`, `per_class_bars`, `accuracy_trap`, `comparison_bars`,
  `reliability_diagram` (calibration before and after temperature scaling);
- `save`, and the colour constants `HPA_COLORS`, `HPA_MEANINGS`, `PALETTE`, `TINTS`.

Every figure has a title, axis labels on its data axes, a legend or colour bar wherever colour
carries meaning (composites get a legend of their channels), and says what error bars are.

Importing `protkit.plots` does not import TensorFlow; `augmentation_grid`, `log_spectra`,
`spectrum` and `mean_spectra` load Keras when called.
"""

from protkit.plots._common import HPA_COLORS, HPA_MEANINGS, PALETTE, TINTS, save
from protkit.plots.datasets import class_balance, normalization_comparison, sample_grid
from protkit.plots.explanations import heatmap_overlays, sanity_checks
from protkit.plots.images import channel_composite, channel_panels, raw_vs_inverted
from protkit.plots.metrics import accuracy_trap, comparison_bars, confusion_matrix, per_class_bars, reliability_diagram
from protkit.plots.models import (
    attention_map,
    attention_received,
    augmentation_grid,
    log_spectra,
    mean_spectra,
    spectrum,
)
from protkit.plots.training import learning_curves
from protkit.plots.unsupervised import embedding_scatter, k_selection, reconstructions

__all__ = [
    "embedding_scatter",
    "heatmap_overlays",
    "comparison_bars",
    "reconstructions",
    "k_selection",
    "HPA_COLORS",
    "HPA_MEANINGS",
    "PALETTE",
    "TINTS",
    "accuracy_trap",
    "attention_map",
    "attention_received",
    "augmentation_grid",
    "channel_composite",
    "channel_panels",
    "class_balance",
    "confusion_matrix",
    "learning_curves",
    "log_spectra",
    "mean_spectra",
    "normalization_comparison",
    "per_class_bars",
    "reliability_diagram",
    "raw_vs_inverted",
    "sample_grid",
    "sanity_checks",
    "save",
    "spectrum",
]
