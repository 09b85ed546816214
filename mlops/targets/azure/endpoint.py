"""A managed online endpoint and its deployments, as ``mlops.deploy`` drives them.

Azure has no per-deployment URL: a deployment is reached through the
endpoint's scoring URI with the ``azureml-model-deployment`` header. Every
change waits for Azure's long-running operation to complete, so a traffic
update has taken effect when ``set_traffic`` returns.
"""

from __future__ import annotations

import contextlib
import re
import tempfile
from collections.abc import Mapping
from pathlib import Path

from mlops.settings import Settings
from mlops.state_files import write_file
from mlops.targets.azure.registry import ASSET_TAG
from mlops.targets.azure.words import word
from mlops.targets.base import DIGEST_TAG, Deployment, DeploymentError, Endpoint, ModelVersion

MODEL_TAG = "mlops.model"
LOG_LINES = 5000


def deployment_name(model: ModelVersion) -> str:
    """``<model name>-v<version>``, cut to Azure ML's rules for deployment names:
    3 to 32 letters, digits and hyphens, first a letter."""
    suffix = re.sub(r"[^a-zA-Z0-9-]", "-", f"-v{model.version}")
    stem = re.sub(r"[^a-zA-Z0-9-]+", "-", model.name).strip("-")
    stem = stem[: 32 - len(suffix)].rstrip("-")
    if not stem[:1].isalpha():
        stem = f"m{stem}"[: 32 - len(suffix)]
    return f"{stem}{suffix}"


def get(ml_client, name: str) -> Endpoint | None:
    from azure.core.exceptions import ResourceNotFoundError

    try:
        endpoint = ml_client.online_endpoints.get(name)
    except ResourceNotFoundError:
        return None
    deployments = tuple(
        Deployment(
            name=d.name,
            model=(d.tags or {}).get(MODEL_TAG) or _model_ref(d.model),
            scoring_uri=endpoint.scoring_uri or "",
            state=word(d.provisioning_state, "Unknown"),
            model_digest=(d.tags or {}).get(DIGEST_TAG),
        )
        for d in ml_client.online_deployments.list(endpoint_name=name)
    )
    traffic = {str(k): int(v) for k, v in (endpoint.traffic or {}).items()}
    return Endpoint(name, endpoint.scoring_uri or "", traffic, deployments)


def _model_ref(model: object) -> str:
    # ".../models/<name>/versions/<version>" or "azureml:<name>:<version>"
    text = str(model or "")
    match = re.search(r"models/([^/]+)/versions/([^/]+)$", text)
    if match:
        return f"{match[1]}:{match[2]}"
    return text.removeprefix("azureml:")


def ensure_endpoint(ml_client, name: str, show) -> None:
    """Create endpoint ``name`` (Microsoft Entra token auth) unless it exists."""
    from azure.ai.ml.entities import ManagedOnlineEndpoint
    from azure.core.exceptions import HttpResponseError, ResourceNotFoundError

    try:
        ml_client.online_endpoints.get(name)
        return
    except ResourceNotFoundError:
        pass
    show(f"endpoint {name}: creating (a few minutes on Azure)")
    endpoint = ManagedOnlineEndpoint(
        name=name,
        auth_mode="aad_token",
        description="Created by mlops deploy; blue/green deployments of the model.",
    )
    try:
        ml_client.online_endpoints.begin_create_or_update(endpoint).result()
    except HttpResponseError as error:
        taken = error.status_code == 409 or "already" in str(error.message).lower()
        hint = (
            "endpoint names are unique per Azure region: choose another endpoint.name in mlops.yml"
            if taken
            else "see the message above"
        )
        raise DeploymentError(
            f"endpoint {name} cannot be created: {error.message}; {hint}"
        ) from None


