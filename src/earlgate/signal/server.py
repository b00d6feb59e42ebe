"""The ``earlgate signal`` process: sockets around :class:`SignalingRouter`.

A thin asyncio layer, built like the hub's: every accepted connection starts in
the shared h11 :class:`~earlgate.server.http.HttpFront`, which answers PeerServer's
HTTP routes (:mod:`earlgate.signal.http`) and hands WebSocket upgrades to a
picows protocol. Each WebSocket connection gets a number and a
:class:`SignalListener` that feeds complete messages to the router; the
server carries out the :class:`~earlgate.signal.router.Send` and
:class:`~earlgate.signal.router.Close` actions the router returns, and two
timers drive queue expiry and liveness.

A send "fails" (PEERJS.md: "If sending to dst fails, close dst and send
LEAVE to the sender") when the recipient's connection is closing or already
holds ``send_buffer`` unsent bytes: a peer that stopped reading is dropped
instead of growing the server's memory.
"""

from __future__ import annotations

import asyncio
import logging
import ssl
import time
import urllib.parse
from collections import Counter, deque
from collections.abc import Callable, Iterable

from picows import (
    WSCloseCode,
    WSFrame,
    WSListener,
    WSMsgType,
    WSTransport,
    WSUpgradeRequest,
    WSUpgradeResponseWithListener,
)

from earlgate.metrics.exposition import render
from earlgate.server import (
    Drain,
    HttpFront,
    HttpRequest,
    HttpResponse,
    Listener,
    MessageAssembler,
    MessageTooLarge,
    UnexpectedContinuation,
    hand_to_websocket,
    listen,
    refuse_upgrade,
    serve_until_signalled,
    server_tls_context,
)
from earlgate.server.static import StaticFiles
from earlgate.signal.config import SignalConfig
from earlgate.signal.http import WEB_FILES, HttpRoutes, page_name
from earlgate.signal.metrics import make_registry
from earlgate.signal.router import Action, Close, ConnId, Send, SignalingRouter, oversize

__all__ = ["SignalListener", "SignalServer", "make_ssl_context"]

logger = logging.getLogger(__name__)

# picows drops a connection whose single frame passes this many times the
# message limit before the listener sees it; up to there the listener closes
# with 1009 and a reason.
OVERSIZE_FACTOR = 4
GOING_AWAY = 1001


def make_ssl_context(config: SignalConfig) -> ssl.SSLContext | None:
    """The server's TLS context, or None without TLS (raises as :func:`server_tls_context`)."""
    return server_tls_context(config.tls_cert, config.tls_key)


class SignalListener(WSListener):
    """One WebSocket connection: reassembles messages, writes frames, closes."""

    def __init__(self, server: SignalServer, conn: ConnId, query: dict[str, str]) -> None:
        super().__init__()
        self._server = server
        self.conn = conn
        self._query = query
        self._transport: WSTransport | None = None
        self._closing = False
        self._max = server.config.max_frame
        self._assembler = MessageAssembler(self._max)

    # -- picows callbacks ----------------------------------------------------

    def on_ws_connected(self, transport: WSTransport) -> None:
        self._transport = transport
        self._server.attach(self, self._query)

    def on_ws_frame(self, transport: WSTransport, frame: WSFrame) -> None:
        kind = frame.msg_type
        if kind is WSMsgType.TEXT or kind is WSMsgType.BINARY or kind is WSMsgType.CONTINUATION:
            try:
                message = self._assembler.feed(frame)
            except MessageTooLarge as exc:
                self._too_big(exc.size)
                return
            except UnexpectedContinuation:
                self.close(Close(self.conn, 1002, "continuation without a message"))
                return
            if message is not None:
                self._server.received(self, message)
        elif kind is WSMsgType.CLOSE:
            if not self._closing:
                self._closing = True
                transport.send_close(frame.get_close_code())
            transport.disconnect()

    def on_ws_disconnected(self, transport: WSTransport) -> None:
        self._transport = None
        self._server.detach(self)

    # -- used by the server --------------------------------------------------

    def _too_big(self, size: int) -> None:
        self._server.io["too_big"] += 1
        self.close(oversize(self.conn, size, self._max))

    def write(self, frame: bytes) -> bool:
        """Send one text message; False if the connection cannot take it."""
        transport = self._transport
        if transport is None or self._closing:
            return False
        buffered = transport.underlying_transport.get_write_buffer_size()
        if buffered + len(frame) > self._server.config.send_buffer:
            return False
        transport.send(WSMsgType.TEXT, frame)
        return True

    def close(self, action: Close) -> None:
        """Carry out a :class:`Close`: a close frame (or none when aborting), then TCP."""
        transport = self._transport
        if transport is None:
            return
        if action.abort:
            self._closing = True
            transport.disconnect(graceful=False)
            return
        if not self._closing:
            self._closing = True
            if action.code is None:
                # ws's socket.close() with no code: a close frame without a status.
                transport.send(WSMsgType.CLOSE, b"")
            else:
                transport.send_close(WSCloseCode(action.code), action.reason.encode())
        transport.disconnect()


