"""Tests for protkit.metrics: cross-checked against scikit-learn on random and edge cases."""

import json
import math
import warnings

import numpy as np
import pandas as pd
import pytest
from sklearn import metrics as skm

from protkit import metrics as pm

RNG_SEEDS = [0, 1, 2]


def random_multilabel(seed, n=60, k=6, prevalence=0.3):
    rng = np.random.default_rng(seed)
    y_true = (rng.random((n, k)) < prevalence).astype(int)
    # Informative but noisy probabilities.
    y_prob = np.clip(0.35 * y_true + 0.65 * rng.random((n, k)), 0, 1)
    return y_true, y_prob


def sk_multilabel(y_true, y_pred, zero_division=0):
    kw = {"zero_division": zero_division}
    # protkit's macro averages run over the classes with support only (listed apart otherwise).
    macro = {"average": "macro", "labels": np.flatnonzero(np.asarray(y_true).sum(axis=0)), **kw}
    return {
        "macro_f1": skm.f1_score(y_true, y_pred, **macro),
        "micro_f1": skm.f1_score(y_true, y_pred, average="micro", **kw),
        "macro_precision": skm.precision_score(y_true, y_pred, **macro),
        "macro_recall": skm.recall_score(y_true, y_pred, **macro),
        "micro_precision": skm.precision_score(y_true, y_pred, average="micro", **kw),
        "micro_recall": skm.recall_score(y_true, y_pred, average="micro", **kw),
        "exact_match_accuracy": skm.accuracy_score(y_true, y_pred),
        "hamming_loss": skm.hamming_loss(y_true, y_pred),
        "elementwise_accuracy": 1.0 - skm.hamming_loss(y_true, y_pred),
    }


def assert_matches_sklearn(result, y_true, y_pred, zero_division=0):
    expected = sk_multilabel(y_true, y_pred, zero_division)
    for key, value in expected.items():
        assert result[key] == pytest.approx(value, abs=1e-12), key
    kw = {"average": None, "zero_division": zero_division}
    table = result["per_class"]
    np.testing.assert_allclose(table["f1"], skm.f1_score(y_true, y_pred, **kw))
    np.testing.assert_allclose(table["precision"], skm.precision_score(y_true, y_pred, **kw))
    np.testing.assert_allclose(table["recall"], skm.recall_score(y_true, y_pred, **kw))
    np.testing.assert_array_equal(table["support"], np.asarray(y_true).sum(axis=0))


# --------------------------------------------------------------------------- multi-label


@pytest.mark.parametrize("seed", RNG_SEEDS)
@pytest.mark.parametrize("per_class_thresholds", [False, True])
def test_multilabel_matches_sklearn_on_random_data(seed, per_class_thresholds):
    y_true, y_prob = random_multilabel(seed)
    k = y_true.shape[1]
    thresholds = np.linspace(0.3, 0.7, k) if per_class_thresholds else 0.5
    result = pm.multilabel_metrics(y_true, y_prob, thresholds=thresholds)
    y_pred = (y_prob > np.broadcast_to(thresholds, (k,))).astype(int)
    assert_matches_sklearn(result, y_true, y_pred)

    aucs = [skm.roc_auc_score(y_true[:, j], y_prob[:, j]) for j in range(k)]
    np.testing.assert_allclose(result["per_class"]["roc_auc"], aucs)
    assert result["macro_roc_auc"] == pytest.approx(skm.roc_auc_score(y_true, y_prob))
    assert result["all_negative_elementwise_accuracy"] == pytest.approx(1 - y_true.mean())
    np.testing.assert_allclose(result["per_class"]["threshold"], np.broadcast_to(thresholds, (k,)))


