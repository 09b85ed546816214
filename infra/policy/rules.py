"""The security rules of the template, as pure functions of a resource's
type, its inputs (camelCase, as the Azure provider receives them), the
stack it belongs to and the pack's config (``config.json``: which stacks
may be public, which repository GitHub tokens may come from; the platform
program reads that repository from the same file, its only home).
``__main__.py`` enforces them as a Pulumi policy pack; the tests run the
same functions on what both programs declare.

Each check returns the violations it finds, one readable sentence each,
naming the property and the value it must have.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import github_oidc
import roles
import state_access

CONFIG_FILE = Path(__file__).resolve().parent / "config.json"

Props = Mapping[str, Any]
Config = Mapping[str, Any]


@dataclass(frozen=True)
class Context:
    """What a check knows besides the resource's inputs."""

    resource_type: str
    stack: str
    config: Config  # this rule's config


@dataclass(frozen=True)
class Rule:
    name: str
    description: str
    resource_types: tuple[str, ...]
    check: Callable[[Props, Context], list[str]]
    # JSON schema of the rule's properties in config.json (all required)
    config_schema: Mapping[str, Any] = field(default_factory=dict)


OIDC_POLICY = "github-oidc-per-environment"


def committed_config() -> dict[str, dict[str, Any]]:
    """Policy name -> its config, as ``config.json`` sets it (what
    ``--policy-pack-config policy/config.json`` hands the pack)."""
    return load_config(CONFIG_FILE)


def load_config(path: Path) -> dict[str, dict[str, Any]]:
    """Policy name -> its config, from a pack config file such as ``config.json``.
    Raises ``ValueError`` naming the file when it cannot be read as one."""
    try:
        document = json.loads(path.read_text())
    except FileNotFoundError:
        raise ValueError(f"{path}: no such file") from None
    except (OSError, ValueError) as error:
        raise ValueError(f"{path}: not a policy pack config ({error})") from None
    if not isinstance(document, dict) or not all(isinstance(v, dict) for v in document.values()):
        raise ValueError(f"{path}: not a policy pack config (expected policy name -> its config)")
    return document


def github_repository(config: Mapping[str, Config], path: Path) -> str:
    """The repository (OWNER/NAME) whose tokens federated credentials accept, as
    pack config ``config`` (read from ``path``) sets it for ``OIDC_POLICY``.
    Raises ``ValueError`` naming the file and key when it is unset or malformed."""
    value = config.get(OIDC_POLICY, {}).get("githubRepository")
    if not isinstance(value, str) or not re.match(github_oidc.REPOSITORY_PATTERN, value):
        raise ValueError(
            f"{path}: {OIDC_POLICY}.githubRepository is {value!r}: set it to the repository "
            "(OWNER/NAME) whose workflows sign in to Azure"
        )
    return value


def get(props: Props, path: str) -> Any:
    """The value at dotted ``path`` in ``props``, or None."""
    value: Any = props
    for part in path.split("."):
        if not isinstance(value, Mapping):
            return None
        value = value.get(part)
    return value


def _require(props: Props, expected: Mapping[str, Any]) -> list[str]:
    return [
        f"{path} must be {value!r}, not {get(props, path)!r}"
        for path, value in expected.items()
        if get(props, path) != value
    ]


# Where each type holds its public network switch.
PUBLIC_ACCESS = {
    "azure-native:storage:StorageAccount": "publicNetworkAccess",
    "azure-native:keyvault:Vault": "properties.publicNetworkAccess",
    "azure-native:containerregistry:Registry": "publicNetworkAccess",
    "azure-native:machinelearningservices:Workspace": "publicNetworkAccess",
}


def private_network(props: Props, ctx: Context) -> list[str]:
    path = PUBLIC_ACCESS[ctx.resource_type]
    public = ctx.config["publicStacks"]
    if ctx.stack in public or get(props, path) == "Disabled":
        return []
    allowed = ", ".join(sorted(public)) or "no stack"
    return [
        f"{path} must be 'Disabled' on stack {ctx.stack} (publicStacks in policy/config.json "
        f"allows {allowed}), not {get(props, path)!r}"
    ]


