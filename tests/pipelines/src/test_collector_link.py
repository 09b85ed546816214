"""The collector's kept-alive link, against a receiver that answers as scripted:
the framings HTTP/1.1 allows, a connection the receiver dropped, and answers
that are not HTTP."""

from __future__ import annotations

import contextlib
import socket
import threading

import pytest
from collector_link import BadAnswer, Link

from tests.conftest import free_port


class Scripted:
    """A receiver on a port of its own: for each request it reads (head and a
    ``Content-Length`` body), it sends the next of ``replies`` and, after one
    marked ``drop``, closes that connection. Records what it received."""

    def __init__(self, replies: list[bytes | tuple[bytes, str]]) -> None:
        self.replies = list(replies)
        self.requests: list[bytes] = []
        self.connections = 0
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.port = self.listener.getsockname()[1]
        self.thread = threading.Thread(target=self.serve, daemon=True)
        self.thread.start()

    def serve(self) -> None:
        while self.replies:
            try:
                sock, _ = self.listener.accept()
            except OSError:
                return
            self.connections += 1
            with sock:
                self.answer(sock)

    def answer(self, sock: socket.socket) -> None:
        buffer = b""
        while self.replies:
            while b"\r\n\r\n" not in buffer:
                part = sock.recv(65536)
                if not part:
                    return
                buffer += part
            head, _, buffer = buffer.partition(b"\r\n\r\n")
            length = int(
                next(
                    line.split(b":")[1]
                    for line in head.split(b"\r\n")
                    if line.lower().startswith(b"content-length:")
                )
            )
            while len(buffer) < length:
                buffer += sock.recv(65536)
            self.requests.append(head + b"\r\n\r\n" + buffer[:length])
            buffer = buffer[length:]
            reply = self.replies.pop(0)
            drop = isinstance(reply, tuple)
            sock.sendall(reply[0] if drop else reply)
            if drop:
                return

    def close(self) -> None:
        # Wakes the accept() that replies not used up leave waiting.
        with contextlib.suppress(OSError):
            self.listener.shutdown(socket.SHUT_RDWR)
        self.listener.close()
        self.thread.join(10)


def ok(text: str = '{"status": "accepted"}', extra: str = "") -> bytes:
    return f"HTTP/1.1 200 OK\r\nContent-Length: {len(text)}\r\n{extra}\r\n{text}".encode()


@pytest.fixture
def scripted():
    made: list[Scripted] = []

    def make(*replies) -> tuple[Scripted, Link]:
        server = Scripted(list(replies))
        made.append(server)
        return server, Link("127.0.0.1", server.port, timeout=10)

    yield make
    for server in made:
        server.close()


def test_records_go_over_one_kept_alive_connection(scripted):
    server, link = scripted(ok(), ok("second"), ok("third"))
    assert link.post("/modeldata/log", b'{"a": 1}', {"ce-type": "t"}) == (
        200,
        '{"status": "accepted"}',
    )
    assert link.post("/modeldata/log", b"{}", {}) == (200, "second")
    assert link.post("/modeldata/log", b"{}", {}) == (200, "third")
    assert server.connections == 1
    first = server.requests[0].decode()
    assert first.startswith("POST /modeldata/log HTTP/1.1\r\n")
    assert "\r\nContent-Length: 8\r\n" in first and "\r\nce-type: t\r\n" in first
    assert first.endswith('\r\n\r\n{"a": 1}')


def test_every_framing_of_an_answer_is_read_to_its_end(scripted):
    chunked = (
        b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3;x=y\r\nabc\r\n2\r\nde\r\n0\r\n\r\n"
    )
    server, link = scripted(
        b"HTTP/1.1 100 Continue\r\n\r\n" + ok("after continue"),
        chunked,
        b"HTTP/1.1 204 No Content\r\n\r\n",
        (ok("then closed", extra="Connection: close\r\n"), "drop"),
        (b"HTTP/1.0 200 OK\r\n\r\nto the end", "drop"),
        ok("new"),
    )
    assert link.post("/p", b"1", {}) == (200, "after continue")
    assert link.post("/p", b"2", {}) == (200, "abcde")
    assert link.post("/p", b"3", {}) == (204, "")
    assert link.post("/p", b"4", {}) == (200, "then closed")
    assert link.post("/p", b"5", {}) == (200, "to the end")
    assert link.post("/p", b"6", {}) == (200, "new")
    assert server.connections == 3  # after "Connection: close" and after the HTTP/1.0 body


def test_a_connection_the_receiver_dropped_while_idle_is_replaced_once(scripted):
    # The receiver closes the first connection after its answer without saying so.
    server, link = scripted((ok("one"), "drop"), ok("two"))
    assert link.post("/p", b"1", {}) == (200, "one")
    assert link.post("/p", b"2", {}) == (200, "two")
    assert server.connections == 2 and len(server.requests) == 2


def test_a_receiver_that_is_not_there_raises_oserror():
    with pytest.raises(OSError):
        Link("127.0.0.1", free_port(), timeout=10).post("/p", b"{}", {})


@pytest.mark.parametrize(
    ("reply", "problem"),
    [
        (b"SSH-2.0-OpenSSH\r\n\r\n", "not an HTTP/1.x status line"),
        (b"HTTP/1.1 200 OK\r\nContent-Length: ten\r\n\r\n", "Content-Length is not a number"),
        (b"HTTP/1.1 200 OK\r\nContent-Length: 99999999\r\n\r\n", "out of bounds"),
        (b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n", "has no size"),
    ],
    ids=["not-http", "bad-length", "huge-length", "bad-chunk"],
)
def test_an_answer_that_is_not_http_raises_bad_answer_and_closes(scripted, reply, problem):
    # The fresh connection is not tried again: the receiver is what is wrong.
    server, link = scripted((reply, "drop"))
    with pytest.raises(BadAnswer, match=problem):
        link.post("/p", b"{}", {})
    assert link.sock is None and server.connections == 1


def test_an_answer_cut_short_raises_bad_answer(scripted):
    _, link = scripted((b"HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nshort", "drop"))
    with pytest.raises(BadAnswer, match="closed the connection before its answer ended"):
        link.post("/p", b"{}", {})


@pytest.mark.parametrize(
    "headers",
    [{"x-evil": "a\r\nInjected: yes"}, {"bad name": "v"}, {"x": "nul\x00"}],
    ids=["crlf-in-value", "space-in-name", "nul-in-value"],
)
def test_a_header_that_cannot_be_written_raises_valueerror_and_sends_nothing(scripted, headers):
    server, link = scripted(ok())
    with pytest.raises(ValueError, match="cannot be sent"):
        link.post("/p", b"{}", headers)
    assert link.sock is None and server.requests == []


def test_a_callers_framing_headers_are_not_sent_twice(scripted):
    server, link = scripted(ok())
    link.post("/p", b"{}", {"Content-Length": "999", "Connection": "close", "Host": "elsewhere"})
    request = server.requests[0].decode().lower()
    assert request.count("content-length") == 1 and "content-length: 2\r\n" in request
    assert "connection" not in request and request.count("host:") == 1
