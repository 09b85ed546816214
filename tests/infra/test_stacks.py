"""What each committed stack creates, and the security properties of each
resource, read from what the program hands the Azure provider."""

import pytest

import roles
from offline import run_stack
from policy.rules import get
from tests.infra.conftest import plan_of


def identity(plan, name_end: str):
    [found] = [
        r
        for r in plan.of_type("managedidentity:UserAssignedIdentity")
        if r.azure_name.endswith(name_end)
    ]
    return found


def grants(plan) -> set[tuple[str, str, str]]:
    """(principal, role, scope's last segment) of every role assignment; a
    principal is an identity's name or a group's object id."""
    names = {
        r.state["principalId"]: r.azure_name
        for r in plan.of_type("managedidentity:UserAssignedIdentity")
    }
    found = set()
    for r in plan.of_type("authorization:RoleAssignment"):
        role = roles.role_name(r.inputs["roleDefinitionId"])
        scope = r.inputs["scope"].rstrip("/").rsplit("/", 1)[-1]
        found.add((names.get(r.inputs["principalId"], r.inputs["principalId"]), role, scope))
    return found


def test_every_resource_of_the_design_exists(plan):
    for short in [
        "resources:ResourceGroup",
        "storage:StorageAccount",
        "keyvault:Vault",
        "containerregistry:Registry",
        "operationalinsights:Workspace",
        "applicationinsights:Component",
        "machinelearningservices:Workspace",
        "machinelearningservices:Compute",
    ]:
        assert plan.one(short).inputs
    identities = {r.azure_name for r in plan.of_type("managedidentity:UserAssignedIdentity")}
    stack = plan.stack
    assert identities == {
        f"id-mlops-{stack}-workspace",
        f"id-mlops-{stack}-compute-cpu",
        f"id-mlops-{stack}-ci-infra",
        f"id-mlops-{stack}-ci-ml",
        f"id-mlops-{stack}-ci-preview",
    }


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


def test_each_identity_gets_exactly_its_roles_on_exactly_its_resources(plan):
    stack, found = plan.stack, grants(plan)
    storage = plan.one("storage:StorageAccount").azure_name
    vault = plan.one("keyvault:Vault").azure_name
    registry = plan.one("containerregistry:Registry").azure_name
    group, workspace = f"rg-mlops-{stack}", f"mlw-mlops-{stack}"
    expected = {
        (f"id-mlops-{stack}-workspace", "Storage Blob Data Contributor", storage),
        (f"id-mlops-{stack}-workspace", "Storage File Data Privileged Contributor", storage),
        (f"id-mlops-{stack}-workspace", "Key Vault Administrator", vault),
        (f"id-mlops-{stack}-workspace", "Contributor", registry),
        (f"id-mlops-{stack}-workspace", "Contributor", f"appi-mlops-{stack}"),
        (f"id-mlops-{stack}-compute-cpu", "Storage Blob Data Contributor", storage),
        (f"id-mlops-{stack}-compute-cpu", "Key Vault Secrets User", vault),
        (f"id-mlops-{stack}-compute-cpu", "AcrPull", registry),
        (f"id-mlops-{stack}-compute-cpu", "AzureML Metrics Writer (preview)", workspace),
        (f"id-mlops-{stack}-ci-infra", "Contributor", group),
        (f"id-mlops-{stack}-ci-infra", "Role Based Access Control Administrator", group),
        (f"id-mlops-{stack}-ci-ml", "AzureML Data Scientist", workspace),
        (f"id-mlops-{stack}-ci-ml", "Storage Blob Data Contributor", storage),
        (f"id-mlops-{stack}-ci-preview", "Reader", group),
        (f"id-mlops-{stack}-ci-preview", "Storage Blob Data Reader", storage),
    }
    assert found == expected


def test_role_assignments_use_allowlisted_roles_below_subscription_scope(plan):
    for r in plan.of_type("authorization:RoleAssignment"):
        assert roles.role_name(r.inputs["roleDefinitionId"]) in roles.ALLOWED
        assert r.inputs["roleDefinitionId"].startswith("/subscriptions/")
        assert "/resourceGroups/" in r.inputs["scope"]
        assert r.inputs["principalType"] == "ServicePrincipal"


