"""The main job on the embedded synthetic cells: the whole path from files to honest numbers.

``protkit demo --out runs/demo`` (or `run_demo`) generates Human-Protein-Atlas-like cells, writes
them to disk in the HPA layout (one PNG per channel + ``train.csv``), reads them back through the
same loader a user's data goes through, inspects them, and then:

1. trains the Fast Spec CNN with `protkit.training.train` (seeded multi-label-stratified
   train/validation/test split, thresholds tuned on validation) and reports macro-F1,
   exact-match and element-wise accuracy side by side on the test split, next to the
   baselines that show the accuracy trap;
2. cross-validates the Fast Spec CNN, its ablation without attention and a traditional CNN on
   shared folds and compares them (mean, 95 % interval, paired t-test and Wilcoxon against
   the Fast Spec CNN), exported as CSV, Markdown and LaTeX;
3. explains test predictions with Grad-CAM heatmaps;

and writes ``report.md`` with the tables and figures into RUN_DIR.
"""

from __future__ import annotations

import functools
import os
import time

from protkit import metrics, plots
from protkit.data import Dataset, inspect_dataset, load_images
from protkit.data.inspect import format_summary
from protkit.data.synthetic import HPA_CHANNEL_COLORS, SYNTHETIC_CLASSES, make_cells, write_hpa_layout
from protkit.evaluation import compare, cross_validate, export_table, markdown_table
from protkit.runs import RunFolder

STEPS = 7
# The arms of the cross-validation: the Fast Spec CNN, its ablation without attention, a small CNN.
ARMS = {"fast_spec_cnn": dict(model="fast_spec_cnn"),
        "fast_spec_cnn, no attention": dict(model="fast_spec_cnn", model_kwargs={"attention": False}),
        "traditional CNN": dict(model="cnn", model_kwargs={"filters": (32, 64), "hidden_units": 128})}


def run_demo(out, fast=None, overwrite=False, seed=0, verbose=1):
    """Run the demo and return the test metrics dict. See the module docstring."""
    from protkit.training import train

    fast = os.environ.get("PROTKIT_FAST") == "1" if fast is None else fast
    sizes = dict(n_images=240, image_size=48, epochs=3, folds=2, cv_epochs=1) if fast else \
        dict(n_images=2000, image_size=64, epochs=30, folds=3, cv_epochs=10)
    folder = RunFolder.open(out, overwrite=overwrite)
    started = time.perf_counter()
    say = functools.partial(print, flush=True) if verbose else (lambda *args, **kwargs: None)

    dataset = _synthetic_as_files(folder, sizes, seed, say)
    say(f"[3/{STEPS}] training the Fast Spec CNN (CPU preset) for {sizes['epochs']} epochs: sigmoid outputs + "
        f"binary cross-entropy, since an image can carry several labels")
    result = train(dataset, model="fast_spec_cnn", preset="cpu", out=folder / "run", image_size=sizes["image_size"],
                   epochs=sizes["epochs"], val_fraction=0.15, test_fraction=0.2, seed=seed, verbose=2 if verbose else 0)
    say(f"      split: {result.metrics['protocol']['split']}")

    say(f"[4/{STEPS}] the same test predictions under three metrics, next to two baselines")
    trap = metrics.accuracy_trap_table(dataset.labels[result.split["test"]], result.probabilities["test"],
                                       thresholds=result.config["thresholds"],
                                       reference_labels=dataset.labels[result.split["train"]])
    folder.write_table("accuracy_trap.csv", trap)
    cv, tables = _cross_validate_arms(folder, dataset, sizes, seed, say, bool(verbose))
    gradcam_layer = _gradcam_figure(folder, dataset, result, sizes["image_size"], say)

    say(f"[{STEPS}/{STEPS}] writing figures and the report")
    plots.save(plots.class_balance(dataset, title="Synthetic cells: images per label"), folder / "class_balance.png",
               close=True)
    plots.save(plots.sample_grid(dataset, per_class=4, seed=seed), folder / "samples.png", close=True)
    minutes = (time.perf_counter() - started) / 60
    folder.write_text("report.md", _report(sizes, minutes, result, trap, cv, tables, gradcam_layer))
    scores = result.metrics["test"]
    say("\n" + trap.round(3).to_string())
    say(f"\nmacro-F1 {scores['macro_f1']:.3f} | exact match {scores['exact_match_accuracy']:.3f} | "
        f"element-wise accuracy {scores['elementwise_accuracy']:.3f}  (test split; {minutes:.1f} min)")
    say(f"report: {folder / 'report.md'}")
    return scores