def stack_of(urn: str) -> str:
    """The stack in a resource URN: ``urn:pulumi:<stack>::<project>::...``."""
    return urn.split("::", 1)[0].rsplit(":", 1)[-1]


def storage_account(props: Props, ctx: Context) -> list[str]:
    return _require(
        props,
        {
            "allowBlobPublicAccess": False,
            "allowSharedKeyAccess": False,
            "minimumTlsVersion": "TLS1_2",
            "enableHttpsTrafficOnly": True,
        },
    )


def key_vault(props: Props, ctx: Context) -> list[str]:
    return _require(
        props,
        {
            "properties.enableRbacAuthorization": True,
            "properties.enableSoftDelete": True,
            "properties.enablePurgeProtection": True,
        },
    )


def container_registry(props: Props, ctx: Context) -> list[str]:
    return _require(props, {"adminUserEnabled": False, "anonymousPullEnabled": False})


def ml_workspace(props: Props, ctx: Context) -> list[str]:
    problems = _require(props, {"systemDatastoresAuthMode": "Identity"})
    if get(props, "managedNetwork.isolationMode") not in (
        "AllowInternetOutbound",
        "AllowOnlyApprovedOutbound",
    ):
        problems.append(
            "managedNetwork.isolationMode must be AllowInternetOutbound or "
            f"AllowOnlyApprovedOutbound, not {get(props, 'managedNetwork.isolationMode')!r}"
        )
    if get(props, "identity.type") != "UserAssigned" or not props.get(
        "primaryUserAssignedIdentity"
    ):
        problems.append(
            "identity.type must be 'UserAssigned', with primaryUserAssignedIdentity set"
        )
    return problems


def ml_compute(props: Props, ctx: Context) -> list[str]:
    kind = get(props, "properties.computeType")
    if kind == "ComputeInstance":
        return _compute_instance(props)
    if kind != "AmlCompute":
        # Attached computes (Kubernetes, virtual machines, Databricks ...) keep
        # their own keys and network: none of these rules could be checked.
        return [
            f"properties.computeType must be AmlCompute or ComputeInstance, not {kind!r}: "
            "other computes cannot be checked for keys, public IPs and SSH"
        ]
    problems = _require(
        props,
        {
            "properties.disableLocalAuth": True,
            "properties.properties.scaleSettings.minNodeCount": 0,
            "properties.properties.enableNodePublicIp": False,
            "properties.properties.remoteLoginPortPublicAccess": "Disabled",
        },
    )
    idle = get(props, "properties.properties.scaleSettings.nodeIdleTimeBeforeScaleDown")
    if not idle:
        problems.append(
            "properties.properties.scaleSettings.nodeIdleTimeBeforeScaleDown must be set "
            "(e.g. 'PT120S') so idle nodes are released"
        )
    if get(props, "properties.properties.userAccountCredentials"):
        problems.append("properties.properties.userAccountCredentials must not be set (no SSH)")
    return problems + _user_assigned(props)


def _compute_instance(props: Props) -> list[str]:
    problems = _require(
        props,
        {
            "properties.disableLocalAuth": True,
            "properties.properties.enableNodePublicIp": False,
            "properties.properties.sshSettings.sshPublicAccess": "Disabled",
        },
    )
    if not get(props, "properties.properties.idleTimeBeforeShutdown"):
        problems.append(
            "properties.properties.idleTimeBeforeShutdown must be set (e.g. 'PT30M') so an "
            "idle instance stops"
        )
    if get(props, "properties.properties.sshSettings.adminPublicKey"):
        problems.append("properties.properties.sshSettings.adminPublicKey must not be set (no SSH)")
    return problems + _user_assigned(props)


def _user_assigned(props: Props) -> list[str]:
    if get(props, "identity.type") == "UserAssigned":
        return []
    return [f"identity.type must be 'UserAssigned', not {get(props, 'identity.type')!r}"]


