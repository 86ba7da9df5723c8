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
3. explains test predictions with Grad-CAM heatmaps, and checks the maps (model randomization,
   deletion curve) before anyone reads them;

and writes ``report.md`` with the tables and figures into RUN_DIR.
"""

from __future__ import annotations

import functools
import os
import time

import numpy as np

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


# The demo's sizes (fast: PROTKIT_FAST=1, for CI and a first look) and how its model is trained; the
# explanation benchmark (benchmarks/explain_sanity.py) trains the same model to check its maps.
SIZES = {"fast": dict(n_images=240, image_size=48, epochs=3, folds=2, cv_epochs=1),
         "full": dict(n_images=2000, image_size=64, epochs=30, folds=3, cv_epochs=10)}
TRAINING = dict(model="fast_spec_cnn", preset="cpu", val_fraction=0.15, test_fraction=0.2)


def run_demo(out, fast=None, overwrite=False, seed=0, verbose=1):
    """Run the demo and return the test metrics dict. See the module docstring."""
    from protkit.training import train

    fast = os.environ.get("PROTKIT_FAST") == "1" if fast is None else fast
    sizes = SIZES["fast" if fast else "full"]
    folder = RunFolder.open(out, overwrite=overwrite)
    started = time.perf_counter()
    say = functools.partial(print, flush=True) if verbose else (lambda *args, **kwargs: None)

    dataset = _synthetic_as_files(folder, sizes, seed, say)
    say(f"[3/{STEPS}] training the Fast Spec CNN (CPU preset) for {sizes['epochs']} epochs: sigmoid outputs + "
        f"binary cross-entropy, since an image can carry several labels")
    result = train(dataset, out=folder / "run", image_size=sizes["image_size"], epochs=sizes["epochs"], seed=seed,
                   verbose=2 if verbose else 0, **TRAINING)
    say(f"      split: {result.metrics['protocol']['split']}")

    say(f"[4/{STEPS}] the same test predictions under three metrics, next to two baselines")
    trap = metrics.accuracy_trap_table(dataset.labels[result.split["test"]], result.probabilities["test"],
                                       thresholds=result.config["thresholds"],
                                       label_count=result.config.get("label_count_bounds"),
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


def _gradcam_figure(folder, dataset, result, image_size, say, shown_count=4, checked_count=32):
    """Step 6: Grad-CAM of the top predicted label on test images, over the protein channel, and
    its two sanity checks (`protkit.explain.sanity_checks`) on up to ``checked_count`` test images.

    Writes ``gradcam.png``, ``gradcam_sanity.png`` and ``gradcam_sanity.json``; returns the
    sanity results (a dict).
    """
    from protkit.explain import grad_cam, last_conv_layer, sanity_checks

    model, test = result.model, result.split["test"]
    layer = last_conv_layer(model)
    say(f"[6/{STEPS}] Grad-CAM (layer {layer!r}): where the Fast Spec CNN looked for its top label on test images, "
        f"and the maps' sanity checks")
    checked = load_images(dataset, test[:checked_count], image_size=image_size, normalizer=result.normalizer)
    sanity = sanity_checks(model, checked, layer=layer, steps=10, seed=0)
    plots.save(plots.sanity_checks(sanity), folder / "gradcam_sanity.png", close=True)
    shown, probabilities = checked[:shown_count], result.probabilities["test"][:shown_count]
    top = probabilities.argmax(axis=1)
    heatmaps = grad_cam(model, shown, class_index=top, layer=layer)
    names = dataset.class_names
    titles = [f"true: {', '.join(names[k] for k in np.flatnonzero(dataset.labels[item]))}\n"
              f"explained: {names[c]}\n(predicted p = {p[c]:.2f})"
              for item, c, p in zip(test[:shown_count], top, probabilities)]
    randomization, deletion = sanity["randomization"], sanity["deletion"]
    title = (f"Grad-CAM at {layer!r} for the top predicted label, over the protein channel\n"
             f"sanity: randomization rho = {randomization['spearman_mean']:.2f} (pass < 0.3), deletion area ratio "
             f"{deletion['ratio']:.2f} (pass < 0.8): {'trust with care' if sanity['passed'] else 'do not trust'}")
    plots.save(plots.heatmap_overlays(shown, heatmaps, titles=titles, colors=list(HPA_CHANNEL_COLORS),
                                      normalizer=None, channel="green", channel_names=dataset.channel_names,
                                      title=title), folder / "gradcam.png", close=True)
    say(f"      sanity on {len(checked)} test images: randomization rho {randomization['spearman_mean']:.3f} "
        f"(pass < 0.3: {randomization['passed']}), deletion area ratio {deletion['ratio']:.3f} "
        f"(pass < 0.8: {deletion['passed']})")
    sanity["feature_map"] = tuple(model.get_layer(layer).output.shape[1:3])
    sanity["images_checked"] = len(checked)
    sanity["attention"] = _attention_figure(folder, dataset, result, checked, test, shown_count, say)
    folder.write_json("gradcam_sanity.json", metrics.to_jsonable(sanity))
    return sanity


def _attention_figure(folder, dataset, result, checked, test, shown_count, say):
    """Step 6, second kind of map: the attention the Fast Spec CNN's positions receive (class-independent),
    with the same two sanity checks; writes ``attention.png`` and returns the checks (None without attention)."""
    from protkit.explain import attention_heatmaps, sanity_checks

    model = result.model
    if "attention" not in [layer.name for layer in model.layers]:
        return None
    sanity = sanity_checks(model, checked, explainer=attention_heatmaps, steps=10, seed=0)
    shown = checked[:shown_count]
    names = dataset.class_names
    titles = [f"true: {', '.join(names[k] for k in np.flatnonzero(dataset.labels[item]))}\n"
              f"top: {names[p.argmax()]} (p = {p.max():.2f})"
              for item, p in zip(test[:shown_count], result.probabilities["test"][:shown_count])]
    randomization, deletion = sanity["randomization"], sanity["deletion"]
    title = (f"Attention received by each position (all labels alike), over the protein channel\n"
             f"sanity: randomization rho = {randomization['spearman_mean']:.2f} (pass < 0.3), deletion area ratio "
             f"{deletion['ratio']:.2f} (pass < 0.8): {'trust with care' if sanity['passed'] else 'do not trust'}")
    plots.save(plots.heatmap_overlays(shown, attention_heatmaps(model, shown), titles=titles,
                                      colors=list(HPA_CHANNEL_COLORS), normalizer=None, channel="green",
                                      channel_names=dataset.channel_names, title=title),
               folder / "attention.png", close=True)
    say(f"      attention maps: randomization rho {randomization['spearman_mean']:.3f}, deletion area ratio "
        f"{deletion['ratio']:.3f}: {'both pass' if sanity['passed'] else 'a check fails'}")
    return {key: sanity[key] for key in ("randomization", "deletion", "passed")}


def _report(sizes, minutes, result, trap, cv, tables, gradcam):
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
        *_gradcam_lines(gradcam),
        "Files: `run/` (model.keras, config.json, history.csv, metrics.json, learning curves), "
        "`accuracy_trap.csv`, `comparison_*.csv|md|tex`, `comparison_macro_f1.png`, `gradcam.png`, "
        "`gradcam_sanity.png|json`, `cv/` "
        "(per-fold results; rerunning continues an interrupted cross-validation), `dataset.json`, "
        "`class_balance.png`, `samples.png`, `data/` (the images, HPA layout).",
    ]
    return "\n".join(lines) + "\n"


def _gradcam_lines(sanity):
    """The report's Grad-CAM section: the layer, the sanity scores against their pass marks, a caveat."""
    randomization, deletion = sanity["randomization"], sanity["deletion"]
    height, width = sanity["feature_map"]
    mixed = (" This model's maps also mix image positions with spatial frequencies (its FFT spectrum is stacked "
             "onto the image's channels before the first convolution); `spectral=\"spatial\"` gives maps in image "
             "space." if sanity["space"] == "mixed" else "")
    verdict = ("Caveat: both checks pass, yet Grad-CAM stays coarse (one value per feature-map cell) and shows "
               "association, not cause." if sanity["passed"] else
               "Caveat: a check fails, so these maps do not show what the model relies on; read them as a picture "
               "of one feature map, not as where the evidence lies." + mixed)
    return [
        f"## Grad-CAM (layer `{sanity['layer']}`, a {height}x{width} map in {sanity['space']} space; each image's "
        "top predicted label, over the protein channel)",
        "",
        "![Grad-CAM](gradcam.png)",
        "",
        f"Sanity checks of these maps on {sanity['images_checked']} test images (`gradcam_sanity.json`):",
        "",
        f"- model randomization: mean Spearman correlation between the trained and randomized models' maps "
        f"{randomization['spearman_mean']:.3f} (pass < {randomization['pass_mark']:g}): "
        f"{'passed' if randomization['passed'] else 'failed'};",
        f"- deletion (most relevant pixels first, replaced by the image mean): area under the curve "
        f"{deletion['auc']:.3f} vs {deletion['random_auc']:.3f} in random order, ratio {deletion['ratio']:.3f} "
        f"(pass < {deletion['pass_ratio']:g}): {'passed' if deletion['passed'] else 'failed'}.",
        "",
        "![sanity checks](gradcam_sanity.png)",
        "",
        verdict,
        "",
        *_attention_lines(sanity.get("attention"), sanity["passed"]),
    ]


def _attention_lines(attention, gradcam_passed):
    """The report's lines on the attention maps and their checks (none for a model without attention)."""
    if attention is None:
        return []
    randomization, deletion = attention["randomization"], attention["deletion"]
    advice = ("Both kinds of map pass: they can be read side by side." if attention["passed"] and gradcam_passed else
              "The attention maps pass both checks where Grad-CAM does not: read these, not the Grad-CAM maps "
              "(they show where the model gathers evidence for all labels at once, not for one label)."
              if attention["passed"] else "Neither kind of map passes both checks on this model.")
    return [
        "## Attention maps (where the positions of the attention block look; the same for every label)",
        "",
        "![attention](attention.png)",
        "",
        f"Sanity checks on the same test images: randomization rho {randomization['spearman_mean']:.3f} "
        f"(pass < {randomization['pass_mark']:g}), deletion area ratio {deletion['ratio']:.3f} "
        f"(pass < {deletion['pass_ratio']:g}): {'both pass' if attention['passed'] else 'a check fails'}. {advice}",
        "",
    ]
