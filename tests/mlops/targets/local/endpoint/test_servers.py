"""How many workers a deployment's scoring server runs, and with how many threads each."""

import os

from mlops.targets.local.endpoint import processes, servers
from tests.conftest import free_port, wait_until
from tests.mlops.targets.local.endpoint.conftest import environ_of, standin_spec


def test_the_worker_count_is_the_deployments_or_two_where_there_are_cores():
    assert servers.worker_count({"WORKER_COUNT": "3"}, cores=2) == 3
    assert servers.worker_count({}, cores=8) == 2
    assert servers.worker_count({}, cores=2) == 2
    assert servers.worker_count({}, cores=1) == 1


def test_each_worker_gets_its_share_of_the_cores_as_its_openmp_threads(tmp_path, monkeypatch):
    monkeypatch.delenv("OMP_NUM_THREADS", raising=False)
    spec = standin_spec(tmp_path, WORKER_COUNT="2")
    folder = tmp_path / "deployments" / "blue"
    (folder / "azureml-models" / "m" / "1").mkdir(parents=True)
    (folder / "code").symlink_to(spec.code)
    item = {
        "model": "m:1",
        "port": free_port(),
        "scoring_script": "score.py",
        "environment_variables": dict(spec.environment_variables),
    }
    process = servers.start(folder, item, "e/blue")
    try:
        marker = servers.marker(folder)
        wait_until(lambda: len(processes.find(marker)) == 3, 60)  # the master and two workers
        expected = str(max(1, (os.cpu_count() or 1) // 2))
        for pid in processes.find(marker):
            environ = environ_of(pid)
            assert environ["OMP_NUM_THREADS"] == expected
            assert environ["WORKER_COUNT"] == "2"
    finally:
        processes.stop(servers.marker(folder), grace=2)
        process.wait(10)
