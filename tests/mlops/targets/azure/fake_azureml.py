"""An in-process fake of the Azure ML REST API, driven through the real azure-ai-ml SDK.

Plug it in as the SDK's HTTP transport::

    fake = FakeAzureML(sub, rg, ws, sas_token=sas, blob_service=blob_service)
    ml_client = MLClient(FakeCredential(), sub, rg, ws, transport=fake)

Like moto, the backend keeps its state in plain dicts and a routing table maps
method + path regex to a handler that renders the published response shapes.
Hosts and `api-version` are ignored (the workspace's discovery document names
a fake data-plane host), except that scoring requests are routed by their
endpoint's host. Tests assert on outcomes and on `fake.requests`.

Blob storage is not served here: the SDK builds its own blob clients, which
tests point at Azurite through `azure.ai.ml.constants._common.STORAGE_ACCOUNT_URLS`.
`listSecrets` hands out `sas_token`; job outputs and code-upload containers are
written through `blob_service`.

Nothing sleeps: `sleep()` only records, long-running operations are over at
their first poll, and a job advances one step per GET of it (`advance`), its
times on a clock of its own (`JobOutcome`).
"""

from __future__ import annotations

import base64
import copy
import http
import io
import itertools
import json
import re
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urlsplit

from azure.core.credentials import AccessToken, TokenCredential
from azure.core.exceptions import ClientAuthenticationError
from azure.core.pipeline.transport import HttpTransport
from azure.core.rest._http_response_impl import HttpResponseImpl
from azure.core.utils import case_insensitive_dict

API_BASE = "https://fake-region.api.azureml.ms"
LOCATION = "fakeregion"
DEFAULT_DATASTORE = "workspaceblobstore"
TERMINAL = {"Completed", "Failed", "Canceled"}
SCORING_HOST = re.compile(rf"(?P<endpoint>[^.]+)\.{LOCATION}\.inference\.ml\.azure\.com", re.I)
USER = "tester@example.com"
TENANT = "00000000-0000-0000-0000-0000000000aa"
OBJECT_ID = "00000000-0000-0000-0000-0000000000bb"

_WS = (
    r"/subscriptions/(?P<sub>[^/]+)/resourceGroups/(?P<rg>[^/]+)"
    r"/providers/Microsoft\.MachineLearningServices/workspaces/(?P<ws>[^/]+)"
)
_NAME = r"(?P<name>[^/]+)"
# Run-history output types as `jobs.download` matches them: data types as the
# job names them, model types in Pascal case (azure/ai/ml/operations/_job_ops_helper.py).
_MODEL_OUTPUT_TYPES = {"mlflow_model": "MLFlowModel", "custom_model": "CustomModel"}
_LOGIN_EXPIRED = (
    "DefaultAzureCredential failed to retrieve a token from the included credentials.\n"
    "Attempted credentials:\n"
    "\tEnvironmentCredential: EnvironmentCredential authentication unavailable. "
    "Environment variables are not fully configured.\n"
    "\tAzureCliCredential: AADSTS700082: The refresh token has expired due to inactivity. "
    "Please run 'az login' to set up an account\n"
    "To mitigate this issue, please refer to the troubleshooting guidelines here at "
    "https://aka.ms/azsdk/python/identity/defaultazurecredential/troubleshoot."
)
_NO_ROUTE_TO_DEPLOYMENT = (
    "No valid deployments to route to. Please check that the endpoint has at least one "
    "deployment with positive weight values or use a deployment specific header to route."
)


class FakeCredential(TokenCredential):
    """A TokenCredential whose tokens are unsigned JWTs (the SDK only decodes them).

    A token's `aud` is its scope without `/.default` (pipeline submit checks it
    is `https://ml.azure.com`); it also carries `tid`, `oid` and `upn`, and
    expires one hour ahead. With `expired=True`, `get_token` raises
    ClientAuthenticationError as DefaultAzureCredential does once a login lapsed.
    """

    def __init__(
        self,
        *,
        expired: bool = False,
        tenant_id: str = TENANT,
        object_id: str = OBJECT_ID,
        upn: str = USER,
    ) -> None:
        self.expired = expired
        self.claims = {"tid": tenant_id, "oid": object_id, "upn": upn}

    def get_token(self, *scopes: str, **kwargs: Any) -> AccessToken:
        if self.expired:
            raise ClientAuthenticationError(message=_LOGIN_EXPIRED)
        expires_on = int(time.time()) + 3600
        audience = (scopes[0] if scopes else "").removesuffix("/.default")
        claims = {**self.claims, "aud": audience, "iat": expires_on - 3600, "exp": expires_on}
        parts = [{"alg": "none", "typ": "JWT"}, claims]
        encoded = [base64.urlsafe_b64encode(json.dumps(p).encode()).decode() for p in parts]
        signature = base64.urlsafe_b64encode(b"unsigned").decode()
        return AccessToken(".".join([*encoded, signature]).replace("=", ""), expires_on)


@dataclass
class JobOutcome:
    """What a submitted pipeline job produces, as the test's executor decides.

    `outputs` maps pipeline output names to local folders whose files the fake
    uploads when the job completes, to the `uri` the submit gave the output
    (azureml://datastores/<ds>/paths/<p>), else to `azureml/<job>/<output>/` in
    the default datastore; None: declared but nothing written. With
    `failed_step`, that step and the pipeline end "Failed", `error` being the
    step's error message; later steps stay "NotStarted" and nothing is uploaded.
    With `canceled_step`, someone cancels the job (in the studio, say) while
    that step runs: it and the pipeline end "Canceled", nothing is uploaded.

    Times are the job's own clock, which starts when the job is submitted: each
    step starts `queued_seconds` after the previous one ended (after the job
    started, for the first) and runs `step_seconds[step]` (default 1 s).
    """

    outputs: dict[str, Path | None] = field(default_factory=dict)
    failed_step: str | None = None
    error: str | None = None
    canceled_step: str | None = None
    step_seconds: dict[str, float] = field(default_factory=dict)
    queued_seconds: float = 0.0

    def seconds(self, step: str) -> float:
        return self.step_seconds.get(step, 1.0)


