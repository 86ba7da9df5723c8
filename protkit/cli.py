"""The ``protkit`` command.

    protkit datasets inspect DATA [data options] [--json]
    protkit train DATA [data options] [--model M] [--preset P] [--epochs N] ... --out RUN_DIR
    protkit evaluate RUN_DIR DATA [data options] [--out metrics.json]
    protkit predict RUN_DIR DATA [data options] --out predictions.csv
    protkit cluster DATA [data options] --k K --out RUN_DIR
    protkit demo --out RUN_DIR [--fast] [--overwrite]

DATA is a folder with one subfolder per class, a folder of images plus ``--labels FILE.csv``,
or (for unlabelled work) a flat folder of images. See ``protkit datasets inspect --help``.
"""

from __future__ import annotations

import argparse
import json
import os
import sys

import numpy as np

from protkit.views import VIEWS
from protkit.vocabulary import MULTI_LABEL, SHOWN_METRICS, version

DATA_HELP = """\
DATA is one of:
  1. a folder with one subfolder per class (class = folder name); with --channels A,B,C files
     named <stem>_<channel>.<ext> are grouped by <stem> into one multi-channel item;
  2. a folder of images plus --labels FILE.csv with --id-column, --label-column (multi-label:
     space-separated labels) and --pattern, e.g. "{id:05d}.png" or "{id}_{channel}.png" with
     --channels red,green,blue,yellow (Human Protein Atlas);
  3. a flat folder of images without labels.
"""


def add_data_options(parser):
    """The data options shared by every subcommand that reads DATA."""
    group = parser.add_argument_group("data options")
    group.add_argument("data", metavar="DATA", help="image folder (see below)")
    group.add_argument("--labels", metavar="CSV", help="label table: one row per item")
    group.add_argument("--id-column", help="CSV column with item ids (default: Id, or the run's)")
    group.add_argument("--label-column",
                       help="CSV column with labels; several labels space-separated (default: Target, or the run's)")
    group.add_argument("--pattern", default=None,
                       help='file name from an id, e.g. "{id:05d}.png" or "{id}_{channel}.png" (default: "{id}.png")')
    group.add_argument("--channels", type=_comma_list, metavar="A,B,C",
                       help="channel names, in order, for per-channel files <stem>_<channel>.<ext>")
    group.add_argument("--class-names", metavar="FILE|A,B,C",
                       help='class names in index order: a text file (one per line), a comma list, or "hpa" '
                            '(the 28 Human Protein Atlas classes)')
    group.add_argument("--multi-label", action="store_true",
                       help="read the label column as multi-label even if every row holds one label "
                            "(detected automatically when any row holds several)")
    group.add_argument("--group-by", metavar="SPEC",
                       help='groups for leakage-free splits: "column:NAME" (CSV column) or "regex:PATTERN" '
                            '(first capture group of the file name, e.g. "regex:^(CP\\d+)_")')
    group.add_argument("--one-file-per-item", action="store_true",
                       help="read every image file as an item of its own even where the names look like one file "
                            "per channel (<stem>_<channel>.<ext>; refused by default: pass --channels)")
    group.add_argument("--skip-bad", action="store_true",
                       help="leave out items with missing or unreadable files (counted and reported) instead of stopping")


def _comma_list(text):
    values = [v.strip() for v in text.split(",") if v.strip()]
    if not values:
        raise argparse.ArgumentTypeError(f"expected a comma-separated list, got {text!r}")
    return values


def _class_names(spec):
    if spec is None:
        return None
    if spec.lower() == "hpa":
        from protkit.data import HPA_CLASSES

        return list(HPA_CLASSES)
    if os.path.isfile(spec):
        with open(spec) as handle:
            return [line.strip() for line in handle if line.strip()]
    return _comma_list(spec)


