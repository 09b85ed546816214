"""Data assets on Azure ML: ``uri_file`` versions named by content hash.

``data.path`` is a file on this machine or one already in the workspace's
storage (``azureml://datastores/<store>/paths/<file>``, where new data lands
for scheduled retraining). Either way the bytes are read here, hashed and
validated; the same bytes again cost one GET. A new version is uploaded by
azure-ai-ml as a copy under the datastore's ``LocalUpload/<hash>/``, so a
version always means the bytes it was registered with, even after the
landing file is overwritten.
"""

from __future__ import annotations

import hashlib
import json
import tempfile
from dataclasses import replace
from pathlib import Path

from mlops.data_checks import checked_with, data_path, require_file
from mlops.families import check_data
from mlops.settings import DataSettings
from mlops.targets.azure import storage
from mlops.targets.base import VERSION_LENGTH, DataAsset

CHUNK = 1 << 20
# Properties of each version (immutable, as the version is).
SHA256, ROWS, COLUMNS, CLASSES, SOURCE, CHECKED_WITH = (
    "mlops.sha256",
    "mlops.rows",
    "mlops.columns",
    "mlops.classes",
    "mlops.source",
    "mlops.checked_with",
)


def register(ml_client, credential, source: str, data: DataSettings, test_size: float) -> DataAsset:
    """Register ``source`` (the file ``data.path`` names: a local path or a
    datastore URI) as a version of ``data.asset_name``; validate it first.
    Raises ``DataError``/``StorageError`` naming the file as ``data.path`` does
    (never the downloaded copy)."""
    shown = data_path(data)
    with tempfile.TemporaryDirectory(prefix="mlops-data-") as scratch:
        local = local_copy(ml_client, credential, source, Path(scratch), shown)
        digest = _sha256(local)
        version = digest[:VERSION_LENGTH]
        existing = find(ml_client, data.asset_name, version)
        key = checked_with(data, test_size)
        if existing is not None and existing.checked_with == key:
            return existing
        # The checks depend on the settings too: bytes registered under other
        # column settings are checked again (a version's properties are
        # immutable, so this repeats while the settings differ from its own).
        profile = check_data(local, data, test_size, shown)
        if existing is not None:
            return replace(existing, classes=profile.classes)
        from azure.ai.ml.entities import Data

        asset = Data(
            name=data.asset_name,
            version=version,
            type="uri_file",
            path=str(local),
            description=f"{Path(source).name}, registered by mlops",
            properties={
                SHA256: digest,
                ROWS: str(profile.rows),
                COLUMNS: json.dumps(list(profile.columns), ensure_ascii=False),
                CLASSES: json.dumps(list(profile.classes), ensure_ascii=False),
                SOURCE: str(source),
                CHECKED_WITH: key,
            },
        )
        created = ml_client.data.create_or_update(asset)
    return _asset(created, new=True)


def find(ml_client, name: str, version: str | None) -> DataAsset | None:
    """Version ``version`` of ``name`` (the latest when None), or None."""
    from azure.ai.ml.exceptions import MlException
    from azure.core.exceptions import ResourceNotFoundError

    try:
        found = (
            ml_client.data.get(name, version=version)
            if version
            else ml_client.data.get(name, label="latest")
        )
    except ResourceNotFoundError:
        return None
    except MlException as error:
        # The latest of an asset that has no version yet is refused as an
        # MlException ("Asset ... does not exist"), not as a 404.
        if "does not exist" in str(error.message):
            return None
        raise
    return _asset(found)


def local_copy(ml_client, credential, source: str, scratch: Path, shown: str) -> Path:
    """``source`` (a file here, or a datastore file, downloaded into ``scratch``) as a
    local file; errors name it as ``shown``."""
    parsed = storage.parse_datastore_uri(source)
    if parsed is None and source.startswith("azureml://"):
        raise storage.StorageError(
            f"{shown} is not a datastore file; write it as "
            "azureml://datastores/<datastore>/paths/<file>"
        )
    if parsed is None:
        path = Path(source)
        require_file(path, shown)
        return path
    store, blob_path = parsed
    target = scratch / Path(blob_path).name
    try:
        storage.download_file(storage.container(ml_client, credential, store), blob_path, target)
    except storage.StorageError as error:
        raise storage.StorageError(f"{shown}: {error}") from None
    return target


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        while chunk := handle.read(CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


def _asset(found, new: bool = False) -> DataAsset:
    properties = found.properties or {}
    created = found.creation_context.created_at if found.creation_context else None
    return DataAsset(
        name=found.name,
        version=str(found.version),
        path=str(found.path),
        sha256=properties.get(SHA256, ""),
        rows=int(properties.get(ROWS, 0)),
        columns=tuple(json.loads(properties.get(COLUMNS, "[]"))),
        classes=tuple(json.loads(properties.get(CLASSES, "[]"))),
        checked_with=properties.get(CHECKED_WITH, ""),
        created=created.isoformat() if hasattr(created, "isoformat") else str(created or ""),
        new=new,
    )
