"""Accuracy benchmark: protkit's classifiers on HEp-2 (ICPR 2014), IFC Jurkat and synthetic cells.

(a) HEp-2, the project goal: the Fast Spec CNN reaches >= 98 % mean class accuracy (balanced
    accuracy) on the held-out `validation/` folder within 30 minutes of training on this
    2-core machine. Every model trains on `training/` only (`protkit.training.train`, an
    internal stratified 85/15 split of training/ for early stopping) under the same wall-clock
    budget, and is scored once on `validation/`, which no choice ever looks at. The Fast Spec
    CNN's configuration is chosen first by a short equal-time comparison of candidates scored on
    the internal split of training/ only (or named with --fast-spec-config).
(b) IFC Jurkat cell cycle (7 phases, channels Ch3, Ch4, Ch6): one stratified 80/20 split,
    fast_spec_cnn and cnn, fixed settings, balanced accuracy and per-class recall.
(c) Synthetic multi-label cells (`protkit.data.synthetic.make_cells`): fast_spec_cnn, 60/20/20
    split, thresholds tuned on the validation part; macro-F1, exact match and element-wise
    accuracy on the test part next to the all-negative baseline.

Run:
    python benchmarks/hep2.py                      # full: selection + 4 models x 30 min + (b) + (c)
    python benchmarks/hep2.py --quick              # smoke test, < 3 min
    python benchmarks/hep2.py --models fast_spec_cnn,cnn --budget-minutes 30
    python benchmarks/hep2.py --sections ifc,synthetic --update   # re-run parts, keep the rest
"""

from __future__ import annotations

import os
import shutil
import time

import numpy as np

from _common import (RESULTS, Clock, finish_report, label_counts, machine_facts, open_hep2, open_ifc, parse_run,
                     previous_report, print_heading, run_section, standard_parser, stratified_subset, work_folder,
                     write_json)

# ---------------------------------------------------------------- configurable parameters
DEFAULT_OUT = RESULTS / "hep2.json"
SEED = 0
GOAL = {"model": "fast_spec_cnn", "balanced_accuracy": 0.98, "minutes": 30.0}
HEP2_INTERNAL_VAL = 0.15     # internal split of training/ (early stopping, selection)
MAX_EPOCHS = 400             # budgeted runs stop on the budget or early stopping first
PATIENCE = 25                # early stopping on the internal val_balanced_accuracy
RESERVE_S = 20.0             # budget kept for what train() does after the last epoch
SECTIONS = ("hep2", "ifc", "synthetic")
MODELS = ("fast_spec_cnn", "plcnn", "cnn", "resnet")

# Fast Spec CNN candidates compared on the internal split (selection); all Adam 1e-3, batch 32,
# classical augmentation, percentile normalization.
FAST_SPEC_CANDIDATES = {
    "cpu64": {"image_size": 64, "model_kwargs": {}},
    "cpu78": {"image_size": 78, "model_kwargs": {}},
    "wide78": {"image_size": 78, "model_kwargs": {"stem_filters": 32, "filters": [64, 128]}},
    "deep64": {"image_size": 64, "model_kwargs": {"filters": [32, 64, 128]}},
    "fullres64": {"image_size": 64, "model_kwargs": {"stem_strides": 1, "filters": [32, 64, 128]}},
    "cpu64_lr3e-3": {"image_size": 64, "learning_rate": 3e-3, "model_kwargs": {}},
    "cpu64_plateau": {"image_size": 64, "lr_schedule": "plateau", "model_kwargs": {}},
    "deep64_plateau": {"image_size": 64, "lr_schedule": "plateau", "model_kwargs": {"filters": [32, 64, 128]}},
    "fullres64_plateau": {"image_size": 64, "lr_schedule": "plateau",
                          "model_kwargs": {"stem_strides": 1, "filters": [32, 64, 128]}},
}
DEFAULT_CANDIDATES = ("cpu64", "cpu78", "wide78")
# Baselines: CPU-sized widths, trained with the same recipe and budget at the Fast Spec CNN's size.
BASELINES = {
    "cnn": {"model_kwargs": {"filters": [32, 64, 128], "hidden_units": 256, "dropout": 0.5}},
    "plcnn": {"model_kwargs": {"filters": [16, 32, 64], "hidden_units": 256, "dropout": 0.5}},
    "resnet": {"model_kwargs": {"depth": 18, "width": 16}},
}
IFC = {"channels": ["Ch3", "Ch4", "Ch6"], "image_size": 40, "epochs": 40, "budget_minutes": 5.0,
       "class_weight": "balanced", "models": ("fast_spec_cnn", "cnn")}
