"""Multi-label on real pixels: protkit's recipe on the HPA mixtures, 5-fold, next to the accuracy trap.

`protkit.evaluation.cross_validate` with no recipe argument (what `protkit train` does) on
`../shared/data/hpa_duloc_mixtures`: 261 fields of real HPA cells in complete red / green / blue
/ yellow JPEG sets (read with ``pattern="{id}_{channel}.jpg"``), 1 or 2 labels of 5 classes
(Kaggle ids 0 Nucleoplasm, 2 Nucleoli, 21 Plasma membrane, 23 Mitochondria, 25 Cytosol).

Protocol: 5-fold multi-label stratified cross-validation (seed 0), split per field (the set
gives no specimen or source-image ids; its mixtures are made from HPA images by the set's
authors, so it is semi-synthetic). In each training fold 15 % is held out to keep the best
epoch, fit the temperature and tune per-class thresholds; each test fold is scored once. Per
metric: the mean over folds, the sample standard deviation and a 95 % t-interval, for the model
and for the two baselines of the accuracy trap (no label at all; the most frequent label set of
the training fold). Element-wise accuracy is high for the all-negative baseline too: that is
the trap the Fast Spec CNN paper's 98.79 % "accuracy" fell into.

Side by side, on the same folds: the plain-Keras reference of `reference.py` with sigmoid outputs
(binary cross-entropy, 15 epochs on the whole training fold, the last epoch kept, pixels divided
by the dtype range, at protkit's image size so both arms see the same pixels) and a label
wherever its probability reaches 0.5, as a hand-written script decides; paired tests per metric
against protkit's decided label sets.

Run:
    python benchmarks/hpa_mixtures.py --workdir W      # about 50 min on 2 cores; rerun with W to resume by fold
    python benchmarks/hpa_mixtures.py --quick          # smoke test (2 folds, 1 epoch, 64 px)
"""

from __future__ import annotations

import time

import numpy as np
import pandas as pd
from _common import (RESULTS, begin_report, finish_report, print_heading, resumable_row, standard_parser,
                     work_folder)

DEFAULT_OUT = RESULTS / "hpa_mixtures.json"
SEED = 0
SECTIONS = ("mixtures",)
MODES = {"full": dict(folds=5, epochs=None, image_size=None, reference_epochs=15),
         "quick": dict(folds=2, epochs=1, image_size=64, reference_epochs=1)}
CHANNELS = ["red", "green", "blue", "yellow"]
TRAP_METRICS = ("macro_f1", "exact_match_accuracy", "elementwise_accuracy")


def open_mixtures(data_dir):
    from protkit.data import Dataset

    folder = data_dir / "hpa_duloc_mixtures"
    if not (folder / "train.csv").is_file():
        raise FileNotFoundError(f"{folder / 'train.csv'} not found")
    return Dataset.from_csv(folder / "train.csv", folder / "train", pattern="{id}_{channel}.jpg", channels=CHANNELS)


def trap_rows(cv, dataset):
    """Per fold, the accuracy-trap table (model and baselines) with that fold's tuned thresholds.

    "model" decides as the run does (thresholds, then the label-count rule with the fold's
    bounds); "model, thresholds alone" drops the rule, from the same probabilities. Folds saved
    before runs recorded their bounds get them from the training fold's labels.
    """
    from protkit.metrics import accuracy_trap_table, label_count_bounds, multilabel_metrics

    rows = []
    for fold, prediction in enumerate(cv.predictions):
        test = np.asarray(prediction["test_indices"])
        train_part = np.setdiff1d(np.arange(len(dataset)), test)
        thresholds = prediction["thresholds"] if len(prediction["thresholds"]) else 0.5
        stored = prediction.get("label_count", ())
        bounds = tuple(int(v) for v in stored) if len(stored) else label_count_bounds(dataset.labels[train_part])
        table = accuracy_trap_table(prediction["y_true"], prediction["probabilities"], thresholds=thresholds,
                                    reference_labels=dataset.labels[train_part], label_count=bounds)
        alone = multilabel_metrics(prediction["y_true"], prediction["probabilities"], thresholds=thresholds)
        table.loc["model, thresholds alone"] = {key: alone[key] for key in table.columns}
        for name, values in table.iterrows():
            rows.append(dict(fold=fold, row=name, label_count=list(bounds),
                             **{key: float(values[key]) for key in TRAP_METRICS}))
    return pd.DataFrame(rows)


DECISIONS = ("thresholds alone", "thresholds, then the label-count rule",
             "thresholds tuned for the rule, then the rule")


