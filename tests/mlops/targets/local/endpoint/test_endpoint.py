"""The local endpoint's state file and process handling, without scoring servers
(tests/mlops/test_deploy.py runs real ones)."""

import json
import subprocess

import pytest

from mlops.targets.base import DeploymentError
from mlops.targets.local.endpoint import LocalEndpoint


@pytest.fixture
def bystander():
    """A process that is not the endpoint's, as a reused pid would be."""
    process = subprocess.Popen(["sleep", "60"], start_new_session=True)
    yield process
    process.kill()
    process.wait()


def test_stop_never_kills_a_process_that_only_has_a_recorded_pid(tmp_path, bystander):
    endpoint = LocalEndpoint(tmp_path, "credit", 5999)
    endpoint.folder.mkdir()
    endpoint.state_path.write_text(
        json.dumps(
            {
                "port": 5999,
                "router_pid": bystander.pid,
                "traffic": {"blue": 100},
                "deployments": {"blue": {"model": "m:1", "port": 6000, "pid": bystander.pid}},
            }
        )
    )
    shown = endpoint.get()
    assert shown.scoring_uri == ""  # the recorded router is not running
    assert shown.deployments[0].state.startswith("Failed")
    endpoint.delete()
    assert bystander.poll() is None
    assert not endpoint.folder.exists()


def test_an_unreadable_state_file_is_named_and_stop_still_clears_it(tmp_path):
    endpoint = LocalEndpoint(tmp_path, "credit", 5999)
    endpoint.folder.mkdir()
    endpoint.state_path.write_text("{half written")
    with pytest.raises(DeploymentError, match="endpoint.json: not readable"):
        endpoint.get()
    endpoint.delete()
    assert endpoint.get() is None


def test_a_second_deploy_does_not_wait_and_says_one_is_running(tmp_path):
    second = LocalEndpoint(tmp_path, "credit", 5999).lock()
    with (
        LocalEndpoint(tmp_path, "credit", 5999).lock(),
        pytest.raises(DeploymentError, match="another deploy"),
        second,
    ):
        pass
