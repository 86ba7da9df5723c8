"""Sanity checks of Grad-CAM (and attention maps) on briefly trained models: synthetic cells and IFC Jurkat.

For each data set a small classifier is trained with `protkit.training.train` (64x64, seeded
split with a 20 % test part) and its maps are checked on the first test images, each for its
top predicted class, with `protkit.explain.sanity_checks`:

- model randomization (Adebayo et al., 2018): mean Spearman correlation between the trained
  model's maps and those of 3 randomly initialized copies; pass below 0.3;
- deletion (Petsiuk et al., 2018): pixels removed most-relevant first in 20 steps (replaced by
  the image's per-channel mean); area under the class-score curve over the random-order area;
  pass below 0.8.

Diagnostic (no verdict): the deletion ratio when square patches of one feature-map cell are
removed instead of pixels, the random order shuffling the same patches. Scattered pixels make a
speckle no training image had, to which the Fast Spec CNN (through its spectrum) is sensitive.

Maps checked: Grad-CAM at the default layer (`protkit.explain.last_conv_layer`), Grad-CAM at the
layer the old default picked (the last 4D map: the Fast Spec CNN's attention output, the CNN's
8x8 pooling), and, for the Fast Spec CNN, its attention maps (`attention_heatmaps`).

Data: (a) "synthetic": the demo's HPA-like cells (4 channels, multi-label), as many and trained
as long as ``protkit demo`` does (`protkit.demo.SIZES["full"]`: 2,000 cells, 64 px, 30 epochs;
the Fast Spec CNN cpu preset as in the demo, and a traditional CNN); (b) "ifc": IFC Jurkat Experiment_1,
Ch3 brightfield, Ch4 DNA, Ch6 darkfield, 7 cell-cycle phases (same two models, balanced class
weights: Anaphase has 12 cells), 10 epochs each, about a minute per model on 2 cores. Both train
with protkit's recipe otherwise (warm-up + cosine, the best validation epoch kept).

Run:
    python benchmarks/explain_sanity.py                 # full: about 5 min on 2 cores
    python benchmarks/explain_sanity.py --quick         # smoke test, about 1 min
    python benchmarks/explain_sanity.py --sections ifc --update --figures /tmp/maps
"""

from __future__ import annotations

import pathlib
import time

import numpy as np

from _common import (RESULTS, begin_report, finish_report, open_ifc, print_heading, run_section, standard_parser,
                     stratified_subset, write_json)
from protkit.demo import SIZES

DEFAULT_OUT = RESULTS / "explain_sanity.json"
SEED = 0
SECTIONS = ("synthetic", "ifc")
MODELS = {"fast_spec_cnn": {"model": "fast_spec_cnn", "preset": "cpu"}, "cnn": {"model": "cnn"}}
DEMO = SIZES["full"]
MODES = {
    "full": dict(synthetic_items=DEMO["n_images"], ifc_items=None, image_size=DEMO["image_size"], epochs=10,
                 demo_epochs=DEMO["epochs"], checked=64, steps=20),
    "quick": dict(synthetic_items=300, ifc_items=400, image_size=64, epochs=2, demo_epochs=2, checked=16, steps=5),
}


def _synthetic(mode):
    from protkit.data import Dataset
    from protkit.data.synthetic import HPA_CHANNEL_COLORS, SYNTHETIC_CLASSES, make_cells

    images, labels = make_cells(mode["synthetic_items"], image_size=mode["image_size"], seed=SEED)
    return Dataset.from_arrays(images, labels, class_names=SYNTHETIC_CLASSES, channel_names=HPA_CHANNEL_COLORS)


def _previous_default(model):
    """The layer the old `last_conv_layer` picked: the last layer with a 4D output."""
    return [layer.name for layer in model.layers if len(layer.output.shape) == 4][-1]


def _scores(sanity):
    randomization, deletion = sanity["randomization"], sanity["deletion"]
    return {"layer": sanity["layer"], "space": sanity["space"], "passed": sanity["passed"],
            "randomization_spearman": randomization["spearman_mean"],
            "randomization_per_initialization": randomization["per_initialization"],
            "randomization_passed": randomization["passed"], "deletion_auc": deletion["auc"],
            "deletion_random_auc": deletion["random_auc"], "deletion_ratio": deletion["ratio"],
            "deletion_passed": deletion["passed"], "deletion_curve": deletion["curve"],
            "deletion_random_curve": deletion["random_curve"],
            "diagnostic_deletion_in_patches": {key: sanity["deletion_patches"][key]
                                               for key in ("patch", "ratio", "passed", "curve", "random_curve")}}


