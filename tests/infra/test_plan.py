import json

import plan
import roles
from policy.rules import RULES


def test_the_prod_plan_lists_its_resources_and_passes_every_policy(capsys):
    assert plan.main(["prod"]) == 0
    out = capsys.readouterr().out
    assert out.startswith("environment stack prod: 14 resources in westeurope")
    assert "machinelearningservices:Workspace  mlw-mlops-prod  publicNetworkAccess=Disabled" in out
    assert "minNodeCount=0, maxNodeCount=4, nodeIdleTimeBeforeScaleDown=PT120S" in out
    assert "(conditioned" not in out  # conditions are the platform's alone
    for rule in RULES:
        assert f"  pass  {rule.name} (" in out
    assert '"workspace_name": "mlw-mlops-prod"' in out
    assert '"registry_name": "mlr-mlops-' in out


def test_the_platform_plan_lists_identities_credentials_registry_and_conditioned_grants(capsys):
    assert plan.main(["--project", "platform"]) == 0
    out = capsys.readouterr().out
    assert out.startswith("platform stack shared: 71 resources in westeurope")
    assert "subject=repo:contoso/azureml-mlops:environment:prod-preview" in out
    assert "machinelearningservices:Registry" in out and "regions=westeurope" in out
    assert (
        "Role Based Access Control Administrator for mlops-prod-ci-infra-rbac on "
        "/subscriptions/00000000-0000-4000-8000-000000000001/resourceGroups/rg-mlops-prod "
        "(conditioned: workload roles to workload identities)"
    ) in out
    assert (
        "Storage Blob Data Contributor for mlops-prod-ci-infra-state on Microsoft.Storage/"
        "storageAccounts/stpulumistate/blobServices/default/containers/pulumi-state "
        "(conditioned: writes only mlops-infra/prod's state; reads only mlops-infra/prod's "
        "state and mlops-platform/shared's)"
    ) in out
    assert "  pass  github-oidc-per-environment (10 resources)" in out
    assert f"{roles.REGISTRY_READER} for mlops-prod-ci-ml-registry on" in out
    assert "AzureML Registry User for mlops-dev-ci-ml-registry on" in out
    assert "  pass  custom-role-read-only (1 resources)" in out


def test_an_insecure_setting_shows_the_failing_policies_and_exits_1(capsys):
    assert plan.main(["prod", "--set", "publicWorkspace=true"]) == 1
    captured = capsys.readouterr()
    assert "  FAIL  private-outside-public-stacks (4 resources)" in captured.out
    assert (
        "        - mlops-workspace: publicNetworkAccess must be 'Disabled' on stack prod"
        in captured.out
    )
    assert "1 policies failed: `pulumi up` would be refused" in captured.err


def test_bad_config_and_unknown_stacks_are_errors_that_say_where(capsys):
    assert plan.main(["prod", "--set", "cpuMaxNodes=0"]) == 2
    assert "mlops-infra:cpuMaxNodes: 0 is out of range" in capsys.readouterr().err
    assert plan.main(["qa"]) == 2
    assert "Pulumi.qa.yaml: no such stack" in capsys.readouterr().err


def test_the_plan_sorts_role_assignments_and_prints_outputs_as_indented_json(capsys):
    assert plan.main(["--project", "platform"]) == 0
    out = capsys.readouterr().out
    grants = [line for line in out.splitlines() if "authorization:RoleAssignment" in line]
    assert len(grants) > 3
    assert grants == sorted(grants)
    outputs = out.split("\noutputs:\n", 1)[1]
    assert max(len(line) for line in outputs.splitlines()) < 200
    assert isinstance(json.loads(outputs), dict)
