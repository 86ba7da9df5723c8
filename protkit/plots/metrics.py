"""Figures of evaluation results: confusion matrix, per-class bars, the multi-label accuracy trap."""

from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import seaborn as sns
from matplotlib.lines import Line2D
from matplotlib.ticker import PercentFormatter

from protkit.plots._common import figure_and_axes, legend_below


def confusion_matrix(cm, class_names, normalize=True, ax=None):
    """Heatmap of a confusion matrix: rows are the true classes, columns the predicted ones.

    Args:
        cm: (K, K) counts, rows true, columns predicted (as `sklearn.metrics.confusion_matrix`).
        class_names: K names.
        normalize: show each row as fractions of its true class (recall on the diagonal);
            up to 10 classes the counts are written under the fractions. Rows without items
            stay blank.
        ax: optional axes to draw into.

    Returns:
        The Figure (the heatmap axes and its colourbar).
    """
    cm = np.asarray(cm, dtype=float)
    names = [str(name) for name in class_names]
    if cm.ndim != 2 or cm.shape != (len(names), len(names)):
        raise ValueError(f"cm must be ({len(names)}, {len(names)}) for {len(names)} class names. "
                         f"Received: cm.shape={cm.shape}")
    k = len(names)
    totals = cm.sum(axis=1, keepdims=True)
    if normalize:
        values = np.divide(cm, totals, out=np.full_like(cm, np.nan), where=totals > 0)
        annot = np.vectorize(lambda f, n: f"{f:.2f}\n({n:.0f})" if k <= 10 else f"{f:.2f}")(values, cm)
    else:
        values, annot = cm, np.vectorize(lambda n: f"{n:.0f}")(cm)
    size = max(4.5, 0.55 * k + 2.5)
    fig, ax = figure_and_axes(ax, (size + 1.0, size))
    sns.heatmap(values, annot=annot if k <= 20 else False, fmt="", cmap="Blues", vmin=0,
                vmax=1 if normalize else None, square=True, linewidths=0.5, linecolor="white",
                xticklabels=names, yticklabels=names, ax=ax, annot_kws={"fontsize": 8 if k <= 10 else 6},
                cbar_kws={"label": "fraction of the true class" if normalize else "items", "shrink": 0.8})
    ax.set_xlabel("predicted")
    ax.set_ylabel("true")
    ax.tick_params(axis="x", labelrotation=45)
    plt.setp(ax.get_xticklabels(), ha="right", rotation_mode="anchor")
    ax.tick_params(axis="y", labelrotation=0)
    total = cm.sum()
    accuracy = f"accuracy {np.trace(cm) / total:.3f} on {total:.0f} items" if total else "no items"
    ax.set_title(f"Confusion matrix{' (rows sum to 1)' if normalize else ''}: {accuracy}", fontsize=10)
    return fig


def per_class_bars(per_class_df, metric="f1", ax=None, title=None):
    """Horizontal bars of per-class metrics, best class on top, with the macro average marked.

    Args:
        per_class_df: the ``per_class`` table of `protkit.metrics.multilabel_metrics` or
            `singlelabel_metrics` (a DataFrame indexed by class), or its JSON form
            {class: {column: value}} as in a run's ``metrics.json``.
        metric: a column (``"f1"``, ``"precision"``, ``"recall"``, ``"roc_auc"``) or a list of
            columns, drawn as grouped bars. Classes are sorted by the first one.
        ax: optional axes to draw into.
        title: default names the metrics and the macro average of the first.

    Returns:
        The Figure. With a ``support`` column, each class label shows its number of items
        (multi-label: items carrying the label). Missing values (NaN: e.g. ROC-AUC of a class
        without positives) draw no bar.
    """
    table = per_class_df if isinstance(per_class_df, pd.DataFrame) else pd.DataFrame.from_dict(
        per_class_df, orient="index")
    metrics = [metric] if isinstance(metric, str) else list(metric)
    missing = [m for m in metrics if m not in table.columns]
    if missing or not metrics or table.empty:
        raise ValueError(f"metric must name columns of the per-class table {list(table.columns)} "
                         f"(non-empty). Received: metric={metric!r}")
    values = table[metrics].apply(pd.to_numeric, errors="coerce")
    # Best class last (drawn on top); ties keep the table's order, read top-down.
    order = values[metrics[0]].fillna(-1.0).sort_values(ascending=False, kind="stable").index[::-1]
    values = values.loc[order]
    names = [str(name) for name in order]
    if "support" in table.columns:
        names = [f"{name} (n={int(n)})" for name, n in zip(names, table.loc[order, "support"])]
    k, m = len(values), len(metrics)
    fig, ax = figure_and_axes(ax, (7.0, 1.0 + 0.32 * k * max(1.0, 0.6 * m)))
    height = 0.8 / m
    colors = sns.color_palette("deep", m)
    positions = np.arange(k)
    for j, (name, color) in enumerate(zip(metrics, colors)):
        offset = (m - 1 - j - (m - 1) / 2) * height  # first metric on top within a group
        column = values[name].to_numpy(dtype=float)
        ax.barh(positions + offset, np.nan_to_num(column), height=height * 0.92, color=color, label=name)
        if m <= 3 and k <= 30:
            for y, value in zip(positions + offset, column):
                text = "n/a" if np.isnan(value) else f"{value:.2f}"
                ax.text(0 if np.isnan(value) else value, y, f" {text}", va="center", fontsize=7)
    macro = float(np.nanmean(values[metrics[0]].to_numpy(dtype=float)))
    ax.axvline(macro, color="black", linestyle="--", linewidth=1, label=f"macro {metrics[0]} = {macro:.3f}")
    ax.set_yticks(positions, names, fontsize=8)
    ax.set_xlim(0, 1.12)
    ax.set_xlabel(" / ".join(metrics))
    ax.set_ylabel("class")
    ax.grid(axis="x", alpha=0.3)
    ax.spines[["top", "right"]].set_visible(False)
    legend_below(ax, fontsize=8, ncol=m + 1, frameon=False)
    ax.set_title(title or f"Per-class {', '.join(metrics)}: the macro average weighs every class alike", fontsize=10)
    return fig


