"""Role assignments, made one way everywhere.

Each assignment's name (which Azure requires to be a GUID) is derived from
its scope, principal and role, so it is stable across runs and the same
grant is never made twice under two names.
"""

from __future__ import annotations

import uuid

import pulumi
from pulumi_azure_native import authorization

import roles
import state_access


def assign(
    name: str,
    *,
    role: str,
    principal_id: pulumi.Input[str],
    principal_type: str,
    scope: pulumi.Input[str],
    subscription_id: str,
    parent: pulumi.Resource,
    condition: pulumi.Input[str] | None = None,
    definition_id: pulumi.Input[str] | None = None,
) -> authorization.RoleAssignment:
    """Grant built-in ``role`` (a key of ``roles.ALLOWED``) to a principal on ``scope``;
    a custom role (``roles.REGISTRY_READER``) by its full ``definition_id``.

    ``principal_type`` is ``ServicePrincipal`` for managed identities (it spares
    Azure the directory lookup that fails while a new identity replicates) or
    ``Group``. Roles in ``roles.CONDITIONAL`` need a ``condition``; so does a
    blob role on Pulumi's state container (``state_access``)."""
    if role in roles.CONDITIONAL and not condition:
        raise ValueError(f"{name}: {role} is only granted with a condition")
    if isinstance(scope, str) and state_access.is_state_container(scope) and not condition:
        raise ValueError(f"{name}: {role} on Pulumi's state container needs a path condition")
    definition = definition_id or roles.role_definition_id(subscription_id, role)
    assignment_name = pulumi.Output.all(scope, principal_id, definition).apply(
        lambda values: str(uuid.uuid5(uuid.NAMESPACE_URL, "|".join(values)))
    )
    return authorization.RoleAssignment(
        name,
        role_assignment_name=assignment_name,
        principal_id=principal_id,
        principal_type=principal_type,
        role_definition_id=definition,
        scope=scope,
        description=f"{role}, granted by the {pulumi.get_project()} stack",
        condition=condition,
        condition_version="2.0" if condition else None,
        opts=pulumi.ResourceOptions(parent=parent),
    )


def assign_all(
    prefix: str,
    needs: list[tuple[str, str, pulumi.Input[str]]],
    *,
    principal_id: pulumi.Input[str],
    principal_type: str,
    subscription_id: str,
    parent: pulumi.Resource,
    conditions: dict[str, pulumi.Input[str]] | None = None,
) -> list[authorization.RoleAssignment]:
    """``assign`` each (slug, role, scope) of ``needs`` to one principal, naming
    the assignments ``<prefix>-<slug>``; ``conditions`` maps a role to its condition."""
    return [
        assign(
            f"{prefix}-{slug}",
            role=role,
            principal_id=principal_id,
            principal_type=principal_type,
            scope=scope,
            subscription_id=subscription_id,
            parent=parent,
            condition=(conditions or {}).get(role),
        )
        for slug, role, scope in needs
    ]
