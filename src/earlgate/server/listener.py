"""The accept loop of the hub and the signaling server: descriptor and per-address limits.

Every accepted socket costs a file descriptor before anything else can be
decided about it. When the process runs out (``EMFILE``), ``accept()`` fails
at once and the listening socket stays readable, so a loop that only logs the
error spins at 100 % CPU. This listener stops watching the listening socket,
logs one line, and retries on a timer until a descriptor is free again (the
waiting connections stay in the kernel's backlog meanwhile); it also counts
connections per source address and turns away those over the configured
limit before they cost more than a descriptor for a moment.

Accepted sockets get the event loop's own transports when the loop is
uvloop's (C, 8.3 KiB per idle WebSocket connection with picows against 11.8
with aiofastnet's) and aiofastnet's C transports on asyncio's loop, whose own
are Python code on every read and write (:data:`SOCKET_TRANSPORTS`,
docs/hub.md "Memory per connection").
"""

from __future__ import annotations

import asyncio
import errno
import logging
import socket
import ssl
from collections.abc import Callable
from typing import Any

import aiofastnet

logger = logging.getLogger(__name__)

# accept() errors that mean "out of a resource", not "this connection failed".
OUT_OF_RESOURCES = frozenset({errno.EMFILE, errno.ENFILE, errno.ENOBUFS, errno.ENOMEM})
ACCEPT_RETRY = 0.1  # seconds between accept() attempts while out of descriptors
PRUNE_INTERVAL = 10.0  # seconds between sweeps of closed connections per address
SOCKET_TRANSPORTS = ("auto", "loop", "aiofastnet")  # auto: loop on uvloop, else aiofastnet
_REFUSED_BODY = b'{"error":"too many connections from this address"}\n'
_REFUSED = (
    b"HTTP/1.1 503 Service Unavailable\r\ncontent-type: application/json\r\n"
    b"connection: close\r\ncontent-length: %d\r\n\r\n%s" % (len(_REFUSED_BODY), _REFUSED_BODY)
)