SYNTHETIC = {"n": 3000, "image_size": 64, "epochs": 30, "budget_minutes": 6.0}
MODES = {
    # hep2_items / hep2_eval_items: None = all; selection_minutes per candidate.
    "full": dict(hep2_items=None, hep2_eval_items=None, selection_minutes=10.0, selection_epochs=MAX_EPOCHS,
                 epochs=MAX_EPOCHS, ifc_items=None, ifc_epochs=IFC["epochs"], synthetic_n=SYNTHETIC["n"],
                 synthetic_epochs=SYNTHETIC["epochs"], candidates=DEFAULT_CANDIDATES),
    "quick": dict(hep2_items=600, hep2_eval_items=300, selection_minutes=0.5, selection_epochs=1,
                  epochs=1, ifc_items=500, ifc_epochs=1, synthetic_n=300, synthetic_epochs=1,
                  candidates=("cpu64", "cpu78")),
}

PROTOCOL = {
    "hep2": [
        "Data: ICPR 2014 HEp-2 cells (public 78x78 copy), training/ 8,701 and validation/ 2,175 images, "
        "6 classes; split per cell (no specimen ids), so scores are optimistic next to leave-specimen-out.",
        "Every model: protkit.training.train on training/ only, percentile normalization, classical "
        "augmentation (flips, any rotation, zoom 0.1), Adam, batch 32, internal stratified 85/15 split of "
        "training/ (seed 0) for early stopping on val_balanced_accuracy (patience %d, best weights restored)."
        % PATIENCE,
        "Budget: every model gets the same wall-clock budget (--budget-minutes), counted from the call to "
        "train() (normalization fit, pipeline and model build, all epochs with their validation) to its "
        "return (final validation predictions, saving the run). A callback stops training after the epoch "
        "at which one more epoch (the slowest of the last three) plus a %.0f s reserve would pass the "
        "budget. CPU minutes are process CPU time (all threads) over the same interval." % RESERVE_S,
        "Reported: the run reloaded from its folder (protkit.inference.load_run) and scored once on "
        "validation/ with evaluate_run; validation/ is used for nothing else. balanced_accuracy = mean "
        "class accuracy = mean per-class recall; macro_f1 = unweighted mean of per-class F1.",
        "Fast Spec CNN configuration: chosen by the selection step (each candidate trained with the same "
        "recipe for selection_minutes, scored by balanced accuracy on the internal 15 % of training/; "
        "the best wins, a cheaper candidate within 0.5 points is preferred), unless named on the command "
        "line. Baselines were not tuned; they use the chosen candidate's image size, learning rate and "
        "learning-rate schedule.",
    ],
    "ifc": [
        "Data: IFC Jurkat cell cycle, Experiment_1, 7 classes, channels Ch3 (brightfield), Ch4 (DNA), "
        "Ch6 (darkfield), 40x40 16-bit, percentile normalization.",
        "One stratified 80/20 split (seed 0) made by train(val_fraction=0.2). Fixed settings, no early "
        "stopping, no threshold: the 20 % part is used for nothing but the reported scores. Balanced "
        "class weights in the loss. Training stops at the epoch count or the budget, whichever first.",
        "Anaphase (12 cells) and Telophase (22 cells) leave only about 2 and 4 cells in the 20 % part: "
        "their recalls move in steps of 50 % and 25 % and dominate the noise of balanced accuracy.",
    ],
    "synthetic": [
        "Data: protkit.data.synthetic.make_cells (seed 0), 4 channels, 10 classes, 1-3 labels per image.",
        "Split by train(val_fraction=0.2, test_fraction=0.2): iterative multi-label stratification; "
        "per-class thresholds tuned on the validation part and applied frozen to the test part.",
        "Reported on the test part: macro_f1, exact_match_accuracy (all labels of an image right), "
        "elementwise_accuracy (fraction of right label decisions) and the same three for the "
        "all-negative baseline (predict no label), which element-wise accuracy flatters.",
    ],
}