@dataclass
class Request:
    """One request the SDK sent: `path` without the query, `query` decoded,
    `headers` with lower-case names, `body` parsed JSON or None, `content` raw."""

    method: str
    url: str
    host: str
    path: str
    query: dict[str, str]
    headers: dict[str, str]
    body: Any
    content: bytes


@dataclass
class _Reply:
    status: int
    body: Any = None  # dict/list -> JSON, bytes -> as is, None -> empty
    headers: dict[str, str] = field(default_factory=dict)


@dataclass
class _Fault:
    method: str
    path: re.Pattern
    reply: _Reply
    times: int


@dataclass
class _Run:
    """A run-history record. Its times are the job's clock (`FakeAzureML._clocks`);
    `modified` is when the record itself was last written: Azure leaves it
    alone when the status changes (a step's `lastModifiedUtc` can be before its
    `startTimeUtc`), so it says nothing about how long the run took."""

    run_id: str
    display_name: str
    created: datetime
    parent: str | None = None
    status: str = "NotStarted"
    start: datetime | None = None
    end: datetime | None = None
    error: str | None = None
    run_uuid: str = field(default_factory=lambda: str(uuid.uuid4()))
    revision: int = 1
    modified: datetime = field(init=False)

    def __post_init__(self) -> None:
        self.modified = self.created


