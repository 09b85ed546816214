import plan

from policy.rules import RULES


def test_the_prod_plan_lists_its_resources_and_passes_every_policy(capsys):
    assert plan.main(["prod"]) == 0
    out = capsys.readouterr().out
    assert out.startswith("stack prod: 31 resources in westeurope")
    assert (
        "machinelearningservices:Workspace            mlw-mlops-prod  publicNetworkAccess=Disabled"
        in out
    )
    assert "minNodeCount=0, maxNodeCount=4, nodeIdleTimeBeforeScaleDown=PT120S" in out
    assert "subject=repo:contoso/azureml-mlops:environment:prod-preview" in out
    for rule in RULES:
        assert f"  pass  {rule.name} (" in out
    assert "workspace_name: mlw-mlops-prod" in out


def test_an_insecure_setting_shows_the_failing_policies_and_exits_1(capsys):
    assert plan.main(["prod", "--set", "publicWorkspace=true"]) == 1
    captured = capsys.readouterr()
    assert "  FAIL  ml-workspace-secure (1 resources)" in captured.out
    assert (
        "        - mlops-workspace: publicNetworkAccess must be 'Disabled' on stack prod"
        in captured.out
    )
    assert "4 policies failed: `pulumi up` would be refused" in captured.err


def test_bad_config_and_unknown_stacks_are_errors_that_say_where(capsys):
    assert plan.main(["prod", "--set", "cpuMaxNodes=0"]) == 2
    assert "mlops-infra:cpuMaxNodes: 0 is out of range" in capsys.readouterr().err
    assert plan.main(["qa"]) == 2
    assert "Pulumi.qa.yaml: no such stack" in capsys.readouterr().err
