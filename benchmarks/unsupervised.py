"""Unsupervised methods on real data: DCAE + MLP on HEp-2; clustering of IFC Jurkat and HEp-2 cells.

(a) HEp-2 (ICPR 2014): `protkit.training.train(training/, model="dcae_mlp")` with the defaults a
    new user gets (`protkit train DATA --model dcae_mlp`): the autoencoder pretrained on the
    training images without labels and frozen, then the MLP on its latent + convolution statistics
    with the recipe (internal validation split, best epoch, dihedral test-time augmentation); the
    run reloaded from its folder and scored once on `validation/`. Target (issue 15): >= 96 % mean
    class accuracy. (Until 2026-12-01 this section chained the steps by hand: 93.8 %.)
(b) IFC Jurkat cell cycle (Experiment_1, 2,734 cells): DCAEC (autoencoder on every cell, no
    labels; Gaussian mixture with k-means initialization on the latents) for each combination of
    channels (Ch3+Ch4+Ch6, or without the DNA stain Ch4) and normalization (per image
    "percentile", or per channel over the whole set "dataset", which keeps DNA content).
    Scored against the 7 phases (k = 7) and 4 groups (interphase G1+S+G2 / prophase /
    metaphase / anaphase+telophase, k = 4, the same latents) by balanced accuracy after
    Hungarian matching, plus the adjusted Rand index.
(b2) IFC variants (issue 15): DCAEC against IDEC fine-tuning, dihedral-averaged latents and the
    contrastive encoder (`protkit.contrastive`), each with both normalizations, chosen on one
    random half of Experiment_1 and reported on the other.
(b3) HEp-2 without its labels: DCAEC and the contrastive encoder cluster each half of a
    3,000-cell stratified subset of training/ (k = 6 patterns), chosen on one half, reported on the other, as in (b2).
(c) Synthetic 3D volumes: 3D and fused 2D+3D autoencoders, held-out reconstruction error
    next to the mean-volume baseline (no real 3D data here).

Run:
    python benchmarks/unsupervised.py              # full (about 3 h on 2 cores)
    python benchmarks/unsupervised.py --quick      # smoke test, a few minutes
    python benchmarks/unsupervised.py --sections ifc --update
    python benchmarks/unsupervised.py --sections ifc_variants --variants "contrastive;idec" --update
"""

from __future__ import annotations

import json
import pathlib
import time

import numpy as np

from _common import (RESULTS, begin_report, finish_report, open_hep2, open_ifc, run_section, standard_parser,
                     stratified_subset, work_folder, write_json)

DEFAULT_OUT = RESULTS / "unsupervised.json"
SEED = 0
SECTIONS = ("hep2", "ifc", "ifc_variants", "hep2_clusters", "volumes")
IFC_GROUPS = {"G1": "interphase", "S_phase": "interphase", "G2": "interphase", "Prophase": "prophase",
              "Metaphase": "metaphase", "Anaphase": "anaphase+telophase", "Telophase": "anaphase+telophase"}
MODES = {
    "full": dict(hep2_items=None, hep2_size=None, hep2_latent=None, hep2_epochs=None, hep2_ae_epochs=None,
                 ifc_epochs=40, ifc_latent=32, idec_epochs=20, contrastive_epochs=100,
                 hep2_cluster_items=3000, hep2_cluster_size=64, hep2_cluster_epochs=30, hep2_contrastive_epochs=40, volumes=400, volume_epochs=40),
    "quick": dict(hep2_items=600, hep2_size=32, hep2_latent=32, hep2_epochs=1, hep2_ae_epochs=1,
                  ifc_epochs=1, ifc_latent=8, idec_epochs=2, contrastive_epochs=1,
                  hep2_cluster_items=600, hep2_cluster_size=32, hep2_cluster_epochs=1, hep2_contrastive_epochs=1, volumes=40, volume_epochs=1),
}