# Hand-made 0/1 cases; probabilities are the predictions themselves (0.9 / 0.1).
EDGE_CASES = {
    "class_never_predicted": (
        [[1, 0, 1], [0, 1, 1], [1, 1, 0], [0, 0, 1]],
        [[1, 0, 0], [0, 1, 0], [1, 0, 0], [0, 0, 0]],
    ),
    "class_never_present": (
        [[1, 0, 0], [0, 1, 0], [1, 1, 0], [0, 0, 0]],
        [[1, 0, 1], [0, 1, 0], [0, 1, 0], [0, 0, 1]],
    ),
    "class_never_present_nor_predicted": (
        [[1, 0, 0], [0, 1, 0], [1, 1, 0], [0, 1, 0]],
        [[1, 0, 0], [1, 1, 0], [0, 1, 0], [0, 0, 0]],
    ),
    "all_correct": (
        [[1, 0, 1], [0, 1, 0], [1, 1, 0]],
        [[1, 0, 1], [0, 1, 0], [1, 1, 0]],
    ),
    "all_wrong": (
        [[1, 0, 1], [0, 1, 0], [1, 1, 0]],
        [[0, 1, 0], [1, 0, 1], [0, 0, 1]],
    ),
}


@pytest.mark.parametrize("case", sorted(EDGE_CASES))
@pytest.mark.parametrize("zero_division", [0, 1])
def test_multilabel_edge_cases_match_sklearn(case, zero_division):
    y_true, y_pred = (np.array(a) for a in EDGE_CASES[case])
    y_prob = np.where(y_pred == 1, 0.9, 0.1)
    result = pm.multilabel_metrics(y_true, y_prob, zero_division=zero_division)
    assert_matches_sklearn(result, y_true, y_pred, zero_division)


def test_multilabel_edge_case_values():
    y_true, y_pred = (np.array(a) for a in EDGE_CASES["class_never_present_nor_predicted"])
    y_prob = np.where(y_pred == 1, 0.9, 0.1)
    zero = pm.multilabel_metrics(y_true, y_prob)["per_class"]
    one = pm.multilabel_metrics(y_true, y_prob, zero_division=1)["per_class"]
    assert zero.loc["class_2", "f1"] == 0.0
    assert one.loc["class_2", "f1"] == 1.0
    assert math.isnan(zero.loc["class_2", "roc_auc"])  # only negatives: AUC undefined

    y_true, y_pred = (np.array(a) for a in EDGE_CASES["all_correct"])
    perfect = pm.multilabel_metrics(y_true, np.where(y_pred == 1, 0.9, 0.1))
    assert perfect["macro_f1"] == perfect["exact_match_accuracy"] == perfect["macro_roc_auc"] == 1
    assert perfect["hamming_loss"] == 0.0

    y_true, y_pred = (np.array(a) for a in EDGE_CASES["all_wrong"])
    wrong = pm.multilabel_metrics(y_true, np.where(y_pred == 1, 0.9, 0.1))
    assert wrong["macro_f1"] == wrong["elementwise_accuracy"] == wrong["macro_roc_auc"] == 0


def test_macro_roc_auc_skips_undefined_classes_and_is_nan_without_any():
    y_true = np.array([[1, 0, 1], [0, 0, 1], [1, 0, 1], [0, 0, 1]])
    y_prob = np.array([[0.8, 0.1, 0.3], [0.4, 0.2, 0.6], [0.3, 0.1, 0.9], [0.1, 0.3, 0.2]])
    result = pm.multilabel_metrics(y_true, y_prob)
    # Only class 0 has both positives and negatives.
    assert result["macro_roc_auc"] == pytest.approx(skm.roc_auc_score(y_true[:, 0], y_prob[:, 0]))
    assert result["per_class"]["roc_auc"].isna().tolist() == [False, True, True]
    none_defined = pm.multilabel_metrics(y_true[:, 1:], y_prob[:, 1:])
    assert math.isnan(none_defined["macro_roc_auc"])


def test_threshold_is_strict_and_class_names_index_table():
    y_true = [[1, 0], [0, 1]]
    y_prob = [[0.5, 0.2], [0.1, 0.7]]  # 0.5 is not > 0.5, so class "a" is missed
    result = pm.multilabel_metrics(y_true, y_prob, class_names=["a", "b"])
    assert list(result["per_class"].index) == ["a", "b"]
    assert result["per_class"].loc["a", "recall"] == 0.0
    assert result["per_class"].loc["b", "recall"] == 1.0
    lowered = pm.multilabel_metrics(y_true, y_prob, thresholds=[0.4, 0.5])
    assert lowered["exact_match_accuracy"] == 1.0


