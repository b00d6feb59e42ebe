"""The signaling server's HTTP front: the same timeouts, back-pressure and limits as the hub's."""

from __future__ import annotations

import socket
import time
from collections.abc import Callable

import psutil

from earlgate.testing.signalprocs import ServerProcess
from unread import pipeline_unread


def test_idle_keep_alive_connection_is_closed(signal_factory: Callable[..., ServerProcess]) -> None:
    server = signal_factory(None, "--idle-timeout", "0.3", "--handshake-timeout", "0.5")
    with socket.create_connection((server.host, server.port), timeout=3) as sock:
        sock.sendall(b"GET / HTTP/1.1\r\nhost: x\r\n\r\n")
        assert sock.recv(4096).startswith(b"HTTP/1.1 200")
        started = time.monotonic()
        while sock.recv(4096):  # until the server closes
            pass
        assert time.monotonic() - started < 2
    with socket.create_connection((server.host, server.port), timeout=3) as sock:
        sock.sendall(b"GET / HTTP/1.1\r\n")  # a head never finished
        answer = b""
        while chunk := sock.recv(4096):
            answer += chunk
        assert b" 408 " in answer


def test_connections_per_address_are_limited(signal_factory: Callable[..., ServerProcess]) -> None:
    server = signal_factory(None, "--max-connections-per-address", "2")
    held = [socket.create_connection((server.host, server.port), timeout=3) for _ in range(2)]
    try:
        for sock in held:  # each accepted and answered
            sock.sendall(b"GET / HTTP/1.1\r\nhost: x\r\n\r\n")
            assert sock.recv(4096).startswith(b"HTTP/1.1 200")
        with socket.create_connection((server.host, server.port), timeout=3) as extra:
            assert extra.recv(4096).startswith(b"HTTP/1.1 503")
    finally:
        for sock in held:
            sock.close()


def test_pipelined_requests_never_read_do_not_grow_memory(
    signal_factory: Callable[..., ServerProcess],
) -> None:
    server = signal_factory()
    process = psutil.Process(server.process.pid)
    before = process.memory_info().rss
    with pipeline_unread(server.port, b"GET /peerjs/id HTTP/1.1\r\nhost: x\r\n\r\n", 200_000):
        time.sleep(3)
        grown = (process.memory_info().rss - before) / 2**20
    assert grown < 2.5, f"server RSS grew by {grown:.1f} MiB"
