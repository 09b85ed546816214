"""One kept-alive HTTP/1.1 connection for the data collector's sender.

azureml-ai-monitoring's sender posts every record it collects, from a thread
of the scoring process, to the collector's receiver (Azure ML's sidecar on a
managed deployment, the local endpoint's receiver here). ``Link.post`` does
that over one connection: the request is written in one ``sendall``, and the
answer is read with no more parsing than HTTP/1.1 framing needs (status line,
``Content-Length`` or chunked, ``Connection: close``). Both matter on a busy
worker: the sender's thread shares the interpreter with the requests it
scores, and http.client's header parsing (the email package) alone costs
more than writing, sending and reading a record here.

``post`` raises ``OSError`` (the connection failed or timed out) or
``BadAnswer`` (what came back is not HTTP/1.x); a connection that fails is
closed, and one kept from an earlier post is tried once more on a new one
(the receiver may have closed it while idle).
"""

from __future__ import annotations

import re
import socket

# A header name is an HTTP token; no value may hold a line break (header injection).
_TOKEN = re.compile(r"[!#$%&'*+.^_`|~0-9A-Za-z-]+")
_LINE_BREAK = re.compile(r"[\r\n\x00]")
# Headers this module writes itself: a caller's are dropped, not sent twice.
_FRAMING = {"host", "content-length", "transfer-encoding", "connection"}
HEAD_LIMIT = 64 * 1024  # bytes of status line and headers an answer may have
BODY_LIMIT = 1024 * 1024  # bytes of body read from an answer; the rest is refused
_RECV = 64 * 1024


class BadAnswer(Exception):
    """What the receiver sent back is not an HTTP/1.x answer this link can read."""


class Link:
    """Posts to ``host``:``port`` over one connection, opened on first use."""

    def __init__(self, host: str, port: int, timeout: float) -> None:
        self.host, self.port, self.timeout = host, port, timeout
        self.sock: socket.socket | None = None
        self.buffer = bytearray()

    def post(self, path: str, body: bytes, headers: dict[str, str]) -> tuple[int, str]:
        """POST ``body`` to ``path`` with ``headers``; the answer's status and text.
        Raises ``ValueError`` for a header that cannot be written (nothing sent)."""
        request = self.request(path, body, headers)
        for attempt in (1, 2):
            reused = self.sock is not None
            try:
                if self.sock is None:
                    self.sock = socket.create_connection((self.host, self.port), self.timeout)
                    self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
                self.sock.sendall(request)
                status, text, keep = self.answer()
            except (OSError, BadAnswer):
                self.close()
                if attempt == 2 or not reused:
                    raise
                continue
            if not keep:
                self.close()
            return status, text
        raise AssertionError("unreachable")

    def close(self) -> None:
        if self.sock is not None:
            self.sock.close()
        self.sock = None
        self.buffer.clear()

    def request(self, path: str, body: bytes, headers: dict[str, str]) -> bytes:
        lines = [
            f"POST {path} HTTP/1.1",
            f"Host: {self.host}:{self.port}",
            f"Content-Length: {len(body)}",
        ]
        for name, value in headers.items():
            name, value = str(name), str(value)
            if not _TOKEN.fullmatch(name) or _LINE_BREAK.search(value):
                raise ValueError(f"header {name[:40]!r} cannot be sent: a bad name or a line break")
            if name.lower() not in _FRAMING:
                lines.append(f"{name}: {value}")
        return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1", "replace") + body

    def answer(self) -> tuple[int, str, bool]:
        """The next answer on the connection: (status, text, whether to keep it open)."""
        while True:
            version, status, fields = self._head()
            if not 100 <= status < 200:  # an interim answer (100 Continue) is skipped
                break
        connection = fields.get("connection", "").lower()
        keep = "close" not in connection and (version == "HTTP/1.1" or "keep-alive" in connection)
        if status in (204, 304):
            body = b""
        elif "chunked" in fields.get("transfer-encoding", "").lower():
            body = self._chunked()
        elif "content-length" in fields:
            try:
                length = int(fields["content-length"])
            except ValueError:
                raise BadAnswer("the answer's Content-Length is not a number") from None
            if not 0 <= length <= BODY_LIMIT:
                raise BadAnswer(f"the answer's Content-Length {length} is out of bounds")
            body = self._exactly(length)
        else:  # the body runs to the end of the connection
            body, keep = self._to_end(), False
        return status, body.decode("utf-8", "replace"), keep

    def _head(self) -> tuple[str, int, dict[str, str]]:
        lines = self._until(b"\r\n\r\n", HEAD_LIMIT).decode("latin-1").split("\r\n")
        version, _, rest = lines[0].partition(" ")
        code = rest[:3]
        if not version.startswith("HTTP/1.") or not code.isdigit():
            raise BadAnswer(f"not an HTTP/1.x status line: {lines[0][:40]!r}")
        fields = {}
        for line in lines[1:]:
            name, _, value = line.partition(":")
            fields[name.strip().lower()] = value.strip()
        return version, int(code), fields

    def _chunked(self) -> bytes:
        parts, size = [], 0
        while True:
            line = self._until(b"\r\n", HEAD_LIMIT).split(b";")[0].strip()
            try:
                length = int(line, 16)
            except ValueError:
                raise BadAnswer("a chunk of the answer has no size") from None
            if length == 0:
                while self._until(b"\r\n", HEAD_LIMIT):  # trailers, up to an empty line
                    pass
                return b"".join(parts)
            size += length
            if size > BODY_LIMIT:
                raise BadAnswer(f"the answer's body is over {BODY_LIMIT} bytes")
            parts.append(self._exactly(length))
            if self._exactly(2) != b"\r\n":
                raise BadAnswer("a chunk of the answer does not end with CRLF")

    def _until(self, marker: bytes, limit: int) -> bytes:
        """The bytes up to ``marker`` (consumed, not returned)."""
        while (end := self.buffer.find(marker)) < 0:
            if len(self.buffer) > limit:
                raise BadAnswer(f"no end of line within {limit} bytes of the answer")
            self._fill()
        found = bytes(self.buffer[:end])
        del self.buffer[: end + len(marker)]
        return found

    def _exactly(self, length: int) -> bytes:
        while len(self.buffer) < length:
            self._fill()
        found = bytes(self.buffer[:length])
        del self.buffer[:length]
        return found

    def _to_end(self) -> bytes:
        while len(self.buffer) <= BODY_LIMIT:
            part = self.sock.recv(_RECV)
            if not part:
                found = bytes(self.buffer)
                self.buffer.clear()
                return found
            self.buffer += part
        raise BadAnswer(f"the answer's body is over {BODY_LIMIT} bytes")

    def _fill(self) -> None:
        part = self.sock.recv(_RECV)
        if not part:
            raise BadAnswer("the receiver closed the connection before its answer ended")
        self.buffer += part
