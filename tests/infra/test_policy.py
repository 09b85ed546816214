"""The policy pack's rules, called as Pulumi calls them (ResourceValidationArgs
into each policy's validate), on the resources the program declares."""

import copy

import pytest
from pulumi_policy import PolicyCustomTimeouts, PolicyResourceOptions, ResourceValidationArgs

import roles
from offline import run_stack
from policy.pack import POLICIES
from policy.rules import RULES
from tests.infra.conftest import plan_of


def violations(resource, stack: str, props=None) -> dict[str, list[str]]:
    """Policy name -> the messages it reported for ``resource``."""
    args = ResourceValidationArgs(
        resource_type=resource.type,
        props=resource.inputs if props is None else props,
        urn=f"urn:pulumi:{stack}::mlops-infra::{resource.type}::{resource.name}",
        name=resource.name,
        opts=PolicyResourceOptions(False, [], None, [], PolicyCustomTimeouts(0, 0, 0), []),
        provider=None,
    )
    found: dict[str, list[str]] = {}
    for policy in POLICIES:
        policy.validate(
            args, lambda message, urn=None, p=policy: found.setdefault(p.name, []).append(message)
        )
    return found


def test_the_pack_has_one_mandatory_policy_per_rule():
    assert [p.name for p in POLICIES] == [r.name for r in RULES]
    assert {p.enforcement_level.value for p in POLICIES} == {"mandatory"}


def test_every_committed_stack_passes_every_policy(plan):
    for resource in plan.resources:
        assert violations(resource, plan.stack) == {}, resource.name


def test_a_public_workspace_outside_dev_fails_the_right_policies_readably():
    plan = run_stack("prod", {"publicWorkspace": True})
    failed = {}
    for resource in plan.resources:
        failed.update(violations(resource, "prod"))
    assert set(failed) == {
        "storage-account-secure",
        "key-vault-secure",
        "container-registry-secure",
        "ml-workspace-secure",
    }
    assert failed["ml-workspace-secure"] == [
        "mlops-workspace: publicNetworkAccess must be 'Disabled' on stack prod "
        "(only dev may be public), not 'Enabled'"
    ]


def mutated(stack: str, short: str, path: str, value):
    [resource] = [r for r in plan_of(stack).resources if r.type.endswith(short)][:1]
    props = copy.deepcopy(resource.inputs)
    *parents, last = path.split(".")
    holder = props
    for part in parents:
        holder = holder.setdefault(part, {})
    if value is DELETE:
        holder.pop(last, None)
    else:
        holder[last] = value
    return resource, props


DELETE = object()