def bench_hep2(data_dir, mode, workdir=None):
    """`protkit train --model dcae_mlp` with its defaults on training/, scored once on validation/."""
    from protkit.inference import evaluate_run, load_run
    from protkit.training import train

    parts = {part: stratified_subset(open_hep2(data_dir, part), mode["hep2_items"], SEED)
             for part in ("training", "validation")}
    train_part, valid = parts["training"], parts["validation"]
    with work_folder(workdir / "hep2_dcae_mlp" if workdir else None, "protkit-dcae-mlp-") as folder:
        options = {} if mode["hep2_epochs"] is None else dict(
            epochs=mode["hep2_epochs"], image_size=mode["hep2_size"],
            model_kwargs=dict(latent_dim=mode["hep2_latent"], autoencoder_epochs=mode["hep2_ae_epochs"]))
        started = time.perf_counter()
        stamp = folder / "config.json"
        if stamp.is_file() and json.loads(stamp.read_text()).get("status") == "complete":
            print(f"reusing the finished run in {folder}", flush=True)
            minutes = None
        else:
            train(train_part, model="dcae_mlp", out=folder, seed=SEED, verbose=2, overwrite=True, **options)
            minutes = (time.perf_counter() - started) / 60
        run = load_run(folder)
        scores = evaluate_run(run, valid)
        config = json.loads(stamp.read_text())
        return {
            "protocol": ("protkit.training.train(training/, model='dcae_mlp') with the defaults a new user gets (the "
                         "recipe's image size, epochs, 20 % internal validation split, best epoch kept, dihedral "
                         "test-time augmentation; autoencoder pretrained on the training images without labels, then "
                         "frozen, the MLP on latent + convolution statistics), the run reloaded from its folder and "
                         "scored once on validation/ by evaluate_run. Nothing is chosen on validation/. Cells split as "
                         "the contest distributes them (no specimen ids)."),
            "items": {"training": len(train_part), "validation": len(valid)},
            "options": options,
            "recipe": {key: config.get(key) for key in ("model", "image_size", "epochs", "lr_schedule", "label_smoothing",
                                                        "class_weight", "keep", "tta", "model_kwargs", "kept_epoch")},
            "train_minutes": minutes,
            "validation": {"balanced_accuracy": scores["balanced_accuracy"], "accuracy": scores["accuracy"],
                           "macro_f1": scores["macro_f1"],
                           "per_class_recall": {c: r["recall"] for c, r in scores["per_class"].items()}},
            "target_balanced_accuracy": 0.96,
            "target_met": bool(scores["balanced_accuracy"] >= 0.96),
        }


def bench_ifc(data_dir, mode):
    from protkit.clustering import cluster_dataset, cluster_scores, fit_gmm

    variants = {}
    for channels in (["Ch3", "Ch4", "Ch6"], ["Ch3", "Ch6"]):
        dataset = open_ifc(data_dir, channels)
        groups = sorted(set(IFC_GROUPS.values()))
        grouped = np.array([groups.index(IFC_GROUPS[dataset.class_names[label]]) for label in dataset.labels])
        for normalization in ("percentile", "dataset"):
            name = f"{'+'.join(channels)} / {normalization}"
            print(f"\nIFC {name}", flush=True)
            started = time.perf_counter()
            run = cluster_dataset(dataset, 7, latent_dim=mode["ifc_latent"], epochs=mode["ifc_epochs"],
                                  normalization=normalization, seed=SEED, verbose=2, tsne_items=0)
            _, four, _ = fit_gmm(run["features"], 4, seed=SEED)
            scores4 = cluster_scores(grouped, four, class_names=groups)
            variants[name] = {
                "channels": channels, "normalization": normalization,
                "phases_7": {k: run["scores"][k] for k in ("balanced_accuracy", "adjusted_rand_index",
                                                           "normalized_mutual_information", "per_class_recall")},
                "groups_4": {k: scores4[k] for k in ("balanced_accuracy", "adjusted_rand_index", "per_class_recall")},
                "autoencoder_val_mse": run["autoencoder"].val_mse,
                "mean_image_mse": run["autoencoder"].baseline_mse,
                "minutes": (time.perf_counter() - started) / 60,
            }
    return {
        "protocol": ("Every cell of Experiment_1 (2,734; 7 phases) clustered without labels: DCAE (filters 32-64-128, "
                     "40x40) on all cells, Gaussian mixture (full covariance, k-means init, 3 inits, standardized "
                     "latents). k = 7 scored against the phases, k = 4 (same latents) against interphase (G1+S+G2) / "
                     "prophase / metaphase / anaphase+telophase. Balanced accuracy after one-to-one Hungarian "
                     "matching (labels used for evaluation only)."),
        "variants": variants,
    }