def _synthetic_as_files(folder, sizes, seed, say):
    """Steps 1-2: synthetic cells written in the HPA layout and read back as a user's folder would be."""
    n_images, image_size = sizes["n_images"], sizes["image_size"]
    say(f"[1/{STEPS}] generating {n_images} synthetic {image_size}x{image_size} cells (4 channels, 10 classes)")
    images, labels = make_cells(n_images, image_size=image_size, seed=seed)
    csv_path = write_hpa_layout(images, labels, folder / "data", class_names=SYNTHETIC_CLASSES)
    say(f"[2/{STEPS}] reading them back as a user's HPA-layout folder would be read")
    dataset = Dataset.from_csv(csv_path, pattern="{id}_{channel}.png", channels=list(HPA_CHANNEL_COLORS),
                               class_names=list(SYNTHETIC_CLASSES))
    summary = inspect_dataset(dataset)
    folder.write_json("dataset.json", summary)
    say(format_summary(summary))
    return dataset


def _cross_validate_arms(folder, dataset, sizes, seed, say, progress):
    """Step 5: every arm of `ARMS` on shared folds; the comparison tables exported and drawn."""
    folds = sizes["folds"]
    say(f"[5/{STEPS}] cross-validation: {folds} shared folds, Fast Spec CNN vs its ablation without attention "
        f"vs a traditional CNN ({sizes['cv_epochs']} epochs each)")
    cv = {}
    for name, options in ARMS.items():
        say(f"      {name}")
        cv[name] = cross_validate(dataset, k=folds, image_size=sizes["image_size"], epochs=sizes["cv_epochs"],
                                  seed=seed, out=folder / "cv" / name.replace(" ", "_").replace(",", ""),
                                  progress=progress, **options)
    tables = {metric: compare(cv, metric, reference="fast_spec_cnn") for metric in ("macro_f1", "exact_match_accuracy")}
    for metric, table in tables.items():
        export_table(table, folder / f"comparison_{metric}", caption=f"{metric}, {folds}-fold CV, synthetic cells")
    figure = plots.comparison_bars(tables["macro_f1"], metric="macro-F1", reference="fast_spec_cnn",
                                   title=f"macro-F1, {folds}-fold cross-validation")
    plots.save(figure, folder / "comparison_macro_f1.png", close=True)
    return cv, tables


def _gradcam_figure(folder, dataset, result, image_size, say):
    """Step 6: Grad-CAM of the top predicted label on four test images; returns the layer's name."""
    from protkit.explain import grad_cam, last_conv_layer

    say(f"[6/{STEPS}] Grad-CAM: where the Fast Spec CNN looked for its top label on test images")
    shown = result.split["test"][:4]
    test_images = load_images(dataset, shown, image_size=image_size, normalizer=result.normalizer)
    top = result.probabilities["test"][:4].argmax(axis=1)
    heatmaps = grad_cam(result.model, test_images, class_index=top)
    titles = [f"{SYNTHETIC_CLASSES[c]}" for c in top]
    plots.save(plots.heatmap_overlays(test_images, heatmaps, titles=titles, colors=list(HPA_CHANNEL_COLORS),
                                      normalizer=None), folder / "gradcam.png", close=True)
    return last_conv_layer(result.model)


def _report(sizes, minutes, result, trap, cv, tables, gradcam_layer):
    """The text of ``report.md``."""
    protocol, cv_protocol = result.metrics["protocol"], cv["fast_spec_cnn"].protocol
    lines = [
        "# protkit demo: Fast Spec CNN on synthetic HPA-like cells",
        "",
        f"{sizes['n_images']} synthetic {sizes['image_size']}x{sizes['image_size']} cells, 4 channels, 10 classes "
        f"(1-3 labels per image); {sizes['epochs']} epochs; {minutes:.1f} min in all.",
        "",
        f"Protocol: {protocol['split']}; thresholds {protocol['thresholds']}.",
        "",
        "Test split, the same predictions under each metric:",
        "",
        markdown_table(trap),
        "",
        "Element-wise accuracy rewards predicting nothing: the all-negative baseline scores high on it. "
        "Macro-F1 and exact-match accuracy are the numbers to read.",
        "",
        f"## Cross-validation ({sizes['folds']} folds, shared by all models, {sizes['cv_epochs']} epochs each)",
        "",
        f"Protocol: {cv_protocol['folds']}; {cv_protocol['inner_validation']}. "
        "Paired tests against the Fast Spec CNN (with few folds a paired test has little power: "
        "p > 0.05 means 'not shown', not 'no difference').",
        "",
        "macro-F1:",
        "",
        markdown_table(tables["macro_f1"], digits=4),
        "",
        "exact-match accuracy:",
        "",
        markdown_table(tables["exact_match_accuracy"], digits=4),
        "",
        "![comparison](comparison_macro_f1.png)",
        "",
        f"## Grad-CAM (Grad-CAM layer `{gradcam_layer}`, each image's top predicted label)",
        "",
        "![Grad-CAM](gradcam.png)",
        "",
        "Files: `run/` (model.keras, config.json, history.csv, metrics.json, learning curves), "
        "`accuracy_trap.csv`, `comparison_*.csv|md|tex`, `comparison_macro_f1.png`, `gradcam.png`, `cv/` "
        "(per-fold results; rerunning continues an interrupted cross-validation), `dataset.json`, "
        "`class_balance.png`, `samples.png`, `data/` (the images, HPA layout).",
    ]
    return "\n".join(lines) + "\n"
