"""The endpoint's state file, ``endpoint.json``, written twice: the file and its copy.

The state is a JSON object::

    {"name": ..., "revision": 7, "port": 5050,
     "router": {"token": ...},
     "traffic": {"blue": 100, "green": 0},
     "deployments": {"blue": {"model": "name:3", "model_digest": ..., "port": 41234,
                              "status": "creating" | "ready" | "live", ...}}}

Every revision is written in full to ``endpoint.json`` and then to
``endpoint.json.copy``, each replaced atomically (owner-only) once its bytes
and the folder entry are on disk. A reader takes the highest revision that
is complete in either, so one damaged file (truncated, edited by hand, not
the shape above) never costs a revision: the other holds the same one, or,
after a write interrupted between the two, the newer. The reader says so
when the two disagree; only when both are unreadable is the state lost
(``StateUnreadable``), and the endpoint's processes are then found by their
markers instead. The router reads ``endpoint.json`` alone: the first file
written.
"""

from __future__ import annotations

import json
from pathlib import Path

from mlops.targets.base import DeploymentError
from mlops.targets.local.files import private_folder, write_private

STATE_FILE = "endpoint.json"
COPY_FILE = "endpoint.json.copy"
STATUSES = ("creating", "ready", "live")


class StateUnreadable(DeploymentError):
    """Neither the state file nor its copy can be read."""


class EndpointState:
    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.path = folder / STATE_FILE
        self.copy = folder / COPY_FILE

    def exists(self) -> bool:
        return self.path.exists() or self.copy.exists()

    def read(self) -> tuple[dict | None, str | None]:
        """``(state, note)``: the newest complete revision, or None when there is no
        endpoint. ``note`` is set when the two files disagree (one unreadable, or
        behind the other): the next write makes them agree. Raises
        ``StateUnreadable`` when neither can be read."""
        current, copy = load(self.path), load(self.copy)
        if current is None and copy is None:
            if not self.exists():
                return None, None
            raise StateUnreadable(
                f"{self.path}: unreadable, and so is its copy {self.copy.name}; `mlops "
                "endpoint stop` stops the endpoint's processes and removes it"
            )
        if copy is not None and (current is None or copy["revision"] > current["revision"]):
            why = "unreadable" if current is None else f"at revision {current['revision']}"
            return copy, (
                f"{self.path.name} was {why}; using the newest complete revision "
                f"({copy['revision']}) from {self.copy.name}"
            )
        if copy is None or copy["revision"] != current["revision"]:
            why = "unreadable" if copy is None else f"at revision {copy['revision']}"
            return current, (
                f"{self.copy.name} was {why}; {self.path.name} holds the newest complete "
                f"revision ({current['revision']})"
            )
        return current, None

    def write(self, state: dict) -> dict:
        """Save ``state`` as the next revision, in both files; return it."""
        private_folder(self.folder)
        newest = max(
            (s["revision"] for s in (load(self.path), load(self.copy)) if s is not None),
            default=0,
        )
        # Never behind the files, whatever revision the caller's copy carries.
        state["revision"] = max(int(state.get("revision", 0)), newest) + 1
        data = encode(state)
        write_private(self.path, data)
        write_private(self.copy, data)
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
