"""Azure ML's model monitor of the serving deployment, as azure-ai-ml builds it.

``monitor_schedule`` turns the model's ``monitor:`` settings into a
``MonitorSchedule`` on the deployment: data drift and data quality of its
collected ``model_inputs`` against the version's training split, prediction
drift of its ``model_outputs`` against the version's answers on its test
split, where known (the baseline ``mlops monitor`` uses), with the same metrics and
thresholds, on serverless Spark, at the settings' time of day. The SDK finds
the production data itself: the data assets Azure made for the deployment's
data collector.

Azure's drift signals take one metric per feature type and no threshold of a
single feature; ``unsupported`` names what of the settings its monitor
cannot carry (``mlops monitor`` still judges it).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from mlops.settings import MonitorSettings

# The MLTable file the monitor reads a baseline through (Azure's signals take
# mltable), beside the parquet ``file`` it names.
MLTABLE = "paths:\n  - file: ./{file}\ntransformations:\n  - read_parquet\n"
# Azure's names for what the kind predicts (the kind's prediction_type).
ML_TASKS = {"categorical": "classification", "numerical": "regression"}


@dataclass(frozen=True)
class Baselines:
    """The data assets (``name:version``) the signals compare production with."""

    features: str  # the training split, as prep cut it
    answers: str | None  # the model's answers on its test split (None: unknown)


def schedule_name(endpoint: str) -> str:
    return f"{endpoint}-monitor"


def monitor_schedule(
    settings: MonitorSettings,
    endpoint: str,
    deployment: str,
    prediction_type: str,
    features: Sequence[str],
    baselines: Baselines,
):
    """The ``MonitorSchedule`` (azure-ai-ml entity) of ``deployment`` of ``endpoint``."""
    from azure.ai.ml import Input
    from azure.ai.ml.entities import (
        AlertNotification,
        CategoricalDriftMetrics,
        DataDriftMetricThreshold,
        DataDriftSignal,
        DataQualityMetricsCategorical,
        DataQualityMetricsNumerical,
        DataQualityMetricThreshold,
        DataQualitySignal,
        MonitorDefinition,
        MonitoringTarget,
        MonitorSchedule,
        NumericalDriftMetrics,
        PredictionDriftMetricThreshold,
        PredictionDriftSignal,
        RecurrencePattern,
        RecurrenceTrigger,
        ReferenceData,
        ServerlessSparkCompute,
    )

    def reference(asset: str, context: str):
        return ReferenceData(input_data=Input(path=f"azureml:{asset}", type="mltable"),
                             data_context=context)  # fmt: skip

    def drift(thresholds, kind):
        numerical = _first(thresholds.numerical)
        categorical = _first(thresholds.categorical)
        return kind(
            numerical=NumericalDriftMetrics(**numerical) if numerical else None,
            categorical=CategoricalDriftMetrics(**categorical) if categorical else None,
        )

    overrides = dict(settings.feature_types) or None
    quality = settings.data_quality
    signals = {
        "data-drift": DataDriftSignal(
            reference_data=reference(baselines.features, "training"),
            features=list(features),
            feature_type_override=overrides,
            metric_thresholds=drift(settings.data_drift, DataDriftMetricThreshold),
            alert_enabled=bool(settings.schedule.emails),
        ),
        "data-quality": DataQualitySignal(
            reference_data=reference(baselines.features, "training"),
            features=list(features),
            feature_type_override=overrides,
            metric_thresholds=DataQualityMetricThreshold(
                numerical=DataQualityMetricsNumerical(**quality.numerical),
                categorical=DataQualityMetricsCategorical(**quality.categorical),
            ),
            alert_enabled=bool(settings.schedule.emails),
        ),
    }
    if baselines.answers is not None:
        signals["prediction-drift"] = PredictionDriftSignal(
            reference_data=reference(baselines.answers, "model_outputs"),
            metric_thresholds=drift(settings.prediction_drift, PredictionDriftMetricThreshold),
            alert_enabled=bool(settings.schedule.emails),
        )
    hour, minute = (int(part) for part in settings.schedule.time.split(":"))
    return MonitorSchedule(
        name=schedule_name(endpoint),
        trigger=RecurrenceTrigger(
            frequency="day",
            interval=settings.schedule.interval,
            schedule=RecurrencePattern(hours=[hour], minutes=[minute]),
            time_zone="UTC",
        ),
        create_monitor=MonitorDefinition(
            compute=ServerlessSparkCompute(
                instance_type=settings.schedule.instance_type,
                runtime_version=settings.schedule.runtime_version,
            ),
            monitoring_target=MonitoringTarget(
                ml_task=ML_TASKS[prediction_type],
                endpoint_deployment_id=f"azureml:{endpoint}:{deployment}",
            ),
            monitoring_signals=signals,
            alert_notification=(
                AlertNotification(emails=list(settings.schedule.emails))
                if settings.schedule.emails
                else None
            ),
        ),
        description=f"mlops monitor enable: deployment {deployment} of endpoint {endpoint}",
        tags={"mlops.deployment": deployment},
    )


def _first(thresholds: dict) -> dict:
    """Azure's drift signal takes one metric per feature type: the first named."""
    return dict(list(thresholds.items())[:1])


def unsupported(settings: MonitorSettings) -> list[str]:
    """What of ``settings`` Azure's monitor does not carry, one line each."""
    lines = []
    for key, thresholds in (
        ("data_drift.numerical", settings.data_drift.numerical),
        ("data_drift.categorical", settings.data_drift.categorical),
        ("prediction_drift.numerical", settings.prediction_drift.numerical),
        ("prediction_drift.categorical", settings.prediction_drift.categorical),
    ):
        if len(thresholds) > 1:
            first, *rest = thresholds
            lines.append(
                f"monitor.{key}: Azure's monitor takes one metric per feature type: it judges "
                f"{first}, not {', '.join(rest)} (mlops monitor judges them all)"
            )
    if settings.data_drift.features:
        lines.append(
            "monitor.data_drift.features: Azure's monitor has no threshold of a single feature: "
            f"it judges {', '.join(settings.data_drift.features)} by their type's "
            "(mlops monitor by their own)"
        )
    return lines
