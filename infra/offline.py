"""Run the Pulumi program of a stack with no cloud and no Pulumi CLI.

``run_stack`` reads ``Pulumi.yaml`` and ``Pulumi.<stack>.yaml`` as the CLI
would (project defaults, then the stack's values), runs ``__main__.py``
under ``pulumi.runtime.set_mocks`` and returns every resource the program
declared, with its inputs as the Azure provider would receive them
(camelCase), and the stack outputs. The mocks answer the way Azure would:
ARM resource ids, and principal and client ids for identities.
"""

from __future__ import annotations

import runpy
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pulumi
import yaml

import config as stack_config

INFRA = Path(__file__).resolve().parent
# Stand-ins for `az account show`: the suffix of global names derives from
# the subscription, so a plan shows the real names given the real id.
SUBSCRIPTION_ID = "00000000-0000-4000-8000-000000000001"
TENANT_ID = "00000000-0000-4000-8000-000000000002"

# Pulumi type -> (input holding the Azure name, ARM resource type under the resource group)
ARM_TYPES: dict[str, tuple[str, str]] = {
    "azure-native:resources:ResourceGroup": ("resourceGroupName", ""),
    "azure-native:storage:StorageAccount": ("accountName", "Microsoft.Storage/storageAccounts"),
    "azure-native:keyvault:Vault": ("vaultName", "Microsoft.KeyVault/vaults"),
    "azure-native:containerregistry:Registry": (
        "registryName",
        "Microsoft.ContainerRegistry/registries",
    ),
    "azure-native:operationalinsights:Workspace": (
        "workspaceName",
        "Microsoft.OperationalInsights/workspaces",
    ),
    "azure-native:applicationinsights:Component": ("resourceName", "Microsoft.Insights/components"),
    "azure-native:machinelearningservices:Workspace": (
        "workspaceName",
        "Microsoft.MachineLearningServices/workspaces",
    ),
    "azure-native:machinelearningservices:Compute": (
        "computeName",
        "Microsoft.MachineLearningServices/workspaces/{workspaceName}/computes",
    ),
    "azure-native:managedidentity:UserAssignedIdentity": (
        "resourceName",
        "Microsoft.ManagedIdentity/userAssignedIdentities",
    ),
    "azure-native:managedidentity:FederatedIdentityCredential": (
        "federatedIdentityCredentialResourceName",
        "Microsoft.ManagedIdentity/userAssignedIdentities/{resourceName}/federatedIdentityCredentials",
    ),
    "azure-native:authorization:RoleAssignment": ("roleAssignmentName", ""),
}


@dataclass(frozen=True)
class Declared:
    """One resource the program declared."""

    type: str
    name: str  # Pulumi's logical name
    azure_name: str | None
    inputs: dict[str, Any]
    id: str
    state: dict[str, Any] = field(default_factory=dict)  # what Azure would answer


@dataclass
class Plan:
    stack: str
    config: stack_config.InfraConfig
    resources: list[Declared] = field(default_factory=list)
    outputs: dict[str, Any] = field(default_factory=dict)

    def of_type(self, short: str) -> list[Declared]:
        """Resources whose type ends with ``short`` (e.g. ``storage:StorageAccount``)."""
        return [r for r in self.resources if r.type.endswith(short)]

    def one(self, short: str) -> Declared:
        found = self.of_type(short)
        if len(found) != 1:
            raise LookupError(f"{len(found)} resources of type {short}, expected one")
        return found[0]


