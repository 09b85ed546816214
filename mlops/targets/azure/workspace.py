"""Which workspace ``target: azure`` runs on, and the signed-in client to it.

The coordinates come from the environment variables ``infra/stack_env.py``
writes (a workflow puts them in ``$GITHUB_ENV``), else from the
``config.json`` that ``stack_env.py --ml-config`` or the studio writes, found
as ``MLClient.from_config`` finds it: ``config.json`` or
``.azureml/config.json`` in the settings file's folder or any folder above it.
Credentials are federated only: in a workflow, the job's GitHub OIDC token
exchanged for the identity its variables name (``AZURE_CLIENT_ID``,
``AZURE_TENANT_ID``), fetched again whenever Azure's token expires; on a
workstation, ``DefaultAzureCredential`` (``az login``). No secret is read or
written here.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path

from mlops.errors import UserError

SUBSCRIPTION = "AZURE_SUBSCRIPTION_ID"
RESOURCE_GROUP = "AZURE_RESOURCE_GROUP"
WORKSPACE = "AZUREML_WORKSPACE_NAME"
COMPUTE = "AZUREML_COMPUTE"
STACK_ENV = "(cd infra && pulumi stack output --json) | .venv/bin/python infra/stack_env.py"
CONFIG_NAMES = ("config.json", ".azureml/config.json")
# config.json keys, as MLClient.from_config reads them, by variable.
CONFIG_KEYS = {
    SUBSCRIPTION: "subscription_id",
    RESOURCE_GROUP: "resource_group",
    WORKSPACE: "workspace_name",
}
SIGN_IN = "run `az login` (on a workstation) or sign in with azure/login and OIDC (in a workflow)"
# Set by GitHub in a job with `permissions: id-token: write`: where to ask for a token.
GITHUB_OIDC = ("ACTIONS_ID_TOKEN_REQUEST_URL", "ACTIONS_ID_TOKEN_REQUEST_TOKEN")
OIDC_AUDIENCE = "api://AzureADTokenExchange"


class WorkspaceError(UserError):
    """The workspace cannot be named, reached or signed in to; the message says what to do."""


@dataclass(frozen=True)
class Coordinates:
    subscription: str
    resource_group: str
    workspace: str
    compute: str | None  # None: the pipeline file's default_compute
    source: str  # where they were read, for messages

    def describe(self) -> str:
        return (
            f"workspace {self.workspace} in resource group {self.resource_group} "
            f"(subscription {self.subscription}, from {self.source})"
        )


def read_coordinates(root: Path, environ: Mapping[str, str] = os.environ) -> Coordinates:
    """The workspace to use: the environment variables when ``AZUREML_WORKSPACE_NAME``
    is set, else the nearest ``config.json``. Raises ``WorkspaceError`` naming the
    missing variable or key."""
    compute = environ.get(COMPUTE) or None
    if environ.get(WORKSPACE):
        missing = [name for name in CONFIG_KEYS if not environ.get(name)]
        if missing:
            raise WorkspaceError(
                f"{', '.join(missing)} not set: set {'them' if len(missing) > 1 else 'it'} "
                f"with {WORKSPACE} (`{STACK_ENV}` prints them)"
            )
        return Coordinates(
            environ[SUBSCRIPTION],
            environ[RESOURCE_GROUP],
            environ[WORKSPACE],
            compute,
            "the environment",
        )
    config = _find_config(root)
    if config is None:
        raise WorkspaceError(
            f"no workspace named: set {', '.join(CONFIG_KEYS)} (`{STACK_ENV}` prints them), "
            f"or write .azureml/config.json with `{STACK_ENV} --ml-config .azureml/config.json`"
        )
    try:
        values = json.loads(config.read_text(encoding="utf-8"))
        found = {name: values[key] for name, key in CONFIG_KEYS.items()}
    except (OSError, ValueError, TypeError) as error:
        raise WorkspaceError(f"{config}: not a workspace config.json ({error})") from None
    except KeyError as error:
        raise WorkspaceError(f"{config}: key {error.args[0]} is missing") from None
    return Coordinates(
        str(found[SUBSCRIPTION]),
        str(found[RESOURCE_GROUP]),
        str(found[WORKSPACE]),
        compute,
        str(config),
    )


def _find_config(root: Path) -> Path | None:
    for folder in (root, *root.parents):
        for name in CONFIG_NAMES:
            if (folder / name).is_file():
                return folder / name
    return None


def default_credential(environ: Mapping[str, str] = os.environ):
    """In a GitHub Actions job allowed to request an OIDC token (``id-token: write``)
    that names its identity (``AZURE_CLIENT_ID``, ``AZURE_TENANT_ID``): a credential
    that asks GitHub for a fresh token each time Microsoft Entra's expires, since the
    ``az login`` session ``azure/login`` leaves cannot renew itself after about an
    hour. Elsewhere ``DefaultAzureCredential`` without the interactive browser:
    ``az login`` on a workstation."""
    from azure.identity import ClientAssertionCredential, DefaultAzureCredential

    if all(environ.get(name) for name in (*GITHUB_OIDC, "AZURE_CLIENT_ID", "AZURE_TENANT_ID")):
        return ClientAssertionCredential(
            environ["AZURE_TENANT_ID"],
            environ["AZURE_CLIENT_ID"],
            lambda: github_oidc_token(environ),
        )
    return DefaultAzureCredential(exclude_interactive_browser_credential=True)


def github_oidc_token(environ: Mapping[str, str]) -> str:
    """A new OIDC token from the running GitHub Actions job, for Microsoft Entra
    (audience ``api://AzureADTokenExchange``, as ``azure/login`` asks for it)."""
    import urllib.error
    import urllib.parse
    import urllib.request

    from azure.core.exceptions import ClientAuthenticationError

    url, bearer = (environ[name] for name in GITHUB_OIDC)
    separator = "&" if "?" in url else "?"
    request = urllib.request.Request(
        f"{url}{separator}audience={urllib.parse.quote(OIDC_AUDIENCE, safe='')}",
        headers={"Authorization": f"bearer {bearer}", "Accept": "application/json"},
    )
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return str(json.load(response)["value"])
    except (OSError, ValueError, KeyError) as error:
        raise ClientAuthenticationError(
            message=f"GitHub gave no OIDC token ({error}): the job needs "
            "`permissions: id-token: write`"
        ) from None


def connect(coordinates: Coordinates, credential, transport=None):
    """An ``MLClient`` on the workspace; ``transport`` is azure-core's seam for the
    HTTP layer (default: the SDK's own). Sends nothing: the first call signs in."""
    from azure.ai.ml import MLClient

    quiet_sdk_logs()
    extra = {"transport": transport} if transport is not None else {}
    return MLClient(
        credential,
        coordinates.subscription,
        coordinates.resource_group,
        coordinates.workspace,
        show_progress=False,  # upload progress bars would fill CI logs
        **extra,
    )


def quiet_sdk_logs() -> None:
    """Keep the SDKs' logs off the terminal: each expected 404 is logged as a failed
    "activity", and every credential tried as a warning. What goes wrong reaches the
    user as one line (``azure_errors``, the targets' own errors)."""
    for name in ("azure", "azure.ai.ml", "azure.identity", "azure.core"):
        logging.getLogger(name).setLevel(logging.CRITICAL)


@contextlib.contextmanager
def azure_errors(coordinates: Coordinates) -> Iterator[None]:
    """Turn what Azure answers to a wrong workspace, a failed sign-in or a missing
    role into one ``WorkspaceError`` that says what to fix. Other answers pass."""
    from azure.core.exceptions import ClientAuthenticationError, HttpResponseError

    try:
        yield
    except ClientAuthenticationError as error:
        reason = first_line(error) or "no token"
        raise WorkspaceError(f"Azure sign-in failed ({reason}): {SIGN_IN}") from None
    except HttpResponseError as error:
        # ARM errors carry .error.code; storage errors .error_code.
        code = str(getattr(error.error, "code", None) or getattr(error, "error_code", "") or "")
        text = first_line(error)
        if code in NOT_FOUND or (error.status_code == 404 and "workspace" in text.lower()):
            raise WorkspaceError(
                f"{coordinates.describe()} was not found ({code or text}): check "
                f"{NOT_FOUND.get(code, f'{WORKSPACE} and {RESOURCE_GROUP}')}, or run "
                "`pulumi up` for the stack"
            ) from None
        if error.status_code == 403:
            raise WorkspaceError(
                f"Azure refused access ({code or 403}: {text}): the signed-in identity needs "
                f"AzureML Data Scientist on {coordinates.describe()} and Storage Blob Data "
                "Contributor on its default storage account"
            ) from None
        raise


# ARM error codes of a wrong coordinate -> the variables to check.
NOT_FOUND = {
    "SubscriptionNotFound": SUBSCRIPTION,
    "ResourceGroupNotFound": RESOURCE_GROUP,
    "WorkspaceNotFound": WORKSPACE,
}


def first_line(error: Exception) -> str:
    message = getattr(error, "message", None) or str(error)
    lines = [line for line in str(message).strip().splitlines() if line.strip()]
    text = lines[0] if lines else ""
    code = getattr(getattr(error, "error", None), "code", None)
    return text.removeprefix(f"({code}) ") if code else text
