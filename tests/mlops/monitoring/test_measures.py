"""Each measure against an independent computation with numpy and scipy on the same rows."""

import math

import numpy as np
import pandas as pd
import pytest
from scipy.spatial.distance import jensenshannon
from scipy.stats import chisquare, ks_2samp, wasserstein_distance

from mlops.monitoring.measures import (
    CATEGORICAL,
    NUMERICAL,
    breaches,
    drift,
    kind_of,
    quality,
)

RANDOM = np.random.default_rng(7)
BASELINE = pd.Series(RANDOM.normal(50, 10, 2000))
SAME = pd.Series(RANDOM.normal(50, 10, 500))
SHIFTED = pd.Series(RANDOM.normal(60, 10, 500))


def histograms(base: np.ndarray, prod: np.ndarray):
    """Both samples over Sturges' equal bins of [min, max] of the two, by hand."""
    bins = math.ceil(math.log2(min(len(base), len(prod))) + 1)
    edges = np.linspace(min(base.min(), prod.min()), max(base.max(), prod.max()), bins + 1)
    return np.histogram(base, edges)[0], np.histogram(prod, edges)[0]


def psi(base_counts, prod_counts) -> float:
    b = (base_counts + 1) / (base_counts.sum() + len(base_counts))
    p = (prod_counts + 1) / (prod_counts.sum() + len(prod_counts))
    return float(sum((p - b) * np.log(p / b)))


@pytest.mark.parametrize("production", [SAME, SHIFTED], ids=["same", "shifted"])
def test_numerical_drift_is_what_scipy_computes_on_shared_bins(production):
    base, prod = BASELINE.to_numpy(), production.to_numpy()
    base_counts, prod_counts = histograms(base, prod)
    expected = {
        "jensen_shannon_distance": jensenshannon(
            base_counts / len(base), prod_counts / len(prod), base=2
        ),
        "normalized_wasserstein_distance": wasserstein_distance(base, prod) / np.std(base, ddof=1),
        "population_stability_index": psi(base_counts, prod_counts),
        "two_sample_kolmogorov_smirnov_test": ks_2samp(base, prod).pvalue,
    }
    for metric, value in expected.items():
        assert drift(metric, NUMERICAL, BASELINE, production) == pytest.approx(value, rel=1e-9)


def test_a_shift_of_one_standard_deviation_breaches_and_a_sample_of_the_same_does_not():
    for metric, threshold in [
        ("normalized_wasserstein_distance", 0.1),
        ("jensen_shannon_distance", 0.1),
        ("population_stability_index", 0.1),
        ("two_sample_kolmogorov_smirnov_test", 0.01),
    ]:
        assert breaches(metric, drift(metric, NUMERICAL, BASELINE, SHIFTED), threshold), metric
        assert not breaches(metric, drift(metric, NUMERICAL, BASELINE, SAME), threshold), metric


def test_categorical_drift_is_over_every_value_either_sample_holds():
    base = pd.Series(RANDOM.choice(["a", "b", "c"], 1000, p=[0.5, 0.3, 0.2]))
    prod = pd.Series(RANDOM.choice(["a", "b", "c", "d"], 400, p=[0.2, 0.3, 0.4, 0.1]))
    values = ["a", "b", "c", "d"]
    base_counts = base.value_counts().reindex(values, fill_value=0).to_numpy()
    prod_counts = prod.value_counts().reindex(values, fill_value=0).to_numpy()
    assert drift("jensen_shannon_distance", CATEGORICAL, base, prod) == pytest.approx(
        jensenshannon(base_counts / 1000, prod_counts / 400, base=2), rel=1e-9
    )
    assert drift("population_stability_index", CATEGORICAL, base, prod) == pytest.approx(
        psi(base_counts, prod_counts), rel=1e-9
    )
    same = pd.Series(RANDOM.choice(["a", "b", "c"], 400, p=[0.5, 0.3, 0.2]))
    same_counts = same.value_counts().reindex(values[:3], fill_value=0).to_numpy()
    p_value = chisquare(same_counts, base_counts[:3] / 1000 * 400).pvalue
    assert drift("pearsons_chi_squared_test", CATEGORICAL, base, same) == pytest.approx(p_value)
    # A value the baseline never held: no chance under its shares.
    with np.errstate(divide="ignore"):
        assert drift("pearsons_chi_squared_test", CATEGORICAL, base, prod) == 0.0


def test_data_quality_rates_count_gaps_values_out_of_bounds_and_values_of_another_type():
    base = pd.Series([1.0, 5.0, 3.0, 2.0])
    prod = pd.Series([0.5, 6.0, None, 3.0, "three", "4", 5.0, 2.0], dtype=object)
    assert quality("null_value_rate", NUMERICAL, base, prod) == 0.125
    assert quality("data_type_error_rate", NUMERICAL, base, prod) == 0.125  # "three"
    assert quality("out_of_bounds_rate", NUMERICAL, base, prod) == 0.25  # 0.5 and 6.0
    cities = pd.Series(["Paris", "Lyon", None, "Nice"])
    assert quality("out_of_bounds_rate", CATEGORICAL, pd.Series(["Paris", "Lyon"]), cities) == 0.25
    assert quality("data_type_error_rate", CATEGORICAL, pd.Series(["Paris"]), cities) == 0.0


def test_a_column_is_numerical_or_categorical_as_azure_decides():
    assert kind_of(pd.Series([1.5, 2.0])) == NUMERICAL
    assert kind_of(pd.Series(["a", "b"])) == CATEGORICAL
    assert kind_of(pd.Series([True, False])) == CATEGORICAL
    assert kind_of(pd.Series([1, 2, 1, 2] * 50)) == CATEGORICAL  # 2 values in 200 rows
    assert kind_of(pd.Series(range(200))) == NUMERICAL


def test_a_p_value_breaches_below_its_threshold_a_distance_above_it_and_nan_always():
    assert breaches("pearsons_chi_squared_test", 0.001, 0.05)
    assert not breaches("pearsons_chi_squared_test", 0.2, 0.05)
    assert breaches("jensen_shannon_distance", 0.2, 0.1)
    assert not breaches("jensen_shannon_distance", 0.1, 0.1)
    assert breaches("jensen_shannon_distance", math.nan, 0.1)


def test_an_integer_category_is_the_same_category_when_it_comes_back_as_a_float():
    base = pd.Series([1, 2, 2, 3] * 50)
    prod = pd.Series([1.0, 2.0, 2.0, 3.0] * 10)
    assert drift("jensen_shannon_distance", CATEGORICAL, base, prod) == 0.0
    assert quality("out_of_bounds_rate", CATEGORICAL, base, prod) == 0.0
