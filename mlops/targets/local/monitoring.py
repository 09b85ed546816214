"""The local target's monitoring: what the router collected (``endpoint/collection.py``),
and monitor reports as MLflow runs of the model's experiment."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from pathlib import Path

from mlops.targets.base import MonitoringOperations
from mlops.targets.local.endpoint.collection import collected_root


class LocalMonitoring(MonitoringOperations):
    collects_at_once = True  # the router writes a record as it receives it

    def __init__(self, state_dir: Path, endpoint: str, experiment: str) -> None:
        self.state_dir, self.endpoint, self.experiment = state_dir, endpoint, experiment

    def collected_folder(self, deployment: str, since: datetime, until: datetime) -> Path:
        # Written here as Azure writes it: every hour is already in place.
        return collected_root(self.state_dir, self.endpoint) / deployment

    def log_report(
        self, run_name: str, metrics: Mapping[str, float], tags: Mapping[str, str], folder: Path
    ) -> str:
        from mlops.targets.local.tracking import log_report  # MLflow: only when asked

        return log_report(self.state_dir, self.experiment, run_name, metrics, tags, folder)