def test_accuracy_trap_on_rare_28_class_labels():
    rng = np.random.default_rng(7)
    n, k = 500, 28
    prevalence = np.geomspace(0.3, 0.004, k)
    prevalence /= prevalence.sum()
    y_true = np.zeros((n, k), dtype=int)
    y_true[np.arange(n), rng.choice(k, size=n, p=prevalence)] = 1  # every image has a label
    y_true |= rng.random((n, k)) < 0.01  # plus rare extra labels
    # A model that finds most labels but raises some false alarms.
    y_prob = np.clip(0.6 * y_true + 0.45 * rng.random((n, k)), 0, 1)

    all_negative = pm.multilabel_metrics(y_true, np.zeros((n, k)))
    assert all_negative["elementwise_accuracy"] > 0.9
    assert all_negative["elementwise_accuracy"] == all_negative["all_negative_elementwise_accuracy"]
    assert all_negative["macro_f1"] == 0.0
    assert all_negative["exact_match_accuracy"] == 0.0

    table = pm.accuracy_trap_table(y_true, y_prob)
    assert list(table.index) == ["model", "all-negative baseline", "most-frequent-labels baseline"]
    assert list(table.columns) == pm.TRAP_COLUMNS
    baseline = table.loc["all-negative baseline"]
    assert baseline["elementwise_accuracy"] > 0.9 and baseline["macro_f1"] == 0.0
    model = pm.multilabel_metrics(y_true, y_prob)
    for column in pm.TRAP_COLUMNS:
        assert table.loc["model", column] == pytest.approx(model[column])
    assert table.loc["model", "macro_f1"] > 0.5
    # The most frequent label set here is the single most common label.
    frequent = table.loc["most-frequent-labels baseline"]
    only_first = np.tile(np.eye(k, dtype=int)[0], (n, 1))
    expected = skm.f1_score(y_true, only_first, average="macro", zero_division=0)
    assert frequent["macro_f1"] == pytest.approx(expected)


def test_accuracy_trap_table_reference_labels_and_optional_row():
    y_true = np.array([[1, 0], [1, 0], [0, 1]])
    y_prob = np.array([[0.9, 0.1], [0.2, 0.1], [0.1, 0.8]])
    # Mode of y_true is [1, 0]; the reference set's mode is [0, 1].
    row = ("most-frequent-labels baseline", "exact_match_accuracy")
    default = pm.accuracy_trap_table(y_true, y_prob)
    assert default.loc[row] == pytest.approx(2 / 3)
    reference = [[0, 1], [0, 1], [1, 0], [0, 0], [0, 0], [0, 0]]  # empty rows are not a label set
    other = pm.accuracy_trap_table(y_true, y_prob, reference_labels=reference)
    assert other.loc[row] == pytest.approx(1 / 3)
    short = pm.accuracy_trap_table(y_true, y_prob, most_frequent_baseline=False)
    assert list(short.index) == ["model", "all-negative baseline"]


# --------------------------------------------------------------------------- thresholds


def test_tune_thresholds_improves_validation_macro_f1_when_optimum_is_far_from_half():
    rng = np.random.default_rng(3)
    n, k = 400, 4
    y_true = (rng.random((n, k)) < 0.2).astype(int)
    # Badly calibrated model: positives score 0.15-0.35, negatives 0-0.2.
    y_prob = np.where(y_true == 1, rng.uniform(0.15, 0.35, (n, k)), rng.uniform(0.0, 0.2, (n, k)))
    thresholds = pm.tune_thresholds(y_true, y_prob)
    assert thresholds.shape == (k,)
    assert np.all(thresholds < 0.3)
    before = pm.multilabel_metrics(y_true, y_prob)["macro_f1"]
    after = pm.multilabel_metrics(y_true, y_prob, thresholds=thresholds)["macro_f1"]
    assert before == 0.0
    assert after > 0.8
    # Each chosen threshold is the grid optimum of that class's F1.
    for j in range(k):
        best = max(
            skm.f1_score(y_true[:, j], y_prob[:, j] > t, zero_division=0) for t in pm.DEFAULT_GRID
        )
        chosen = skm.f1_score(y_true[:, j], y_prob[:, j] > thresholds[j], zero_division=0)
        assert chosen == pytest.approx(best)


