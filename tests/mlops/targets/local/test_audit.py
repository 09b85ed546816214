"""The local audit trail: appended whole, a line cut short kept apart from the
next, and what is not an event counted, not shown."""

import json

from mlops import audit_trail
from mlops.targets.local.audit import LocalAudit


def test_events_are_appended_in_order_and_a_torn_line_stays_apart(tmp_path):
    trail = LocalAudit(tmp_path)
    trail.append(json.dumps({"action": "deploy", "version": "m:1", "model_folder": "m"}))
    # A process killed while writing left half a line, without its line break.
    with trail.path.open("a") as handle:
        handle.write('{"action": "depl')
    trail.append(json.dumps({"action": "rollback", "version": "m:1", "model_folder": "m"}))

    read = audit_trail.read(LocalAudit(tmp_path))

    assert [e["action"] for e in read.events] == ["deploy", "rollback"]
    assert read.unreadable == 1
    assert "1 line(s) of the trail are not events" in audit_trail.describe(read)
    assert trail.path.stat().st_mode & 0o777 == 0o600


def test_a_trail_that_does_not_exist_yet_says_so(tmp_path):
    read = audit_trail.read(LocalAudit(tmp_path))
    assert read.events == [] and read.unreadable == 0
    assert audit_trail.describe(read) == (
        "no change to what serves is recorded in this environment yet"
    )


def test_the_trail_of_one_model_leaves_out_the_others(tmp_path):
    trail = LocalAudit(tmp_path)
    for folder in ("a", "b", "a"):
        trail.append(json.dumps({"action": "deploy", "model_folder": folder}))
    assert len(audit_trail.read(trail, "a").events) == 2
