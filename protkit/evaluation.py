"""Cross-validation and the statistics that compare models across folds.

- `cross_validate`: k-fold CV of any protkit model on a `Dataset`, stratified (single-label),
  multi-label stratified, or grouped (``dataset.groups``: no group in two folds). Each fold
  trains with `protkit.training.train` on the other folds (an inner validation split of them
  for early stopping and thresholds) and is scored once on its held-out fold. With ``out``,
  every finished fold is saved and a rerun of the same call continues where it stopped.
  ``gan=...`` balances each training fold with DCGAN images (`protkit.augment.gan_balance`)
  fitted on that fold only; the held-out fold stays real.
- `summarize`: mean, standard deviation and a 95 % t-interval per metric.
- `paired_tests`: paired t-test and Wilcoxon signed-rank test of two models' per-fold scores.
- `mcnemar`: McNemar's test of two classifiers on one common test set.
"""

from __future__ import annotations

import json
import math
import pathlib
import time

import numpy as np
import pandas as pd
from scipy import stats

from protkit import metrics as metrics_lib
from protkit.calibration import apply_temperature
from protkit.data import kfold_indices
from protkit.recipes import image_size_for
from protkit.results import CVResult  # noqa: F401  (public here too)
from protkit.runs import RunFolder, atomic_path, check_output_file, write_text
from protkit.vocabulary import FOLD_METRICS, PER_CLASS_METRIC, split_kind


def _fold_row(fold, metrics, task, n_train, n_synthetic, n_test, minutes):
    row = {"fold": fold, "n_train": n_train, "n_synthetic": n_synthetic, "n_test": n_test}
    row.update({name: metrics[name] for name in FOLD_METRICS[task] if name in metrics})
    key = PER_CLASS_METRIC[task]
    row.update({f"{key}:{name}": values[key] for name, values in metrics["per_class"].items()})
    row["minutes"] = minutes
    return row


def cross_validate(dataset, k=5, *, model=None, preset=None, image_size=None, normalization="percentile",
                   inner_val_fraction=0.15, gan=None, seed=0, out=None, overwrite=False, progress=True, **train_kwargs):
    """k-fold cross-validation of one model on ``dataset``.

    Args:
        dataset: a labelled `Dataset`; if it has groups, folds are grouped.
        k: number of folds (the Fast Spec CNN paper reports k=100; 5 suits a CPU).
        model, preset, image_size, normalization: as in `protkit.training.train`.
        inner_val_fraction: share of each training fold held out inside it for early stopping
            and multi-label thresholds (never the test fold).
        gan: None, or keyword arguments for `protkit.augment.gan_balance` (e.g.
            ``{"target": "max", "epochs": 30}``): each training fold gets its own GAN.
        seed: seeds the folds and every fold's training.
        out: a folder for per-fold results; rerunning the same call resumes there. A folder
            holding results of different settings is refused (the message names them).
        overwrite: remove what ``out`` holds and start again.
        progress: print one line per fold.
        **train_kwargs: passed to `train` (epochs, batch_size, learning_rate, early_stopping,
            class_weight, augment, lr_schedule, model_kwargs, callbacks, ...).

    Returns:
        `protkit.results.CVResult`.
    """
    if dataset.task is None:
        raise ValueError("cross-validation needs labels: this dataset is unlabelled")
    if dataset.synthetic is not None and dataset.synthetic.any():
        raise ValueError("cross-validate real items only; generated items are added per fold with gan=...")
    settings = dict(model=model, preset=preset, image_size=image_size, normalization=normalization, k=k,
                    inner_val_fraction=inner_val_fraction, gan=gan, seed=seed, data=dataset.source,
                    items=len(dataset), train_kwargs={key: value for key, value in train_kwargs.items()
                                                      if key != "callbacks"})
    folder = None
    if out is not None:
        folder = RunFolder.open(out, settings, overwrite=overwrite, stamp="settings.json", resume="always")
        if not folder.resumed:
            folder.write_stamp("running")

    folds = kfold_indices(dataset.labels, k=k, groups=dataset.groups, seed=seed)
    rows, predictions = [], []
    for fold, (train_idx, test_idx) in enumerate(folds):
        saved = folder / f"fold_{fold}.npz" if folder is not None else None
        if saved is not None and saved.exists():
            with np.load(saved, allow_pickle=False) as stored:
                row = json.loads(str(stored["row"]))
                prediction = {"test_indices": stored["test_indices"], "y_true": stored["y_true"],
                              "probabilities": stored["probabilities"],
                              "thresholds": stored["thresholds"] if "thresholds" in stored.files else np.zeros(0),
                              "label_count": stored["label_count"] if "label_count" in stored.files
                              else np.zeros(0, np.int64)}
            if progress:
                print(f"fold {fold + 1}/{k}: done earlier, loaded from {saved}")
        else:
            row, prediction = _run_fold(dataset, fold, train_idx, test_idx, model, preset, image_size, normalization,
                                        inner_val_fraction, gan, seed, folder, train_kwargs)
            if saved is not None:
                with atomic_path(saved) as temporary:
                    np.savez(temporary, row=json.dumps(row), **prediction)
            if progress:
                main = FOLD_METRICS[dataset.task][0]
                print(f"fold {fold + 1}/{k}: {main} {row[main]:.4f} on {row['n_test']} held-out items "
                      f"({row['minutes']:.1f} min)", flush=True)
        rows.append(row)
        predictions.append(prediction)

    table = pd.DataFrame(rows)
    protocol = {
        "folds": f"{k}-fold, {split_kind(dataset.task, dataset.groups is not None, 'folds')}, seed {seed}",
        "inner_validation": f"{inner_val_fraction:.0%} of each training fold (early stopping, thresholds); "
                            "each test fold is scored once",
        "summary": "mean, sample standard deviation and 95 % t-interval over folds",
    }
    if gan:
        protocol["gan"] = "each training fold balanced with DCGAN images trained on that fold only; test folds real"
    result = CVResult(table, summarize(table), predictions, protocol)
    if folder is not None:
        folder.write_table("folds.csv", table, index=False)
        folder.write_table("summary.csv", result.summary)
        folder.write_json("protocol.json", protocol)
        folder.write_stamp("complete")
    result.out = None if folder is None else folder.path
    return result