def test_tune_thresholds_keeps_half_without_positives_and_breaks_ties_towards_half():
    y_true = np.array([[1, 0], [0, 0], [1, 0], [0, 0]])
    y_prob = np.array([[0.9, 0.7], [0.1, 0.2], [0.95, 0.1], [0.05, 0.9]])
    thresholds = pm.tune_thresholds(y_true, y_prob, grid=[0.2, 0.4, 0.5, 0.6, 0.8])
    # Class 0 is separated by every grid value, so 0.5 wins the tie; class 1 has no positives.
    np.testing.assert_array_equal(thresholds, [0.5, 0.5])
    off_grid = pm.tune_thresholds(y_true, y_prob, grid=[0.2, 0.3, 0.7, 0.8])
    assert off_grid[0] == 0.3  # 0.3 and 0.7 are equally close to 0.5: the lower one


def _label_count_reference(y_prob, thresholds, low, high):
    """decide_labels written as a plain loop: thresholds, then fill up to `low` / cut down to `high` by margin."""
    out = np.zeros(y_prob.shape, bool)
    for i, row in enumerate(y_prob):
        margin = row - thresholds
        ranked = sorted(range(len(row)), key=lambda k: (-margin[k], k))
        chosen = {k for k in range(len(row)) if row[k] > thresholds[k]}
        if len(chosen) < low:
            chosen = set(ranked[:low])
        elif len(chosen) > high:
            chosen = set(ranked[:high])
        out[i, sorted(chosen)] = True
    return out


@pytest.mark.parametrize("bounds", [(1, 2), (0, 1), (2, 3), (1, 6)])
def test_decide_labels_matches_a_loop_and_keeps_every_item_within_the_bounds(bounds):
    rng = np.random.default_rng(3)
    y_prob = rng.random((200, 6))
    thresholds = rng.uniform(0.2, 0.8, 6)
    got = pm.decide_labels(y_prob, thresholds, bounds)
    np.testing.assert_array_equal(got, _label_count_reference(y_prob, thresholds, *bounds))
    counts = got.sum(axis=1)
    assert counts.min() >= bounds[0] and counts.max() <= bounds[1]
    plain = y_prob > thresholds
    inside = (plain.sum(axis=1) >= bounds[0]) & (plain.sum(axis=1) <= bounds[1])
    np.testing.assert_array_equal(got[inside], plain[inside])  # items already within the bounds are untouched
    assert not inside.all()  # ... and the rule had work to do here
    np.testing.assert_array_equal(pm.decide_labels(y_prob, thresholds, None), plain)


def test_label_count_fixes_over_prediction_in_the_metrics_and_the_trap_table():
    y_true = np.array([[1, 0, 0, 0], [0, 1, 1, 0], [0, 0, 0, 1], [1, 1, 0, 0]])
    # a model that ranks well but whose thresholds let a third label through everywhere
    y_prob = np.where(y_true == 1, 0.9, 0.0) + np.array([0.6, 0.55, 0.0, 0.0])[None, :] * (1 - y_true)
    assert pm.label_count_bounds(y_true) == (1, 2)
    plain = pm.multilabel_metrics(y_true, y_prob, thresholds=0.5)
    bounded = pm.multilabel_metrics(y_true, y_prob, thresholds=0.5, label_count=(1, 2))
    assert plain["exact_match_accuracy"] == 0.25 and bounded["exact_match_accuracy"] == 0.5
    table = pm.accuracy_trap_table(y_true, y_prob, thresholds=0.5, label_count=(1, 2))
    assert table.loc["model", "exact_match_accuracy"] == 0.5
    assert pm.evaluate_predictions(y_true, y_prob, "multi_label", label_count=(1, 2))["exact_match_accuracy"] == 0.5
    # an item with nothing above threshold gets its best class
    assert pm.decide_labels([[0.1, 0.3, 0.2]], 0.5, (1, 3)).tolist() == [[False, True, False]]