class SignalServer:
    """Runs a :class:`SignalingRouter` on a TCP port until stopped.

    Args:
        config: the PeerServer settings.
        pages: also serve the browser pages (:data:`~earlgate.signal.http.WEB_FILES`).
    """

    def __init__(self, config: SignalConfig, *, pages: bool = True) -> None:
        config.validate()
        self.config = config
        self.router = SignalingRouter(config, time.monotonic)
        self.io: Counter[str] = Counter()
        self.registry = make_registry(self.router, lambda: self.io)
        self.routes = HttpRoutes(config, self.router, lambda: render(self.registry))
        self.pages = StaticFiles(WEB_FILES) if pages else None
        self.listeners: dict[ConnId, SignalListener] = {}
        self.port = config.port
        self.stopped = asyncio.Event()
        self._next_conn = 0
        self._server: Listener | None = None
        self._timers: dict[str, asyncio.TimerHandle] = {}
        self._stopping = False
        self._drain = Drain()

    # -- lifecycle -----------------------------------------------------------

    async def start(self) -> None:
        """Listen (``port`` 0: any free port, then :attr:`port` is the real one).

        Raises:
            OSError: the address cannot be bound, or the TLS files are wrong.
        """
        self._server, self.port = await listen(
            self._make_front,
            self.config.host,
            self.config.port,
            make_ssl_context(self.config),
            max_per_address=self.config.max_connections_per_address,
            tls_handshake_timeout=self.config.handshake_timeout,
        )
        self._schedule("expire", self.config.expire_check_interval, self._expire)
        self._schedule("liveness", self.config.alive_check_interval, self._liveness)

    async def serve_forever(self) -> None:
        """Run until SIGINT/SIGTERM, then shut down gracefully."""
        await serve_until_signalled(self.stop, self.stopped)

    async def stop(self) -> None:
        """Stop accepting, close every peer with 1001, wait for them (bounded)."""
        if self._stopping:
            await self.stopped.wait()
            return
        self._stopping = True
        if self._server is not None:
            self._server.close()
        for timer in self._timers.values():
            timer.cancel()
        self.execute(self.router.close_all(GOING_AWAY, "server shutting down"))
        await self._drain.wait_closed(len(self.listeners), self.config.shutdown_grace)
        self.stopped.set()

    def _schedule(self, name: str, interval: float, tick: Callable[[], list[Action]]) -> None:
        loop = asyncio.get_running_loop()

        def run() -> None:
            try:
                self.execute(tick())
            except Exception:
                logger.exception("%s timer failed", name)
            self._timers[name] = loop.call_later(interval, run)

        self._timers[name] = loop.call_later(interval, run)

    def _expire(self) -> list[Action]:
        return self.router.expire_queues()

    def _liveness(self) -> list[Action]:
        return self.router.check_liveness()

    # -- connections ---------------------------------------------------------

    def attach(self, listener: SignalListener, query: dict[str, str]) -> None:
        self.listeners[listener.conn] = listener
        self.io["websocket_connections"] += 1
        self.execute(self.router.open(listener.conn, query))

    def detach(self, listener: SignalListener) -> None:
        if self.listeners.pop(listener.conn, None) is not None:
            self.execute(self.router.closed(listener.conn))
        self._drain.closed(len(self.listeners))

    def received(self, listener: SignalListener, data: bytes) -> None:
        self.execute(self.router.receive(listener.conn, data))

    def execute(self, actions: Iterable[Action]) -> None:
        """Carry out the router's actions in order; failed relays add the LEAVE."""
        pending = deque(actions)
        while pending:
            action = pending.popleft()
            listener = self.listeners.get(action.conn)
            if isinstance(action, Send):
                if listener is None or not listener.write(action.frame):
                    pending.extend(self.router.delivery_failed(action))
            elif listener is not None:
                listener.close(action)

    def _make_front(self) -> asyncio.Protocol:
        return HttpFront(
            self._handle_http,
            self._upgrade,
            max_body=self.config.max_frame,
            head_timeout=self.config.handshake_timeout,
            idle_timeout=self.config.idle_timeout,
        )

    def _upgrade(self, transport: asyncio.Transport, raw: bytes) -> None:
        config = self.config
        hand_to_websocket(
            transport,
            raw,
            self._listener_for,
            handshake_timeout=config.handshake_timeout,
            max_frame_size=config.max_frame * OVERSIZE_FACTOR,
        )

    def _listener_for(
        self, request: WSUpgradeRequest
    ) -> SignalListener | WSUpgradeResponseWithListener:
        parts = urllib.parse.urlsplit(request.path.decode("latin-1"))
        if parts.path != self.config.ws_path:
            # ws's WebSocketServer({path}) aborts other paths' upgrades with 400.
            return _refuse(400, f"no WebSocket endpoint at {parts.path}")
        if self._stopping:
            return _refuse(503, "server shutting down")
        # URLSearchParams + Object.fromEntries: the last value of a name wins.
        query = dict(urllib.parse.parse_qsl(parts.query, keep_blank_values=True))
        self._next_conn += 1
        return SignalListener(self, ConnId(self._next_conn), query)

    async def _handle_http(self, request: HttpRequest) -> HttpResponse:
        self.io["http_requests"] += 1
        reply = self.routes.respond(request.method, request.target, request.headers)
        name = page_name(request.method, request.target, reply) if self.pages else None
        if name is not None and self.pages is not None:
            page = self.pages.respond(request, name)
            if page is not None:
                return page
        return HttpResponse(reply.status, reply.body, reply.content_type, reply.headers)


def _refuse(status: int, reason: str) -> WSUpgradeResponseWithListener:
    return refuse_upgrade(status, reason.encode(), "text/plain")
