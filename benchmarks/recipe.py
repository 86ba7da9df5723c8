"""Choosing `protkit train`'s default recipe on internal splits only: the recipe and its ablations, side by side.

Every arm is `protkit.training.train` on the same internal training part, then
`protkit.inference.evaluate_run` on the same internal held-out part; nothing here reads HEp-2
`validation/` (`benchmarks/reference.py` scores the frozen recipe there once).

Sections and protocols (mean class accuracy = balanced accuracy on the internal held-out part):
- hep2: HEp-2 ICPR 2014 `training/` only (8,701 cells), a stratified 80/20 split, seed 0 (no
  specimen ids exist, so the split is per cell).
- ifc: Jurkat IFC Experiment_1 (Ch3, Ch4, Ch6), the first 80 % of a stratified 80/20 split
  (seed 0; the part `reference.py` trains on), split again 80/20 (seed 1).

Arms (`ARMS`): "recipe" is `train(dataset)` with no recipe argument; "previous defaults" is
what the same call did before the recipe (the Fast Spec CNN cpu preset at 64 px, 15 epochs, a
constant learning rate, no label smoothing or class weights, the last epoch, no test-time
augmentation); the others change one part of the recipe, the architectures (`ARCHITECTURES`:
se_resnet, convnext) only the model. Arms already in ``--out`` are kept
with ``--update`` (a stopped run resumes by arm).

Run:
    python benchmarks/recipe.py --sections ifc --update      # about 20 min on 2 cores
    python benchmarks/recipe.py --sections hep2 --update     # about 50 min on 2 cores
    python benchmarks/recipe.py --quick                      # smoke test
"""

from __future__ import annotations

import time

from _common import (RESULTS, begin_report, finish_report, open_hep2, open_ifc, print_heading, standard_parser,
                     stratified_subset, work_folder, write_json)

DEFAULT_OUT = RESULTS / "recipe.json"
SEED = 0
SECTIONS = ("hep2", "ifc")
PREVIOUS_DEFAULTS = dict(model="fast_spec_cnn", preset="cpu", image_size=64, epochs=15, lr_schedule="constant",
                         label_smoothing=0.0, class_weight="none", keep="last", tta="none")
ARMS = {
    "recipe": {},
    "previous defaults": PREVIOUS_DEFAULTS,
    "recipe without label smoothing and class weights": dict(label_smoothing=0.0, class_weight="none"),
    "recipe without test-time augmentation": dict(tta="none"),
    "recipe with se_resnet (squeeze-and-excitation)": dict(model="se_resnet"),
    "recipe with convnext": dict(model="convnext"),
}
ARCHITECTURES = ("recipe with se_resnet (squeeze-and-excitation)", "recipe with convnext")
ARMS_PER_SECTION = {"ifc": tuple(ARMS), "hep2": ("recipe", "previous defaults",
                                                 "recipe without label smoothing and class weights", *ARCHITECTURES)}
MODES = {"full": dict(items=None, epochs=None), "quick": dict(items=240, epochs=1)}


def internal_parts(name, data_dir, items):
    """(internal training part, internal held-out part) of a section, from training data only."""
    from protkit.data import train_val_test_split

    if name == "hep2":
        dataset = stratified_subset(open_hep2(data_dir), items, SEED)
        keep, held, _ = train_val_test_split(dataset.labels, val_fraction=0.2, seed=SEED)
        return dataset.subset(keep), dataset.subset(held)
    dataset = stratified_subset(open_ifc(data_dir), items, SEED)
    outer, _, _ = train_val_test_split(dataset.labels, val_fraction=0.2, seed=SEED)  # reference.py's training part
    dataset = dataset.subset(outer)
    keep, held, _ = train_val_test_split(dataset.labels, val_fraction=0.2, seed=SEED + 1)
    return dataset.subset(keep), dataset.subset(held)


def run_arm(train_part, held_out, options, folder, epochs):
    from protkit.inference import evaluate_run, load_run
    from protkit.training import train

    options = dict(options)
    if epochs is not None:
        options["epochs"] = epochs
    started = time.perf_counter()
    result = train(train_part, out=folder, seed=SEED, verbose=2, overwrite=True, **options)
    minutes = (time.perf_counter() - started) / 60
    scores = evaluate_run(load_run(folder), held_out)
    recipe = {key: result.config[key] for key in ("model", "preset", "image_size", "epochs", "lr_schedule",
                                                  "label_smoothing", "class_weight", "keep", "tta")}
    return {"balanced_accuracy": scores["balanced_accuracy"], "accuracy": scores["accuracy"],
            "macro_f1": scores["macro_f1"], "minutes": minutes, "kept_epoch": result.config.get("kept_epoch"),
            "options": options, "recipe": recipe}


def show(report):
    print_heading(report, "recipe")
    for name in SECTIONS:
        section = report.get(name)
        if not isinstance(section, dict) or "arms" not in section:
            continue
        print(f"\n{name}: {section['train_items']} training / {section['held_out_items']} held-out items "
              f"({section['protocol']})")
        base = section["arms"].get("recipe", {}).get("balanced_accuracy")
        for label, values in section["arms"].items():
            difference = "" if base is None else f"  {values['balanced_accuracy'] - base:+.4f} vs recipe"
            print(f"  {label:50s} mean class accuracy {values['balanced_accuracy']:.4f}  macro-F1 "
                  f"{values['macro_f1']:.4f}  ({values['minutes']:.1f} min){difference}")


def main(argv=None):
    parser = standard_parser(__doc__, SECTIONS, DEFAULT_OUT)
    parser.add_argument("--workdir", default=None, help="keep the run folders here (default: a temporary one)")
    parser.add_argument("--arms", help="only these arms (comma-separated labels of ARMS); default: every arm of "
                                       "the section not already in --out")
    args, sections, mode, report = begin_report(parser, argv, "recipe", SECTIONS, MODES, SEED)
    report["protocol"] = ("mean class accuracy (balanced accuracy) on an internal held-out part of training data; "
                          "every arm on the same items; HEp-2 validation/ is not read")
    began = time.perf_counter()
    with work_folder(args.workdir, "protkit_recipe_") as workdir:
        for name in sections:
            try:
                train_part, held_out = internal_parts(name, args.data, mode["items"])
            except FileNotFoundError as error:
                report.setdefault("skipped", {})[name] = str(error)
                continue
            protocol = ("HEp-2 training/ only, stratified 80/20, seed 0, per cell" if name == "hep2" else
                        "IFC Experiment_1: reference.py's 80 % training part, split again stratified 80/20, seed 1")
            section = report.get(name) if isinstance(report.get(name), dict) else {}
            section.update(train_items=len(train_part), held_out_items=len(held_out), protocol=protocol)
            section.setdefault("arms", {})
            report[name] = section
            wanted = ARMS_PER_SECTION[name] if args.arms is None else [
                label for label in ARMS_PER_SECTION[name] if label in args.arms.split(",")]
            for label in wanted:
                if label in section["arms"]:
                    print(f"{name}: {label}: kept from {args.out}")
                    continue
                print(f"\n{name}: {label}", flush=True)
                section["arms"][label] = run_arm(train_part, held_out, ARMS[label],
                                                 workdir / f"{name}_{list(ARMS).index(label)}", mode["epochs"])
                write_json(report, args.out)
    finish_report(report, args.out, began, minutes=True, show=show)


if __name__ == "__main__":
    main()
