"""The built-in Azure roles this project assigns, and the ones it never may.

Role definition ids are the same GUID in every tenant; the full id is
``/subscriptions/<id>/providers/Microsoft.Authorization/roleDefinitions/<guid>``.
The policy pack allows exactly ``ALLOWED`` and names ``FORBIDDEN`` when it
sees them, so adding a role here is a reviewed change.

Two projects grant them. The platform project (an administrator's) grants
the privileged ones; an environment stack, run by its CI identity, may grant
only ``WORKLOAD`` roles, and only to the workload identities: Azure enforces
that through the condition of ``delegation_condition`` on that identity's
Role Based Access Control Administrator assignment.
"""

from __future__ import annotations

import re
import uuid

ALLOWED: dict[str, str] = {
    "AcrPull": "7f951dda-4ed3-4680-a7ca-43fe172d538d",
    "AzureML Data Scientist": "f6c7c914-8db3-469d-8ca1-694a8f32e121",
    "AzureML Metrics Writer (preview)": "635dd51f-9968-44d3-b7fb-6d9a6bd613ae",
    "AzureML Registry User": "1823dd4f-9b8c-4ab6-ab4e-7397a3684615",
    "Contributor": "b24988ac-6180-42a0-ab88-20f7382dd24c",
    "Key Vault Administrator": "00482a5a-887f-4fb3-b363-3b7fe8e74483",
    "Key Vault Secrets User": "4633458b-17de-408a-b874-0445c86b69e6",
    # Read an identity and attach it to a resource; no write on the identity.
    "Managed Identity Operator": "f1a07417-d97a-45cb-824c-7a7467783830",
    "Reader": "acdd72a7-3385-48ef-bd42-f606fba81ae7",
    # Only with the condition of ``delegation_condition``.
    "Role Based Access Control Administrator": "f58310d9-a9f6-439a-9e8d-f62e7b41a168",
    "Storage Blob Data Contributor": "ba92f5b4-2d11-453d-a403-e96b0029c9fe",
    "Storage Blob Data Reader": "2a2b9908-6ea1-4ae2-8e65-a410df84e7d1",
    "Storage File Data Privileged Contributor": "69566ab7-960f-475b-8e7c-b3118f30c6bd",
}

FORBIDDEN: dict[str, str] = {
    "Owner": "8e3af657-a8ff-443c-a75c-2fe8c4bcb635",
    "User Access Administrator": "18d7d88d-d35e-4fb5-a5c3-7773c20a72d9",
}

# What the workloads need on the resources of their environment: data-plane
# read and write, image pulls, secrets read, workspace use. Not here, and so
# never grantable by an environment's CI identity: Contributor (Azure counts it
# a privileged administrator role), Key Vault Administrator and Storage File
# Data Privileged Contributor (they override data-plane permissions), Managed
# Identity Operator, Reader, the registry's role and the delegating role itself.
WORKLOAD = (
    "AcrPull",
    "AzureML Data Scientist",
    "AzureML Metrics Writer (preview)",
    "Key Vault Secrets User",
    "Storage Blob Data Contributor",
    "Storage Blob Data Reader",
)

# Azure has no built-in role that reads a registry's assets without writing them
# (AzureML Registry User grants registries/assets/*), so the platform stack defines
# this one, assignable in the registry's resource group only: the environments that
# deploy promoted models read them, and only the promoting environment writes.
REGISTRY_READER = "AzureML Registry Reader (mlops)"
REGISTRY_READER_ACTIONS = (
    "Microsoft.MachineLearningServices/registries/read",
    "Microsoft.MachineLearningServices/registries/assets/read",
)

ROLE_ADMIN = "Role Based Access Control Administrator"
# Roles that may only be granted with a condition (see ``delegation_condition``).
CONDITIONAL = {ROLE_ADMIN}


def role_definition_id(subscription_id: str, role: str) -> str:
    """The full role definition id of built-in role ``role`` (a key of ``ALLOWED``)."""
    return (
        f"/subscriptions/{subscription_id}/providers/Microsoft.Authorization/"
        f"roleDefinitions/{ALLOWED[role]}"
    )


def registry_reader_guid(resource_group_id: str) -> str:
    """The GUID of ``REGISTRY_READER`` as defined for the registry's resource group
    ``resource_group_id``: derived from it, so each platform stack has its own."""
    return str(uuid.uuid5(uuid.NAMESPACE_URL, f"mlops/registry-reader{resource_group_id.lower()}"))


def resource_group_of(scope: str) -> str:
    """The resource group id a resource (or resource group) id lies in; '' if none."""
    found = re.match(r"^(/subscriptions/[^/]+/resourceGroups/[^/]+)", scope, re.I)
    return found[1] if found else ""


def role_name(definition_id: str, scope: str = "") -> str | None:
    """The name of the built-in role a role definition id (or bare GUID) refers to,
    or ``REGISTRY_READER`` when it is that role as defined for ``scope``'s resource group."""
    guid = definition_id.rstrip("/").rsplit("/", 1)[-1].lower()
    group = resource_group_of(scope)
    if group and guid == registry_reader_guid(group):
        return REGISTRY_READER
    for table in (ALLOWED, FORBIDDEN):
        for name, known in table.items():
            if known == guid:
                return name
    return None


def delegation_condition(roles: list[str] | tuple[str, ...], principals: list[str]) -> str:
    """An ABAC condition (version 2.0, Azure's "constrain roles and principals"
    form) under which a role administrator may create and delete assignments
    only of ``roles`` and only to ``principals`` (object ids).

    Creating is checked on the request, deleting on the existing assignment,
    so neither a new grant nor the removal of another one escapes it."""
    role_ids = ", ".join(ALLOWED[r] for r in sorted(roles))
    principal_ids = ", ".join(sorted(p.lower() for p in principals))
    return " AND ".join(
        f"((!(ActionMatches{{'Microsoft.Authorization/roleAssignments/{action}'}})) OR "
        f"(@{source}[Microsoft.Authorization/roleAssignments:RoleDefinitionId] "
        f"ForAnyOfAnyValues:GuidEquals {{{role_ids}}} AND "
        f"@{source}[Microsoft.Authorization/roleAssignments:PrincipalId] "
        f"ForAnyOfAnyValues:GuidEquals {{{principal_ids}}}))"
        for action, source in (("write", "Request"), ("delete", "Resource"))
    )


_DELEGATED_PRINCIPALS = re.compile(
    r"@Request\[Microsoft\.Authorization/roleAssignments:PrincipalId\] "
    r"ForAnyOfAnyValues:GuidEquals \{([^}]*)\}"
)


def delegated_principals(condition: str) -> list[str] | None:
    """The principals a ``delegation_condition`` names, or None when ``condition``
    is not exactly such a condition over the ``WORKLOAD`` roles."""
    found = _DELEGATED_PRINCIPALS.search(condition)
    if not found:
        return None
    principals = [p.strip() for p in found.group(1).split(",") if p.strip()]
    try:
        for principal in principals:
            uuid.UUID(principal)
    except ValueError:
        return None
    if not principals or condition != delegation_condition(WORKLOAD, principals):
        return None
    return principals
