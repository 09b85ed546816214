"""The local endpoint's router: one scoring URL in front of the deployments, and their supervisor.

It plays the part of the managed online endpoint's front end. ``POST
/score`` goes to one deployment, chosen at random by the traffic map, or to
the deployment named in the ``azureml-model-deployment`` header (which
bypasses the map, as on Azure); ``GET /swagger.json`` is passed on too, as
Azure serves it. Anything else is 404. A body larger than the deployments
accept is refused with 413 before it is read; the request counts as in
flight on a deployment only from when it is forwarded, so a slow upload
never holds back a traffic shift.

The map and the deployments come from the endpoint's state file, re-read
when it changes. The router is started with a token (``MLOPS_ROUTER_TOKEN``)
that the state file records: a router that finds another token there, or no
state file, has been replaced and exits, so it never serves a state it did
not start with. ``GET /-/router`` with the token (header
``x-mlops-router-token``) reports the state revision in force, the requests
in flight per deployment and the deployments being restarted; without it,
it is a 404 like any unknown path.

Supervision: once a deployment has been ready, a server found not running
is started again from its state entry (with a growing delay if it keeps
dying); meanwhile its requests go to another deployment that takes
traffic, or get 503.

Run as ``python -m mlops.targets.local.endpoint.router --state FILE --port N``.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import random
import signal
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
    ClientSession,
    ClientTimeout,
    TCPConnector,
    web,
)
from aiohttp.web_protocol import RequestHandler

from mlops.targets.local.endpoint import processes, servers
from mlops.targets.local.endpoint.ports import HOST
from mlops.targets.local.endpoint.probes import (
    ADMIN_PATH,
    DEPLOYMENT_HEADER,
    TOKEN_ENV,
    TOKEN_HEADER,
)
from mlops.targets.local.endpoint.state import load

FORWARDED = {("POST", "/score"), ("GET", "/swagger.json")}
DEFAULT_MAX_BODY = 1024 * 1024  # score.py's default MAX_REQUEST_BYTES
CHECK_SECONDS = 1.0
MAX_BACKOFF_SECONDS = 60.0
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
class Restart:
    """A deployment's server being started again by the router."""

    attempts: int
    started: float
    process: object  # subprocess.Popen


class Router:
    def __init__(self, state_path: Path, token: str) -> None:
        self.state_path = state_path
        self.folder = state_path.parent
        self.token = token
        self.seen: tuple[int, int] | None = None
        self.revision = -1
        self.deployments: dict[str, dict] = {}
        self.weights: list[tuple[str, int]] = []
        self.max_body = DEFAULT_MAX_BODY
        self.inflight: Counter[str] = Counter()
        self.down: dict[str, Restart] = {}
        self.replaced: str | None = None  # why this router must exit
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
            self.replaced = "another router now serves this endpoint"
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
        if (request.method, request.path) not in FORWARDED:
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
        return await self.forward(request, name, body)

    async def forward(self, request: web.BaseRequest, name: str, body: bytes) -> web.Response:
        item = self.deployments[name]
        timeout = item.get("request_timeout_ms", 5000) / 1000
        headers = {k: v for k, v in request.headers.items() if k.lower() not in HOP_HEADERS}
        self.inflight[name] += 1
        try:
            async with self.session.request(
                request.method,
                f"http://{HOST}:{item['port']}{request.path_qs}",
                data=body,
                headers=headers,
                timeout=ClientTimeout(total=timeout),
            ) as answer:
                payload = await answer.read()
                out = {k: v for k, v in answer.headers.items() if k.lower() not in HOP_HEADERS}
                out[DEPLOYMENT_HEADER] = name
                return web.Response(status=answer.status, body=payload, headers=out)
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

    def status(self) -> dict:
        return {
            "revision": self.revision,
            "inflight": dict(+self.inflight),
            "down": sorted(self.down),
            "pid": os.getpid(),
        }

    # supervision

    async def supervise(self, stop: asyncio.Event) -> None:
        """Every second: exit if replaced; restart the server of any ready
        deployment that is not running; note the ones that came back."""
        while not stop.is_set():
            self.refresh()
            if self.replaced:
                _log(f"exiting: {self.replaced}")
                stop.set()
                return
            watched = {
                name: servers.marker(self.folder / "deployments" / name)
                for name, item in self.deployments.items()
                if item["status"] in ("ready", "live")
            }
            running = await asyncio.to_thread(processes.running, set(watched.values()))
            for name, marker in watched.items():
                if marker not in running:
                    self.restart(name)
                elif name in self.down and await self.answers(name):
                    _log(f"deployment {name}: ready again")
                    del self.down[name]
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), CHECK_SECONDS)

    def restart(self, name: str) -> None:
        previous = self.down.get(name)
        now = time.monotonic()
        if previous is not None:
            if previous.process.poll() is None:
                return  # still starting
            delay = min(2.0**previous.attempts, MAX_BACKOFF_SECONDS)
            if now - previous.started < delay:
                return
        attempts = previous.attempts + 1 if previous else 1
        _log(f"deployment {name}: its server is not running; starting it again (#{attempts})")
        folder = self.folder / "deployments" / name
        process = servers.start(folder, self.deployments[name], f"{self.folder.name}/{name}")
        self.down[name] = Restart(attempts, now, process)

    async def answers(self, name: str) -> bool:
        url = f"http://{HOST}:{self.deployments[name]['port']}/"
        try:
            async with self.session.get(url, timeout=ClientTimeout(total=2)) as answer:
                return answer.status == 200
        except (ClientError, TimeoutError):
            return False


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
    request line over 8 KiB, a malformed header) is answered with its status
    alone, and logged without the client's bytes."""

    def handle_error(self, request, status=500, exc=None, message=None):
        if status != HTTPStatus.INTERNAL_SERVER_ERROR:
            _log(f"refused a request it could not parse: {status} {type(exc).__name__}")
            return super().handle_error(request, status, None, HTTPStatus(status).phrase)
        return super().handle_error(request, status, exc, message)


class _Server(web.Server):
    def __call__(self) -> RequestHandler:
        return _QuietRequestHandler(self, loop=self._loop, **self._kwargs)


async def serve(state_path: Path, port: int, token: str) -> None:
    """Serve until SIGTERM/SIGINT, or until this router is replaced."""
    router = Router(state_path, token)
    router.refresh()
    if router.replaced:
        _log(f"not starting: {router.replaced}")
        return
    router.session = ClientSession(connector=TCPConnector(limit=0), auto_decompress=False)
    runner = web.ServerRunner(_Server(router.handle, access_log=None))
    await runner.setup()
    stop = asyncio.Event()
    for number in (signal.SIGTERM, signal.SIGINT):
        asyncio.get_running_loop().add_signal_handler(number, stop.set)
    try:
        # Loopback only: the local endpoint has no authentication.
        await web.TCPSite(runner, HOST, port).start()
        _log(f"serving {state_path} on http://{HOST}:{port}/score")
        await router.supervise(stop)
    finally:
        await runner.cleanup()
        await router.session.close()


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="Router of the local online endpoint.")
    parser.add_argument("--state", required=True, type=Path, help="the endpoint's state file")
    parser.add_argument("--port", required=True, type=int)
    args = parser.parse_args(argv)
    token = os.environ.get(TOKEN_ENV)
    if not token:
        sys.exit(f"{TOKEN_ENV} is not set; the router is started by `mlops`")
    asyncio.run(serve(args.state.absolute(), args.port, token))


if __name__ == "__main__":
    main()