def dataset_from_args(args, allow_empty=False):
    """Build the `Dataset` the data options describe."""
    from protkit.data import Dataset

    class_names = _class_names(args.class_names) or getattr(args, "run_class_names", None)
    group_column, group_regex = _parse_group_by(args.group_by, args.labels)
    if args.labels:
        pattern = args.pattern or ("{id}_{channel}.png" if args.channels else "{id}.png")
        dataset = Dataset.from_csv(
            args.labels, image_dir=args.data, id_column=args.id_column or "Id",
            label_column=args.label_column or "Target",
            pattern=pattern, channels=args.channels, class_names=class_names, group_column=group_column,
            multi_label=True if args.multi_label else None,
            skip_bad=args.skip_bad, allow_empty=allow_empty)
    else:
        if args.pattern:
            raise SystemExit("protkit: --pattern needs --labels (a folder of class subfolders needs no pattern)")
        dataset = Dataset.from_folder(args.data, channels=args.channels, class_names=class_names,
                                      skip_bad=args.skip_bad, allow_empty=allow_empty,
                                      detect_channels=not args.one_file_per_item)
    if group_regex is not None and len(dataset):
        dataset = dataset.with_groups(regex=group_regex)
    return dataset


def _parse_group_by(spec, labels):
    if spec is None:
        return None, None
    kind, sep, value = spec.partition(":")
    if sep and kind == "column":
        if not labels:
            raise SystemExit("protkit: --group-by column:NAME needs --labels (the column is read from the CSV)")
        return value, None
    if sep and kind == "regex":
        return None, value
    raise SystemExit(f'protkit: --group-by expects "column:NAME" or "regex:PATTERN", got {spec!r}')


def _cmd_inspect(args):
    from protkit.data.inspect import format_summary, inspect_dataset

    asked_to_skip = args.skip_bad
    args.skip_bad = True  # inspect lists every problem rather than stopping at the first
    dataset = dataset_from_args(args, allow_empty=True)
    summary = inspect_dataset(dataset, sample_items=args.sample)
    if args.json:
        print(json.dumps(summary, indent=2))
        return 1 if summary["problem_count"] and not asked_to_skip else 0
    print(format_summary(summary))
    if dataset.skipped and not asked_to_skip:
        print(f"note: training on this data would stop at these {len(dataset.skipped)} item(s); "
              f"fix them or pass --skip-bad to leave them out (counted)")
    # A script can tell that problems were found; with --skip-bad they are the counted skips asked for.
    return 1 if summary["problem_count"] and not asked_to_skip else 0


def _apply_run_defaults(args, config):
    """Data options not given on the command line are taken from the run (same channels etc.)."""
    source = config.get("data", {})
    if source.get("kind") == "concatenate":
        source = source["parts"][0]
    if args.channels is None and source.get("channels"):
        args.channels = list(source["channels"])
    if args.labels:
        args.multi_label = args.multi_label or config.get("task") == MULTI_LABEL
        args.id_column = args.id_column or source.get("id_column")
        args.label_column = args.label_column or source.get("label_column")
        args.pattern = args.pattern or source.get("pattern")


def _cmd_train(args):
    from protkit.distribute import get_strategy, is_chief
    from protkit.training import train

    strategy = get_strategy(args.strategy)  # before any other TensorFlow work (multi-worker needs that)
    dataset = dataset_from_args(args)
    if dataset.skipped:
        print(f"left out {len(dataset.skipped)} item(s) with problems (--skip-bad)")
    print(dataset)
    result = train(
        dataset, model=args.model, preset=args.preset, out=args.out, image_size=args.image_size,
        epochs=args.epochs, batch_size=args.batch_size, learning_rate=args.learning_rate, loss=args.loss,
        normalization=args.normalization, augment=not args.no_augment, class_weight=args.class_weight,
        val_fraction=args.val_fraction, test_fraction=args.test_fraction, early_stopping=args.early_stopping,
        lr_schedule=args.lr_schedule, seed=args.seed, deterministic=args.deterministic, overwrite=args.overwrite,
        strategy=strategy, verbose=_keras_verbosity(args), tta=args.tta, skip_bad=args.skip_bad,
        label_smoothing=args.label_smoothing, keep=args.keep, calibration=args.calibration,
        label_count=args.label_count, time_budget=args.time_budget)
    if result.config["skipped"]:
        print(f"the pre-check left out {len(result.config['skipped'])} more item(s) with problems (--skip-bad)")
    print(_format_metrics(result.metrics))
    if "test" not in result.metrics:
        print("(validation figures: the validation part also chose the best epoch and thresholds; hold out "
              "--test-fraction, or run `protkit evaluate` on other data, for an unbiased figure)")
    if is_chief(strategy):
        print(f"run written to {args.out}")
    else:
        print(f"worker {result.config['strategy']['task']} finished; the chief wrote the run")
    return 0


