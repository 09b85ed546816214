"""The workspace's model registry: versions of ``model.name``, with lineage tags."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from pathlib import Path

from mlops.targets.base import ModelNotFound, ModelVersion


def register(
    ml_client, name: str, run_id: str, source: str, tags: Mapping[str, str]
) -> ModelVersion:
    """A new version of ``name`` from the job output ``source``, the model of run ``run_id``
    (``azureml://jobs/<job>/outputs/<output>``: the run's own, or the fine-tuning job's)."""
    from azure.ai.ml.constants import AssetTypes
    from azure.ai.ml.entities import Model

    model = Model(
        name=name,
        type=AssetTypes.MLFLOW_MODEL,
        path=source,
        tags=dict(tags),
        description=f"trained by pipeline job {run_id}",
    )
    return to_version(ml_client.models.create_or_update(model), new=True)


def register_files(
    ml_client, name: str, folder: Path, tags: Mapping[str, str], description: str
) -> ModelVersion:
    """A new version of ``name`` holding a copy of the MLflow model in ``folder``."""
    from azure.ai.ml.constants import AssetTypes
    from azure.ai.ml.entities import Model

    model = Model(
        name=name,
        type=AssetTypes.MLFLOW_MODEL,
        path=str(folder),
        tags=dict(tags),
        description=description,
    )
    return to_version(ml_client.models.create_or_update(model), new=True)


def get(ml_client, name: str, version: str) -> ModelVersion:
    from azure.core.exceptions import ResourceNotFoundError

    try:
        return to_version(ml_client.models.get(name, version=version))
    except ResourceNotFoundError:
        raise ModelNotFound(f"model {name} has no version {version} (see `mlops models`)") from None


def list_versions(ml_client, name: str) -> list[ModelVersion]:
    """Every version of ``name``, newest first."""
    from azure.core.exceptions import ResourceNotFoundError

    try:
        found = [to_version(m) for m in ml_client.models.list(name=name)]
    except ResourceNotFoundError:
        return []
    return sorted(found, key=_order, reverse=True)


def find(ml_client, name: str, run_id: str) -> ModelVersion | None:
    """The version registered from job ``run_id``, if any."""
    return next((m for m in list_versions(ml_client, name) if m.run_id == run_id), None)


def set_tags(ml_client, name: str, version: str, tags: Mapping[str, str]) -> None:
    from azure.core.exceptions import ResourceNotFoundError

    try:
        model = ml_client.models.get(name, version=version)
    except ResourceNotFoundError:
        raise ModelNotFound(f"model {name} has no version {version}") from None
    model.tags = {**(model.tags or {}), **tags}
    ml_client.models.create_or_update(model)


def _order(model: ModelVersion) -> tuple:
    return (int(model.version) if model.version.isdigit() else -1, model.created)


def to_version(model, new: bool = False) -> ModelVersion:
    """An azure-ai-ml ``Model`` (of a workspace or a registry) as a ``ModelVersion``."""
    created = getattr(model.creation_context, "created_at", None)
    return ModelVersion(
        name=model.name,
        version=str(model.version),
        source=str(model.path),
        tags=dict(model.tags or {}),
        created=created.isoformat() if isinstance(created, datetime) else str(created or ""),
        new=new,
    )
