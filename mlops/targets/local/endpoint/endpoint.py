"""The local online endpoint: a router and one scoring server per deployment.

Everything lives under ``<state>/endpoints/<name>/`` (owner-only):

- ``endpoint.json``, the state (``state.py``), and its copy ``endpoint.json.copy``;
- ``deployments/<deployment>/``: the code snapshot, the model files and
  ``server.log`` of each deployment (``servers.py``);
- ``router.log``, of the router and its supervisor.

The endpoint's port is bound here, by the command that starts the router:
a port another program holds is refused before anything that serves is
touched, naming the setting. The listening socket goes to the router's
supervisor (``supervisor.py``), which starts the router (``router.py``) on it
and starts it again if it dies; a router on another port (the setting
changed) keeps serving until its successor listens. The supervisor, the
router and the servers run in their own sessions, so they outlive the
command that started them, and carry markers by which they are found and
stopped (``processes.py``). A deployment goes through the statuses
``creating`` (started by a deploy), ``ready`` (it answered) and ``live`` (it
took traffic); from ``ready`` on, the router restarts its server if it dies.
Whatever holds the endpoint lock first calls ``resume``, which brings the
state back to its newest complete revision if a file is damaged, removes
what an interrupted deploy left behind and starts what has stopped.
"""

from __future__ import annotations

import secrets
import shutil
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from mlops.deployment_spec import DeploymentSpec
from mlops.errors import UserError
from mlops.lineage import model_digest
from mlops.targets.base import Deployment, DeploymentError, Endpoint, Printer
from mlops.targets.local.child_env import child_env
from mlops.targets.local.endpoint import lock, processes, servers
from mlops.targets.local.endpoint.ports import HOST, free_port, listen, port_free
from mlops.targets.local.endpoint.probes import (
    DEPLOYMENT_HEADER,
    TOKEN_ENV,
    router_status,
    server_ready,
    tail,
    wait_ready,
)
from mlops.targets.local.endpoint.state import EndpointState, StateUnreadable
from mlops.targets.local.files import private_folder

SUPERVISOR = Path(__file__).with_name("supervisor.py")
ROUTER_START_SECONDS = 30
# How long a deploy waits for the router to take a new state revision; a
# router that has not taken it by then is not serving the endpoint.
ROUTER_TAKES_SECONDS = 5
# How long a command waits for a router that runs but does not answer (its
# supervisor may be starting it again) before it replaces it.
ROUTER_RESTART_SECONDS = 10


@dataclass(frozen=True)
class _RouterStart:
    """A supervisor just started, and the processes of the router it replaces."""

    process: subprocess.Popen
    replaced: list[processes.Identity]