def test_thresholds_tuned_for_the_label_count_rule_never_score_below_the_per_class_ones_under_it():
    rng = np.random.default_rng(5)
    y_true = np.zeros((120, 5), int)
    for row in y_true:
        row[rng.choice(5, size=rng.integers(1, 3), replace=False, p=[0.4, 0.05, 0.1, 0.2, 0.25])] = 1
    y_prob = np.clip(0.35 * y_true + rng.uniform(0, 0.65, y_true.shape), 0, 1)
    per_class = pm.tune_thresholds(y_true, y_prob)
    for_rule = pm.tune_thresholds(y_true, y_prob, label_count=(1, 2))
    before = pm.multilabel_metrics(y_true, y_prob, per_class, label_count=(1, 2))["macro_f1"]
    after = pm.multilabel_metrics(y_true, y_prob, for_rule, label_count=(1, 2))["macro_f1"]
    assert after > before  # here the per-class optimum is not the optimum of the decided sets
    assert set(np.round(for_rule, 6)) <= set(np.round(pm.DEFAULT_GRID, 6)) | {0.5}
    np.testing.assert_array_equal(pm.tune_thresholds(y_true, y_prob, label_count=None), per_class)


@pytest.mark.parametrize("bad", [(2, 1), (0, 0), (-1, 2), (5, 6), "12", (1,)])
def test_label_count_errors_name_the_argument(bad):
    with pytest.raises(ValueError, match="label_count"):
        pm.decide_labels(np.full((2, 4), 0.5), 0.5, bad)


# --------------------------------------------------------------------------- single-label


def sk_singlelabel(y_true, y_pred, k, zero_division=0):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # sklearn warns about classes missing from y_true
        balanced = skm.balanced_accuracy_score(y_true, y_pred)
    # protkit's macro averages run over the classes present in y_true only.
    kw = {"average": "macro", "zero_division": zero_division, "labels": np.unique(y_true)}
    return {
        "accuracy": skm.accuracy_score(y_true, y_pred),
        "balanced_accuracy": balanced,
        "macro_f1": skm.f1_score(y_true, y_pred, **kw),
        "macro_precision": skm.precision_score(y_true, y_pred, **kw),
        "macro_recall": skm.recall_score(y_true, y_pred, **kw),
        "confusion_matrix": skm.confusion_matrix(y_true, y_pred, labels=np.arange(k)),
    }


def assert_singlelabel_matches(result, y_true, y_pred, k, zero_division=0):
    for key, value in sk_singlelabel(y_true, y_pred, k, zero_division).items():
        np.testing.assert_allclose(result[key], value, atol=1e-12, err_msg=key)


@pytest.mark.parametrize("seed", RNG_SEEDS)
def test_singlelabel_matches_sklearn_on_random_scores_and_labels(seed):
    rng = np.random.default_rng(seed)
    n, k = 80, 5
    y_true = rng.integers(0, k, n)
    y_prob = rng.dirichlet(np.ones(k), n)
    y_prob[np.arange(n), y_true] += rng.random(n) * 0.5
    y_pred = y_prob.argmax(axis=1)
    result = pm.singlelabel_metrics(y_true, y_prob)
    assert_singlelabel_matches(result, y_true, y_pred, k)
    from_labels = pm.singlelabel_metrics(y_true.tolist(), y_pred.tolist(), num_classes=k)
    assert from_labels["macro_f1"] == result["macro_f1"]
    table = result["per_class"]
    np.testing.assert_allclose(
        table["f1"], skm.f1_score(y_true, y_pred, average=None, labels=np.arange(k))
    )
    np.testing.assert_array_equal(table["support"], np.bincount(y_true, minlength=k))


