"""protkit's defaults side by side with a plain-Keras reference CNN, on the same data and split.

The reference is what a user writes by hand in about 30 lines: three stages of two 3x3
convolutions + batch norm + ReLU (32, 64, 128 filters) with 2x2 max-pooling, global average
pooling, dropout 0.3, softmax (sigmoid for multi-label); random flips and rotations as Keras
layers; Adam 1e-3 with cosine decay; batch 64; 15 epochs at the images' native size; pixels
divided by the dtype range; the last epoch kept. `reference_cnn` and `train_reference` below are
exactly that and use nothing of protkit but its readers (so both arms see the same pixels).

protkit's arm is `protkit.training.train` with no recipe argument at all (what `protkit train
DATA --out RUN` does), then `protkit.inference.evaluate_run` on the held-out part.

Sections and protocols (mean class accuracy = balanced accuracy, on items neither arm trained on):
- hep2: HEp-2 ICPR 2014 `training/` (8,701 cells) to train, `validation/` (2,175 cells) to score,
  as the contest distributes them (no specimen ids; split per cell). Native size 78 px.
- ifc: Jurkat IFC Experiment_1 (Ch3, Ch4, Ch6; 2,734 cells), a stratified 80/20 split (seed 0)
  of a folder-per-class set of another kind. Native size 40 px (the images' common crop).
- ifc_cv: the same cells, 5 stratified folds (seed 0; `protkit.evaluation.cross_validate` with no
  recipe argument, whose runs hold 15 % of each training fold out to keep the best epoch; the
  reference trains on the whole training fold); per-fold mean class accuracy, paired tests.
  Resumes by fold with --workdir (about 80 min on 2 cores).
- hep2_budget: the budget curve. For each wall-clock budget (5, 15, 30, 60 minutes, counted from
  the start of each arm's training call, loading included, scoring on `validation/` not), both
  arms on HEp-2 `training/` → `validation/`, one process at a time: protkit's `train(...,
  time_budget=B)` with no other recipe argument, and the reference with the epochs that fit B
  (a copy of it timed on 10 batches; cosine decay over those epochs). Reported per budget: mean
  class accuracy, epochs, minutes, and protkit's error over the reference's (issue 14's target:
  ≤ 0.7 at every budget). About 4 hours; resumes per arm and budget with --workdir.

Run:
    python benchmarks/reference.py --sections hep2,ifc  # the two single-split sections (about an hour on 2 cores)
    python benchmarks/reference.py --sections ifc --update
    python benchmarks/reference.py --sections ifc_cv --update --workdir W
    python benchmarks/reference.py --sections hep2_budget --update --workdir W
    python benchmarks/reference.py --sections hep2_budget --budgets 5,15 --update --workdir W   # some points
    python benchmarks/reference.py --quick              # smoke test
    python benchmarks/reference.py --sections hep2 --candidates --update   # the CANDIDATES recipes
    python benchmarks/reference.py --protkit-only --update   # protkit's arm again (after a recipe change)
"""

from __future__ import annotations

import time

import numpy as np
from _common import (RESULTS, begin_report, finish_report, open_hep2, open_ifc, print_heading, resumable_row,
                     run_section, standard_parser, stratified_subset, work_folder)

DEFAULT_OUT = RESULTS / "reference.json"
SEED = 0
SECTIONS = ("hep2", "ifc", "ifc_cv", "hep2_budget")
CV_FOLDS = 5
NATIVE = {"hep2": 78, "ifc": 40, "ifc_cv": 40, "hep2_budget": 78}
MODES = {"full": dict(items=None, reference_epochs=15, budgets=(5, 15, 30, 60)),
         "quick": dict(items=300, reference_epochs=1, budgets=(0.5,))}
# Recipes made of protkit's existing options, run with --candidates and scored once on the held-out
# part (every one scored is listed in the JSON); chosen before seeing that part, not tuned on it.
RECIPE_KEYS = ("model", "preset", "image_size", "epochs", "batch_size", "learning_rate", "lr_schedule",
               "label_smoothing", "class_weight", "keep", "tta", "calibration")
CANDIDATES = {
    "resnet-18 (width 16), native size, cosine, best epoch, dihedral TTA": dict(
        model="resnet", model_kwargs={"depth": 18, "width": 16}, native_size=True, lr_schedule="cosine",
        early_stopping=5, tta="dihedral"),
}


