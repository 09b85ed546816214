"""The local endpoint's router: one scoring URL in front of the deployments, and their supervisor.

It plays the part of the managed online endpoint's front end. ``POST
/score`` goes to one deployment, chosen at random by the traffic map, or to
the deployment named in the ``azureml-model-deployment`` header (which
bypasses the map, as on Azure); ``GET /swagger.json`` is passed on too, as
Azure serves it. ``POST /v1/chat/completions``, for a deployment whose model
generates text (``chat`` in its state entry), is OpenAI's chat completions
shape, answered through the deployment's ``/score`` (openai_chat.py).
Anything else is 404. A body larger than the deployments
accept is refused with 413 before it is read; the request counts as in
flight on a deployment only from when it is forwarded, so a slow upload
never holds back a traffic shift.

The map and the deployments come from the endpoint's state file, re-read
when it changes. The router is started with a token (``MLOPS_ROUTER_TOKEN``)
that the state file records: a router that finds another token there, or no
state file, has been replaced: it serves the map in force, never the new
state, until the router that replaces it answers on its port (or
``SUCCESSOR_SECONDS`` pass), then exits, so a port change never leaves a
moment when neither port serves. ``GET /-/router`` with the token (header
``x-mlops-router-token``) reports the state revision in force, the requests
in flight per deployment, the deployments being restarted and the port of
the router that replaces it, if one does; without it,
it is a 404 like any unknown path.

Supervision: once a deployment has been ready, its server's gunicorn
master is watched by its identity (pid and start time, ``processes.py``),
found once among the processes carrying the deployment's marker. A master
that is gone is a dead server, even if a worker it left behind still runs:
what is left of it is stopped and the server started again from its state
entry (with a growing delay if it keeps dying); meanwhile its requests go to
another deployment that takes traffic, or get 503. A request whose
connection the server dropped (a worker that died while scoring it) is sent
once more: scoring is idempotent, and another worker takes it.

Connections must send a complete request line and headers within
``HEADER_SECONDS`` of opening (or of the previous answer, when kept alive);
those that do not are closed. A request that cannot be parsed gets a JSON
``{"message": ...}`` like every other refusal.

Started by its supervisor (``supervisor.py``) on the socket it holds
(``--fd``), the router watches that supervisor in turn and starts another if
it dies. Run as ``python -m mlops.targets.local.endpoint.router --state FILE
--port N [--fd N]``; without ``--fd`` it binds 127.0.0.1:N itself.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import gc
import json
import os
import random
import signal
import socket
import subprocess
import sys
import time
from collections import Counter
from dataclasses import dataclass
from datetime import UTC, datetime
from http import HTTPStatus
from pathlib import Path

from aiohttp import (
    ClientConnectorError,
    ClientError,
    ClientOSError,
    ClientPayloadError,
    ClientSession,
    ClientTimeout,
    ServerDisconnectedError,
    TCPConnector,
    web,
)
from aiohttp.web_protocol import RequestHandler

from mlops.targets.local.endpoint import openai_chat, processes, servers
from mlops.targets.local.endpoint.collection import Sink, collected_root
from mlops.targets.local.endpoint.ports import BACKLOG, HOST
from mlops.targets.local.endpoint.probes import (
    ADMIN_PATH,
    DEPLOYMENT_HEADER,
    TOKEN_ENV,
    TOKEN_HEADER,
)
from mlops.targets.local.endpoint.receiver import Receiver
from mlops.targets.local.endpoint.state import load

FORWARDED = {("POST", "/score"), ("GET", "/swagger.json")}
DEFAULT_MAX_BODY = 1024 * 1024  # score.py's default MAX_REQUEST_BYTES
CHECK_SECONDS = 1.0
# How long a replaced router serves its map while waiting for its successor to
# answer (as long as `mlops` waits for a new router to start).
SUCCESSOR_SECONDS = 30.0
MAX_BACKOFF_SECONDS = 60.0
# A connection has this long to send its request line and headers, from when it
# opens or its previous answer was sent; then it is closed.
HEADER_SECONDS = 5.0
# What is left of a server whose master died gets this long to end on SIGTERM.
LEFTOVER_GRACE_SECONDS = 1.0
SUPERVISOR = Path(__file__).with_name("supervisor.py")
# Headers a proxy must not pass on (RFC 9110, section 7.6.1), plus the ones
# the HTTP client and server set themselves.
HOP_HEADERS = {
    "connection",
    "keep-alive",
    "proxy-authenticate",
    "proxy-authorization",
    "te",
    "trailer",
    "transfer-encoding",
    "upgrade",
    "host",
    "content-length",
    "date",
    "server",
}


@dataclass
class Successor:
    """The router the state file names instead of this one."""

    port: int
    token: str
    seen: float  # time.monotonic() when this router first read its token


@dataclass
class Restart:
    """A deployment's server being started again by the router."""

    attempts: int
    started: float
    process: subprocess.Popen | None = None  # None while what was left is stopped