class LocalEndpoint:
    def __init__(
        self,
        root: Path,
        name: str,
        port: int,
        lock_wait_seconds: float = 900,
        port_setting: str = "local.endpoint_port",
    ) -> None:
        self.name = name
        self.port = port
        self.port_setting = port_setting  # the settings key that names ``port``
        self.lock_wait_seconds = lock_wait_seconds
        self.root = root
        self.folder = root / name
        self.state = EndpointState(self.folder)
        self.lock_path = root / f".{name}.lock"

    @property
    def router_marker(self) -> str:
        return str(self.state.path)

    def _deployment_folder(self, name: str) -> Path:
        return self.folder / "deployments" / name

    def server_marker(self, deployment: str) -> str:
        """The argument by which deployment ``deployment``'s server processes are found."""
        return servers.marker(self._deployment_folder(deployment))

    # reading

    def get(self) -> Endpoint | None:
        """The endpoint as its state says, with each deployment's server checked;
        None when there is none. Raises ``StateUnreadable``."""
        state, _ = self.state.read()
        if state is None:
            return None
        markers = {
            name: servers.marker(self._deployment_folder(name)) for name in state["deployments"]
        }
        running = processes.leaders(set(markers.values()))
        deployments = tuple(
            Deployment(
                name=name,
                model=item["model"],
                scoring_uri=f"http://{HOST}:{item['port']}/score",
                state=_state_of(item, markers[name] in running),
                model_digest=item.get("model_digest"),
            )
            for name, item in sorted(state["deployments"].items())
        )
        router_up = processes.alive(self.router_marker)
        return Endpoint(
            name=self.name,
            scoring_uri=f"http://{HOST}:{state['port']}/score" if router_up else "",
            traffic=dict(state["traffic"]),
            deployments=deployments,
        )

    def versions_in_use(self, model_name: str) -> list[int]:
        """The version numbers of ``model_name`` that the endpoint's state names."""
        try:
            state, _ = self.state.read()
        except StateUnreadable:
            return []
        found = []
        for item in (state or {"deployments": {}})["deployments"].values():
            name, _, version = item["model"].rpartition(":")
            if name == model_name and version.isdigit():
                found.append(int(version))
        return found

    def check_port(self) -> None:
        """Raise ``UserError`` naming ``port_setting`` when the port the settings
        name is taken by something other than this endpoint's router there."""
        if port_free(self.port):
            return
        try:
            state, _ = self.state.read()
        except StateUnreadable:
            state = None
        if state and state["port"] == self.port and processes.alive(self.router_marker):
            return
        raise UserError(self._port_taken())

    def _port_taken(self) -> str:
        key = self.port_setting
        return (
            f"{key}: port {self.port} is in use by another program; set {key} to a free "
            "port, or stop that program"
        )

    # the lock, and coming back to a known state

    def lock(self, show: Printer):
        private_folder(self.root)
        return lock.hold(self.lock_path, self.name, self.lock_wait_seconds, show)

    def resume(self, show: Printer) -> None:
        """Called with the lock held: see the module docstring. Raises
        ``DeploymentError`` when a server does not come back."""
        try:
            state, note = self.state.read()
        except StateUnreadable as error:
            show(f"endpoint {self.name}: {error}")
            self.delete()
            show(f"endpoint {self.name}: its processes are stopped and it is removed")
            return
        if state is None:
            processes.stop(str(self.folder) + "/", prefix=True)  # orphans of a lost folder
            return
        if note:
            show(f"endpoint {self.name}: {note}")
            state = self.state.write(state)
        self._remove_leftovers(state, show)
        state, _ = self.state.read()
        if not state["deployments"]:
            show(f"endpoint {self.name}: no deployment is left (a first deploy was interrupted)")
            self.delete()
            show(f"endpoint {self.name}: removed")
            return
        self._bring_back(state, show)

    def _remove_leftovers(self, state: dict, show: Printer) -> None:
        traffic = state["traffic"]
        serving = any(share > 0 for share in traffic.values())
        for name, item in sorted(state["deployments"].items()):
            if traffic.get(name, 0) > 0 or (item["status"] == "live" and not serving):
                continue
            why = "it never took traffic (an interrupted deploy)"
            if item["status"] == "live":
                why = "it takes no traffic (an interrupted swap)"
            show(f"deployment {name}: {why}; removing it")
            self.delete_deployment(name)

    def _bring_back(self, state: dict, show: Printer) -> None:
        router = self._start_router(state)
        markers = {n: servers.marker(self._deployment_folder(n)) for n in state["deployments"]}
        running = processes.leaders(set(markers.values()))
        stopped = [n for n in state["deployments"] if markers[n] not in running]
        for name in stopped:
            item = state["deployments"][name]
            if not port_free(item["port"]):
                item["port"] = free_port()
        if stopped:
            state = self.state.write(state)
        self._wait_router(router, show)
        for name in stopped:  # the router starts them again: they had been ready
            show(f"deployment {name}: not running; starting {state['deployments'][name]['model']}")
        deadline = time.monotonic() + max(
            (state["deployments"][n]["readiness_seconds"] for n in stopped), default=0
        )
        for name in stopped:
            item, log = state["deployments"][name], self._deployment_folder(name) / "server.log"
            # Ready once its server answers and the router has seen it answer.
            while not server_ready(item["port"]) or name in self._router_down(state):
                if time.monotonic() > deadline:
                    raise DeploymentError(
                        f"deployment {name} did not come back; {tail(log)}\nfull log: {log}\n"
                        "remove the endpoint with `mlops endpoint stop` and deploy again"
                    )
                time.sleep(0.1)
            show(f"deployment {name}: ready")

    def _router_down(self, state: dict) -> list[str]:
        status = router_status(self.port, state["router"]["token"])
        return list(status.get("down", [])) if status else list(state["deployments"])

    # the router

    def _start_router(self, state: dict) -> _RouterStart | None:
        """Start the router on ``port`` unless one runs there and answers; save
        its token in ``state`` first (the router refuses a state without it).
        Raises ``UserError`` (nothing changed) when another program holds the port."""
        token = state.get("router", {}).get("token", "")
        old = [i for i in map(processes.identity, processes.find(self.router_marker)) if i]
        if old and state["port"] == self.port:
            if self._router_answers(token):
                return None
            # Stuck, or failing to start: it holds the port and serves nothing.
            processes.stop(self.router_marker)
            old = []
        listener = listen(self.port)
        if listener is None:
            raise UserError(self._port_taken())
        with listener:
            state["port"] = self.port
            state["router"] = {"token": secrets.token_urlsafe(24)}
            self.state.write(state)
            fd = str(listener.fileno())
            command = [sys.executable, "-I", str(SUPERVISOR), "--state", self.router_marker]
            process = processes.spawn(
                [*command, "--port", str(self.port), "--fd", fd],
                self.folder / "router.log",
                self.folder,
                child_env({TOKEN_ENV: state["router"]["token"]}),
                pass_fds=(listener.fileno(),),
            )
        return _RouterStart(process, old)

    def _router_answers(self, token: str) -> bool:
        """Whether this endpoint's router answers on ``port``, waiting a while for one
        its supervisor is starting again."""
        deadline = time.monotonic() + ROUTER_RESTART_SECONDS
        while router_status(self.port, token) is None:
            if time.monotonic() > deadline or not processes.alive(self.router_marker):
                return False
            time.sleep(0.1)
        return True

    def _wait_router(self, start: _RouterStart | None, show: Printer) -> None:
        if start is None:
            return
        token = self.state.read()[0]["router"]["token"]
        log = self.folder / "router.log"
        deadline = time.monotonic() + ROUTER_START_SECONDS
        while router_status(self.port, token) is None:
            if start.process.poll() is not None or time.monotonic() > deadline:
                processes.stop(self.router_marker)
                raise DeploymentError(
                    f"the endpoint router did not start on port {self.port}; {tail(log)}\n"
                    f"full log: {log}"
                )
            time.sleep(0.05)
        show(f"endpoint {self.name}: router started")
        # The router it replaces (on the old port) exits once it reads the new
        # token; whatever of it has not by now is stopped.
        deadline = time.monotonic() + ROUTER_TAKES_SECONDS
        while any(map(processes.running_as, start.replaced)) and time.monotonic() < deadline:
            time.sleep(0.05)
        processes.end(start.replaced)

    def _router_takes(self, revision: int, drained: list[str], limit: float) -> bool:
        """Wait until the router serves state ``revision`` and has no request in
        flight to ``drained``, up to ``limit`` s; whether it took the revision."""
        token = self.state.read()[0]["router"]["token"]
        deadline = time.monotonic() + limit
        took = False
        while time.monotonic() < deadline:
            status = router_status(self.port, token)
            took = status is not None and status["revision"] >= revision
            if took and not any(status["inflight"].get(name) for name in drained):
                return True
            time.sleep(0.02)
        return took

    # deployments

    def create_deployment(
        self,
        name: str,
        model_ref: str,
        model_dir: Path,
        spec: DeploymentSpec,
        show: Printer,
        chat: bool = False,
    ) -> Deployment:
        """Start the router if needed and deployment ``name`` at 0 % traffic; return
        once both answer. With ``chat``, the router also answers OpenAI's chat
        completions through it (the model generates text). On ``DeploymentError``
        the caller removes the deployment."""
        state, _ = self.state.read()
        state = state or {"name": self.name, "port": self.port, "traffic": {}, "deployments": {}}
        if name in state["deployments"]:
            raise DeploymentError(f"deployment {name} already exists on endpoint {self.name}")
        folder = self._deployment_folder(name)
        shutil.rmtree(folder, ignore_errors=True)
        private_folder(folder)
        model_name, version = model_ref.rsplit(":", 1)
        served = folder / "azureml-models" / model_name / version / model_dir.name
        shutil.copytree(model_dir, served)
        shutil.copytree(spec.code, folder / "code", ignore=shutil.ignore_patterns("__pycache__"))
        item = {
            "model": model_ref,
            "model_digest": model_digest(served),
            "port": free_port(),
            "status": "creating",
            "scoring_script": spec.scoring_script,
            "environment_variables": dict(spec.environment_variables),
            # The data collector's collections (name -> share of requests) and the
            # port the router receives their records on (collection.py).
            "collections": dict(spec.collections),
            "collector_port": free_port() if spec.collections else None,
            "request_timeout_ms": spec.request_timeout_ms,
            "readiness_seconds": spec.readiness_seconds,
            "created": datetime.now(UTC).isoformat(timespec="seconds"),
            "chat": chat,
        }
        state["deployments"][name] = item
        state["traffic"].setdefault(name, 0)
        router = self._start_router(state)
        if router is None:
            self.state.write(state)
        # The router and the server start side by side: each takes seconds.
        process = self._start_server(name, item)
        show(f"deployment {name}: starting {model_ref} on port {item['port']}")
        started = time.monotonic()
        self._wait_router(router, show)
        wait_ready(process, item["port"], spec.readiness_seconds, folder / servers.LOG_FILE)
        self._set_status(name, "ready")
        show(f"deployment {name}: ready in {time.monotonic() - started:.1f} s")
        return self.get().deployment(name)

    def _start_server(self, name: str, item: dict):
        return servers.start(self._deployment_folder(name), item, f"{self.name}/{name}")

    def _set_status(self, name: str, status: str) -> dict:
        state, _ = self.state.read()
        state["deployments"][name]["status"] = status
        return self.state.write(state)

    def set_traffic(self, traffic: Mapping[str, int]) -> None:
        """Make ``traffic`` the map; return once the router serves it and the
        deployments it took traffic from have no request in flight (or their
        request timeout has passed). Raises ``DeploymentError`` if the router did
        not take the new map."""
        state, _ = self.state.read()
        unknown = sorted(set(traffic) - set(state["deployments"]))
        if unknown:
            raise DeploymentError(f"no deployment named {', '.join(unknown)}")
        total = sum(traffic.values())
        if any(share < 0 for share in traffic.values()) or total not in (0, 100):
            raise DeploymentError(f"traffic shares must be >= 0 and add up to 100, not {total}")
        state["traffic"] = {name: int(traffic.get(name, 0)) for name in state["deployments"]}
        for name, share in state["traffic"].items():
            if share > 0:
                state["deployments"][name]["status"] = "live"
        state = self.state.write(state)
        drained = [name for name, share in state["traffic"].items() if share == 0]
        # A forwarded request ends within its deployment's timeout: that bounds the drain.
        timeout = max(
            [d["request_timeout_ms"] / 1000 for d in state["deployments"].values()], default=5
        )
        if not self._router_takes(state["revision"], drained, timeout + ROUTER_TAKES_SECONDS):
            raise DeploymentError("the endpoint router did not take the new traffic map")

    def delete_deployment(self, name: str, keep_log: Path | None = None) -> Path | None:
        """Stop and remove deployment ``name``; with ``keep_log``, its server log is
        moved there and that path returned."""
        state, _ = self.state.read()
        item = state["deployments"].get(name) if state else None
        if item is None:
            return None
        if state["traffic"].get(name, 0) > 0:
            raise DeploymentError(f"deployment {name} takes traffic; move it elsewhere first")
        del state["deployments"][name]
        state["traffic"].pop(name, None)
        state = self.state.write(state)
        if processes.alive(self.router_marker):
            # Once the router no longer knows the deployment, it does not restart it.
            self._router_takes(state["revision"], [], ROUTER_TAKES_SECONDS)
        folder = self._deployment_folder(name)
        left = processes.stop(servers.marker(folder))
        if left:
            raise DeploymentError(f"deployment {name}: processes {left} did not stop")
        kept = None
        if keep_log and (folder / servers.LOG_FILE).is_file():
            keep_log.parent.mkdir(parents=True, exist_ok=True)
            kept = Path(shutil.move(folder / servers.LOG_FILE, keep_log))
        shutil.rmtree(folder, ignore_errors=True)
        return kept

    def delete(self) -> None:
        """Stop every process of the endpoint, found by marker whatever the state
        file says, and remove its folder. Raises ``DeploymentError`` naming the
        processes that keep running (the folder is then kept)."""
        # The router first: it would restart the servers stopped after it.
        left = processes.stop(self.router_marker)
        left += processes.stop(str(self.folder) + "/", prefix=True)
        if left:
            raise DeploymentError(
                f"endpoint {self.name}: processes {sorted(set(left))} keep running; stop "
                "them by hand, then run `mlops endpoint stop` again"
            )
        shutil.rmtree(self.folder, ignore_errors=True)

    def invoke(self, body: bytes, deployment: str | None = None) -> tuple[int, bytes]:
        """POST ``body`` to the endpoint (to ``deployment`` by the header, as on Azure)."""
        state, _ = self.state.read()
        if state is None or not processes.alive(self.router_marker):
            raise DeploymentError(
                f"endpoint {self.name} is not running; start it with `mlops endpoint start` "
                "(or deploy a model with `mlops run`)"
            )
        headers = {"Content-Type": "application/json"}
        if deployment:
            headers[DEPLOYMENT_HEADER] = deployment
        request = urllib.request.Request(
            f"http://{HOST}:{state['port']}/score", data=body, headers=headers, method="POST"
        )
        try:
            with urllib.request.urlopen(request, timeout=60) as answer:
                return answer.status, answer.read()
        except urllib.error.HTTPError as error:
            return error.code, error.read()
        except OSError as error:
            raise DeploymentError(f"endpoint {self.name} did not answer: {error}") from None


def _state_of(item: dict, running: bool) -> str:
    if not running:
        return "Failed: the server is not running"
    return "Creating" if item["status"] == "creating" else "Succeeded"
