"""Retraining that a monitor breach started: what the new model version records.

``mlops monitor --report-dir DIR`` leaves ``monitor.json`` there; the monitor
workflow hands those of every environment to ``mlops run --drift-report
FOLDER``, which trains as usual (the gate still decides) and records why:
the version is tagged ``mlops.trigger=drift`` and ``mlops.trigger_report``
(each breached environment, deployment, features and window, in one line),
and the reports themselves are attached to the training run under
``drift/<environment>/``.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from mlops.errors import UserError

TRIGGER_TAG = "mlops.trigger"
TRIGGER_REPORT_TAG = "mlops.trigger_report"
DRIFT = "drift"
REPORT_FILE = "monitor.json"
# Registries keep tag values short (Azure ML's asset tags are indexed text).
TAG_LENGTH = 500


@dataclass(frozen=True)
class DriftReport:
    """One breached monitor report of the model."""

    folder: Path  # what to attach: the folder of its monitor.json
    environment: str
    deployment: str
    model: str  # the serving version, name:version
    breached_features: tuple[str, ...]
    window: tuple[str, str]

    def describe(self) -> str:
        where = f"{self.environment} " if self.environment else ""
        return (
            f"{where}{self.deployment} ({self.model}): breach on "
            f"{', '.join(self.breached_features)} in {self.window[0]} .. {self.window[1]}"
        )


def breached_reports(source: Path, model_name: str) -> list[DriftReport]:
    """The breached reports of registered model ``model_name`` among the
    ``monitor.json`` files under ``source`` (a folder, searched at any depth, or
    one such file), sorted by environment. Raises ``UserError`` naming
    ``source`` when it holds none (a report that is unreadable is named too)."""
    if not source.exists():
        raise UserError(f"--drift-report {source}: no such file or folder")
    files = [source] if source.is_file() else sorted(source.rglob(REPORT_FILE))
    found = []
    for path in files:
        try:
            data = json.loads(path.read_text())
            model = str(data.get("model") or "")
            breached = tuple(data.get("breached_features") or ())
            window = tuple(data.get("window") or ("", ""))
        except (OSError, ValueError, AttributeError, TypeError) as problem:
            raise UserError(f"--drift-report {path}: not a monitor report ({problem})") from None
        if model.rpartition(":")[0] != model_name or not data.get("breach") or not breached:
            continue
        found.append(
            DriftReport(
                path.parent,
                str(data.get("environment") or ""),
                str(data.get("deployment") or ""),
                model,
                breached,
                (str(window[0]), str(window[-1])),
            )
        )
    if not found:
        raise UserError(
            f"--drift-report {source}: no monitor report of model {model_name} with a breach "
            f"in {len(files)} {REPORT_FILE} file(s); run `mlops monitor --report-dir DIR` first"
        )
    return sorted(found, key=lambda report: report.environment)


def trigger_tags(reports: list[DriftReport]) -> dict[str, str]:
    """The tags a version trained because of ``reports`` carries."""
    text = "; ".join(report.describe() for report in reports)
    if len(text) > TAG_LENGTH:
        text = text[: TAG_LENGTH - 3] + "..."
    return {TRIGGER_TAG: DRIFT, TRIGGER_REPORT_TAG: text}