def decision_rows(cv, dataset, workdir):
    """Per fold, the three ways of turning the same probabilities into label sets, scored on the test fold.

    The thresholds are tuned on each fold run's own validation part (its probabilities are
    recomputed from the saved run, calibrated and view-averaged as the run does); the bounds
    are the range of the training part's labels; the test fold is only scored.
    """
    import pandas as pd
    from protkit.calibration import apply_temperature
    from protkit.data import make_pipeline
    from protkit.inference import load_run, model_probabilities
    from protkit.metrics import decide_labels, label_count_bounds, multilabel_metrics, tune_thresholds

    rows = []
    for fold, prediction in enumerate(cv.predictions):
        run = load_run(workdir / "cv" / f"fold_{fold}")
        split = pd.read_csv(run.run_dir / "split.csv", dtype=str, keep_default_na=False)
        where = {item: index for index, item in enumerate(dataset.ids)}
        part = {name: np.array([where[i] for i in split.loc[split["part"] == name, "id"]]) for name in ("train",
                                                                                                        "validation")}
        images = make_pipeline(dataset, part["validation"], batch_size=64, labels=False,
                               image_size=tuple(run.config["image_size"]), normalizer=run.normalizer)
        validation = apply_temperature(model_probabilities(run.model, images, run.tta), run.temperature, run.task)
        y_val = dataset.labels[part["validation"]]
        bounds = label_count_bounds(dataset.labels[part["train"]])
        per_class = tune_thresholds(y_val, validation)
        for_rule = tune_thresholds(y_val, validation, label_count=bounds)
        for name, (thresholds, rule) in zip(DECISIONS, ((per_class, None), (per_class, bounds), (for_rule, bounds))):
            scores = multilabel_metrics(prediction["y_true"], prediction["probabilities"], thresholds=thresholds,
                                        label_count=rule)
            counts = decide_labels(prediction["probabilities"], thresholds, rule).sum(axis=1)
            rows.append(dict(fold=fold, row=name, mean_labels=float(counts.mean()),
                             **{key: float(scores[key]) for key in TRAP_METRICS}))
    return pd.DataFrame(rows)


def reference_rows(cv, dataset, workdir, mode):
    """Per fold, the plain-Keras reference (sigmoid outputs, threshold 0.5) trained on the training fold.

    Resumes by fold from ``workdir / "reference"``.
    """
    from protkit.data import load_images
    from protkit.metrics import multilabel_metrics
    from reference import train_reference

    size = _recipe(workdir / "cv" / "fold_0" / "config.json")["image_size"]

    def one_fold(fold, prediction):
        print(f"\nplain-Keras reference, fold {fold + 1}/{len(cv.predictions)}", flush=True)
        began = time.perf_counter()
        test = np.asarray(prediction["test_indices"])
        train_part = dataset.subset(np.setdiff1d(np.arange(len(dataset)), test))
        model = train_reference(load_images(train_part, image_size=size, normalizer="fixed"), train_part.labels,
                                dataset.num_classes, epochs=mode["reference_epochs"], seed=SEED, multi_label=True)
        probabilities = model.predict(load_images(dataset.subset(test), image_size=size, normalizer="fixed"),
                                      verbose=0)
        scores = multilabel_metrics(dataset.labels[test], probabilities, thresholds=0.5)
        return dict(fold=fold, row="plain-Keras reference (threshold 0.5)",
                    mean_labels=float((probabilities >= 0.5).sum(axis=1).mean()),
                    minutes=(time.perf_counter() - began) / 60, **{key: float(scores[key]) for key in TRAP_METRICS})

    rows = [resumable_row(workdir / "reference" / f"fold_{fold}.json", lambda: one_fold(fold, prediction))
            for fold, prediction in enumerate(cv.predictions)]
    return pd.DataFrame(rows)


def summarize_rows(folds, metrics):
    from protkit.evaluation import confidence_interval

    table = {}
    for name, part in folds.groupby("row", sort=False):
        table[name] = {}
        for metric in metrics:
            values = part[metric].to_numpy()
            low, high = confidence_interval(values)
            table[name][metric] = {"mean": float(values.mean()), "std": float(values.std(ddof=1)),
                                   "ci_low": low, "ci_high": high, "per_fold": values.tolist()}
    return table


