"""Plain HTTP on a server's port, and the point where WebSocket upgrades leave it.

PROTOCOL.md, Transport: "Plain HTTP on the same port: GET /healthz, GET /metrics,
GET /stats, POST /publish". picows parses WebSocket handshakes but serves no
request bodies, so every connection starts here: h11 parses the first request,
and if it asks for a WebSocket upgrade the connection (with the bytes already
read) is handed to a picows protocol (:mod:`earlgate.server.websocket`);
otherwise h11 serves it, keep-alive included. The hub and the signaling
server listen, use TLS and stop on signals the same way, with the helpers at
the end.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
import ssl
from collections.abc import Awaitable, Callable, Coroutine
from dataclasses import dataclass
from typing import Any, cast

import h11
import orjson

from earlgate.server.listener import Listener, bind_socket

logger = logging.getLogger(__name__)

MAX_HEAD = 16 * 1024


@dataclass
class HttpRequest:
    method: str
    target: str
    headers: dict[str, str]  # lower-case names; repeated headers joined by ", "
    body: bytes

    @property
    def path(self) -> str:
        return self.target.split("?", 1)[0]


@dataclass
class HttpResponse:
    status: int
    body: bytes
    content_type: str = "application/json"
    headers: tuple[tuple[str, str], ...] = ()

    @classmethod
    def json(cls, status: int, value: Any) -> HttpResponse:
        return cls(status, orjson.dumps(value) + b"\n")


Handler = Callable[[HttpRequest], Awaitable[HttpResponse]]


_SPENT = h11.Connection(h11.SERVER)  # what an upgraded front holds instead of its own


def is_websocket_upgrade(headers: dict[str, str]) -> bool:
    return "websocket" in headers.get("upgrade", "").lower()


class HttpFront(asyncio.Protocol):
    """The first protocol of every accepted connection.

    Timeouts, for every request on a keep-alive connection (not only the
    first): a request's head and body must arrive within ``head_timeout`` of
    its first byte (bytes trickling in do not extend it), and a connection
    waiting for its next request is closed after ``idle_timeout``. Reading
    pauses while a response is being produced and while the transport's write
    buffer is over its high-water mark, so a client that pipelines requests
    and never reads the answers costs one response's worth of memory.
    """

    def __init__(
        self,
        handler: Handler,
        upgrade: Callable[[asyncio.Transport, bytes], None],
        max_body: int,
        head_timeout: float,
        idle_timeout: float = 15.0,
    ) -> None:
        self._handler = handler
        self._upgrade = upgrade
        self._max_body = max_body
        self._head_timeout = head_timeout
        self._idle_timeout = idle_timeout
        self._conn = h11.Connection(h11.SERVER, max_incomplete_event_size=MAX_HEAD)
        self._first: bytearray | None = bytearray()  # raw bytes until the first request
        self._request: h11.Request | None = None
        self._body = bytearray()
        self._busy = False
        self._in_request = False  # some bytes of the next request have arrived
        self._write_paused = False
        self._read_paused = False
        self._transport: asyncio.Transport | None = None
        self._timer: asyncio.TimerHandle | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # uvloop's transports are not subclasses of asyncio.Transport; same API.
        self._transport = cast(asyncio.Transport, transport)
        # The first request has the head timeout from the connection's start.
        self._in_request = True
        self._arm(self._head_timeout)

    def _arm(self, timeout: float) -> None:
        self._cancel_timer()
        self._timer = asyncio.get_running_loop().call_later(timeout, self._too_slow)

    def _too_slow(self) -> None:
        self._timer = None
        transport = self._transport
        if transport is None:
            return
        if self._in_request and not self._busy:
            self._fail(408, f"request not complete within {self._head_timeout:g} s")
        else:
            transport.close()  # idle keep-alive connection

    def connection_lost(self, exc: Exception | None) -> None:
        self._cancel_timer()
        self._transport = None

    def _cancel_timer(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None

    def pause_writing(self) -> None:
        self._write_paused = True
        self._pause_reading()

    def resume_writing(self) -> None:
        self._write_paused = False
        self._process()

    def _pause_reading(self) -> None:
        if not self._read_paused and self._transport is not None:
            self._read_paused = True
            self._transport.pause_reading()

    def _resume_reading(self) -> None:
        if self._read_paused and self._transport is not None:
            self._read_paused = False
            self._transport.resume_reading()

    def data_received(self, data: bytes) -> None:
        if self._first is not None:
            self._first += data
        if not self._in_request and not self._busy:
            self._in_request = True
            self._arm(self._head_timeout)
        self._conn.receive_data(data)
        self._process()

    def eof_received(self) -> bool:
        self._conn.receive_data(b"")
        self._process()
        return False

    def _process(self) -> None:
        transport = self._transport
        while transport is not None and not self._busy:
            if self._write_paused:
                return  # resume_writing() calls back
            try:
                event = self._conn.next_event()
            except h11.RemoteProtocolError as exc:
                self._fail(exc.error_status_hint, f"bad HTTP request: {exc}")
                return
            if event is h11.NEED_DATA:
                self._resume_reading()
                return
            if event is h11.PAUSED:
                return
            if isinstance(event, h11.Request):
                headers = _headers(event.headers)
                if self._first is not None and is_websocket_upgrade(headers):
                    raw, self._first = bytes(self._first), None
                    self._cancel_timer()
                    self._transport = None
                    # uvloop's transport keeps a bound method of its first
                    # protocol after the switch: hold nothing worth keeping.
                    self._conn = _SPENT
                    self._body = bytearray()
                    self._upgrade(transport, raw)
                    return
                self._request = event
                self._body = bytearray()
            elif isinstance(event, h11.Data):
                self._body += event.data
                if len(self._body) > self._max_body:
                    self._fail(413, f"request body over the limit of {self._max_body} bytes")
                    return
            elif isinstance(event, h11.EndOfMessage):
                self._first = None
                self._cancel_timer()
                self._pause_reading()
                self._dispatch()
            elif isinstance(event, h11.ConnectionClosed):
                transport.close()
                return

    def _dispatch(self) -> None:
        assert self._request is not None
        request = HttpRequest(
            self._request.method.decode("ascii", "replace"),
            self._request.target.decode("ascii", "replace"),
            _headers(self._request.headers),
            bytes(self._body),
        )
        self._busy = True
        task = asyncio.get_running_loop().create_task(self._respond(request))
        task.add_done_callback(_log_failure)

    async def _respond(self, request: HttpRequest) -> None:
        try:
            response = await self._handler(request)
        except Exception:
            logger.exception("HTTP handler failed for %s %s", request.method, request.target)
            response = HttpResponse.json(500, {"error": "internal error"})
        self._send(response, head=request.method == "HEAD")
        self._busy = False
        self._in_request = False
        if self._transport is None:
            return
        if self._conn.our_state is h11.MUST_CLOSE or self._conn.their_state is h11.MUST_CLOSE:
            self._transport.close()
            return
        try:
            self._conn.start_next_cycle()
        except h11.LocalProtocolError:
            self._transport.close()
            return
        if self._conn.trailing_data[0]:
            self._in_request = True  # a pipelined request is already here
            self._arm(self._head_timeout)
        else:
            self._arm(self._idle_timeout)
        self._process()

    def _send(self, response: HttpResponse, head: bool = False) -> None:
        """Write ``response``; for HEAD, its head only (with the GET body's length)."""
        if self._transport is None:
            return
        headers = [
            ("content-type", response.content_type),
            ("content-length", str(len(response.body))),
            *response.headers,
        ]
        try:
            data = self._conn.send(h11.Response(status_code=response.status, headers=headers))
            if not head and response.body:
                data += self._conn.send(h11.Data(data=response.body)) or b""
            data += self._conn.send(h11.EndOfMessage()) or b""
        except h11.LocalProtocolError:
            self._transport.close()
            return
        self._transport.write(data)

    def _fail(self, status: int, reason: str) -> None:
        transport = self._transport
        if transport is None:
            return
        if self._conn.our_state in (h11.IDLE, h11.SEND_RESPONSE):
            body = orjson.dumps({"error": reason}) + b"\n"
            try:
                data = self._conn.send(
                    h11.Response(
                        status_code=status,
                        headers=[
                            ("content-type", "application/json"),
                            ("content-length", str(len(body))),
                            ("connection", "close"),
                        ],
                    )
                )
                data += self._conn.send(h11.Data(data=body)) or b""
                data += self._conn.send(h11.EndOfMessage()) or b""
                transport.write(data)
            except h11.LocalProtocolError:
                pass
        transport.close()


def _headers(raw: Any) -> dict[str, str]:
    headers: dict[str, str] = {}
    for name, value in raw:
        key = name.decode("latin-1").lower()
        text = value.decode("latin-1")
        headers[key] = f"{headers[key]}, {text}" if key in headers else text
    return headers


def _log_failure(task: asyncio.Task[None]) -> None:
    if not task.cancelled() and task.exception() is not None:
        logger.error("HTTP response task failed", exc_info=task.exception())


def server_tls_context(cert: str | None, key: str | None) -> ssl.SSLContext | None:
    """A server's TLS context, or None without TLS.

    Raises:
        OSError: a file is missing or unreadable (``ssl.SSLError`` when it is
            not a certificate or key, or they do not match).
    """
    if cert is None or key is None:
        return None
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(cert, key)
    return context


async def listen(
    make_front: Callable[[], asyncio.Protocol],
    host: str,
    port: int,
    tls: ssl.SSLContext | None,
    *,
    max_per_address: int = 0,
    reuse_port: bool = False,
    tls_handshake_timeout: float = 10.0,
    transports: str = "auto",
) -> tuple[Listener, int]:
    """Listen on ``host:port`` (0: any free port); returns the listener and its port.

    ``transports`` (:data:`~earlgate.server.listener.SOCKET_TRANSPORTS`) says
    what carries accepted sockets; :class:`Listener` decides what happens at
    the descriptor limit and per source address.
    """
    sock = bind_socket(host, port, reuse_port=reuse_port)
    listener = Listener(
        sock,
        make_front,
        tls,
        max_per_address=max_per_address,
        tls_handshake_timeout=tls_handshake_timeout,
        transports=transports,
    )
    return listener, listener.port


async def serve_until_signalled(
    stop: Callable[[], Coroutine[Any, Any, None]], stopped: asyncio.Event
) -> None:
    """Wait for ``stopped``; SIGINT and SIGTERM call ``stop`` (a graceful shutdown)."""
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(NotImplementedError, RuntimeError):
            loop.add_signal_handler(sig, lambda: loop.create_task(stop()))
    await stopped.wait()
