"""Loopback ports: a free one for a new deployment, whether one is taken, and the endpoint's."""

from __future__ import annotations

import socket

HOST = "127.0.0.1"
# Connections waiting for the router: while it starts, or starts again.
BACKLOG = 1024


def bind_address(port: int) -> str:
    return f"{HOST}:{port}"


def free_port() -> int:
    """A port no one listens on now (the kernel's pick)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind((HOST, 0))
        return probe.getsockname()[1]


def port_free(port: int) -> bool:
    """Whether a server could listen on ``port`` now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        # As the servers bind: a port in TIME_WAIT after a restart is free for them.
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind((HOST, port))
        except OSError:
            return False
        return True


def listen(port: int) -> socket.socket | None:
    """A socket listening on ``port``, or None when the port is taken."""
    listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        listener.bind((HOST, port))
        listener.listen(BACKLOG)
    except OSError:
        listener.close()
        return None
    return listener