def bench(data_dir, mode, workdir):
    from protkit.evaluation import cross_validate

    dataset = open_mixtures(data_dir)
    options = {key: mode[key] for key in ("epochs", "image_size") if mode[key] is not None}
    cv = cross_validate(dataset, k=mode["folds"], seed=SEED, out=workdir / "cv", **options)  # resumes by fold
    minutes = float(cv.folds["minutes"].sum())  # the folds' own minutes, also when they were loaded from workdir
    folds = trap_rows(cv, dataset)
    table = summarize_rows(folds, TRAP_METRICS)
    decisions = summarize_rows(decision_rows(cv, dataset, workdir), TRAP_METRICS + ("mean_labels",))
    from protkit.evaluation import paired_tests

    paired = {name: {metric: paired_tests(decisions[name][metric]["per_fold"],
                                          decisions[DECISIONS[0]][metric]["per_fold"]) for metric in TRAP_METRICS}
              for name in DECISIONS[1:]}
    calibration = list(_fold_calibration(workdir / "cv", mode["folds"]))
    reference = reference_rows(cv, dataset, workdir, mode)
    reference_table = summarize_rows(reference, TRAP_METRICS + ("mean_labels",))
    against_reference = {metric: paired_tests(table["model"][metric]["per_fold"],
                                              reference[metric].tolist()) for metric in TRAP_METRICS}
    return {"items": len(dataset), "class_names": list(dataset.class_names),
            "labels_per_item": np.bincount(dataset.labels.sum(axis=1)).tolist(),
            "protocol": f"{mode['folds']}-fold multi-label stratified, seed {SEED}, per field; inner validation 15 % "
                        f"of each training fold; thresholds tuned there; labels per field bounded by the training "
                        f"fields' range ('model'; 'model, thresholds alone' without the bound, same probabilities); "
                        f"mean, sample std, 95 % t-interval over folds",
            "label_count_per_fold": [bounds for bounds in folds.groupby("fold")["label_count"].first()],
            "recipe": _recipe(workdir / "cv" / "fold_0" / "config.json"), "minutes": minutes, "trap": table,
            "decisions": decisions, "decisions_paired_against_thresholds_alone": paired,
            "mean_labels_per_field": float(dataset.labels.sum(axis=1).mean()),
            "calibration": calibration,
            "reference": {**next(iter(reference_table.values())), "minutes": float(reference["minutes"].sum()),
                          "image_size": _recipe(workdir / "cv" / "fold_0" / "config.json")["image_size"],
                          "epochs": mode["reference_epochs"]},
            "model_against_reference": against_reference}


def _recipe(path):
    import json

    config = json.loads(path.read_text())
    return {key: config[key] for key in ("model", "preset", "image_size", "epochs", "lr_schedule", "class_weight",
                                         "keep", "tta", "calibration", "label_count")
            if key in config}


def _fold_calibration(folder, folds):
    import json

    for fold in range(folds):
        metrics = json.loads((folder / f"fold_{fold}" / "metrics.json").read_text())
        yield {key: metrics["validation"]["calibration"][key] for key in ("temperature", "ece_before", "ece_after")}


def show(report):
    print_heading(report, "HPA mixtures")
    section = report.get("mixtures")
    if not isinstance(section, dict):
        return
    print(f"\n{section['items']} fields, {section['protocol']}")
    print(f"recipe: {section['recipe']}  ({section['minutes']:.1f} min)")
    print(f"{'':32s}" + "".join(f"{metric:>28s}" for metric in TRAP_METRICS))
    for name, values in section["trap"].items():
        print(f"{name:32s}" + "".join(f"{values[m]['mean']:9.3f} [{values[m]['ci_low']:.3f}, {values[m]['ci_high']:.3f}]"
                                      .rjust(28) for m in TRAP_METRICS))
    if "decisions" in section:
        print(f"\nfrom the same probabilities (a field carries {section['mean_labels_per_field']:.2f} labels on "
              f"average):")
        for name, values in section["decisions"].items():
            print(f"{name:48s}" + "".join(f"{values[m]['mean']:8.3f}" for m in TRAP_METRICS)
                  + f"   {values['mean_labels']['mean']:.2f} labels per field")
    if "reference" in section:
        values = section["reference"]
        print(f"{'plain-Keras reference (threshold 0.5)':48s}" + "".join(f"{values[m]['mean']:8.3f}"
                                                                     for m in TRAP_METRICS)
              + f"   {values['mean_labels']['mean']:.2f} labels per field  ({values['minutes']:.1f} min)")
        for metric, test in section["model_against_reference"].items():
            print(f"  protkit - reference, {metric}: {test['mean_difference']:+.3f} (paired t p = {test['t_pvalue']:.3g})")


def main(argv=None):
    parser = standard_parser(__doc__, SECTIONS, DEFAULT_OUT)
    parser.add_argument("--workdir", default=None, help="keep the fold folders here (default: a temporary one)")
    args, sections, mode, report = begin_report(parser, argv, "hpa_mixtures", SECTIONS, MODES, SEED)
    began = time.perf_counter()
    with work_folder(args.workdir, "protkit_mixtures_") as workdir:
        try:
            report["mixtures"] = bench(args.data, mode, workdir)
        except FileNotFoundError as error:
            report.setdefault("skipped", {})["mixtures"] = str(error)
    finish_report(report, args.out, began, minutes=True, show=show)


if __name__ == "__main__":
    main()