_TRAP_NAMES = {"elementwise_accuracy": "element-wise\naccuracy", "exact_match_accuracy": "exact-match\naccuracy",
               "macro_f1": "macro-F1", "micro_f1": "micro-F1"}


def accuracy_trap(table, ax=None, reference=None, title=None):
    """Grouped bars of the model next to trivial baselines, one group per metric.

    Draws the table of `protkit.metrics.accuracy_trap_table`: element-wise accuracy is high
    even for the all-negative baseline (no label ever predicted) when labels are rare, while
    exact-match accuracy and macro-F1 expose it.

    Args:
        table: DataFrame, one row per predictor ("model", "all-negative baseline", ...) and one
            column per metric (fractions in [0, 1]).
        ax: optional axes to draw into.
        reference: optional {label: value} drawn as dotted horizontal lines, e.g.
            ``{"paper's reported accuracy": 0.9879}``.
        title: default quotes the all-negative baseline's element-wise accuracy, if present.

    Returns:
        The Figure; every bar is annotated with its value in percent.
    """
    if not isinstance(table, pd.DataFrame) or table.empty:
        raise ValueError(f"table must be a non-empty DataFrame (rows: predictors, columns: metrics). "
                         f"Received: {type(table).__name__}")
    values = table.apply(pd.to_numeric, errors="coerce").to_numpy(dtype=float)
    rows, columns = [str(r) for r in table.index], list(table.columns)
    fig, ax = figure_and_axes(ax, (1.9 * len(columns) + 2.6, 4.2))
    width = 0.8 / len(rows)
    grays = sns.color_palette("Greys", len(rows) + 1)[1:][::-1]
    palette = [sns.color_palette("deep")[0] if row == "model" else grays[i] for i, row in enumerate(rows)]
    positions = np.arange(len(columns))
    handles = []  # legend: the bars (model, then baselines), then the reference lines
    for i, (row, color) in enumerate(zip(rows, palette)):
        x = positions + (i - (len(rows) - 1) / 2) * width
        handles.append(ax.bar(x, np.nan_to_num(values[i]), width=width * 0.92, color=color, label=row,
                              edgecolor="black" if row == "model" else "none", linewidth=0.8))
        for xi, value in zip(x, values[i]):
            if np.isfinite(value):
                ax.text(xi, value + 0.01, f"{100 * value:.1f}", ha="center", va="bottom", fontsize=7)
    for (label, value), style in zip((reference or {}).items(), (":", "-.", "--")):
        handles.append(ax.axhline(value, color="firebrick", linestyle=style, linewidth=1.2,
                                  label=f"{label}: {100 * value:.2f} %"))
    ax.set_xticks(positions, [_TRAP_NAMES.get(c, str(c)) for c in columns])
    ax.set_ylim(0, 1.12)
    ax.yaxis.set_major_formatter(PercentFormatter(1.0))
    ax.set_ylabel("score")
    ax.set_xlabel("metric")
    ax.grid(axis="y", alpha=0.3)
    ax.spines[["top", "right"]].set_visible(False)
    legend_below(ax, handles=handles, fontsize=8, ncol=2, frameon=False)
    if title is None:
        title = "Multi-label scores of the model and of trivial baselines"
        if "all-negative baseline" in rows and "elementwise_accuracy" in columns:
            trap = values[rows.index("all-negative baseline"), columns.index("elementwise_accuracy")]
            title += f"\npredicting no label at all already scores {100 * trap:.1f} % element-wise accuracy"
    ax.set_title(title, fontsize=10)
    return fig


