"""The local endpoint's recovery and stopping, with stand-in deployments and the real router
(tests/mlops/test_deploy.py runs real scoring servers)."""

import socket
import subprocess
import urllib.request

import pytest

from mlops.errors import UserError
from mlops.targets.base import DeploymentError
from mlops.targets.local.endpoint import LocalEndpoint, processes
from tests.conftest import free_port, wait_until
from tests.mlops.targets.local.endpoint.conftest import deployment_entry, environ_of, respawning


@pytest.fixture
def endpoint(tmp_path):
    endpoint = LocalEndpoint(tmp_path, "e", free_port(), lock_wait_seconds=5)
    yield endpoint
    processes.stop(str(endpoint.folder) + "/", prefix=True, grace=2)


def write(endpoint, traffic, **deployments):
    state = {"port": endpoint.port, "router": {"token": "old"}, "traffic": traffic}
    return endpoint.state.write({**state, "deployments": deployments})


def score(endpoint) -> int:
    request = urllib.request.Request(
        f"http://127.0.0.1:{endpoint.port}/score", data=b"{}", method="POST"
    )
    with urllib.request.urlopen(request, timeout=10) as answer:
        return answer.status


def test_resume_removes_a_deployment_that_never_took_traffic_and_starts_the_router(
    endpoint, standins
):
    blue, _ = standins("blue")
    green, green_process = standins("green")
    write(
        endpoint,
        {"blue": 100, "green": 0},
        blue=deployment_entry(blue),
        green=deployment_entry(green, status="ready"),
    )
    shown = []
    with endpoint.lock(shown.append):
        endpoint.resume(shown.append)
    assert "deployment green: it never took traffic (an interrupted deploy); removing it" in shown
    assert green_process.wait(10) is not None
    now = endpoint.get()
    assert [d.name for d in now.deployments] == ["blue"] and now.traffic == {"blue": 100}
    assert score(endpoint) == 200


def test_an_endpoint_left_without_deployments_is_removed(endpoint):
    write(endpoint, {})
    assert endpoint.get().deployments == ()  # shown, not a crash
    shown = []
    endpoint.resume(shown.append)
    assert "endpoint e: no deployment is left (a first deploy was interrupted)" in shown
    assert endpoint.get() is None and not endpoint.folder.exists()


def test_a_truncated_state_comes_back_at_its_newest_revision(endpoint, standins):
    blue, _ = standins("blue")
    green, _ = standins("green")
    entries = {"blue": deployment_entry(blue), "green": deployment_entry(green)}
    write(endpoint, {"blue": 100, "green": 0}, **entries)
    write(endpoint, {"blue": 0, "green": 100}, **entries)  # the swap: revision 2
    endpoint.state.path.write_text('{"port": ')
    shown = []
    endpoint.resume(shown.append)
    assert (
        "endpoint e: endpoint.json was unreadable; using the newest complete revision (2) "
        "from endpoint.json.copy" in shown
    )
    state, note = endpoint.state.read()
    assert note is None  # both files agree again
    assert state["traffic"] == {"green": 100}  # not the map before the swap
    assert score(endpoint) == 200


def test_stop_finds_the_processes_by_marker_when_no_state_is_readable(endpoint, standins):
    blue, blue_process = standins("blue")
    write(endpoint, {"blue": 100}, blue=deployment_entry(blue))
    endpoint.resume(lambda line: None)  # starts the router
    router = processes.find(endpoint.router_marker)
    assert router
    endpoint.state.path.write_text("")
    endpoint.state.copy.write_text("")
    with pytest.raises(DeploymentError, match="unreadable"):
        endpoint.get()
    endpoint.delete()
    assert blue_process.wait(10) is not None
    assert not processes.find(str(endpoint.folder) + "/", prefix=True)
    assert not endpoint.folder.exists()


def test_stop_never_touches_a_process_without_the_endpoints_marker(endpoint):
    bystander = subprocess.Popen(["sleep", "60"], start_new_session=True)
    try:
        write(endpoint, {"blue": 100}, blue=deployment_entry(free_port()))
        endpoint.delete()
        assert bystander.poll() is None
    finally:
        bystander.kill()
        bystander.wait()


def test_stop_says_so_when_something_keeps_running(endpoint, monkeypatch):
    # A loaded machine may take a while to start the process again: look long enough.
    monkeypatch.setattr(processes, "SETTLE_SECONDS", 2.0)
    marker = str(endpoint.folder / "deployments" / "blue")
    loop = respawning(marker)
    try:
        wait_until(lambda: processes.find(marker))
        write(endpoint, {"blue": 100}, blue=deployment_entry(free_port()))
        with pytest.raises(DeploymentError, match=r"processes \[\d+.*keep running"):
            endpoint.delete()
        assert endpoint.folder.exists()
    finally:
        loop.kill()
        loop.wait()
        processes.stop(marker, grace=0.5)


def test_a_port_taken_by_another_program_is_named_by_its_setting(endpoint):
    with socket.socket() as other:
        other.bind(("127.0.0.1", endpoint.port))
        other.listen()
        with pytest.raises(UserError, match=f"local.endpoint_port: port {endpoint.port} is in use"):
            endpoint.check_port()
    endpoint.check_port()


def test_the_router_gets_no_secret_of_the_caller(endpoint, standins, monkeypatch):
    monkeypatch.setenv("AZURE_CLIENT_SECRET", "planted-secret")
    monkeypatch.setenv("GITHUB_TOKEN", "planted-token")
    blue, _ = standins("blue")
    write(endpoint, {"blue": 100}, blue=deployment_entry(blue))
    endpoint.resume(lambda line: None)
    supervisor, router = processes.find(endpoint.router_marker)  # oldest first
    for pid in (supervisor, router):
        env = environ_of(pid)
        assert "planted" not in " ".join(env.values())
        assert "AZURE_CLIENT_SECRET" not in env and "GITHUB_TOKEN" not in env


def test_the_versions_the_endpoint_names_are_known(endpoint):
    write(
        endpoint,
        {"blue": 100, "green": 0},
        blue=deployment_entry(1, model="credit:7"),
        green=deployment_entry(2, model="other:9"),
    )
    assert endpoint.versions_in_use("credit") == [7]
