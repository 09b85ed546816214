import json

import evaluate
import numpy as np
import pandas as pd
import pytest


def test_perfect_scores_give_perfect_quality_metrics():
    labels = pd.Series([0, 0, 1, 1, 0, 1])
    groups = pd.Series(["a", "b", "a", "b", "a", "b"])
    metrics = evaluate.evaluate(labels, np.array([0.1, 0.2, 0.9, 0.8, 0.3, 0.7]), groups)
    assert metrics["auc"] == 1.0
    assert metrics["accuracy"] == metrics["precision"] == metrics["recall"] == metrics["f1"] == 1.0
    assert metrics["log_loss"] == pytest.approx(-np.mean(np.log([0.9, 0.8, 0.9, 0.8, 0.7, 0.7])))


@pytest.mark.parametrize(
    ("scores", "gap"),
    [
        # Group a: every row predicted positive; group b: none. Same labels in both.
        ([0.9, 0.9, 0.1, 0.1], 1.0),
        # Both groups: the positive row found, the negative one not.
        ([0.9, 0.2, 0.8, 0.1], 0.0),
    ],
    ids=["one-group-favoured", "equal-treatment"],
)
def test_fairness_metrics_measure_the_gap_between_groups(scores, gap):
    labels = pd.Series([1, 0, 1, 0])
    groups = pd.Series(["a", "a", "b", "b"])
    metrics = evaluate.evaluate(labels, np.array(scores), groups)
    assert metrics["demographic_parity_difference"] == gap
    assert metrics["equalized_odds_difference"] == gap


def test_the_curves_hold_a_bounded_roc_and_the_rates_of_each_group():
    rng = np.random.default_rng(0)
    labels = pd.Series(rng.integers(0, 2, 5000))
    groups = pd.Series(np.where(rng.random(5000) < 0.4, "f", "m"))
    scores = np.where(groups == "f", 0.9, 0.1)  # group f always predicted positive
    drawn = evaluate.curves(labels, scores, groups)
    assert len(drawn["roc"]["fpr"]) == len(drawn["roc"]["tpr"]) <= evaluate.ROC_POINTS
    assert drawn["roc"]["fpr"][0] == 0.0 and drawn["roc"]["tpr"][-1] == 1.0
    assert drawn["groups"]["f"]["selection_rate"] == 1.0
    assert drawn["groups"]["m"]["selection_rate"] == 0.0
    assert drawn["groups"]["f"]["count"] + drawn["groups"]["m"]["count"] == 5000


def test_the_metrics_are_written_in_the_catalogues_order_and_nothing_else():
    labels = pd.Series([0, 1, 0, 1])
    groups = pd.Series(["a", "a", "b", "b"])
    metrics = evaluate.in_catalog_order(
        evaluate.evaluate(labels, np.array([0.2, 0.7, 0.4, 0.9]), groups)
    )
    assert list(metrics) == list(json.loads(evaluate.CATALOG.read_text()))


def test_a_metric_computed_but_not_listed_fails_the_step(tmp_path):
    catalog = tmp_path / "metric_catalog.json"
    catalog.write_text(json.dumps({"auc": {"better": "higher"}, "recall": {"better": "higher"}}))
    with pytest.raises(
        ValueError, match="computed but not listed: f1; listed but not computed: recall"
    ):
        evaluate.in_catalog_order({"auc": 0.8, "f1": 0.5}, catalog)


def test_without_groups_the_fairness_metrics_are_neither_computed_nor_expected():
    labels = pd.Series([0, 1, 0, 1])
    metrics = evaluate.in_catalog_order(
        evaluate.evaluate(labels, np.array([0.2, 0.7, 0.4, 0.9]), None), groups=False
    )
    catalog = json.loads(evaluate.CATALOG.read_text())
    assert list(metrics) == [name for name, entry in catalog.items() if "needs" not in entry]
    assert "demographic_parity_difference" not in metrics
    assert evaluate.curves(labels, np.array([0.2, 0.7, 0.4, 0.9]), None)["groups"] == {}


def test_the_feature_signal_names_a_leaking_feature_first_and_an_id_scores_no_better_than_chance():
    rng = np.random.default_rng(0)
    labels = pd.Series(rng.integers(0, 2, 2000))
    frame = pd.DataFrame(
        {
            "noise": rng.normal(size=2000),
            # Known only with the label: lower when positive, with gaps.
            "leak": np.where(labels == 1, -1.0, 1.0) * rng.uniform(1, 2, 2000),
            "row_id": [f"id-{i}" for i in range(2000)],
            "region": rng.choice(["north", "south"], 2000).astype(object),
        }
    )
    frame.loc[::50, "leak"] = np.nan
    signal = evaluate.feature_signal(frame, labels)
    assert next(iter(signal)) == "leak"
    assert signal["leak"] > 0.97
    assert signal["row_id"] == pytest.approx(0.5, abs=0.05)
    assert signal["noise"] < 0.6
    assert list(signal.values()) == sorted(signal.values(), reverse=True)


MULTICLASS, REGRESSION = "multiclass-classification", "regression"


def probabilities(predicted: list[int], classes: int = 3) -> np.ndarray:
    """Class probabilities whose most probable class is ``predicted``, row by row."""
    scores = np.full((len(predicted), classes), 0.1)
    scores[np.arange(len(predicted)), predicted] = 1 - 0.1 * (classes - 1)
    return scores


