"""An Azure ML registry for `FakeAzureML`: the routes azure-ai-ml sends through an
`MLClient(registry_name=...)`, its assets in dicts and its files in Azurite.

One `FakeRegistry` is attached to the fakes of several workspaces (dev,
staging, prod), so what one promotes the others read. The discovery service
names the registry's front end (`primaryRegionResourceProviderUri`); the SDK
then sends `.../registries/<name>/...` under `mferp/managementfrontend/` with
the registry data-plane api-version (azure/ai/ml/_utils/_registry_utils.py).

Files: `tempdatarefs` hands out a SAS on an Azurite container for the upload,
and a version's URI is stored as the registry's own storage names it
(`https://<account>.blob.core.windows.net/<container>/<path>`); `datarefs`
hands out a read SAS on the same Azurite container.
"""

from __future__ import annotations

import itertools
import uuid
from collections.abc import Callable
from typing import Any

from tests.mlops.targets.azure.fake_azureml import _now, _public, _Reply

_MFE = r"(?:/mferp/managementfrontend)?"
_REG = (
    rf"{_MFE}/subscriptions/(?P<sub>[^/]+)/resourceGroups/(?P<rg>[^/]+)"
    r"/providers/Microsoft\.MachineLearningServices/registries/(?P<registry>[^/]+)"
)
FRONT_END = "https://fake-region.api.azureml.ms/"
STORAGE_ACCOUNT = "fakeregistrystore"


class FakeRegistry:
    """Registry `name`'s state: `assets[(kind, name)][version]` (kind: models, data).
    `blob_service` is Azurite's; `sas_token` an account SAS on it."""

    def __init__(
        self,
        name: str,
        subscription: str,
        resource_group: str,
        *,
        blob_service: Any,
        sas_token: str,
    ) -> None:
        self.name, self.subscription, self.resource_group = name, subscription, resource_group
        self.blob_service, self.sas_token = blob_service, sas_token
        self.container = f"registry-{uuid.uuid4().hex[:20]}"
        blob_service.create_container(self.container)
        self.assets: dict[tuple[str, str], dict[str, dict]] = {}
        self.path = (
            f"/subscriptions/{subscription}/resourceGroups/{resource_group}"
            f"/providers/Microsoft.MachineLearningServices/registries/{name}"
        )
        self._seq = itertools.count()

    def routes(self) -> list[tuple[str, str, Callable[..., Any]]]:
        versions = rf"{_REG}/(?P<kind>models|data)/(?P<name>[^/]+)/versions"
        version = rf"{versions}/(?P<version>[^/]+)"
        reference = r"/(?P<name>[^/]+)/versions/(?P<version>[^/]+)"
        discovery = r"/registrymanagement/v1\.0/registries/(?P<registry>[^/]+)/discovery"
        return [
            ("GET", discovery, self._discovery),
            ("GET", versions, self._list),
            ("GET", version, self._get),
            ("PUT", version, self._put),
            ("PUT", rf"{_REG}/tempdatarefs{reference}", self._write_sas),
            ("POST", rf"{_REG}/datarefs{reference}", self._read_sas),
        ]

    def _ours(self, registry: str) -> bool:
        return registry.lower() == self.name.lower()

    def _missing(self, registry: str):
        return _Reply(
            404,
            {"error": {"code": "NotFound", "message": f"Registry {registry} not found."}},
        )

    def _discovery(self, req, registry: str):
        if not self._ours(registry):
            return self._missing(registry)
        body = {
            "registryName": self.name,
            "tenantId": "00000000-0000-0000-0000-0000000000aa",
            "primaryRegion": "fakeregion",
            "regions": ["fakeregion"],
            "subscriptionId": self.subscription,
            "resourceGroup": self.resource_group,
            "primaryRegionResourceProviderUri": FRONT_END,
            "registryFqdns": {"fakeregion": {"api": FRONT_END}},
        }
        return _Reply(200, body)

    def versions(self, kind: str, name: str) -> list[dict]:
        return sorted(self.assets.get((kind, name), {}).values(), key=lambda r: r["_seq"])

    def _list(self, req, registry: str, kind: str, name: str):
        if not self._ours(registry):
            return self._missing(registry)
        found = [_public(v) for v in self.versions(kind, name)]
        if "desc" in req.query.get("$orderBy", "").lower():
            found.reverse()
        return _Reply(200, {"value": found})

    def _get(self, req, registry: str, kind: str, name: str, version: str):
        if not self._ours(registry):
            return self._missing(registry)
        found = self.assets.get((kind, name), {}).get(version)
        if found is None:
            message = f"Could not find asset with ID: azureml://registries/{registry}/{kind}/{name}/versions/{version}"
            return _Reply(404, {"error": {"code": "UserError", "message": message}})
        return _Reply(200, _public(found))

    def _put(self, req, registry: str, kind: str, name: str, version: str):
        if not self._ours(registry):
            return self._missing(registry)
        versions = self.assets.setdefault((kind, name), {})
        if version in versions:
            # Registry versions cannot be overwritten.
            message = f"Asset {name}:{version} already exists in registry {registry}."
            return _Reply(409, {"error": {"code": "Conflict", "message": message}})
        properties = dict((req.body or {}).get("properties", {}))
        uri_key = "modelUri" if kind == "models" else "dataUri"
        properties[uri_key] = self._as_registry_storage(properties.get(uri_key, ""))
        if kind == "models":
            properties["flavors"] = properties.get("flavors") or {"python_function": {"data": {}}}
        properties["provisioningState"] = "Succeeded"
        resource = {
            # Registry assets are named by their asset id, not an ARM id.
            "id": f"azureml://registries/{self.name}/{kind}/{name}/versions/{version}",
            "name": version,
            "type": f"Microsoft.MachineLearningServices/registries/{kind}/versions",
            "properties": properties,
            "systemData": {"createdAt": _now(), "createdBy": "tester@example.com"},
            "_seq": next(self._seq),
        }
        versions[version] = resource
        return _Reply(201, _public(resource))

    def _as_registry_storage(self, uri: str) -> str:
        """An Azurite URI of this registry's container, as Azure names registry storage."""
        prefix = f"{self.blob_service.url.rstrip('/')}/{self.container}/"
        if not uri.startswith(prefix):
            return uri
        return f"https://{STORAGE_ACCOUNT}.blob.core.windows.net/{self.container}/{uri.removeprefix(prefix)}"

    def _container_sas(self) -> dict:
        blob_uri = f"{self.blob_service.url.rstrip('/')}/{self.container}"
        sas_uri = f"{blob_uri}?{self.sas_token.lstrip('?')}"
        return {"blobUri": blob_uri, "credential": {"credentialType": "SAS", "sasUri": sas_uri}}

    def _write_sas(self, req, registry: str, name: str, version: str):
        if not self._ours(registry):
            return self._missing(registry)
        body = {
            "blobReferenceForConsumption": self._container_sas(),
            "temporaryDataReferenceId": str(uuid.uuid4()),
            "temporaryDataReferenceType": "TemporaryBlobReference",
        }
        return _Reply(200, body)

    def _read_sas(self, req, registry: str, name: str, version: str):
        if not self._ours(registry):
            return self._missing(registry)
        return _Reply(200, {"blobReferenceForConsumption": self._container_sas()})