def test_the_infra_identity_can_only_hand_out_the_allowlisted_roles(plan):
    [admin] = [
        r
        for r in plan.of_type("authorization:RoleAssignment")
        if roles.role_name(r.inputs["roleDefinitionId"]) == roles.ROLE_ADMIN
    ]
    condition = admin.inputs["condition"]
    assert admin.inputs["conditionVersion"] == "2.0"
    for name, guid in roles.ALLOWED.items():
        assert (guid in condition) == (name not in roles.CONDITIONAL), name
    for guid in roles.FORBIDDEN.values():
        assert guid not in condition


def test_role_assignment_names_are_stable_guids(plan):
    again = run_stack(plan.stack)
    first = sorted(r.azure_name for r in plan.of_type("authorization:RoleAssignment"))
    assert first == sorted(r.azure_name for r in again.of_type("authorization:RoleAssignment"))
    assert len(set(first)) == len(first)


def test_ci_identities_trust_exactly_one_subject_per_github_environment(plan):
    stack = plan.stack
    subjects = {
        r.inputs["resourceName"]: (r.inputs["subject"], r.inputs["issuer"], r.inputs["audiences"])
        for r in plan.of_type("managedidentity:FederatedIdentityCredential")
    }
    repo = "repo:contoso/azureml-mlops:environment"
    issuer, audience = "https://token.actions.githubusercontent.com", ["api://AzureADTokenExchange"]
    assert subjects == {
        f"id-mlops-{stack}-ci-infra": (f"{repo}:{stack}-infra", issuer, audience),
        f"id-mlops-{stack}-ci-ml": (f"{repo}:{stack}", issuer, audience),
        f"id-mlops-{stack}-ci-preview": (f"{repo}:{stack}-preview", issuer, audience),
    }


def test_several_environments_give_several_subjects_and_a_group_gets_its_roles():
    group = "5b0a3f84-6a5d-4c1e-9a43-2f7d1c0e9b11"
    plan = run_stack(
        "prod",
        {
            "githubRepository": "acme/credit",
            "githubMlEnvironments": ["prod", "prod-retrain"],
            "dataScientistsGroupObjectIds": [group],
        },
    )
    subjects = sorted(
        r.inputs["subject"]
        for r in plan.of_type("managedidentity:FederatedIdentityCredential")
        if r.inputs["resourceName"].endswith("-ci-ml")
    )
    assert subjects == [
        "repo:acme/credit:environment:prod",
        "repo:acme/credit:environment:prod-retrain",
    ]
    storage = plan.one("storage:StorageAccount").azure_name
    assert {g for g in grants(plan) if g[0] == group} == {
        (group, "AzureML Data Scientist", "mlw-mlops-prod"),
        (group, "Storage Blob Data Reader", storage),
    }
    [assignment] = [
        r
        for r in plan.of_type("authorization:RoleAssignment")
        if r.inputs["principalId"] == group and "workspaces" in r.inputs["scope"]
    ]
    assert assignment.inputs["principalType"] == "Group"


def test_a_gpu_cluster_and_approved_outbound_only_when_configured():
    plan = run_stack("prod", {"gpuVmSize": "Standard_NC4as_T4_v3", "approvedOutboundOnly": True})
    clusters = {
        r.inputs["computeName"]: r.inputs for r in plan.of_type("machinelearningservices:Compute")
    }
    assert set(clusters) == {"cpu-cluster", "gpu-cluster"}
    assert clusters["gpu-cluster"]["properties"]["properties"]["vmSize"] == "Standard_NC4as_T4_v3"
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


def test_names_of_every_stack_keep_azures_rules(plan):
    import naming

    for kind, short in [
        ("resource_group", "resources:ResourceGroup"),
        ("storage_account", "storage:StorageAccount"),
        ("key_vault", "keyvault:Vault"),
        ("container_registry", "containerregistry:Registry"),
        ("workspace", "machinelearningservices:Workspace"),
        ("log_analytics", "operationalinsights:Workspace"),
        ("compute", "machinelearningservices:Compute"),
    ]:
        assert naming.violations(kind, plan.one(short).azure_name) is None