class FakeAzureML(HttpTransport):
    """The fake workspace and the HTTP transport that serves it (see the module docstring).

    Test hooks, plain attributes:
      requests: every request sent, in order (`Request`).
      slept: the seconds the SDK asked the transport to sleep (nothing sleeps).
      workspace_exists: False makes every request naming the workspace answer 404.
      computes: the compute names that exist (default {"cpu-cluster"}).
      executor: `(job_name, job_body) -> JobOutcome`, called once, when a job
        starts; None: every step succeeds and writes nothing.
      finish_immediately: a job's first GET runs it to its end.
      fail_deployment: deployment name -> error message its provisioning fails with.
      deployment_logs: deployment name -> the text getLogs answers.
      scorer: `(deployment_name, body_bytes) -> (status, bytes)` answers scoring.
    and `fail_next(...)` to inject a failure into the next matching request(s).
    """

    def __init__(
        self,
        subscription: str,
        resource_group: str,
        workspace: str,
        *,
        storage_account: str = "devstoreaccount1",
        container: str = "azureml-blobstore-test",
        sas_token: str,
        blob_service: Any = None,
    ) -> None:
        self.subscription, self.resource_group = subscription, resource_group
        self.workspace, self.storage_account = workspace, storage_account
        self.container, self.sas_token, self.blob_service = container, sas_token, blob_service
        self.workspace_id = str(uuid.uuid5(uuid.NAMESPACE_URL, workspace))
        self.ws_path = (
            f"/subscriptions/{subscription}/resourceGroups/{resource_group}"
            f"/providers/Microsoft.MachineLearningServices/workspaces/{workspace}"
        )
        self.requests: list[Request] = []
        self.slept: list[float] = []
        self.workspace_exists = True
        self.computes = {"cpu-cluster"}
        self.executor: Callable[[str, dict], JobOutcome] | None = None
        self.finish_immediately = False
        self.fail_deployment: dict[str, str] = {}
        self.deployment_logs: dict[str, str] = {}
        self.scorer: Callable[[str, bytes], tuple[int, bytes]] = default_scorer
        # The state: assets[(kind, name)][version], and the rest by name.
        self.assets: dict[tuple[str, str], dict[str, dict]] = {}
        self.schedules: dict[str, dict] = {}
        self.jobs: dict[str, dict] = {}
        self.runs: dict[str, _Run] = {}
        self.endpoints: dict[str, dict] = {}
        self.deployments: dict[tuple[str, str], dict] = {}
        self._children: dict[str, list[str]] = {}
        self._outcomes: dict[str, JobOutcome] = {}
        # job -> the time on its clock of its latest event (see JobOutcome).
        self._clocks: dict[str, datetime] = {}
        # job -> output -> {"assetId", "type", "uri"} for the outputs written.
        self._outputs: dict[str, dict[str, dict[str, str]]] = {}
        self._operations: dict[str, dict] = {}
        self._faults: list[_Fault] = []
        self._seq = itertools.count()
        self._routes = self._route_table()

    # -- transport ----------------------------------------------------------

    def open(self) -> None:
        pass

    def close(self) -> None:
        pass

    def __enter__(self) -> FakeAzureML:
        return self

    def __exit__(self, *args: object) -> None:
        pass

    def sleep(self, duration: float) -> None:
        self.slept.append(duration)

    def send(self, request: Any, **kwargs: Any) -> _Response:
        req = _record(request)
        self.requests.append(req)
        return _Response(request, self._dispatch(req))

    def attach(self, registry: Any) -> None:
        """Serve ``registry`` (a ``FakeRegistry``, shared by the workspaces' fakes) too."""
        self.registry = registry
        self._routes += [(m, re.compile(p, re.I), h) for m, p, h in registry.routes()]

    def fail_next(
        self,
        method: str,
        path_regex: str,
        status: int,
        body: Any = None,
        headers: dict[str, str] | None = None,
        times: int = 1,
    ) -> None:
        """Answer the next `times` requests with this method and a path matching
        `path_regex` (re.search) with `status`, `body` (default: an ARM error
        body) and `headers`, instead of serving them."""
        if body is None:
            code = http.HTTPStatus(status).phrase.replace(" ", "")
            body = {"error": {"code": code, "message": f"Injected {status}."}}
        reply = _Reply(status, body, dict(headers or {}))
        self._faults.append(_Fault(method.upper(), re.compile(path_regex), reply, times))

    def _dispatch(self, req: Request) -> _Reply:
        for fault in self._faults:
            if fault.times > 0 and fault.method == req.method and fault.path.search(req.path):
                fault.times -= 1
                return fault.reply
        scoring = SCORING_HOST.fullmatch(req.host)
        if scoring and req.method == "POST":
            return self._score(req, scoring["endpoint"])
        for method, pattern, handler in self._routes:
            match = pattern.fullmatch(req.path)
            if method == req.method and match:
                groups = match.groupdict()
                if "ws" in groups and not self._is_our_workspace(groups):
                    workspace = f"Microsoft.MachineLearningServices/workspaces/{groups['ws']}"
                    return _not_found(
                        f"The Resource '{workspace}' under resource group '{groups['rg']}'"
                    )
                kwargs = {k: v for k, v in groups.items() if k not in ("sub", "rg", "ws")}
                return handler(req, **kwargs)
        return _error(501, "NotImplemented", f"The fake has no route for {req.method} {req.path}")

    def _is_our_workspace(self, groups: dict[str, str]) -> bool:
        named = (groups["sub"], groups["rg"].lower(), groups["ws"].lower())
        ours = (self.subscription, self.resource_group.lower(), self.workspace.lower())
        return self.workspace_exists and named == ours

    def _route_table(self) -> list[tuple[str, re.Pattern, Callable[..., _Reply]]]:
        asset = rf"{_WS}/(?P<kind>data|models|environments|components|codes)/{_NAME}"
        version = rf"{asset}/versions/(?P<version>[^/]+)"
        job = rf"{_WS}/jobs/{_NAME}"
        run = rf"/history/v1\.0{_WS}/runs/(?P<run_id>[^/]+)"
        endpoint = rf"{_WS}/onlineEndpoints/(?P<endpoint>[^/]+)"
        deployment = rf"{endpoint}/deployments/(?P<deployment>[^/]+)"
        routes = [
            ("GET", "/discovery", self._discovery),
            ("GET", "/fake-operations/(?P<op>[^/]+)", self._get_operation),
            ("GET", _WS, self._get_workspace),
            ("GET", rf"{_WS}/computes/{_NAME}", self._get_compute),
            ("GET", rf"{_WS}/datastores", self._list_datastores),
            ("GET", rf"{_WS}/datastores/{_NAME}", self._get_datastore),
            ("POST", rf"{_WS}/datastores/{_NAME}/listSecrets", self._list_secrets),
            ("GET", asset, self._get_asset_container),
            ("GET", rf"{asset}/versions", self._list_asset_versions),
            ("GET", version, self._get_asset_version),
            ("PUT", version, self._put_asset_version),
            ("POST", rf"{version}/startPendingUpload", self._start_pending_upload),
            ("GET", rf"{_WS}/jobs", self._list_jobs),
            ("GET", job, self._get_job),
            ("PUT", job, self._put_job),
            ("POST", rf"{job}/cancel", self._cancel_job),
            ("GET", rf"{run}/details", self._run_details),
            ("GET", rf"{run}/children", self._run_children),
            ("POST", rf"/history/v1\.0{_WS}/rundata", self._run_data),
            ("POST", rf"/data/v1\.0{_WS}/dataversion/batchGetResolvedUris", self._data_uris),
            ("POST", rf"/modelregistry/v1\.0{_WS}/models/batchGetResolvedUris", self._model_uris),
            ("GET", rf"{_WS}/onlineEndpoints", self._list_endpoints),
            ("GET", endpoint, self._get_endpoint),
            ("PUT", endpoint, self._put_endpoint),
            ("DELETE", endpoint, self._delete_endpoint),
            ("POST", rf"{endpoint}/listKeys", self._endpoint_keys),
            ("GET", rf"{endpoint}/deployments", self._list_deployments),
            ("GET", deployment, self._get_deployment),
            ("PUT", deployment, self._put_deployment),
            ("DELETE", deployment, self._delete_deployment),
            ("POST", rf"{deployment}/getLogs", self._deployment_logs),
            ("GET", rf"{_WS}/schedules/{_NAME}", self._get_schedule),
            ("PUT", rf"{_WS}/schedules/{_NAME}", self._put_schedule),
        ]
        return [(m, re.compile(p, re.I), h) for m, p, h in routes]

    # -- shared shapes --------------------------------------------------------

    def _arm(self, kind_path: str, name: str, properties: dict, **extra: Any) -> dict:
        """An ARM resource envelope under the workspace."""
        return {
            "id": f"{self.ws_path}/{kind_path}/{name}",
            "name": name,
            "type": f"Microsoft.MachineLearningServices/workspaces/{kind_path.split('/')[-1]}",
            "properties": properties,
            **extra,
        }

    def long_form_uri(self, datastore: str, path: str) -> str:
        """The azureml:// URI Azure resolves a datastore path to."""
        return (
            f"azureml://subscriptions/{self.subscription}/resourcegroups/{self.resource_group}"
            f"/workspaces/{self.workspace}/datastores/{datastore}/paths/{path}"
        )

    def _operation(self, status: str = "Succeeded", error: dict | None = None) -> str:
        """The URL of a long-running operation that is already over."""
        op = uuid.uuid4().hex
        self._operations[op] = {"status": status, **({"error": error} if error else {})}
        return f"https://management.azure.com/fake-operations/{op}"

    def _get_operation(self, req: Request, op: str) -> _Reply:
        found = self._operations.get(op)
        return _Reply(200, found) if found else _not_found(f"Operation '{op}'")

    def _accepted(self) -> _Reply:
        # 202 + Location: azure-core polls once and sees 200.
        return _Reply(202, None, {"Location": self._operation(), "Retry-After": "0"})

    # -- workspace, compute, datastores ---------------------------------------

    def _discovery(self, req: Request) -> _Reply:
        services = ["api", "catalog", "experimentation", "history", "modelmanagement", "pipelines"]
        return _Reply(200, {**dict.fromkeys(services, API_BASE), "studio": "https://ml.azure.com"})

    def _get_workspace(self, req: Request) -> _Reply:
        group = self.ws_path.split("/providers/")[0]
        storage = f"{group}/providers/Microsoft.Storage/storageAccounts/{self.storage_account}"
        properties = {
            "friendlyName": self.workspace,
            "workspaceId": self.workspace_id,
            "discoveryUrl": f"{API_BASE}/discovery",
            "mlFlowTrackingUri": f"azureml://{LOCATION}.api.azureml.ms/mlflow/v1.0{self.ws_path}",
            "storageAccount": storage,
            "provisioningState": "Succeeded",
        }
        body = self._arm("", "", properties, location=LOCATION, kind="Default")
        body.update(id=self.ws_path, name=self.workspace, identity={"type": "SystemAssigned"})
        body["type"] = "Microsoft.MachineLearningServices/workspaces"
        return _Reply(200, body)

    def _get_compute(self, req: Request, name: str) -> _Reply:
        if name not in self.computes:
            return _not_found(f"Compute '{name}'")
        scale = {"minNodeCount": 0, "maxNodeCount": 4, "nodeIdleTimeBeforeScaleDown": "PT120S"}
        properties = {
            "computeType": "AmlCompute",
            "computeLocation": LOCATION,
            "provisioningState": "Succeeded",
            "properties": {"vmSize": "STANDARD_DS3_V2", "scaleSettings": scale},
        }
        return _Reply(200, self._arm("computes", name, properties, location=LOCATION))

    def _datastore(self) -> dict:
        properties = {
            "datastoreType": "AzureBlob",
            "accountName": self.storage_account,
            "containerName": self.container,
            "endpoint": "core.windows.net",
            "protocol": "https",
            "credentials": {"credentialsType": "AccountKey"},
            "isDefault": True,
        }
        return self._arm("datastores", DEFAULT_DATASTORE, properties)

    def _list_datastores(self, req: Request) -> _Reply:
        return _Reply(200, {"value": [self._datastore()]})

    def _get_datastore(self, req: Request, name: str) -> _Reply:
        if name != DEFAULT_DATASTORE:
            return _not_found(f"Datastore '{name}'")
        return _Reply(200, self._datastore())

    def _list_secrets(self, req: Request, name: str) -> _Reply:
        if name != DEFAULT_DATASTORE:
            return _not_found(f"Datastore '{name}'")
        return _Reply(200, {"secretsType": "Sas", "sasToken": self.sas_token})

    # -- versioned assets: data, models, environments, components, code ------

    def _versions(self, kind: str, name: str | None = None) -> list[dict]:
        """The versions of an asset (of every asset of `kind` if name is None), oldest first."""
        found = [
            v for (k, n), vs in self.assets.items() if k == kind and name in (None, n)
            for v in vs.values()
        ]  # fmt: skip
        return sorted(found, key=lambda r: r["_seq"])

    def _get_asset_container(self, req: Request, kind: str, name: str) -> _Reply:
        versions = self._versions(kind, name)
        if not versions:
            return _not_found(f"{kind} container '{name}'")
        latest = versions[-1]["name"]
        properties = {
            "latestVersion": latest,
            "nextVersion": str(int(latest) + 1) if latest.isdigit() else None,
            "isArchived": False,
        }
        return _Reply(200, self._arm(kind, name, properties, systemData=versions[0]["systemData"]))

    def _list_asset_versions(self, req: Request, kind: str, name: str) -> _Reply:
        versions = self._versions(kind, name)
        if "hash" in req.query:
            # Code is looked up by content hash under a fresh name; Azure finds it under any.
            versions = [v for v in self._versions(kind) if _content_hash(v) == req.query["hash"]]
        if "desc" in req.query.get("$orderBy", "").lower():
            versions.reverse()
        if "$top" in req.query:
            versions = versions[: int(req.query["$top"])]
        return _Reply(200, {"value": [_public(v) for v in versions]})

    def _get_asset_version(self, req: Request, kind: str, name: str, version: str) -> _Reply:
        found = self.assets.get((kind, name), {}).get(version)
        return _Reply(200, _public(found)) if found else _not_found(f"{kind} '{name}:{version}'")

    def _put_asset_version(self, req: Request, kind: str, name: str, version: str) -> _Reply:
        versions = self.assets.setdefault((kind, name), {})
        existing = versions.get(version)
        properties = dict((req.body or {}).get("properties", {}))
        if kind == "models":
            # azure-ai-ml 1.35 dereferences `flavors` in the reply.
            properties["flavors"] = properties.get("flavors") or {"python_function": {"data": {}}}
            properties["modelUri"] = self._resolve_job_output(properties.get("modelUri"))
        properties.setdefault("provisioningState", "Succeeded")
        now = _now()
        created = existing["systemData"]["createdAt"] if existing else now
        system = {"createdAt": created, "createdBy": USER, "lastModifiedAt": now}
        resource = self._arm(f"{kind}/{name}/versions", version, properties, systemData=system)
        resource["_seq"] = existing["_seq"] if existing else next(self._seq)
        versions[version] = resource
        return _Reply(200 if existing else 201, _public(resource))

    def _resolve_job_output(self, uri: str | None) -> str | None:
        """azureml://jobs/<job>/outputs/<name>[/paths/<p>] -> where that output was written."""
        match = re.fullmatch(r"azureml://jobs/([^/]+)/outputs/([^/]+)(?:/paths/(.*))?", uri or "")
        written = self._outputs.get(match[1], {}).get(match[2]) if match else None
        return written["uri"] + (match[3] or "") if written else uri

    def _start_pending_upload(self, req: Request, kind: str, name: str, version: str) -> _Reply:
        # A fresh container per upload, as Azure hands out a temporary one.
        container = f"code-{uuid.uuid4().hex[:24]}"
        self.blob_service.create_container(container)
        blob_uri = f"{self.blob_service.url.rstrip('/')}/{container}"
        sas_uri = f"{blob_uri}?{self.sas_token.lstrip('?')}"
        reference = {
            "blobUri": blob_uri,
            "credential": {"credentialType": "SAS", "sasUri": sas_uri},
        }
        body = {
            "blobReferenceForConsumption": reference,
            "pendingUploadId": str(uuid.uuid4()),
            "pendingUploadType": "TemporaryBlobReference",
        }
        return _Reply(200, body)

    # -- jobs -----------------------------------------------------------------

    def _put_job(self, req: Request, name: str) -> _Reply:
        properties = dict(req.body["properties"])
        studio = f"https://ml.azure.com/runs/{name}?wsid={self.ws_path}"
        properties["status"] = "NotStarted"
        properties["services"] = {"Studio": {"jobServiceType": "Studio", "endpoint": studio}}
        properties["properties"] = dict(properties.get("properties") or {})
        created = datetime.now(UTC)
        # A job's systemData has no lastModifiedAt, however long it has run.
        system = {"createdAt": _utc(created), "createdBy": USER, "createdByType": "User"}
        self.jobs[name] = self._arm("jobs", name, properties, systemData=system)
        self.jobs[name]["_seq"] = next(self._seq)
        self._clocks[name] = created
        self.runs[name] = _Run(name, properties.get("displayName") or name, created)
        self._children[name] = []
        for step in properties.get("jobs") or {}:
            # Step runs are named by a GUID and show the step's name as their display name.
            child = _Run(str(uuid.uuid4()), step, created, parent=name)
            self.runs[child.run_id] = child
            self._children[name].append(child.run_id)
        return _Reply(201, _public(self.jobs[name]))

    def _get_job(self, req: Request, name: str) -> _Reply:
        if name not in self.jobs:
            return _not_found(f"Job '{name}'")
        self.advance(name)
        return _Reply(200, _public(self.jobs[name]))

    def _list_jobs(self, req: Request) -> _Reply:
        newest_first = sorted(self.jobs.values(), key=lambda j: j["_seq"], reverse=True)
        # The service's filters of the jobs a schedule started (2024-01-01-preview).
        if "scheduleId" in req.query:
            newest_first = [
                j for j in newest_first if j.get("_schedule") == req.query["scheduleId"]
            ]
        elif req.query.get("scheduled") == "true":
            newest_first = [j for j in newest_first if j.get("_schedule")]
        return _Reply(200, {"value": [_public(j) for j in newest_first]})

    def run_schedule(self, schedule: str, status: str, created: datetime) -> str:
        """A pipeline job as schedule ``schedule`` starts one (Azure ML's model
        monitor: a pipeline of its own components), created at ``created``; its name."""
        if schedule not in self.schedules:
            raise KeyError(f"no schedule {schedule}")
        name = f"{schedule}-{created:%Y%m%d%H%M%S}"
        studio = f"https://ml.azure.com/runs/{name}?wsid={self.ws_path}"
        properties = {
            "jobType": "Pipeline",
            "displayName": name,
            "experimentName": schedule,
            "status": status,
            "jobs": {},
            "inputs": {},
            "outputs": {},
            "settings": {},
            "properties": {},
            "services": {"Studio": {"jobServiceType": "Studio", "endpoint": studio}},
        }
        system = {"createdAt": _utc(created), "createdBy": USER, "createdByType": "User"}
        self.jobs[name] = self._arm("jobs", name, properties, systemData=system)
        self.jobs[name].update(_seq=next(self._seq), _schedule=schedule)
        return name

    def _cancel_job(self, req: Request, name: str) -> _Reply:
        if name not in self.jobs:
            return _not_found(f"Job '{name}'")
        if self.runs[name].status not in TERMINAL:
            self._cancel(name)
        return self._accepted()

    def _cancel(self, name: str) -> None:
        # The step that runs stops when its time on the clock is up; the rest never start.
        outcome = self._outcomes.get(name) or JobOutcome()
        for child in (self.runs[c] for c in self._children[name]):
            if child.status == "Running":
                self._end(name, child, "Canceled", outcome.seconds(child.display_name))
        self._end(name, self.runs[name], "Canceled")

    def advance(self, name: str) -> None:
        """Move job `name` one step on: the pipeline starts (and the executor is
        called); then each child, in submission order, starts and then ends;
        then the pipeline ends. With `finish_immediately`, go to the end.
        Children are the keys of the submitted `properties.jobs`: each a run
        named by a GUID, created when the job is, with the step name as its
        display name."""
        while self.runs[name].status not in TERMINAL:
            self._step(name)
            if not self.finish_immediately:
                return

    def _step(self, name: str) -> None:
        parent = self.runs[name]
        if parent.status == "NotStarted":
            self._start(name, parent)
            body = _public(self.jobs[name])
            self._outcomes[name] = self.executor(name, body) if self.executor else JobOutcome()
            return
        outcome = self._outcomes[name]
        for child in (self.runs[c] for c in self._children[name]):
            seconds = outcome.seconds(child.display_name)
            if child.status == "NotStarted":
                return self._start(name, child, outcome.queued_seconds)
            if child.status == "Running" and child.display_name == outcome.failed_step:
                child.error = outcome.error or f"Step {child.display_name} failed."
                parent.error = (
                    f"Pipeline has failed child jobs. Failed nodes: /{child.display_name}. "
                    "For more details and logs, please go to the job detail page and check "
                    "the child jobs."
                )
                self._end(name, child, "Failed", seconds)
                return self._end(name, parent, "Failed")
            if child.status == "Running" and child.display_name == outcome.canceled_step:
                return self._cancel(name)
            if child.status == "Running":
                return self._end(name, child, "Completed", seconds)
        self._write_outputs(name, outcome)
        self._end(name, parent, "Completed")

    def _start(self, job: str, run: _Run, after: float = 0.0) -> None:
        self._clocks[job] += timedelta(seconds=after)
        run.start = self._clocks[job]
        self._set_status(run, "Running")

    def _end(self, job: str, run: _Run, status: str, after: float = 0.0) -> None:
        self._clocks[job] += timedelta(seconds=after)
        run.start, run.end = run.start or self._clocks[job], self._clocks[job]
        self._set_status(run, status)
        if run.run_id == job:
            # Where the job itself says when it ran (run history's "Finished" for completed).
            execution = {
                "StartTime": _utc(run.start),
                "EndTime": _utc(run.end),
                "Status": "Finished" if status == "Completed" else status,
            }
            stages = json.dumps({"Initialization": None, "Execution": execution})
            self.jobs[job]["properties"]["properties"]["azureml.pipelines.stages"] = stages

    def _set_status(self, run: _Run, status: str) -> None:
        run.status = status
        run.revision += 1
        if run.run_id in self.jobs:
            self.jobs[run.run_id]["properties"]["status"] = status

    def _write_outputs(self, name: str, outcome: JobOutcome) -> None:
        declared = self.jobs[name]["properties"].get("outputs") or {}
        written = self._outputs.setdefault(name, {})
        for output, folder in outcome.outputs.items():
            if folder is None:
                continue
            if output not in declared:
                raise KeyError(f"the executor wrote output {output!r}, which job {name} lacks")
            default_path = f"azureml/{name}/{output}/"
            datastore, path = _datastore_path(declared[output].get("uri"), default_path)
            self.upload_folder(Path(folder), datastore, path)
            output_type = declared[output]["jobOutputType"]
            kind = "models" if "model" in output_type else "data"
            asset_id = (
                f"azureml://locations/{LOCATION}/workspaces/{self.workspace_id}/{kind}"
                f"/azureml_{name}_output_{kind}_{output}/versions/1"
            )
            written[output] = {
                "assetId": asset_id,
                "type": _MODEL_OUTPUT_TYPES.get(output_type, output_type),
                "uri": self.long_form_uri(datastore, path),
            }
            if asset_name := declared[output].get("assetName"):
                # A fine-tuning job's registered_model: the service registers it by
                # the name the job gave (version 1: each job names its own).
                self._register_job_model(asset_name, written[output]["uri"], name)

    def _register_job_model(self, name: str, uri: str, job: str) -> None:
        properties = {
            "modelType": "mlflow_model",
            "modelUri": uri,
            "jobName": job,
            "flavors": {"python_function": {"data": {}}},
            "provisioningState": "Succeeded",
        }
        system = {"createdAt": _now(), "createdBy": USER, "lastModifiedAt": _now()}
        resource = self._arm(f"models/{name}/versions", "1", properties, systemData=system)
        resource["_seq"] = next(self._seq)
        self.assets.setdefault(("models", name), {})["1"] = resource

    def upload_folder(self, folder: Path, datastore: str, path: str) -> None:
        """Upload the files under `folder` to `path` in the datastore's container."""
        if datastore != DEFAULT_DATASTORE:
            raise ValueError(f"the fake has datastore {DEFAULT_DATASTORE} only, not {datastore}")
        container = self.blob_service.get_container_client(self.container)
        for file in sorted(p for p in folder.rglob("*") if p.is_file()):
            blob = f"{path.rstrip('/')}/{file.relative_to(folder).as_posix()}"
            container.upload_blob(blob, file.read_bytes(), overwrite=True)

    # -- run history and data-plane lookups -------------------------------------

    def _user(self) -> dict:
        """Run history's `User` of `createdBy`/`lastModifiedBy` (an object, not a name)."""
        return {
            "userObjectId": OBJECT_ID,
            "userPuId": None,
            "userIdp": None,
            "userAltSecId": None,
            "userIss": f"https://sts.windows.net/{TENANT}/",
            "userTenantId": TENANT,
            "userName": USER,
            "upn": None,
        }

    def _run_fields(self, run: _Run) -> dict:
        """What run history's `Run` and `RunDetails` share, as Azure writes them:
        times with seven decimals and an offset, `duration` a .NET TimeSpan."""
        parent = self.runs.get(run.parent) if run.parent else None
        root = parent or run
        job = self.jobs.get(root.run_id, {}).get("properties", {})
        took = _timespan(run.end - run.start) if run.start and run.end else None
        body = {
            "runId": run.run_id,
            "runUuid": run.run_uuid,
            "parentRunUuid": parent.run_uuid if parent else None,
            "rootRunUuid": root.run_uuid,
            "rootRunId": root.run_id,
            "parentRunId": run.parent,
            "experimentId": str(uuid.uuid5(uuid.NAMESPACE_URL, str(job.get("experimentName")))),
            "status": run.status,
            "startTimeUtc": _utc(run.start),
            "endTimeUtc": _utc(run.end),
            "error": None,
            "warnings": None,
            "tags": job.get("tags") if parent is None else {"azureml.pipeline": root.run_id},
            "properties": {"azureml.runsource": _run_type(run)},
            "revision": run.revision,
            "statusRevision": run.revision,
            "createdBy": self._user(),
            "lastModifiedBy": self._user(),
            "lastModifiedUtc": _utc(run.modified),
            "duration": took,
            "computeDuration": took,
            "currentComputeTime": None,
            "lastStartTimeUtc": None,
            "effectiveStartTimeUtc": None,
            "runNumber": int(run.created.timestamp()),
            "userId": OBJECT_ID,
            "target": "cpu-cluster",
            "runTypeV2": {"orchestrator": "Execution" if parent else None, "traits": []},
            "inputs": None,
            "outputs": None,
            "currentAttemptId": 1,
        }
        if run.error:
            body["error"] = {
                "error": {"code": "UserError", "message": run.error},
                "componentName": "CommonRuntime",
                "time": "0001-01-01T00:00:00+00:00",
            }
        return body

    def _run_json(self, run: _Run) -> dict:
        """Run history's `Run`: the items of `children`, the `runMetadata` of `rundata`."""
        return {
            **self._run_fields(run),
            "createdUtc": _utc(run.created),
            "displayName": run.display_name,
            "name": "azureml_anonymous" if run.parent else run.display_name,
            "dataContainerId": f"dcid.{run.run_id}",
            "description": None,
            "hidden": False,
            "runType": _run_type(run),
            "cancelationReason": None,
            "scheduleId": None,
        }

    def _run_details_json(self, run: _Run) -> dict:
        """Run history's `RunDetails` (`runs/<id>/details`): `createdTimeUtc`, no display name."""
        return {
            **self._run_fields(run),
            "createdTimeUtc": _utc(run.created),
            "parameters": {},
            "services": {},
            "inputDatasets": [],
            "outputDatasets": [],
            "runDefinition": None,
            "logFiles": {},
            "jobCost": {"chargedCpuCoreSeconds": None, "chargedGpuSeconds": None},
            "settings": {},
        }

    def _run_details(self, req: Request, run_id: str) -> _Reply:
        if run_id not in self.runs:
            return _no_run(run_id)
        if run_id in self.jobs:
            self.advance(run_id)
        return _Reply(200, self._run_details_json(self.runs[run_id]))

    def _run_children(self, req: Request, run_id: str) -> _Reply:
        if run_id not in self.runs:
            return _no_run(run_id)
        children = [self._run_json(self.runs[c]) for c in self._children.get(run_id, [])]
        return _Reply(200, {"value": children})

    def _run_data(self, req: Request) -> _Reply:
        run_id = req.body["runId"]
        if run_id not in self.runs:
            return _no_run(run_id)
        metadata = self._run_json(self.runs[run_id])
        written = self._outputs.get(run_id, {})
        metadata["outputs"] = {
            o: {"assetId": w["assetId"], "type": w["type"]} for o, w in written.items()
        }
        return _Reply(200, {"runMetadata": metadata})

    def _written_output(self, asset_id: str) -> dict:
        return next(
            w for job in self._outputs.values() for w in job.values() if w["assetId"] == asset_id
        )

    def _data_uris(self, req: Request) -> _Reply:
        ids = req.body["values"]
        values = {i: {"uri": self._written_output(i)["uri"], "type": "UriFolder"} for i in ids}
        return _Reply(200, {"values": values})

    def _model_uris(self, req: Request) -> _Reply:
        ids = req.body["values"]
        values = {i: {"path": self._written_output(i)["uri"], "type": "MLFlowModel"} for i in ids}
        return _Reply(200, {"values": values})

    # -- online endpoints and deployments -----------------------------------------

    def _list_endpoints(self, req: Request) -> _Reply:
        return _Reply(200, {"value": list(self.endpoints.values())})

    def _get_endpoint(self, req: Request, endpoint: str) -> _Reply:
        found = self.endpoints.get(endpoint)
        return _Reply(200, found) if found else _not_found(f"Online endpoint '{endpoint}'")

    def _put_endpoint(self, req: Request, endpoint: str) -> _Reply:
        body = req.body or {}
        properties = dict(body.get("properties", {}))
        traffic = properties.setdefault("traffic", {})
        missing = [d for d in traffic if (endpoint, d) not in self.deployments]
        if missing:
            return _error(
                400,
                "BadArgument",
                f"Deployment(s) {', '.join(missing)} named in traffic do not exist in endpoint "
                f"{endpoint}.",
            )
        host = f"https://{endpoint}.{LOCATION}.inference.ml.azure.com"
        properties.update(scoringUri=f"{host}/score", swaggerUri=f"{host}/swagger.json")
        properties["provisioningState"] = "Succeeded"
        existed = endpoint in self.endpoints
        extra = {"location": LOCATION, **{k: v for k, v in body.items() if k != "properties"}}
        self.endpoints[endpoint] = self._arm("onlineEndpoints", endpoint, properties, **extra)
        return _Reply(200 if existed else 201, self.endpoints[endpoint])

    def _delete_endpoint(self, req: Request, endpoint: str) -> _Reply:
        if self.endpoints.pop(endpoint, None) is None:
            return _Reply(204)
        for key in [k for k in self.deployments if k[0] == endpoint]:
            del self.deployments[key]
        return self._accepted()

    def _endpoint_keys(self, req: Request, endpoint: str) -> _Reply:
        if endpoint not in self.endpoints:
            return _not_found(f"Online endpoint '{endpoint}'")
        return _Reply(200, {"primaryKey": f"{endpoint}-key-1", "secondaryKey": f"{endpoint}-key-2"})

    def _list_deployments(self, req: Request, endpoint: str) -> _Reply:
        if endpoint not in self.endpoints:
            return _not_found(f"Online endpoint '{endpoint}'")
        found = [d for (e, _), d in self.deployments.items() if e == endpoint]
        return _Reply(200, {"value": found})

    def _get_deployment(self, req: Request, endpoint: str, deployment: str) -> _Reply:
        found = self.deployments.get((endpoint, deployment))
        return _Reply(200, found) if found else _not_found(f"Deployment '{deployment}'")

    def _put_deployment(self, req: Request, endpoint: str, deployment: str) -> _Reply:
        if endpoint not in self.endpoints:
            return _not_found(f"Online endpoint '{endpoint}'")
        body = req.body or {}
        # What Azure answers, never the request the test inspects.
        properties = copy.deepcopy(body.get("properties", {}))
        properties.setdefault("scaleSettings", {"scaleType": "Default"})
        failure = self.fail_deployment.get(deployment)
        properties["provisioningState"] = "Failed" if failure else "Succeeded"
        existed = (endpoint, deployment) in self.deployments
        self._collector_assets(endpoint, deployment, properties)
        extra = {"location": LOCATION, **{k: v for k, v in body.items() if k != "properties"}}
        path = f"onlineEndpoints/{endpoint}/deployments"
        resource = self._arm(path, deployment, properties, **extra)
        self.deployments[endpoint, deployment] = resource
        if failure:
            # Azure reports a failed provisioning, and why, in the async operation's status.
            error = {"code": "DeploymentFailed", "message": failure}
            headers = {"Azure-AsyncOperation": self._operation("Failed", error), "Retry-After": "0"}
            return _Reply(201, resource, headers)
        return _Reply(200 if existed else 201, resource)

    def _collector_assets(self, endpoint: str, deployment: str, properties: dict) -> None:
        """What Azure does for a deployment's data collector: each collection gets a
        data asset `<endpoint>-<deployment>-<collection>` (version 1, a uri_folder
        where the collector writes), named by the collection's `dataId`; the
        collection mode is answered as `Enabled` or `Disabled`."""
        collections = (properties.get("dataCollector") or {}).get("collections") or {}
        for collection, spec in collections.items():
            name = f"{endpoint}-{deployment}-{collection}"
            path = f"modelDataCollector/{endpoint}/{deployment}/{collection}"
            if not self.assets.get(("data", name)):
                uri = self.long_form_uri(DEFAULT_DATASTORE, path)
                body = {"properties": {"dataType": "uri_folder", "dataUri": uri}}
                put = Request("PUT", "", "", "", {}, {}, body, b"")
                self._put_asset_version(put, "data", name, "1")
            spec.setdefault("dataId", f"{self.ws_path}/data/{name}/versions/1")
            # An enum comes back in the service's own case, whatever case was sent.
            mode = str(spec.get("dataCollectionMode", "Disabled"))
            spec["dataCollectionMode"] = "Enabled" if mode.lower() == "enabled" else "Disabled"

    def _get_schedule(self, req: Request, name: str) -> _Reply:
        found = self.schedules.get(name)
        return _Reply(200, found) if found else _not_found(f"Schedule '{name}'")

    def _put_schedule(self, req: Request, name: str) -> _Reply:
        properties = dict((req.body or {}).get("properties", {}))
        properties["provisioningState"] = "Succeeded"
        existed = name in self.schedules
        self.schedules[name] = self._arm("schedules", name, properties)
        return _Reply(200 if existed else 201, self.schedules[name])

    def _delete_deployment(self, req: Request, endpoint: str, deployment: str) -> _Reply:
        if self.deployments.pop((endpoint, deployment), None) is None:
            return _Reply(204)
        return self._accepted()

    def _deployment_logs(self, req: Request, endpoint: str, deployment: str) -> _Reply:
        if (endpoint, deployment) not in self.deployments:
            return _not_found(f"Deployment '{deployment}'")
        default = f"Fake container log of deployment {deployment}.\n"
        return _Reply(200, {"content": self.deployment_logs.get(deployment, default)})

    def _score(self, req: Request, endpoint: str) -> _Reply:
        if endpoint not in self.endpoints:
            return _Reply(404, {"message": f"Endpoint {endpoint} not found."})
        if not req.headers.get("authorization"):
            return _Reply(401, {"message": "Authorization header is missing."})
        deployment = req.headers.get("azureml-model-deployment")
        if deployment and (endpoint, deployment) not in self.deployments:
            return _Reply(404, {"message": f"Deployment {deployment} not found."})
        if not deployment:
            traffic = self.endpoints[endpoint]["properties"]["traffic"]
            live = [
                (w, d) for d, w in traffic.items() if w > 0 and (endpoint, d) in self.deployments
            ]
            if not live:
                return _Reply(424, {"message": _NO_ROUTE_TO_DEPLOYMENT})
            deployment = max(live)[1]
        status, content = self.scorer(deployment, req.content)
        headers = {"Content-Type": "application/json", "azureml-model-deployment": deployment}
        return _Reply(status, content, headers)


