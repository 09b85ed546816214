"""The endpoint lock: a second command waits, a bounded time, and says for whom."""

import multiprocessing
import time

import pytest

from mlops.targets.base import DeploymentError
from mlops.targets.local.endpoint import lock


def hold_for(path, seconds, ready):
    with lock.hold(path, "credit", 0, lambda line: None):
        ready.set()
        time.sleep(seconds)


@pytest.fixture
def held(tmp_path):
    """The lock at tmp_path/.credit.lock, held by another process for a while."""
    path = tmp_path / ".credit.lock"
    ready = multiprocessing.get_context("spawn").Event()

    def start(seconds):
        process = multiprocessing.get_context("spawn").Process(
            target=hold_for, args=(path, seconds, ready)
        )
        process.start()
        assert ready.wait(30)
        return process

    yield path, start


def test_a_second_command_waits_for_the_first_and_says_who_holds_it(held):
    path, start = held
    first = start(1.5)
    shown = []
    began = time.monotonic()
    with lock.hold(path, "credit", 30, shown.append):
        waited = time.monotonic() - began
    first.join()
    assert 0.5 < waited < 10
    assert len(shown) == 1
    assert shown[0].startswith(f"waiting for endpoint credit: locked by pid {first.pid} (`")


def test_the_wait_is_bounded_and_names_the_holder(held):
    path, start = held
    first = start(10)
    try:
        with (
            pytest.raises(DeploymentError, match=rf"locked by pid {first.pid} .*waited 0.5 s"),
            lock.hold(path, "credit", 0.5, lambda line: None),
        ):
            pass
        assert lock.holder(path).startswith(f"pid {first.pid}")
    finally:
        first.terminate()
        first.join()
    assert lock.holder(path) is None


def test_a_killed_holder_releases_the_lock(held):
    path, start = held
    start(60).kill()
    with lock.hold(path, "credit", 10, lambda line: None):
        pass
