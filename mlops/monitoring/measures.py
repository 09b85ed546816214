"""The measures of Azure ML's model monitoring signals, as its components compute them.

One threshold must mean the same on both targets, so each measure follows
the implementation of Azure ML's monitoring components (azureml-assets,
``assets/model_monitoring/components/src``: ``data_drift_compute_metrics``,
``shared_utilities/histogram_utils.py``, ``data_quality_compute_metrics``,
``model_monitor_evaluate_metrics_threshold``), with numpy and scipy on pandas
columns instead of Spark. Drift is measured on the values present (gaps are
the data quality signal's); a column is numerical or categorical as Azure
decides it (``kind_of``).

Numerical drift, on histograms over shared edges where binned: the edges
split [min, max] of both samples together into ``ceil(log2(n) + 1)`` equal
bins (Sturges, ``n`` the smaller sample's size; the last bin closed):

- ``jensen_shannon_distance``: scipy's ``jensenshannon`` of the two bin
  shares, base 2 (0 to 1);
- ``normalized_wasserstein_distance``: scipy's ``wasserstein_distance`` of
  the values over the baseline's standard deviation (sample, at least 0.001);
- ``population_stability_index``: sum of ``(p - b) * ln(p / b)`` over the
  bins, each count plus one over the size plus the number of bins;
- ``two_sample_kolmogorov_smirnov_test``: the p-value of scipy's ``ks_2samp``.

Categorical drift, over every value seen in either sample:

- ``jensen_shannon_distance``: of the value shares, base 2;
- ``population_stability_index``: as above, each value's count plus one;
- ``pearsons_chi_squared_test``: the p-value of scipy's ``chisquare`` of the
  production counts against the baseline shares times the production size.

Data quality, as rates of the production rows (rounded to 5 places):
``null_value_rate`` (missing values), ``out_of_bounds_rate`` (numbers below
the baseline's minimum or above its maximum; categories the baseline does
not hold) and ``data_type_error_rate`` (values that do not cast to the
column's type: text that is no number in a numerical column).

A breach is a value above its threshold, except for the two tests, whose
p-values breach below it (``breaches``).
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
from scipy.spatial import distance
from scipy.stats import chisquare, ks_2samp, wasserstein_distance

NUMERICAL, CATEGORICAL = "numerical", "categorical"
NUMERICAL_DRIFT = (
    "jensen_shannon_distance",
    "normalized_wasserstein_distance",
    "population_stability_index",
    "two_sample_kolmogorov_smirnov_test",
)
CATEGORICAL_DRIFT = (
    "jensen_shannon_distance",
    "population_stability_index",
    "pearsons_chi_squared_test",
)
QUALITY = ("null_value_rate", "data_type_error_rate", "out_of_bounds_rate")
# p-values: a small one is the breach.
TESTS = frozenset({"two_sample_kolmogorov_smirnov_test", "pearsons_chi_squared_test"})
# An integer column with fewer distinct values than this share of its rows is
# categorical (df_utils.is_categorical).
DISTINCT_RATIO = 0.05
MIN_STD = 0.001


def breaches(metric: str, value: float, threshold: float) -> bool:
    """Whether ``value`` of ``metric`` breaches ``threshold`` (NaN never judged a pass)."""
    if math.isnan(value):
        return True
    return value < threshold if metric in TESTS else value > threshold


def kind_of(baseline: pd.Series) -> str:
    """Numerical or categorical, as Azure ML's monitoring decides from the
    baseline column: text, booleans and dates are categorical, floats numerical,
    integers categorical when distinct values are under 5 % of the rows."""
    if pd.api.types.is_bool_dtype(baseline) or not pd.api.types.is_numeric_dtype(baseline):
        return CATEGORICAL
    if pd.api.types.is_integer_dtype(baseline) and len(baseline):
        return CATEGORICAL if baseline.nunique() / len(baseline) < DISTINCT_RATIO else NUMERICAL
    return NUMERICAL


def drift(metric: str, kind: str, baseline: pd.Series, production: pd.Series) -> float:
    """``metric`` of ``production`` against ``baseline`` for a ``kind`` column."""
    base, prod = baseline.dropna(), production.dropna()
    if base.empty or prod.empty:
        return math.nan
    if kind == NUMERICAL:
        return _NUMERICAL[metric](_floats(base), _floats(prod))
    return _CATEGORICAL[metric](_categories(base), _categories(prod))


def quality(metric: str, kind: str, baseline: pd.Series, production: pd.Series) -> float:
    """``metric`` (a rate) of ``production``, with ``baseline`` naming the bounds and type."""
    if production.empty:
        return math.nan
    present = production.dropna()
    if metric == "null_value_rate":
        count = len(production) - len(present)
    elif metric == "data_type_error_rate":
        count = int((~_of_type(present, kind)).sum())
    else:
        typed = present[_of_type(present, kind)]
        base = baseline.dropna()
        if kind == NUMERICAL:
            values = _floats(typed)
            count = int((values < _floats(base).min()).sum() + (values > _floats(base).max()).sum())
        else:
            count = int((~_categories(typed).isin(set(_categories(base)))).sum())
    return round(count / len(production), 5)


def bin_edges(baseline: np.ndarray, production: np.ndarray) -> np.ndarray:
    """Shared histogram edges (histogram_utils.get_dual_histogram_bin_edges)."""
    bins = math.ceil(math.log2(min(len(baseline), len(production))) + 1)
    low = min(baseline.min(), production.min())
    high = max(baseline.max(), production.max())
    if low == high:
        delta = 0.005 if low == 0 else abs(low * 0.005)
        return np.array([low - delta, low + delta])
    width = (high - low) / bins
    return np.array([low + step * width for step in range(bins + 1)])


def _counts(values: np.ndarray, edges: np.ndarray) -> np.ndarray:
    # numpy's last bin is closed, as Spark's RDD.histogram's is.
    return np.histogram(values, bins=edges)[0].astype(float)


def _jensen_shannon_numerical(base: np.ndarray, prod: np.ndarray) -> float:
    edges = bin_edges(base, prod)
    shares = _counts(base, edges) / len(base), _counts(prod, edges) / len(prod)
    return float(distance.jensenshannon(*shares, base=2))


def _wasserstein(base: np.ndarray, prod: np.ndarray) -> float:
    spread = float(np.std(base, ddof=1)) if len(base) > 1 else math.nan
    norm = MIN_STD if math.isnan(spread) else max(spread, MIN_STD)
    return float(wasserstein_distance(base, prod) / norm)


def _psi(base_counts: np.ndarray, prod_counts: np.ndarray) -> float:
    cells = len(base_counts)
    base = (base_counts + 1) / (base_counts.sum() + cells)
    prod = (prod_counts + 1) / (prod_counts.sum() + cells)
    return float(np.sum((prod - base) * np.log(prod / base)))


def _psi_numerical(base: np.ndarray, prod: np.ndarray) -> float:
    edges = bin_edges(base, prod)
    return _psi(_counts(base, edges), _counts(prod, edges))


def _ks(base: np.ndarray, prod: np.ndarray) -> float:
    return float(ks_2samp(base, prod).pvalue)


def _category_counts(base: pd.Series, prod: pd.Series) -> tuple[np.ndarray, np.ndarray]:
    counted = base.value_counts(), prod.value_counts()
    values = counted[0].index.union(counted[1].index)
    return tuple(counts.reindex(values, fill_value=0).to_numpy(float) for counts in counted)


def _jensen_shannon_categorical(base: pd.Series, prod: pd.Series) -> float:
    base_counts, prod_counts = _category_counts(base, prod)
    shares = base_counts / len(base), prod_counts / len(prod)
    return float(distance.jensenshannon(*shares, base=2))


def _psi_categorical(base: pd.Series, prod: pd.Series) -> float:
    return _psi(*_category_counts(base, prod))


def _chi_squared(base: pd.Series, prod: pd.Series) -> float:
    base_counts, prod_counts = _category_counts(base, prod)
    expected = base_counts / len(base) * len(prod)
    with np.errstate(divide="ignore", invalid="ignore"):
        return float(chisquare(prod_counts, expected).pvalue)


def _categories(values: pd.Series) -> pd.Series:
    """The values as category labels: numbers by their value (as floats), so that
    the 2 of an integer baseline and the 2.0 a scoring request was given are one
    category; anything else by its text."""
    if pd.api.types.is_numeric_dtype(values) and not pd.api.types.is_bool_dtype(values):
        return values.astype(float)
    numbers = pd.to_numeric(values, errors="coerce")
    if numbers.notna().all():
        return numbers.astype(float)
    return values.astype(str)


def _floats(values: pd.Series) -> np.ndarray:
    return pd.to_numeric(values, errors="coerce").dropna().to_numpy(float)


def _of_type(values: pd.Series, kind: str) -> pd.Series:
    """Whether each value casts to the column's type, as Spark casts it: to a
    number in a numerical column (text that is not a number does not); to text
    in a categorical one (every value does)."""
    if kind != NUMERICAL or pd.api.types.is_numeric_dtype(values):
        return pd.Series(True, index=values.index)
    return values.map(_casts_to_number).astype(bool)


def _casts_to_number(value) -> bool:
    try:
        return not math.isnan(float(value))
    except (TypeError, ValueError):
        return False


_NUMERICAL = {
    "jensen_shannon_distance": _jensen_shannon_numerical,
    "normalized_wasserstein_distance": _wasserstein,
    "population_stability_index": _psi_numerical,
    "two_sample_kolmogorov_smirnov_test": _ks,
}
_CATEGORICAL = {
    "jensen_shannon_distance": _jensen_shannon_categorical,
    "population_stability_index": _psi_categorical,
    "pearsons_chi_squared_test": _chi_squared,
}