def default_scorer(deployment: str, body: bytes) -> tuple[int, bytes]:
    """Score an MLflow `input_data` payload (split orient: columns, optional index,
    data rows): 200 with one probability (0.3) and one prediction (0) per row;
    400 with a JSON message for any other body."""
    try:
        frame = json.loads(body)["input_data"]
        columns, rows = frame["columns"], frame["data"]
        valid = all(isinstance(r, list) and len(r) == len(columns) for r in rows)
        valid = valid and len(frame.get("index", rows)) == len(rows)
    except (ValueError, KeyError, TypeError):
        valid = False
    if not valid:
        message = "Expected {'input_data': {'columns': [...], 'index': [...], 'data': [[...]]}}."
        return 400, json.dumps({"message": message}).encode()
    scores = {"probabilities": [0.3] * len(rows), "predictions": [0] * len(rows)}
    return 200, json.dumps(scores).encode()


class _Response(HttpResponseImpl):
    """A complete in-memory azure-core response; serves both the `rest` and the
    legacy pipeline APIs (the SDK's generated clients use both)."""

    def __init__(self, request: Any, reply: _Reply) -> None:
        if reply.body is None or isinstance(reply.body, bytes):
            content = reply.body or b""
        else:
            content = json.dumps(reply.body).encode()
        headers = case_insensitive_dict(reply.headers)
        if content and "Content-Type" not in headers:
            headers["Content-Type"] = "application/json; charset=utf-8"
        super().__init__(
            request=request,
            internal_response=io.BytesIO(content),
            status_code=reply.status,
            reason=http.HTTPStatus(reply.status).phrase,
            content_type=headers.get("Content-Type"),
            headers=headers,
            stream_download_generator=_whole_body,
        )
        self._content = content