# ---------------------------------------------------------------- budget and timing
def budget_callback(started, budget_s, reserve_s=RESERVE_S, label=""):
    """A Keras callback that stops training before the wall-clock budget would be overrun.

    It also records every epoch's wall seconds, its logs and the 1-minute load average, and
    prints one line per epoch.
    """
    import keras

    class BudgetStop(keras.callbacks.Callback):
        def __init__(self):
            super().__init__()
            self.epochs, self.stopped_by_budget = [], False

        def on_epoch_begin(self, epoch, logs=None):
            self._begin = time.perf_counter()

        def on_epoch_end(self, epoch, logs=None):
            now = time.perf_counter()
            logs = logs or {}
            row = {"epoch": epoch + 1, "seconds": now - self._begin, "elapsed_s": now - started,
                   "load1": os.getloadavg()[0]}
            row.update({k: float(v) for k, v in logs.items() if k in ("loss", "accuracy", "val_loss",
                                                                      "val_balanced_accuracy", "val_macro_f1")})
            self.epochs.append(row)
            score = row.get("val_balanced_accuracy", row.get("val_macro_f1", float("nan")))
            print(f"  {label} epoch {epoch + 1:3d}  {row['seconds']:6.1f} s  elapsed {row['elapsed_s'] / 60:5.1f} min"
                  f"  loss {row.get('loss', float('nan')):.4f}  internal val {score:.4f}  load {row['load1']:.1f}",
                  flush=True)
            slowest = max(r["seconds"] for r in self.epochs[-3:])
            if budget_s is not None and row["elapsed_s"] + slowest + reserve_s > budget_s:
                self.stopped_by_budget = True
                self.model.stop_training = True

    return BudgetStop()


def timed_train(dataset, budget_minutes, label, **kwargs):
    """`protkit.training.train` under a wall-clock budget; returns (TrainResult, timing dict)."""
    from protkit.training import train

    budget_s = None if budget_minutes is None else 60.0 * budget_minutes
    load_before = os.getloadavg()[0]
    with Clock() as clock:
        callback = budget_callback(time.perf_counter(), budget_s, label=label)
        result = train(dataset, callbacks=[callback], **kwargs)
    loads = [r["load1"] for r in callback.epochs]
    timing = {
        "wall_minutes": clock.wall / 60,
        "cpu_minutes": clock.cpu / 60,
        "cpu_cores_busy": clock.cpu / clock.wall,
        "budget_minutes": budget_minutes,
        "within_budget": None if budget_s is None else clock.wall <= budget_s,
        "epochs_run": len(callback.epochs),
        "stopped_by": ("budget" if callback.stopped_by_budget else
                       "epochs" if len(callback.epochs) >= kwargs.get("epochs", 0) else "early_stopping"),
        "fit_minutes_reported_by_train": result.metrics.get("training_minutes"),
        "median_epoch_s": float(np.median([r["seconds"] for r in callback.epochs])) if callback.epochs else None,
        "load1_before": load_before,
        "load1_max_during": max(loads) if loads else None,
        "epochs": callback.epochs,
    }
    return result, timing


