"""Asking the endpoint's processes how they are: the router's status, a server's readiness."""

from __future__ import annotations

import json
import subprocess
import time
import urllib.error
import urllib.request
from pathlib import Path

from mlops.targets.base import DeploymentError
from mlops.targets.local.endpoint.ports import HOST

ADMIN_PATH = "/-/router"
# The router answers its admin path only to a caller that knows its token
# (kept in the owner-only state file); a scoring client gets a 404.
TOKEN_HEADER = "x-mlops-router-token"
# The router reads its token from this variable, never from its command line.
TOKEN_ENV = "MLOPS_ROUTER_TOKEN"
# Which deployment answered, or which one a caller asks for (as on Azure ML).
DEPLOYMENT_HEADER = "azureml-model-deployment"
LOG_TAIL_LINES = 15


def router_status(port: int, token: str) -> dict | None:
    """The router's status (state revision in force, requests in flight per
    deployment, ...), or None when no router of this endpoint answers on ``port``."""
    request = urllib.request.Request(
        f"http://{HOST}:{port}{ADMIN_PATH}", headers={TOKEN_HEADER: token}
    )
    try:
        with urllib.request.urlopen(request, timeout=2) as answer:
            return json.loads(answer.read())
    except (OSError, ValueError):
        return None


def server_ready(port: int) -> bool:
    """Whether the scoring server on ``port`` answers its liveness route with 200."""
    try:
        with urllib.request.urlopen(f"http://{HOST}:{port}/", timeout=5) as answer:
            return answer.status == 200
    except (OSError, urllib.error.HTTPError):
        return False


def wait_ready(process: subprocess.Popen, port: int, limit: float, log: Path) -> None:
    """Return once the server ``process`` started on ``port`` is ready; raise
    ``DeploymentError`` with the end of its log if it exits or takes over ``limit`` s."""
    deadline = time.monotonic() + limit
    while not server_ready(port):
        if process.poll() is not None:
            raise DeploymentError(
                f"the scoring server exited with code {process.returncode} before it was "
                f"ready; {tail(log)}"
            )
        if time.monotonic() > deadline:
            raise DeploymentError(f"the scoring server was not ready after {limit:.0f} s")
        time.sleep(0.1)


def tail(log: Path) -> str:
    try:
        lines = log.read_text(errors="replace").splitlines()[-LOG_TAIL_LINES:]
    except OSError:
        return "it wrote no log"
    return "its log ends with:\n" + "\n".join(lines)
