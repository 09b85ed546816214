"""Model registry of the local target: MLflow's registry in the SQLite store.

A run's ``model`` output is first copied into the artifacts of the run's
MLflow parent run (so the version does not depend on the run folder staying
put), then registered from there with its lineage tags. The MLflow UI shows
the versions under "Models".

A version number is never issued twice for different models: when the store
was deleted or replaced while something else still names versions of this
model (the local endpoint serving one), MLflow would count from 1 again, so
the numbers up to the highest one still named are first used up by
placeholder versions, created and deleted at once (MLflow numbers after every
version it ever created, deleted ones included).
"""

from __future__ import annotations

import shutil
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from pathlib import Path
from urllib.parse import unquote, urlparse

from mlflow.exceptions import MlflowException
from mlflow.tracking import MlflowClient

from mlops.targets.base import (
    ADOPTED_TAG,
    RUN_TAG,
    ModelNotFound,
    ModelVersion,
    PipelineRun,
    newest,
)
from mlops.targets.local.blank_store import quiet_store_logs

ARTIFACT_PATH = "model"
PLACEHOLDER_SOURCE = "mlops:number-in-use"
PLACEHOLDER_NOTE = "a number still in use outside a reset registry; never a model"


class LocalRegistry:
    def __init__(
        self, tracking_uri: str, model_name: str, in_use: Callable[[], int] = lambda: 0
    ) -> None:
        """``in_use()`` gives the highest version number of ``model_name`` named
        outside the registry (0 for none); no new version gets a number up to it."""
        quiet_store_logs()
        self.client = MlflowClient(tracking_uri=tracking_uri, registry_uri=tracking_uri)
        self.name = model_name
        self.in_use = in_use

    def register(self, run: PipelineRun, model_dir: Path, tags: Mapping[str, str]) -> ModelVersion:
        existing = self.find(run.run_id)
        if existing is not None:
            return existing
        if not (model_dir / "MLmodel").is_file():
            raise ModelNotFound(f"{model_dir}: run {run.run_id} has no MLflow model to register")
        if not run.tracking_run_id:
            raise ModelNotFound(f"run {run.run_id} has no MLflow run to hold the model")
        copy = self.log_files(run.tracking_run_id, model_dir, ARTIFACT_PATH)
        return self._create(copy.as_uri(), {**tags, RUN_TAG: run.run_id}, run.tracking_run_id)

    def log_files(self, run_id: str, folder: Path, artifact_path: str) -> Path:
        """Copy the files in ``folder`` into MLflow run ``run_id``'s artifacts under
        ``artifact_path``; return where they now are.

        The store's artifact locations are folders of the state (``file:`` URIs),
        so this is what MLflow's local artifact repository does, minus its cache
        of repositories by run id, which would send the files of a copied state
        folder (the same run ids) to the copy first opened in this process."""
        uri = urlparse(self.client.get_run(run_id).info.artifact_uri)
        if uri.scheme not in ("", "file"):
            raise ModelNotFound(f"run {run_id} keeps its artifacts in {uri.geturl()}, not here")
        target = Path(unquote(uri.path)) / artifact_path
        shutil.copytree(folder, target, dirs_exist_ok=True)
        return target

    def adopt(self, promoted: ModelVersion, tags: Mapping[str, str]) -> ModelVersion:
        """A version of this registry's model serving the files of ``promoted`` (a
        version of the shared registry), with ``tags``; once per promoted version
        (found again by ``ADOPTED_TAG``)."""
        ref = tags[ADOPTED_TAG]
        existing = next((v for v in self._all() if v.tags.get(ADOPTED_TAG) == ref), None)
        if existing is not None:
            return existing
        return self._create(promoted.source, tags, None)

    def _create(self, source: str, tags: Mapping[str, str], run_id: str | None) -> ModelVersion:
        try:
            self.client.get_registered_model(self.name)
        except MlflowException:
            self.client.create_registered_model(
                self.name, description="Registered by `mlops register`; see the version tags."
            )
        self._skip_numbers_in_use()
        version = self.client.create_model_version(
            self.name, source=source, run_id=run_id, tags=dict(tags)
        )
        return to_model_version(version, new=True)

    def _skip_numbers_in_use(self) -> None:
        highest_in_use = self.in_use()
        issued = max((int(v.version) for v in self._all()), default=0)
        while issued < highest_in_use:
            placeholder = self.client.create_model_version(
                self.name, source=PLACEHOLDER_SOURCE, description=PLACEHOLDER_NOTE
            )
            self.client.delete_model_version(self.name, placeholder.version)
            issued = int(placeholder.version)

    def set_tags(self, version: str, tags: Mapping[str, str]) -> None:
        self.get(version)  # a missing version is named, not an MLflow error
        for key, value in tags.items():
            self.client.set_model_version_tag(self.name, version, key, value)

    def set_alias(self, alias: str, version: str) -> None:
        """Point the registered model's ``alias`` at ``version`` (moved from any other)."""
        self.get(version)
        self.client.set_registered_model_alias(self.name, alias, version)

    def get(self, version: str) -> ModelVersion:
        if version == "latest":
            return newest(self._all(), f"no version of model {self.name!r} is registered yet")
        try:
            return to_model_version(self.client.get_model_version(self.name, version))
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
            (to_model_version(v) for v in found), key=lambda v: int(v.version), reverse=True
        )


def to_model_version(version, new: bool = False) -> ModelVersion:
    created = datetime.fromtimestamp(version.creation_timestamp / 1000, UTC)
    return ModelVersion(
        name=version.name,
        version=str(version.version),
        source=version.source,
        tags=dict(version.tags),
        created=created.isoformat(timespec="seconds"),
        new=new,
    )
