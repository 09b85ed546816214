"""The endpoint's state file: atomic, owner-only, and recoverable from its previous revision."""

import os
import stat

import pytest

from mlops.targets.local.endpoint.state import EndpointState, StateUnreadable


def a_state(**traffic) -> dict:
    deployments = {
        name: {"model": f"m:{i}", "port": 6000 + i, "status": "live"}
        for i, name in enumerate(traffic, start=1)
    }
    return {"port": 5999, "router": {"token": "t"}, "traffic": traffic, "deployments": deployments}


def test_each_write_is_a_new_revision_and_keeps_the_one_it_replaces(tmp_path):
    state = EndpointState(tmp_path / "e")
    assert state.read() == (None, None)
    state.write(a_state(blue=100))
    state.write(a_state(blue=0, green=100))
    current, note = state.read()
    assert (current["revision"], current["traffic"], note) == (2, {"blue": 0, "green": 100}, None)
    assert '"revision": 1' in state.previous.read_text()


@pytest.mark.parametrize(
    "damage",
    [b"", b'{"port": 59', b'{"deployments": {}}', b"[]"],
    ids=["emptied", "truncated", "wrong-shape", "not-an-object"],
)
def test_an_unreadable_state_falls_back_to_the_previous_good_revision(tmp_path, damage):
    state = EndpointState(tmp_path / "e")
    state.write(a_state(blue=100))
    state.write(a_state(blue=0, green=100))
    state.path.write_bytes(damage)
    recovered, note = state.read()
    assert recovered["revision"] == 1 and recovered["traffic"] == {"blue": 100}
    assert "endpoint.json was unreadable; using the previous good state (revision 1)" in note


def test_with_both_unreadable_the_state_is_lost_and_says_what_to_do(tmp_path):
    state = EndpointState(tmp_path / "e")
    state.write(a_state(blue=100))
    state.write(a_state(blue=100))
    state.path.write_text("{")
    state.previous.write_text("{")
    with pytest.raises(StateUnreadable, match="unreadable, and so is endpoint.json.prev; `mlops"):
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
    for path in (state.path, state.previous):
        assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert not [p for p in state.folder.iterdir() if p.name.endswith(".tmp")]
