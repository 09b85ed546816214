"""Finding and stopping the endpoint's processes by their marker, never by a bare pid."""

import subprocess
import sys
import time

import pytest

from mlops.targets.local.endpoint import processes
from tests.mlops.targets.local.endpoint.conftest import respawning

SLEEP = "import signal, sys, time; {setup}time.sleep(60)"


def start(*markers, ignore_term=False, new_session=True):
    setup = "signal.signal(signal.SIGTERM, signal.SIG_IGN); " if ignore_term else ""
    return subprocess.Popen(
        [sys.executable, "-c", SLEEP.format(setup=setup), *markers],
        start_new_session=new_session,
    )


@pytest.fixture
def started():
    children = []
    yield lambda *args, **kwargs: children.append(start(*args, **kwargs)) or children[-1]
    for child in children:
        child.kill()
        child.wait()


def wait_for(marker, prefix=False):
    deadline = time.monotonic() + 10
    while not processes.find(marker, prefix):
        assert time.monotonic() < deadline, f"{marker} never started"
        time.sleep(0.02)


def test_a_process_is_found_by_an_exact_marker_or_a_prefix(tmp_path, started):
    child = started(str(tmp_path / "e" / "deployments" / "blue"))
    wait_for(str(tmp_path / "e" / "deployments" / "blue"))
    assert processes.find(str(tmp_path / "e" / "deployments" / "blue")) == [child.pid]
    assert processes.find(str(tmp_path / "e" / "deployments" / "blu")) == []
    assert processes.find(str(tmp_path / "e") + "/", prefix=True) == [child.pid]
    assert processes.running({str(tmp_path / "e" / "deployments" / "blue"), "x"}) == {
        str(tmp_path / "e" / "deployments" / "blue")
    }


def test_stop_ends_the_whole_process_group_and_forces_a_stubborn_one(tmp_path, started):
    polite, stubborn = started(str(tmp_path / "a")), started(str(tmp_path / "b"), ignore_term=True)
    wait_for(str(tmp_path / "a"))
    wait_for(str(tmp_path / "b"))
    assert processes.stop(str(tmp_path) + "/", prefix=True, grace=1.0) == []
    assert polite.wait(5) is not None and stubborn.wait(5) is not None


def test_a_process_without_the_marker_is_never_signalled(tmp_path, started):
    bystander = started("unrelated")
    wait_for("unrelated")
    assert processes.stop(str(tmp_path / "e") + "/", prefix=True) == []
    assert bystander.poll() is None


def test_stop_reports_what_keeps_coming_back(tmp_path):
    marker = str(tmp_path / "respawned")
    loop = respawning(marker)
    try:
        wait_for(marker)
        # A loaded machine may take a while to start it again: look long enough.
        assert processes.stop(marker, grace=0.5, settle=2.0) != []
    finally:
        loop.kill()
        loop.wait()
        processes.stop(marker, grace=0.5)
