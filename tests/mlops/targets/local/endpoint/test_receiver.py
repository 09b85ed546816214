"""The collector's receiver, on an event loop of its own, spoken to over raw sockets:
what it answers, in what order, and when it closes a connection."""

from __future__ import annotations

import asyncio
import json
import socket
import threading

import pytest

from mlops.targets.local.endpoint.collection import LOG_PATH, MAX_RECORD_BYTES, CollectionError
from mlops.targets.local.endpoint.receiver import HEAD_LIMIT, Receiver


class Written:
    """What the receiver handed to ``write``; ``refuse``/``fail`` make it raise."""

    def __init__(self) -> None:
        self.records: list[tuple[dict, bytes]] = []
        self.logged: list[str] = []

    def write(self, headers, body: bytes) -> None:
        if body == b"refuse":
            raise CollectionError("ce-type names no collection")
        if body == b"fail":
            raise OSError(28, "No space left on device")
        self.records.append((dict(headers), body))


@pytest.fixture
def receiver():
    """(port, Written) of a receiver served on a loop in a thread."""
    written = Written()
    loop = asyncio.new_event_loop()
    thread = threading.Thread(target=loop.run_forever, daemon=True)
    thread.start()
    make = lambda: Receiver(written.write, written.logged.append)  # noqa: E731
    server = asyncio.run_coroutine_threadsafe(
        loop.create_server(make, "127.0.0.1", 0), loop
    ).result(10)
    yield server.sockets[0].getsockname()[1], written
    loop.call_soon_threadsafe(server.close)
    loop.call_soon_threadsafe(loop.stop)
    thread.join(10)
    loop.close()


def post(body: bytes, path: str = LOG_PATH, extra: str = "") -> bytes:
    return (
        f"POST {path} HTTP/1.1\r\nHost: x\r\nCE-Type: azureml.inference.model_inputs\r\n"
        f"Content-Length: {len(body)}\r\n{extra}\r\n"
    ).encode() + body


def answers(sock: socket.socket, count: int) -> list[tuple[int, dict, dict]]:
    """The next ``count`` answers: (status, header fields, JSON body)."""
    buffer, found = b"", []
    while len(found) < count:
        end = buffer.find(b"\r\n\r\n")
        if end >= 0:
            head, rest = buffer[:end].decode(), buffer[end + 4 :]
            lines = head.split("\r\n")
            fields = dict(line.lower().split(": ", 1) for line in lines[1:])
            length = int(fields["content-length"])
            if len(rest) >= length:
                found.append((int(lines[0].split()[1]), fields, json.loads(rest[:length])))
                buffer = rest[length:]
                continue
        part = sock.recv(65536)
        assert part, f"the receiver closed the connection after {len(found)} answers"
        buffer += part
    return found


def closed(sock: socket.socket) -> bool:
    sock.settimeout(10)
    try:
        return sock.recv(1) == b""
    except ConnectionResetError:
        return True


def connect(port: int) -> socket.socket:
    return socket.create_connection(("127.0.0.1", port), timeout=10)


def test_records_sent_one_after_another_on_one_connection_are_answered_in_order(receiver):
    port, written = receiver
    with connect(port) as sock:
        # Three at once, the second split across two writes: pipelined, in order.
        data = post(b'{"n": 1}') + post(b'{"n": 2}') + post(b"refuse")
        sock.sendall(data[:70])
        sock.sendall(data[70:])
        got = answers(sock, 3)
        assert [status for status, _, _ in got] == [200, 200, 400]
        assert got[0][2] == {"status": "accepted"}
        assert "names no collection" in got[2][2]["message"]
        assert "connection" not in got[0][1]  # kept alive
        sock.sendall(post(b'{"n": 3}'))
        assert answers(sock, 1)[0][0] == 200
    assert [body for _, body in written.records] == [b'{"n": 1}', b'{"n": 2}', b'{"n": 3}']
    assert written.records[0][0]["ce-type"] == "azureml.inference.model_inputs"  # lower case


def test_a_record_that_cannot_be_written_is_answered_507_and_logged(receiver):
    port, written = receiver
    with connect(port) as sock:
        sock.sendall(post(b"fail"))
        ((status, _, body),) = answers(sock, 1)
    assert status == 507 and body == {"message": "the record could not be written"}
    assert written.logged == [
        "a collected record could not be written: [Errno 28] No space left on device"
    ]


@pytest.mark.parametrize(
    ("request_bytes", "status", "closes"),
    [
        (post(b"{}", path="/other"), 404, False),
        (b"GET " + LOG_PATH.encode() + b" HTTP/1.1\r\nHost: x\r\n\r\n", 404, False),
        (b"POST /modeldata/log SPDY/3\r\n\r\n", 400, True),
        (b"POST " + LOG_PATH.encode() + b" HTTP/1.1\r\n bad: folded\r\n\r\n", 400, True),
        (post(b"", extra="Transfer-Encoding: chunked\r\n"), 411, True),
        (
            f"POST {LOG_PATH} HTTP/1.1\r\nContent-Length: {MAX_RECORD_BYTES + 1}\r\n\r\n".encode(),
            413,
            True,
        ),
        (post(b"{}", extra=f"X-Pad: {'a' * HEAD_LIMIT}\r\n"), 431, True),
    ],
    ids=["other-path", "other-method", "not-http", "bad-field", "chunked", "too-large", "big-head"],
)
def test_what_is_not_a_record_gets_its_status_and_only_a_broken_framing_closes(
    receiver, request_bytes, status, closes
):
    port, written = receiver
    with connect(port) as sock:
        sock.sendall(request_bytes)
        ((got, fields, body),) = answers(sock, 1)
        assert got == status and body["message"]
        assert (fields.get("connection") == "close") is closes
        if closes:
            assert closed(sock)
        else:
            sock.sendall(post(b'{"after": true}'))
            assert answers(sock, 1)[0][0] == 200
    assert all(body != b"{}" for _, body in written.records)


def test_an_http_1_0_request_is_answered_and_its_connection_closed(receiver):
    port, written = receiver
    with connect(port) as sock:
        sock.sendall(post(b'{"n": 1}').replace(b"HTTP/1.1", b"HTTP/1.0"))
        ((status, fields, _),) = answers(sock, 1)
        assert status == 200 and fields["connection"] == "close"
        assert closed(sock)
    assert len(written.records) == 1
