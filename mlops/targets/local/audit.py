"""The local target's audit trail: ``<state>/audit/events.jsonl``, beside (not in)
the endpoint's state, appended one line at a time and synced to disk."""

from __future__ import annotations

import os
from pathlib import Path

from mlops.state_files import open_file
from mlops.targets.base import AuditOperations


class LocalAudit(AuditOperations):
    def __init__(self, state_dir: Path) -> None:
        self.path = state_dir / "audit" / "events.jsonl"

    def append(self, line: str) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        data = (line + "\n").encode()
        descriptor = open_file(self.path, os.O_RDWR | os.O_CREAT | os.O_APPEND, 0o600)
        try:
            size = os.fstat(descriptor).st_size
            # A line cut short (a process killed while writing) stays a line of its own.
            if size and os.pread(descriptor, 1, size - 1) != b"\n":
                data = b"\n" + data
            os.write(descriptor, data)  # one write, in append mode: whole, at the end
            os.fsync(descriptor)
        finally:
            os.close(descriptor)

    def lines(self) -> list[str]:
        try:
            return self.path.read_text(encoding="utf-8", errors="replace").splitlines()
        except FileNotFoundError:
            return []
