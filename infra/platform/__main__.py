"""The platform of the mlops template, one stack per organisation (or
subscription), applied by an administrator: for each environment, its
resource group, the identities its CI jobs (infra, ml, preview) and its
workloads (workspace, compute) run as, the CI identities' federated
credentials, and every grant on them; and the Azure ML registry the
environments share. The environment stacks read the outputs through a
StackReference and cannot change any of it."""

import sys
from pathlib import Path

# The modules both projects share (naming, roles, components ...) live in infra/.
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import pulumi
from pulumi_azure_native import authorization, resources

import bootstrap
import config as environment_config
import naming
import platform_config
import state_access
from components.environment_access import EnvironmentAccess, EnvironmentAccessArgs
from components.model_registry import ModelRegistry, ModelRegistryArgs

config = platform_config.load()
client = authorization.get_client_config()
suffix = naming.stable_suffix(client.subscription_id, "platform", config.name_prefix)
names = naming.platform_names(config.name_prefix, suffix)
tags = {**config.tags, "managed-by": "pulumi", "project": "mlops-platform"}

registry = ModelRegistry(
    "mlops",
    ModelRegistryArgs(
        registry_name=names.ml_registry,
        resource_group_name=names.registry_resource_group,
        regions=config.registry_regions,
        subscription_id=client.subscription_id,
        tags=tags,
    ),
)
identities_group = resources.ResourceGroup(
    "mlops-identities",
    resource_group_name=names.identities_resource_group,
    location=config.location,
    tags=tags,
)
state_container_id = bootstrap.state_container_id(
    client.subscription_id, config.state_resource_group, config.state_storage_account
)
environments = {
    environment: EnvironmentAccess(
        f"mlops-{environment}",
        EnvironmentAccessArgs(
            environment=environment,
            names=naming.names(
                config.name_prefix,
                environment,
                naming.stable_suffix(client.subscription_id, environment, config.name_prefix),
            ),
            location=config.location,
            identities_resource_group_name=identities_group.name,
            subjects={
                job: dict(
                    zip(
                        config.github_environments[environment, job],
                        config.federated_subjects(environment, job),
                        strict=True,
                    )
                )
                for job in platform_config.CI_JOBS
            },
            data_scientists=config.data_scientists[environment],
            registry_id=registry.registry_id,
            registry_writer=environment in config.registry_writers,
            registry_reader_role_id=registry.reader_role_id,
            state_container_id=state_container_id,
            state=state_access.StackState(
                project=environment_config.PROJECT,
                stack=environment,
                platform_project=pulumi.get_project(),
                platform_stack=pulumi.get_stack(),
            ),
            subscription_id=client.subscription_id,
            tags=tags,
        ),
    )
    for environment in config.environments
}

pulumi.export("subscription_id", client.subscription_id)
pulumi.export("tenant_id", client.tenant_id)
pulumi.export("identities_resource_group", identities_group.name)
pulumi.export("registry_name", registry.registry_name)
pulumi.export("registry_id", registry.registry_id)
pulumi.export(
    "environments",
    {
        environment: {
            "resource_group": access.resource_group_name,
            "resource_group_id": access.resource_group_id,
            "ci_client_ids": access.ci_client_ids,
            "ci_principal_ids": access.ci_principal_ids,
            "workload_identities": access.workload_identities,
        }
        for environment, access in environments.items()
    },
)
