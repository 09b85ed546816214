"""Keeps the endpoint's router running: it holds the listening socket and starts
the router again when it exits unexpectedly.

``mlops`` binds the endpoint's port and starts this process with the
listening socket (descriptor ``--fd``) and the router's token
(``MLOPS_ROUTER_TOKEN``); it starts the router (``router.py``) on the same
socket, in its process group. The socket stays open here, so a router that
dies costs only the connections it had accepted: new ones wait in the
socket's queue for the next router instead of being refused, and the port is
never free for another program to take.

The router exits by itself once it has been replaced (the state file names
another token, or is gone); this process then exits too. Any other exit (a
crash, a kill) starts the router again at once, and with a growing delay if
it keeps dying within seconds. SIGTERM or SIGINT end this process alone; the
endpoint is stopped by signalling the process group, which holds both.

The router watches this process in turn: if it dies, the router starts
another with ``--adopt <router pid>``, which waits for its parent (that
router) to exit and then carries on as above.

Standard library only, run by path (``python -I .../supervisor.py``): it
starts in milliseconds and depends on nothing the router imports.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import subprocess
import sys
import time
from datetime import UTC, datetime

ROUTER_MODULE = "mlops.targets.local.endpoint.router"
TOKEN_ENV = "MLOPS_ROUTER_TOKEN"
# A router that ran this long before it died was not failing at start-up:
# the next one starts at once.
STEADY_SECONDS = 30.0
FIRST_DELAY_SECONDS = 0.5
MAX_DELAY_SECONDS = 30.0
POLL_SECONDS = 0.1


class Supervisor:
    def __init__(self, state: str, port: int, fd: int, token: str) -> None:
        self.state, self.port, self.fd, self.token = state, port, fd, token
        self.quick_deaths = 0

    def replaced(self) -> str | None:
        """Why the router must not run again, or None. An unreadable state file
        is no reason: the router keeps the map in force until it is restored."""
        try:
            with open(self.state, "rb") as handle:
                raw = handle.read()
        except FileNotFoundError:
            return "the endpoint's state file is gone"
        except OSError:
            return None
        try:
            token = json.loads(raw)["router"]["token"]
        except (ValueError, KeyError, TypeError):
            return None
        return None if token == self.token else "another router now serves this endpoint"

    def run(self, adopt: int | None) -> None:
        """Keep the router running until it is replaced (see the module docstring);
        with ``adopt``, first wait for that router, this process's parent, to exit."""
        if adopt is not None:
            log(f"watching router {adopt} (its supervisor died)")
            while os.getppid() == adopt:
                time.sleep(POLL_SECONDS)
        while True:
            if reason := self.replaced():
                log(f"exiting: {reason}")
                return
            started = time.monotonic()
            command = [
                sys.executable, "-m", ROUTER_MODULE,
                "--state", self.state, "--port", str(self.port), "--fd", str(self.fd),
            ]  # fmt: skip
            router = subprocess.Popen(command, stdin=subprocess.DEVNULL, pass_fds=(self.fd,))
            code = router.wait()
            if self.replaced():
                continue  # the check above says why, and ends
            ran = time.monotonic() - started
            self.quick_deaths = 0 if ran >= STEADY_SECONDS else self.quick_deaths + 1
            delay = 0.0
            if self.quick_deaths > 1:
                delay = min(FIRST_DELAY_SECONDS * 2 ** (self.quick_deaths - 2), MAX_DELAY_SECONDS)
            how = f"killed by signal {-code}" if code < 0 else f"exit code {code}"
            log(f"the router exited ({how}) after {ran:.1f} s; starting it again in {delay:g} s")
            time.sleep(delay)


def log(message: str) -> None:
    print(f"{datetime.now(UTC):%Y-%m-%dT%H:%M:%SZ} supervisor: {message}", flush=True)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Supervisor of the local endpoint's router.")
    parser.add_argument("--state", required=True, help="the endpoint's state file")
    parser.add_argument("--port", required=True, type=int)
    parser.add_argument("--fd", required=True, type=int, help="the listening socket")
    parser.add_argument("--adopt", type=int, help="the running router to take over")
    args = parser.parse_args(argv)
    token = os.environ.get(TOKEN_ENV)
    if not token:
        sys.exit(f"{TOKEN_ENV} is not set; the supervisor is started by `mlops`")
    for number in (signal.SIGTERM, signal.SIGINT):
        signal.signal(number, _exit)
    Supervisor(args.state, args.port, args.fd, token).run(args.adopt)
    return 0


def _exit(number: int, frame: object) -> None:
    # At once, even while waiting for the router: signalled alone, this process
    # goes and the router starts another; signalled with its group, both go.
    raise SystemExit(0)


if __name__ == "__main__":
    sys.exit(main())
