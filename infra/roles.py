"""The built-in Azure roles this project assigns, and the ones it never may.

Role definition ids are the same GUID in every tenant; the full id is
``/subscriptions/<id>/providers/Microsoft.Authorization/roleDefinitions/<guid>``.
The policy pack allows exactly ``ALLOWED`` and names ``FORBIDDEN`` when it
sees them, so adding a role here is a reviewed change.
"""

from __future__ import annotations

ALLOWED: dict[str, str] = {
    "AcrPull": "7f951dda-4ed3-4680-a7ca-43fe172d538d",
    "AzureML Data Scientist": "f6c7c914-8db3-469d-8ca1-694a8f32e121",
    "AzureML Metrics Writer (preview)": "635dd51f-9968-44d3-b7fb-6d9a6bd613ae",
    "Contributor": "b24988ac-6180-42a0-ab88-20f7382dd24c",
    "Key Vault Administrator": "00482a5a-887f-4fb3-b363-3b7fe8e74483",
    "Key Vault Secrets User": "4633458b-17de-408a-b874-0445c86b69e6",
    "Reader": "acdd72a7-3385-48ef-bd42-f606fba81ae7",
    # Only with a condition that limits it to assigning the roles in this table.
    "Role Based Access Control Administrator": "f58310d9-a9f6-439a-9e8d-f62e7b41a168",
    "Storage Blob Data Contributor": "ba92f5b4-2d11-453d-a403-e96b0029c9fe",
    "Storage Blob Data Reader": "2a2b9908-6ea1-4ae2-8e65-a410df84e7d1",
    "Storage File Data Privileged Contributor": "69566ab7-960f-475b-8e7c-b3118f30c6bd",
}

FORBIDDEN: dict[str, str] = {
    "Owner": "8e3af657-a8ff-443c-a75c-2fe8c4bcb635",
    "User Access Administrator": "18d7d88d-d35e-4fb5-a5c3-7773c20a72d9",
}

# Roles that may only be granted with an ABAC condition (see ``delegation_condition``).
CONDITIONAL = {"Role Based Access Control Administrator"}

ROLE_ADMIN = "Role Based Access Control Administrator"


def role_definition_id(subscription_id: str, role: str) -> str:
    """The full role definition id of built-in role ``role`` (a key of ``ALLOWED``)."""
    return (
        f"/subscriptions/{subscription_id}/providers/Microsoft.Authorization/"
        f"roleDefinitions/{ALLOWED[role]}"
    )


def role_name(definition_id: str) -> str | None:
    """The name of the built-in role a role definition id (or bare GUID) refers to."""
    guid = definition_id.rstrip("/").rsplit("/", 1)[-1].lower()
    for table in (ALLOWED, FORBIDDEN):
        for name, known in table.items():
            if known == guid:
                return name
    return None


def delegation_condition(roles: list[str]) -> str:
    """An ABAC condition (version 2.0) that lets a role administrator create and
    delete assignments of ``roles`` only, so it cannot grant itself Owner."""
    guids = ", ".join(ALLOWED[r] for r in sorted(roles))
    return (
        "((!(ActionMatches{'Microsoft.Authorization/roleAssignments/write'})) OR "
        "(@Request[Microsoft.Authorization/roleAssignments:RoleDefinitionId] "
        f"ForAnyOfAnyValues:GuidEquals {{{guids}}})) AND "
        "((!(ActionMatches{'Microsoft.Authorization/roleAssignments/delete'})) OR "
        "(@Resource[Microsoft.Authorization/roleAssignments:RoleDefinitionId] "
        f"ForAnyOfAnyValues:GuidEquals {{{guids}}}))"
    )
