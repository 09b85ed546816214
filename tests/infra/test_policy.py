"""The policy pack's rules, called as Pulumi calls them (ResourceValidationArgs
with the committed policy/config.json into each policy's validate), on the
resources both programs declare."""

import copy
import json

import pytest
import yaml
from pulumi_policy import PolicyCustomTimeouts, PolicyResourceOptions, ResourceValidationArgs

import roles
import state_access
from offline import PLATFORM, run_stack
from policy.pack import POLICIES
from policy.rules import RULES, committed_config
from tests.infra.conftest import STACKS, plan_of, platform_plan


def violations(resource, stack: str, props=None, config=None) -> dict[str, list[str]]:
    """Policy name -> the messages it reported for ``resource``."""
    config = committed_config() if config is None else config
    found: dict[str, list[str]] = {}
    for policy in POLICIES:
        args = ResourceValidationArgs(
            resource_type=resource.type,
            props=resource.inputs if props is None else props,
            urn=f"urn:pulumi:{stack}::mlops-infra::{resource.type}::{resource.name}",
            name=resource.name,
            opts=PolicyResourceOptions(False, [], None, [], PolicyCustomTimeouts(0, 0, 0), []),
            provider=None,
            config=config.get(policy.name, {}),
        )
        policy.validate(
            args, lambda message, urn=None, p=policy: found.setdefault(p.name, []).append(message)
        )
    return found


def test_the_pack_has_one_mandatory_policy_per_rule():
    assert [p.name for p in POLICIES] == [r.name for r in RULES]
    assert {p.enforcement_level.value for p in POLICIES} == {"mandatory"}


def test_the_rules_config_is_declared_and_committed():
    config = committed_config()
    for rule, policy in zip(RULES, POLICIES, strict=True):
        declared = set(rule.config_schema)
        assert declared == set(config.get(rule.name, {})), rule.name
        assert (policy.config_schema is None) == (not declared)
    # The one home of the repository: the platform program reads it from here.
    assert (
        "githubRepository" not in yaml.safe_load((PLATFORM / "Pulumi.yaml").read_text())["config"]
    )
    repository = config["github-oidc-per-environment"]["githubRepository"]
    assert platform_plan().config.github_repository == repository


def test_every_committed_stack_passes_every_policy(plan):
    for resource in plan.resources:
        assert violations(resource, plan.stack) == {}, resource.name


def test_the_platform_stack_passes_every_policy():
    for resource in platform_plan().resources:
        assert violations(resource, "shared") == {}, resource.name


def public_failures(stack: str, config=None) -> dict[str, list[str]]:
    plan = run_stack(stack, {"publicWorkspace": True}, platform=platform_plan())
    failed: dict[str, list[str]] = {}
    for resource in plan.resources:
        for policy, messages in violations(resource, stack, config=config).items():
            failed.setdefault(policy, []).extend(messages)
    return failed


def test_a_public_workspace_outside_the_public_stacks_fails_readably():
    failed = public_failures("prod")
    assert set(failed) == {"private-outside-public-stacks"}
    assert len(failed["private-outside-public-stacks"]) == 4
    assert (
        "mlops-workspace: publicNetworkAccess must be 'Disabled' on stack prod "
        "(publicStacks in policy/config.json allows dev), not 'Enabled'"
    ) in failed["private-outside-public-stacks"]


def test_which_stacks_may_be_public_is_config_not_a_name():
    config = committed_config()
    config["private-outside-public-stacks"] = {"publicStacks": ["prod"]}
    assert public_failures("prod", config) == {}
    config["private-outside-public-stacks"] = {"publicStacks": []}
    assert "allows no stack" in " ".join(
        public_failures("dev", config)["private-outside-public-stacks"]
    )


