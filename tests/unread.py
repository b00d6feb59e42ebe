"""A client that pipelines HTTP requests and never reads the answers (for the servers' tests)."""

from __future__ import annotations

import contextlib
import socket
import time


def pipeline_unread(port: int, request: bytes, count: int, within: float = 5.0) -> socket.socket:
    """Send ``count`` copies of ``request`` on one connection (as many as the server
    takes within ``within`` seconds), reading nothing; returns the open socket."""
    sock = socket.create_connection(("127.0.0.1", port))
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    sock.setblocking(False)
    burst = request * count
    sent = 0
    deadline = time.monotonic() + within
    while sent < len(burst) and time.monotonic() < deadline:
        with contextlib.suppress(BlockingIOError):
            sent += sock.send(burst[sent : sent + 65536])
        time.sleep(0.001)
    return sock