# ---------------------------------------------------------------- (a) HEp-2
def train_kwargs(settings, mode, budget_epochs=None):
    # No preset named: the Fast Spec CNN takes its "cpu" preset, the baselines (which have none) the defaults.
    return dict(model=settings["model"], image_size=settings["image_size"],
                epochs=budget_epochs or mode["epochs"], batch_size=32,
                learning_rate=settings.get("learning_rate", 1e-3), lr_schedule=settings.get("lr_schedule"),
                normalization="percentile", augment=True, class_weight=None, val_fraction=HEP2_INTERNAL_VAL,
                early_stopping=PATIENCE, seed=SEED, verbose=0, model_kwargs=settings["model_kwargs"])


def select_fast_spec(train_set, mode, candidates, workdir):
    """Train each candidate briefly; score on the internal split of training/ only."""
    rows = {}
    for name in candidates:
        candidate = dict(FAST_SPEC_CANDIDATES[name], model="fast_spec_cnn")
        print(f"\nselection: {name} {candidate}", flush=True)
        result, timing = timed_train(train_set, mode["selection_minutes"], f"select {name}",
                                     out=workdir / f"select_{name}",
                                     **train_kwargs(candidate, mode, mode["selection_epochs"]))
        internal = result.metrics["validation"]
        rows[name] = {"settings": candidate, "internal_val_balanced_accuracy": internal["balanced_accuracy"],
                      "internal_val_accuracy": internal["accuracy"], "epochs_run": timing["epochs_run"],
                      "wall_minutes": timing["wall_minutes"], "cpu_minutes": timing["cpu_minutes"],
                      "median_epoch_s": timing["median_epoch_s"], "load1_max_during": timing["load1_max_during"],
                      "internal_val_curve": [round(r.get("val_balanced_accuracy", float("nan")), 4)
                                             for r in timing["epochs"]]}
    best = max(rows.values(), key=lambda r: r["internal_val_balanced_accuracy"])["internal_val_balanced_accuracy"]
    # Within 0.5 points of the best, take the candidate with the fastest epochs (more epochs per budget).
    close = [name for name, r in rows.items() if r["internal_val_balanced_accuracy"] >= best - 0.005]
    chosen = min(close, key=lambda name: rows[name]["median_epoch_s"])
    return chosen, rows


def run_model(name, settings, train_set, eval_set, mode, budget_minutes, workdir):
    from protkit.inference import evaluate_run, load_run

    print(f"\nHEp-2 {name}: {settings}, budget {budget_minutes} min", flush=True)
    result, timing = timed_train(train_set, budget_minutes, name, out=workdir / name,
                                 **train_kwargs(settings, mode))
    run = load_run(workdir / name)
    with Clock() as clock:
        metrics = evaluate_run(run, eval_set)
    internal = result.metrics["validation"]
    return {
        "settings": dict({"learning_rate": 1e-3}, **settings, batch_size=32, augment=True, normalization="percentile",
                         early_stopping_patience=PATIENCE, max_epochs=train_kwargs(settings, mode)["epochs"]),
        "parameters": int(result.model.count_params()),
        "timing": timing,
        "internal_val": {"items": len(result.split["validation"]),
                         "balanced_accuracy": internal["balanced_accuracy"], "accuracy": internal["accuracy"]},
        "validation_folder": {
            "items": len(eval_set),
            "balanced_accuracy": metrics["balanced_accuracy"],
            "accuracy": metrics["accuracy"],
            "macro_f1": metrics["macro_f1"],
            "per_class_recall": {c: row["recall"] for c, row in metrics["per_class"].items()},
            "confusion_matrix": metrics["confusion_matrix"],
            "class_order": run.class_names,
            "evaluate_seconds": clock.wall,
        },
    }


