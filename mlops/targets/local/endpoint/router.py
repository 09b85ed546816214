"""The local endpoint's router: one scoring URL in front of the deployments.

It plays the part of the managed online endpoint's front end: every request
to ``http://127.0.0.1:<port>/...`` goes to one deployment, chosen at random
by the traffic map, or to the deployment named in the
``azureml-model-deployment`` header (which bypasses the map, as on Azure).
The map and the deployments' ports are read from the endpoint's state file,
re-read whenever the file changes, so a traffic shift takes effect on the
next request. ``GET /-/router`` reports the state revision in force and the
requests in flight per deployment, so a deploy knows when an old deployment
has drained.

Run as ``python -m mlops.targets.local.endpoint.router --state FILE --port N``.
"""

from __future__ import annotations

import argparse
import json
import os
import random
from collections import Counter
from pathlib import Path

from aiohttp import ClientError, ClientSession, ClientTimeout, TCPConnector, web

DEPLOYMENT_HEADER = "azureml-model-deployment"
ADMIN_PATH = "/-/router"
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
MAX_BODY = 16 * 1024 * 1024


class Router:
    def __init__(self, state_path: Path) -> None:
        self.state_path = state_path
        self.seen: tuple[int, int] | None = None
        self.revision = -1
        self.ports: dict[str, int] = {}
        self.timeouts: dict[str, float] = {}
        self.weights: list[tuple[str, int]] = []
        self.inflight: Counter[str] = Counter()
        self.session: ClientSession | None = None

    def refresh(self) -> None:
        """Re-read the state file if it was replaced since the last read."""
        try:
            stat = os.stat(self.state_path)
        except FileNotFoundError:
            return
        if (stat.st_ino, stat.st_mtime_ns) == self.seen:
            return
        try:
            state = json.loads(self.state_path.read_text())
        except (OSError, ValueError):
            return  # being replaced: keep the map in force, read it next time
        self.seen = (stat.st_ino, stat.st_mtime_ns)
        deployments = state.get("deployments", {})
        self.revision = int(state.get("revision", 0))
        self.ports = {name: int(d["port"]) for name, d in deployments.items()}
        self.timeouts = {
            name: d.get("request_timeout_ms", 5000) / 1000 for name, d in deployments.items()
        }
        self.weights = [
            (name, int(share))
            for name, share in state.get("traffic", {}).items()
            if int(share) > 0 and name in self.ports
        ]

    def choose(self) -> str | None:
        if not self.weights:
            return None
        names, shares = zip(*self.weights, strict=True)
        return random.choices(names, weights=shares)[0]

    async def handle(self, request: web.Request) -> web.StreamResponse:
        self.refresh()
        if request.path == ADMIN_PATH:
            return web.json_response(
                {"revision": self.revision, "inflight": dict(+self.inflight), "pid": os.getpid()}
            )
        name = request.headers.get(DEPLOYMENT_HEADER) or self.choose()
        if name is None:
            return _error(503, "no deployment takes traffic on this endpoint yet")
        if name not in self.ports:
            return _error(404, f"no deployment named {name[:64]!r} on this endpoint")
        port, timeout = self.ports[name], self.timeouts[name]
        self.inflight[name] += 1
        try:
            body = await request.read()
            headers = {k: v for k, v in request.headers.items() if k.lower() not in HOP_HEADERS}
            async with self.session.request(
                request.method,
                f"http://127.0.0.1:{port}{request.path_qs}",
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
        except ClientError:
            return _error(502, f"deployment {name} is not answering")
        finally:
            self.inflight[name] -= 1


def _error(status: int, message: str) -> web.Response:
    return web.json_response({"message": message}, status=status)


def build_app(state_path: Path) -> web.Application:
    router = Router(state_path)

    async def open_session(app: web.Application) -> None:
        router.session = ClientSession(connector=TCPConnector(limit=0), auto_decompress=False)

    async def close_session(app: web.Application) -> None:
        await router.session.close()

    app = web.Application(client_max_size=MAX_BODY)
    app.router.add_route("*", "/{tail:.*}", router.handle)
    app.on_startup.append(open_session)
    app.on_cleanup.append(close_session)
    return app


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="Router of the local online endpoint.")
    parser.add_argument("--state", required=True, type=Path, help="the endpoint's state file")
    parser.add_argument("--port", required=True, type=int)
    args = parser.parse_args(argv)
    # Loopback only: the local endpoint has no authentication.
    web.run_app(build_app(args.state), host="127.0.0.1", port=args.port, access_log=None)


if __name__ == "__main__":
    main()