IFC_VARIANTS = {  # name: cluster_dataset options, each measured against today's DCAEC ("dcaec")
    "dcaec": dict(),
    "dcaec, dihedral-averaged latents": dict(views="dihedral"),
    "idec": dict(refine="idec"),
    "idec, dihedral-averaged latents": dict(refine="idec", views="dihedral"),
    "contrastive": dict(encoder="contrastive"),
    "contrastive, dihedral-averaged latents": dict(encoder="contrastive", views="dihedral"),
}


def ifc_halves(dataset, seed=SEED):
    """A fixed random half of the cells (stratified by phase) to choose on, and the other half to report on."""
    from protkit.data import train_val_test_split

    choose, report, _ = train_val_test_split(dataset.labels, val_fraction=0.5, seed=seed)
    return np.sort(choose), np.sort(report)


def variants_on_halves(dataset, targets, variants, normalizations, mode, epochs, only=None, previous=None,
                       title="", image_size=None):
    """Cluster each half of ``dataset`` with every variant x normalization and score every target.

    Args:
        dataset: the labelled set (labels for scoring only); `ifc_halves` splits it.
        targets: [(k, truth for every item of ``dataset``, class names)]; one clustering per k.
        variants: {name: `cluster_dataset` options}.
        normalizations: the normalizations tried with every variant.
        mode: the benchmark mode (latent size, IDEC epochs).
        epochs: (autoencoder epochs, contrastive encoder epochs).
        only, previous: run only these variants; keep the other rows from ``previous``.
        image_size: for `cluster_dataset` (None: the items' own size, rounded down to a multiple of 8).

    Returns:
        (rows by "variant / normalization", halves {name: indices}).
    """
    from protkit.clustering import cluster_dataset, cluster_scores, fit_gmm

    halves = dict(zip(("choose", "report"), ifc_halves(dataset)))
    results = {}
    kept = dict((previous or {}).get("variants", {}))
    for half, indices in halves.items():
        part = dataset.subset(indices)
        for variant, options in variants.items():
            for normalization in normalizations:
                name = f"{variant} / {normalization}"
                if only is not None and variant not in only:
                    if name in kept:
                        results[name] = kept[name]
                    continue
                row = results.setdefault(name, {"options": dict(options, normalization=normalization)})
                contrastive = options.get("encoder") == "contrastive"
                run = None
                for k, truth, names in targets:
                    started = time.perf_counter()
                    print(f"\n{title} {half} half, {name}, k={k}", flush=True)
                    if run is None or not contrastive:
                        run = cluster_dataset(part, k, latent_dim=mode["ifc_latent"], image_size=image_size,
                                              epochs=epochs[1] if contrastive else epochs[0],
                                              refine_epochs=mode["idec_epochs"], normalization=normalization,
                                              seed=SEED, verbose=0, tsne_items=0, **options)
                        assignments = run["assignments"]
                        if contrastive:
                            row[f"{half}_view_agreement"] = {"positive": run.autoencoder.positive_similarity,
                                                             "negative": run.autoencoder.negative_similarity}
                    else:  # latents that do not depend on k: the same encoder, another mixture
                        assignments = fit_gmm(run["features"], k, seed=SEED).assignments
                    scores = cluster_scores(truth[indices], assignments, class_names=names)
                    row[f"{half}_k{k}"] = {key: scores[key] for key in (
                        "balanced_accuracy", "many_to_one_balanced_accuracy", "adjusted_rand_index",
                        "normalized_mutual_information")}
                    row[f"{half}_k{k}"]["minutes"] = (time.perf_counter() - started) / 60
    return results, halves