def _run_fold(dataset, fold, train_idx, test_idx, model, preset, image_size, normalization, inner_val_fraction, gan,
              seed, folder, train_kwargs):

    # lazy: cross-validation needs TensorFlow; the tables and tests of this module do not
    from protkit.data import load_images, make_pipeline
    from protkit.inference import model_probabilities
    from protkit.training import train

    started = time.perf_counter()
    size = tuple(image_size_for(dataset, model, preset, image_size))
    run_dir = None if folder is None else folder / f"fold_{fold}"
    # An interrupted fold resumes from its last epoch; anything else in its folder is replaced.
    resumable = run_dir is not None and RunFolder.is_interrupted(run_dir)
    common = dict(model=model, preset=preset, image_size=size, val_fraction=inner_val_fraction, seed=seed,
                  verbose=0, out=run_dir, overwrite=not resumable, **train_kwargs)
    if gan:
        from protkit.augment import gan_balance  # lazy, as train

        if size[0] != size[1]:
            raise ValueError(f"GAN balancing needs square images. Received: image_size={size}")
        balance = gan_balance(dataset, train_idx, image_size=size[0], normalizer=normalization,
                              seed=seed + fold, **gan)
        result = train(balance.dataset, normalization="fixed", **common)
        test_images = np.clip(load_images(dataset.subset(test_idx), image_size=size, normalizer=normalization), 0, 1)
        probabilities = model_probabilities(result.model, test_images, result.config.get("tta", "none"))
        probabilities = apply_temperature(probabilities, result.config.get("temperature"), dataset.task)
        n_synthetic = int(balance.dataset.synthetic.sum())
    else:
        result = train(dataset.subset(train_idx), normalization=normalization, **common)
        pipeline = make_pipeline(dataset, test_idx, batch_size=64, labels=False, image_size=size,
                                 normalizer=result.normalizer, cache=False)
        probabilities = apply_temperature(model_probabilities(result.model, pipeline, result.config.get("tta", "none")),
                                          result.config.get("temperature"), dataset.task)
        n_synthetic = 0
    thresholds, bounds = result.config.get("thresholds"), result.config.get("label_count_bounds")
    y_true = dataset.labels[test_idx]
    scores = metrics_lib.evaluate_predictions(y_true, probabilities, dataset.task, class_names=dataset.class_names,
                                              thresholds=thresholds if thresholds is not None else 0.5,
                                              label_count=bounds)
    row = _fold_row(fold, scores, dataset.task, len(train_idx) + n_synthetic, n_synthetic, len(test_idx),
                    (time.perf_counter() - started) / 60)
    return row, {"test_indices": np.asarray(test_idx), "y_true": np.asarray(y_true),
                 "probabilities": np.asarray(probabilities, np.float32),
                 "thresholds": np.asarray(thresholds if thresholds is not None else [], np.float32),
                 "label_count": np.asarray(bounds if bounds is not None else [], np.int64)}


