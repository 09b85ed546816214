"""The Azure ML workspace and everything it depends on.

In the environment's resource group (the platform stack's): a storage
account, a key vault, a container registry, Log Analytics with Application
Insights, and the workspace itself, running as the platform's workspace
identity, with identity-based datastore access and a managed network. The
platform grants that identity what Azure ML needs beyond workload roles;
this component adds blob data access on the storage account.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import pulumi
from pulumi_azure_native import (
    applicationinsights,
    containerregistry,
    keyvault,
    machinelearningservices,
    operationalinsights,
    storage,
)

from components.grants import assign_all
from config import InfraConfig
from naming import Names
from platform_stack import Identity

# Outbound destinations of an approved-outbound-only network: the package
# registries environments/*/conda.yml install from.
PACKAGE_REGISTRIES = {
    "pypi": "pypi.org",
    "pypi-files": "files.pythonhosted.org",
    "conda": "conda.anaconda.org",
    "conda-forge": "*.anaconda.org",
}


@dataclass(frozen=True)
class WorkspaceArgs:
    config: InfraConfig
    names: Names
    subscription_id: str
    tenant_id: str
    resource_group_name: pulumi.Input[str]
    identity: Identity  # the platform's workspace identity
    tags: Mapping[str, str]
    image_build_compute: str  # the cluster that builds images when the registry is private


class Workspace(pulumi.ComponentResource):
    """Outputs: ``workspace_name``, ``workspace_id``, ``storage_account_id``,
    ``default_container_id`` (the ``workspaceblobstore`` datastore's container),
    ``key_vault_id``, ``registry_id``."""

    def __init__(self, name: str, args: WorkspaceArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__("mlops:azure:Workspace", name, None, opts)
        config, names, tags = args.config, args.names, dict(args.tags)
        child = pulumi.ResourceOptions(parent=self)
        public = "Enabled" if config.public_workspace else "Disabled"

        where = {
            "resource_group_name": args.resource_group_name,
            "location": config.location,
            "tags": tags,
        }
        identity = args.identity
        account = storage.StorageAccount(
            f"{name}-storage",
            account_name=names.storage_account,
            kind="StorageV2",
            sku={"name": "Standard_LRS"},
            allow_blob_public_access=False,
            allow_shared_key_access=False,
            default_to_o_auth_authentication=True,
            enable_https_traffic_only=True,
            minimum_tls_version="TLS1_2",
            public_network_access=public,
            network_rule_set={"default_action": "Allow" if config.public_workspace else "Deny",
                              "bypass": "AzureServices"},
            **where,
            opts=child,
        )  # fmt: skip
        vault = keyvault.Vault(
            f"{name}-keyvault",
            vault_name=names.key_vault,
            properties={
                "tenant_id": args.tenant_id,
                "sku": {"family": "A", "name": "standard"},
                "enable_rbac_authorization": True,
                "enable_soft_delete": True,
                "soft_delete_retention_in_days": config.key_vault_retention_days,
                "enable_purge_protection": True,
                "public_network_access": public,
                "network_acls": {
                    "default_action": "Allow" if config.public_workspace else "Deny",
                    "bypass": "AzureServices",
                },
            },
            **where,
            opts=child,
        )
        # Premium: the only tier that takes the private endpoint a managed
        # network reaches a private registry through.
        registry = containerregistry.Registry(
            f"{name}-registry",
            registry_name=names.container_registry,
            sku={"name": "Premium"},
            admin_user_enabled=False,
            anonymous_pull_enabled=False,
            public_network_access=public,
            **where,
            opts=child,
        )
        logs = operationalinsights.Workspace(
            f"{name}-logs",
            workspace_name=names.log_analytics,
            sku={"name": "PerGB2018"},
            retention_in_days=config.log_retention_days,
            **where,
            opts=child,
        )
        insights = applicationinsights.Component(
            f"{name}-insights",
            resource_name_=names.app_insights,
            kind="web",
            application_type="web",
            workspace_resource_id=logs.id,
            ingestion_mode="LogAnalytics",
            disable_local_auth=True,
            retention_in_days=config.log_retention_days,
            **where,
            opts=child,
        )

        # The workspace checks its identity's access when it is created: grant first.
        principal = identity.principal_id
        granted = assign_all(
            f"{name}-identity",
            [("storage-blob", "Storage Blob Data Contributor", account.id)],
            principal_id=principal,
            principal_type="ServicePrincipal",
            subscription_id=args.subscription_id,
            parent=self,
        )

        outbound = {}
        if config.approved_outbound_only:
            outbound = {
                rule: {"type": "FQDN", "category": "UserDefined", "destination": destination}
                for rule, destination in PACKAGE_REGISTRIES.items()
            }
        network = {
            "isolation_mode": "AllowOnlyApprovedOutbound"
            if config.approved_outbound_only
            else "AllowInternetOutbound",
            "outbound_rules": outbound or None,
            "firewall_sku": "Basic" if outbound else None,
        }
        workspace = machinelearningservices.Workspace(
            f"{name}-workspace",
            workspace_name=names.workspace,
            friendly_name=f"{config.name_prefix} {config.stack}",
            kind="Default",
            sku={"name": "Basic", "tier": "Basic"},
            identity={"type": "UserAssigned", "user_assigned_identities": [identity.id]},
            primary_user_assigned_identity=identity.id,
            storage_account=account.id,
            key_vault=vault.id,
            container_registry=registry.id,
            application_insights=insights.id,
            system_datastores_auth_mode="Identity",
            public_network_access=public,
            managed_network=network,
            image_build_compute=args.image_build_compute,
            **where,
            opts=pulumi.ResourceOptions(parent=self, depends_on=granted),
        )

        # Azure ML names the default datastore's container after the workspace's
        # immutable id, known once the workspace exists.
        default_container = pulumi.Output.concat(
            account.id,
            "/blobServices/default/containers/azureml-blobstore-",
            workspace.workspace_id,
        )
        self.workspace_name = workspace.name
        self.workspace_id = workspace.id
        self.storage_account_id = account.id
        self.default_container_id = default_container
        self.key_vault_id = vault.id
        self.registry_id = registry.id
        self.register_outputs(
            {
                "workspace_name": workspace.name,
                "workspace_id": workspace.id,
                "storage_account_id": account.id,
                "default_container_id": default_container,
                "key_vault_id": vault.id,
                "registry_id": registry.id,
            }
        )