def bench_hep2(data_dir, mode, models, budget_minutes, fast_spec_config, workdir, select_only=False,
               candidates=None):
    parts = {part: open_hep2(data_dir, part) for part in ("training", "validation")}
    if parts["training"].class_names != parts["validation"].class_names:
        raise ValueError(f"{data_dir}: HEp-2 training and validation classes differ")
    train_set = stratified_subset(parts["training"], mode["hep2_items"])
    eval_set = stratified_subset(parts["validation"], mode["hep2_eval_items"])
    section = {"protocol": PROTOCOL["hep2"], "goal": GOAL, "budget_minutes": budget_minutes,
               "baselines_same_budget": True,
               "data": {"training_items": len(train_set), "validation_items": len(eval_set),
                        "training_per_class": label_counts(train_set),
                        "validation_per_class": label_counts(eval_set)},
               "models": {}}
    if fast_spec_config:
        chosen = fast_spec_config
        section["selection"] = {"chosen": chosen, "how": "named on the command line (--fast-spec-config); "
                                "no selection run in this benchmark"}
    else:
        chosen, rows = select_fast_spec(train_set, mode, candidates or mode["candidates"], workdir)
        how = (f"each candidate trained with the benchmark's recipe for {mode['selection_minutes']} min "
               f"(same budget callback) on training/ and scored on the internal {HEP2_INTERNAL_VAL:.0%} "
               "split of training/ (balanced accuracy); best score wins, the candidate with faster "
               "epochs is preferred within 0.5 points; validation/ was not read")
        section["selection"] = {"chosen": chosen, "how": "selection round(s) below",
                                "rounds": [{"candidates": rows, "chosen": chosen, "how": how,
                                            "early_stopping_patience": PATIENCE,
                                            "date": time.strftime("%Y-%m-%d %H:%M")}]}
    if select_only:
        section["data"].pop("validation_items"), section["data"].pop("validation_per_class")
        section["selection"]["note"] = "--select-only: validation/ was opened for nothing but its file list"
        return section
    for name in models:
        if name == "fast_spec_cnn":
            settings = dict(FAST_SPEC_CANDIDATES[chosen], model=name, config_name=chosen)
        else:
            # Same recipe as the chosen Fast Spec CNN (size, learning rate and its schedule).
            recipe = {k: FAST_SPEC_CANDIDATES[chosen][k] for k in ("image_size", "learning_rate", "lr_schedule")
                      if k in FAST_SPEC_CANDIDATES[chosen]}
            settings = dict(BASELINES[name], model=name, **recipe)
        section["models"][name] = run_model(name, settings, train_set, eval_set, mode, budget_minutes, workdir)
        shutil.rmtree(workdir / name, ignore_errors=True)
    mark_goal(section)
    return section


def mark_goal(section):
    """Set ``section["goal_met"]`` from the Fast Spec CNN's score on validation/ and its minutes, if it ran."""
    fast = section["models"].get("fast_spec_cnn")
    if fast:
        score, minutes = fast["validation_folder"]["balanced_accuracy"], fast["timing"]["wall_minutes"]
        section["goal_met"] = bool(score >= GOAL["balanced_accuracy"] and minutes <= GOAL["minutes"])


# ---------------------------------------------------------------- (b) IFC Jurkat
def bench_ifc(data_dir, mode, workdir):
    dataset = stratified_subset(open_ifc(data_dir, IFC["channels"]), mode["ifc_items"], SEED)
    section = {"protocol": PROTOCOL["ifc"], "items": len(dataset), "per_class": label_counts(dataset),
               "models": {}}
    for name in IFC["models"]:
        print(f"\nIFC {name}", flush=True)
        result, timing = timed_train(
            dataset, IFC["budget_minutes"], f"ifc {name}", model=name, out=workdir / f"ifc_{name}",
            image_size=IFC["image_size"], epochs=mode["ifc_epochs"], batch_size=32, learning_rate=1e-3,
            normalization="percentile", augment=True, class_weight=IFC["class_weight"], val_fraction=0.2,
            early_stopping=None, seed=SEED, verbose=0)
        held_out = result.metrics["validation"]
        section["models"][name] = {
            "settings": {"image_size": IFC["image_size"], "max_epochs": mode["ifc_epochs"], "batch_size": 32,
                         "learning_rate": 1e-3, "class_weight": IFC["class_weight"], "augment": True,
                         "budget_minutes": IFC["budget_minutes"],
                         "model_kwargs": "defaults (fast_spec_cnn: cpu preset)"},
            "split": {"train": len(result.split["train"]), "held_out": len(result.split["validation"])},
            "held_out_per_class": {c: int(row["support"]) for c, row in held_out["per_class"].items()},
            "timing": timing,
            "balanced_accuracy": held_out["balanced_accuracy"],
            "accuracy": held_out["accuracy"],
            "macro_f1": held_out["macro_f1"],
            "per_class_recall": {c: row["recall"] for c, row in held_out["per_class"].items()},
        }
        shutil.rmtree(workdir / f"ifc_{name}", ignore_errors=True)
    return section