SINGLE_EDGE_CASES = {
    "class_never_predicted": ([0, 1, 2, 2, 1], [0, 1, 1, 1, 1]),
    "class_never_present": ([0, 0, 1, 1, 1], [0, 2, 1, 1, 2]),
    "all_correct": ([0, 1, 2, 1], [0, 1, 2, 1]),
    "all_wrong": ([0, 1, 2, 1], [1, 2, 0, 0]),
}


@pytest.mark.parametrize("case", sorted(SINGLE_EDGE_CASES))
@pytest.mark.parametrize("zero_division", [0, 1])
def test_singlelabel_edge_cases_match_sklearn(case, zero_division):
    y_true, y_pred = SINGLE_EDGE_CASES[case]
    result = pm.singlelabel_metrics(y_true, y_pred, num_classes=3, zero_division=zero_division)
    assert_singlelabel_matches(result, y_true, y_pred, 3, zero_division)


def test_singlelabel_class_absent_everywhere_keeps_its_row_but_not_the_average():
    names = ["G1", "S", "G2", "M"]
    result = pm.singlelabel_metrics([0, 1, 1, 2], [0, 1, 2, 2], class_names=names)
    assert result["confusion_matrix"].shape == (4, 4)
    assert result["confusion_matrix"][3].sum() == result["confusion_matrix"][:, 3].sum() == 0
    assert math.isnan(result["per_class"].loc["M", "f1"])
    assert result["macro_f1"] == pytest.approx(
        skm.f1_score([0, 1, 1, 2], [0, 1, 2, 2], average="macro", zero_division=0)
    )
    assert result["balanced_accuracy"] == pytest.approx((1 + 0.5 + 1) / 3)
    inferred = pm.singlelabel_metrics([0, 1, 1, 2], [0, 1, 2, 2])  # K = largest index + 1
    assert inferred["confusion_matrix"].shape == (3, 3)
    assert inferred["macro_f1"] == result["macro_f1"]


@pytest.mark.parametrize("normalize", [None, "true", "pred", "all"])
def test_confusion_matrix_matches_sklearn(normalize):
    y_true = [0, 1, 1, 2, 2, 2, 0]
    y_pred = [0, 2, 1, 2, 0, 2, 0]  # class 3 never occurs: its row and column stay 0
    ours = pm.confusion_matrix(y_true, y_pred, num_classes=4, normalize=normalize)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        theirs = skm.confusion_matrix(y_true, y_pred, labels=range(4), normalize=normalize)
    np.testing.assert_allclose(ours, theirs)
    assert ours[0, 0] == (2 if normalize is None else theirs[0, 0])


# --------------------------------------------------------------------------- reporting


def test_evaluate_predictions_is_json_ready():
    y_true = [[1, 0, 0], [0, 1, 0], [1, 1, 0]]
    y_prob = [[0.8, 0.3, 0.1], [0.2, 0.6, 0.4], [0.7, 0.4, 0.2]]
    out = pm.evaluate_predictions(y_true, y_prob, "multi_label", class_names=["n", "c", "m"])
    text = json.dumps(out, allow_nan=False)  # NaN AUC of class "m" became null
    assert json.loads(text)["per_class"]["m"]["roc_auc"] is None
    assert out["task"] == "multi_label" and type(out["macro_f1"]) is float
    assert type(out["per_class"]["c"]["support"]) is int

    scores = [[0.9, 0.1], [0.3, 0.7], [0.6, 0.4]]
    single = pm.evaluate_predictions([0, 1, 1], scores, "single_label")
    json.dumps(single, allow_nan=False)
    assert single["confusion_matrix"] == [[1, 0], [1, 1]]
    assert single["accuracy"] == pytest.approx(2 / 3)


def test_to_jsonable_converts_numpy_and_pandas():
    out = pm.to_jsonable(
        {1: np.float32(0.5), "b": np.int64(3), "c": np.array([[1.0, np.nan]]), "d": np.bool_(True),
         "e": pd.Series({"x": np.inf}), "f": (np.int8(2),)}
    )
    assert out == {"1": 0.5, "b": 3, "c": [[1.0, None]], "d": True, "e": {"x": None}, "f": [2]}
    with pytest.raises(TypeError, match="Received: type"):
        pm.to_jsonable({"x": object()})