def _cmd_evaluate(args):
    from protkit.inference import evaluate_run, load_run
    from protkit.runs import check_output_file, write_json

    if args.out:
        check_output_file(args.out, args.overwrite)  # before any work
    run = load_run(args.run_dir)
    _apply_run_defaults(args, run.config)
    args.run_class_names = run.class_names  # labels are read in the run's class order unless told otherwise
    dataset = dataset_from_args(args)
    result = evaluate_run(run, dataset, verbose=1 if sys.stdout.isatty() else 0, tta=args.tta)
    print(_format_metrics({"evaluation": result}))
    if args.out:
        write_json(args.out, result)
        print(f"metrics written to {args.out}")
    return 0


def _cmd_predict(args):
    from protkit.clustering import assign_clusters, is_cluster_run
    from protkit.inference import load_run, metadata_differences, predict_run

    if is_cluster_run(args.run_dir):  # a `protkit cluster` folder: new items to its clusters
        with open(os.path.join(args.run_dir, "config.json"), encoding="utf-8") as stream:
            _apply_run_defaults(args, json.load(stream))
        table = assign_clusters(args.run_dir, dataset_from_args(args), args.out, overwrite=args.overwrite)
        print(f"{len(table)} item(s) assigned to the clusters of {args.run_dir}; written to {args.out}")
        return 0
    run = load_run(args.run_dir)
    _apply_run_defaults(args, run.config)
    dataset = dataset_from_args(args)
    for note in metadata_differences(run, dataset):
        print(f"note: {note}")
    result = predict_run(run, dataset, args.out, overwrite=args.overwrite, skip_bad=args.skip_bad,
                         batch_size=args.batch_size, progress=sys.stdout.isatty(), tta=args.tta, shard=args.shard)
    kept = f" ({result['resumed']} more kept from the interrupted run)" if result["resumed"] else ""
    print(f"{result['written']} prediction(s) written to {result['path']}{kept}")
    if result["skipped"]:
        print(f"skipped {len(result['skipped'])} unreadable item(s) (--skip-bad):")
        for problem in result["skipped"][:10]:
            print(f"  - {problem}")
    return 0


def _shard(text):
    index, sep, parts = text.partition("/")
    if not (sep and index.isdigit() and parts.isdigit() and 1 <= int(index) <= int(parts)):
        raise argparse.ArgumentTypeError(f"expected I/N with 1 <= I <= N (I counts from 1), got {text!r}")
    return int(index), int(parts)


def _cmd_merge(args):
    from protkit.inference import merge_predictions

    rows = merge_predictions(args.parts, args.out, overwrite=args.overwrite)
    print(f"{rows} prediction(s) from {len(args.parts)} part(s) written to {args.out}")
    return 0


def _cmd_export(args):
    from protkit.export import export_bioimageio, export_onnx

    if not (args.onnx or args.bioimageio):
        raise SystemExit("protkit export: give --onnx OUT.onnx and/or --bioimageio OUT.zip")
    if args.onnx:
        record = export_onnx(args.run_dir, args.onnx, overwrite=args.overwrite)
        print(f"{args.onnx} written (input {record['input_name']!r}, shape {record['input_shape']}); ONNX and Keras "
              f"outputs agree to {record['max_abs_difference']:.1e} on {record['checked_images']} images; how to "
              f"prepare its input: {args.onnx}.json")
    if args.bioimageio:
        export_bioimageio(args.run_dir, None, args.bioimageio, overwrite=args.overwrite,
                                    authors=args.author or ("protkit user",), license=args.license)
        print(f"{args.bioimageio} written: a BioImage.io model package (ONNX weights, test tensors from the run's "
              f"data), validated by bioimageio.spec")
    return 0