class AzureMocks(pulumi.runtime.Mocks):
    def __init__(self, subscription_id: str) -> None:
        self.subscription_id = subscription_id
        self.declared: list[Declared] = []

    def new_resource(self, args: pulumi.runtime.MockResourceArgs):
        if not args.custom:  # a component: nothing reaches Azure
            return "", {}
        key, arm_type = ARM_TYPES.get(args.typ, ("name", args.typ))
        inputs = dict(args.inputs)
        azure_name = inputs.get(key) or args.name
        resource_id = self._arm_id(args.typ, arm_type, inputs, azure_name)
        state = {**inputs, "name": azure_name, "id": resource_id}
        identity = inputs.get("identity")
        if isinstance(identity, dict) and isinstance(identity.get("userAssignedIdentities"), list):
            # Azure answers with a map of identity id -> its principal and client ids.
            state["identity"] = {
                **identity,
                "userAssignedIdentities": {i: {} for i in identity["userAssignedIdentities"]},
            }
        if args.typ.endswith("managedidentity:UserAssignedIdentity"):
            state["principalId"] = str(uuid.uuid5(uuid.NAMESPACE_URL, resource_id + "#principal"))
            state["clientId"] = str(uuid.uuid5(uuid.NAMESPACE_URL, resource_id + "#client"))
            state["tenantId"] = TENANT_ID
        self.declared.append(Declared(args.typ, args.name, azure_name, inputs, resource_id, state))
        return resource_id, state

    def _arm_id(self, typ: str, arm_type: str, inputs: dict, name: str) -> str:
        subscription = f"/subscriptions/{self.subscription_id}"
        if typ.endswith("resources:ResourceGroup"):
            return f"{subscription}/resourceGroups/{name}"
        if typ.endswith("authorization:RoleAssignment"):
            return f"{inputs['scope']}/providers/Microsoft.Authorization/roleAssignments/{name}"
        group = inputs.get("resourceGroupName", "unknown")
        return f"{subscription}/resourceGroups/{group}/providers/{arm_type.format(**inputs)}/{name}"

    def call(self, args: pulumi.runtime.MockCallArgs):
        if args.token == "azure-native:authorization:getClientConfig":
            return {
                "subscriptionId": self.subscription_id,
                "tenantId": TENANT_ID,
                "clientId": str(uuid.uuid5(uuid.NAMESPACE_URL, "offline-client")),
                "objectId": str(uuid.uuid5(uuid.NAMESPACE_URL, "offline-object")),
            }
        raise NotImplementedError(f"no offline answer for {args.token}")


def stack_values(stack: str, overrides: dict[str, Any] | None = None) -> dict[str, str]:
    """The project's config for ``stack`` as the CLI hands it to the program:
    Pulumi.yaml defaults, then Pulumi.<stack>.yaml, then ``overrides``."""
    project = yaml.safe_load((INFRA / "Pulumi.yaml").read_text())
    values = {key: spec.get("default") for key, spec in project.get("config", {}).items()}
    stack_file = INFRA / f"Pulumi.{stack}.yaml"
    if not stack_file.is_file():
        raise FileNotFoundError(f"{stack_file}: no such stack (create it with `pulumi stack init`)")
    prefix = f"{stack_config.PROJECT}:"
    for key, value in (yaml.safe_load(stack_file.read_text()) or {}).get("config", {}).items():
        if key.startswith(prefix):
            values[key.removeprefix(prefix)] = value
    values.update(overrides or {})
    return stack_config.raw_from_yaml({k: v for k, v in values.items() if v is not None})


def run_stack(
    stack: str,
    overrides: dict[str, Any] | None = None,
    subscription_id: str = SUBSCRIPTION_ID,
) -> Plan:
    """Run ``__main__.py`` for ``stack`` under mocks; see the module docstring.
    Raises ``config.ConfigError`` for bad config, as ``pulumi up`` would."""
    values = stack_values(stack, overrides)
    plan = Plan(stack, stack_config.parse(values, stack))
    mocks = AzureMocks(subscription_id)
    pulumi.runtime.settings.set_root_resource(None)
    pulumi.runtime.set_mocks(mocks, project=stack_config.PROJECT, stack=stack, preview=False)
    pulumi.runtime.set_all_config({f"{stack_config.PROJECT}:{k}": v for k, v in values.items()})

    def program():
        runpy.run_path(str(INFRA / "__main__.py"), run_name="__main__")
        root = pulumi.runtime.get_root_resource()
        return pulumi.Output.from_input(dict(root.outputs)).apply(plan.outputs.update)

    pulumi.runtime.test(program)()
    plan.resources = list(mocks.declared)
    return plan