def mutated(stack: str, short: str, path: str, value):
    # Federated credentials are the platform's; everything else an environment's.
    candidates = [r for r in plan_of(stack).resources if r.type.endswith(short)]
    candidates = candidates or [r for r in platform_plan().resources if r.type.endswith(short)]
    resource = candidates[0]
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
    ("storage:StorageAccount", "publicNetworkAccess", "Enabled", "private-outside-public-stacks"),
    ("keyvault:Vault", "properties.enableRbacAuthorization", False, "key-vault-secure"),
    ("keyvault:Vault", "properties.enableSoftDelete", False, "key-vault-secure"),
    ("keyvault:Vault", "properties.enablePurgeProtection", DELETE, "key-vault-secure"),
    (
        "keyvault:Vault",
        "properties.publicNetworkAccess",
        "Enabled",
        "private-outside-public-stacks",
    ),
    ("containerregistry:Registry", "adminUserEnabled", True, "container-registry-secure"),
    ("containerregistry:Registry", "anonymousPullEnabled", True, "container-registry-secure"),
    (
        "containerregistry:Registry",
        "publicNetworkAccess",
        "Enabled",
        "private-outside-public-stacks",
    ),
    (
        "machinelearningservices:Workspace",
        "publicNetworkAccess",
        "Enabled",
        "private-outside-public-stacks",
    ),
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
        "ml-compute-secure",
    ),
    (
        "machinelearningservices:Compute",
        "properties.properties.scaleSettings.nodeIdleTimeBeforeScaleDown",
        DELETE,
        "ml-compute-secure",
    ),
    ("machinelearningservices:Compute", "properties.disableLocalAuth", False, "ml-compute-secure"),
    (
        "machinelearningservices:Compute",
        "properties.properties.enableNodePublicIp",
        DELETE,
        "ml-compute-secure",
    ),
    (
        "machinelearningservices:Compute",
        "properties.properties.remoteLoginPortPublicAccess",
        "Enabled",
        "ml-compute-secure",
    ),
    (
        "machinelearningservices:Compute",
        "properties.properties.userAccountCredentials",
        {"adminUserName": "azureuser", "adminUserSshPublicKey": "ssh-rsa AAAA"},
        "ml-compute-secure",
    ),
    ("machinelearningservices:Compute", "identity.type", "SystemAssigned", "ml-compute-secure"),
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
        "subject",
        "repo:someone-else/azureml-mlops:environment:prod",
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
            "condition of Role Based Access Control Administrator must be exactly",
        ),
    ],
)
def test_role_assignments_outside_the_allowlist_or_too_wide_are_refused(changes, message):
    resource, props = role_assignment(**changes)
    found = violations(resource, "prod", props)
    assert message in " ".join(found["role-assignment-least-privilege"])


def compute_instance(**properties):
    """A compute instance as the provider would receive it, secure unless changed."""
    [cluster] = plan_of("prod").of_type("machinelearningservices:Compute")
    secure = {
        "enableNodePublicIp": False,
        "sshSettings": {"sshPublicAccess": "Disabled"},
        "idleTimeBeforeShutdown": "PT30M",
        "vmSize": "Standard_DS3_v2",
    }
    props = {
        **cluster.inputs,
        "properties": {
            "computeType": "ComputeInstance",
            "disableLocalAuth": True,
            "properties": {**secure, **properties},
        },
    }
    return cluster, props


def test_a_secure_compute_instance_passes():
    cluster, props = compute_instance()
    assert violations(cluster, "prod", props) == {}


@pytest.mark.parametrize(
    ("change", "named"),
    [
        ({"sshSettings": {"sshPublicAccess": "Enabled", "adminPublicKey": "ssh-rsa AAAA"}},
         "sshSettings.sshPublicAccess"),
        ({"sshSettings": {"sshPublicAccess": "Disabled", "adminPublicKey": "ssh-rsa AAAA"}},
         "sshSettings.adminPublicKey"),
        ({"enableNodePublicIp": True}, "enableNodePublicIp"),
        ({"idleTimeBeforeShutdown": None}, "idleTimeBeforeShutdown"),
    ],
)  # fmt: skip
def test_a_compute_instance_with_ssh_or_a_public_ip_fails_naming_the_property(change, named):
    cluster, props = compute_instance(**change)
    found = violations(cluster, "prod", props)
    assert list(found) == ["ml-compute-secure"]
    assert named in " ".join(found["ml-compute-secure"])