def _cmd_cluster(args):
    from protkit.clustering import cluster_dataset

    dataset = dataset_from_args(args)
    print(dataset)
    if dataset.skipped:
        print(f"left out {len(dataset.skipped)} item(s) with problems (--skip-bad)")
    result = cluster_dataset(dataset, args.k, out=args.out, overwrite=args.overwrite, image_size=args.image_size,
                             latent_dim=args.latent_dim, epochs=args.epochs, batch_size=args.batch_size,
                             normalization=args.normalization, seed=args.seed,
                             verbose=_keras_verbosity(args), tsne_items=args.tsne_items, label_map=args.label_map,
                             k_range=args.k_range, views=args.views, refine=args.refine, gamma=args.gamma,
                             encoder=args.encoder, temperature=args.temperature)
    agreement = getattr(result.autoencoder, "positive_similarity", None)
    if agreement is not None:
        print(f"contrastive encoder: cosine similarity of two views of one cell {agreement:.3f}, of two cells "
              f"{result.autoencoder.negative_similarity:.3f}")
    sizes = np.bincount(result["assignments"], minlength=args.k)
    print("items per cluster: " + ", ".join(f"{c}: {n}" for c, n in enumerate(sizes)))
    scores = result["scores"]
    if scores is not None:
        print(f"against the known labels (evaluation only, clusters matched one-to-one): balanced accuracy "
              f"{scores['balanced_accuracy']:.4f}, adjusted Rand index {scores['adjusted_rand_index']:.4f}")
        print(f"  each cluster to its majority class (many-to-one): balanced accuracy "
              f"{scores['many_to_one_balanced_accuracy']:.4f}")
        if "groups" in scores:
            groups = scores["groups"]
            print(f"against the groups of --label-map: balanced accuracy {groups['balanced_accuracy']:.4f} "
                  f"(one-to-one), {groups['many_to_one_balanced_accuracy']:.4f} (many-to-one)")
    if result.k_selection is not None:
        print("k selection (BIC lower is better, silhouette higher is better):")
        for row in result.k_selection.itertuples():
            print(f"  k={row.k}: BIC {row.bic:.1f}, silhouette {row.silhouette:.3f}")
    print(f"run written to {args.out}")
    return 0


def _keras_verbosity(args):
    """Keras's progress bar on a terminal; one plain line per epoch with --quiet or when output is redirected."""
    return 2 if args.quiet or not sys.stdout.isatty() else "auto"


def _format_metrics(results):
    lines = []
    for part, values in results.items():
        if not isinstance(values, dict) or "task" not in values:
            continue
        shown = ", ".join(f"{k} {values[k]:.4f}" for k in SHOWN_METRICS if isinstance(values.get(k), (int, float)))
        lines.append(f"{part}: {shown}")
    return "\n".join(lines)


def _cmd_demo(args):
    from protkit.demo import run_demo

    run_demo(args.out, fast=args.fast, overwrite=args.overwrite, seed=args.seed)
    return 0


def build_parser():
    parser = argparse.ArgumentParser(prog="protkit", description="Fluorescence-microscopy toolkit (Keras 3).")
    parser.add_argument("--version", action="version", version=f"protkit {version()}")
    commands = parser.add_subparsers(dest="command", required=True)
    for add in (_add_inspect, _add_train, _add_evaluate, _add_predict, _add_merge, _add_cluster, _add_export,
                _add_demo):
        add(commands)
    return parser


def _command(commands, name, help, data=True, run_dir=False):
    """A subcommand parser: RUN_DIR first (``run_dir``), then DATA and the data options (``data``)."""
    if not data:
        return commands.add_parser(name, help=help)
    parser = commands.add_parser(name, help=help, epilog=DATA_HELP, formatter_class=argparse.RawDescriptionHelpFormatter)
    if run_dir:
        parser.add_argument("run_dir", metavar="RUN_DIR")
    add_data_options(parser)
    _add_verbose(parser)
    return parser


def _add_verbose(parser):
    parser.add_argument("--verbose", action="store_true",
                        help="show TensorFlow's start-up and C++ log lines (hidden by default)")


def _add_inspect(commands):
    datasets = commands.add_parser("datasets", help="look at a data folder before training")
    datasets_commands = datasets.add_subparsers(dest="datasets_command", required=True)
    inspect = _command(datasets_commands, "inspect", "items, classes, per-class counts, channels, dtypes, sizes, "
                                                     "problems")
    inspect.add_argument("--json", action="store_true", help="print the summary as JSON")
    inspect.epilog = (inspect.epilog or "") + ("\nExit status: 0 when no problem is found, 1 when there are problems "
                                               "(0 with --skip-bad, where they are the skips asked for), 2 on errors.\n")
    inspect.add_argument("--sample", type=int, default=64, help="items decoded for value ranges (default: 64)")
    inspect.set_defaults(func=_cmd_inspect)


