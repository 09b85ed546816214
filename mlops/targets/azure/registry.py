"""The Azure ML registry the environments share: promoted model versions.

``mlops promote`` uploads the files of a gated workspace version, checked
against their digest, as a version of ``model.name`` in the registry named by
``AZUREML_REGISTRY_NAME`` (an ``MLClient(registry_name=...)``), with the
promotion tags. The smoke-test request goes beside it as a ``uri_file`` data
asset ``<model>-smoke-request`` whose version is the start of the model's
digest (so a promote that failed half-way finds it again); the model version
names it in ``SAMPLE_TAG``. Its monitor baseline (``mlops.monitoring.baseline``)
and model card (``mlops.model_card``) go the same way, a ``uri_folder`` data
asset ``<model>-promoted-with`` named in ``PROMOTED_WITH_TAG``, so that the
environments it goes to judge their traffic against the rows dev judges with,
and show the card of what they serve.

Another environment takes a registry version in as a workspace version of its
own, its files downloaded from the registry and checked against the digest;
that version keeps the environment's deploy records, while its deployments
name the registry version (``ASSET_TAG``) so that what serves is the
registry's copy of the gated bytes.
"""

from __future__ import annotations

import contextlib
import re
import shutil
import tempfile
from collections.abc import Iterator, Mapping
from pathlib import Path

from mlops.errors import UserError
from mlops.lineage import model_digest
from mlops.targets.azure import models
from mlops.targets.azure.workspace import first_line, quiet_sdk_logs
from mlops.targets.base import DIGEST_TAG, ModelNotFound, ModelVersion

REGISTRY = "AZUREML_REGISTRY_NAME"
SAMPLE_SUFFIX = "-smoke-request"
SAMPLE_FILE = "request.json"
# On a registry version: the data asset holding its smoke-test request.
SAMPLE_TAG = "mlops.smoke_request"
PROMOTED_WITH_SUFFIX = "-promoted-with"
# On a registry version: the data asset holding its monitor baseline and model card.
PROMOTED_WITH_TAG = "mlops.promoted_with"
# On an environment's own version taken in from the registry: what its deployments name.
ASSET_TAG = "mlops.registry_asset"
# Azure ML asset versions are at most 30 characters.
ASSET_VERSION_LENGTH = 30
# Registry asset storage URIs: https://<account>.blob.../<container>/<path>, as the SDK parses them.
_STORAGE_URI = re.compile(r"https://[^/]+/[^/]+/(?P<path>.*)")


class RegistryError(UserError):
    """The registry cannot be named, reached or used; the message says what to do."""


def registry_name(environ: Mapping[str, str]) -> str:
    name = environ.get(REGISTRY)
    if not name:
        raise RegistryError(
            f"{REGISTRY} not set: promotion goes through the environments' Azure ML registry "
            "(`infra/stack_env.py` prints its name from the environment stack's outputs)"
        )
    return name


def asset_id(registry: str, kind: str, name: str, version: str) -> str:
    return f"azureml://registries/{registry}/{kind}/{name}/versions/{version}"


def connect(name: str, credential, transport=None):
    """An ``MLClient`` on registry ``name``; building it asks the registry
    discovery service where the registry lives."""
    from azure.ai.ml import MLClient
    from azure.core.exceptions import HttpResponseError

    quiet_sdk_logs()
    extra = {"transport": transport} if transport is not None else {}
    try:
        with registry_errors(name):
            return MLClient(credential, registry_name=name, show_progress=False, **extra)
    except HttpResponseError as error:
        if error.status_code != 404:
            raise
        raise RegistryError(
            f"Azure ML registry {name} was not found ({first_line(error)}): check {REGISTRY}, "
            "or run `pulumi up` for the platform stack"
        ) from None