def _whole_body(pipeline: Any = None, response: Any = None, **kwargs: Any):
    yield response.content


def _record(request: Any) -> Request:
    # azure.core.rest requests carry `content`; legacy pipeline requests carry `data`.
    raw = request.content if hasattr(request, "content") else request.data
    content = raw.encode() if isinstance(raw, str) else raw if isinstance(raw, bytes) else b""
    try:
        body = json.loads(content) if content else None
    except ValueError:
        body = None
    url = urlsplit(request.url)
    return Request(
        method=request.method.upper(),
        url=request.url,
        host=url.hostname or "",
        path=url.path,
        query=dict(parse_qsl(url.query)),
        headers={k.lower(): v for k, v in request.headers.items()},
        body=body,
        content=content,
    )


def _now() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def _utc(moment: datetime | None) -> str | None:
    """A time as run history and job systemData write it: seven decimals and an offset
    (``2026-02-27T20:32:31.0996825+00:00``)."""
    if moment is None:
        return None
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%f") + "0+00:00"


def _timespan(span: timedelta) -> str:
    """A .NET TimeSpan, as run history writes `duration`: ``00:03:22.5284612``."""
    ticks = round(span.total_seconds() * 10_000_000)
    seconds, fraction = divmod(ticks, 10_000_000)
    minutes, second = divmod(seconds, 60)
    hours, minute = divmod(minutes, 60)
    days, hour = divmod(hours, 24)
    clock = f"{hour:02d}:{minute:02d}:{second:02d}.{fraction:07d}"
    return f"{days}.{clock}" if days else clock