# ---------------------------------------------------------------- (c) synthetic multi-label
def bench_synthetic(mode, workdir):
    from protkit import metrics as metrics_lib
    from protkit.data import Dataset, load_images
    from protkit.data.synthetic import SYNTHETIC_CHANNELS, SYNTHETIC_CLASSES, make_cells
    from protkit.inference import load_run

    size = SYNTHETIC["image_size"]
    with Clock() as made:
        images, labels = make_cells(mode["synthetic_n"], image_size=size, seed=SEED)
    dataset = Dataset.from_arrays(images, labels, class_names=list(SYNTHETIC_CLASSES),
                                  channel_names=list(SYNTHETIC_CHANNELS))
    print("\nsynthetic fast_spec_cnn", flush=True)
    result, timing = timed_train(
        dataset, SYNTHETIC["budget_minutes"], "synthetic", model="fast_spec_cnn", preset="cpu",
        out=workdir / "synthetic", image_size=size, epochs=mode["synthetic_epochs"], batch_size=32,
        learning_rate=1e-3, normalization="percentile", augment=True, val_fraction=0.2, test_fraction=0.2,
        early_stopping=None, seed=SEED, verbose=0)
    run = load_run(workdir / "synthetic")
    test_idx, train_idx = result.split["test"], result.split["train"]
    x_test = load_images(dataset, test_idx, image_size=size, normalizer=run.normalizer)
    probabilities = run.model.predict(x_test, batch_size=64, verbose=0)
    table = metrics_lib.accuracy_trap_table(labels[test_idx], probabilities, thresholds=run.thresholds,
                                            reference_labels=labels[train_idx])
    test = result.metrics["test"]
    shutil.rmtree(workdir / "synthetic", ignore_errors=True)
    return {
        "protocol": PROTOCOL["synthetic"],
        "items": len(dataset), "image_size": size, "generate_seconds": made.wall,
        "label_frequency": {c: int(n) for c, n in zip(SYNTHETIC_CLASSES, labels.sum(axis=0))},
        "split": {k: len(v) for k, v in result.split.items()},
        "settings": {"max_epochs": mode["synthetic_epochs"], "batch_size": 32, "learning_rate": 1e-3,
                     "loss": "binary cross-entropy", "augment": True, "budget_minutes": SYNTHETIC["budget_minutes"],
                     "thresholds": [float(t) for t in np.atleast_1d(run.thresholds)]},
        "timing": timing,
        "test": {key: test[key] for key in ("macro_f1", "micro_f1", "exact_match_accuracy", "elementwise_accuracy",
                                            "all_negative_elementwise_accuracy", "macro_roc_auc")},
        "test_per_class_f1": {c: row["f1"] for c, row in test["per_class"].items()},
        "trap_table": metrics_lib.to_jsonable(table),
    }


# ---------------------------------------------------------------- report
def _pct(value):
    return "   -" if value is None else f"{100 * value:5.1f}"