class Router:
    def __init__(
        self, state_path: Path, token: str, port: int, listening: int | None = None
    ) -> None:
        self.state_path = state_path
        self.folder = state_path.parent
        self.token = token
        self.port = port
        # Started by a supervisor on its socket: the supervisor is watched.
        self.listening = listening
        self.supervisor = os.getppid() if listening is not None else None
        self.adopter: subprocess.Popen | None = None
        self.masters: dict[str, processes.Identity] = {}
        self.started: dict[str, subprocess.Popen] = {}  # servers this router started
        self.seen: tuple[int, int] | None = None
        self.revision = -1
        self.deployments: dict[str, dict] = {}
        self.weights: list[tuple[str, int]] = []
        self.max_body = DEFAULT_MAX_BODY
        self.inflight: Counter[str] = Counter()
        self.down: dict[str, Restart] = {}
        self.replaced: str | None = None  # why this router must exit
        self.successor: Successor | None = None
        # The data collector's records, received for each deployment that collects.
        self.sink = Sink(
            collected_root(self.folder.parent.parent, self.folder.name), self.folder.name
        )
        self.sinks: dict[str, tuple[int, asyncio.Server]] = {}
        self.sink_refusals: set[str] = set()  # deployments whose port could not be taken
        self.session: ClientSession | None = None

    # the state in force

    def refresh(self) -> None:
        """Re-read the state file if it was replaced since the last read."""
        try:
            stat = os.stat(self.state_path)
        except FileNotFoundError:
            self.replaced = "the endpoint's state file is gone"
            return
        if (stat.st_ino, stat.st_mtime_ns) == self.seen:
            return
        state = load(self.state_path)
        if state is None:
            return  # unreadable: keep the map in force; the next command restores the file
        self.seen = (stat.st_ino, stat.st_mtime_ns)
        if state["router"]["token"] != self.token:
            if self.successor is None or self.successor.token != state["router"]["token"]:
                self.successor = Successor(
                    state["port"], state["router"]["token"], time.monotonic()
                )
            return
        self.revision = state["revision"]
        self.deployments = state["deployments"]
        self.weights = [(name, share) for name, share in state["traffic"].items() if share > 0]
        limits = [_max_body(item) for item in self.deployments.values()]
        self.max_body = max(limits, default=DEFAULT_MAX_BODY)
        for name in set(self.down) - set(self.deployments):
            del self.down[name]

    def choose(self) -> str | None:
        """A deployment by the traffic map, preferring one that is not being restarted."""
        up = [(name, share) for name, share in self.weights if name not in self.down]
        pool = up or self.weights
        if not pool:
            return None
        names, shares = zip(*pool, strict=True)
        return random.choices(names, weights=shares)[0]

    # requests

    async def handle(self, request: web.BaseRequest) -> web.StreamResponse:
        self.refresh()
        if request.path == ADMIN_PATH and request.headers.get(TOKEN_HEADER) == self.token:
            return web.json_response(self.status())
        chat = (request.method, request.path) == ("POST", openai_chat.CHAT_PATH)
        if (request.method, request.path) not in FORWARDED and not chat:
            return _error(404, "not found; score with POST /score")
        if request.content_length is not None and request.content_length > self.max_body:
            return _too_large(self.max_body)
        body = await _read(request, self.max_body)
        if body is None:
            return _too_large(self.max_body)
        name = request.headers.get(DEPLOYMENT_HEADER) or self.choose()
        if name is None:
            return _error(503, "no deployment takes traffic on this endpoint yet")
        if name not in self.deployments:
            return _error(404, f"no deployment named {name[:64]!r} on this endpoint")
        if name in self.down:
            return _error(503, f"deployment {name} is restarting; try again shortly")
        if chat:
            return await self.chat(request, name, body)
        return await self.forward(request, name, body)

    async def chat(self, request: web.BaseRequest, name: str, body: bytes) -> web.Response:
        """``POST /v1/chat/completions`` through deployment ``name``'s ``/score``
        (see openai_chat.py), for a deployment whose model generates text."""
        item = self.deployments[name]
        if not item.get("chat"):
            message = f"deployment {name}'s model does not generate text; score with POST /score"
            return web.json_response(openai_chat.error(message, status=404), status=404)
        try:
            scoring = openai_chat.scoring_body(body)
        except openai_chat.ChatError as problem:
            refusal = openai_chat.error(str(problem), problem.param, problem.status)
            return web.json_response(refusal, status=problem.status)
        answer = await self.forward(request, name, scoring, path="/score")
        try:
            payload = json.loads(answer.body)
        except (TypeError, ValueError):
            payload = {}
        headers = {DEPLOYMENT_HEADER: name}
        if answer.status != 200:
            message = payload.get("message") or f"deployment {name} answered HTTP {answer.status}"
            refusal = openai_chat.scoring_refusal(message, body, answer.status)
            return web.json_response(refusal, status=answer.status, headers=headers)
        return web.json_response(
            openai_chat.chat_completion(payload, item.get("model", name)), headers=headers
        )

    async def forward(
        self, request: web.BaseRequest, name: str, body: bytes, path: str | None = None
    ) -> web.Response:
        """``request`` with ``body`` sent to deployment ``name`` (at ``path`` instead of
        the request's own, if given) and its answer."""
        item = self.deployments[name]
        timeout = item.get("request_timeout_ms", 5000) / 1000
        deadline = time.monotonic() + timeout
        headers = {k: v for k, v in request.headers.items() if k.lower() not in HOP_HEADERS}
        url = f"http://{HOST}:{item['port']}{path or request.path_qs}"
        self.inflight[name] += 1
        try:
            try:
                return await self.send(request.method, url, body, headers, name, timeout)
            except ClientConnectorError:
                raise
            except (ServerDisconnectedError, ClientOSError, ClientPayloadError) as error:
                # The server dropped the connection: a worker died while scoring.
                # Scoring is idempotent; another worker takes it, once.
                left = deadline - time.monotonic()
                if left <= 0:
                    raise TimeoutError from None
                _log(f"deployment {name}: {type(error).__name__}; sending the request once more")
                return await self.send(request.method, url, body, headers, name, left)
        except TimeoutError:
            return _error(408, f"deployment {name} did not answer within {timeout:g} s")
        except ClientConnectorError:
            # Nothing listens: its server died, and supervision starts it again
            # within seconds. The request never reached it: the client may retry.
            return _error(503, f"deployment {name} is not running; try again shortly")
        except ClientError:
            return _error(502, f"deployment {name} is not answering")
        finally:
            self.inflight[name] -= 1

    async def send(
        self, method: str, url: str, body: bytes, headers: dict, name: str, timeout: float
    ) -> web.Response:
        async with self.session.request(
            method, url, data=body, headers=headers, timeout=ClientTimeout(total=timeout)
        ) as answer:
            payload = await answer.read()
            out = {k: v for k, v in answer.headers.items() if k.lower() not in HOP_HEADERS}
            out[DEPLOYMENT_HEADER] = name
            return web.Response(status=answer.status, body=payload, headers=out)

    def status(self) -> dict:
        return {
            "revision": self.revision,
            "inflight": dict(+self.inflight),
            "down": sorted(self.down),
            "pid": os.getpid(),
            # The port of the router the state names instead of this one, if any.
            "successor": self.successor.port if self.successor else None,
            # The data collector's records: the deployments received for, and counts.
            "collected": {
                "receiving": sorted(self.sinks),
                "written": self.sink.written,
                "refused": self.sink.refused,
            },
        }

    # supervision

    async def supervise(self, stop: asyncio.Event) -> None:
        """Every second: exit if replaced; start another supervisor if this
        router's died; restart the server of any ready deployment whose master
        is gone; note the ones that came back."""
        while not stop.is_set():
            self.refresh()
            if self.successor is not None and not self.replaced:
                waited = time.monotonic() - self.successor.seen
                if waited > SUCCESSOR_SECONDS or await self.successor_serves():
                    self.replaced = "another router now serves this endpoint"
            if self.replaced:
                _log(f"exiting: {self.replaced}")
                stop.set()
                return
            self.watch_supervisor()
            if self.successor is None:  # else the servers are the successor's to watch
                await self.check_servers()
            await self.sync_sinks()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), CHECK_SECONDS)

    def marker(self, name: str) -> str:
        return servers.marker(self.folder / "deployments" / name)

    async def check_servers(self) -> None:
        watched = [n for n, item in self.deployments.items() if item["status"] in ("ready", "live")]
        for name in set(self.masters) - set(watched):
            del self.masters[name]
        unknown = {self.marker(n): n for n in watched if n not in self.masters | self.down}
        if unknown:  # found once, by marker; then watched by identity
            found = await asyncio.to_thread(processes.leaders, set(unknown))
            for marker, master in found.items():
                self.masters[unknown[marker]] = master
        for name in watched:
            restarting = self.down.get(name)
            if restarting is not None and restarting.process and restarting.process.poll() is None:
                if await self.answers(name):
                    _log(f"deployment {name}: ready again")
                    del self.down[name]
                continue
            if restarting is None and name in self.masters:
                if processes.running_as(self.masters[name]):
                    continue
                pid = self.masters[name][0]
                _log(f"deployment {name}: the master of its server (pid {pid}) is gone")
            await self.restart(name)

    async def restart(self, name: str) -> None:
        previous = self.down.get(name)
        now = time.monotonic()
        if previous is not None:
            delay = min(2.0**previous.attempts, MAX_BACKOFF_SECONDS)
            if now - previous.started < delay:
                return
        attempts = previous.attempts + 1 if previous else 1
        self.down[name] = restart = Restart(attempts, now)
        self.masters.pop(name, None)
        if (child := self.started.pop(name, None)) is not None:
            child.poll()  # reaped, if it was this router's
        # A worker whose master died still holds the port, and may answer:
        # the server is dead all the same, and what is left of it is stopped.
        left = await asyncio.to_thread(
            processes.stop, self.marker(name), grace=LEFTOVER_GRACE_SECONDS, rounds=1, settle=0
        )
        if left:
            _log(f"deployment {name}: processes {left} of its server keep running")
        if self.deployments.get(name) is None or self.replaced:
            return
        _log(f"deployment {name}: its server is not running; starting it again (#{attempts})")
        folder = self.folder / "deployments" / name
        process = servers.start(folder, self.deployments[name], f"{self.folder.name}/{name}")
        restart.process = self.started[name] = process
        if (master := processes.identity(process.pid)) is not None:
            self.masters[name] = master

    async def sync_sinks(self) -> None:
        """Receive the collector's records on each deployment's ``collector_port``
        while it is in the state; none once a successor is named (its ports are
        the successor's to take)."""
        wanted = {
            name: item["collector_port"]
            for name, item in self.deployments.items()
            if item.get("collector_port") and self.successor is None
        }
        for name, (port, server) in list(self.sinks.items()):
            if wanted.get(name) != port:
                del self.sinks[name]
                server.close()
                await server.wait_closed()
        loop = asyncio.get_running_loop()
        for name, port in wanted.items():
            if name in self.sinks:
                continue
            try:
                server = await loop.create_server(self._receiver_for(name), HOST, port)
            except OSError as error:
                if name not in self.sink_refusals:  # said once; tried again every second
                    self.sink_refusals.add(name)
                    _log(
                        f"deployment {name}: cannot receive collected data on port {port}: {error}"
                    )
                continue
            self.sink_refusals.discard(name)
            self.sinks[name] = (port, server)

    def _receiver_for(self, name: str):
        def write(headers, body: bytes) -> None:
            self.sink.write(name, headers, body)

        def log(message: str) -> None:
            _log(f"deployment {name}: {message}")

        return lambda: Receiver(write, log)

    async def successor_serves(self) -> bool:
        """Whether the router that replaces this one answers on its port."""
        url = f"http://{HOST}:{self.successor.port}{ADMIN_PATH}"
        headers = {TOKEN_HEADER: self.successor.token}
        try:
            async with self.session.get(
                url, headers=headers, timeout=ClientTimeout(total=2)
            ) as answer:
                return answer.status == 200
        except (ClientError, TimeoutError):
            return False

    async def answers(self, name: str) -> bool:
        url = f"http://{HOST}:{self.deployments[name]['port']}/"
        try:
            async with self.session.get(url, timeout=ClientTimeout(total=2)) as answer:
                return answer.status == 200
        except (ClientError, TimeoutError):
            return False

    def watch_supervisor(self) -> None:
        """If the supervisor that started this router died, start another that
        adopts it (``supervisor.py --adopt``)."""
        if self.listening is None:
            return
        if self.adopter is not None:
            if self.adopter.poll() is None:
                return
            _log(f"its supervisor (pid {self.adopter.pid}) exited")
            self.adopter = None
        elif os.getppid() == self.supervisor:
            return
        _log("its supervisor is gone; starting another")
        command = [
            sys.executable, "-I", str(SUPERVISOR),
            "--state", str(self.state_path), "--port", str(self.port),
            "--fd", str(self.listening), "--adopt", str(os.getpid()),
        ]  # fmt: skip
        self.adopter = subprocess.Popen(
            command, stdin=subprocess.DEVNULL, pass_fds=(self.listening,)
        )