def bench_ifc_variants(data_dir, mode, only=None, previous=None):
    """Every variant of `IFC_VARIANTS` x normalization, with k = 7 (phases) and k = 4 (groups), on each half.

    ``only``: the variants to run; the other rows are kept from ``previous`` (an earlier section).
    """
    dataset = open_ifc(data_dir, ["Ch3", "Ch4", "Ch6"])
    groups = sorted(set(IFC_GROUPS.values()))
    grouped = np.array([groups.index(IFC_GROUPS[dataset.class_names[label]]) for label in dataset.labels])
    targets = [(7, dataset.labels, dataset.class_names), (4, grouped, groups)]
    results, halves = variants_on_halves(dataset, targets, IFC_VARIANTS, ("percentile", "dataset"), mode,
                                         (mode["ifc_epochs"], mode["contrastive_epochs"]), only, previous, title="IFC")
    chosen = max(results, key=lambda name: results[name]["choose_k4"]["balanced_accuracy"]
                 + results[name]["choose_k7"]["balanced_accuracy"])
    return {
        "protocol": ("Experiment_1 (2,734 cells, Ch3+Ch4+Ch6) split once into two stratified random halves (seed 0). "
                     "Every variant clusters each half on its own, without labels (DCAE 40x40 on the half's cells, "
                     "then the Gaussian mixture; idec: the autoencoder fine-tuned with IDEC's clustering loss, "
                     "gamma 0.1, the mixture started from IDEC's clusters), with k = 7 (scored against the phases) "
                     "and k = 4 (against interphase / prophase / metaphase / anaphase+telophase). Scores: balanced "
                     "accuracy after one-to-one Hungarian matching, many-to-one, ARI, NMI. The variant is chosen by "
                     "the sum of its k = 7 and k = 4 balanced accuracies on the 'choose' half; the 'report' half "
                     "gives the figures to quote. contrastive: the same encoder trained without a decoder by "
                     "NT-Xent on two augmented views per cell (rotation, flips, zoom 0.2, channel intensity "
                     "+-10 %, noise 0.02; temperature 0.2, batch 64), trained once per half and normalization, "
                     "both k fitted on its latents."),
        "halves": {half: len(indices) for half, indices in halves.items()},
        "variants": results,
        "chosen_on_choose_half": chosen,
        "chosen_on_report_half": results[chosen],
    }


HEP2_CLUSTER_VARIANTS = {name: IFC_VARIANTS[name] for name in ("dcaec", "contrastive")}


def bench_hep2_clusters(data_dir, mode, only=None, previous=None):
    """HEp-2 without its labels: DCAEC and the contrastive encoder, k = 6 patterns, on each half of training/."""
    dataset = stratified_subset(open_hep2(data_dir), mode["hep2_cluster_items"], SEED)
    targets = [(dataset.num_classes, dataset.labels, dataset.class_names)]
    results, halves = variants_on_halves(dataset, targets, HEP2_CLUSTER_VARIANTS, ("percentile",), mode,
                                         (mode["hep2_cluster_epochs"], mode["hep2_contrastive_epochs"]), only,
                                         previous, title="HEp-2", image_size=mode["hep2_cluster_size"])
    k = dataset.num_classes
    chosen = max(results, key=lambda name: results[name][f"choose_k{k}"]["balanced_accuracy"])
    return {
        "protocol": (f"HEp-2 training/, a stratified subset of {len(dataset):,} cells (seed 0; {k} staining patterns; "
                     f"labels for scoring only) split "
                     f"once into two stratified random halves (seed 0). Each variant clusters each half on its own "
                     f"(per-image percentile normalization, {mode['hep2_cluster_size']} px, latent "
                     f"{mode['ifc_latent']}; DCAE {mode['hep2_cluster_epochs']} epochs, contrastive encoder "
                     f"{mode['hep2_contrastive_epochs']} epochs) with k = {k}. Scores as for IFC; the variant is "
                     f"chosen on the 'choose' half, the 'report' half gives the figures to quote."),
        "halves": {half: len(indices) for half, indices in halves.items()},
        "variants": results,
        "chosen_on_choose_half": chosen,
        "chosen_on_report_half": results[chosen],
    }