def _add_train(commands):
    from protkit.models import MODELS
    from protkit.models.presets import MODEL_PRESETS

    train = _command(commands, "train", "train a classifier into RUN_DIR")
    train.add_argument("--model", choices=MODELS,
                       help="the classifier (default: resnet, preset small: the ResNet-18 layout at width 16)")
    train.add_argument("--preset", choices=sorted({name for names in MODEL_PRESETS.values() for name in names}),
                       help="a preset of the model: fast_spec_cnn has cpu (its default; fits 2 CPU cores) and paper "
                            "(its paper's Table 1 and training: 224 px, 50 epochs, constant learning rate); resnet "
                            "and se_resnet have small (their default); plcnn, cnn, convnext and dcae_mlp have none")
    train.add_argument("--image-size", type=_int_or_auto, metavar="N",
                       help="resize every item to N x N (default: the preset's, else auto: the items' median longer "
                            "side, a multiple of 8 within 16..128)")
    train.add_argument("--epochs", type=_int_or_auto, metavar="N",
                       help="training epochs (default: the preset's, else auto: about 100,000 images seen, within "
                            "15..60 epochs)")
    train.add_argument("--batch-size", type=int, metavar="N", help="images per step (default: the preset's, else 32)")
    train.add_argument("--learning-rate", type=float, metavar="LR",
                       help="the optimizer's peak learning rate (default: the preset's, else 1e-3)")
    train.add_argument("--loss", default="auto", choices=("auto", "focal"),
                       help="auto: categorical (single-label) / binary (multi-label) cross-entropy; focal: multi-label")
    train.add_argument("--normalization", default="percentile", choices=("percentile", "dataset", "fixed"),
                       help="percentile: per image (shape; default); dataset: per channel over the training split "
                            "(keeps absolute intensity); fixed: divide by the dtype range")
    train.add_argument("--class-weight", choices=("auto", "balanced", "none"),
                       help="class weights in the loss (default auto: balanced for single-label data, none for "
                            "multi-label)")
    train.add_argument("--label-smoothing", type=_float_or_auto, metavar="S",
                       help="move targets this share towards uniform (default auto: 0.1 single-label, 0 multi-label)")
    train.add_argument("--keep", choices=("best", "last"),
                       help="the run's model: its best validation epoch (default) or its last")
    train.add_argument("--calibration", choices=("temperature", "none"),
                       help="temperature (default): fit a temperature on the validation probabilities, recorded in "
                            "the run and applied by evaluate and predict (the top class never changes); none")
    train.add_argument("--time-budget", type=float, metavar="MIN",
                       help="minutes of wall clock for the whole run: a few steps are timed and the run gets the "
                            "epochs that fit (at most --epochs; without it the budget decides, at most 200), its "
                            "schedule complete")
    train.add_argument("--label-count", choices=("auto", "training", "none"),
                       help="multi-label: after the thresholds, give each item between the fewest and the most "
                            "labels a training item carries (auto, the default: training); none: thresholds alone")
    train.add_argument("--no-augment", action="store_true", help="no flips/rotations/zoom")
    train.add_argument("--val-fraction", type=float, default=0.2, metavar="F",
                       help="share of the items for validation: picks the best epoch and multi-label thresholds "
                            "(default: 0.2)")
    train.add_argument("--test-fraction", type=float, default=0.0, metavar="F",
                       help="share held out and scored once after training (default: 0: no test part; then the "
                            "figures printed are validation figures)")
    train.add_argument("--early-stopping", type=int, metavar="PATIENCE",
                       help="stop after PATIENCE epochs without a better validation score, keeping the best weights")
    train.add_argument("--lr-schedule", choices=("warmup_cosine", "cosine", "plateau", "constant"),
                       help="warmup_cosine (default): a linear warm-up over the first epoch, then cosine decay to 0; "
                            "cosine: decay to 0 over --epochs; plateau: halve it when validation stalls; constant")
    train.add_argument("--seed", type=int, default=0, help="seeds the split, shuffling, augmentation, weights (default: 0)")
    train.add_argument("--deterministic", action="store_true",
                       help="TensorFlow op determinism: the same seed repeats a CPU run bit for bit")
    train.add_argument("--strategy", default="auto", choices=("auto", "default", "mirrored", "multiworker"),
                       help="tf.distribute strategy; multiworker reads TF_CONFIG; --batch-size is global "
                            "(default auto: multiworker if TF_CONFIG lists several tasks, mirrored with several GPUs)")
    train.add_argument("--tta", choices=VIEWS + ("auto",),
                       help="test-time augmentation recorded in the run (evaluate and predict repeat it): "
                            "dihedral averages the 8 rotations and mirror images (square images), flips the 4 "
                            "mirror images (default auto: dihedral for square images, else flips)")
    train.add_argument("--out", required=True, metavar="RUN_DIR")
    train.add_argument("--overwrite", action="store_true", help="replace a finished run in RUN_DIR")
    train.add_argument("--quiet", action="store_true", help="one line per epoch instead of a progress bar")
    train.set_defaults(func=_cmd_train)


