"""What each committed environment stack creates, and the security properties
of each resource, read from what the program hands the Azure provider; its
identities and resource group come from the platform plan (conftest)."""

import pytest

import roles
from offline import run_platform, run_stack
from policy.rules import get
from tests.infra.conftest import plan_of, platform_plan


def identity(plan, name_end: str):
    """The platform's identity whose name ends with ``name_end`` in ``plan``'s stack."""
    [found] = [
        r
        for r in platform_plan().of_type("managedidentity:UserAssignedIdentity")
        if r.azure_name.endswith(name_end) and f"-{plan.stack}-" in r.azure_name
    ]
    return found


def grants(plan) -> set[tuple[str, str, str]]:
    """(principal, role, scope's last segment) of every role assignment; a
    principal is an identity's name or a group's object id."""
    names = {
        r.state["principalId"]: r.azure_name
        for r in platform_plan().of_type("managedidentity:UserAssignedIdentity")
    }
    found = set()
    for r in plan.of_type("authorization:RoleAssignment"):
        role = roles.role_name(r.inputs["roleDefinitionId"])
        scope = r.inputs["scope"].rstrip("/").rsplit("/", 1)[-1]
        found.add((names.get(r.inputs["principalId"], r.inputs["principalId"]), role, scope))
    return found


def test_every_resource_of_the_design_exists(plan):
    for short in [
        "storage:StorageAccount",
        "keyvault:Vault",
        "containerregistry:Registry",
        "operationalinsights:Workspace",
        "applicationinsights:Component",
        "machinelearningservices:Workspace",
        "machinelearningservices:Compute",
    ]:
        assert plan.one(short).inputs
    # The platform's: an environment creates no identity, group or credential.
    for short in [
        "managedidentity:UserAssignedIdentity",
        "managedidentity:FederatedIdentityCredential",
        "resources:ResourceGroup",
    ]:
        assert plan.of_type(short) == []
    groups = {r.inputs.get("resourceGroupName") for r in plan.resources} - {None}
    assert groups == {f"rg-mlops-{plan.stack}"}


def test_the_workspace_uses_its_identity_identity_datastores_and_a_managed_network(plan):
    workspace = plan.one("machinelearningservices:Workspace").inputs
    own = identity(plan, "-workspace").id
    assert workspace["identity"] == {"type": "UserAssigned", "userAssignedIdentities": [own]}
    assert workspace["primaryUserAssignedIdentity"] == own
    assert workspace["systemDatastoresAuthMode"] == "Identity"
    assert workspace["managedNetwork"]["isolationMode"] == "AllowInternetOutbound"
    for short in ["storage:StorageAccount", "keyvault:Vault", "containerregistry:Registry"]:
        assert plan.one(short).id in workspace.values()
    assert workspace["applicationInsights"] == plan.one("applicationinsights:Component").id


@pytest.mark.parametrize("stack", ["staging", "prod"])
def test_nothing_is_reachable_from_the_internet_outside_dev(stack):
    plan = plan_of(stack)
    assert plan.one("machinelearningservices:Workspace").inputs["publicNetworkAccess"] == "Disabled"
    assert plan.one("storage:StorageAccount").inputs["publicNetworkAccess"] == "Disabled"
    assert plan.one("storage:StorageAccount").inputs["networkRuleSet"]["defaultAction"] == "Deny"
    assert get(plan.one("keyvault:Vault").inputs, "properties.publicNetworkAccess") == "Disabled"
    assert plan.one("containerregistry:Registry").inputs["publicNetworkAccess"] == "Disabled"


def test_dev_is_public_so_hosted_runners_can_reach_it():
    plan = plan_of("dev")
    assert plan.one("machinelearningservices:Workspace").inputs["publicNetworkAccess"] == "Enabled"


def test_storage_takes_no_keys_no_anonymous_reads_and_only_tls_1_2(plan):
    account = plan.one("storage:StorageAccount").inputs
    assert account["allowBlobPublicAccess"] is False
    assert account["allowSharedKeyAccess"] is False
    assert account["minimumTlsVersion"] == "TLS1_2"
    assert account["enableHttpsTrafficOnly"] is True


def test_the_key_vault_uses_rbac_and_cannot_be_purged(plan):
    vault = plan.one("keyvault:Vault").inputs["properties"]
    assert vault["enableRbacAuthorization"] is True
    assert vault["enableSoftDelete"] is True
    assert vault["enablePurgeProtection"] is True
    assert not vault.get("accessPolicies")


def test_the_registry_has_no_admin_user_and_no_anonymous_pull(plan):
    registry = plan.one("containerregistry:Registry").inputs
    assert registry["adminUserEnabled"] is False
    assert registry["anonymousPullEnabled"] is False


def test_the_cluster_scales_to_zero_without_keys_public_ips_or_ssh(plan):
    compute = plan.one("machinelearningservices:Compute").inputs
    assert compute["computeName"] == "cpu-cluster"
    assert compute["identity"] == {
        "type": "UserAssigned",
        "userAssignedIdentities": [identity(plan, "-compute-cpu").id],
    }
    aml = compute["properties"]
    assert aml["computeType"] == "AmlCompute"
    assert aml["disableLocalAuth"] is True
    nodes = aml["properties"]
    assert nodes["scaleSettings"]["minNodeCount"] == 0
    assert nodes["scaleSettings"]["nodeIdleTimeBeforeScaleDown"] == "PT120S"
    assert nodes["enableNodePublicIp"] is False
    assert nodes["remoteLoginPortPublicAccess"] == "Disabled"
    assert "userAccountCredentials" not in nodes