def _max_body(item: dict) -> int:
    try:
        return int(item.get("environment_variables", {}).get("MAX_REQUEST_BYTES", DEFAULT_MAX_BODY))
    except ValueError:
        return DEFAULT_MAX_BODY


async def _read(request: web.BaseRequest, limit: int) -> bytes | None:
    """The body, or None as soon as it grows past ``limit`` bytes."""
    chunks, size = [], 0
    while chunk := await request.content.read(64 * 1024):
        size += len(chunk)
        if size > limit:
            return None
        chunks.append(chunk)
    return b"".join(chunks)


def _too_large(limit: int) -> web.Response:
    response = _error(413, f"request body is larger than {limit} bytes; send fewer rows")
    response.force_close()  # the rest of the body is never read
    return response


def _error(status: int, message: str) -> web.Response:
    return web.json_response({"message": message}, status=status)


def _log(message: str) -> None:
    print(f"{datetime.now(UTC):%Y-%m-%dT%H:%M:%SZ} router: {message}", flush=True)


class _QuietRequestHandler(RequestHandler):
    """aiohttp's protocol handler, minus the echo: a request it cannot parse (a
    request line over 8 KiB, a malformed header) is answered with its status and
    a JSON message that quotes none of the client's bytes, and logged without them."""

    def handle_error(self, request, status=500, exc=None, message=None):
        if request.writer.output_size > 0:
            return super().handle_error(request, status, exc, message)  # raises: too late
        if status == HTTPStatus.INTERNAL_SERVER_ERROR:
            self.log_exception("error handling a request", exc_info=exc)
            text = "the endpoint's router failed on this request; try again"
        else:
            _log(f"refused a request it could not parse: {status} {type(exc).__name__}")
            text = (
                f"{HTTPStatus(status).phrase.lower()}: the request line or a header is "
                "malformed or too long (at most 8190 bytes each)"
            )
        response = _error(status, text)
        response.force_close()
        return response