def _label_map(text):
    pairs = [part.split("=", 1) for part in text.split(",") if part.strip()]
    if not pairs or any(len(pair) != 2 or not pair[0].strip() or not pair[1].strip() for pair in pairs):
        raise argparse.ArgumentTypeError(f"expected CLASS=GROUP,CLASS=GROUP,..., got {text!r}")
    return {key.strip(): value.strip() for key, value in pairs}


def _k_range(text):
    low, sep, high = text.partition("-")
    if not (sep and low.isdigit() and high.isdigit() and 1 <= int(low) <= int(high)):
        raise argparse.ArgumentTypeError(f"expected A-B with 1 <= A <= B, got {text!r}")
    return list(range(int(low), int(high) + 1))


def _int_or_auto(text):
    return text if text == "auto" else int(text)


def _float_or_auto(text):
    return text if text == "auto" else float(text)


def _add_evaluate(commands):
    evaluate = _command(commands, "evaluate", "metrics of a run on labelled DATA", run_dir=True)
    evaluate.add_argument("--out", metavar="metrics.json")
    evaluate.add_argument("--tta", choices=VIEWS, help="test-time augmentation (default: the run's)")
    evaluate.add_argument("--overwrite", action="store_true")
    evaluate.set_defaults(func=_cmd_evaluate)


def _add_predict(commands):
    predict = _command(commands, "predict", "predictions.csv for the images in DATA", run_dir=True)
    predict.add_argument("--out", required=True, metavar="predictions.csv")
    predict.add_argument("--tta", choices=VIEWS, help="test-time augmentation (default: the run's)")
    predict.add_argument("--shard", type=_shard, metavar="I/N",
                         help="predict only the I-th of N contiguous parts of DATA (I counts from 1, e.g. a SLURM "
                              "array's $SLURM_ARRAY_TASK_ID with --array=1-N); join the parts with `protkit merge`")
    predict.add_argument("--batch-size", type=int, default=64, metavar="N", help="images per batch (default: 64)")
    predict.add_argument("--overwrite", action="store_true")
    predict.set_defaults(func=_cmd_predict)


def _add_merge(commands):
    merge = _command(commands, "merge", "join the parts of a sharded prediction (predict --shard I/N), in order",
                     data=False)
    merge.add_argument("parts", nargs="+", metavar="PART.csv", help="every part's predictions CSV")
    merge.add_argument("--out", required=True, metavar="predictions.csv")
    merge.add_argument("--overwrite", action="store_true")
    merge.set_defaults(func=_cmd_merge)


def _add_export(commands):
    export = _command(commands, "export", "the run's model for other tools (ONNX; needs pip install -e \".[export]\")",
                      data=False)
    export.add_argument("run_dir", metavar="RUN_DIR")
    export.add_argument("--onnx", metavar="OUT.onnx",
                        help="write the network as ONNX, with OUT.onnx.json (input, normalization, classes)")
    export.add_argument("--bioimageio", metavar="OUT.zip",
                        help="write a BioImage.io model package (rdf.yaml, ONNX weights, test tensors from the "
                             "run's training data, cover), validated with bioimageio.spec")
    export.add_argument("--author", action="append", metavar="NAME", help="an author of the package (repeatable)")
    export.add_argument("--license", default="CC-BY-4.0", help="SPDX license of the package (default: CC-BY-4.0)")
    export.add_argument("--overwrite", action="store_true")
    export.set_defaults(func=_cmd_export)


