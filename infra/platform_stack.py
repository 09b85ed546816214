"""What an environment stack reads from the platform stack (platform/), the
one place its identities, resource group and registry come from."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pulumi


class PlatformError(ValueError):
    """The platform stack has nothing for this environment."""


@dataclass(frozen=True)
class Identity:
    id: pulumi.Output[str]
    principal_id: pulumi.Output[str]


@dataclass(frozen=True)
class Platform:
    resource_group_name: pulumi.Output[str]
    resource_group_id: pulumi.Output[str]
    ci_client_ids: pulumi.Output[dict]
    registry_name: pulumi.Output[str]
    registry_id: pulumi.Output[str]
    _workloads: pulumi.Output[dict]
    _ci_principals: pulumi.Output[dict]

    def workload(self, kind: str) -> Identity:
        """The identity workload ``kind`` (``workspace``, ``compute-cpu`` ...) runs as."""
        found = self._workloads.apply(lambda all_: all_[kind])
        return Identity(found.apply(lambda i: i["id"]), found.apply(lambda i: i["principal_id"]))

    def ci_principal_id(self, job: str) -> pulumi.Output[str]:
        return self._ci_principals.apply(lambda ids: ids[job])


def read(stack_name: str, environment: str) -> Platform:
    """The platform stack ``stack_name``'s outputs for ``environment``; fails
    with ``PlatformError`` when that stack lists no such environment."""
    reference = pulumi.StackReference(stack_name)
    mine = reference.require_output("environments").apply(
        lambda all_: _environment(all_, environment, stack_name)
    )
    return Platform(
        resource_group_name=mine.apply(lambda e: e["resource_group"]),
        resource_group_id=mine.apply(lambda e: e["resource_group_id"]),
        ci_client_ids=mine.apply(lambda e: e["ci_client_ids"]),
        registry_name=reference.require_output("registry_name"),
        registry_id=reference.require_output("registry_id"),
        _workloads=mine.apply(lambda e: e["workload_identities"]),
        _ci_principals=mine.apply(lambda e: e["ci_principal_ids"]),
    )


def _environment(environments: dict[str, Any], environment: str, stack_name: str) -> dict:
    if environment not in environments:
        raise PlatformError(
            f"the platform stack {stack_name} has no environment {environment!r} (it has "
            f"{', '.join(sorted(environments)) or 'none'}): an administrator adds it to the "
            "platform's `environments` and runs `pulumi up` in infra/platform"
        )
    return environments[environment]
