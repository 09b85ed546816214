"""Run the Pulumi programs of both projects with no cloud and no Pulumi CLI.

``run_platform`` (platform/) and ``run_stack`` (an environment) read
``Pulumi.yaml`` and ``Pulumi.<stack>.yaml`` as the CLI would (project
defaults, then the stack's values), run ``__main__.py`` under
``pulumi.runtime.set_mocks`` and return every resource the program
declared, with its inputs as the Azure provider would receive them
(camelCase), and the stack outputs. The mocks answer the way Azure would:
ARM resource ids, principal and client ids for identities, a workspace's
immutable id; an environment's StackReference to the platform answers with
the outputs of a platform plan.
"""

from __future__ import annotations

import runpy
import sys
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pulumi
import yaml

import config as stack_config

INFRA = Path(__file__).resolve().parent
PLATFORM = INFRA / "platform"
# The platform program imports its own modules (platform_config) by plain name,
# as Pulumi runs it from its folder.
if str(PLATFORM) not in sys.path:
    sys.path.append(str(PLATFORM))

import platform_config  # noqa: E402

PLATFORM_STACK = "shared"
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
    "azure-native:machinelearningservices:Registry": (
        "registryName",
        "Microsoft.MachineLearningServices/registries",
    ),
    "azure-native:authorization:RoleAssignment": ("roleAssignmentName", ""),
}
STACK_REFERENCE = "pulumi:pulumi:StackReference"


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
    config: stack_config.InfraConfig | platform_config.PlatformConfig
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
    def __init__(self, subscription_id: str, stacks: dict[str, dict] | None = None) -> None:
        self.subscription_id = subscription_id
        self.stacks = stacks or {}  # referenced stack -> its outputs
        self.declared: list[Declared] = []
        self.references: list[str] = []

    def new_resource(self, args: pulumi.runtime.MockResourceArgs):
        if args.typ == STACK_REFERENCE:
            name = args.inputs["name"]
            self.references.append(name)
            if name not in self.stacks:
                raise LookupError(f"unknown stack {name!r}: `pulumi stack ls` names the stacks")
            return name, {"name": name, "outputs": self.stacks[name], "secretOutputNames": []}
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
        if args.typ.endswith("machinelearningservices:Workspace"):
            state["workspaceId"] = str(uuid.uuid5(uuid.NAMESPACE_URL, resource_id))
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


def stack_values(
    stack: str, overrides: dict[str, Any] | None = None, folder: Path = INFRA
) -> dict[str, str]:
    """The config of the project in ``folder`` for ``stack`` as the CLI hands it
    to the program: Pulumi.yaml defaults, then Pulumi.<stack>.yaml, then
    ``overrides``."""
    project = yaml.safe_load((folder / "Pulumi.yaml").read_text())
    values = {key: spec.get("default") for key, spec in project.get("config", {}).items()}
    stack_file = folder / f"Pulumi.{stack}.yaml"
    if not stack_file.is_file():
        raise FileNotFoundError(f"{stack_file}: no such stack (create it with `pulumi stack init`)")
    prefix = f"{project['name']}:"
    for key, value in (yaml.safe_load(stack_file.read_text()) or {}).get("config", {}).items():
        if key.startswith(prefix):
            values[key.removeprefix(prefix)] = value
    values.update(overrides or {})
    return stack_config.raw_from_yaml({k: v for k, v in values.items() if v is not None})


def run_platform(
    stack: str = PLATFORM_STACK,
    overrides: dict[str, Any] | None = None,
    subscription_id: str = SUBSCRIPTION_ID,
) -> Plan:
    """Run platform/__main__.py for ``stack`` under mocks; see the module
    docstring. Raises ``ConfigError`` for bad config, as ``pulumi up`` would."""
    values = stack_values(stack, overrides, PLATFORM)
    plan = Plan(stack, platform_config.parse(values))
    return _run(plan, PLATFORM, platform_config.PROJECT, values, AzureMocks(subscription_id))


def run_stack(
    stack: str,
    overrides: dict[str, Any] | None = None,
    subscription_id: str = SUBSCRIPTION_ID,
    platform: Plan | None = None,
) -> Plan:
    """Run the environment program (__main__.py) for ``stack`` under mocks; its
    StackReference answers with ``platform``'s outputs (by default, those of
    ``run_platform()`` in the same subscription). Raises ``ConfigError`` for
    bad config, as ``pulumi up`` would."""
    values = stack_values(stack, overrides)
    plan = Plan(stack, stack_config.parse(values, stack))
    if platform is None:
        platform = run_platform(subscription_id=subscription_id)
    mocks = AzureMocks(subscription_id, {plan.config.platform_stack: platform.outputs})
    return _run(plan, INFRA, stack_config.PROJECT, values, mocks)


def _run(plan: Plan, folder: Path, project: str, values: dict, mocks: AzureMocks) -> Plan:
    pulumi.runtime.settings.set_root_resource(None)
    pulumi.runtime.set_mocks(mocks, project=project, stack=plan.stack, preview=False)
    pulumi.runtime.set_all_config({f"{project}:{k}": v for k, v in values.items()})

    def program():
        runpy.run_path(str(folder / "__main__.py"), run_name="__main__")
        root = pulumi.runtime.get_root_resource()
        return pulumi.Output.from_input(dict(root.outputs)).apply(plan.outputs.update)

    pulumi.runtime.test(program)()
    plan.resources = list(mocks.declared)
    return plan
