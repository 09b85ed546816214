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
