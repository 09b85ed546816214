"""How many workers a deployment's scoring server runs, and with how many threads each."""

import os

import pytest

from mlops.targets.local.endpoint import processes, servers
from tests.conftest import free_port, wait_until
from tests.mlops.targets.local.endpoint.conftest import environ_of, standin_spec


def test_the_worker_count_is_the_deployments_or_two_where_there_are_cores():
    assert servers.worker_count({"WORKER_COUNT": "3"}, cores=2) == 3
    assert servers.worker_count({}, cores=8) == 2
    assert servers.worker_count({}, cores=2) == 2
    assert servers.worker_count({}, cores=1) == 1


def start_standin(tmp_path, **variables):
    spec = standin_spec(tmp_path, **variables)
    folder = tmp_path / "deployments" / "blue"
    (folder / "azureml-models" / "m" / "1").mkdir(parents=True)
    (folder / "code").symlink_to(spec.code)
    item = {
        "model": "m:1",
        "port": free_port(),
        "scoring_script": "score.py",
        "environment_variables": dict(spec.environment_variables),
    }
    return folder, servers.start(folder, item, "e/blue")


def test_each_worker_gets_its_share_of_the_cores_as_its_openmp_threads(tmp_path, monkeypatch):
    monkeypatch.delenv("OMP_NUM_THREADS", raising=False)
    folder, process = start_standin(tmp_path, WORKER_COUNT="2")
    try:
        marker = servers.marker(folder)
        wait_until(lambda: len(processes.find(marker)) == 3)  # the master and two workers
        expected = str(max(1, (os.cpu_count() or 1) // 2))
        for pid in processes.find(marker):
            environ = environ_of(pid)
            assert environ["OMP_NUM_THREADS"] == expected
            assert environ["WORKER_COUNT"] == "2"
    finally:
        processes.stop(servers.marker(folder), grace=2)
        process.wait(10)


@pytest.mark.parametrize("preload", [True, False])
def test_with_worker_preload_the_script_is_loaded_once_before_the_workers_fork(tmp_path, preload):
    inits = tmp_path / "inits"
    inits.mkdir()
    folder, process = start_standin(
        tmp_path, WORKER_COUNT="2", WORKER_PRELOAD=str(preload).lower(), STANDIN_INITS=str(inits)
    )
    try:
        marker = servers.marker(folder)
        wait_until(lambda: len(processes.find(marker)) == 3, what="the master and two workers")
        workers = set(processes.find(marker)) - {process.pid}
        wait_until(lambda: len(list(inits.iterdir())) == (1 if preload else 2), what="init()")
        ran = {int(path.name) for path in inits.iterdir()}
        assert ran == ({process.pid} if preload else workers)
    finally:
        processes.stop(servers.marker(folder), grace=2)
        process.wait(10)
