"""Print what a stack would create, and the policy verdicts, with no cloud access.

    .venv/bin/python infra/plan.py prod [--subscription-id ID] [--set KEY=VALUE ...]
    .venv/bin/python infra/plan.py --project platform shared

Runs the Pulumi program of an environment stack (or, with ``--project
platform``, of the platform stack) under mocks (offline.py): each resource
with its type, Azure name and security properties, then every policy of
policy/rules.py, with policy/config.json (the platform's: the file its
``policyConfig`` names), and the resources it checked.
Exits 1 if a policy fails, as `pulumi preview --policy-pack policy` would.
An environment's reference to the platform stack is answered by the
committed platform stack's plan. Global names end in a suffix derived from
the subscription: pass yours to see the real ones. ``--set`` tries a config
value of the stack's project without editing the stack file.
"""

from __future__ import annotations

import argparse
import json
import sys
import textwrap
from pathlib import Path

import yaml

sys.path.insert(0, str(Path(__file__).resolve().parent))

import offline
import state_access
from config import ConfigError
from policy.rules import RULES, get, load_config, verdicts
from roles import role_name

# Per resource type, the properties a reviewer checks.
SHOWN: dict[str, list[str]] = {
    "storage:StorageAccount": [
        "publicNetworkAccess", "allowBlobPublicAccess", "allowSharedKeyAccess",
        "minimumTlsVersion", "enableHttpsTrafficOnly",
    ],
    "keyvault:Vault": [
        "properties.publicNetworkAccess", "properties.enableRbacAuthorization",
        "properties.enableSoftDelete", "properties.enablePurgeProtection",
        "properties.softDeleteRetentionInDays",
    ],
    "containerregistry:Registry": [
        "sku.name", "publicNetworkAccess", "adminUserEnabled", "anonymousPullEnabled",
    ],
    "machinelearningservices:Workspace": [
        "publicNetworkAccess", "managedNetwork.isolationMode", "systemDatastoresAuthMode",
        "identity.type",
    ],
    "machinelearningservices:Compute": [
        "properties.properties.vmSize", "properties.properties.scaleSettings.minNodeCount",
        "properties.properties.scaleSettings.maxNodeCount",
        "properties.properties.scaleSettings.nodeIdleTimeBeforeScaleDown",
        "properties.disableLocalAuth", "properties.properties.enableNodePublicIp",
        "properties.properties.remoteLoginPortPublicAccess",
    ],
    "applicationinsights:Component": ["disableLocalAuth", "ingestionMode"],
    "operationalinsights:Workspace": ["retentionInDays"],
    "managedidentity:FederatedIdentityCredential": ["subject"],
    "machinelearningservices:Registry": ["publicNetworkAccess"],
    "authorization:RoleDefinition": ["roleName", "permissions"],
}  # fmt: skip


def describe(resource: offline.Declared) -> str:
    short = resource.type.removeprefix("azure-native:")
    if short == "authorization:RoleAssignment":
        full_scope = str(resource.inputs.get("scope", ""))
        definition = str(resource.inputs.get("roleDefinitionId", ""))
        role = role_name(definition, full_scope) or "unknown role"
        scope = full_scope.split("/providers/")[-1]
        return f"{role} for {resource.name} on {scope or 'resource group'}{_limit(resource)}"
    if short == "machinelearningservices:Registry":
        regions = [r.get("location") for r in resource.inputs.get("regionDetails") or []]
        return f"regions={','.join(regions)}, " + ", ".join(
            f"{path}={get(resource.inputs, path)}" for path in SHOWN[short]
        )
    details = [
        f"{path.rsplit('.', 1)[-1]}={_plain(get(resource.inputs, path))}"
        for path in SHOWN.get(short, [])
    ]
    return ", ".join(details)


def _limit(assignment: offline.Declared) -> str:
    condition = assignment.inputs.get("condition")
    if not condition:
        return ""
    state = state_access.parse(str(condition))
    if state is None:
        return " (conditioned: workload roles to workload identities)"
    stack, writes = state
    own = f"{stack.project}/{stack.stack}"
    reads = f"{own}'s state and {stack.platform_project}/{stack.platform_stack}'s"
    if writes:
        return f" (conditioned: writes only {own}'s state; reads only {reads})"
    return f" (conditioned: reads only {reads})"


def _plain(value: object) -> object:
    # Numbers inside union-typed inputs reach the provider as floats.
    return int(value) if isinstance(value, float) and value.is_integer() else value


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("stack", nargs="?", help="default: dev, or shared with --project platform")
    parser.add_argument("--project", choices=("environment", "platform"), default="environment")
    parser.add_argument("--subscription-id", default=offline.SUBSCRIPTION_ID)
    parser.add_argument(
        "--set", action="append", default=[], metavar="KEY=VALUE",
        help="override a config value (YAML: true, 3, [a, b])",
    )  # fmt: skip
    args = parser.parse_args(argv)
    overrides = {}
    for item in args.set:
        key, sep, value = item.partition("=")
        if not sep:
            parser.error(f"--set {item!r}: expected KEY=VALUE")
        overrides[key.split(":", 1)[-1]] = yaml.safe_load(value)
    try:
        if args.project == "platform":
            stack = args.stack or offline.PLATFORM_STACK
            plan = offline.run_platform(stack, overrides, subscription_id=args.subscription_id)
        else:
            plan = offline.run_stack(
                args.stack or "dev", overrides, subscription_id=args.subscription_id
            )
    except (ConfigError, FileNotFoundError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    print(
        f"{args.project} stack {plan.stack}: {len(plan.resources)} resources "
        f"in {plan.config.location}\n"
    )
    # Role assignments are named by a generated id: sorted by what they grant.
    rows = sorted(
        plan.resources,
        key=lambda r: (
            r.type,
            describe(r) if r.type.endswith(":RoleAssignment") else r.azure_name or "",
        ),
    )
    width = max(len(r.type.removeprefix("azure-native:")) for r in rows)
    for resource in rows:
        short = resource.type.removeprefix("azure-native:")
        name = resource.azure_name if short != "authorization:RoleAssignment" else ""
        print(f"  + {short:{width}}  {name}  {describe(resource)}".rstrip())
    print("\npolicies (mandatory):")
    # The platform's pack config is the file its repository came from.
    policy_config = load_config(plan.config.policy_config) if args.project == "platform" else None
    failed = 0
    for rule in RULES:
        checked = [r for r in plan.resources if r.type in rule.resource_types]
        problems = [
            f"{r.name}: {message}"
            for r in checked
            for message in verdicts(r.type, r.inputs, plan.stack, policy_config)[rule.name]
        ]
        failed += bool(problems)
        verdict = "FAIL" if problems else "pass"
        print(f"  {verdict}  {rule.name} ({len(checked)} resources)")
        for problem in problems:
            print(f"        - {problem}")
    print("\noutputs:")
    shown = json.dumps(plan.outputs, indent=2, sort_keys=True, default=str, ensure_ascii=False)
    print(textwrap.indent(shown, "  "))
    if failed:
        print(f"\n{failed} policies failed: `pulumi up` would be refused", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
