import json
import subprocess
import sys

import pytest
from azure.ai.ml import MLClient

import stack_env
from tests.infra.conftest import INFRA, plan_of


def outputs_json(stack: str = "prod") -> str:
    """The stack outputs as `pulumi stack output --json` prints them."""
    return json.dumps(plan_of(stack).outputs)


def run(*args: str, stdin: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, str(INFRA / "stack_env.py"), *args],
        input=stdin,
        capture_output=True,
        text=True,
        check=False,
    )


def test_the_ml_jobs_variables_come_from_the_stack_outputs():
    outputs = plan_of("prod").outputs
    done = run("--job", "ml", stdin=outputs_json())
    assert done.returncode == 0, done.stderr
    lines = dict(line.split("=", 1) for line in done.stdout.splitlines())
    assert lines == {
        "AZURE_CLIENT_ID": outputs["ci_client_ids"]["ml"],
        "AZURE_TENANT_ID": outputs["tenant_id"],
        "AZURE_SUBSCRIPTION_ID": outputs["subscription_id"],
        "AZURE_RESOURCE_GROUP": "rg-mlops-prod",
        "AZURE_LOCATION": "westeurope",
        "AZUREML_WORKSPACE_NAME": "mlw-mlops-prod",
        "AZUREML_COMPUTE": "cpu-cluster",
        "AZUREML_REGISTRY_NAME": outputs["registry_name"],
    }
    assert outputs["registry_name"].startswith("mlr-mlops-")


def test_each_job_signs_in_as_its_own_identity():
    outputs = plan_of("prod").outputs
    for job in stack_env.JOBS:
        assert (
            stack_env.environment(outputs, job)["AZURE_CLIENT_ID"]
            == (outputs["ci_client_ids"][job])
        )


def test_the_written_config_is_what_azure_ai_ml_reads(tmp_path):
    config = tmp_path / ".azureml" / "config.json"
    done = run("--export", "--ml-config", str(config), stdin=outputs_json("dev"))
    assert done.returncode == 0, done.stderr
    assert "export AZUREML_WORKSPACE_NAME=mlw-mlops-dev" in done.stdout
    client = MLClient.from_config(credential=object(), path=str(config))
    assert client.workspace_name == "mlw-mlops-dev"
    assert client.resource_group_name == "rg-mlops-dev"
    assert client.subscription_id == plan_of("dev").outputs["subscription_id"]
    assert "registry" not in config.read_text()


@pytest.mark.parametrize(
    ("stdin", "message"),
    [
        ("not json", "expected the JSON object `pulumi stack output --json` prints"),
        ("{}", "stack output 'ci_client_ids' is missing: run `pulumi up`"),
        (
            json.dumps({**json.loads(outputs_json()), "workspace_name": ""}),
            "stack output 'workspace_name' is missing",
        ),
    ],
)
def test_outputs_that_are_not_a_stacks_get_a_clear_error(stdin, message):
    done = run(stdin=stdin)
    assert done.returncode == 2
    assert message in done.stderr
    assert done.stdout == ""
