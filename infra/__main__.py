"""An Azure Machine Learning workspace for the mlops template, one stack per
environment (dev, staging, prod), run by the environment's `infra` CI
identity: the workspace with its storage, key vault, container registry and
monitoring; CPU (and optionally GPU) clusters that scale to zero; and the
workload roles on them. The resource group, the identities and the shared
Azure ML registry come from the platform stack (platform/), read through a
StackReference. The stack outputs are what `mlops` and the workflows read
(infra/stack_env.py turns them into environment variables)."""

import pulumi
from pulumi_azure_native import authorization

import config as stack_config
import naming
import platform_stack
from components.access import Access, AccessArgs
from components.compute import ComputeArgs, ComputeCluster
from components.workspace import Workspace, WorkspaceArgs

stack = pulumi.get_stack()
config = stack_config.load(stack)
client = authorization.get_client_config()
names = naming.names(
    config.name_prefix,
    stack,
    naming.stable_suffix(client.subscription_id, stack, config.name_prefix),
)
tags = {**config.tags, "environment": stack, "managed-by": "pulumi", "project": "mlops"}
platform = platform_stack.read(config.platform_stack, stack)

workspace = Workspace(
    "mlops",
    WorkspaceArgs(
        config=config,
        names=names,
        subscription_id=client.subscription_id,
        tenant_id=client.tenant_id,
        resource_group_name=platform.resource_group_name,
        identity=platform.workload("workspace"),
        tags=tags,
        image_build_compute=config.cpu.name,
    ),
)
clusters = {
    kind: ComputeCluster(
        f"mlops-{kind}",
        ComputeArgs(
            cluster=cluster,
            identity=platform.workload(f"compute-{kind}"),
            resource_group_name=platform.resource_group_name,
            workspace_name=workspace.workspace_name,
            workspace_id=workspace.workspace_id,
            storage_account_id=workspace.storage_account_id,
            key_vault_id=workspace.key_vault_id,
            registry_id=workspace.registry_id,
            location=config.location,
            subscription_id=client.subscription_id,
            idle_seconds_before_scale_down=config.idle_seconds_before_scale_down,
            low_priority=config.low_priority_nodes,
            tags=tags,
        ),
    )
    for kind, cluster in (("cpu", config.cpu), ("gpu", config.gpu))
    if cluster is not None
}
Access(
    "mlops",
    AccessArgs(
        ml_principal_id=platform.ci_principal_id("ml"),
        workspace_id=workspace.workspace_id,
        default_container_id=workspace.default_container_id,
        subscription_id=client.subscription_id,
    ),
)

pulumi.export("subscription_id", client.subscription_id)
pulumi.export("tenant_id", client.tenant_id)
pulumi.export("location", config.location)
pulumi.export("resource_group", platform.resource_group_name)
pulumi.export("workspace_name", workspace.workspace_name)
pulumi.export("cpu_compute", clusters["cpu"].compute_name)
pulumi.export("gpu_compute", clusters["gpu"].compute_name if "gpu" in clusters else "")
pulumi.export("ci_client_ids", platform.ci_client_ids)
pulumi.export("registry_name", platform.registry_name)