@pytest.mark.parametrize("kind", ["VirtualMachine", "Kubernetes", "AKS", "Databricks"])
def test_computes_whose_keys_and_network_cannot_be_checked_are_refused(kind):
    cluster = plan_of("prod").one("machinelearningservices:Compute")
    props = {**cluster.inputs, "properties": {"computeType": kind, "properties": {}}}
    found = violations(cluster, "prod", props)
    assert "properties.computeType must be AmlCompute or ComputeInstance" in " ".join(
        found["ml-compute-secure"]
    )


def role_admin():
    """The platform's conditioned Role Based Access Control Administrator grant (prod's infra)."""
    return next(
        r
        for r in platform_plan().of_type("authorization:RoleAssignment")
        if roles.role_name(r.inputs["roleDefinitionId"]) == roles.ROLE_ADMIN
    )


WORKLOAD_PRINCIPAL = "3a39cfac-e74a-5d85-b591-997f307725c5"


@pytest.mark.parametrize(
    ("condition", "message"),
    [
        ("@Request[Microsoft.Authorization/roleAssignments:RoleDefinitionId] "
         "ForAnyOfAnyValues:GuidNotEquals {8e3af657-a8ff-443c-a75c-2fe8c4bcb635}",
         "condition of Role Based Access Control Administrator must be exactly"),
        (roles.delegation_condition([*roles.WORKLOAD, "Key Vault Administrator"],
                                    [WORKLOAD_PRINCIPAL]),
         "must be exactly the delegation condition"),
        (roles.delegation_condition(roles.WORKLOAD, []), "must be exactly the delegation"),
        (roles.delegation_condition(roles.WORKLOAD, [WORKLOAD_PRINCIPAL]).replace(
            "@Resource[Microsoft.Authorization/roleAssignments:PrincipalId] "
            "ForAnyOfAnyValues:GuidEquals", "@Resource[Microsoft.Authorization/roleAssignments:"
            "PrincipalId] ForAnyOfAnyValues:GuidNotEquals"),
         "must be exactly the delegation condition"),
    ],
)  # fmt: skip
def test_a_role_administrator_condition_other_than_the_expected_fails(condition, message):
    admin = role_admin()
    found = violations(admin, "shared", {**admin.inputs, "condition": condition})
    assert message in " ".join(found["role-assignment-least-privilege"])
    assert "condition" in " ".join(found["role-assignment-least-privilege"])


def test_a_role_administrator_may_not_delegate_to_itself():
    admin = role_admin()
    itself = admin.inputs["principalId"]
    condition = roles.delegation_condition(roles.WORKLOAD, [WORKLOAD_PRINCIPAL, itself])
    found = violations(admin, "shared", {**admin.inputs, "condition": condition})
    assert found["role-assignment-least-privilege"] == [
        f"{admin.name}: condition of Role Based Access Control Administrator must not name "
        "its own principalId"
    ]


def test_a_condition_on_another_role_or_the_wrong_version_fails():
    admin = role_admin()
    found = violations(admin, "shared", {**admin.inputs, "conditionVersion": "1.0"})
    assert "conditionVersion must be '2.0'" in " ".join(found["role-assignment-least-privilege"])
    resource, props = role_assignment(condition=admin.inputs["condition"], conditionVersion="2.0")
    found = violations(resource, "prod", props)
    assert "condition must be unset" in " ".join(found["role-assignment-least-privilege"])


def test_federated_subjects_must_name_the_configured_repository():
    [credential] = platform_plan().of_type("managedidentity:FederatedIdentityCredential")[:1]
    config = json.loads(json.dumps(committed_config()))
    config["github-oidc-per-environment"]["githubRepository"] = "acme/fork"
    found = violations(credential, "shared", config=config)
    assert "subject must be repo:acme/fork:environment:ENV" in " ".join(
        found["github-oidc-per-environment"]
    )


def registry_reader():
    (reader,) = platform_plan().of_type("authorization:RoleDefinition")
    return reader


