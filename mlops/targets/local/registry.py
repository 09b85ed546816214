"""Model registry of the local target: MLflow's registry in the SQLite store.

A run's ``model`` output is first copied into the artifacts of the run's
MLflow parent run (so the version does not depend on the run folder staying
put), then registered from there with its lineage tags. The MLflow UI shows
the versions under "Models".
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime
from pathlib import Path

from mlflow.exceptions import MlflowException
from mlflow.tracking import MlflowClient

from mlops.targets.base import ModelNotFound, ModelVersion, PipelineRun

ARTIFACT_PATH = "model"
RUN_TAG = "mlops.run_id"


class LocalRegistry:
    def __init__(self, tracking_uri: str, model_name: str) -> None:
        self.client = MlflowClient(tracking_uri=tracking_uri, registry_uri=tracking_uri)
        self.name = model_name

    def register(self, run: PipelineRun, model_dir: Path, tags: Mapping[str, str]) -> ModelVersion:
        existing = self.find(run.run_id)
        if existing is not None:
            return existing
        if not (model_dir / "MLmodel").is_file():
            raise ModelNotFound(f"{model_dir}: run {run.run_id} has no MLflow model to register")
        if not run.tracking_run_id:
            raise ModelNotFound(f"run {run.run_id} has no MLflow run to hold the model")
        self.client.log_artifacts(run.tracking_run_id, str(model_dir), ARTIFACT_PATH)
        artifact_uri = self.client.get_run(run.tracking_run_id).info.artifact_uri
        try:
            self.client.get_registered_model(self.name)
        except MlflowException:
            self.client.create_registered_model(
                self.name, description="Registered by `mlops register`; see the version tags."
            )
        version = self.client.create_model_version(
            self.name,
            source=f"{artifact_uri}/{ARTIFACT_PATH}",
            run_id=run.tracking_run_id,
            tags={**tags, RUN_TAG: run.run_id},
        )
        return _model_version(version, new=True)

    def get(self, version: str) -> ModelVersion:
        if version == "latest":
            versions = self._all()
            if not versions:
                raise ModelNotFound(f"no version of model {self.name!r} is registered yet")
            return versions[0]
        try:
            return _model_version(self.client.get_model_version(self.name, version))
        except MlflowException:
            raise ModelNotFound(
                f"model {self.name!r} has no version {version!r} (see `mlops models`)"
            ) from None

    def find(self, run_id: str) -> ModelVersion | None:
        return next((v for v in self._all() if v.run_id == run_id), None)

    def list(self) -> list[ModelVersion]:
        return self._all()

    def _all(self) -> list[ModelVersion]:
        found = self.client.search_model_versions(f"name = '{self.name}'")
        return sorted(
            (_model_version(v) for v in found), key=lambda v: int(v.version), reverse=True
        )


def _model_version(version, new: bool = False) -> ModelVersion:
    created = datetime.fromtimestamp(version.creation_timestamp / 1000, UTC)
    return ModelVersion(
        name=version.name,
        version=str(version.version),
        source=version.source,
        tags=dict(version.tags),
        created=created.isoformat(timespec="seconds"),
        new=new,
    )
