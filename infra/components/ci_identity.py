"""One identity a GitHub Actions job signs in as, with OIDC.

No client secret exists: Azure accepts a token only when its subject is
``repo:OWNER/REPO:environment:ENV`` for one of the identity's GitHub
environments (one federated credential each).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass

import pulumi
from pulumi_azure_native import managedidentity

import github_oidc


@dataclass(frozen=True)
class CiIdentityArgs:
    identity_name: str
    resource_group_name: pulumi.Input[str]
    location: str
    # GitHub environment -> the token subject it is trusted for
    subjects: Mapping[str, str]
    tags: Mapping[str, str]


def credential_name(environment: str) -> str:
    """A federated credential's name for a GitHub environment (Azure allows
    3-120 letters, digits, - and _)."""
    return ("github-" + re.sub(r"[^A-Za-z0-9_-]", "-", environment))[:120]


class CiIdentity(pulumi.ComponentResource):
    """Outputs: ``id``, ``principal_id``, ``client_id``."""

    def __init__(self, name: str, args: CiIdentityArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__("mlops:azure:CiIdentity", name, None, opts)
        identity = managedidentity.UserAssignedIdentity(
            name,
            resource_name_=args.identity_name,
            resource_group_name=args.resource_group_name,
            location=args.location,
            tags=dict(args.tags),
            opts=pulumi.ResourceOptions(parent=self),
        )
        previous: list[pulumi.Resource] = []
        for environment, subject in args.subjects.items():
            # Azure refuses concurrent credential writes on one identity: one at a time.
            credential = managedidentity.FederatedIdentityCredential(
                f"{name}-{environment}",
                federated_identity_credential_resource_name=credential_name(environment),
                resource_name_=identity.name,
                resource_group_name=args.resource_group_name,
                issuer=github_oidc.ISSUER,
                subject=subject,
                audiences=[github_oidc.AUDIENCE],
                opts=pulumi.ResourceOptions(parent=identity, depends_on=previous),
            )
            previous = [credential]
        self.id = identity.id
        self.principal_id = identity.principal_id
        self.client_id = identity.client_id
        self.register_outputs(
            {
                "id": identity.id,
                "principal_id": identity.principal_id,
                "client_id": identity.client_id,
            }
        )