@pytest.mark.parametrize(
    ("change", "named"),
    [
        ({"actions": ["Microsoft.MachineLearningServices/registries/assets/*"]}, "permissions"),
        ({"dataActions": ["Microsoft.Storage/*"]}, "permissions"),
        ({"notActions": ["Microsoft.MachineLearningServices/registries/delete"]}, "permissions"),
    ],
)
def test_a_custom_role_that_could_write_fails_naming_its_permissions(change, named):
    reader = registry_reader()
    (permissions,) = reader.inputs["permissions"]
    props = {**reader.inputs, "permissions": [{**permissions, **change}]}
    found = violations(reader, "shared", props)["custom-role-read-only"]
    assert found and all(named in message for message in found), found


def test_a_custom_role_assignable_beyond_one_resource_group_fails():
    reader = registry_reader()
    props = {
        **reader.inputs,
        "assignableScopes": ["/subscriptions/00000000-0000-4000-8000-000000000001"],
    }
    found = violations(reader, "shared", props)["custom-role-read-only"]
    assert any("assignableScopes must be one resource group" in m for m in found), found


def test_the_reader_role_is_granted_only_in_the_resource_group_it_was_defined_for():
    plan = platform_plan()
    (grant,) = [
        r
        for r in plan.of_type("authorization:RoleAssignment")
        if r.name == "mlops-prod-ci-ml-registry"
    ]
    assert violations(grant, "shared") == {}
    elsewhere = grant.inputs["scope"].replace("rg-mlops-registry", "rg-other")
    found = violations(grant, "shared", {**grant.inputs, "scope": elsewhere})
    assert "is not an allowlisted built-in role" in " ".join(
        found["role-assignment-least-privilege"]
    )


def state_grant(job: str = "infra", stack: str = "dev"):
    """The platform's grant to an environment's CI identity on Pulumi's state container."""
    [grant] = [
        r
        for r in platform_plan().of_type("authorization:RoleAssignment")
        if r.name == f"mlops-{stack}-ci-{job}-state"
    ]
    assert state_access.is_state_container(grant.inputs["scope"])
    return grant


OWNER = f"/providers/Microsoft.Authorization/roleDefinitions/{state_access.OWNER_GUID}"


@pytest.mark.parametrize(
    ("job", "changes", "message"),
    [
        ("infra", {"condition": None, "conditionVersion": None},
         "one environment's identity rewrites another's state"),
        # The readers' condition leaves every write of the contributor unlimited.
        ("infra", {"condition": state_grant("preview").inputs["condition"]},
         "limiting its reads and writes to one stack's paths"),
        ("infra", {"condition": state_grant().inputs["condition"].replace(
            ".pulumi/locks/organization/mlops-infra/dev/*", ".pulumi/locks/*")},
         "must be exactly a condition of infra/state_access.py"),
        ("infra", {"roleDefinitionId": OWNER}, "Owner, which Pulumi's state container never gets"),
        ("preview", {"condition": None, "conditionVersion": None},
         "one environment's identity reads another's state"),
        ("infra", {"conditionVersion": "1.0"}, "conditionVersion must be '2.0'"),
    ],
)  # fmt: skip
def test_a_blob_role_on_the_shared_state_container_without_one_stacks_limit_fails(
    job, changes, message
):
    grant = state_grant(job)
    found = violations(grant, "shared", {**grant.inputs, **changes})
    assert message in " ".join(found["role-assignment-least-privilege"])


def test_a_stack_whose_environments_share_the_state_unlimited_is_refused():
    # Every state grant of the platform stack as it was before the path
    # conditions: each environment's CI could rewrite the others' state.
    refused = {
        grant.name
        for grant in platform_plan().of_type("authorization:RoleAssignment")
        if state_access.is_state_container(grant.inputs["scope"])
        and violations(grant, "shared", {**grant.inputs, "condition": None})
    }
    assert refused == {f"mlops-{s}-ci-{job}-state" for s in STACKS for job in ("infra", "preview")}


def test_the_state_condition_is_for_the_state_container_only():
    grant = state_grant()
    elsewhere = grant.inputs["scope"].replace("/pulumi-state", "/datasets")
    found = violations(grant, "shared", {**grant.inputs, "scope": elsewhere})
    assert "condition must be unset on Storage Blob Data Contributor" in " ".join(
        found["role-assignment-least-privilege"]
    )
