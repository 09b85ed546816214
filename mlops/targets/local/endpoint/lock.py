"""The endpoint lock: one command at a time changes an endpoint.

A file lock (``flock``) on ``.<endpoint>.lock`` beside the endpoint's
folder: the kernel releases it when its holder dies, so a killed command
never leaves it taken. The holder writes who it is (pid, command, since)
into the file, so a command that has to wait can say for whom.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import sys
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

from mlops.state_files import open_file
from mlops.targets.base import DeploymentError, Printer
from mlops.targets.local.files import PRIVATE_FILE

POLL_SECONDS = 0.2
REMIND_SECONDS = 60


@contextlib.contextmanager
def hold(path: Path, endpoint: str, wait_seconds: float, show: Printer) -> Iterator[None]:
    """Hold the lock at ``path``, waiting up to ``wait_seconds`` while another command
    holds it (saying so once a minute); then raise ``DeploymentError`` naming it."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = open_file(path, os.O_RDWR | os.O_CREAT, PRIVATE_FILE)
    with os.fdopen(fd, "r+") as handle:
        _acquire(handle, endpoint, wait_seconds, show)
        try:
            handle.seek(0)
            handle.truncate()
            handle.write(_holder())
            handle.flush()
            yield
        finally:
            handle.seek(0)
            handle.truncate()
            fcntl.flock(handle, fcntl.LOCK_UN)


def holder(path: Path) -> str | None:
    """Who holds the lock at ``path`` now, or None when nobody does."""
    try:
        with open(path) as handle:
            try:
                fcntl.flock(handle, fcntl.LOCK_SH | fcntl.LOCK_NB)
            except BlockingIOError:
                return handle.read().strip() or "another command"
            fcntl.flock(handle, fcntl.LOCK_UN)
            return None
    except FileNotFoundError:
        return None


def _acquire(handle, endpoint: str, wait_seconds: float, show: Printer) -> None:
    deadline = time.monotonic() + wait_seconds
    reminded = None
    while True:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
            return
        except BlockingIOError:
            pass
        who = _read(handle) or "another command"
        now = time.monotonic()
        if now >= deadline:
            raise DeploymentError(
                f"endpoint {endpoint} is locked by {who}; waited {wait_seconds:g} s "
                "(endpoint.lock_wait_seconds). Run again when it has finished"
            )
        if reminded is None or now - reminded >= REMIND_SECONDS:
            show(f"waiting for endpoint {endpoint}: locked by {who}")
            reminded = now
        time.sleep(min(POLL_SECONDS, max(deadline - now, 0)))


def _read(handle) -> str:
    handle.seek(0)
    return handle.read().strip()


def _holder() -> str:
    command = " ".join([Path(sys.argv[0]).name, *sys.argv[1:]])[:200] if sys.argv else "?"
    since = datetime.now(UTC).isoformat(timespec="seconds")
    return f"pid {os.getpid()} (`{command}`, since {since})"
