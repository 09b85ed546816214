"""The local online endpoint: a router and one scoring server per deployment.

Everything lives under ``<state>/endpoints/<name>/``:

- ``endpoint.json``, the state: router port and pid, a revision number, the
  traffic map, and per deployment its model, port, pid and request timeout.
  It is replaced atomically on every change; the router re-reads it.
- ``deployments/<deployment>/``: the code snapshot, the model files under
  ``azureml-models/<model>/<version>/`` (``AZUREML_MODEL_DIR``, laid out as
  Azure ML mounts it) and ``server.log``.
- ``router.log``, and ``logs/`` with the server logs of failed deployments.

A deployment is ``azureml-inference-server-http`` (the server Azure ML's
managed online endpoints run) serving the scoring script, under gunicorn as
its ``azmlinfsrv`` command runs it, but bound to 127.0.0.1 rather than all
interfaces. Processes run in their own sessions so they outlive the command
that started them; ``delete`` stops them.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator, Mapping
from datetime import UTC, datetime
from pathlib import Path

from mlops.deployment_spec import DeploymentSpec
from mlops.targets.base import Deployment, DeploymentError, Endpoint, Printer

STATE_FILE = "endpoint.json"
ROUTER_MODULE = "mlops.targets.local.endpoint.router"
ADMIN_PATH = "/-/router"
DEPLOYMENT_HEADER = "azureml-model-deployment"
WORKER_TIMEOUT_SECONDS = "300"  # as azmlinfsrv sets it
LOG_TAIL_LINES = 15


class LocalEndpoint:
    def __init__(self, root: Path, name: str, port: int) -> None:
        self.name = name
        self.port = port
        self.folder = root / name
        self.state_path = self.folder / STATE_FILE

    # state

    def read_state(self) -> dict | None:
        try:
            return json.loads(self.state_path.read_text())
        except FileNotFoundError:
            return None
        except ValueError:
            raise DeploymentError(
                f"{self.state_path}: not readable; stop the endpoint with "
                "`mlops endpoint stop` (it removes the file)"
            ) from None

    def _write_state(self, state: dict) -> None:
        state["revision"] = state.get("revision", 0) + 1
        self.folder.mkdir(parents=True, exist_ok=True)
        temporary = self.state_path.with_suffix(".tmp")
        temporary.write_text(json.dumps(state, indent=2))
        temporary.replace(self.state_path)

    @property
    def scoring_uri(self) -> str:
        return f"http://127.0.0.1:{self.port}/score"

    def get(self) -> Endpoint | None:
        state = self.read_state()
        if state is None:
            return None
        deployments = tuple(
            Deployment(
                name=name,
                model=item["model"],
                scoring_uri=f"http://127.0.0.1:{item['port']}/score",
                state="Succeeded"
                if _alive(item["pid"], _bind(item["port"]))
                else "Failed: the server is not running",
            )
            for name, item in sorted(state["deployments"].items())
        )
        router_up = _alive(state.get("router_pid"), str(self.state_path))
        return Endpoint(
            name=self.name,
            scoring_uri=f"http://127.0.0.1:{state['port']}/score" if router_up else "",
            traffic=dict(state["traffic"]),
            deployments=deployments,
        )

    @contextlib.contextmanager
    def lock(self) -> Iterator[None]:
        self.folder.parent.mkdir(parents=True, exist_ok=True)
        with open(self.folder.parent / f".{self.name}.lock", "w") as handle:
            try:
                fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                raise DeploymentError(
                    f"another deploy to endpoint {self.name!r} is in progress; wait for it"
                ) from None
            yield

    # router

    def start_router(self) -> subprocess.Popen | None:
        """Start the router unless it is running and answering; returns the new process."""
        state = self.read_state() or {"name": self.name, "traffic": {}, "deployments": {}}
        router = str(self.state_path)
        if _alive(state.get("router_pid"), router) and self._router_status(state["port"]):
            return None
        _stop(state.get("router_pid"), router)
        state["port"] = self.port
        log = self.folder / "router.log"
        self.folder.mkdir(parents=True, exist_ok=True)
        command = [sys.executable, "-m", ROUTER_MODULE, "--state", str(self.state_path)]
        process = _spawn([*command, "--port", str(self.port)], log, cwd=self.folder)
        state["router_pid"] = process.pid
        self._write_state(state)
        return process

    def wait_router(self, process: subprocess.Popen | None, show: Printer) -> None:
        """Return once a router started by ``start_router`` answers."""
        if process is None:
            return
        log = self.folder / "router.log"
        deadline = time.monotonic() + 30
        while self._router_status(self.port) is None:
            if process.poll() is not None or time.monotonic() > deadline:
                _stop(process.pid)
                raise DeploymentError(
                    f"the endpoint router did not start on port {self.port} (is the port in "
                    f"use? set local.endpoint_port); {_tail(log)}\nfull log: {log}"
                )
            time.sleep(0.05)
        show(f"endpoint {self.name}: {self.scoring_uri}")

    def _router_status(self, port: int) -> dict | None:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}{ADMIN_PATH}", timeout=2) as r:
                return json.loads(r.read())
        except (OSError, ValueError):
            return None

    # deployments

    def create_deployment(
        self, name: str, model_ref: str, model_dir: Path, spec: DeploymentSpec, show: Printer
    ) -> Deployment:
        """Start the router if needed and deployment ``name`` at 0 % traffic; return
        once both answer. The two start side by side: each takes seconds."""
        router = self.start_router()
        state = self.read_state()
        if name in state["deployments"]:
            raise DeploymentError(f"deployment {name} already exists on endpoint {self.name}")
        folder = self.folder / "deployments" / name
        shutil.rmtree(folder, ignore_errors=True)
        model_name, version = model_ref.split(":")
        model_root = folder / "azureml-models" / model_name / version
        shutil.copytree(model_dir, model_root / model_dir.name)
        code = folder / "code"
        shutil.copytree(spec.code, code, ignore=shutil.ignore_patterns("__pycache__"))
        state["deployments"][name] = {
            "model": model_ref,
            "port": _free_port(),
            "pid": None,
            "scoring_script": spec.scoring_script,
            "environment_variables": dict(spec.environment_variables),
            "request_timeout_ms": spec.request_timeout_ms,
            "readiness_seconds": spec.readiness_seconds,
            "created": datetime.now(UTC).isoformat(timespec="seconds"),
        }
        state["traffic"].setdefault(name, 0)
        process = self._start_server(state, name)
        port = state["deployments"][name]["port"]
        show(f"deployment {name}: starting {model_ref} on port {port}")
        started = time.monotonic()
        try:
            self.wait_router(router, show)
            self._wait_ready(process, port, spec.readiness_seconds, folder / "server.log")
        except DeploymentError as error:
            kept = self.delete_deployment(name, keep_log=True)
            raise DeploymentError(f"deployment {name}: {error}\nfull log: {kept}") from None
        show(f"deployment {name}: ready in {time.monotonic() - started:.1f} s")
        return self.get().deployment(name)

    def _start_server(self, state: dict, name: str) -> subprocess.Popen:
        """Start the scoring server of deployment ``name`` from its folder and its
        entry in ``state`` (on its recorded port, or a free one if that is taken)
        and save the state with the new pid."""
        item = state["deployments"][name]
        folder = self.folder / "deployments" / name
        model_name, version = item["model"].split(":")
        code = folder / "code"
        if not _port_free(item["port"]):
            item["port"] = _free_port()
        env = {
            **_server_env(),
            **item["environment_variables"],
            "AZUREML_MODEL_DIR": str(folder / "azureml-models" / model_name / version),
            "AZUREML_ENTRY_SCRIPT": str(code / item["scoring_script"]),
            "AML_APP_ROOT": str(code),
            "SERVICE_NAME": f"{self.name}/{name}",
        }
        command = [
            sys.executable, "-m", "gunicorn",
            "--bind", _bind(item["port"]),
            "--workers", env.get("WORKER_COUNT", "1"),
            "--timeout", WORKER_TIMEOUT_SECONDS,
            "--access-logfile", "-",
            "--no-control-socket",
            "azureml_inference_server_http.server.entry:app",
        ]  # fmt: skip
        process = _spawn(command, folder / "server.log", cwd=code, env=env)
        item["pid"] = process.pid
        self._write_state(state)
        return process

    def resume(self, show: Printer) -> None:
        """Start again whatever of the endpoint is not running (the router, any
        deployment's server), from the files and settings it was deployed with:
        after a reboot the endpoint comes back as it was. A deployment that does
        not become ready raises ``DeploymentError`` and is left as it is."""
        state = self.read_state()
        if state is None:
            return
        router = self.start_router()
        state = self.read_state()
        started = {}
        for name, item in sorted(state["deployments"].items()):
            if not _alive(item["pid"], _bind(item["port"])):
                show(f"deployment {name}: not running; starting {item['model']} again")
                started[name] = self._start_server(state, name)
        self.wait_router(router, show)
        for name, process in started.items():
            item = state["deployments"][name]
            log = self.folder / "deployments" / name / "server.log"
            try:
                self._wait_ready(process, item["port"], item["readiness_seconds"], log)
            except DeploymentError as error:
                raise DeploymentError(
                    f"deployment {name}: {error}\nfull log: {log}\nremove the endpoint with "
                    "`mlops endpoint stop` and deploy again"
                ) from None
            show(f"deployment {name}: ready")

    def _wait_ready(self, process: subprocess.Popen, port: int, limit: float, log: Path) -> None:
        deadline = time.monotonic() + limit
        while True:
            if process.poll() is not None:
                raise DeploymentError(
                    f"the scoring server exited with code {process.returncode} before it was "
                    f"ready; {_tail(log)}"
                )
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=5) as answer:
                    if answer.status == 200:
                        return
            except OSError:
                pass
            if time.monotonic() > deadline:
                raise DeploymentError(f"the scoring server was not ready after {limit:.0f} s")
            time.sleep(0.1)

    def set_traffic(self, traffic: Mapping[str, int]) -> None:
        state = self.read_state()
        unknown = sorted(set(traffic) - set(state["deployments"]))
        if unknown:
            raise DeploymentError(f"no deployment named {', '.join(unknown)}")
        total = sum(traffic.values())
        if any(share < 0 for share in traffic.values()) or total not in (0, 100):
            raise DeploymentError(f"traffic shares must be >= 0 and add up to 100, not {total}")
        state["traffic"] = {name: int(traffic.get(name, 0)) for name in state["deployments"]}
        self._write_state(state)
        drained = [name for name, share in state["traffic"].items() if share == 0]
        timeout = max(
            [d["request_timeout_ms"] / 1000 for d in state["deployments"].values()], default=5
        )
        deadline = time.monotonic() + timeout + 5
        while True:
            status = self._router_status(state["port"])
            if (
                status is not None
                and status["revision"] >= state["revision"]
                and not any(status["inflight"].get(name) for name in drained)
            ):
                return
            if time.monotonic() > deadline:
                raise DeploymentError("the endpoint router did not take the new traffic map")
            time.sleep(0.02)

    def delete_deployment(self, name: str, keep_log: bool = False) -> Path | None:
        """Stop and remove deployment ``name``; with ``keep_log``, its server log is
        kept under ``logs/`` and its new path returned."""
        state = self.read_state()
        item = state["deployments"].get(name) if state else None
        if item is None:
            return None
        if state["traffic"].get(name, 0) > 0:
            raise DeploymentError(f"deployment {name} takes traffic; move it elsewhere first")
        _stop(item["pid"], _bind(item["port"]))
        del state["deployments"][name]
        state["traffic"].pop(name, None)
        self._write_state(state)
        folder = self.folder / "deployments" / name
        kept = None
        if keep_log and (folder / "server.log").is_file():
            kept = self.folder / "logs" / f"{name}-{datetime.now(UTC):%Y%m%d-%H%M%S}.log"
            kept.parent.mkdir(exist_ok=True)
            shutil.copy(folder / "server.log", kept)
        shutil.rmtree(folder, ignore_errors=True)
        return kept

    def delete(self) -> None:
        try:
            state = self.read_state() or {"deployments": {}}
        except DeploymentError:
            state = {"deployments": {}}  # unreadable: nothing to stop by pid, remove the files
        for item in state["deployments"].values():
            _stop(item["pid"], _bind(item["port"]))
        _stop(state.get("router_pid"), str(self.state_path))
        shutil.rmtree(self.folder, ignore_errors=True)

    def invoke(self, body: bytes, deployment: str | None = None) -> tuple[int, bytes]:
        state = self.read_state()
        if state is None or not _alive(state.get("router_pid"), str(self.state_path)):
            raise DeploymentError(
                f"endpoint {self.name} is not running; start it with `mlops endpoint start` "
                "(or deploy a model with `mlops run`)"
            )
        headers = {"Content-Type": "application/json"}
        if deployment:
            headers[DEPLOYMENT_HEADER] = deployment
        request = urllib.request.Request(
            f"http://127.0.0.1:{state['port']}/score", data=body, headers=headers, method="POST"
        )
        try:
            with urllib.request.urlopen(request, timeout=60) as answer:
                return answer.status, answer.read()
        except urllib.error.HTTPError as error:
            return error.code, error.read()
        except OSError as error:
            raise DeploymentError(f"endpoint {self.name} did not answer: {error}") from None


def _server_env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("MLFLOW_", "AZUREML_"))}
    env["PATH"] = os.pathsep.join([str(Path(sys.executable).parent), env.get("PATH", "")])
    env["PYTHONUNBUFFERED"] = "1"
    return env


def _spawn(
    command: list[str], log: Path, cwd: Path, env: Mapping[str, str] | None = None
) -> subprocess.Popen:
    log.parent.mkdir(parents=True, exist_ok=True)
    with open(log, "ab") as out:
        return subprocess.Popen(
            command,
            cwd=cwd,
            env=dict(env) if env is not None else None,
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # survives the command; stopped by process group
        )


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def _port_free(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        try:
            probe.bind(("127.0.0.1", port))
        except OSError:
            return False
        return True


def _bind(port: int) -> str:
    return f"127.0.0.1:{port}"


def _alive(pid: int | None, marker: str | None = None) -> bool:
    """Whether ``pid`` runs and, given ``marker``, its command line holds it: a pid
    read back from the state file may since have been reused by another program."""
    if not pid:
        return False
    with contextlib.suppress(ChildProcessError):
        if os.waitpid(pid, os.WNOHANG)[0] == pid:
            return False  # our child, and it has exited
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return False  # another user's process: not one of ours
    return marker is None or marker in _command_line(pid)


def _command_line(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode()
    except OSError:  # no /proc (macOS): ask ps
        done = subprocess.run(
            ["ps", "-o", "command=", "-p", str(pid)], capture_output=True, text=True, check=False
        )
        return done.stdout


def _stop(pid: int | None, marker: str | None = None, grace: float = 10.0) -> None:
    """Stop the process group led by ``pid``: SIGTERM, then SIGKILL after ``grace`` s."""
    if not _alive(pid, marker):
        return
    with contextlib.suppress(ProcessLookupError):
        os.killpg(pid, signal.SIGTERM)
    deadline = time.monotonic() + grace
    while _alive(pid):
        if time.monotonic() > deadline:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(pid, signal.SIGKILL)
        time.sleep(0.05)


def _tail(log: Path) -> str:
    try:
        lines = log.read_text(errors="replace").splitlines()[-LOG_TAIL_LINES:]
    except OSError:
        return "it wrote no log"
    return "its log ends with:\n" + "\n".join(lines)
