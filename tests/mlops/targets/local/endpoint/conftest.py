"""Stand-ins for a deployment's scoring server, and a bounded client load.

Two kinds: a small HTTP process carrying the deployment's marker, so the
router and the endpoint logic run for real without gunicorn; and the real
scoring server serving a stand-in scoring script that loads no model
(``standin_endpoint``), for the fault tests of supervision. Neither trains
or loads a model (tests/mlops/test_deploy.py runs the real model)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
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
        if body.startswith(b'{"messages"'):  # generate_score.py's request: its answer's shape
            asked = json.loads(body)
            if asked.get("max_new_tokens", 1) > 50:
                return self.answer(400, {"message": "max_new_tokens takes an integer from 1 to 50"})
            words = asked["messages"][-1]["content"].split()
            self.answer(200, {"completion": " ".join(reversed(words)), "finish_reason": "stop",
                              "usage": {"prompt_tokens": len(words), "completion_tokens": 2},
                              "received": asked, "path": self.path})
            return
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


# The real scoring server (gunicorn + azureml-inference-server-http) serving a
# stand-in scoring script: no model to load, so it starts in a second or two,
# and the router, its supervisor and gunicorn's master and workers are all real.

STANDIN_SCORE = '''
"""Stand-in scoring script: no model; answers with the pid of the worker that scored."""
import json
import os
import time
from pathlib import Path

from azureml_inference_server_http.api.aml_request import rawhttp
from azureml_inference_server_http.api.aml_response import AMLResponse


def init():
    if os.environ.get("STANDIN_INITS"):  # where each process that ran init() says so
        Path(os.environ["STANDIN_INITS"], str(os.getpid())).touch()


@rawhttp
def run(request):
    asked = json.loads(request.get_data() or b"{}")
    if asked.get("delay"):
        # Which worker holds this request, for a test to kill it.
        Path(os.environ["STANDIN_BUSY"], str(os.getpid())).touch()
        time.sleep(asked["delay"])
    return AMLResponse({"pid": os.getpid()}, 200, json_str=True)
'''


def standin_spec(root: Path, **variables: str):
    """A deployment spec whose code folder holds the stand-in scoring script."""
    from mlops.deployment_spec import DeploymentSpec

    code = root / "standin-code"
    code.mkdir(exist_ok=True)
    (code / "score.py").write_text(STANDIN_SCORE)
    busy = root / "busy"
    busy.mkdir(exist_ok=True)
    return DeploymentSpec(
        path=root / "pipelines" / "endpoints" / "deployment.yml",
        code=code,
        scoring_script="score.py",
        environment_variables={"STANDIN_BUSY": str(busy), **variables},
        request_timeout_ms=5000,
    )


@pytest.fixture(scope="module")
def standin_endpoint(tmp_path_factory):
    """A project (``make_project``) whose endpoint serves deployment blue, 100 %, with
    the real scoring server and the stand-in script; stopped afterwards."""
    from types import SimpleNamespace

    from mlops.settings import load_settings
    from mlops.targets import get_target
    from tests.conftest import make_project, stop_endpoints

    root = make_project(tmp_path_factory.mktemp("standin"))
    settings = load_settings(root / "mlops.yml")
    endpoint = get_target(settings).endpoint
    model = root / "standin-model"
    model.mkdir()
    (model / "MLmodel").write_text("# a stand-in: the scoring script loads nothing\n")
    try:
        with endpoint.lock(lambda line: None):
            endpoint.create_deployment(
                "blue", "credit-default-classifier:1", model, standin_spec(root), lambda line: None
            )
            endpoint.set_traffic({"blue": 100})
        yield SimpleNamespace(
            root=root,
            settings=settings,
            endpoint=endpoint,
            url=f"http://127.0.0.1:{endpoint.port}/score",
            busy=root / "busy",
        )
    finally:
        stop_endpoints(root)


@dataclass(frozen=True)
class Answer:
    started: float  # time.monotonic()
    ended: float
    status: int  # 0: no HTTP answer (see error)
    body: dict
    error: str = ""


def score(url: str, body: bytes = b"{}", timeout: float = 30) -> Answer:
    started = time.monotonic()
    request = urllib.request.Request(url, data=body, headers={"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(request, timeout=timeout) as answer:
            status, payload = answer.status, answer.read()
    except urllib.error.HTTPError as error:
        status, payload = error.code, error.read()
    except OSError as error:
        return Answer(started, time.monotonic(), 0, {}, f"{type(error).__name__}: {error}")
    try:
        body = json.loads(payload or b"{}")
    except ValueError:
        body = {"raw": payload.decode(errors="replace")}
    return Answer(started, time.monotonic(), status, body)


class Load:
    """Scoring requests on ``url`` from a thread, one at a time and ``pause`` s apart
    (a bounded load), each recorded as an ``Answer``; entered once one is answered
    200, unless not ``wait``."""

    def __init__(self, url: str, pause: float = 0.02, wait: bool = True) -> None:
        self.url, self.pause, self.wait = url, pause, wait
        self.answers: list[Answer] = []
        self.done = threading.Event()
        self.thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self.done.is_set():
            self.answers.append(score(self.url))
            time.sleep(self.pause)

    def __enter__(self) -> Load:
        self.thread.start()
        if self.wait:  # for a first answer
            wait_until(lambda: any(a.status == 200 for a in self.answers))
        return self

    def __exit__(self, *exc) -> None:
        self.done.set()
        self.thread.join(60)

    def after(self, moment: float) -> list[Answer]:
        """The requests that started after ``moment``."""
        return [a for a in list(self.answers) if a.started > moment]

    def served_again(self, moment: float) -> float | None:
        """When the first request started after ``moment`` was answered 200."""
        return next((a.ended for a in self.after(moment) if a.status == 200), None)


def cmdline(pid: int) -> list[str]:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().rstrip(b"\0").decode().split("\0")
    except OSError:
        return []