# --------------------------------------------------------------------------- validation

GOOD_TRUE = [[1, 0], [0, 1]]
GOOD_PROB = [[0.9, 0.1], [0.2, 0.8]]


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"y_prob": [[0.9, np.nan], [0.2, 0.8]]}, r"NaN or inf.*Received: y_prob\[0, 1\]=nan"),
        ({"y_prob": [[0.9, 0.1, 0.0], [0.2, 0.8, 0.0]]}, r"Received: y_prob.shape=\(2, 3\)"),
        ({"y_prob": [[0.9, 1.7], [0.2, 0.8]]}, r"sigmoid.*Received: y_prob\[0, 1\]=1.7"),
        ({"y_true": [[1, 2], [0, 1]]}, r"only 0 and 1. Received: y_true\[0, 1\]=2"),
        ({"y_true": [1, 0]}, r"Received: y_true.shape=\(2,\)"),
        ({"thresholds": [0.5, 0.5, 0.5]}, r"Received: thresholds.shape=\(3,\)"),
        ({"thresholds": 1.5}, r"Received: thresholds=\[1.5, 1.5\]"),
        ({"zero_division": 2}, r"Received: zero_division=2"),
        ({"class_names": ["a"]}, r"Received: class_names=\['a'\]"),
    ],
)
def test_multilabel_validation_errors(kwargs, message):
    args = {"y_true": GOOD_TRUE, "y_prob": GOOD_PROB, **kwargs}
    with pytest.raises(ValueError, match=message):
        pm.multilabel_metrics(**args)


@pytest.mark.parametrize(
    "call, message",
    [
        (lambda: pm.tune_thresholds(GOOD_TRUE, GOOD_PROB, metric="auc"), "Received: metric='auc'"),
        (lambda: pm.tune_thresholds(GOOD_TRUE, GOOD_PROB, grid=[]), "Received: grid="),
        (lambda: pm.singlelabel_metrics([0, 3], [0, 1], num_classes=3), r"Received: y_true\[1\]=3"),
        (lambda: pm.singlelabel_metrics([0, 1.5], [0, 1]), r"Received: y_true\[1\]=1.5"),
        (lambda: pm.singlelabel_metrics([0, 1], [[0.5, np.nan], [0.1, 0.9]]), "NaN"),
        (lambda: pm.singlelabel_metrics([0, 1], GOOD_PROB, num_classes=3), "Received: {"),
        (lambda: pm.singlelabel_metrics([0, 1], [0, 1, 1]), r"Received: y_pred.shape=\(3,\)"),
        (lambda: pm.confusion_matrix([0], [0], num_classes=0), "Received: num_classes=0"),
        (lambda: pm.confusion_matrix([0], [0], 2, normalize="rows"), "Received: normalize='rows'"),
        (lambda: pm.evaluate_predictions(GOOD_TRUE, GOOD_PROB, "multi_class"), "Received: task="),
    ],
)
def test_other_validation_errors(call, message):
    with pytest.raises(ValueError, match=message):
        call()


def test_input_checks_name_the_first_bad_value_exactly():
    from protkit import _metric_inputs

    with pytest.raises(ValueError) as error:
        _metric_inputs.as_finite_float([[1.0, 2.0], [np.inf, np.nan]], "x")
    assert str(error.value) == (
        "`x` must contain only finite numbers (got NaN or inf; check the model output for "
        "divergence). Received: x[1, 0]=inf"
    )
    with pytest.raises(ValueError) as error:
        _metric_inputs.as_prob_matrix([[0.5, -0.5]], (1, 2))
    assert str(error.value).endswith("(apply a sigmoid to logits first). Received: y_prob[0, 1]=-0.5")
    assert _metric_inputs.as_label_matrix([[1.0, 0.0]]).dtype == np.int64


def test_kernel_distance_lives_in_feature_distance_and_is_re_exported():
    from protkit import feature_distance

    assert pm.kernel_distance is feature_distance.kernel_distance
