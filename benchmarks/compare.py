"""Models and ablations compared by 5-fold cross-validation on the real HEp-2 and IFC sets.

Per data set, `protkit.evaluation.cross_validate` runs the same stratified folds (seed 0) for:
the Fast Spec CNN (cpu preset); its ablations without attention, without the spectral stream
and without regularization; a traditional CNN; ResNet-18 (width 16); PLCNN. Every model trains
for the same number of epochs (15 % of the training folds held out inside, best epoch kept by
early stopping) with classical augmentation, and is scored once per held-out fold.

Reported per model: per-fold balanced accuracy (mean class accuracy) and macro-F1, mean, std,
95 % t-interval; paired t-test and Wilcoxon signed-rank test against the Fast Spec CNN; McNemar
against the Fast Spec CNN on the pooled out-of-fold predictions (every cell predicted once).

Sections "hep2_spectral" and "ifc_spectral" (issue 14) run only the Fast Spec CNN's spectral
variants (`SPECTRAL_ARMS`: the paper's input FFT, a learnable global spectral filter after every
block) next to its no-spectral ablation, which is then the reference of the paired tests.

Data: HEp-2 `training/` (8,701 cells, 64x64; cells split per cell, no specimen ids) and IFC
Jurkat Experiment_1 (2,734 cells, Ch3/Ch4/Ch6, 40x40, balanced class weights). The committed
HEp-2 figures use `--items 3000` (a stratified subset of 3,001 cells): the full set takes about
6 hours on 2 cores (estimated from the subset's timings).

Run:
    python benchmarks/compare.py                  # full (several hours on 2 cores)
    python benchmarks/compare.py --quick          # smoke test
    python benchmarks/compare.py --sections ifc --update
    python benchmarks/compare.py --sections ifc_spectral,hep2_spectral --items 3000 --update
    python benchmarks/compare.py --sections hep2 --items 3000 --update --workdir runs/compare_hep2   # as committed
"""

from __future__ import annotations

import pathlib
import time

from _common import (RESULTS, begin_report, finish_report, label_counts, open_sections, standard_parser, work_folder,
                     write_json)

DEFAULT_OUT = RESULTS / "compare.json"
SEED = 0
SECTIONS = ("hep2", "ifc", "hep2_spectral", "ifc_spectral")
ARMS = {
    "fast_spec_cnn": dict(model="fast_spec_cnn"),
    "fast_spec_cnn, no attention": dict(model="fast_spec_cnn", model_kwargs={"attention": False}),
    "fast_spec_cnn, no spectral stream": dict(model="fast_spec_cnn", model_kwargs={"spectral": "spatial"}),
    "fast_spec_cnn, no regularization": dict(model="fast_spec_cnn", model_kwargs={"regularization": False}),
    "traditional CNN": dict(model="cnn", model_kwargs={"filters": (32, 64, 128), "hidden_units": 256}),
    "ResNet-18 (width 16)": dict(model="resnet", model_kwargs={"depth": 18, "width": 16}),
    "PLCNN": dict(model="plcnn", model_kwargs={"filters": (16, 32, 64)}),
    "fast_spec_cnn, global spectral filter": dict(model="fast_spec_cnn", model_kwargs={"spectral": "global_filter"}),
}
# The "_spectral" sections (issue 14): the Fast Spec CNN's spectral variants against its no-spectral ablation,
# side by side in one run on the same folds; the reference of their paired tests is the ablation.
SPECTRAL_ARMS = ("fast_spec_cnn, no spectral stream", "fast_spec_cnn", "fast_spec_cnn, global spectral filter")
SECTION_ARMS = {"hep2": tuple(arm for arm in ARMS if arm not in SPECTRAL_ARMS[2:]),
                "ifc": tuple(arm for arm in ARMS if arm not in SPECTRAL_ARMS[2:]),
                "hep2_spectral": SPECTRAL_ARMS, "ifc_spectral": SPECTRAL_ARMS}
REFERENCE = {"hep2": "fast_spec_cnn", "ifc": "fast_spec_cnn", "hep2_spectral": SPECTRAL_ARMS[0],
             "ifc_spectral": SPECTRAL_ARMS[0]}
SETS = {"hep2": dict(image_size=64, class_weight=None), "ifc": dict(image_size=40, class_weight="balanced")}
SETS.update(hep2_spectral=SETS["hep2"], ifc_spectral=SETS["ifc"])
MODES = {
    "full": dict(items=None, folds=5, epochs=30, patience=8),
    "quick": dict(items=300, folds=2, epochs=1, patience=None),
}


def run_set(name, dataset, mode, workdir):
    from protkit.evaluation import compare, cross_validate, mcnemar

    settings = SETS[name]
    results, minutes = {}, {}
    reference_arm = REFERENCE[name]
    for arm in SECTION_ARMS[name]:
        options = ARMS[arm]
        print(f"\n{name}: {arm}", flush=True)
        started = time.perf_counter()
        results[arm] = cross_validate(dataset, k=mode["folds"], image_size=settings["image_size"], epochs=mode["epochs"],
                                      early_stopping=mode["patience"], class_weight=settings["class_weight"],
                                      seed=SEED, out=workdir / arm.replace(" ", "_").replace(",", ""), **options)
        minutes[arm] = (time.perf_counter() - started) / 60
    _, y_true, reference = results[reference_arm].pooled_predictions()
    tests = {}
    for arm, result in results.items():
        if arm != reference_arm:
            tests[arm] = mcnemar(y_true, result.pooled_predictions()[2].argmax(axis=1), reference.argmax(axis=1))
    return {
        "items": len(dataset), "subset": mode["items"] is not None, "folds": mode["folds"],
        "image_size": settings["image_size"],
        "per_class": label_counts(dataset),
        "protocol": dict(results[reference_arm].protocol, epochs=mode["epochs"], early_stopping=mode["patience"],
                         class_weight=settings["class_weight"]),
        "reference_of_the_tests": reference_arm,
        "comparison": {metric: compare(results, metric, reference=reference_arm).to_dict(orient="index")
                       for metric in ("balanced_accuracy", "macro_f1", "accuracy")},
        f"mcnemar_vs_{'fast_spec_cnn' if reference_arm == 'fast_spec_cnn' else 'reference'}": tests,
        "folds_table": {arm: r.folds.to_dict(orient="records") for arm, r in results.items()},
        "minutes": minutes,
    }


def main(argv=None):
    parser = standard_parser(__doc__, SECTIONS, DEFAULT_OUT)
    parser.add_argument("--items", type=int,
                        help="a stratified subset of this many cells per set (seed 0), named in the results")
    parser.add_argument("--workdir", type=pathlib.Path,
                        help="keep per-fold results here (rerunning resumes); default a temporary folder")
    args, sections, mode, report = begin_report(parser, argv, "compare", SECTIONS, MODES, SEED)
    with work_folder(args.workdir, "protkit_compare_") as workdir:
        for name, dataset in open_sections(sections, args.data, mode["items"], report, SEED):
            report[name] = run_set(name, dataset, mode, workdir / name)
            reference_arm = REFERENCE[name]
            table = report[name]["comparison"]["balanced_accuracy"]
            print(f"\n{name}: balanced accuracy, {mode['folds']}-fold CV")
            for arm, row in table.items():
                print(f"  {arm:<36} {row['mean']:.4f} ± {row['std']:.4f}"
                      + ("" if arm == reference_arm else f"  t p={row['t_pvalue']:.3f} vs {reference_arm}"))
            write_json(report, args.out)
    finish_report(report, args.out)


if __name__ == "__main__":
    main()
