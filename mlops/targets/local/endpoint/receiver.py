"""The local endpoint's receiver of the data collector's records: HTTP/1.1 on
a deployment's ``collector_port``, as Azure ML's collector sidecar listens.

It serves one thing, ``POST /modeldata/log`` with a ``Content-Length`` body,
so it parses no more than that takes: the request line, the header fields
(names in lower case) and the body's length. Connections are kept alive,
and requests sent one after another on one are answered in order. Each body
goes to ``write(headers, body)`` (``collection.Sink.write`` for one
deployment); the answer is ``{"status": "accepted"}``, or the status and
``{"message": ...}`` of what was wrong:

- 404: another method or path;
- 400: a request that is not HTTP/1.x, or what ``write`` refused
  (``CollectionError``'s message);
- 411 / 413 / 431: a chunked body (or a ``Content-Length`` that is no number), a body over
  ``MAX_RECORD_BYTES``, a head over ``HEAD_LIMIT``; the connection is closed;
- 507: the record could not be written (``OSError``, logged).

A receiver on the router's event loop costs each record a fraction of what
aiohttp's web server does; the difference is CPU the scoring server and the
router on the same machine do not get, and time the collector's thread keeps
a connection waiting for its answer.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable, Mapping

from mlops.targets.local.endpoint.collection import LOG_PATH, MAX_RECORD_BYTES, CollectionError

HEAD_LIMIT = 16 * 1024  # bytes of request line and header fields
_REASONS = {
    200: "OK",
    400: "Bad Request",
    404: "Not Found",
    411: "Length Required",
    413: "Content Too Large",
    431: "Request Header Fields Too Large",
    507: "Insufficient Storage",
}
_ACCEPTED = json.dumps({"status": "accepted"}).encode()

Write = Callable[[Mapping[str, str], bytes], object]


class Receiver(asyncio.Protocol):
    """One connection of the collector. ``write`` is called with each record;
    ``log(message)`` with a record that could not be written."""

    def __init__(self, write: Write, log: Callable[[str], None]) -> None:
        self.write, self.log = write, log
        self.transport: asyncio.Transport | None = None
        self.buffer = bytearray()

    def connection_made(self, transport) -> None:
        self.transport = transport

    def connection_lost(self, exc) -> None:
        self.transport = None

    def data_received(self, data: bytes) -> None:
        self.buffer += data
        while self.transport is not None:
            end = self.buffer.find(b"\r\n\r\n")
            if end < 0:
                if len(self.buffer) > HEAD_LIMIT:
                    self._answer(431, f"a request's head is over {HEAD_LIMIT} bytes", close=True)
                return
            if end > HEAD_LIMIT:
                self._answer(431, f"a request's head is over {HEAD_LIMIT} bytes", close=True)
                return
            request = self._head(bytes(self.buffer[:end]))
            if request is None:
                return
            method, path, fields, keep = request
            length = self._length(fields)
            if length is None:
                return
            start = end + 4
            if len(self.buffer) < start + length:
                return  # the rest of the body is on its way
            body = bytes(self.buffer[start : start + length])
            del self.buffer[: start + length]
            self._answer(*self._handle(method, path, fields, body), close=not keep)

    def _head(self, head: bytes) -> tuple[str, str, dict[str, str], bool] | None:
        lines = head.decode("latin-1").split("\r\n")
        parts = lines[0].split(" ")
        if len(parts) != 3 or not parts[2].startswith("HTTP/1."):
            self._answer(400, "not an HTTP/1.x request", close=True)
            return None
        method, target, version = parts
        fields = {}
        for line in lines[1:]:
            name, colon, value = line.partition(":")
            if not colon or not name or name != name.strip():
                self._answer(400, "a header field is malformed", close=True)
                return None
            fields[name.lower()] = value.strip()
        connection = fields.get("connection", "").lower()
        keep = "close" not in connection and (version == "HTTP/1.1" or "keep-alive" in connection)
        return method, target.partition("?")[0], fields, keep

    def _length(self, fields: dict[str, str]) -> int | None:
        # No Content-Length and no Transfer-Encoding: the body is empty (RFC 9112, 6.3).
        declared = fields.get("content-length", "0")
        if "transfer-encoding" in fields or not declared.isdigit():
            self._answer(411, "a record needs a Content-Length (no chunked body)", close=True)
            return None
        if int(declared) > MAX_RECORD_BYTES:
            limit = MAX_RECORD_BYTES
            self._answer(413, f"a record needs a Content-Length of at most {limit}", close=True)
            return None
        return int(declared)

    def _handle(
        self, method: str, path: str, fields: dict[str, str], body: bytes
    ) -> tuple[int, str | None]:
        if method != "POST" or path != LOG_PATH:
            return 404, f"the collector posts to {LOG_PATH}"
        try:
            self.write(fields, body)
        except CollectionError as problem:
            return 400, str(problem)
        except OSError as problem:
            self.log(f"a collected record could not be written: {problem}")
            return 507, "the record could not be written"
        return 200, None

    def _answer(self, status: int, message: str | None, close: bool = False) -> None:
        body = _ACCEPTED if message is None else json.dumps({"message": message}).encode()
        head = (
            f"HTTP/1.1 {status} {_REASONS[status]}\r\n"
            "Content-Type: application/json; charset=utf-8\r\n"
            f"Content-Length: {len(body)}\r\n" + ("Connection: close\r\n" if close else "") + "\r\n"
        )
        self.transport.write(head.encode() + body)
        if close:
            self.buffer.clear()
            self.transport.close()
            self.transport = None
