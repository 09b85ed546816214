"""The Azure target's monitoring: what the deployments' data collector wrote to
the workspace's blob store, and monitor reports kept beside the runs.

Azure ML's data collector writes each collection of a managed online
deployment to the workspace's default datastore under
``modelDataCollector/<endpoint>/<deployment>/<collection>/YYYY/MM/DD/HH/*.jsonl``
(the tree ``mlops.monitoring.collected`` reads). ``collected_folder``
downloads the hour folders a window meets into the target's cache, a file
again only when its size changed (the current hour's files grow), so that
``mlops monitor`` runs the same reader and judge as on the local target.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from pathlib import Path

from mlops.monitoring.collected import hours
from mlops.targets.azure import storage
from mlops.targets.base import MonitoringOperations

COLLECTOR_PATH = "modelDataCollector/{endpoint}/{deployment}/"
REPORT_PATH = "mlops/reports/{name}/"


class AzureMonitoring(MonitoringOperations):
    # The collector lands its files in the blob store minutes after the requests.
    collects_at_once = False

    def __init__(self, target) -> None:
        self._target = target  # an AzureTarget: its signed-in client and cache

    def collected_folder(self, deployment: str, since: datetime, until: datetime) -> Path:
        endpoint = self._target.settings.endpoint.name
        folder = self._target.cache / "collected" / endpoint / deployment
        prefix = COLLECTOR_PATH.format(endpoint=endpoint, deployment=deployment)
        wanted = hours(since, until)
        with self._target._calls() as client:
            container = storage.container(client, self._target._credential)
            for blob in container.list_blobs(name_starts_with=prefix):
                relative = blob.name[len(prefix) :]
                parts = relative.split("/")  # collection, YYYY, MM, DD, HH, file
                if len(parts) != 6 or "/".join(parts[1:5]) not in wanted:
                    continue
                local = folder / relative
                if local.is_file() and local.stat().st_size == blob.size:
                    continue
                local.parent.mkdir(parents=True, exist_ok=True)
                storage.download_file(container, blob.name, local)
        return folder

    def log_report(
        self, run_name: str, metrics: Mapping[str, float], tags: Mapping[str, str], folder: Path
    ) -> None:
        """The report's files go to ``mlops/reports/<run_name>/`` in the workspace's
        default datastore, beside the runs' outputs; no MLflow run (this control
        plane does not install azureml-mlflow; the metrics are in monitor.json)."""
        with self._target._calls() as client:
            container = storage.container(client, self._target._credential)
            storage.upload_folder(container, folder, REPORT_PATH.format(name=run_name))