@contextlib.contextmanager
def registry_errors(name: str) -> Iterator[None]:
    """A 403 from the registry as a ``RegistryError`` naming the role to grant."""
    from azure.core.exceptions import HttpResponseError

    try:
        yield
    except HttpResponseError as error:
        if error.status_code == 403:
            raise RegistryError(
                f"Azure refused access to registry {name} ({first_line(error)}): promoting "
                "needs AzureML Registry User on it (the platform stack grants it to the ml "
                "identity of the environments in registryWriters), deploying from it "
                "AzureML Registry Reader (mlops) or that role"
            ) from None
        raise


def list_versions(registry_client, name: str) -> list[ModelVersion]:
    """Every registry version of ``name``, newest first."""
    return models.list_versions(registry_client, name)


def get(registry_client, name: str, version: str) -> ModelVersion:
    from azure.core.exceptions import ResourceNotFoundError

    try:
        return models.to_version(registry_client.models.get(name, version=version))
    except ResourceNotFoundError:
        raise ModelNotFound(
            f"the registry has no version {version} of model {name} (`mlops promote` puts "
            "versions there)"
        ) from None


def promote(
    registry_client,
    registry: str,
    name: str,
    version: str,
    files: Path,
    tags: Mapping[str, str],
    sample: bytes,
    description: str,
    promoted_with: Path | None = None,
) -> ModelVersion:
    """Registry version ``version`` of ``name`` holding ``files`` with ``tags``, its
    smoke-test request ``sample`` and the files of folder ``promoted_with``. Raises
    ``RegistryError`` when ``files`` do not have the digest the tags record, or when
    ``version`` was taken meanwhile."""
    from azure.ai.ml.constants import AssetTypes
    from azure.ai.ml.entities import Model
    from azure.core.exceptions import HttpResponseError

    digest = tags[DIGEST_TAG]
    _check_digest(files, digest)
    kept = dict(tags)
    with tempfile.TemporaryDirectory() as scratch:
        path = Path(scratch) / SAMPLE_FILE
        path.write_bytes(sample)
        kept[SAMPLE_TAG] = _keep_data(
            registry_client, registry, f"{name}{SAMPLE_SUFFIX}", digest, AssetTypes.URI_FILE,
            path, f"the smoke-test request of {name} with digest {digest}",
        )  # fmt: skip
    if promoted_with is not None:
        kept[PROMOTED_WITH_TAG] = keep_promoted_with(
            registry_client, registry, name, digest, promoted_with
        )
    model = Model(
        name=name,
        version=version,
        type=AssetTypes.MLFLOW_MODEL,
        path=str(files),
        tags=kept,
        description=description,
    )
    try:
        created = registry_client.models.create_or_update(model)
    except HttpResponseError as error:
        if error.status_code != 409:
            raise
        raise RegistryError(
            f"version {version} of {name} appeared in the registry meanwhile (another promote "
            "at the same time?): run `mlops promote` again"
        ) from None
    return models.to_version(created, new=True)


def keep_promoted_with(registry_client, registry: str, name: str, digest: str, folder: Path) -> str:
    """The asset id of the files promoted with the version of ``name`` with ``digest``
    (those of ``folder``: its monitor baseline and model card), uploaded unless the
    registry holds them."""
    from azure.ai.ml.constants import AssetTypes

    description = f"the monitor baseline and model card of {name} with digest {digest}"
    return _keep_data(
        registry_client, registry, f"{name}{PROMOTED_WITH_SUFFIX}", digest,
        AssetTypes.URI_FOLDER, folder, description,
    )  # fmt: skip


def _keep_data(
    registry_client, registry: str, name: str, digest: str, kind: str, path: Path, description: str
) -> str:
    """The asset id of data asset ``name`` at the version the start of ``digest``
    names (so that a promote that failed half-way finds it again), created from
    ``path`` unless the registry holds it."""
    from azure.ai.ml.entities import Data
    from azure.core.exceptions import HttpResponseError, ResourceNotFoundError

    version = digest[:ASSET_VERSION_LENGTH]
    try:
        registry_client.data.get(name, version=version)
    except ResourceNotFoundError:
        data = Data(name=name, version=version, type=kind, path=str(path), description=description)
        try:
            registry_client.data.create_or_update(data)
        except HttpResponseError as error:
            if error.status_code != 409:  # 409: another promote of the same files made it
                raise
    return asset_id(registry, "data", name, version)


