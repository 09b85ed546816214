"""``mlops monitor``: the serving deployment's collected inputs against its model's training data.

``monitor(target, settings, since, until)`` finds the deployment that
serves, the model version it serves and that version's baseline
(``baseline.py``: its training split, the data version of its lineage cut as
prep cut it, and its answers on its test split; for a version promoted from
another environment, the copy the promotion carried), reads what the
deployment collected as ``model_inputs`` in the window (by default since the
version took the traffic), judges it (``judge.py``) against the training
split, then the ``prediction`` of what it collected as ``model_outputs``
against the answers, and writes the report (JSON,
Markdown and a picture) under ``<state>/reports/monitor-<time>/``, recorded
as an MLflow run of that name in the model's experiment as well.

Nothing to judge (no deployment serving, nothing collected, too few rows)
is an outcome, not an error: the report says why and nothing breaches.
"""

from __future__ import annotations

import json
import math
import re
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import pandas as pd

from mlops.errors import UserError
from mlops.kinds import get_kind
from mlops.monitoring.collected import read_collection
from mlops.monitoring.judge import PREDICTION, MonitorReport, feature_kind, judge, judge_prediction
from mlops.monitoring.measures import CATEGORICAL_DRIFT, NUMERICAL, NUMERICAL_DRIFT
from mlops.monitoring.picture import Sample, draw_drift, most_drifted
from mlops.monitoring.training_data import baseline_of
from mlops.monitoring.trigger import REPORT_FILE
from mlops.runs import ANSWERS_FILE
from mlops.settings import MonitorSettings, Settings
from mlops.state_files import write_file
from mlops.targets.base import ScheduledRun
from mlops.task import model_kind
from mlops.text_table import table

INPUTS, OUTPUTS = "model_inputs", "model_outputs"
PICTURE = "monitor.png"


@dataclass
class Monitored:
    report: MonitorReport
    deployment: str | None = None
    model: str | None = None
    folder: Path | None = None  # where the report files are
    tracking_run_id: str | None = None  # the report's MLflow run
    # The newest run of the target's own monitor schedule (Azure ML's), if any.
    scheduled_run: ScheduledRun | None = None
    # feature (or "prediction") -> its values on both sides, for the picture
    samples: dict[str, Sample] = field(default_factory=dict)


def monitor(
    target, settings: Settings, since: datetime | None = None, until: datetime | None = None
) -> Monitored:
    """Judge what the serving deployment collected in [since, until) (see the module docstring)."""
    until = until or datetime.now(UTC)
    endpoint = target.get_endpoint()
    serving = endpoint.serving() if endpoint is not None else None
    if serving is None:
        empty = MonitorReport(0, 0, settings.monitor.min_rows)
        empty.nothing_judged = f"no deployment of endpoint {settings.endpoint.name} serves"
        return Monitored(empty)
    model = target.get_model(serving.model.rpartition(":")[2])
    since = since or _took_traffic(model)
    held = baseline_of(target, settings, model)
    baseline = held.features
    _check_features(settings, baseline)
    folder = target.monitoring.collected_folder(serving.name, since, until)
    collected = read_collection(folder, INPUTS, since, until, list(baseline.columns))
    report = judge(settings.monitor, baseline, collected.rows)
    samples = {
        feature: Sample(feature_kind(settings.monitor, baseline, feature), baseline[feature],
                        collected.rows[feature])
        for feature in baseline.columns
    }  # fmt: skip
    if not report.nothing_judged:
        answers = read_collection(folder, OUTPUTS, since, until)
        kind = get_kind(model_kind(model, settings.kind)).prediction_type
        reference = held.answers
        if _judge_answers(report, settings.monitor, kind, reference, answers):
            samples[PREDICTION] = Sample(kind, reference, answers.rows[PREDICTION].dropna())
    report.skipped = dict(collected.skipped)
    report.skipped_examples = collected.examples
    report.window = (_iso(since), _iso(until))
    if collected.calls == 0 and report.nothing_judged:
        report.nothing_judged = (
            f"nothing collected from deployment {serving.name} in the window"
            + (f" ({collected.skipped_lines} lines could not be used)" if collected.skipped else "")
        )
    monitored = Monitored(report, serving.name, model.ref, samples=samples)
    monitored.scheduled_run = _latest_scheduled_run(target, report)
    monitored.folder = _write(monitored, settings)
    monitored.tracking_run_id = target.monitoring.log_report(
        monitored.folder.name, tracked_metrics(report), _tags(monitored), monitored.folder
    )
    return monitored


