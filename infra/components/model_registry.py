"""The Azure ML registry the environments share: dev registers the gated
model there, staging and prod deploy those same bytes and never retrain.

Azure creates the registry's storage account and container registry itself
(in a managed resource group), one per region: models can be used by
workspaces in any of ``regions``. Access is by Azure RBAC only; its public
endpoint stays on so that dev's GitHub-hosted runners reach it. Beside it, the
custom role ``roles.REGISTRY_READER`` (read assets, never write), assignable in
the registry's resource group only, for the environments that only deploy.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import pulumi
from pulumi_azure_native import authorization, machinelearningservices, resources

import roles


@dataclass(frozen=True)
class ModelRegistryArgs:
    registry_name: str
    resource_group_name: str
    regions: tuple[str, ...]  # the first is the registry's own location
    subscription_id: str
    tags: Mapping[str, str]


class ModelRegistry(pulumi.ComponentResource):
    """Outputs: ``registry_name``, ``registry_id``, ``reader_role_id`` (the full id
    of ``roles.REGISTRY_READER``)."""

    def __init__(
        self, name: str, args: ModelRegistryArgs, opts: pulumi.ResourceOptions | None = None
    ):
        super().__init__("mlops:azure:ModelRegistry", name, None, opts)
        tags = dict(args.tags)
        group = resources.ResourceGroup(
            f"{name}-rg",
            resource_group_name=args.resource_group_name,
            location=args.regions[0],
            tags=tags,
            opts=pulumi.ResourceOptions(parent=self),
        )
        registry = machinelearningservices.Registry(
            f"{name}-registry",
            registry_name=args.registry_name,
            resource_group_name=group.name,
            location=args.regions[0],
            identity={"type": "SystemAssigned"},
            public_network_access="Enabled",
            region_details=[
                {
                    "location": region,
                    "acr_details": [{"system_created_acr_account": {"acr_account_sku": "Premium"}}],
                    "storage_account_details": [
                        {
                            "system_created_storage_account": {
                                "storage_account_type": "Standard_LRS",
                                "allow_blob_public_access": False,
                                "storage_account_hns_enabled": False,
                            }
                        }
                    ],
                }
                for region in args.regions
            ],
            tags=tags,
            opts=pulumi.ResourceOptions(parent=self),
        )
        reader = authorization.RoleDefinition(
            f"{name}-reader",
            role_definition_id=group.id.apply(roles.registry_reader_guid),
            # Custom role names are unique in a tenant: one per registry.
            role_name=f"{roles.REGISTRY_READER} {args.registry_name}",
            description=f"Read the assets of Azure ML registry {args.registry_name}; no write.",
            role_type="CustomRole",
            scope=group.id,
            assignable_scopes=[group.id],
            permissions=[
                {
                    "actions": list(roles.REGISTRY_READER_ACTIONS),
                    "not_actions": [],
                    "data_actions": [],
                    "not_data_actions": [],
                }
            ],
            opts=pulumi.ResourceOptions(parent=self),
        )
        self.registry_name = registry.name
        self.registry_id = registry.id
        # Built, not read from the resource, so that it is the id Azure gives it.
        self.reader_role_id = pulumi.Output.all(reader.id, group.id).apply(
            lambda values: (
                f"/subscriptions/{args.subscription_id}/providers/Microsoft.Authorization/"
                f"roleDefinitions/{roles.registry_reader_guid(values[1])}"
            )
        )
        self.register_outputs(
            {
                "registry_name": registry.name,
                "registry_id": registry.id,
                "reader_role_id": self.reader_role_id,
            }
        )