def reference_cnn(input_shape, num_classes, multi_label=False):
    """The plain-Keras reference network (see the module docstring)."""
    import keras

    inputs = keras.Input(input_shape)
    x = keras.layers.RandomFlip("horizontal_and_vertical")(inputs)
    x = keras.layers.RandomRotation(0.5, fill_mode="reflect")(x)
    for filters in (32, 64, 128):
        for _ in range(2):
            x = keras.layers.Conv2D(filters, 3, padding="same", use_bias=False)(x)
            x = keras.layers.BatchNormalization()(x)
            x = keras.layers.ReLU()(x)
        x = keras.layers.MaxPooling2D()(x)
    x = keras.layers.GlobalAveragePooling2D()(x)
    x = keras.layers.Dropout(0.3)(x)
    outputs = keras.layers.Dense(num_classes, activation="sigmoid" if multi_label else "softmax")(x)
    return keras.Model(inputs, outputs)


def train_reference(x, y, num_classes, epochs=15, batch_size=64, seed=0, multi_label=False):
    """Fit `reference_cnn` on images ``x`` (N, H, W, C) in [0, 1] and labels ``y``; the last epoch kept."""
    import keras

    keras.utils.set_random_seed(seed)
    model = reference_cnn(x.shape[1:], num_classes, multi_label)
    steps = epochs * -(-len(x) // batch_size)
    model.compile(optimizer=keras.optimizers.Adam(keras.optimizers.schedules.CosineDecay(1e-3, steps)),
                  loss="binary_crossentropy" if multi_label else "categorical_crossentropy")
    targets = y.astype("float32") if multi_label else np.eye(num_classes, dtype="float32")[y]
    model.fit(x, targets, epochs=epochs, batch_size=batch_size, shuffle=True, verbose=2)
    return model


def reference_epochs_in(x, y, num_classes, seconds_left, batch_size=64, seed=0, steps=10):
    """Epochs of `train_reference` that fit ``seconds_left``: a throwaway copy timed on ``steps`` batches."""
    import keras

    keras.utils.set_random_seed(seed + 1)
    probe = reference_cnn(x.shape[1:], num_classes)
    probe.compile(optimizer="adam", loss="categorical_crossentropy")
    targets = np.eye(num_classes, dtype="float32")[y]
    batch = slice(0, batch_size)
    began = time.perf_counter()
    probe.train_on_batch(x[batch], targets[batch])  # traces the step (the real fit traces once too)
    trace_s = time.perf_counter() - began
    began = time.perf_counter()
    for step in range(steps):
        start = (step * batch_size) % max(len(x) - batch_size, 1)
        probe.train_on_batch(x[start:start + batch_size], targets[start:start + batch_size])
    step_s = (time.perf_counter() - began) / steps
    epoch_s = step_s * -(-len(x) // batch_size)
    return max(int((seconds_left - trace_s - 5.0) // epoch_s), 1), epoch_s


def run_budget(data_dir, mode, workdir):
    """hep2_budget: both arms at every budget of ``mode`` (see the module docstring)."""
    from protkit.data import load_images
    from protkit.inference import evaluate_run, load_run
    from protkit.metrics import singlelabel_metrics
    from protkit.training import train

    train_part, held_out = _parts("hep2", data_dir, mode["items"])
    size = NATIVE["hep2_budget"]

    def measure(arm, budget):
        print(f"\nhep2_budget: {arm}, {budget:g} min", flush=True)
        started = time.perf_counter()
        if arm == "reference":
            x = load_images(train_part, image_size=size, normalizer="fixed")
            epochs, epoch_s = reference_epochs_in(x, train_part.labels, train_part.num_classes,
                                                  60.0 * budget - (time.perf_counter() - started), seed=SEED)
            model = train_reference(x, train_part.labels, train_part.num_classes, epochs=epochs, seed=SEED)
            minutes = (time.perf_counter() - started) / 60
            probabilities = model.predict(load_images(held_out, image_size=size, normalizer="fixed"), verbose=0)
            scores = singlelabel_metrics(held_out.labels, probabilities, class_names=held_out.class_names)
            extra = {"epoch_s_planned": epoch_s}
        else:
            folder = workdir / "hep2_budget" / f"protkit_{budget:g}"
            trained = train(train_part, out=folder, seed=SEED, verbose=2, overwrite=True, time_budget=budget)
            minutes = (time.perf_counter() - started) / 60
            scores = evaluate_run(load_run(folder), held_out)
            epochs = trained.config["budget_epochs"]
            extra = {"budget_plan": trained.config["budget_plan"], "kept_epoch": trained.config.get("kept_epoch")}
        return {"arm": arm, "budget_minutes": budget, "minutes": minutes, "epochs": epochs,
                "balanced_accuracy": float(scores["balanced_accuracy"]), "macro_f1": float(scores["macro_f1"]),
                **extra}

    rows = [resumable_row(workdir / "hep2_budget" / f"{arm}_{budget:g}.json", lambda: measure(arm, budget))
            for budget in mode["budgets"] for arm in ("reference", "protkit_defaults")]
    curve = []
    for budget in mode["budgets"]:
        pair = {row["arm"]: row for row in rows if row["budget_minutes"] == budget}
        reference_error = 1.0 - pair["reference"]["balanced_accuracy"]
        error_ratio = (1.0 - pair["protkit_defaults"]["balanced_accuracy"]) / max(reference_error, 1e-12)
        curve.append({"budget_minutes": budget, "reference": pair["reference"], "protkit_defaults":
                      pair["protkit_defaults"], "error_ratio": error_ratio, "target_met": error_ratio <= 0.7})
    return {"train_items": len(train_part), "held_out_items": len(held_out), "native_size": size, "curve": curve,
            "protocol": "HEp-2 training/ -> validation/ (per cell, as distributed), seed 0; wall-clock budget per "
                        "arm from its training call (loading included; scoring on validation/ not); one process at "
                        "a time; error ratio = (1 - protkit) / (1 - reference), mean class accuracy"}


def _parts(name, data_dir, items):
    """(training dataset, held-out dataset) of a section."""
    if name in ("hep2", "hep2_budget"):
        train, held_out = open_hep2(data_dir), open_hep2(data_dir, "validation")
        return stratified_subset(train, items, SEED), stratified_subset(held_out, items and items // 2, SEED)
    from protkit.data import train_val_test_split

    dataset = stratified_subset(open_ifc(data_dir), items, SEED)
    keep, held, _ = train_val_test_split(dataset.labels, val_fraction=0.2, seed=SEED)
    return dataset.subset(keep), dataset.subset(held)


def run_candidates(name, data_dir, mode, workdir):
    """Each recipe of `CANDIDATES` through `protkit.training.train`, scored once on the held-out part."""
    from protkit.inference import evaluate_run, load_run
    from protkit.training import train

    train_part, held_out = _parts(name, data_dir, mode["items"])
    results = {}
    for label, options in CANDIDATES.items():
        options = dict(options)
        if options.pop("native_size", False):
            options["image_size"] = NATIVE[name]
        print(f"\n{name}: candidate {label}", flush=True)
        folder = workdir / f"{name}_candidate_{len(results)}"
        started = time.perf_counter()
        train(train_part, out=folder, seed=SEED, verbose=2, overwrite=True,
              epochs=1 if mode["reference_epochs"] == 1 else 15, **options)
        minutes = (time.perf_counter() - started) / 60
        scores = evaluate_run(load_run(folder), held_out)
        results[label] = {"balanced_accuracy": scores["balanced_accuracy"], "accuracy": scores["accuracy"],
                          "macro_f1": scores["macro_f1"], "minutes": minutes, "options": options}
    return results


def run_protkit(name, data_dir, mode, workdir):
    """protkit's arm alone: `train` with no recipe argument, scored on the held-out part."""
    from protkit.inference import evaluate_run, load_run
    from protkit.training import train

    train_part, held_out = _parts(name, data_dir, mode["items"])
    print(f"\n{name}: protkit train with its defaults", flush=True)
    folder = workdir / f"{name}_protkit_defaults"
    started = time.perf_counter()
    trained = train(train_part, out=folder, seed=SEED, verbose=2, overwrite=True,
                    **({"epochs": 1} if mode["reference_epochs"] == 1 else {}))
    minutes = (time.perf_counter() - started) / 60
    scores = evaluate_run(load_run(folder), held_out)
    recipe = {key: trained.config.get(key) for key in RECIPE_KEYS}
    return {"balanced_accuracy": scores["balanced_accuracy"], "accuracy": scores["accuracy"],
            "macro_f1": scores["macro_f1"], "minutes": minutes, "recipe": recipe,
            "kept_epoch": trained.config.get("kept_epoch"), "calibration": scores.get("calibration")}


def run_set(name, data_dir, mode, workdir):
    from protkit.data import load_images
    from protkit.metrics import singlelabel_metrics

    train_part, held_out = _parts(name, data_dir, mode["items"])
    if list(train_part.class_names) != list(held_out.class_names):
        raise ValueError(f"{name}: the two parts name their classes differently")
    size = NATIVE[name]
    result = {"train_items": len(train_part), "held_out_items": len(held_out), "native_size": size}

    print(f"\n{name}: plain-Keras reference, {mode['reference_epochs']} epochs at {size} px", flush=True)
    started = time.perf_counter()
    x = load_images(train_part, image_size=size, normalizer="fixed")
    model = train_reference(x, train_part.labels, train_part.num_classes, epochs=mode["reference_epochs"], seed=SEED)
    minutes = (time.perf_counter() - started) / 60
    probabilities = model.predict(load_images(held_out, image_size=size, normalizer="fixed"), verbose=0)
    scores = singlelabel_metrics(held_out.labels, probabilities, class_names=held_out.class_names)
    result["reference"] = {"balanced_accuracy": scores["balanced_accuracy"], "accuracy": scores["accuracy"],
                           "macro_f1": scores["macro_f1"], "minutes": minutes}

    result["protkit_defaults"] = run_protkit(name, data_dir, mode, workdir)
    result["difference_balanced_accuracy"] = (result["protkit_defaults"]["balanced_accuracy"]
                                              - result["reference"]["balanced_accuracy"])
    return result


def run_cv(data_dir, mode, workdir):
    """ifc_cv: both arms on the same 5 stratified folds of the IFC cells (see the module docstring)."""
    import json

    from protkit.data import kfold_indices, load_images
    from protkit.evaluation import confidence_interval, cross_validate, paired_tests
    from protkit.metrics import singlelabel_metrics

    dataset = stratified_subset(open_ifc(data_dir), mode["items"], SEED)
    folds = 2 if mode["reference_epochs"] == 1 else CV_FOLDS
    size = NATIVE["ifc_cv"]
    cv = cross_validate(dataset, k=folds, seed=SEED, out=workdir / "ifc_cv_protkit",
                        **({"epochs": 1} if mode["reference_epochs"] == 1 else {}))
    protkit_minutes = float(cv.folds["minutes"].sum())  # the folds' own, also when loaded from workdir
    protkit_scores = cv.folds["balanced_accuracy"].tolist()
    recipe = json.loads((workdir / "ifc_cv_protkit" / "fold_0" / "config.json").read_text())
    reference, reference_minutes = [], 0.0

    def reference_fold(fold, train_idx, test_idx):
        print(f"\nifc_cv: plain-Keras reference, fold {fold + 1}/{folds}", flush=True)
        began = time.perf_counter()
        part = dataset.subset(train_idx)
        model = train_reference(load_images(part, image_size=size, normalizer="fixed"), part.labels,
                                dataset.num_classes, epochs=mode["reference_epochs"], seed=SEED)
        probabilities = model.predict(load_images(dataset.subset(test_idx), image_size=size, normalizer="fixed"),
                                      verbose=0)
        scores = singlelabel_metrics(dataset.labels[test_idx], probabilities, class_names=dataset.class_names)
        return {"balanced_accuracy": float(scores["balanced_accuracy"]), "macro_f1": float(scores["macro_f1"]),
                "minutes": (time.perf_counter() - began) / 60}

    for fold, (train_idx, test_idx) in enumerate(kfold_indices(dataset.labels, k=folds, seed=SEED)):
        row = resumable_row(workdir / "ifc_cv_reference" / f"fold_{fold}.json",
                            lambda: reference_fold(fold, train_idx, test_idx))
        reference.append(row)
        reference_minutes += row["minutes"]
    arms = {}
    for arm, values, minutes in (("reference", [row["balanced_accuracy"] for row in reference], reference_minutes),
                                 ("protkit_defaults", protkit_scores, protkit_minutes)):
        low, high = confidence_interval(values)
        arms[arm] = {"balanced_accuracy": float(np.mean(values)), "std": float(np.std(values, ddof=1)),
                     "ci_low": low, "ci_high": high, "per_fold": [float(v) for v in values], "minutes": minutes}
    arms["protkit_defaults"]["recipe"] = {key: recipe.get(key) for key in RECIPE_KEYS}
    return {"items": len(dataset), "folds": folds, "native_size": size, **arms,
            "protocol": f"{folds}-fold stratified per cell, seed {SEED}; mean class accuracy per held-out fold; "
                        f"mean, sample std, 95 % t-interval; protkit's runs keep 15 % of each training fold for "
                        f"the best epoch and the temperature",
            "paired_tests": paired_tests(protkit_scores, arms["reference"]["per_fold"]),
            "difference_balanced_accuracy": arms["protkit_defaults"]["balanced_accuracy"]
            - arms["reference"]["balanced_accuracy"]}


def show(report):
    print_heading(report, "reference")
    for name in SECTIONS:
        section = report.get(name)
        if not isinstance(section, dict):
            continue
        if name == "hep2_budget":
            print(f"\nhep2_budget: {section['protocol']}")
            for point in section["curve"]:
                ref, ours = point["reference"], point["protkit_defaults"]
                print(f"  {point['budget_minutes']:5g} min: reference {ref['balanced_accuracy']:.4f} ({ref['epochs']} "
                      f"epochs, {ref['minutes']:.1f} min)  protkit {ours['balanced_accuracy']:.4f} ({ours['epochs']} "
                      f"epochs, {ours['minutes']:.1f} min)  error ratio {point['error_ratio']:.2f}")
            continue
        if name == "ifc_cv":
            print(f"\nifc_cv: {section['items']} cells, {section['protocol']}")
            for arm in ("reference", "protkit_defaults"):
                values = section[arm]
                print(f"  {arm:17s} mean class accuracy {values['balanced_accuracy']:.4f} "
                      f"[{values['ci_low']:.4f}, {values['ci_high']:.4f}]  ({values['minutes']:.1f} min)")
            print(f"  protkit - reference: {section['difference_balanced_accuracy']:+.4f} "
                  f"(paired t p = {section['paired_tests']['t_pvalue']:.3g})")
            continue
        if "reference" in section:
            print(f"\n{name}: {section['train_items']} training / {section['held_out_items']} held-out items")
            for arm in ("reference", "protkit_defaults"):
                values = section[arm]
                print(f"  {arm:17s} mean class accuracy {values['balanced_accuracy']:.4f}  macro-F1 "
                      f"{values['macro_f1']:.4f}  ({values['minutes']:.1f} min)")
            print(f"  protkit - reference: {section['difference_balanced_accuracy']:+.4f}")
        for label, values in section.get("candidates", {}).items():
            print(f"  candidate: {label}: mean class accuracy {values['balanced_accuracy']:.4f} "
                  f"({values['minutes']:.1f} min)")


def _replace_protkit_arm(section, arm):
    """``section`` with ``arm`` as protkit's; the arm it replaces is listed under ``scored_before``."""
    section = dict(section)
    if "protkit_defaults" in section:
        section.setdefault("scored_before", []).append(section["protkit_defaults"])
    section["protkit_defaults"] = arm
    if "reference" in section:
        section["difference_balanced_accuracy"] = arm["balanced_accuracy"] - section["reference"]["balanced_accuracy"]
    return section


def main(argv=None):
    parser = standard_parser(__doc__, SECTIONS, DEFAULT_OUT)
    parser.add_argument("--workdir", default=None, help="keep protkit's run folders here (default: a temporary one)")
    parser.add_argument("--candidates", action="store_true",
                        help="run only the CANDIDATES recipes (kept under <section>.candidates with --update)")
    parser.add_argument("--protkit-only", action="store_true",
                        help="rerun only protkit's arm (with --update: the reference kept from --out; the recipe it "
                             "replaces is kept under <section>.scored_before)")
    parser.add_argument("--budgets", default=None,
                        help="hep2_budget: the budgets in minutes, comma-separated (default: 5,15,30,60); points "
                             "measured earlier in --workdir are loaded, not run again")
    args, sections, mode, report = begin_report(parser, argv, "reference", SECTIONS, MODES, SEED)
    if args.budgets:
        mode = dict(mode, budgets=tuple(float(value) for value in args.budgets.split(",")))
        report["parameters"]["budgets"] = list(mode["budgets"])
    report["protocol"] = ("mean class accuracy (balanced accuracy) on held-out items; hep2: trained on training/, "
                          "scored on validation/; ifc: stratified 80/20 split, seed 0; both arms on the same items")
    began = time.perf_counter()
    with work_folder(args.workdir, "protkit_reference_") as workdir:
        for name in sections:
            if args.candidates:
                kept = report.get(name, {})
                if run_section(report, name, lambda name=name: run_candidates(name, args.data, mode, workdir)):
                    report[name] = dict(kept, candidates=report[name])
            elif args.protkit_only:
                kept = report.get(name, {})
                if run_section(report, name, lambda name=name: run_protkit(name, args.data, mode, workdir)):
                    report[name] = _replace_protkit_arm(kept, report[name])
            elif name == "ifc_cv":
                run_section(report, name, lambda: run_cv(args.data, mode, workdir))
            elif name == "hep2_budget":
                run_section(report, name, lambda: run_budget(args.data, mode, workdir))
            else:
                run_section(report, name, lambda name=name: run_set(name, args.data, mode, workdir))
    finish_report(report, args.out, began, minutes=True, show=show)


if __name__ == "__main__":
    main()
