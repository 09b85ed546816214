"""Azure ML compute clusters that cost nothing when idle.

Each cluster scales to zero nodes, runs as its own user-assigned identity
(the platform's; jobs reach storage, the key vault and the registry without
keys, through the workload roles granted here), has
no public IP on its nodes, no SSH, and no local (key) authentication.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import pulumi
from pulumi_azure_native import machinelearningservices

from components.grants import assign_all
from config import Cluster
from platform_stack import Identity


@dataclass(frozen=True)
class ComputeArgs:
    cluster: Cluster
    identity: Identity  # the platform's compute-<kind> identity
    resource_group_name: pulumi.Input[str]
    workspace_name: pulumi.Input[str]
    workspace_id: pulumi.Input[str]
    storage_account_id: pulumi.Input[str]
    key_vault_id: pulumi.Input[str]
    registry_id: pulumi.Input[str]
    location: str
    subscription_id: str
    idle_seconds_before_scale_down: int
    low_priority: bool
    tags: Mapping[str, str]


class ComputeCluster(pulumi.ComponentResource):
    """Outputs: ``compute_name``."""

    def __init__(self, name: str, args: ComputeArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__("mlops:azure:ComputeCluster", name, None, opts)
        tags = dict(args.tags)
        identity = args.identity
        # What a training job does as this identity: read and write data and
        # outputs, read the workspace's secrets, pull images, log metrics.
        needs = [
            ("storage", "Storage Blob Data Contributor", args.storage_account_id),
            ("keyvault", "Key Vault Secrets User", args.key_vault_id),
            ("registry", "AcrPull", args.registry_id),
            ("metrics", "AzureML Metrics Writer (preview)", args.workspace_id),
        ]
        granted = assign_all(
            f"{name}-identity",
            needs,
            principal_id=identity.principal_id,
            principal_type="ServicePrincipal",
            subscription_id=args.subscription_id,
            parent=self,
        )
        cluster = args.cluster
        compute = machinelearningservices.Compute(
            f"{name}-cluster",
            compute_name=cluster.name,
            resource_group_name=args.resource_group_name,
            workspace_name=args.workspace_name,
            location=args.location,
            identity={"type": "UserAssigned", "user_assigned_identities": [identity.id]},
            properties={
                "compute_type": "AmlCompute",
                "disable_local_auth": True,
                "properties": {
                    "vm_size": cluster.vm_size,
                    "vm_priority": "LowPriority" if args.low_priority else "Dedicated",
                    "os_type": "Linux",
                    "scale_settings": {
                        "min_node_count": 0,
                        "max_node_count": cluster.max_nodes,
                        "node_idle_time_before_scale_down": (
                            f"PT{args.idle_seconds_before_scale_down}S"
                        ),
                    },
                    "enable_node_public_ip": False,
                    "remote_login_port_public_access": "Disabled",
                },
            },
            tags=tags,
            opts=pulumi.ResourceOptions(parent=self, depends_on=granted),
        )
        self.compute_name = compute.name
        self.register_outputs({"compute_name": compute.name})
