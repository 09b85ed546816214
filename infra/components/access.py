"""Who may do what: the data scientists' group and the CI identities.

Each CI job signs in from GitHub Actions with OIDC as its own user-assigned
identity (no client secret exists); Azure accepts the token only when its
subject is ``repo:OWNER/REPO:environment:ENV`` for one of the job's
environments. The identities get:

- infra (``pulumi up``): Contributor on the resource group, and Role Based
  Access Control Administrator there, limited by a condition to the roles in
  ``roles.ALLOWED`` other than itself;
- ml (train, gate, deploy): AzureML Data Scientist on the workspace, and
  Storage Blob Data Contributor on its storage to upload data;
- preview (pull requests): Reader on the resource group, and Storage Blob
  Data Reader. It reads only.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass

import pulumi
from pulumi_azure_native import managedidentity

import github_oidc
import roles
from components.grants import assign_all
from config import CI_JOBS, InfraConfig
from naming import Names


@dataclass(frozen=True)
class AccessArgs:
    config: InfraConfig
    names: Names
    subscription_id: str
    resource_group_name: pulumi.Input[str]
    resource_group_id: pulumi.Input[str]
    workspace_id: pulumi.Input[str]
    storage_account_id: pulumi.Input[str]
    tags: Mapping[str, str]


def credential_name(environment: str) -> str:
    """A federated credential's name for a GitHub environment (Azure allows
    3-120 letters, digits, - and _)."""
    return ("github-" + re.sub(r"[^A-Za-z0-9_-]", "-", environment))[:120]


def ci_needs(args: AccessArgs) -> dict[str, list[tuple[str, str, pulumi.Input[str]]]]:
    """CI job -> (slug, role, scope) of each role it gets."""
    return {
        "infra": [
            ("contributor", "Contributor", args.resource_group_id),
            ("rbac", roles.ROLE_ADMIN, args.resource_group_id),
        ],
        "ml": [
            ("workspace", "AzureML Data Scientist", args.workspace_id),
            ("storage", "Storage Blob Data Contributor", args.storage_account_id),
        ],
        "preview": [
            ("reader", "Reader", args.resource_group_id),
            ("storage", "Storage Blob Data Reader", args.storage_account_id),
        ],
    }


class Access(pulumi.ComponentResource):
    """Outputs: ``ci_client_ids`` (job -> client id), ``ci_principal_ids``."""

    def __init__(self, name: str, args: AccessArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__("mlops:azure:Access", name, None, opts)
        config = args.config
        delegable = sorted(set(roles.ALLOWED) - roles.CONDITIONAL)
        client_ids, principal_ids = {}, {}
        needs = ci_needs(args)
        for job in CI_JOBS:
            identity = managedidentity.UserAssignedIdentity(
                f"{name}-ci-{job}",
                resource_name_=args.names.ci_identity(job),
                resource_group_name=args.resource_group_name,
                location=config.location,
                tags=dict(args.tags),
                opts=pulumi.ResourceOptions(parent=self),
            )
            previous: list[pulumi.Resource] = []
            for environment, subject in zip(
                config.github_environments[job], config.federated_subjects(job), strict=True
            ):
                # Azure refuses concurrent credential writes on one identity: one at a time.
                credential = managedidentity.FederatedIdentityCredential(
                    f"{name}-ci-{job}-{environment}",
                    federated_identity_credential_resource_name=credential_name(environment),
                    resource_name_=identity.name,
                    resource_group_name=args.resource_group_name,
                    issuer=github_oidc.ISSUER,
                    subject=subject,
                    audiences=[github_oidc.AUDIENCE],
                    opts=pulumi.ResourceOptions(parent=identity, depends_on=previous),
                )
                previous = [credential]
            assign_all(
                f"{name}-ci-{job}",
                needs[job],
                principal_id=identity.principal_id,
                principal_type="ServicePrincipal",
                subscription_id=args.subscription_id,
                parent=self,
                conditions={roles.ROLE_ADMIN: roles.delegation_condition(delegable)},
            )
            client_ids[job] = identity.client_id
            principal_ids[job] = identity.principal_id

        for index, group in enumerate(config.data_scientists_group_object_ids):
            assign_all(
                f"{name}-data-scientists-{index}",
                [
                    ("workspace", "AzureML Data Scientist", args.workspace_id),
                    ("storage", "Storage Blob Data Reader", args.storage_account_id),
                ],
                principal_id=group,
                principal_type="Group",
                subscription_id=args.subscription_id,
                parent=self,
            )

        self.ci_client_ids = pulumi.Output.from_input(client_ids)
        self.ci_principal_ids = pulumi.Output.from_input(principal_ids)
        self.register_outputs(
            {"ci_client_ids": self.ci_client_ids, "ci_principal_ids": self.ci_principal_ids}
        )