def _latest_scheduled_run(target, report: MonitorReport) -> ScheduledRun | None:
    """The target's own monitor's newest run; one that cannot be read is a note
    of the report, not the end of it (the report is what was asked for)."""
    if not target.monitoring.schedules:
        return None
    try:
        return target.monitoring.latest_scheduled_run()
    except UserError as problem:
        report.notes.append(
            f"the latest run of the target's own monitor could not be read: {problem}"
        )
        return None


def scheduled_run_line(run: ScheduledRun) -> str:
    """The line that shows the target's own monitor's newest run."""
    where = f": {run.url}" if run.url else ""
    return (
        f"latest run of monitor schedule {run.schedule}: {run.name}, {run.status}, "
        f"created {_iso(run.created)}{where}"
    )


def tracked_metrics(report: MonitorReport) -> dict[str, float]:
    """What the report's MLflow run records: ``<signal>.<feature>.<metric>`` per
    measure (not NaN), the rows, and ``breach`` (1 or 0)."""
    metrics = {
        _metric_key(f"{m.signal}.{m.feature}.{m.metric}"): m.value
        for m in report.measured
        if not math.isnan(m.value)
    }
    metrics["production_rows"] = float(report.production_rows)
    metrics["breach"] = float(bool(report.breached))
    return metrics


def _metric_key(name: str) -> str:
    # MLflow takes letters, digits, _ - . / and spaces in a key.
    return re.sub(r"[^\w\-./ ]", "_", name)


def _tags(monitored: Monitored) -> dict[str, str]:
    report = monitored.report
    tags = {
        "mlops.monitor.deployment": monitored.deployment or "",
        "mlops.monitor.model": monitored.model or "",
        "mlops.monitor.window": " .. ".join(report.window),
        "mlops.monitor.breached_features": ",".join(report.breached_features),
    }
    if report.nothing_judged:
        tags["mlops.monitor.nothing_judged"] = report.nothing_judged
    return tags


def serving_model(target, settings: Settings, what_to_do: str):
    """(the serving deployment, the model version it serves); ``UserError`` saying
    ``what_to_do`` when no deployment of the endpoint serves."""
    endpoint = target.get_endpoint()
    serving = endpoint.serving() if endpoint is not None else None
    if serving is None:
        raise UserError(f"no deployment of endpoint {settings.endpoint.name} serves: {what_to_do}")
    return serving, target.get_model(serving.model.rpartition(":")[2])


def _judge_answers(
    report: MonitorReport, settings: MonitorSettings, kind: str, reference, answers
) -> bool:
    """Add the prediction drift (``kind``: numerical or categorical) of the
    collected ``answers`` against ``reference`` to ``report``, or a note saying
    why it was not measured; whether it was measured."""
    for reason, count in answers.skipped.items():
        report.skipped[f"{OUTPUTS}: {reason}"] = count
    report.skipped_examples += answers.examples
    rows = answers.rows
    produced = rows[PREDICTION].dropna() if PREDICTION in rows.columns else pd.Series([])
    if reference is None:
        report.notes.append(
            f"prediction drift not measured: the model's training run wrote no {ANSWERS_FILE} "
            "(its evaluate step predates it): retrain to measure it"
        )
        return False
    if len(produced) < settings.min_rows:
        report.notes.append(
            f"prediction drift not measured: {len(produced)} answers collected in the window, "
            f"below monitor.min_rows ({settings.min_rows})"
        )
        return False
    report.measured += judge_prediction(settings, kind, reference, produced)
    return True


def _check_features(settings: Settings, baseline: pd.DataFrame) -> None:
    """Refuse a feature threshold naming a column the model does not take, or a
    metric its kind has not."""
    named = [(f"monitor.feature_types.{name}", name) for name in settings.monitor.feature_types]
    named += [(f"monitor.data_drift.features.{name}", name) for name in
              settings.monitor.data_drift.features]  # fmt: skip
    for key, feature in named:
        if feature not in baseline.columns:
            raise UserError(
                f"{key}: the model has no feature {feature!r}; its features are "
                + ", ".join(baseline.columns)
            )
    for feature, thresholds in settings.monitor.data_drift.features.items():
        key = f"monitor.data_drift.features.{feature}"
        kind = feature_kind(settings.monitor, baseline, feature)
        allowed = NUMERICAL_DRIFT if kind == NUMERICAL else CATEGORICAL_DRIFT
        for metric in thresholds:
            if metric not in allowed:
                raise UserError(
                    f"{key}.{metric}: {feature} is {kind}; its metrics are {', '.join(allowed)}"
                )