def bench_volumes(mode):
    import keras

    from protkit.data.synthetic import make_cells, make_volumes
    from protkit.models.autoencoder import compile_fused, dcae, fused_dcae

    volumes, _ = make_volumes(mode["volumes"], size=32, depth=16, seed=SEED)
    images = make_cells(mode["volumes"], image_size=32, seed=SEED)[0].astype(np.float32) / 255.0
    split = int(0.8 * len(volumes))
    baseline_3d = float(((volumes[:split].mean(axis=0) - volumes[split:]) ** 2).mean())
    baseline_2d = float(((images[:split].mean(axis=0) - images[split:]) ** 2).mean())
    keras.utils.set_random_seed(SEED)
    model_3d = dcae(volumes.shape[1:], latent_dim=32, filters=(16, 32, 64))
    model_3d.compile(optimizer="adam", loss="mse")
    model_3d.fit(volumes[:split], volumes[:split], epochs=mode["volume_epochs"], batch_size=16, verbose=0)
    mse_3d = float(model_3d.evaluate(volumes[split:], volumes[split:], verbose=0))
    fused = compile_fused(fused_dcae(images.shape[1:], volumes.shape[1:], 32, 32, (32, 64, 128), (16, 32, 64)), w1=0.5)
    fused.fit([images[:split], volumes[:split]], [images[:split], volumes[:split]], epochs=mode["volume_epochs"],
              batch_size=16, verbose=0)
    _, fused_2d, fused_3d = fused.evaluate([images[split:], volumes[split:]], [images[split:], volumes[split:]],
                                           verbose=0)
    return {
        "protocol": "synthetic volumes (make_volumes, 16x32x32x4) and cells (make_cells, 32x32x4), 80/20 split",
        "dcae_3d": {"val_mse": mse_3d, "mean_volume_mse": baseline_3d},
        "fused_w1_0.5": {"val_mse_2d": float(fused_2d), "val_mse_3d": float(fused_3d),
                         "mean_image_mse": baseline_2d, "mean_volume_mse": baseline_3d},
        "note": "2D images and volumes are generated independently here (pairs share nothing); the fused model "
                "is exercised for its weighted loss, not for cross-modal gains",
    }


def main(argv=None):
    parser = standard_parser(__doc__, SECTIONS, DEFAULT_OUT)
    parser.add_argument("--workdir", type=pathlib.Path,
                        help="keep the trained HEp-2 run folder here and reuse it when rerun (default: not kept)")
    parser.add_argument("--variants", help="ifc_variants, hep2_clusters: only these variants (names separated by "
                                           "';'); with --update the other rows are kept")
    args, sections, mode, report = begin_report(parser, argv, "unsupervised", SECTIONS, MODES, SEED)
    runners = {"hep2": lambda: bench_hep2(args.data, mode, args.workdir), "ifc": lambda: bench_ifc(args.data, mode),
               "ifc_variants": lambda: bench_ifc_variants(
                   args.data, mode, only=None if args.variants is None else args.variants.split(";"),
                   previous=report.get("ifc_variants")),
               "hep2_clusters": lambda: bench_hep2_clusters(
                   args.data, mode, only=None if args.variants is None else args.variants.split(";"),
                   previous=report.get("hep2_clusters")),
               "volumes": lambda: bench_volumes(mode)}
    for section in sections:
        started = time.perf_counter()
        if not run_section(report, section, runners[section]):
            continue
        report[section]["wall_minutes"] = (time.perf_counter() - started) / 60
        print(json.dumps({section: report[section]}, indent=1, default=float)[:3000])
        write_json(report, args.out)
    finish_report(report, args.out)


if __name__ == "__main__":
    main()
