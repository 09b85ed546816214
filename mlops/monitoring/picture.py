"""The monitor report's picture: baseline against production for the most drifted features.

One panel per feature (at most ``PANELS``), the furthest past its threshold
first: for a number, both distributions as densities over shared bins; for a
category, each side's share of the most frequent categories. The baseline
is grey, production blue, as in the gate report's picture.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from mlops.monitoring.judge import Measured
from mlops.monitoring.measures import CATEGORICAL, TESTS
from mlops.report_plot import CANDIDATE, CHAMPION

PANELS = 3
CATEGORIES = 10  # bars per categorical panel
BINS = 30


@dataclass(frozen=True)
class Sample:
    """A feature's (or the prediction's) values on both sides."""

    kind: str  # numerical or categorical
    baseline: pd.Series
    production: pd.Series


def most_drifted(measured: Sequence[Measured], panels: int = PANELS) -> list[Measured]:
    """The drift rows of the ``panels`` features furthest past their thresholds
    (a distance by value over threshold, a test's p-value by threshold over value)."""

    def past(row: Measured) -> float:
        if math.isnan(row.value):
            return -math.inf
        if row.metric in TESTS:
            return row.threshold / max(row.value, 1e-300)
        return row.value / row.threshold if row.threshold else math.inf

    drift = [row for row in measured if row.signal != "data_quality"]
    chosen: dict[str, Measured] = {}
    for row in sorted(drift, key=past, reverse=True):
        chosen.setdefault(row.feature, row)
    return list(chosen.values())[:panels]


def draw_drift(
    path: Path, title: str, rows: Sequence[Measured], samples: Mapping[str, Sample]
) -> None:
    """Draw a panel per row of ``rows`` (see ``most_drifted``) from ``samples``
    into the PNG ``path`` (written as mlops.state_files writes)."""
    from mlops.report_plot import save_figure  # first: it sets matplotlib to files only

    import matplotlib.pyplot as plt  # isort: skip

    figure, axes = plt.subplots(1, len(rows), figsize=(4.2 * len(rows), 3.6), dpi=110)
    for axis, row in zip(np.atleast_1d(axes), rows, strict=True):
        sample = samples[row.feature]
        if sample.kind == CATEGORICAL:
            _bars(axis, sample)
        else:
            _densities(axis, sample)
        verdict = "breach" if row.breach else "ok"
        axis.set_title(f"{row.feature}\n{row.metric} {row.value:.3g} ({verdict})", fontsize=9)
        axis.legend(fontsize=8)
    save_figure(figure, title, path)


def _densities(axis, sample: Sample) -> None:
    base = pd.to_numeric(sample.baseline, errors="coerce").dropna().to_numpy(float)
    prod = pd.to_numeric(sample.production, errors="coerce").dropna().to_numpy(float)
    edges = np.histogram_bin_edges(np.concatenate([base, prod]), bins=BINS)
    axis.hist(base, bins=edges, density=True, alpha=0.55, color=CHAMPION, label="baseline")
    axis.hist(prod, bins=edges, density=True, alpha=0.55, color=CANDIDATE, label="production")
    axis.set_ylabel("density", fontsize=8)


def _bars(axis, sample: Sample) -> None:
    base = sample.baseline.astype(str).value_counts(normalize=True)
    prod = sample.production.astype(str).value_counts(normalize=True)
    shown = (base.add(prod, fill_value=0)).sort_values(ascending=False).index[:CATEGORIES]
    places = np.arange(len(shown))
    axis.bar(places - 0.2, base.reindex(shown, fill_value=0), 0.4, color=CHAMPION, label="baseline")
    axis.bar(
        places + 0.2, prod.reindex(shown, fill_value=0), 0.4, color=CANDIDATE, label="production"
    )
    axis.set_xticks(places, [str(name)[:12] for name in shown], rotation=45, fontsize=7)
    axis.set_ylabel("share", fontsize=8)