def confidence_interval(values, level=0.95):
    """(low, high) t-interval for the mean of ``values`` (NaN, NaN for fewer than 2 values)."""
    values = np.asarray(values, dtype=float)
    values = values[np.isfinite(values)]
    if len(values) < 2:
        return math.nan, math.nan
    half = stats.t.ppf(0.5 + level / 2, len(values) - 1) * values.std(ddof=1) / math.sqrt(len(values))
    return float(values.mean() - half), float(values.mean() + half)


def summarize(folds, level=0.95):
    """Mean, sample std and ``level`` t-interval of every metric column of a per-fold table."""
    skip = {"fold", "n_train", "n_synthetic", "n_test"}
    rows = {}
    for column in folds.columns:
        if column in skip or not pd.api.types.is_numeric_dtype(folds[column]):
            continue
        values = folds[column].to_numpy(dtype=float)
        low, high = confidence_interval(values, level)
        rows[column] = {"mean": float(np.nanmean(values)), "std": float(np.nanstd(values, ddof=1)) if len(values) > 1
                        else math.nan, "ci_low": low, "ci_high": high, "folds": int(np.isfinite(values).sum())}
    return pd.DataFrame.from_dict(rows, orient="index")


def paired_tests(scores_a, scores_b):
    """Compare two models' per-fold scores on the same folds.

    Returns:
        dict: ``mean_difference`` (a - b), ``t_statistic`` and ``t_pvalue`` (paired t-test),
        ``wilcoxon_statistic`` and ``wilcoxon_pvalue`` (Wilcoxon signed-rank, two-sided; NaN
        when every difference is zero), ``folds``. With 5 folds the Wilcoxon test cannot go
        below p = 0.0625: say so rather than read it as "no difference".
    """
    a, b = np.asarray(scores_a, dtype=float), np.asarray(scores_b, dtype=float)
    if a.shape != b.shape or a.ndim != 1 or len(a) < 2:
        raise ValueError(f"paired tests need two equal-length score lists of at least 2 folds. Received shapes "
                         f"{a.shape} and {b.shape}")
    difference = a - b
    result = {"folds": int(len(a)), "mean_difference": float(difference.mean())}
    if np.allclose(difference, difference[0]):
        result.update(t_statistic=math.nan, t_pvalue=math.nan)
    else:
        t = stats.ttest_rel(a, b)
        result.update(t_statistic=float(t.statistic), t_pvalue=float(t.pvalue))
    if np.all(difference == 0):
        result.update(wilcoxon_statistic=math.nan, wilcoxon_pvalue=math.nan)
    else:
        w = stats.wilcoxon(a, b)
        result.update(wilcoxon_statistic=float(w.statistic), wilcoxon_pvalue=float(w.pvalue))
    return result


def mcnemar(y_true, pred_a, pred_b, exact=None):
    """McNemar's test: do two classifiers err on different items of one test set?

    Args:
        y_true, pred_a, pred_b: class indices (N,), or multi-hot rows (N, K) compared as whole
            label sets (exact match).
        exact: binomial test on the discordant pairs (default when they are fewer than 25),
            else the chi-square statistic with continuity correction.

    Returns:
        dict with ``only_a_right`` (b), ``only_b_right`` (c), ``statistic``, ``p_value``, ``exact``.
    """
    y_true, pred_a, pred_b = (np.asarray(v) for v in (y_true, pred_a, pred_b))
    if not y_true.shape == pred_a.shape == pred_b.shape:
        raise ValueError(f"y_true, pred_a and pred_b must have one shape. Received: {y_true.shape}, {pred_a.shape}, "
                         f"{pred_b.shape}")
    right_a = (pred_a == y_true).reshape(len(y_true), -1).all(axis=1)
    right_b = (pred_b == y_true).reshape(len(y_true), -1).all(axis=1)
    b, c = int((right_a & ~right_b).sum()), int((~right_a & right_b).sum())
    exact = (b + c) < 25 if exact is None else bool(exact)
    if b + c == 0:
        return {"only_a_right": b, "only_b_right": c, "statistic": 0.0, "p_value": 1.0, "exact": exact}
    if exact:
        statistic = float(min(b, c))
        p_value = float(stats.binomtest(min(b, c), b + c, 0.5).pvalue)
    else:
        statistic = (abs(b - c) - 1) ** 2 / (b + c)
        p_value = float(stats.chi2.sf(statistic, 1))
    return {"only_a_right": b, "only_b_right": c, "statistic": float(statistic), "p_value": min(p_value, 1.0),
            "exact": exact}