def test_multiclass_metrics_find_the_worst_class_and_the_gaps_between_groups():
    labels = pd.Series([0, 0, 1, 1, 2, 2, 2, 2])
    # Group a: every row right; group b: class 2 taken for class 1 twice.
    groups = pd.Series(["a", "a", "a", "b", "a", "a", "b", "b"])
    predicted = [0, 0, 1, 2, 2, 2, 2, 2]
    metrics = evaluate.evaluate(labels, probabilities(predicted), groups, MULTICLASS)
    assert metrics["accuracy"] == 7 / 8
    assert metrics["min_class_recall"] == 0.5  # class 1: one of two
    assert metrics["balanced_accuracy"] == pytest.approx((1 + 0.5 + 1) / 3)
    assert metrics["log_loss"] == pytest.approx(-np.mean(np.log([0.8] * 7 + [0.1])))
    assert metrics["accuracy_difference"] == pytest.approx(1 - 2 / 3)
    # Class 2 is predicted for 2 of a's 5 rows and all of b's 3.
    assert metrics["selection_rate_difference"] == pytest.approx(1 - 2 / 5)


def test_multiclass_curves_hold_the_confusion_matrix_recall_and_group_accuracy():
    labels = pd.Series([0, 0, 1, 1, 2, 2])
    groups = pd.Series(["a", "b"] * 3)
    names = ("low", "mid", "high")
    drawn = evaluate.curves(labels, probabilities([0, 1, 1, 1, 2, 0]), groups, MULTICLASS, names)
    assert drawn["confusion"] == {
        "labels": ["low", "mid", "high"],
        "matrix": [[1, 1, 0], [0, 2, 0], [1, 0, 1]],
    }
    assert drawn["recall"] == {"low": 0.5, "mid": 1.0, "high": 0.5}
    assert drawn["groups"] == {
        "a": {"count": 3.0, "accuracy": 1.0},
        "b": {"count": 3.0, "accuracy": 1 / 3},
    }


def test_regression_metrics_measure_the_errors_and_mape_skips_zero_actuals():
    actual = pd.Series([0.0, 10.0, 20.0, 30.0])
    predicted = np.array([1.0, 12.0, 18.0, 30.0])
    groups = pd.Series(["a", "a", "b", "b"])
    metrics = evaluate.evaluate(actual, predicted, groups, REGRESSION)
    assert metrics["rmse"] == pytest.approx(np.sqrt((1 + 4 + 4 + 0) / 4))
    assert metrics["mae"] == pytest.approx(5 / 4)
    assert metrics["r2"] == pytest.approx(1 - 9 / 500)
    assert metrics["mape"] == pytest.approx((2 / 10 + 2 / 20 + 0) / 3)
    assert metrics["mae_difference"] == pytest.approx(1.5 - 1.0)
    nothing = evaluate.evaluate(pd.Series([0.0, 0.0]), np.array([1.0, 2.0]), None, REGRESSION)
    assert np.isnan(nothing["mape"])


def test_regression_curves_sample_500_points_and_count_every_residual():
    rng = np.random.default_rng(0)
    actual = pd.Series(rng.normal(100, 20, 2000))
    predicted = actual.to_numpy() + rng.normal(0, 5, 2000)
    drawn = evaluate.curves(actual, predicted, None, REGRESSION, ())
    points = drawn["points"]
    assert len(points["actual"]) == len(points["predicted"]) == 500
    assert points["actual"][0] == float(f"{actual[0]:.6g}")
    assert points["actual"][-1] == float(f"{actual.iloc[-1]:.6g}")
    assert len(drawn["residuals"]["edges"]) == 31
    assert sum(drawn["residuals"]["counts"]) == 2000
    assert drawn["groups"] == {}


def test_the_regression_signal_names_a_leaking_feature_first_and_an_id_explains_nothing():
    rng = np.random.default_rng(0)
    target = pd.Series(rng.normal(size=2000))
    frame = pd.DataFrame(
        {
            "noise": rng.normal(size=2000),
            "leak": target + rng.normal(0, 0.05, 2000),
            "row_id": [f"id-{i}" for i in range(2000)],
            "half": np.where(target > 0, "up", "down").astype(object),
        }
    )
    frame.loc[::50, "leak"] = np.nan
    signal = evaluate.feature_signal(frame, target, REGRESSION)
    assert list(signal)[:2] == ["leak", "half"]
    assert signal["leak"] > 0.9
    assert 0.5 < signal["half"] < 0.8  # the sign of the target explains about 64 %
    assert signal["row_id"] == 0.0 and signal["noise"] < 0.01


# Labels and scores of each kind, 40 rows.
SCORED = {
    "binary-classification": (pd.Series([0, 1] * 20), np.linspace(0.1, 0.9, 40)),
    MULTICLASS: (pd.Series([0, 1, 2, 1] * 10), probabilities([0, 1, 2, 2] * 10)),
    REGRESSION: (pd.Series(np.arange(40.0)), np.linspace(0.0, 39.0, 40) + 0.5),
}


@pytest.mark.parametrize("kind", list(SCORED))
@pytest.mark.parametrize("groups", [None, pd.Series(["a", "b"] * 20)], ids=["alone", "groups"])
def test_every_kind_computes_what_its_catalogue_lists(kind, groups):
    metrics = evaluate.evaluate(*SCORED[kind], groups, kind)
    catalog = evaluate.catalog_file(kind)
    ordered = evaluate.in_catalog_order(metrics, catalog, groups=groups is not None)
    assert sorted(ordered) == sorted(metrics)