class Listener:
    """One listening socket feeding ``make_front`` protocols (the asyncio.Server subset we use)."""

    def __init__(
        self,
        sock: socket.socket,
        make_front: Callable[[], asyncio.Protocol],
        tls: ssl.SSLContext | None,
        *,
        max_per_address: int = 0,
        tls_handshake_timeout: float = 10.0,
        transports: str = "auto",
    ) -> None:
        if transports not in SOCKET_TRANSPORTS:
            raise ValueError(f"socket transports must be one of {', '.join(SOCKET_TRANSPORTS)}")
        self.sockets = [sock]
        self._sock = sock
        self._make_front = make_front
        self._tls = tls
        self._tls_timeout = tls_handshake_timeout
        self.max_per_address = max_per_address
        self._loop = asyncio.get_running_loop()
        self.transports = transports
        if transports == "auto":
            self.transports = "loop" if runs_on_uvloop(self._loop) else "aiofastnet"
        self._by_address: dict[str, list[asyncio.BaseTransport]] = {}
        self._tasks: set[asyncio.Task[None]] = set()
        self._watching = False
        self._retry: asyncio.TimerHandle | None = None
        self._prune: asyncio.TimerHandle | None = None
        self._closed = False
        self.paused_since: float | None = None
        self.refused_per_address = 0
        self.accept_pauses = 0
        self.failed_tls_handshakes = 0  # closed before their first byte: bad, slow or not TLS
        self._watch()
        if max_per_address:
            self._prune = self._loop.call_later(PRUNE_INTERVAL, self._sweep)

    @property
    def port(self) -> int:
        bound: int = self._sock.getsockname()[1]
        return bound

    def _watch(self) -> None:
        if not self._watching and not self._closed:
            self._loop.add_reader(self._sock.fileno(), self._accept)
            self._watching = True

    def _unwatch(self) -> None:
        if self._watching:
            self._loop.remove_reader(self._sock.fileno())
            self._watching = False

    def _accept(self) -> None:
        for _ in range(256):  # a burst, then let the loop breathe
            try:
                conn, address = self._sock.accept()
            except (BlockingIOError, InterruptedError, ConnectionAbortedError):
                return
            except OSError as exc:
                if exc.errno in OUT_OF_RESOURCES:
                    self._pause(exc)
                    return
                logger.warning("accept() failed: %s", exc)
                return
            if self.paused_since is not None:
                logger.warning(
                    "accepting connections again after %.1f s",
                    self._loop.time() - self.paused_since,
                )
                self.paused_since = None
            self._admit(conn, address)

    def _pause(self, exc: OSError) -> None:
        """Out of descriptors: stop watching the socket, try again shortly."""
        self._unwatch()
        if self.paused_since is None:
            self.paused_since = self._loop.time()
            self.accept_pauses += 1
            logger.warning(
                "accept paused: %s (raise the limit with ulimit -n, or lower "
                "--max-connections); retrying every %.1f s",
                exc.strerror or exc,
                ACCEPT_RETRY,
            )
        self._retry = self._loop.call_later(ACCEPT_RETRY, self._resume)

    def _resume(self) -> None:
        self._retry = None
        self._watch()

    def _admit(self, conn: socket.socket, address: Any) -> None:
        host = address[0] if isinstance(address, tuple) else str(address)
        if self.max_per_address:
            live = [t for t in self._by_address.get(host, ()) if not t.is_closing()]
            if len(live) >= self.max_per_address:
                self.refused_per_address += 1
                try:
                    conn.send(_REFUSED)
                except OSError:
                    pass
                conn.close()
                self._by_address[host] = live
                return
        conn.setblocking(False)
        task = self._loop.create_task(self._connect(conn, host))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _connect(self, conn: socket.socket, host: str) -> None:
        timeout = self._tls_timeout if self._tls else None
        try:
            if self.transports == "loop":
                transport, _ = await self._loop.connect_accepted_socket(
                    self._make_front, conn, ssl=self._tls, ssl_handshake_timeout=timeout
                )
            else:
                transport, _ = await aiofastnet.connect_accepted_socket(
                    self._loop, self._make_front, conn, ssl=self._tls, ssl_handshake_timeout=timeout
                )
        except (OSError, ssl.SSLError, TimeoutError) as exc:
            logger.debug("connection from %s failed before its first byte: %s", host, exc)
            if self._tls is not None:
                self.failed_tls_handshakes += 1
            conn.close()
            return
        if self._closed:
            transport.abort()
            return
        if self.max_per_address:
            self._by_address.setdefault(host, []).append(transport)

    def _sweep(self) -> None:
        """Forget closed connections, so that addresses seen once cost nothing."""
        for host, transports in list(self._by_address.items()):
            live = [t for t in transports if not t.is_closing()]
            if live:
                self._by_address[host] = live
            else:
                del self._by_address[host]
        self._prune = self._loop.call_later(PRUNE_INTERVAL, self._sweep)

    def connections_from(self, host: str) -> int:
        return sum(1 for t in self._by_address.get(host, ()) if not t.is_closing())

    def close(self) -> None:
        """Stop accepting (connections already made are the caller's to close)."""
        if self._closed:
            return
        self._unwatch()
        self._closed = True
        for timer in (self._retry, self._prune):
            if timer is not None:
                timer.cancel()
        self._sock.close()

    async def wait_closed(self) -> None:
        return None


def runs_on_uvloop(loop: asyncio.AbstractEventLoop) -> bool:
    return type(loop).__module__.partition(".")[0] == "uvloop"


def bind_socket(host: str, port: int, *, reuse_port: bool = False) -> socket.socket:
    """A non-blocking listening TCP socket (IPv6 when ``host`` is an IPv6 address)."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        if reuse_port:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
        sock.bind((host, port))
        sock.listen(4096)
        sock.setblocking(False)
    except OSError:
        sock.close()
        raise
    return sock