def sample(registry_client, registry: str, name: str, version: str) -> bytes | None:
    """The smoke-test request kept with registry version ``version``, if any."""
    reference = get(registry_client, name, version).tags.get(SAMPLE_TAG, "")
    found = _data_asset(registry_client, registry, reference)
    if found is None or len(found[1]) != 1:
        return None
    container, (blob,) = found
    return container.download_blob(blob).readall()


def promoted_with(
    registry_client, registry: str, name: str, version: str, folder: Path
) -> Path | None:
    """``folder``, holding the files kept with registry version ``version`` (downloaded
    once, whole or not at all); None when it was promoted without them."""
    if folder.is_dir():
        return folder
    reference = get(registry_client, name, version).tags.get(PROMOTED_WITH_TAG, "")
    found = _data_asset(registry_client, registry, reference)
    if found is None or not found[1]:
        return None
    container, blobs = found
    folder.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=folder.parent) as scratch:
        for blob in blobs:
            path = Path(scratch) / "files" / Path(blob).name
            path.parent.mkdir(exist_ok=True)
            path.write_bytes(container.download_blob(blob).readall())
        (Path(scratch) / "files").rename(folder)
    return folder


def download(registry_client, promoted: ModelVersion, folder: Path) -> Path:
    """The files of registry version ``promoted`` in ``folder`` (created whole or not
    at all), checked against its digest."""
    if folder.is_dir():
        return folder
    folder.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=folder.parent) as scratch:
        registry_client.models.download(promoted.name, promoted.version, download_path=scratch)
        # The SDK writes <download_path>/<name>/<last folder of the model's path>/.
        found = [p.parent for p in Path(scratch).rglob("MLmodel")]
        if len(found) != 1:
            raise RegistryError(
                f"registry version {promoted.ref} is not one MLflow model ({len(found)} MLmodel "
                "files)"
            )
        if model_digest(found[0]) != promoted.digest:
            raise RegistryError(
                f"registry version {promoted.ref} does not hold the files it was promoted with "
                f"(digest {promoted.digest or 'none'}): they changed in the registry's storage; "
                "nothing was deployed. Promote the version again from dev"
            )
        shutil.move(found[0], folder)
    return folder


def _check_digest(files: Path, digest: str) -> None:
    if model_digest(files) != digest:
        raise RegistryError(
            f"{files}: these files do not have the digest {digest or '(none)'} the version "
            "records; remove the folder so that they are downloaded again"
        )


def _data_asset(registry_client, registry: str, reference: str):
    """(a container client, the names of the asset's blobs) of the registry data
    asset ``reference`` names (an asset id); None when it names none. azure-ai-ml
    downloads registry models only; its own helper hands out the read SAS that
    ``models.download`` uses."""
    from azure.ai.ml._utils._registry_utils import get_storage_details_for_registry_assets
    from azure.storage.blob import ContainerClient

    named = re.fullmatch(r"azureml://registries/[^/]+/data/([^/]+)/versions/([^/]+)", reference)
    if not named:
        return None
    uri = str(registry_client.data.get(named[1], version=named[2]).path)
    match = _STORAGE_URI.fullmatch(uri)
    if not match:
        return None
    sas, _ = get_storage_details_for_registry_assets(
        service_client=registry_client.models._registry_service_client,
        asset_type="data",
        asset_name=named[1],
        asset_version=named[2],
        rg_name=registry_client.resource_group_name,
        reg_name=registry,
        uri=uri,
    )
    container = ContainerClient.from_container_url(sas)
    return container, [b.name for b in container.list_blobs(name_starts_with=match["path"])]