def print_tables(report):
    print_heading(report, "accuracy")
    for name, show in (("hep2", _print_hep2), ("ifc", _print_ifc), ("synthetic", _print_synthetic)):
        if report.get(name):
            show(report[name])


def _print_hep2(hep2):
    """(a): the selection rounds, then one row per model scored on validation/."""
    data = hep2["data"]
    print(f"\n(a) HEp-2: train on training/ ({data['training_items']}, internal 85/15 split for early "
          f"stopping), score on validation/ ({data.get('validation_items', 'not used')}); budget "
          f"{hep2['budget_minutes']} min each")
    selection = hep2["selection"]
    print(f"  Fast Spec CNN configuration: {selection['chosen']} ({selection['how']})")
    for number, round_ in enumerate(selection.get("rounds", []), 1):
        print(f"  selection round {number} (internal split of training/ only), round winner {round_['chosen']}:")
        for name, row in round_["candidates"].items():
            print(f"    {name:<13} size {row['settings']['image_size']}  {row['epochs_run']:3d} epochs in "
                  f"{row['wall_minutes']:4.1f} min  internal bal.acc {_pct(row['internal_val_balanced_accuracy'])}")
    classes = next(iter(hep2["models"].values()))["validation_folder"]["class_order"] if hep2["models"] else []
    short = "".join(f"{c[:6]:>7}" for c in classes)
    if hep2["models"]:
        print(f"  {'model':<14}{'size':>5}{'params':>9}{'epochs':>7}{'wall min':>9}{'CPU min':>8}"
              f"{'bal.acc':>8}{'acc':>6}{'mF1':>6}   recall:{short}")
    for name, row in hep2["models"].items():
        t, v = row["timing"], row["validation_folder"]
        recalls = "".join(f"{_pct(v['per_class_recall'][c]):>7}" for c in classes)
        print(f"  {name:<14}{row['settings']['image_size']:>5}{row['parameters']:>9}{t['epochs_run']:>7}"
              f"{t['wall_minutes']:>9.1f}{t['cpu_minutes']:>8.1f}{_pct(v['balanced_accuracy']):>8}"
              f"{_pct(v['accuracy']):>6}{_pct(v['macro_f1']):>6}          {recalls}"
              f"   (stopped by {t['stopped_by']}, max load {t['load1_max_during'] or 0:.1f})")
    if "goal_met" in hep2:
        print(f"  goal: fast_spec_cnn >= {100 * GOAL['balanced_accuracy']:.0f} % mean class accuracy on "
              f"validation/ within {GOAL['minutes']:.0f} min -> {'met' if hep2['goal_met'] else 'NOT met'}")


def _print_ifc(ifc):
    """(b): one row per model, recall per phase on the held-out 20 %."""
    print(f"\n(b) IFC Jurkat, {ifc['items']} cells, 7 phases, one stratified 80/20 split (20 % part reported)")
    classes = list(ifc["per_class"])
    print(f"  {'model':<14}{'epochs':>7}{'min':>6}{'bal.acc':>8}{'acc':>6}   recall:"
          + "".join(f"{c[:7]:>8}" for c in classes))
    for name, row in ifc["models"].items():
        print(f"  {name:<14}{row['timing']['epochs_run']:>7}{row['timing']['wall_minutes']:>6.1f}"
              f"{_pct(row['balanced_accuracy']):>8}{_pct(row['accuracy']):>6}          "
              + "".join(f"{_pct(row['per_class_recall'][c]):>8}" for c in classes))
    first = next(iter(ifc["models"].values()), None)
    if first:
        counts = first["held_out_per_class"].items()
        print("  held-out cells per class: " + ", ".join(f"{c} {n}" for c, n in counts))


