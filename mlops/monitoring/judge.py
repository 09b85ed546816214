"""Judging production data against its model's training data: the monitor's table.

``judge`` measures every feature with the thresholds of the model's
``monitor:`` settings (data drift by the feature's kind, or the feature's
own thresholds; data quality by kind) and says which breach;
``judge_prediction`` adds the prediction drift of the answers. Below
``monitor.min_rows`` collected rows nothing is judged: too little data is
said, never a false alarm.
"""

from __future__ import annotations

import json
import math
from dataclasses import asdict, dataclass, field

import pandas as pd

from mlops.monitoring.measures import CATEGORICAL, breaches, drift, kind_of, quality
from mlops.settings import MonitorSettings

# The answers' column that prediction drift measures (the scoring script's output).
PREDICTION = "prediction"


@dataclass(frozen=True)
class Measured:
    signal: str  # data_drift, prediction_drift or data_quality
    feature: str
    kind: str  # numerical or categorical
    metric: str
    value: float
    threshold: float
    breach: bool


@dataclass
class MonitorReport:
    production_rows: int
    baseline_rows: int
    min_rows: int
    measured: list[Measured] = field(default_factory=list)
    # Why nothing was judged, when nothing was.
    nothing_judged: str | None = None
    # Collected lines that could not be used: reason -> count, and the first few.
    skipped: dict[str, int] = field(default_factory=dict)
    skipped_examples: list[str] = field(default_factory=list)
    window: tuple[str, str] = ("", "")
    # What was not measured, and why (a signal without its data).
    notes: list[str] = field(default_factory=list)

    @property
    def breached(self) -> list[Measured]:
        return [row for row in self.measured if row.breach]

    @property
    def breached_features(self) -> list[str]:
        return sorted({row.feature for row in self.breached})

    def to_json(self) -> str:
        data = asdict(self)
        data["breach"] = bool(self.breached)
        data["breached_features"] = self.breached_features
        for row in data["measured"]:
            row["value"] = None if math.isnan(row["value"]) else row["value"]
        return json.dumps(data, indent=2)


def judge(
    settings: MonitorSettings, baseline: pd.DataFrame, production: pd.DataFrame
) -> MonitorReport:
    """Measure each column of ``baseline`` (the model's features, as prep cut
    the training data) in ``production`` (the collected inputs, same columns)."""
    report = MonitorReport(len(production), len(baseline), settings.min_rows)
    if len(production) < settings.min_rows:
        report.nothing_judged = (
            f"{len(production)} rows collected in the window; nothing is judged below "
            f"monitor.min_rows ({settings.min_rows})"
        )
        return report
    drift_settings = settings.data_drift
    for feature in baseline.columns:
        kind = feature_kind(settings, baseline, feature)
        base, prod = baseline[feature], production[feature]
        by_kind = drift_settings.categorical if kind == CATEGORICAL else drift_settings.numerical
        for metric, threshold in drift_settings.features.get(feature, by_kind).items():
            value = drift(metric, kind, base, prod)
            row = Measured("data_drift", feature, kind, metric, value, threshold, False)
            report.measured.append(_judged(row))
        quality_settings = settings.data_quality
        rates = quality_settings.categorical if kind == CATEGORICAL else quality_settings.numerical
        for metric, threshold in rates.items():
            value = quality(metric, kind, base, prod)
            row = Measured("data_quality", feature, kind, metric, value, threshold, False)
            report.measured.append(_judged(row))
    return report


def judge_prediction(
    settings: MonitorSettings, kind: str, baseline: pd.Series, production: pd.Series
) -> list[Measured]:
    """Prediction drift: ``production`` (the collected answers' ``prediction``)
    against ``baseline`` (the model's answers on its test split), ``kind``
    numerical or categorical, with ``monitor.prediction_drift``'s thresholds."""
    thresholds = settings.prediction_drift
    by_kind = thresholds.categorical if kind == CATEGORICAL else thresholds.numerical
    return [
        _judged(
            Measured(
                "prediction_drift",
                PREDICTION,
                kind,
                metric,
                drift(metric, kind, baseline, production),
                threshold,
                False,
            )
        )
        for metric, threshold in by_kind.items()
    ]


def feature_kind(settings: MonitorSettings, baseline: pd.DataFrame, feature: str) -> str:
    """Numerical or categorical: as ``monitor.feature_types`` says, else as Azure decides."""
    return settings.feature_types.get(feature) or kind_of(baseline[feature])


def _judged(row: Measured) -> Measured:
    return Measured(**{**asdict(row), "breach": breaches(row.metric, row.value, row.threshold)})