def role_assignment(props: Props, ctx: Context) -> list[str]:
    problems = []
    definition = str(props.get("roleDefinitionId") or "")
    role = roles.role_name(definition, str(props.get("scope") or ""))
    if role in roles.FORBIDDEN:
        problems.append(f"roleDefinitionId is {role}, which this project never grants")
    elif role is None:
        problems.append(
            f"roleDefinitionId {definition!r} is not an allowlisted built-in role "
            "(see infra/roles.py)"
        )
    problems += _condition(props, role)
    scope = str(props.get("scope") or "")
    if scope in ("", "/") or re.match(r"^/subscriptions/[^/]+/?$", scope, re.I):
        problems.append(f"scope must be a resource group or resource, not {scope or '/'!r}")
    if re.match(r"^/providers/Microsoft\.Management/managementGroups/", scope, re.I):
        problems.append(f"scope must be a resource group or resource, not {scope!r}")
    return problems


def _condition(props: Props, role: str | None) -> list[str]:
    condition = props.get("condition")
    scope = str(props.get("scope") or "")
    if state_access.is_state_container(scope) and _blob_role(props, role):
        return _state_condition(props, role)
    if role not in roles.CONDITIONAL:
        if condition:
            return [
                f"condition must be unset on {role}: only {roles.ROLE_ADMIN}, and a blob role "
                "on Pulumi's state container, carry one"
            ]
        return []
    principals = roles.delegated_principals(str(condition or ""))
    if principals is None:
        return [
            f"condition of {role} must be exactly the delegation condition of infra/roles.py: "
            "the workload roles (roles.WORKLOAD) to a list of principal ids, for both "
            "roleAssignments/write and /delete"
        ]
    problems = []
    if str(props.get("principalId") or "").lower() in principals:
        problems.append(f"condition of {role} must not name its own principalId")
    return problems + _condition_version(props)


def _blob_role(props: Props, role: str | None) -> bool:
    guid = str(props.get("roleDefinitionId") or "").rstrip("/").rsplit("/", 1)[-1].lower()
    return role in (state_access.WRITER, state_access.READER) or guid == state_access.OWNER_GUID


def _state_condition(props: Props, role: str | None) -> list[str]:
    """A blob role on the state container every environment shares: exactly the
    path condition of one stack (state_access.py), writes only for the writer."""
    if role is None:
        return [
            "roleDefinitionId is Storage Blob Data Owner, which Pulumi's state container never "
            "gets: deleting versions, tags and ACLs lie beyond any path condition of "
            "infra/state_access.py (grant Storage Blob Data Contributor with one)"
        ]
    writes = role != state_access.READER
    parsed = state_access.parse(str(props.get("condition") or ""))
    if parsed is None or parsed[1] != writes:
        kind = "reads and writes" if writes else "reads"
        return [
            f"condition of {role} on Pulumi's state container must be "
            f"exactly a condition of infra/state_access.py limiting its {kind} to one stack's "
            "paths: every environment's state shares the container, so without it one "
            f"environment's identity {'rewrites' if writes else 'reads'} another's state"
        ]
    return _condition_version(props)


def _condition_version(props: Props) -> list[str]:
    if props.get("conditionVersion") != "2.0":
        return [f"conditionVersion must be '2.0', not {props.get('conditionVersion')!r}"]
    return []


def role_definition(props: Props, ctx: Context) -> list[str]:
    """The one custom role: exactly ``roles.REGISTRY_READER``'s read actions,
    assignable in one resource group, under the GUID derived from it."""
    problems = []
    permissions = props.get("permissions") or []
    granted = [
        sorted(p.get(key) or [])
        for p in permissions
        for key in ("actions", "notActions", "dataActions", "notDataActions")
    ]
    if granted != [sorted(roles.REGISTRY_READER_ACTIONS), [], [], []]:
        problems.append(
            f"permissions must be exactly the actions {list(roles.REGISTRY_READER_ACTIONS)} "
            f"(reading a registry's assets), not {permissions!r}"
        )
    scopes = props.get("assignableScopes") or []
    group = roles.resource_group_of(scopes[0]) if len(scopes) == 1 else ""
    if not group or group.lower() != str(scopes[0]).rstrip("/").lower():
        problems.append(f"assignableScopes must be one resource group, not {scopes!r}")
    elif str(props.get("roleDefinitionId") or "") != roles.registry_reader_guid(group):
        problems.append(
            "roleDefinitionId must be roles.registry_reader_guid of its resource group, "
            f"not {props.get('roleDefinitionId')!r}"
        )
    if not str(props.get("roleName") or "").startswith(roles.REGISTRY_READER):
        problems.append(f"roleName must start with {roles.REGISTRY_READER!r}")
    return problems