def create_deployment(
    ml_client, settings: Settings, name: str, model: ModelVersion, show
) -> Deployment:
    """Deployment ``name`` of ``model`` from ``endpoint.deployment``, at 0 % traffic."""
    from azure.ai.ml import load_online_deployment
    from azure.ai.ml.exceptions import MlException
    from azure.core.exceptions import HttpResponseError

    endpoint = settings.endpoint.name
    ensure_endpoint(ml_client, endpoint, show)
    spec = load_online_deployment(settings.resolve(settings.endpoint.deployment))
    spec.name = name
    spec.endpoint_name = endpoint
    # A version taken in from the registry serves the registry's copy of its files.
    spec.model = model.tags.get(ASSET_TAG) or f"azureml:{model.name}:{model.version}"
    spec.tags = {**(spec.tags or {}), MODEL_TAG: model.ref, DIGEST_TAG: model.digest or ""}
    if settings.azure.instance_type:
        spec.instance_type = settings.azure.instance_type
    if settings.azure.instance_count:
        spec.instance_count = settings.azure.instance_count
    if spec.data_collector is not None:
        # The deployment file names the collections; the model's settings, the share.
        spec.data_collector.sampling_rate = settings.monitor.sampling_rate
    show(f"deployment {name}: creating with {model.ref} (several minutes on Azure)")
    try:
        created = ml_client.online_deployments.begin_create_or_update(spec).result()
    except HttpResponseError as error:
        raise DeploymentError(f"deployment {name} of {model.ref} failed: {error.message}") from None
    except MlException as error:  # the SDK's checks of the deployment before it is sent
        raise DeploymentError(f"deployment {name} of {model.ref}: {error.message}") from None
    state = word(created.provisioning_state, "Unknown")
    if state != "Succeeded":
        raise DeploymentError(f"deployment {name} of {model.ref} ended {state}")
    scoring_uri = ml_client.online_endpoints.get(endpoint).scoring_uri or ""
    return Deployment(name, model.ref, scoring_uri, state, model.digest)


def invoke(ml_client, endpoint: str, body: bytes, deployment: str | None) -> tuple[int, bytes]:
    """POST ``body`` through the endpoint, to ``deployment`` when named."""
    from azure.ai.ml.constants._endpoint import EndpointInvokeFields
    from azure.ai.ml.exceptions import MlException
    from azure.core.exceptions import HttpResponseError

    # azure-ai-ml (1.35.2) writes the deployment header and the bearer token into
    # one dict shared by every call (EndpointInvokeFields.DEFAULT_HEADER): left
    # there, a later call without a deployment still goes to this one.
    shared = EndpointInvokeFields.DEFAULT_HEADER
    with tempfile.TemporaryDirectory(prefix="mlops-invoke-") as scratch:
        request = Path(scratch) / "request.json"
        request.write_bytes(body)
        try:
            answer = ml_client.online_endpoints.invoke(
                endpoint_name=endpoint, request_file=str(request), deployment_name=deployment
            )
        except HttpResponseError as error:
            response = error.response
            text = response.text() if response is not None else str(error)
            return error.status_code or 500, text.encode()
        except (MlException, AttributeError, TypeError) as error:
            # The SDK reads an error answer as {"error": {"message": ...}} and fails on
            # any other body (plain text, {"error": "..."}), losing its status: the
            # answer is then reported as a bad gateway's.
            return 502, f"the endpoint answered an error azure-ai-ml cannot read: {error}".encode()
        finally:
            shared.pop(EndpointInvokeFields.MODEL_DEPLOYMENT, None)
            shared.pop(EndpointInvokeFields.AUTHORIZATION, None)
    return 200, str(answer).encode()


def set_traffic(ml_client, name: str, traffic: Mapping[str, int]) -> None:
    endpoint = ml_client.online_endpoints.get(name)
    endpoint.traffic = {k: int(v) for k, v in traffic.items()}
    ml_client.online_endpoints.begin_create_or_update(endpoint).result()


def delete_deployment(ml_client, endpoint: str, name: str, keep_log: Path | None) -> Path | None:
    """Delete deployment ``name``; with ``keep_log``, its log is written there first."""
    from azure.core.exceptions import HttpResponseError, ResourceNotFoundError

    kept = None
    if keep_log is not None:
        try:
            log = ml_client.online_deployments.get_logs(name, endpoint, LOG_LINES)
        except ResourceNotFoundError:
            return None
        except HttpResponseError:
            log = None  # a deployment that never started has no container to read
        if log:
            keep_log.parent.mkdir(parents=True, exist_ok=True)
            write_file(keep_log, log.encode())
            kept = keep_log
    try:
        ml_client.online_deployments.begin_delete(name=name, endpoint_name=endpoint).result()
    except ResourceNotFoundError:
        return None
    return kept


def delete_endpoint(ml_client, name: str) -> None:
    from azure.core.exceptions import ResourceNotFoundError

    with contextlib.suppress(ResourceNotFoundError):
        ml_client.online_endpoints.begin_delete(name=name).result()