class _Server(web.Server):
    def __call__(self) -> RequestHandler:
        return _QuietRequestHandler(self, loop=self._loop, **self._kwargs)


async def serve(state_path: Path, port: int, token: str, listening: int | None = None) -> None:
    """Serve until SIGTERM/SIGINT, or until this router is replaced; on the
    listening socket ``listening`` (a descriptor) if given, else on 127.0.0.1:``port``."""
    router = Router(state_path, token, port, listening)
    router.refresh()
    if router.successor is not None:
        router.replaced = "another router now serves this endpoint"
    if router.replaced:
        _log(f"not starting: {router.replaced}")
        return
    router.session = ClientSession(connector=TCPConnector(limit=0), auto_decompress=False)
    # aiohttp closes a connection still waiting for its request when its
    # keep-alive time is up, counted from its opening or its previous answer, not
    # from its last byte: a bound on the request line and headers.
    server = _Server(router.handle, access_log=None, keepalive_timeout=HEADER_SECONDS)
    runner = web.ServerRunner(server)
    await runner.setup()
    stop = asyncio.Event()
    for number in (signal.SIGTERM, signal.SIGINT):
        asyncio.get_running_loop().add_signal_handler(number, stop.set)
    try:
        # Loopback only: the local endpoint has no authentication.
        if listening is not None:
            site = web.SockSite(runner, socket.socket(fileno=listening), backlog=BACKLOG)
        else:
            site = web.TCPSite(runner, HOST, port, backlog=BACKLOG)
        await site.start()
        # What start-up allocated lives as long as the router: kept out of the
        # collector's full passes (tens of ms on a loaded machine), which then
        # scan only what requests leave behind.
        gc.freeze()
        _log(f"serving {state_path} on http://{HOST}:{port}/score")
        await router.supervise(stop)
    finally:
        for _, server in router.sinks.values():
            server.close()
            await server.wait_closed()
        await runner.cleanup()
        await router.session.close()


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="Router of the local online endpoint.")
    parser.add_argument("--state", required=True, type=Path, help="the endpoint's state file")
    parser.add_argument("--port", required=True, type=int)
    parser.add_argument("--fd", type=int, help="the listening socket, from the supervisor")
    args = parser.parse_args(argv)
    token = os.environ.get(TOKEN_ENV)
    if not token:
        sys.exit(f"{TOKEN_ENV} is not set; the router is started by `mlops`")
    asyncio.run(serve(args.state.absolute(), args.port, token, args.fd))


if __name__ == "__main__":
    main()
