"""Everything about one environment that its own stack must not be able to
change: its resource group, the identities its CI jobs and its workloads run
as, and the grants an administrator makes once.

The grants (all at the environment's resource group unless said otherwise):

- ``infra`` (``pulumi up`` of the environment stack): Contributor; Role
  Based Access Control Administrator limited by ``roles.delegation_condition``
  to the ``roles.WORKLOAD`` roles and the workload identities (workspace,
  compute, ``ml``); Managed Identity Operator on each workload identity (to
  attach it, not to change it); Storage Blob Data Contributor on Pulumi's
  state container, limited by ``StackState.condition`` to reading its own
  stack's state and the platform's, and writing its own stack's alone.
  Nothing on the identities' resource group: it cannot add a federated
  credential, nor change an identity.
- ``preview`` (pull requests): Reader, and Storage Blob Data Reader on the
  state container limited to the same reads (a preview takes no lock).
- ``ml``: on the shared registry, AzureML Registry User where the environment
  promotes models (``registry_writer``), else ``roles.REGISTRY_READER``: it
  deploys promoted models and cannot change them. Its workspace and blob
  grants come from the environment stack, on the exact resources.
- the workspace's identity: what Azure ML requires that is not a workload
  role (Contributor, Key Vault Administrator, Storage File Data Privileged
  Contributor). Made here, before the environment holds any resource, so at
  the resource group; it holds one vault and one storage account.
- each data scientists' group: AzureML Data Scientist and Storage Blob Data
  Reader.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import pulumi
from pulumi_azure_native import managedidentity, resources

import roles
import state_access
from components.ci_identity import CiIdentity, CiIdentityArgs
from components.grants import assign, assign_all
from naming import Names

CI_JOBS = ("infra", "ml", "preview")
WORKSPACE = "workspace"
# Every cluster kind an environment may enable gets its identity up front, so
# that turning on the GPU cluster needs no administrator.
CLUSTERS = ("cpu", "gpu")


@dataclass(frozen=True)
class EnvironmentAccessArgs:
    environment: str
    names: Names
    location: str
    identities_resource_group_name: pulumi.Input[str]
    # GitHub environment -> OIDC subject, per CI job
    subjects: Mapping[str, Mapping[str, str]]
    data_scientists: tuple[str, ...]
    registry_id: pulumi.Input[str]
    # True where models are promoted into the registry; elsewhere it is only read.
    registry_writer: bool
    registry_reader_role_id: pulumi.Input[str]
    state_container_id: str
    # Where the environment's stack keeps its state in that container.
    state: state_access.StackState
    subscription_id: str
    tags: Mapping[str, str]


def workloads() -> list[str]:
    """The workload identities of an environment: ``workspace``, ``compute-<kind>``."""
    return [WORKSPACE, *(f"compute-{kind}" for kind in CLUSTERS)]


class EnvironmentAccess(pulumi.ComponentResource):
    """Outputs: ``resource_group_name``, ``resource_group_id``, ``ci_client_ids``
    (job -> client id), ``ci_principal_ids``, ``workload_identities`` (workload ->
    id, principal_id, client_id), and ``delegation_condition``."""

    def __init__(
        self, name: str, args: EnvironmentAccessArgs, opts: pulumi.ResourceOptions | None = None
    ):
        super().__init__("mlops:azure:EnvironmentAccess", name, None, opts)
        child = pulumi.ResourceOptions(parent=self)
        tags = {**args.tags, "environment": args.environment}
        group = resources.ResourceGroup(
            f"{name}-rg",
            resource_group_name=args.names.resource_group,
            location=args.location,
            tags=tags,
            opts=child,
        )
        ci = {
            job: CiIdentity(
                f"{name}-ci-{job}",
                CiIdentityArgs(
                    identity_name=args.names.ci_identity(job),
                    resource_group_name=args.identities_resource_group_name,
                    location=args.location,
                    subjects=args.subjects[job],
                    tags=tags,
                ),
                opts=child,
            )
            for job in CI_JOBS
        }
        workload = {
            kind: managedidentity.UserAssignedIdentity(
                f"{name}-{kind}",
                resource_name_=args.names.workload_identity(kind),
                resource_group_name=args.identities_resource_group_name,
                location=args.location,
                tags=tags,
                opts=child,
            )
            for kind in workloads()
        }
        # The principals an environment stack may grant workload roles to.
        delegates = [identity.principal_id for identity in workload.values()]
        delegates.append(ci["ml"].principal_id)
        condition = pulumi.Output.all(*delegates).apply(
            lambda ids: roles.delegation_condition(roles.WORKLOAD, list(ids))
        )
        grant = {
            "subscription_id": args.subscription_id,
            "principal_type": "ServicePrincipal",
            "parent": self,
        }
        assign_all(
            f"{name}-ci-infra",
            [
                ("contributor", "Contributor", group.id),
                ("rbac", roles.ROLE_ADMIN, group.id),
                ("state", state_access.WRITER, args.state_container_id),
                *(
                    (f"attach-{kind}", "Managed Identity Operator", identity.id)
                    for kind, identity in workload.items()
                ),
            ],
            principal_id=ci["infra"].principal_id,
            conditions={
                roles.ROLE_ADMIN: condition,
                state_access.WRITER: args.state.condition(writes=True),
            },
            **grant,
        )
        assign_all(
            f"{name}-ci-preview",
            [
                ("reader", "Reader", group.id),
                ("state", state_access.READER, args.state_container_id),
            ],
            principal_id=ci["preview"].principal_id,
            conditions={state_access.READER: args.state.condition(writes=False)},
            **grant,
        )
        assign(
            f"{name}-ci-ml-registry",
            role="AzureML Registry User" if args.registry_writer else roles.REGISTRY_READER,
            definition_id=None if args.registry_writer else args.registry_reader_role_id,
            scope=args.registry_id,
            principal_id=ci["ml"].principal_id,
            **grant,
        )
        assign_all(
            f"{name}-{WORKSPACE}",
            [
                ("contributor", "Contributor", group.id),
                ("keyvault", "Key Vault Administrator", group.id),
                ("file", "Storage File Data Privileged Contributor", group.id),
            ],
            principal_id=workload[WORKSPACE].principal_id,
            **grant,
        )
        for index, group_id in enumerate(args.data_scientists):
            assign_all(
                f"{name}-data-scientists-{index}",
                [
                    ("workspace", "AzureML Data Scientist", group.id),
                    ("storage", "Storage Blob Data Reader", group.id),
                ],
                principal_id=group_id,
                principal_type="Group",
                subscription_id=args.subscription_id,
                parent=self,
            )

        self.resource_group_name = group.name
        self.resource_group_id = group.id
        self.ci_client_ids = pulumi.Output.from_input({j: i.client_id for j, i in ci.items()})
        self.ci_principal_ids = pulumi.Output.from_input({j: i.principal_id for j, i in ci.items()})
        self.workload_identities = pulumi.Output.from_input(
            {
                kind: {"id": i.id, "principal_id": i.principal_id, "client_id": i.client_id}
                for kind, i in workload.items()
            }
        )
        self.delegation_condition = condition
        self.register_outputs(
            {
                "resource_group_name": group.name,
                "resource_group_id": group.id,
                "ci_client_ids": self.ci_client_ids,
                "ci_principal_ids": self.ci_principal_ids,
                "workload_identities": self.workload_identities,
                "delegation_condition": condition,
            }
        )
