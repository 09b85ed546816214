"""Stand-ins for a deployment's scoring server: a small HTTP process carrying the
deployment's marker, so the router and the endpoint logic run for real without
loading a model (tests/mlops/test_deploy.py runs the real servers)."""

import json
import os
import subprocess
import sys
import urllib.request
from pathlib import Path

import pytest

from mlops.targets.local.endpoint import processes
from tests.conftest import free_port, wait_until

STANDIN = r"""
import http.server, json, sys, time
class Handler(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        self.answer(200, {"status": "healthy"})
    def do_POST(self):
        body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
        time.sleep(float(self.headers.get("x-delay", 0)))
        self.answer(200, {"predictions": [0], "probabilities": [0.1], "bytes": len(body)})
    def answer(self, status, payload):
        data = json.dumps(payload).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)
    def log_message(self, *args):
        pass
http.server.ThreadingHTTPServer(("127.0.0.1", int(sys.argv[1])), Handler).serve_forever()
"""


def start_standin(port: int, marker: str) -> subprocess.Popen:
    process = subprocess.Popen(
        [sys.executable, "-c", STANDIN, str(port), marker], start_new_session=True
    )
    wait_until(lambda: answers(f"http://127.0.0.1:{port}/"))
    return process


def answers(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=1) as answer:
            return answer.status == 200
    except OSError:
        return False


def deployment_entry(port: int, status: str = "live", **extra) -> dict:
    return {
        "model": "credit-default-classifier:1",
        "port": port,
        "status": status,
        "scoring_script": "score.py",
        "environment_variables": {"MAX_REQUEST_BYTES": "4096"},
        "request_timeout_ms": 3000,
        "readiness_seconds": 10,
        **extra,
    }


@pytest.fixture
def standins(tmp_path):
    """Start stand-in deployments of endpoint ``tmp_path/e``: ``start(name)`` -> (port, process)."""
    started = []

    def start(name: str) -> tuple[int, subprocess.Popen]:
        port = free_port()
        started.append(start_standin(port, str(tmp_path / "e" / "deployments" / name)))
        return port, started[-1]

    yield start
    processes.stop(str(tmp_path / "e") + "/", prefix=True, grace=2)
    for process in started:
        process.kill()
        process.wait()


def environ_of(pid: int) -> dict[str, str]:
    raw = Path(f"/proc/{pid}/environ").read_bytes()
    return dict(item.split("=", 1) for item in raw.decode().split("\0") if "=" in item)


def json_of(answer) -> dict:
    return json.loads(answer.read())


RESPAWN = """
import os, subprocess, sys
while True:
    subprocess.run([sys.executable, "-c", "import time; time.sleep(60)", os.environ["MARKER"]],
                   start_new_session=True)
"""


def respawning(marker: str) -> subprocess.Popen:
    """A supervisor (without the marker) that starts a process carrying ``marker``,
    in a session of its own, again as soon as it ends."""
    return subprocess.Popen(
        [sys.executable, "-c", RESPAWN],
        env={**os.environ, "MARKER": marker},
        start_new_session=True,
    )
