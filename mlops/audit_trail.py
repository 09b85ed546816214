"""The audit trail: every change to what serves, who made it, when and why.

Each deploy that moves the traffic (``deploy``; ``rollback`` when it returns
to an earlier version with a reason), each version promoted to the registry
(``promote``), each stop of the endpoint (``stop``) and each retrain a
monitor's breach started (``retrain``, whatever the gate then decided)
appends one event to
the environment's trail (``target.audit``: a file locally, an append blob in
the workspace's datastore on Azure), never rewriting one. An event holds
``time`` (UTC), ``environment``, ``model_folder``, ``action``, ``version``
(``name:version`` in the environment), ``who`` (``mlops.audit.actor``: the
GitHub actor and workflow run, or the git user), ``why`` (the gate's verdict,
the reason given with ``--rollback``, ``--override-gate`` or
``--replace-task``, and the trigger of a retrain such as drift), and what
else the action knows (``deployment``, ``replaced``, ``registry``).

So "which model served on prod on date D, who put it there, and why was it
rolled back" is read from ``mlops audit`` in that environment. The model
versions' own tags record the same reasons; the trail also keeps the order,
the stops, and what a version replaced.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime

from mlops.audit import OVERRIDE_TAG, actor
from mlops.monitoring.trigger import TRIGGER_REPORT_TAG, TRIGGER_TAG
from mlops.settings import Settings
from mlops.targets.base import GATE_TAG, ROLLBACK_TAG, AuditOperations, ModelVersion
from mlops.task import REPLACED_TAG
from mlops.text_table import table

FIELDS = ("time", "environment", "action", "version", "deployment", "who", "why")
# The reasons a human gives past the gate, by the tag that records them.
_SAID = {ROLLBACK_TAG: "rollback", OVERRIDE_TAG: "gate overridden", REPLACED_TAG: "task replaced"}


def record(target, settings: Settings, action: str, version: str, why: str, **details) -> dict:
    """Append the event of ``action`` on ``version`` to the environment's trail; the event."""
    event = {
        "time": datetime.now(UTC).isoformat(timespec="seconds"),
        "environment": settings.env or "default",
        "model_folder": settings.model_id,
        "action": action,
        "version": version,
        "who": actor(),
        "why": why,
        **{key: value for key, value in details.items() if value is not None},
    }
    target.audit.append(json.dumps(event, ensure_ascii=False))
    return event


def deploy_reason(model: ModelVersion, reasons: Mapping[str, str]) -> tuple[str, str]:
    """(the action, why) of a deploy of ``model``: ``reasons`` maps the tags of
    ``mlops.audit`` to the reasons given past the gate, if any."""
    action = "rollback" if ROLLBACK_TAG in reasons else "deploy"
    why = [f"{_SAID[tag]}: {reason}" for tag, reason in reasons.items() if tag in _SAID]
    if action == "deploy":
        why.insert(0, f"gate: {model.tags.get(GATE_TAG, 'unknown')}")
    trigger = model.tags.get(TRIGGER_TAG)
    if trigger:
        why.append(f"trained on {trigger}: {model.tags.get(TRIGGER_REPORT_TAG, '')}".strip())
    return action, "; ".join(why)


@dataclass(frozen=True)
class Trail:
    events: list[dict]
    unreadable: int  # lines that are not an event (cut short, or edited by hand)


def read(audit: AuditOperations, model_folder: str | None = None) -> Trail:
    """The events of an environment's trail (``target.audit``), oldest first (of
    ``model_folder`` only, if given)."""
    events, unreadable = [], 0
    for line in audit.lines():
        if not line.strip():
            continue
        try:
            event = json.loads(line)
        except ValueError:
            unreadable += 1
            continue
        if not isinstance(event, dict):
            unreadable += 1
            continue
        if model_folder is None or event.get("model_folder") == model_folder:
            events.append(event)
    return Trail(events, unreadable)


def describe(trail: Trail) -> str:
    """The trail as the table ``mlops audit`` prints."""
    if not trail.events:
        lines = ["no change to what serves is recorded in this environment yet"]
    else:
        rows = [[str(event.get(name, "") or "-") for name in FIELDS] for event in trail.events]
        lines = [table(FIELDS, rows)]
    if trail.unreadable:
        lines.append(f"{trail.unreadable} line(s) of the trail are not events and were skipped")
    return "\n".join(lines)