# Every property the security rules name, each changed to what it must not be.
INSECURE = [
    ("storage:StorageAccount", "allowBlobPublicAccess", True, "storage-account-secure"),
    ("storage:StorageAccount", "allowSharedKeyAccess", True, "storage-account-secure"),
    ("storage:StorageAccount", "allowSharedKeyAccess", DELETE, "storage-account-secure"),
    ("storage:StorageAccount", "minimumTlsVersion", "TLS1_0", "storage-account-secure"),
    ("storage:StorageAccount", "enableHttpsTrafficOnly", False, "storage-account-secure"),
    ("storage:StorageAccount", "publicNetworkAccess", "Enabled", "storage-account-secure"),
    ("keyvault:Vault", "properties.enableRbacAuthorization", False, "key-vault-secure"),
    ("keyvault:Vault", "properties.enableSoftDelete", False, "key-vault-secure"),
    ("keyvault:Vault", "properties.enablePurgeProtection", DELETE, "key-vault-secure"),
    ("keyvault:Vault", "properties.publicNetworkAccess", "Enabled", "key-vault-secure"),
    ("containerregistry:Registry", "adminUserEnabled", True, "container-registry-secure"),
    ("containerregistry:Registry", "anonymousPullEnabled", True, "container-registry-secure"),
    ("containerregistry:Registry", "publicNetworkAccess", "Enabled", "container-registry-secure"),
    ("machinelearningservices:Workspace", "publicNetworkAccess", "Enabled", "ml-workspace-secure"),
    (
        "machinelearningservices:Workspace",
        "managedNetwork.isolationMode",
        "Disabled",
        "ml-workspace-secure",
    ),
    (
        "machinelearningservices:Workspace",
        "systemDatastoresAuthMode",
        "AccessKey",
        "ml-workspace-secure",
    ),
    ("machinelearningservices:Workspace", "identity.type", "SystemAssigned", "ml-workspace-secure"),
    (
        "machinelearningservices:Workspace",
        "primaryUserAssignedIdentity",
        DELETE,
        "ml-workspace-secure",
    ),
    (
        "machinelearningservices:Compute",
        "properties.properties.scaleSettings.minNodeCount",
        1,
        "aml-compute-secure",
    ),
    (
        "machinelearningservices:Compute",
        "properties.properties.scaleSettings.nodeIdleTimeBeforeScaleDown",
        DELETE,
        "aml-compute-secure",
    ),
    ("machinelearningservices:Compute", "properties.disableLocalAuth", False, "aml-compute-secure"),
    (
        "machinelearningservices:Compute",
        "properties.properties.enableNodePublicIp",
        DELETE,
        "aml-compute-secure",
    ),
    (
        "machinelearningservices:Compute",
        "properties.properties.remoteLoginPortPublicAccess",
        "Enabled",
        "aml-compute-secure",
    ),
    (
        "machinelearningservices:Compute",
        "properties.properties.userAccountCredentials",
        {"adminUserName": "azureuser", "adminUserSshPublicKey": "ssh-rsa AAAA"},
        "aml-compute-secure",
    ),
    ("machinelearningservices:Compute", "identity.type", "SystemAssigned", "aml-compute-secure"),
    (
        "managedidentity:FederatedIdentityCredential",
        "subject",
        "repo:contoso/azureml-mlops:ref:refs/heads/main",
        "github-oidc-per-environment",
    ),
    (
        "managedidentity:FederatedIdentityCredential",
        "subject",
        "repo:contoso/azureml-mlops:environment:*",
        "github-oidc-per-environment",
    ),
    (
        "managedidentity:FederatedIdentityCredential",
        "issuer",
        "https://example.com",
        "github-oidc-per-environment",
    ),
]


@pytest.mark.parametrize(
    ("short", "path", "value", "policy"),
    INSECURE,
    ids=[f"{s.split(':')[1]}.{p}={'unset' if v is DELETE else v}" for s, p, v, _ in INSECURE],
)
def test_each_insecure_property_fails_its_policy_naming_the_property(short, path, value, policy):
    resource, props = mutated("prod", short, path, value)
    found = violations(resource, "prod", props)
    assert list(found) == [policy]
    assert path.rsplit(".", 1)[-1] in " ".join(found[policy])


def role_assignment(**changes):
    [resource] = plan_of("prod").of_type("authorization:RoleAssignment")[:1]
    return resource, {**resource.inputs, **changes}


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        (
            {"roleDefinitionId": f"/providers/x/roleDefinitions/{roles.FORBIDDEN['Owner']}"},
            "roleDefinitionId is Owner, which this project never grants",
        ),
        (
            {"roleDefinitionId": roles.FORBIDDEN["User Access Administrator"]},
            "roleDefinitionId is User Access Administrator",
        ),
        (
            {"roleDefinitionId": "/providers/x/roleDefinitions/11111111-2222-3333-4444-5"},
            "is not an allowlisted built-in role",
        ),
        ({"scope": "/subscriptions/00000000-0000-4000-8000-000000000001"}, "scope must be"),
        ({"scope": "/subscriptions/00000000-0000-4000-8000-000000000001/"}, "scope must be"),
        (
            {"scope": "/providers/Microsoft.Management/managementGroups/root"},
            "scope must be a resource group or resource",
        ),
        (
            {
                "roleDefinitionId": roles.role_definition_id("s", roles.ROLE_ADMIN),
                "condition": None,
            },
            "must carry a condition",
        ),
    ],
)
def test_role_assignments_outside_the_allowlist_or_too_wide_are_refused(changes, message):
    resource, props = role_assignment(**changes)
    found = violations(resource, "prod", props)
    assert message in " ".join(found["role-assignment-least-privilege"])