def _took_traffic(model) -> datetime:
    """When ``model`` took the traffic (its ``mlops.deployed_at``), in UTC; the
    start of time when the tag is missing or unreadable."""
    try:
        moment = datetime.fromisoformat(model.deployed_at or "")
    except ValueError:
        return datetime.fromtimestamp(0, UTC)
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def _iso(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def describe(monitored: Monitored) -> str:
    """The table the verb prints, and the verdict."""
    report = monitored.report
    lines = []
    if monitored.deployment:
        lines.append(
            f"deployment {monitored.deployment} ({monitored.model}): {report.production_rows} "
            f"rows collected in {report.window[0]} .. {report.window[1]}, baseline "
            f"{report.baseline_rows} training rows"
        )
    if monitored.scheduled_run:
        lines.append(scheduled_run_line(monitored.scheduled_run))
    if report.skipped:
        shown = ", ".join(f"{count} {why}" for why, count in sorted(report.skipped.items()))
        lines.append(f"skipped collected lines: {shown}")
        lines.extend(f"  {example}" for example in report.skipped_examples)
    if report.nothing_judged:
        lines.append(f"monitor: nothing to judge: {report.nothing_judged}")
        return "\n".join(lines)
    lines.extend(report.notes)
    rows = [
        (
            m.feature,
            m.metric,
            _number(m.value),
            _number(m.threshold),
            "BREACH" if m.breach else "ok",
        )
        for m in report.measured
    ]
    lines.append(table(["feature", "metric", "production", "threshold", "breach"], rows))
    if report.breached:
        lines.append(f"monitor: BREACH on {', '.join(report.breached_features)}")
    else:
        lines.append("monitor: no breach")
    return "\n".join(lines)


def markdown(monitored: Monitored, picture: bool = False) -> str:
    """The report as Markdown (with ``picture``, a link to ``monitor.png`` beside it)."""
    report = monitored.report
    head = f"## Monitor: {monitored.deployment or 'no deployment'}"
    if monitored.scheduled_run:
        line = scheduled_run_line(monitored.scheduled_run)
        head += f"\n\n{line[0].upper()}{line[1:]}."
    if report.nothing_judged:
        return f"{head}\n\nNothing to judge: {report.nothing_judged}.\n"
    rows = "\n".join(
        f"| {m.feature} | {m.metric} | {_number(m.value)} | {_number(m.threshold)} | "
        f"{'**breach**' if m.breach else 'ok'} |"
        for m in report.measured
    )
    verdict = (
        f"**Breach** on {', '.join(report.breached_features)}." if report.breached else "No breach."
    )
    notes = "".join(f"{note}.\n\n" for note in report.notes)
    return (
        f"{head}\n\n{verdict} {report.production_rows} rows collected in {report.window[0]} .. "
        f"{report.window[1]}, against {report.baseline_rows} training rows.\n\n{notes}"
        "| feature | metric | production | threshold | breach |\n|---|---|---|---|---|\n"
        f"{rows}\n"
        + (f"\n![baseline and production of the most drifted features]({PICTURE})\n" if picture
           else "")
    )  # fmt: skip


def _number(value: float) -> str:
    return "nan" if value != value else f"{value:.4f}"


def report_json(monitored: Monitored, settings: Settings) -> str:
    """``monitor.json``: what was judged (the fork's model folder, the
    environment, deployment and version) and the report."""
    subject = {
        "model_folder": settings.model_id,
        "environment": settings.env or "",
        "deployment": monitored.deployment,
        "model": monitored.model,
        "scheduled_run": _scheduled_run_json(monitored.scheduled_run),
    }
    return json.dumps({**subject, **json.loads(monitored.report.to_json())}, indent=2)


def _scheduled_run_json(run: ScheduledRun | None) -> dict | None:
    if run is None:
        return None
    return {
        "schedule": run.schedule,
        "name": run.name,
        "status": run.status,
        "created": _iso(run.created),
        "url": run.url,
    }


def _write(monitored: Monitored, settings: Settings) -> Path:
    stamp = datetime.now(UTC).strftime("%Y%m%d-%H%M%S-%f")
    folder = settings.state_folder() / "reports" / f"monitor-{stamp}"
    folder.mkdir(parents=True, exist_ok=True)
    write_file(folder / REPORT_FILE, report_json(monitored, settings).encode())
    drawn = most_drifted(monitored.report.measured)
    if drawn:
        title = f"{monitored.deployment} ({monitored.model}): baseline and production"
        draw_drift(folder / PICTURE, title, drawn, monitored.samples)
    write_file(folder / "monitor.md", markdown(monitored, picture=bool(drawn)).encode())
    return folder
