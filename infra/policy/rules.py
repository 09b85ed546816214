"""The security rules of the template, as pure functions of a resource's
type, its inputs (camelCase, as the Azure provider receives them) and the
stack it belongs to. ``__main__.py`` enforces them as a Pulumi policy pack;
the tests run the same functions on what the program declares.

Each check returns the violations it finds, one readable sentence each,
naming the property and the value it must have.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import github_oidc
import roles

# The one stack whose resources may accept traffic from the internet.
PUBLIC_STACKS = {"dev"}

Props = Mapping[str, Any]


@dataclass(frozen=True)
class Rule:
    name: str
    description: str
    resource_type: str
    check: Callable[[Props, str], list[str]]


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


def _private(props: Props, stack: str, path: str = "publicNetworkAccess") -> list[str]:
    if stack in PUBLIC_STACKS or get(props, path) == "Disabled":
        return []
    return [
        f"{path} must be 'Disabled' on stack {stack} (only {', '.join(sorted(PUBLIC_STACKS))} "
        f"may be public), not {get(props, path)!r}"
    ]


def stack_of(urn: str) -> str:
    """The stack in a resource URN: ``urn:pulumi:<stack>::<project>::...``."""
    return urn.split("::", 1)[0].rsplit(":", 1)[-1]


def storage_account(props: Props, stack: str) -> list[str]:
    return _require(
        props,
        {
            "allowBlobPublicAccess": False,
            "allowSharedKeyAccess": False,
            "minimumTlsVersion": "TLS1_2",
            "enableHttpsTrafficOnly": True,
        },
    ) + _private(props, stack)


def key_vault(props: Props, stack: str) -> list[str]:
    return _require(
        props,
        {
            "properties.enableRbacAuthorization": True,
            "properties.enableSoftDelete": True,
            "properties.enablePurgeProtection": True,
        },
    ) + _private(props, stack, "properties.publicNetworkAccess")


def container_registry(props: Props, stack: str) -> list[str]:
    return _require(props, {"adminUserEnabled": False, "anonymousPullEnabled": False}) + _private(
        props, stack
    )


def ml_workspace(props: Props, stack: str) -> list[str]:
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
    return problems + _private(props, stack)


def aml_compute(props: Props, stack: str) -> list[str]:
    if get(props, "properties.computeType") != "AmlCompute":
        return []
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
    if get(props, "identity.type") != "UserAssigned":
        problems.append(
            f"identity.type must be 'UserAssigned', not {get(props, 'identity.type')!r}"
        )
    return problems


def role_assignment(props: Props, stack: str) -> list[str]:
    problems = []
    definition = str(props.get("roleDefinitionId") or "")
    role = roles.role_name(definition)
    if role in roles.FORBIDDEN:
        problems.append(f"roleDefinitionId is {role}, which this project never grants")
    elif role is None:
        problems.append(
            f"roleDefinitionId {definition!r} is not an allowlisted built-in role "
            "(see infra/roles.py)"
        )
    elif role in roles.CONDITIONAL and not props.get("condition"):
        problems.append(f"{role} must carry a condition limiting the roles it can assign")
    scope = str(props.get("scope") or "")
    if scope in ("", "/") or re.match(r"^/subscriptions/[^/]+/?$", scope, re.I):
        problems.append(f"scope must be a resource group or resource, not {scope or '/'!r}")
    if re.match(r"^/providers/Microsoft\.Management/managementGroups/", scope, re.I):
        problems.append(f"scope must be a resource group or resource, not {scope!r}")
    return problems


def federated_credential(props: Props, stack: str) -> list[str]:
    problems = _require(props, {"issuer": github_oidc.ISSUER, "audiences": [github_oidc.AUDIENCE]})
    subject = str(props.get("subject") or "")
    if not re.match(github_oidc.SUBJECT_PATTERN, subject):
        problems.append(
            f"subject must be repo:OWNER/REPO:environment:ENV (one GitHub environment), "
            f"not {subject!r}"
        )
    return problems


RULES = [
    Rule(
        "storage-account-secure",
        "Storage: no blob public access, no shared key, TLS 1.2, HTTPS only; private outside dev.",
        "azure-native:storage:StorageAccount",
        storage_account,
    ),
    Rule(
        "key-vault-secure",
        "Key Vault: RBAC authorization, soft delete, purge protection; private outside dev.",
        "azure-native:keyvault:Vault",
        key_vault,
    ),
    Rule(
        "container-registry-secure",
        "Container registry: admin user and anonymous pull disabled; private outside dev.",
        "azure-native:containerregistry:Registry",
        container_registry,
    ),
    Rule(
        "ml-workspace-secure",
        "Workspace: user-assigned identity, identity-based datastores, managed network "
        "isolation; public network access disabled outside dev.",
        "azure-native:machinelearningservices:Workspace",
        ml_workspace,
    ),
    Rule(
        "aml-compute-secure",
        "Compute clusters: min nodes 0, idle scale-down, local auth disabled, no node "
        "public IP, no SSH, user-assigned identity.",
        "azure-native:machinelearningservices:Compute",
        aml_compute,
    ),
    Rule(
        "role-assignment-least-privilege",
        "Role assignments: allowlisted built-in roles only, never Owner or User Access "
        "Administrator, never at subscription scope.",
        "azure-native:authorization:RoleAssignment",
        role_assignment,
    ),
    Rule(
        "github-oidc-per-environment",
        "Federated credentials: GitHub's issuer and audience, one environment per subject.",
        "azure-native:managedidentity:FederatedIdentityCredential",
        federated_credential,
    ),
]


def verdicts(resource_type: str, props: Props, stack: str) -> dict[str, list[str]]:
    """Rule name -> violations, for every rule that applies to ``resource_type``."""
    return {
        rule.name: rule.check(props, stack) for rule in RULES if rule.resource_type == resource_type
    }