def _add_cluster(commands):
    cluster = _command(commands, "cluster", "DCAEC: autoencoder (or contrastive encoder) + Gaussian mixture "
                                            "clusters of DATA")
    cluster.add_argument("--k", type=int, required=True, help="number of clusters")
    cluster.add_argument("--out", required=True, metavar="RUN_DIR")
    cluster.add_argument("--image-size", type=int, help="default: the first image's size, rounded down to a multiple of 8")
    cluster.add_argument("--latent-dim", type=int, default=32)
    cluster.add_argument("--encoder", default="autoencoder", choices=("autoencoder", "contrastive"),
                         help="autoencoder: DCAEC (reconstruction); contrastive: an encoder trained to tell which "
                              "two augmented views come from one cell (SimCLR-style)")
    cluster.add_argument("--epochs", type=int, help="encoder epochs (default 30 autoencoder, 100 contrastive)")
    cluster.add_argument("--temperature", type=float, help="contrastive loss temperature (default 0.2)")
    cluster.add_argument("--batch-size", type=int, default=64)
    cluster.add_argument("--label-map", type=_label_map, metavar="CLASS=GROUP,...",
                         help="also score against coarser groups, e.g. G1=interphase,S=interphase,G2=interphase "
                              "(classes left out keep their own name)")
    cluster.add_argument("--k-range", type=_k_range, metavar="A-B",
                         help="also draw BIC and silhouette for k = A..B on the same latents (k_selection.png)")
    cluster.add_argument("--normalization", default="percentile", choices=("percentile", "dataset", "fixed"),
                         help="dataset: per-channel statistics over DATA (keeps absolute intensity, e.g. DNA content)")
    cluster.add_argument("--views", default="none", choices=("none", "flips", "dihedral"),
                         help="latents averaged over the cell's mirrored (flips) or rotated and mirrored (dihedral) "
                              "views: a turned cell falls in the same cluster")
    cluster.add_argument("--refine", default="none", choices=("none", "idec"),
                         help="idec: fine-tune the autoencoder with a clustering loss next to reconstruction (IDEC)")
    cluster.add_argument("--gamma", type=float, default=0.1, help="weight of IDEC's clustering loss")
    cluster.add_argument("--tsne-items", type=int, default=3000, help="items in the t-SNE figures (0: none)")
    cluster.add_argument("--seed", type=int, default=0)
    cluster.add_argument("--overwrite", action="store_true", help="replace a non-empty RUN_DIR")
    cluster.add_argument("--quiet", action="store_true", help="one line per epoch instead of a progress bar")
    cluster.set_defaults(func=_cmd_cluster)


def _add_demo(commands):
    demo = _command(commands, "demo", "the main job on the embedded synthetic cells (no download)", data=False)
    _add_verbose(demo)
    demo.add_argument("--out", required=True, metavar="RUN_DIR", help="folder for data, model, metrics and figures")
    demo.add_argument("--fast", action="store_true", help="a smaller, quicker run (also: PROTKIT_FAST=1)")
    demo.add_argument("--seed", type=int, default=0)
    demo.add_argument("--overwrite", action="store_true", help="replace an existing RUN_DIR")
    demo.set_defaults(func=_cmd_demo)


def main(argv=None):
    from protkit._quiet import load_tensorflow
    from protkit.backend import BackendError
    from protkit.data.datasets import DataError
    from protkit.data.readers import ImageReadError
    from protkit.extras import MissingExtraError

    args = build_parser().parse_args(argv)  # --help and argument errors end here, before TensorFlow loads
    if args.func not in (_cmd_inspect, _cmd_merge):
        load_tensorflow(verbose=getattr(args, "verbose", False))
    try:
        return args.func(args)
    except (DataError, ImageReadError, FileNotFoundError, FileExistsError, ValueError, MissingExtraError,
            BackendError) as error:
        print(f"protkit: error: {for_the_command_line(str(error))}", file=sys.stderr)
        return 2


# Python arguments named in protkit's messages, and what a command-line user types instead.
CLI_SPELLING = {"overwrite=True": "--overwrite", "skip_bad=True": "--skip-bad",
                "detect_channels=False": "--one-file-per-item"}


def for_the_command_line(message):
    """A library message with its Python argument names replaced by the command-line options."""
    for python, option in CLI_SPELLING.items():
        message = message.replace(python, option)
    return message


if __name__ == "__main__":
    sys.exit(main())