def _check_model(section, name, dataset, mode, figures, channel, class_weight=None):
    from protkit import plots
    from protkit.data import load_images
    from protkit.explain import attention_heatmaps, deletion_curve, grad_cam, sanity_checks
    from protkit.training import train

    started = time.perf_counter()
    epochs = mode["demo_epochs"] if section == "synthetic" else mode["epochs"]  # the demo trains 30 epochs
    result = train(dataset, image_size=mode["image_size"], epochs=epochs, val_fraction=0.15,
                   test_fraction=0.2, class_weight=class_weight, seed=SEED, verbose=0, **MODELS[name])
    minutes = (time.perf_counter() - started) / 60
    model, test = result.model, result.split["test"][:mode["checked"]]
    images = load_images(dataset, test, image_size=mode["image_size"], normalizer=result.normalizer)
    checks = {"default layer": sanity_checks(model, images, steps=mode["steps"], seed=SEED)}
    previous = _previous_default(model)
    if previous != checks["default layer"]["layer"]:
        checks["previous default layer"] = sanity_checks(model, images, layer=previous, steps=mode["steps"], seed=SEED)
    if "attention" in [layer.name for layer in model.layers]:
        checks["attention maps"] = sanity_checks(model, images, explainer=attention_heatmaps, steps=mode["steps"],
                                                 seed=SEED)
    # Diagnostic: deletion in patches of one feature-map cell of the default layer, random order shuffling the
    # same patches (both orders then remove blocks alike; scattered pixels make speckle no training image had).
    cell = mode["image_size"] // min(model.get_layer(checks["default layer"]["layer"]).output.shape[1:3])
    for kind, sanity in checks.items():
        maps = attention_heatmaps(model, images) if sanity["layer"] is None else None
        sanity["deletion_patches"] = deletion_curve(model, images, maps, class_index=sanity["classes"],
                                                    layer=sanity["layer"], steps=mode["steps"], seed=SEED, patch=cell)
        print(f"  {name:14s} {kind:24s} layer {sanity['layer']!s:10s} randomization rho "
              f"{sanity['randomization']['spearman_mean']:+.3f} | deletion ratio {sanity['deletion']['ratio']:.3f} "
              f"| {'passed' if sanity['passed'] else 'failed'} | in {cell}x{cell} patches "
              f"{sanity['deletion_patches']['ratio']:.3f}", flush=True)
    if figures is not None:
        sanity = checks["default layer"]
        shown = sanity["classes"][:4]
        heat = grad_cam(model, images[:4], class_index=shown, layer=sanity["layer"])
        titles = [f"true: {_label_text(dataset, item)}\nexplained: {dataset.class_names[c]}"
                  for item, c in zip(test[:4], shown)]
        plots.save(plots.heatmap_overlays(images[:4], heat, titles=titles, normalizer=None, channel=channel,
                                          channel_names=dataset.channel_names),
                   figures / f"{section}_{name}_gradcam.png", overwrite=True, close=True)
        plots.save(plots.sanity_checks(sanity), figures / f"{section}_{name}_sanity.png", overwrite=True, close=True)
    explained = np.bincount(checks["default layer"]["classes"], minlength=dataset.num_classes)
    return {"train_minutes": minutes, "test_metrics": {k: result.metrics["test"][k] for k in _headline(result)},
            "images_checked": len(images), "feature_map": list(model.get_layer(checks["default layer"]["layer"])
                                                               .output.shape[1:3]),
            "explained_classes": dict(zip(dataset.class_names, explained.tolist())),
            "checks": {kind: _scores(sanity) for kind, sanity in checks.items()}}


def _headline(result):
    return [key for key in ("macro_f1", "exact_match_accuracy", "balanced_accuracy", "accuracy")
            if key in result.metrics["test"]]


def _label_text(dataset, item):
    labels = dataset.labels[item]
    if np.ndim(labels):
        return ", ".join(dataset.class_names[k] for k in np.flatnonzero(labels))
    return dataset.class_names[int(labels)]


def bench(section, data_dir, mode, figures):
    if section == "synthetic":
        dataset, channel, weights = _synthetic(mode), "green", None
        what = "synthetic HPA-like cells (the demo's generator), multi-label; maps drawn over green (protein)"
    else:
        dataset, channel, weights = stratified_subset(open_ifc(data_dir), mode["ifc_items"], SEED), "Ch4", "balanced"
        what = ("IFC Jurkat Experiment_1, Ch3 brightfield + Ch4 DNA + Ch6 darkfield, 7 phases, balanced class "
                "weights; maps drawn over Ch4 (DNA)")
    print(f"\n{section}: {len(dataset)} images, {what}", flush=True)
    models = {name: _check_model(section, name, dataset, mode, figures, channel, weights) for name in MODELS}
    return {"data": what, "items": len(dataset), "models": models}


def _show(report):
    print_heading(report, "explanation sanity")
    print(f"{'set':10s} {'model':14s} {'maps':24s} {'layer':11s} {'rand. rho':>9s} {'del. ratio':>10s}  verdict"
          f"  {'patches':>7s}   (pass: rho < 0.3, ratio < 0.8; patches: deletion in feature-map cells)")
    for section in SECTIONS:
        for name, entry in report.get(section, {}).get("models", {}).items():
            for kind, scores in entry["checks"].items():
                print(f"{section:10s} {name:14s} {kind:24s} {scores['layer']!s:11s} "
                      f"{scores['randomization_spearman']:+9.3f} {scores['deletion_ratio']:10.3f}  "
                      f"{'passed' if scores['passed'] else 'failed'}  "
                      f"{scores['diagnostic_deletion_in_patches']['ratio']:7.3f}")


def main(argv=None):
    parser = standard_parser(__doc__, SECTIONS, DEFAULT_OUT)
    parser.add_argument("--figures", type=pathlib.Path, help="also save Grad-CAM and sanity figures in this folder")
    args, sections, mode, report = begin_report(parser, argv, "explain_sanity", SECTIONS, MODES, SEED)
    report["pass_marks"] = {"randomization_spearman_below": 0.3, "deletion_area_ratio_below": 0.8}
    began = time.perf_counter()
    for section in sections:
        if run_section(report, section, lambda: bench(section, args.data, mode, args.figures)):
            write_json(report, args.out)
    finish_report(report, args.out, began=began, minutes=True, show=_show)


if __name__ == "__main__":
    main()
