"""Blobs of the workspace's datastores, reached the way azure-ai-ml reaches them.

The account URL is formatted from azure-ai-ml's own table
(``STORAGE_ACCOUNT_URLS``), so this code and the SDK's uploads always talk to
the same storage; the credential is the datastore's SAS or key when it has
one (``listSecrets``), else the signed-in identity (an identity-based
datastore, which needs a Storage Blob Data role).
"""

from __future__ import annotations

import os
import re
import shutil
import tempfile
from pathlib import Path

from mlops.errors import UserError

# The short form, and the long one the studio copies (…/workspaces/<ws>/datastores/…).
DATASTORE_URI = re.compile(
    r"^azureml://(?:subscriptions/[^/]+/resource[gG]roups/[^/]+/"
    r"(?:providers/Microsoft\.MachineLearningServices/)?workspaces/[^/]+/)?"
    r"datastores/(?P<store>[^/]+)/paths/(?P<path>.+)$"
)


class StorageError(UserError):
    """A datastore path cannot be read; the message names it."""


def parse_datastore_uri(uri: str) -> tuple[str, str] | None:
    """(datastore, path) of ``azureml://[.../workspaces/<ws>/]datastores/<store>/paths/<path>``,
    else None."""
    match = DATASTORE_URI.match(uri)
    return (match["store"], match["path"]) if match else None


def container(ml_client, credential, datastore: str | None = None):
    """A ``ContainerClient`` on ``datastore`` (the workspace default when None)."""
    from azure.ai.ml.constants._common import STORAGE_ACCOUNT_URLS
    from azure.storage.blob import ContainerClient

    store = (
        ml_client.datastores.get(datastore, include_secrets=True)
        if datastore
        else ml_client.datastores.get_default(include_secrets=True)
    )
    secrets = store.credentials
    secret = getattr(secrets, "sas_token", None) or getattr(secrets, "account_key", None)
    url = STORAGE_ACCOUNT_URLS[store.type].format(store.account_name, store.endpoint)
    name = getattr(store, "container_name", None) or getattr(store, "filesystem", None)
    return ContainerClient(url, name, credential=secret or credential)


def download_prefix(client, prefix: str, folder: Path) -> int:
    """Download every blob under ``prefix`` into ``folder`` (paths relative to the
    prefix); return how many. The folder appears whole, or not at all when there
    is no blob."""
    prefix = prefix.rstrip("/") + "/"
    staging = Path(tempfile.mkdtemp(prefix=f".{folder.name}-", dir=folder.parent))
    try:
        count = 0
        for blob in client.list_blobs(name_starts_with=prefix):
            relative = blob.name[len(prefix) :]
            if not relative or blob.name.endswith("/"):
                continue
            target = staging / relative
            target.parent.mkdir(parents=True, exist_ok=True)
            with target.open("wb") as handle:
                client.download_blob(blob.name).readinto(handle)
            count += 1
        if count:  # an empty prefix leaves no folder: nothing cached as downloaded
            move_into_place(staging, folder)
        return count
    finally:
        shutil.rmtree(staging, ignore_errors=True)


def move_into_place(staging: Path, folder: Path) -> None:
    """Rename the finished ``staging`` folder to ``folder``; a second command that
    downloaded the same output at the same time finds it there and keeps that."""
    try:
        staging.replace(folder)
    except OSError:
        if not folder.is_dir():
            raise


def download_file(client, path: str, target: Path) -> None:
    """Download blob ``path`` to the file ``target``. Raises ``StorageError`` when
    there is no such blob."""
    from azure.core.exceptions import ResourceNotFoundError

    partial = target.with_name(f".{target.name}.{os.getpid()}")
    try:
        with partial.open("wb") as handle:
            client.download_blob(path).readinto(handle)
        partial.replace(target)
    except ResourceNotFoundError:
        raise StorageError(f"{path}: no such file in container {client.container_name}") from None
    finally:
        partial.unlink(missing_ok=True)


def upload_folder(client, folder: Path, prefix: str) -> None:
    """Upload the files under ``folder`` as blobs ``prefix`` + their relative paths."""
    for path in sorted(p for p in folder.rglob("*") if p.is_file()):
        with path.open("rb") as handle:
            client.upload_blob(prefix + path.relative_to(folder).as_posix(), handle, overwrite=True)
