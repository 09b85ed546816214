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
