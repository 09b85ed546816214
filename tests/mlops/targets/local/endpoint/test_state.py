"""The endpoint's state file: atomic, owner-only, written twice, and read back at the
newest revision complete in either file."""

import os
import stat

import pytest

from mlops.targets.local.endpoint.state import EndpointState, StateUnreadable, encode


def a_state(**traffic) -> dict:
    deployments = {
        name: {"model": f"m:{i}", "port": 6000 + i, "status": "live"}
        for i, name in enumerate(traffic, start=1)
    }
    return {"port": 5999, "router": {"token": "t"}, "traffic": traffic, "deployments": deployments}


def test_each_write_is_a_new_revision_in_both_files(tmp_path):
    state = EndpointState(tmp_path / "e")
    assert state.read() == (None, None)
    state.write(a_state(blue=100))
    state.write(a_state(blue=0, green=100))
    current, note = state.read()
    assert (current["revision"], current["traffic"], note) == (2, {"blue": 0, "green": 100}, None)
    assert state.copy.read_bytes() == state.path.read_bytes()


@pytest.mark.parametrize(
    "damage",
    [b"", b'{"port": 59', b'{"deployments": {}}', b"[]"],
    ids=["emptied", "truncated", "wrong-shape", "not-an-object"],
)
@pytest.mark.parametrize("damaged", ["path", "copy"])
def test_one_damaged_file_costs_no_revision(tmp_path, damage, damaged):
    state = EndpointState(tmp_path / "e")
    state.write(a_state(blue=100))
    state.write(a_state(blue=0, green=100))
    getattr(state, damaged).write_bytes(damage)
    recovered, note = state.read()
    assert recovered["revision"] == 2 and recovered["traffic"] == {"blue": 0, "green": 100}
    assert "was unreadable" in note and "(2)" in note
    state.write(recovered)  # what `resume` does: both agree again
    assert state.read()[1] is None
    assert state.read()[0]["revision"] == 3


def test_a_write_interrupted_between_the_files_reads_as_the_newer(tmp_path):
    state = EndpointState(tmp_path / "e")
    state.write(a_state(blue=100))
    newer = state.write(a_state(blue=0, green=100))
    state.copy.write_bytes(encode({**newer, "revision": 1, "traffic": {"blue": 100}}))
    recovered, note = state.read()
    assert (recovered["revision"], recovered["traffic"]) == (2, {"blue": 0, "green": 100})
    assert "endpoint.json.copy was at revision 1; endpoint.json holds the newest" in note
    # And the other way round: the copy ahead of the file.
    state.path.write_bytes(encode({**newer, "revision": 1, "traffic": {"blue": 100}}))
    state.copy.write_bytes(encode(newer))
    recovered, note = state.read()
    assert recovered["revision"] == 2
    assert "endpoint.json was at revision 1; using the newest complete revision (2)" in note


def test_a_write_is_never_behind_either_file(tmp_path):
    state = EndpointState(tmp_path / "e")
    state.write(a_state(blue=100))
    state.copy.write_bytes(encode({**a_state(blue=100), "revision": 9}))
    assert state.write(a_state(blue=100))["revision"] == 10


def test_with_both_unreadable_the_state_is_lost_and_says_what_to_do(tmp_path):
    state = EndpointState(tmp_path / "e")
    state.write(a_state(blue=100))
    state.path.write_text("{")
    state.copy.write_text("{")
    with pytest.raises(StateUnreadable, match="unreadable, and so is its copy endpoint.json.copy"):
        state.read()


def test_the_files_are_owner_only_whatever_the_umask(tmp_path):
    old = os.umask(0)
    try:
        state = EndpointState(tmp_path / "e")
        state.write(a_state(blue=100))
        state.write(a_state(blue=100))
    finally:
        os.umask(old)
    assert stat.S_IMODE(state.folder.stat().st_mode) == 0o700
    for path in (state.path, state.copy):
        assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert not [p for p in state.folder.iterdir() if p.name.endswith(".tmp")]
