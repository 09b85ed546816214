"""The deployment YAML as the local target reads it."""

import pytest

from mlops.deployment_spec import DeploymentSpecError, load_deployment_spec
from tests.conftest import REPO

DEPLOYMENT = REPO / "pipelines" / "endpoints" / "deployment.yml"


def test_the_repository_deployment_names_the_scoring_script_and_its_limits():
    spec = load_deployment_spec(DEPLOYMENT)
    assert spec.script == REPO / "pipelines" / "src" / "score.py"
    assert spec.environment_variables["MAX_BATCH_ROWS"] == "1000"
    assert spec.request_timeout_ms == 5000
    assert spec.readiness_seconds == 10 + 10 * 30


def test_a_missing_scoring_script_is_named(project):
    broken = project / "pipelines" / "endpoints" / "deployment.yml"
    broken.write_text(DEPLOYMENT.read_text().replace("score.py", "scroe.py"))
    with pytest.raises(DeploymentSpecError, match="code_configuration.scoring_script: .*scroe.py"):
        load_deployment_spec(broken)


def test_a_missing_file_says_which_setting_names_it(tmp_path):
    with pytest.raises(DeploymentSpecError, match="see endpoint.deployment"):
        load_deployment_spec(tmp_path / "nope.yml")


@pytest.mark.parametrize("count", ["0", "two", "-1"])
def test_a_worker_count_that_is_not_a_positive_number_is_named(project, count):
    broken = project / "pipelines" / "endpoints" / "deployment.yml"
    broken.write_text(
        DEPLOYMENT.read_text().replace(
            'MAX_BATCH_ROWS: "1000"', f'MAX_BATCH_ROWS: "1000"\n  WORKER_COUNT: "{count}"'
        )
    )
    refused = "environment_variables.WORKER_COUNT: .* positive"
    with pytest.raises(DeploymentSpecError, match=refused):
        load_deployment_spec(broken)
