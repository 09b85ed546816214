"""The Azure target's monitoring: what the deployments' data collector wrote to
the workspace's blob store, and monitor reports kept beside the runs.

Azure ML's data collector writes each collection of a managed online
deployment to the workspace's default datastore under
``modelDataCollector/<endpoint>/<deployment>/<collection>/YYYY/MM/DD/HH/*.jsonl``
(the tree ``mlops.monitoring.collected`` reads). ``collected_folder``
downloads the hour folders a window meets into the target's cache, a file
again only when its size changed (the current hour's files grow), so that
``mlops monitor`` runs the same reader and judge as on the local target.
``point_schedule`` keeps Azure's own monitor (``monitor_schedule.py``) on
the serving deployment, and ``latest_scheduled_run`` finds the newest run it
started, for ``mlops monitor`` to show beside its own report.
"""

from __future__ import annotations

import tempfile
from collections.abc import Mapping
from datetime import datetime
from pathlib import Path

from mlops.monitoring.baseline import ANSWERS_PARQUET, FEATURES_FILE
from mlops.monitoring.collected import hours
from mlops.targets.azure import storage
from mlops.targets.azure.monitor_schedule import (
    MLTABLE,
    Baselines,
    monitor_schedule,
    schedule_name,
    unsupported,
)
from mlops.targets.base import MonitoringOperations, ScheduledRun

COLLECTOR_PATH = "modelDataCollector/{endpoint}/{deployment}/"
REPORT_PATH = "mlops/reports/{name}/"
BASELINE_PATH = "mlops/baselines/{model}/{version}/{part}/"


class AzureMonitoring(MonitoringOperations):
    # The collector lands its files in the blob store minutes after the requests.
    collects_at_once = False
    schedules = True  # Azure ML's model monitoring (MonitorSchedule)

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

    def point_schedule(self, deployment, model, baseline, prediction_type, show) -> str:
        settings = self._target.settings
        for line in unsupported(settings.monitor):
            show(f"note: {line}")
        if baseline.answers is None:
            show(
                f"note: no prediction drift signal: {model.ref} has no answers on its test "
                "split (its evaluate step predates them): retrain to have one"
            )
        with self._target._calls() as client:
            baselines = self._baselines(client, model, baseline)
            schedule = monitor_schedule(
                settings.monitor,
                settings.endpoint.name,
                deployment,
                prediction_type,
                list(baseline.features.columns),
                baselines,
            )
            client.schedules.begin_create_or_update(schedule).result()
        every = settings.monitor.schedule.interval
        when = "daily" if every == 1 else f"every {every} days"
        show(
            f"monitor schedule {schedule.name}: deployment {deployment} ({model.ref}), {when} "
            f"at {settings.monitor.schedule.time} UTC"
        )
        return schedule.name

    def latest_scheduled_run(self) -> ScheduledRun | None:
        """The newest job of the endpoint's monitor schedule: ``jobs.list`` with
        the schedule's name (the service's ``scheduleId`` filter), every page read,
        as the service does not promise an order."""
        schedule = schedule_name(self._target.settings.endpoint.name)
        with self._target._calls() as client:
            jobs = [
                job
                for job in client.jobs.list(scheduled_job_name=schedule)
                if job is not None and job.creation_context is not None
            ]
        if not jobs:
            return None
        newest = max(jobs, key=lambda job: job.creation_context.created_at)
        status = getattr(newest.status, "value", newest.status)  # the SDK's JobStatus enum
        return ScheduledRun(
            schedule,
            newest.name,
            str(status or "Unknown"),
            newest.creation_context.created_at,
            newest.studio_url,
        )

    def _baselines(self, client, model, baseline) -> Baselines:
        """``baseline`` (``mlops.monitoring.baseline``) as MLTable data assets of the
        workspace (``<model>-monitor-features`` and ``-answers``, version = the
        model's), registered once: its parquet files and an MLTable file each
        under ``mlops/baselines/<model>/<version>/``, uploaded before the asset
        that names them. The same rows ``mlops monitor`` judges with, whether the
        version was trained here or promoted from another environment."""
        from azure.ai.ml.entities import Data
        from azure.core.exceptions import ResourceNotFoundError

        store = self._target._default_datastore()
        container = storage.container(client, self._target._credential)
        refs: dict[str, str | None] = {"features": None, "answers": None}
        with tempfile.TemporaryDirectory(prefix="mlops-baseline-") as scratch:
            baseline.write(Path(scratch))
            for part, file in (("features", FEATURES_FILE), ("answers", ANSWERS_PARQUET)):
                if not (Path(scratch) / file).is_file():
                    continue
                name = f"{model.name}-monitor-{part}"
                refs[part] = f"{name}:{model.version}"
                try:
                    client.data.get(name, version=model.version)
                    continue
                except ResourceNotFoundError:
                    pass
                folder = BASELINE_PATH.format(model=model.name, version=model.version, part=part)
                with (Path(scratch) / file).open("rb") as data:
                    container.upload_blob(f"{folder}{file}", data, overwrite=True)
                mltable = MLTABLE.format(file=file)
                container.upload_blob(f"{folder}MLTable", mltable.encode(), overwrite=True)
                client.data.create_or_update(
                    Data(
                        name=name,
                        version=model.version,
                        type="mltable",
                        path=f"azureml://datastores/{store}/paths/{folder}",
                        description=f"{part} baseline of {model.ref} for Azure ML's model monitor",
                    )
                )
        return Baselines(refs["features"], refs["answers"])