def test_each_identity_gets_exactly_workload_roles_on_exactly_its_resources(plan):
    stack, found = plan.stack, grants(plan)
    storage = plan.one("storage:StorageAccount").azure_name
    vault = plan.one("keyvault:Vault").azure_name
    registry = plan.one("containerregistry:Registry").azure_name
    workspace = f"mlw-mlops-{stack}"
    workspace_guid = plan.one("machinelearningservices:Workspace").state["workspaceId"]
    expected = {
        (f"id-mlops-{stack}-workspace", "Storage Blob Data Contributor", storage),
        (f"id-mlops-{stack}-compute-cpu", "Storage Blob Data Contributor", storage),
        (f"id-mlops-{stack}-compute-cpu", "Key Vault Secrets User", vault),
        (f"id-mlops-{stack}-compute-cpu", "AcrPull", registry),
        (f"id-mlops-{stack}-compute-cpu", "AzureML Metrics Writer (preview)", workspace),
        (f"id-mlops-{stack}-ci-ml", "AzureML Data Scientist", workspace),
        # the default datastore's container, not the account: its uploads, the runs'
        # outputs, and what the data collector writes there (`mlops monitor` reads it)
        (f"id-mlops-{stack}-ci-ml", "Storage Blob Data Contributor",
         f"azureml-blobstore-{workspace_guid}"),
    }  # fmt: skip
    assert found == expected
    # Exactly what the platform lets this stack's infra identity grant.
    assert {role for _, role, _ in found} <= set(roles.WORKLOAD)


def test_role_assignments_use_allowlisted_roles_below_subscription_scope(plan):
    for r in plan.of_type("authorization:RoleAssignment"):
        assert roles.role_name(r.inputs["roleDefinitionId"]) in roles.ALLOWED
        assert r.inputs["roleDefinitionId"].startswith("/subscriptions/")
        assert "/resourceGroups/" in r.inputs["scope"]
        assert r.inputs["principalType"] == "ServicePrincipal"
        assert not r.inputs.get("condition")


def test_role_assignment_names_are_stable_guids(plan):
    again = run_stack(plan.stack, platform=platform_plan())
    first = sorted(r.azure_name for r in plan.of_type("authorization:RoleAssignment"))
    assert first == sorted(r.azure_name for r in again.of_type("authorization:RoleAssignment"))
    assert len(set(first)) == len(first)


def test_an_environment_the_platform_does_not_know_is_refused():
    with pytest.raises(
        Exception,
        match="the platform stack organization/mlops-platform/shared has no environment 'prod'",
    ):
        run_stack("prod", platform=run_platform(overrides={"environments": ["dev"]}))


def test_a_gpu_cluster_and_approved_outbound_only_when_configured():
    plan = run_stack(
        "prod",
        {"gpuVmSize": "Standard_NC4as_T4_v3", "approvedOutboundOnly": True},
        platform=platform_plan(),
    )
    clusters = {
        r.inputs["computeName"]: r.inputs for r in plan.of_type("machinelearningservices:Compute")
    }
    assert set(clusters) == {"cpu-cluster", "gpu-cluster"}
    assert clusters["gpu-cluster"]["properties"]["properties"]["vmSize"] == "Standard_NC4as_T4_v3"
    assert clusters["gpu-cluster"]["identity"]["userAssignedIdentities"] == [
        identity(plan, "-compute-gpu").id
    ]
    assert plan.outputs["gpu_compute"] == "gpu-cluster"
    network = plan.one("machinelearningservices:Workspace").inputs["managedNetwork"]
    assert network["isolationMode"] == "AllowOnlyApprovedOutbound"
    assert {rule["destination"] for rule in network["outboundRules"].values()} >= {
        "pypi.org",
        "files.pythonhosted.org",
    }


def test_the_outputs_hold_what_mlops_and_the_workflows_need(plan):
    outputs = plan.outputs
    assert outputs["resource_group"] == f"rg-mlops-{plan.stack}"
    assert outputs["workspace_name"] == f"mlw-mlops-{plan.stack}"
    assert outputs["cpu_compute"] == "cpu-cluster"
    assert outputs["subscription_id"] and outputs["tenant_id"] and outputs["location"]
    clients = {
        job: identity(plan, f"-ci-{job}").state["clientId"] for job in ("infra", "ml", "preview")
    }
    assert outputs["ci_client_ids"] == clients
    assert outputs["registry_name"] == platform_plan().outputs["registry_name"]


def test_names_of_every_stack_keep_azures_rules(plan):
    import naming

    for kind, short in [
        ("storage_account", "storage:StorageAccount"),
        ("key_vault", "keyvault:Vault"),
        ("container_registry", "containerregistry:Registry"),
        ("workspace", "machinelearningservices:Workspace"),
        ("log_analytics", "operationalinsights:Workspace"),
        ("compute", "machinelearningservices:Compute"),
    ]:
        assert naming.violations(kind, plan.one(short).azure_name) is None
