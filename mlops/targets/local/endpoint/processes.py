"""The endpoint's processes: started in their own sessions, found again by a marker.

Every process of an endpoint carries a marker among its command-line
arguments: the router its state file's path, a deployment's server its
folder's path (``--name``). They are found by that marker, not by a pid
kept in a file, so a reused pid is never signalled, a process the state
file lost track of is still found, and a server restarted by the router
needs no bookkeeping. Only this user's processes are considered.

Once found, a process is watched by its identity, ``(pid, start time)``:
reading one ``/proc/<pid>/stat`` tells whether it still runs, without
scanning every process, and a pid the kernel gave to another process since
never passes for it. A process is started as the leader of its own session
(its pid is its process group's): a gunicorn master is its group's leader,
its workers are not, so a worker its master left behind is never taken for
a running server.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import time
import zlib
from collections.abc import Mapping
from pathlib import Path

from mlops.state_files import open_file

PROC = Path("/proc")
# After the last one ended, how long to look for a process started anew.
SETTLE_SECONDS = 0.3


def spawn(
    command: list[str],
    log: Path,
    cwd: Path,
    env: Mapping[str, str],
    pass_fds: tuple[int, ...] = (),
) -> subprocess.Popen:
    """Start ``command`` in a new session (it outlives the caller; stopped by its
    process group) with ``env`` exactly, appending its output to ``log``; the
    descriptors ``pass_fds`` are inherited under the same numbers."""
    log.parent.mkdir(parents=True, exist_ok=True)
    with os.fdopen(open_file(log, os.O_WRONLY | os.O_CREAT | os.O_APPEND), "ab") as out:
        return subprocess.Popen(
            command,
            cwd=cwd,
            env=dict(env),
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
            pass_fds=pass_fds,
        )


def find(marker: str, prefix: bool = False) -> list[int]:
    """Pids of this user's processes with an argument equal to ``marker`` (or, with
    ``prefix``, starting with it), oldest first."""
    found = []
    for pid, args in _processes():
        if any(arg == marker or (prefix and arg.startswith(marker)) for arg in args):
            found.append(pid)
    return sorted(found)


def alive(marker: str) -> bool:
    return bool(find(marker))


def running(markers: set[str]) -> set[str]:
    """Which of ``markers`` some process of this user carries, in one look."""
    return {arg for _, args in _processes() for arg in args if arg in markers}


Identity = tuple[int, int]  # (pid, start time): one process, never another with its pid


def leaders(markers: set[str]) -> dict[str, Identity]:
    """For each of ``markers`` carried by a process that leads its process group
    (a server's master, not a worker it left behind), that process, in one look."""
    found = {}
    for pid, args in _processes():
        for arg in args:
            if arg in markers and _group(pid) == pid and (me := identity(pid)) is not None:
                found.setdefault(arg, me)
    return found


def identity(pid: int) -> Identity | None:
    """``(pid, start time)`` of process ``pid`` while it runs (not a zombie), else None."""
    if not PROC.is_dir():
        return _identity_from_ps(pid)
    try:
        fields = (PROC / str(pid) / "stat").read_text().rpartition(")")[2].split()
    except OSError:
        return None
    # After the command's name: state, ppid, pgrp, ... and, 20th, the start time
    # (in clock ticks since boot).
    return None if fields[0] in ("Z", "X") else (pid, int(fields[19]))


def running_as(known: Identity) -> bool:
    """Whether the process ``known`` names still runs (a reused pid does not count)."""
    return identity(known[0]) == known


def end(known: list[Identity], grace: float = 10.0) -> list[int]:
    """Stop the process groups of those of ``known`` that still run: SIGTERM, then
    SIGKILL after ``grace`` seconds. Returns the pids still running."""
    pids = [pid for pid, _ in known]
    groups = {_group(k[0]) for k in known if running_as(k)}
    _terminate(groups, pids, lambda: [k for k in known if running_as(k)], grace)
    _reap(pids)
    return [k[0] for k in known if running_as(k)]


def stop(
    marker: str,
    prefix: bool = False,
    grace: float = 10.0,
    rounds: int = 3,
    settle: float | None = None,
) -> list[int]:
    """Stop the process groups of every process ``find`` returns: SIGTERM, then
    SIGKILL after ``grace`` seconds; look again ``settle`` seconds later
    (``SETTLE_SECONDS`` by default), in case something started one anew, up to
    ``rounds`` times. Returns the pids still running (none on success)."""
    settle = SETTLE_SECONDS if settle is None else settle
    for attempt in range(rounds + 1):
        if not find(marker, prefix):
            time.sleep(settle)
            if not find(marker, prefix):
                return []
        if attempt == rounds:
            break
        _stop_once(marker, prefix, grace)
    return find(marker, prefix)


def _stop_once(marker: str, prefix: bool, grace: float) -> None:
    # Waits for the processes found now to end, not for the marker to be gone: one a
    # supervisor starts anew meanwhile is the next round's, so a respawning one is
    # named after a few short rounds rather than after ``grace`` seconds each.
    end([known for pid in find(marker, prefix) if (known := identity(pid)) is not None], grace)


def _terminate(groups: set, pids: list[int], left, grace: float) -> None:
    """SIGTERM the process ``groups`` (never this one's), then SIGKILL them when
    ``left()`` still names some after ``grace`` seconds."""
    groups = groups - {None, os.getpgrp()}
    for group in groups:
        _signal_group(group, signal.SIGTERM)
    deadline = time.monotonic() + grace
    while (remaining := left()) and time.monotonic() < deadline:
        _reap(pids)
        time.sleep(0.05)
    for group in groups if remaining else ():
        _signal_group(group, signal.SIGKILL)
    if remaining:
        time.sleep(0.2)


def _processes() -> list[tuple[int, list[str]]]:
    if not PROC.is_dir():  # macOS and the BSDs: ask ps (arguments split on spaces)
        return _from_ps()
    me, listed = os.getuid(), []
    for entry in PROC.iterdir():
        if not entry.name.isdigit():
            continue
        try:
            if entry.stat().st_uid != me:
                continue
            raw = (entry / "cmdline").read_bytes()
        except OSError:
            continue  # it ended while we looked
        if raw:  # empty for kernel threads and zombies
            listed.append((int(entry.name), raw.rstrip(b"\0").decode(errors="replace").split("\0")))
    return listed


def _from_ps() -> list[tuple[int, list[str]]]:
    done = subprocess.run(
        ["ps", "-U", str(os.getuid()), "-o", "pid=,command="],
        capture_output=True,
        text=True,
        check=False,
    )
    listed = []
    for line in done.stdout.splitlines():
        pid, _, command = line.strip().partition(" ")
        if pid.isdigit():
            listed.append((int(pid), command.split()))
    return listed


def _identity_from_ps(pid: int) -> Identity | None:
    # macOS and the BSDs: no /proc; the start time as ps prints it (to the second).
    done = subprocess.run(
        ["ps", "-p", str(pid), "-o", "stat=,lstart="], capture_output=True, text=True, check=False
    )
    state, _, start = done.stdout.strip().partition(" ")
    if not state or state.startswith("Z"):
        return None
    return pid, zlib.crc32(start.strip().encode())


def _group(pid: int) -> int | None:
    try:
        return os.getpgid(pid)
    except ProcessLookupError:
        return None


def _signal_group(group: int, number: int) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(group, number)


def _reap(pids: list[int]) -> None:
    # A server this process started stays a zombie until waited for; only the
    # processes stopped here are waited for, never another child of the caller.
    for pid in pids:
        with contextlib.suppress(ChildProcessError):
            os.waitpid(pid, os.WNOHANG)
