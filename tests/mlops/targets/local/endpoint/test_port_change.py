"""Changing the endpoint's port while it serves: a port another program holds is
refused naming the key, and the endpoint keeps serving; a free one is taken over
without a moment when neither port serves. Real router, supervisor and scoring
server (with the stand-in script: conftest.py); the commands are `mlops.cli.main`."""

import contextlib
import io
import socket
import time
import urllib.request

import pytest
import yaml

from mlops.cli import main
from mlops.errors import UserError
from mlops.targets.local.endpoint import LocalEndpoint, processes
from tests.conftest import free_port, wait_until
from tests.mlops.targets.local.endpoint.conftest import Load, score


def cli(settings_file, *args: str) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = main(["--settings", str(settings_file), *args])
    return code, out.getvalue(), err.getvalue()


def settings_on(root, port: int, env: str | None = None):
    """A settings file beside ``root``'s whose endpoint port is ``port`` (in
    environment ``env``, if given)."""
    settings = yaml.safe_load((root / "mlops.yml").read_text())
    if env:
        settings["environments"] = {env: {"endpoint_port": port}}
    else:
        settings["local"]["endpoint_port"] = port
    path = root / f"port-{port}.yml"
    path.write_text(yaml.safe_dump(settings, sort_keys=False))
    return path


@pytest.fixture
def taken():
    """A loopback port another program listens on."""
    with socket.socket() as other:
        other.bind(("127.0.0.1", 0))
        other.listen()
        yield other.getsockname()[1]


def test_a_port_another_program_holds_is_refused_and_the_endpoint_keeps_serving(
    standin_endpoint, taken
):
    served = standin_endpoint
    moved = settings_on(served.root, taken)
    with Load(served.url) as load:
        for command in (["deploy", "1"], ["endpoint", "start"], ["run"]):
            code, out, err = cli(moved, *command)
            assert code == 1, out + err
            assert err == (
                f"error: local.endpoint_port: port {taken} is in use by another program; set "
                "local.endpoint_port to a free port, or stop that program\n"
            )
        time.sleep(0.5)
    assert all(a.status == 200 for a in load.answers), [a for a in load.answers if a.status != 200]
    assert served.endpoint.state.read()[0]["port"] == served.endpoint.port


def test_the_port_is_named_by_the_environments_key(standin_endpoint, taken):
    moved = settings_on(standin_endpoint.root, taken, env="staging")
    code, _, err = cli(moved, "--env", "staging", "deploy", "1")
    assert code == 1
    assert err.startswith(f"error: environments.staging.endpoint_port: port {taken} is in use")


def test_a_port_taken_after_the_check_still_leaves_the_old_router_serving(standin_endpoint, taken):
    served = standin_endpoint
    # As if the port had been free when `mlops deploy` checked it.
    late = LocalEndpoint(served.endpoint.root, served.endpoint.name, taken)
    with Load(served.url) as load:
        with pytest.raises(UserError, match=f"local.endpoint_port: port {taken} is in use"):
            late.resume(lambda line: None)
        time.sleep(0.5)
    assert all(a.status == 200 for a in load.answers)
    assert served.endpoint.state.read()[0]["port"] == served.endpoint.port


def test_a_free_port_is_taken_over_before_the_old_router_stops(standin_endpoint):
    served = standin_endpoint
    old_url, port = served.url, free_port()
    old_router = processes.find(served.endpoint.router_marker)
    new_url = f"http://127.0.0.1:{port}/score"
    with Load(old_url) as old_load, Load(new_url, wait=False) as new_load:
        code, out, err = cli(settings_on(served.root, port), "endpoint", "start")
        assert code == 0, out + err
        wait_until(lambda: new_load.served_again(time.monotonic() - 0.5))
    # A request on the new port waits for its router from the moment the port is
    # bound, never refused after that; the old port served that long at least.
    listening = next(a.started for a in new_load.answers if a.status == 200)
    assert all(a.status == 200 for a in new_load.after(listening))
    assert all(a.status == 200 for a in old_load.answers if a.ended < listening)
    assert any(a.status == 200 for a in old_load.after(listening))
    assert not set(processes.find(served.endpoint.router_marker)) & set(old_router)
    with pytest.raises(OSError):
        urllib.request.urlopen(old_url, b"{}", timeout=5)
    # Back where the module's endpoint serves, for the other tests.
    code, out, err = cli(served.root / "mlops.yml", "endpoint", "start")
    assert code == 0, out + err
    wait_until(lambda: score(old_url).status == 200)


def test_endpoint_start_prints_the_scoring_url_once(standin_endpoint):
    served = standin_endpoint
    # The router and its supervisor stopped: `endpoint start` starts them again.
    processes.stop(served.endpoint.router_marker)
    code, out, err = cli(served.root / "mlops.yml", "endpoint", "start")
    assert code == 0, out + err
    assert out.count(served.url) == 1, out
    assert "endpoint credit-default: router started" in out