def comparison_bars(table, metric=None, ax=None, title=None, reference=None):
    """Models side by side: mean over folds with its 95 % interval (a `protkit.evaluation.compare` table).

    Bars are the mean over the folds; whiskers its 95 % t-interval (``ci_low`` .. ``ci_high``);
    the p-value of the paired t-test against the reference model (``t_pvalue``), when the
    table has it, is written above each whisker; the reference's mean is a dashed line. A
    legend says all of this.

    Args:
        table: DataFrame indexed by model with ``mean``, ``ci_low``, ``ci_high`` (and optionally
            ``t_pvalue``).
        metric: axis label (the metric's name).
        ax: optional axes.
        title: axes title; default names the metric and the number of models.
        reference: the model the p-values are against, drawn as a dashed line across the plot.

    Returns:
        The Figure.
    """
    fig, ax = (ax.figure, ax) if ax is not None else plt.subplots(figsize=(1.3 * len(table) + 3.2, 4.0),
                                                                  layout="constrained")
    means = table["mean"].to_numpy(dtype=float)
    lows, highs = table["ci_low"].to_numpy(dtype=float), table["ci_high"].to_numpy(dtype=float)
    positions = np.arange(len(table))
    handles = [ax.bar(positions, means, color="#6a9ec5", edgecolor="black", linewidth=0.5, width=0.6,
                      label="mean over folds")]
    handles.append(ax.errorbar(positions, means, yerr=[np.nan_to_num(means - lows), np.nan_to_num(highs - means)],
                               fmt="none", ecolor="black", capsize=4, linewidth=1,
                               label="95 % interval of the mean (t)"))
    ax.set_xticks(positions, [str(i) for i in table.index], rotation=20, ha="right", fontsize=8)
    tops = np.where(np.isfinite(highs), highs, means)
    span = max(float(np.nanmax(tops)) - min(0.0, float(np.nanmin(lows if np.isfinite(lows).any() else means))),
               1e-9)
    tested = "t_pvalue" in table and np.isfinite(table["t_pvalue"].to_numpy(dtype=float)).any()
    if tested:
        for x, top, p in zip(positions, tops, table["t_pvalue"].to_numpy(dtype=float)):
            if np.isfinite(p):  # above the whisker, never on it
                ax.annotate(f"p={p:.3f}", (x, top), textcoords="offset points", xytext=(0, 5), ha="center",
                            va="bottom", fontsize=7)
    if reference is not None and reference in table.index:
        value = float(table.loc[reference, "mean"])
        handles.append(ax.axhline(value, color="gray", linestyle="--", linewidth=1,
                                  label=f"{reference}: mean {value:.3f}"))
    ax.set_ylim(top=float(np.nanmax(tops)) + 0.18 * span)
    ax.set_xlabel("model")
    ax.set_ylabel(metric or "score")
    against = f"vs {reference}" if reference is not None else "vs the reference"
    ax.set_title(title or f"{metric or 'score'}: {len(table)} models", fontsize=10)
    if tested:
        handles.append(Line2D([], [], linestyle="none", label=f"p = paired t-test {against}"))
    legend_below(ax, handles=handles, fontsize=7, ncol=2, frameon=False)
    ax.grid(axis="y", alpha=0.3)
    return fig


def reliability_diagram(curves, title="Reliability", ax=None):
    """Accuracy against confidence per bin, one line per set of probabilities, next to the diagonal.

    Args:
        curves: {label: `protkit.calibration.reliability_curve` result}, e.g. before and after
            temperature scaling; each label gets its ECE in the legend.
        title: the axes title.
        ax: optional axes to draw into.

    Returns:
        The Figure. Markers sit at each bin's mean confidence; empty bins are left out; the
        dotted diagonal is perfect calibration.
    """
    fig, ax = figure_and_axes(ax, (4.8, 4.4))
    ax.plot([0, 1], [0, 1], ":", color="0.5", label="perfect calibration")
    for label, curve in curves.items():
        filled = np.asarray(curve["counts"]) > 0
        ax.plot(np.asarray(curve["confidence"])[filled], np.asarray(curve["accuracy"])[filled], "o-",
                label=f"{label} (ECE {curve['ece']:.3f})")
    ax.set(xlim=(0, 1), ylim=(0, 1), xlabel="confidence (mean predicted probability in the bin)",
           ylabel="accuracy (share right in the bin)", title=title)
    ax.set_aspect("equal")
    ax.legend(loc="upper left", fontsize="small")
    return fig
