"""The endpoint's state file, ``endpoint.json``, and its previous good revision.

The state is a JSON object::

    {"name": ..., "revision": 7, "port": 5050,
     "router": {"token": ...},
     "traffic": {"blue": 100, "green": 0},
     "deployments": {"blue": {"model": "name:3", "model_digest": ..., "port": 41234,
                              "status": "creating" | "ready" | "live", ...}}}

Every write replaces the file atomically (owner-only) and first keeps the
revision it replaces as ``endpoint.json.prev``. A reader that finds the file
unreadable (truncated, edited by hand, not the shape above) uses that
previous revision and says so; only when both are unreadable is the state
lost (``StateUnreadable``), and the endpoint's processes are then found by
their markers instead.
"""

from __future__ import annotations

import json
from pathlib import Path

from mlops.targets.base import DeploymentError
from mlops.targets.local.files import private_folder, write_private

STATE_FILE = "endpoint.json"
PREVIOUS_FILE = "endpoint.json.prev"
STATUSES = ("creating", "ready", "live")


class StateUnreadable(DeploymentError):
    """Neither the state file nor its previous revision can be read."""


class EndpointState:
    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.path = folder / STATE_FILE
        self.previous = folder / PREVIOUS_FILE

    def exists(self) -> bool:
        return self.path.exists() or self.previous.exists()

    def read(self) -> tuple[dict | None, str | None]:
        """``(state, note)``: the state in force, or None when there is no endpoint.
        ``note`` is set when the file was unreadable and its previous revision is
        returned instead. Raises ``StateUnreadable`` when neither can be read."""
        current = load(self.path)
        if current is not None:
            return current, None
        if not self.exists():
            return None, None
        previous = load(self.previous)
        if previous is None:
            raise StateUnreadable(
                f"{self.path}: unreadable, and so is {self.previous.name}; `mlops endpoint "
                "stop` stops the endpoint's processes and removes it"
            )
        return previous, (
            f"{self.path.name} was unreadable; using the previous good state "
            f"(revision {previous['revision']}) from {self.previous.name}"
        )

    def write(self, state: dict) -> dict:
        """Save ``state`` as the next revision (the current one is kept as previous)."""
        private_folder(self.folder)
        current = load(self.path)
        # Never behind the file, whatever revision the caller's copy carries.
        state["revision"] = (
            max(int(state.get("revision", 0)), current["revision"] if current else 0) + 1
        )
        if current is not None:
            write_private(self.previous, encode(current))
        write_private(self.path, encode(state))
        return state


def load(path: Path) -> dict | None:
    """The state in ``path``, or None when it is missing or not a valid state."""
    try:
        state = json.loads(path.read_bytes())
    except (OSError, ValueError):
        return None
    return state if valid(state) else None


def valid(state: object) -> bool:
    """Whether ``state`` has the shape described in the module docstring."""
    try:
        deployments, traffic = state["deployments"], state["traffic"]
        return (
            isinstance(state["revision"], int)
            and isinstance(state["port"], int)
            and isinstance(state["router"]["token"], str)
            and all(
                isinstance(item["model"], str)
                and isinstance(item["port"], int)
                and item["status"] in STATUSES
                for item in deployments.values()
            )
            and all(
                name in deployments and isinstance(share, int) for name, share in traffic.items()
            )
        )
    except (KeyError, TypeError, AttributeError):
        return False


def encode(state: dict) -> bytes:
    return json.dumps(state, indent=2).encode()
