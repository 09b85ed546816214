"""The fixture of the fault tests: one served project per module (see served_project)."""

from types import SimpleNamespace

import pytest

from tests.conftest import copy_project
from tests.mlops.served_project import MODEL, endpoint_processes, local, mlops, stop_everything


@pytest.fixture(scope="module")
def served(tmp_path_factory, trained_template):
    """A copy of the session's trained project whose run was registered as version 1,
    promoted and deployed."""
    root = copy_project(trained_template, tmp_path_factory.mktemp("fail-closed"))
    try:
        code, out, err = mlops(root, "register", "latest")
        assert code == 0, out + err
        code, out, err = mlops(root, "deploy", "1")
        assert code == 0, out + err
        assert f"deployed {MODEL}:1 to deployment blue" in out
        _, target = local(root)
        yield SimpleNamespace(root=root, run=target.get_run(target.get_model("1").run_id))
    finally:
        stop_everything(root)
    assert not endpoint_processes(root)