def _print_synthetic(synthetic):
    """(c): the test part next to the trivial baselines."""
    print(f"\n(c) synthetic multi-label, {synthetic['items']} images {synthetic['image_size']}x"
          f"{synthetic['image_size']}, fast_spec_cnn, {synthetic['timing']['epochs_run']} epochs; test part "
          f"({synthetic['split']['test']} images), thresholds tuned on validation")
    print(f"  {'':<32}{'macro-F1':>9}{'exact match':>12}{'element-wise':>13}")
    for name, row in synthetic["trap_table"].items():
        print(f"  {name:<32}{_pct(row['macro_f1']):>9}{_pct(row['exact_match_accuracy']):>12}"
              f"{_pct(row['elementwise_accuracy']):>13}")


def merge_previous(report, previous, sections):
    """With --update: the parts of the previous report this run did not redo, next to the new ones."""
    if not previous:
        return report
    merged = dict(report)
    for section in SECTIONS:
        if section in previous and section not in sections:
            merged[section] = previous[section]
    old, new = previous.get("hep2"), report.get("hep2")
    if old and new:
        new = dict(new, models={**old.get("models", {}), **new["models"]})
        old_rounds = old.get("selection", {}).get("rounds", [])
        new_rounds = new["selection"].get("rounds", [])
        if old_rounds:
            selection = dict(new["selection"], rounds=old_rounds + new_rounds)
            if not new_rounds:
                selection["how"] = ("named on the command line after the selection round(s) below "
                                    "(kept from the earlier run by --update)")
            scores = {name: row["internal_val_balanced_accuracy"]
                      for round_ in selection["rounds"] for name, row in round_["candidates"].items()}
            selection["best_over_rounds"] = max(scores, key=scores.get)
            new["selection"] = selection
        new["updated_models"] = sorted(report["hep2"]["models"])
        new["data"] = {**old.get("data", {}), **new["data"]}
        mark_goal(new)
        merged["hep2"] = new
    return merged


def main(argv=None):
    parser = standard_parser(__doc__, SECTIONS, DEFAULT_OUT, quick_help="tiny subsets, 1 epoch (smoke test, < 3 min)")
    parser.add_argument("--models", default=",".join(MODELS), help=f"HEp-2 models, from {','.join(MODELS)}")
    parser.add_argument("--budget-minutes", type=float, default=30.0, help="HEp-2 wall-clock budget per model")
    parser.add_argument("--fast-spec-config", choices=tuple(FAST_SPEC_CANDIDATES),
                        help="use this Fast Spec CNN configuration instead of running the selection")
    parser.add_argument("--select-only", action="store_true",
                        help="HEp-2: run the Fast Spec CNN selection only (internal split; validation/ unused)")
    parser.add_argument("--candidates", help=f"Fast Spec CNN candidates to compare, from "
                        f"{','.join(FAST_SPEC_CANDIDATES)} (default {','.join(DEFAULT_CANDIDATES)})")
    args, sections, mode_name, mode = parse_run(parser, argv, MODES, SECTIONS)
    models = [m.strip() for m in args.models.split(",") if m.strip()]
    if set(models) - set(MODELS):
        parser.error(f"unknown model(s): {sorted(set(models) - set(MODELS))}")
    began = time.perf_counter()

    report = {"benchmark": "hep2", "mode": mode_name, "parameters": dict(mode, seed=SEED, models=models,
                                                                          sections=sections),
              "machine": machine_facts(), "data_dir": str(args.data), "skipped": {}}
    previous = previous_report(args)
    with work_folder(None, "protkit_hep2_") as workdir:
        runners = {
            "hep2": lambda: bench_hep2(args.data, mode, models, args.budget_minutes, args.fast_spec_config, workdir,
                                       args.select_only, args.candidates and args.candidates.split(",")),
            "ifc": lambda: bench_ifc(args.data, mode, workdir),
            "synthetic": lambda: bench_synthetic(mode, workdir),
        }
        for section in sections:
            run_section(report, section, runners[section])
            write_json(merge_previous(report, previous, sections), args.out)  # keep what is done so far
    finish_report(merge_previous(report, previous, sections), args.out, began, minutes=True, show=print_tables)


if __name__ == "__main__":
    main()