def compare(results, metric, reference=None):
    """One row per model: ``metric``'s mean, std and 95 % interval over the shared folds, and
    the paired tests against ``reference`` (default the first model).

    Args:
        results: {name: `CVResult`}, all run with the same folds (same data, k and seed).
        metric: a per-fold column, e.g. "balanced_accuracy", "macro_f1" or "recall:Golgi".
        reference: the model the others are tested against.

    Returns:
        pandas DataFrame indexed by model name.
    """
    names = list(results)
    if not names:
        raise ValueError("compare needs at least one result")
    reference = names[0] if reference is None else reference
    if reference not in results:
        raise ValueError(f"reference {reference!r} is not among {names}")
    folds = {name: result.folds.sort_values("fold") for name, result in results.items()}
    for name, table in folds.items():
        if metric not in table:
            raise ValueError(f"{name}: no per-fold column {metric!r}; columns are {list(table.columns)}")
        if len(table) != len(folds[reference]):
            raise ValueError(f"{name} has {len(table)} folds, {reference} has {len(folds[reference])}: "
                             f"compare results of the same folds")
    rows = {}
    base = folds[reference][metric].to_numpy(dtype=float)
    for name, table in folds.items():
        values = table[metric].to_numpy(dtype=float)
        low, high = confidence_interval(values)
        row = {"mean": values.mean(), "std": values.std(ddof=1) if len(values) > 1 else math.nan,
               "ci_low": low, "ci_high": high}
        if name != reference:
            tests = paired_tests(values, base)
            row.update({f"difference_vs_{reference}": tests["mean_difference"], "t_pvalue": tests["t_pvalue"],
                        "wilcoxon_pvalue": tests["wilcoxon_pvalue"]})
        rows[name] = row
    return pd.DataFrame.from_dict(rows, orient="index")


def _latex_escape(text):
    for char, escaped in (("\\", r"\textbackslash{}"), ("&", r"\&"), ("%", r"\%"), ("_", r"\_"), ("#", r"\#"),
                          ("$", r"\$"), ("{", r"\{"), ("}", r"\}")):
        text = text.replace(char, escaped)
    return text


def markdown_table(frame, digits=3):
    """A pandas DataFrame as a GitHub-flavoured Markdown table (index as the first column)."""
    def cell(value):
        if isinstance(value, float):
            return f"{value:.{digits}f}"
        return str(value)

    header = [str(frame.index.name or "")] + [str(c) for c in frame.columns]
    rows = [[cell(index)] + [cell(v) for v in row] for index, row in zip(frame.index, frame.itertuples(index=False))]
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    lines += ["| " + " | ".join(row) + " |" for row in rows]
    return "\n".join(lines)


def latex_table(frame, digits=4, caption=None):
    """A DataFrame as a LaTeX ``tabular`` (booktabs rules), index first; no extra packages beyond booktabs."""
    def cell(value):
        if isinstance(value, (float, np.floating)):
            return "--" if not np.isfinite(value) else f"{value:.{digits}f}"
        return _latex_escape(str(value))

    columns = [str(frame.index.name or "")] + [str(c) for c in frame.columns]
    lines = [r"\begin{table}[ht]", r"\centering"]
    if caption:
        lines.append(r"\caption{" + _latex_escape(caption) + "}")
    lines += [r"\begin{tabular}{l" + "r" * len(frame.columns) + "}", r"\toprule",
              " & ".join(_latex_escape(c) for c in columns) + r" \\", r"\midrule"]
    for index, row in zip(frame.index, frame.itertuples(index=False)):
        lines.append(" & ".join([cell(index)] + [cell(v) for v in row]) + r" \\")
    lines += [r"\bottomrule", r"\end{tabular}", r"\end{table}"]
    return "\n".join(lines) + "\n"


def export_table(frame, stem, digits=4, caption=None, overwrite=False):
    """Write ``frame`` as ``<stem>.csv`` (full precision), ``<stem>.md`` and ``<stem>.tex``.

    Returns:
        dict {"csv", "md", "tex"} of the paths written. Existing files are refused unless
        ``overwrite``.
    """
    stem = pathlib.Path(stem)
    paths = {kind: stem.with_name(stem.name + f".{kind}") for kind in ("csv", "md", "tex")}
    for path in paths.values():
        check_output_file(path, overwrite)
    stem.parent.mkdir(parents=True, exist_ok=True)
    with atomic_path(paths["csv"]) as temporary:
        frame.to_csv(temporary)
    write_text(paths["md"], markdown_table(frame, digits=digits) + "\n")
    write_text(paths["tex"], latex_table(frame, digits=digits, caption=caption))
    return paths
