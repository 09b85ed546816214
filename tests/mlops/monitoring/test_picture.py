"""The monitor picture shows the features furthest past their drift bounds, one panel each."""

import math

import numpy as np
import pandas as pd

from mlops.monitoring.judge import Measured
from mlops.monitoring.picture import Sample, draw_drift, most_drifted


def row(feature, metric, value, threshold, signal="data_drift"):
    breach = value < threshold if metric.endswith("_test") else value > threshold
    return Measured(signal, feature, "numerical", metric, value, threshold, breach)


def test_the_features_furthest_past_their_bounds_come_first_once_each():
    measured = [
        row("AGE", "normalized_wasserstein_distance", 0.3, 0.1),  # 3x its bound
        row("AGE", "jensen_shannon_distance", 0.9, 0.1),  # 9x: AGE's row
        row("LIMIT_BAL", "two_sample_kolmogorov_smirnov_test", 0.0001, 0.01),  # 100x
        row("PAY_0", "normalized_wasserstein_distance", 0.05, 0.1),
        row("BILL_AMT1", "normalized_wasserstein_distance", math.nan, 0.1),
        # Data quality is not drawn, however far past its bound.
        row("SEX", "null_value_rate", 0.9, 0.01, signal="data_quality"),
    ]
    drawn = most_drifted(measured)
    assert [(r.feature, r.metric) for r in drawn] == [
        ("LIMIT_BAL", "two_sample_kolmogorov_smirnov_test"),
        ("AGE", "jensen_shannon_distance"),
        ("PAY_0", "normalized_wasserstein_distance"),
    ]


def test_a_picture_is_drawn_for_numbers_and_classes(tmp_path):
    rng = np.random.default_rng(7)
    samples = {
        "AGE": Sample(
            "numerical", pd.Series(rng.normal(35, 9, 500)), pd.Series(rng.normal(50, 9, 200))
        ),
        "prediction": Sample(
            "categorical", pd.Series([0] * 400 + [1] * 100), pd.Series([0] * 100 + [1] * 100)
        ),
    }
    rows = [
        row("AGE", "normalized_wasserstein_distance", 1.6, 0.1),
        Measured(
            "prediction_drift",
            "prediction",
            "categorical",
            "jensen_shannon_distance",
            0.3,
            0.1,
            True,
        ),
    ]
    draw_drift(tmp_path / "monitor.png", "blue: baseline and production", rows, samples)
    assert (tmp_path / "monitor.png").read_bytes().startswith(b"\x89PNG")