def federated_credential(props: Props, ctx: Context) -> list[str]:
    problems = _require(props, {"issuer": github_oidc.ISSUER, "audiences": [github_oidc.AUDIENCE]})
    subject = str(props.get("subject") or "")
    repository = ctx.config["githubRepository"]
    if not (
        re.match(github_oidc.SUBJECT_PATTERN, subject)
        and subject.startswith(f"repo:{repository}:environment:")
    ):
        problems.append(
            f"subject must be repo:{repository}:environment:ENV (githubRepository in "
            f"policy/config.json, one GitHub environment), not {subject!r}"
        )
    return problems


_NETWORK_TYPES = tuple(PUBLIC_ACCESS)

RULES = [
    Rule(
        "storage-account-secure",
        "Storage: no blob public access, no shared key, TLS 1.2, HTTPS only.",
        ("azure-native:storage:StorageAccount",),
        storage_account,
    ),
    Rule(
        "key-vault-secure",
        "Key Vault: RBAC authorization, soft delete, purge protection.",
        ("azure-native:keyvault:Vault",),
        key_vault,
    ),
    Rule(
        "container-registry-secure",
        "Container registry: admin user and anonymous pull disabled.",
        ("azure-native:containerregistry:Registry",),
        container_registry,
    ),
    Rule(
        "ml-workspace-secure",
        "Workspace: user-assigned identity, identity-based datastores, managed network isolation.",
        ("azure-native:machinelearningservices:Workspace",),
        ml_workspace,
    ),
    Rule(
        "private-outside-public-stacks",
        "Storage, key vault, container registry and workspace: public network access "
        "disabled on every stack but those publicStacks names.",
        _NETWORK_TYPES,
        private_network,
        {"publicStacks": {"type": "array", "items": {"type": "string"}}},
    ),
    Rule(
        "ml-compute-secure",
        "Compute: clusters and instances only; no local auth, no public IP, no SSH, "
        "user-assigned identity; clusters scale to 0 when idle, instances stop when idle.",
        ("azure-native:machinelearningservices:Compute",),
        ml_compute,
    ),
    Rule(
        "role-assignment-least-privilege",
        "Role assignments: allowlisted built-in roles only, never Owner or User Access "
        "Administrator, never at subscription scope; a role administrator only with the "
        "delegation condition of infra/roles.py; a blob role on Pulumi's state container "
        "(shared by every environment) only with the path condition of one stack "
        "(infra/state_access.py); nothing else with a condition.",
        ("azure-native:authorization:RoleAssignment",),
        role_assignment,
    ),
    Rule(
        "custom-role-read-only",
        "Custom roles: only the registry reader of infra/roles.py, which reads a "
        "registry's assets and nothing else, assignable in one resource group.",
        ("azure-native:authorization:RoleDefinition",),
        role_definition,
    ),
    Rule(
        OIDC_POLICY,
        "Federated credentials: GitHub's issuer and audience, one environment of the "
        "configured repository per subject.",
        ("azure-native:managedidentity:FederatedIdentityCredential",),
        federated_credential,
        {"githubRepository": {"type": "string"}},
    ),
]


def verdicts(
    resource_type: str, props: Props, stack: str, config: Mapping[str, Config] | None = None
) -> dict[str, list[str]]:
    """Rule name -> violations, for every rule that applies to ``resource_type``,
    with ``config`` (policy name -> its config; by default ``config.json``'s)."""
    config = committed_config() if config is None else config
    return {
        rule.name: rule.check(props, Context(resource_type, stack, config.get(rule.name, {})))
        for rule in RULES
        if resource_type in rule.resource_types
    }