def _run_type(run: _Run) -> str:
    return "azureml.StepRun" if run.parent else "azureml.PipelineRun"


def _error(status: int, code: str, message: str) -> _Reply:
    return _Reply(status, {"error": {"code": code, "message": message}})


def _no_run(run_id: str) -> _Reply:
    return _error(404, "NotFound", f"Run {run_id} was not found")


def _not_found(what: str) -> _Reply:
    """ARM's 404, worded as ARM words it."""
    message = (
        f"{what} was not found. For more details please go to https://aka.ms/ARMResourceNotFoundFix"
    )
    return _error(404, "ResourceNotFound", message)


def _datastore_path(uri: str | None, default_path: str) -> tuple[str, str]:
    """(datastore, path) of an azureml://[...]datastores/<ds>/paths/<path> URI;
    (the default datastore, default_path) when there is none."""
    match = re.search(r"datastores/([^/]+)/paths/(.*)$", uri or "")
    return (match[1], match[2]) if match else (DEFAULT_DATASTORE, default_path)


def _content_hash(resource: dict) -> str | None:
    return (resource["properties"].get("properties") or {}).get("hash_sha256")


def _public(resource: dict) -> dict:
    """A stored resource without the fake's bookkeeping keys."""
    return {k: v for k, v in resource.items() if not k.startswith("_")}
