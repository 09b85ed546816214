"""Files under the state folder are never written through a symbolic link."""

import os
import stat

import pytest

from mlops.state_files import StateFileError, open_file, write_file
from mlops.targets.local.files import write_private


@pytest.fixture
def outside(tmp_path):
    """A file outside the state folder, which a planted link points to."""
    path = tmp_path / "outside.txt"
    path.write_text("not mlops's\n")
    return path


@pytest.fixture
def state(tmp_path):
    folder = tmp_path / ".mlops"
    folder.mkdir()
    return folder


@pytest.mark.parametrize("write", [write_file, write_private], ids=["file", "private"])
def test_a_link_where_a_state_file_goes_is_refused_and_its_target_kept(state, outside, write):
    path = state / "sample-request.json"
    path.symlink_to(outside)
    with pytest.raises(StateFileError) as error:
        write(path, b"{}")
    assert str(error.value) == (
        f"{path}: a symbolic link where mlops keeps a file of its own; remove the link "
        "(mlops never writes through one)"
    )
    assert outside.read_text() == "not mlops's\n"
    assert path.is_symlink()


def test_a_link_planted_where_the_temporary_file_goes_is_refused_too(state, outside):
    path = state / "run.json"
    temporary = state / f".run.json.{os.getpid()}.tmp"
    temporary.symlink_to(outside)
    with pytest.raises(StateFileError, match=f"^{temporary}: a symbolic link"):
        write_private(path, b"{}")
    assert outside.read_text() == "not mlops's\n"
    assert not path.exists()


def test_a_log_opened_for_appending_is_not_opened_through_a_link(state, outside):
    log = state / "router.log"
    log.symlink_to(outside)
    with pytest.raises(StateFileError, match=f"^{log}: a symbolic link"):
        open_file(log, os.O_WRONLY | os.O_CREAT | os.O_APPEND)
    assert outside.read_text() == "not mlops's\n"


def test_a_file_is_replaced_whole_with_the_permissions_asked_for(state):
    path = state / "endpoint.json"
    path.write_text("old")
    write_private(path, b"new")
    assert path.read_bytes() == b"new"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert sorted(p.name for p in state.iterdir()) == ["endpoint.json"]
