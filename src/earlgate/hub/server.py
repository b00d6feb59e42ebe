"""The hub process: sockets, WebSocket connections, HTTP routes, timers, signals.

A thin asyncio layer around :class:`earlgate.hub.core.Hub`: picows parses
WebSocket frames (chosen by measurement, see docs/dependencies.md) and each
connection's listener hands complete frames to the core. The server also runs
the once-a-second metrics window, the event-loop lag probe and graceful
shutdown (close 1001 to every client, flush, exit).
"""

from __future__ import annotations

import asyncio
import logging
import time
import urllib.parse
from typing import Any

import orjson
from picows import (
    WSCloseCode,
    WSFrame,
    WSListener,
    WSMsgType,
    WSTransport,
    WSUpgradeRequest,
    WSUpgradeResponseWithListener,
)

from earlgate import __version__
from earlgate.broker.base import Broker
from earlgate.broker.memory import MemoryBroker
from earlgate.hub.auth import AuthError, Grants, TokenVerifier
from earlgate.hub.config import HubConfig
from earlgate.hub.core import Hub
from earlgate.hub.exposition import make_registry
from earlgate.hub.session import Session, TokenBucket
from earlgate.metrics.exposition import CONTENT_TYPE, render
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
from earlgate.wire import codes

logger = logging.getLogger(__name__)

WS_PATHS = ("/ws", "/")
LAG_INTERVAL = 0.1  # seconds between event-loop lag probes
WINDOW = 1.0  # seconds per metrics window
# Broker statistics exposed on /metrics (the in-memory broker has them all).
STORE_GAUGES = ("retained_subjects", "retained_bytes", "durable_subjects", "durable_bytes")
STORE_COUNTERS = (
    "retained_evicted",
    "retained_evicted_for_bytes",
    "durable_evicted_subjects",
    "durable_evicted_for_bytes",
)


class HubListener(WSListener):
    """One WebSocket connection: reassembles messages and feeds the hub core."""

    def __init__(self, server: HubServer, grants: Grants | None, peer: str) -> None:
        super().__init__()
        self._server = server
        self._grants = grants
        self._peer = peer
        self._transport: WSTransport | None = None
        self._session: Session | None = None
        self._max = server.config.max_frame
        self._assembler = MessageAssembler(self._max)
        self._expiry: asyncio.TimerHandle | None = None

    def on_ws_connected(self, transport: WSTransport) -> None:
        self._transport = transport
        server = self._server
        config = server.config
        bucket = None
        if config.max_publish_rate > 0:
            bucket = TokenBucket(config.max_publish_rate, config.max_publish_rate, time.monotonic())
        self._session = Session(
            self._write,
            self._close,
            send_buffer=config.send_buffer,
            policy=config.slow_consumer,
            grants=self._grants,
            bucket=bucket,
            name=self._peer,
        )
        self._session.on_grants = self._arm_expiry
        server.listeners.add(self)
        server.hub.open_session(self._session)
        self._arm_expiry()

    def _arm_expiry(self) -> None:
        """Close the connection when its token's ``exp`` passes (a refresh re-arms)."""
        if self._expiry is not None:
            self._expiry.cancel()
            self._expiry = None
        session = self._session
        expires = session.grants.expires if session and session.grants else None
        if expires is not None:
            delay = max(expires - time.time(), 0.0)
            self._expiry = asyncio.get_running_loop().call_later(delay, self._expired)

    def _expired(self) -> None:
        self._expiry = None
        session = self._session
        if session is None:
            return
        reason = "token expired: send a fresh one in an 'auth' frame before 'exp'"
        self._server.hub.refuse(session, codes.FrameError(codes.FORBIDDEN, reason))
        self._close(codes.CLOSE_TOKEN_EXPIRED, "token expired")

    def _write(self, raw: bytes) -> None:
        transport = self._transport
        if transport is not None and not transport.is_close_frame_sent:
            transport.send(WSMsgType.TEXT, raw)

    def _close(self, code: int, reason: str) -> None:
        transport = self._transport
        if transport is None or transport.is_close_frame_sent:
            return
        transport.send_close(WSCloseCode(code), reason.encode())
        transport.disconnect()

    def on_ws_frame(self, transport: WSTransport, frame: WSFrame) -> None:
        session = self._session
        if session is None:
            return
        kind = frame.msg_type
        if kind is WSMsgType.TEXT or kind is WSMsgType.BINARY or kind is WSMsgType.CONTINUATION:
            try:
                message = self._assembler.feed(frame)
            except MessageTooLarge as exc:
                self._too_large(exc.size)
                return
            except UnexpectedContinuation:
                self._close(1002, "continuation frame without a message to continue")
                return
            if message is not None:
                self._server.hub.handle_frame(session, message)
        elif kind is WSMsgType.CLOSE:
            if not transport.is_close_frame_sent:
                transport.send_close(frame.get_close_code())
            transport.disconnect()

    def _too_large(self, size: int) -> None:
        # PROTOCOL.md: "too_large (frame over the hub's limit ...; the hub closes with status 1009)"
        session = self._session
        if session is None:
            return
        reason = f"frame of {size} bytes is over the limit of {self._max} bytes"
        self._server.hub.refuse(session, codes.FrameError(codes.TOO_LARGE, reason))
        self._close(1009, "frame too large")

    def on_ws_disconnected(self, transport: WSTransport) -> None:
        if self._expiry is not None:
            self._expiry.cancel()
            self._expiry = None
        self._server.forget(self)
        if self._session is not None:
            self._server.hub.close_session(self._session)
        self._transport = None

    def pause_writing(self) -> None:
        if self._session is not None:
            self._session.pause_writing()

    def resume_writing(self) -> None:
        if self._session is not None:
            self._session.resume_writing()

    def close_going_away(self) -> None:
        self._close(1001, "hub shutting down")


def _token_from(request: WSUpgradeRequest) -> str | None:
    auth = request.headers.get("Authorization", "")
    if auth.lower().startswith("bearer "):
        return auth[7:].strip()
    query = urllib.parse.urlsplit(request.path.decode("latin-1")).query
    values = urllib.parse.parse_qs(query).get("token")
    return values[0] if values else None


class HubServer:
    """Runs a :class:`Hub` on a TCP port until stopped."""

    def __init__(self, config: HubConfig, broker: Broker | None = None) -> None:
        config.validate()
        self.config = config
        self.broker = broker or MemoryBroker(
            durable=config.durable,
            retention=config.retention,
            max_retained=config.max_retained,
            max_retained_bytes=config.max_retained_bytes,
            durable_max_bytes=config.durable_max_bytes,
        )
        self.verifier = (
            TokenVerifier(config.auth_secret, require_exp=config.require_exp)
            if config.auth_secret
            else None
        )
        self.hub = Hub(self.broker, config, verifier=self.verifier)
        self.metrics = self.hub.metrics
        self.listeners: set[HubListener] = set()
        self.registry = make_registry(self.metrics, self._gauges, self._counters)
        if config.supervisor_status:  # a supervised worker: show the supervisor's view too
            from earlgate.cluster.status import SupervisorCollector

            self.registry.register(SupervisorCollector(config.supervisor_status))
        self.started = time.time()
        self.web = StaticFiles(HUB_WEB_FILES)
        self._server: Listener | None = None
        self._timers: list[asyncio.TimerHandle] = []
        self._lag_due = 0.0
        self._stopping = False
        self._drain = Drain()
        self.stopped = asyncio.Event()
        self.port = config.port

    # -- lifecycle --------------------------------------------------------

    async def start(self) -> None:
        loop = asyncio.get_running_loop()
        await self.broker.start()
        tls = server_tls_context(self.config.tls_cert, self.config.tls_key)
        self._server, self.port = await listen(
            self._make_front,
            self.config.host,
            self.config.port,
            tls,
            max_per_address=self.config.max_connections_per_address,
            tls_handshake_timeout=self.config.handshake_timeout,
            reuse_port=self.config.reuse_port,
        )
        self.metrics.tick(time.time(), time.process_time())
        self._lag_due = loop.time() + LAG_INTERVAL
        self._timers.append(loop.call_at(self._lag_due, self._probe_lag))
        self._timers.append(loop.call_later(WINDOW, self._tick))

    async def serve_forever(self) -> None:
        """Run until SIGINT/SIGTERM, then shut down gracefully."""
        await serve_until_signalled(self.stop, self.stopped)

    async def stop(self) -> None:
        """Stop accepting, close every client with 1001, flush, release the broker."""
        if self._stopping:
            await self.stopped.wait()
            return
        self._stopping = True
        if self._server is not None:
            self._server.close()
        for listener in list(self.listeners):
            listener.close_going_away()
        await self._drain.wait_closed(len(self.listeners), self.config.shutdown_grace)
        for timer in self._timers:
            timer.cancel()
        await self.broker.close()
        self.stopped.set()

    # -- connections ------------------------------------------------------

    def forget(self, listener: HubListener) -> None:
        self.listeners.discard(listener)
        self._drain.closed(len(self.listeners))

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
            max_frame_size=config.max_frame * config.oversize_factor,
            ping_interval=config.ping_interval,
            ping_timeout=config.ping_timeout,
        )

    def _listener_for(
        self, request: WSUpgradeRequest
    ) -> HubListener | WSUpgradeResponseWithListener:
        path = urllib.parse.urlsplit(request.path.decode("latin-1")).path
        if path not in WS_PATHS:
            return _refuse(404, f"no WebSocket endpoint at {path}; use /ws")
        if self._stopping:
            return _refuse(503, "hub is shutting down")
        if self.metrics.connections_open >= self.config.max_connections:
            self.metrics.error("max_connections")
            return _refuse(503, f"connection limit of {self.config.max_connections} reached")
        grants = None
        if self.verifier is not None:
            token = _token_from(request)
            if not token:
                return _refuse(401, "token required: pass ?token= or Authorization: Bearer")
            try:
                grants = self.verifier.verify(token)
            except AuthError as exc:
                return _refuse(401, str(exc))
        peer = request.headers.get("X-Forwarded-For", "")
        return HubListener(self, grants, peer)

    # -- HTTP -------------------------------------------------------------

    async def _handle_http(self, request: HttpRequest) -> HttpResponse:
        self.metrics.http_requests += 1
        path = request.path
        routes = {
            "/healthz": ("GET", self._healthz),
            "/stats": ("GET", self._stats),
            "/metrics": ("GET", self._metrics_page),
            "/publish": ("POST", self._publish),
            "/": ("GET", self._index),
            "/ws": ("GET", self._ws_hint),
        }
        route = routes.get(path)
        if route is None:
            if request.method in ("GET", "HEAD"):
                page = self.web.respond(request, path[1:])
                if page is not None:
                    return page
            return HttpResponse.json(404, {"error": f"no route {path}"})
        method, handler = route
        if request.method != method and not (method == "GET" and request.method == "HEAD"):
            return HttpResponse(
                405,
                orjson.dumps({"error": f"{path} takes {method}"}) + b"\n",
                headers=(("allow", method),),
            )
        return await handler(request)

    async def _index(self, request: HttpRequest) -> HttpResponse:
        if "text/html" in request.headers.get("accept", ""):
            page = self.web.respond(request, "dashboard/index.html")
            if page is not None:
                return page
        return HttpResponse.json(
            200,
            {"name": "earlgate hub", "version": __version__, "websocket": "/ws"},
        )

    async def _ws_hint(self, request: HttpRequest) -> HttpResponse:
        return HttpResponse.json(426, {"error": "this endpoint takes a WebSocket upgrade"})

    async def _healthz(self, request: HttpRequest) -> HttpResponse:
        healthy = self.broker.healthy() and not self._stopping
        body = {
            "status": "ok" if healthy else "unavailable",
            "broker": self.broker.name,
            "connections": self.metrics.connections_open,
        }
        if self.config.supervisor_status:
            from earlgate.cluster.status import supervision

            body.update(supervision(self.config.supervisor_status))
        return HttpResponse.json(200 if healthy else 503, body)

    async def _stats(self, request: HttpRequest) -> HttpResponse:
        return HttpResponse.json(200, self.stats())

    async def _metrics_page(self, request: HttpRequest) -> HttpResponse:
        return HttpResponse(200, render(self.registry), CONTENT_TYPE)

    async def _publish(self, request: HttpRequest) -> HttpResponse:
        if self.verifier is not None:
            auth = request.headers.get("authorization", "")
            if not auth.lower().startswith("bearer "):
                return HttpResponse.json(401, {"error": "token required: Authorization: Bearer"})
            try:
                grants = self.verifier.verify(auth[7:].strip())
            except AuthError as exc:
                return HttpResponse.json(401, {"error": str(exc)})
            subject = _subject_of(request.body)
            if subject is not None and not grants.may_publish(subject):
                body = {"type": "error", "code": "forbidden", "reason": f"not allowed: {subject}"}
                return HttpResponse.json(403, body)
        status, body = await self.hub.publish_http(request.body)
        return HttpResponse.json(status, body)

    def stats(self) -> dict[str, Any]:
        last = self.metrics.last
        return {
            "time": round(time.time(), 3),
            "uptime": round(time.time() - self.started, 3),
            "broker": self.broker.name,
            "healthy": self.broker.healthy(),
            "last_second": last.as_dict() if last else None,
            "totals": self.metrics.totals(),
            "hub": self.hub.statistics(),
        }

    def _gauges(self) -> dict[str, float]:
        last = self.metrics.last
        gauges = {
            "cpu_percent": last.cpu_percent if last else 0.0,
            "healthy": 1.0 if self.broker.healthy() else 0.0,
        }
        broker = self.broker.statistics()
        for name in STORE_GAUGES:
            if isinstance(broker.get(name), int | float):
                gauges[name] = broker[name]
        return gauges

    def _counters(self) -> dict[str, float]:
        """The stores' evictions, and connections turned away before a frame."""
        broker = self.broker.statistics()
        counters = {f"{n}_total": broker[n] for n in STORE_COUNTERS if n in broker}
        if self._server is not None:
            counters["refused_per_address_total"] = self._server.refused_per_address
            counters["accept_pauses_total"] = self._server.accept_pauses
        return counters

    # -- timers -----------------------------------------------------------

    def _probe_lag(self) -> None:
        loop = asyncio.get_running_loop()
        now = loop.time()
        lag = max(now - self._lag_due, 0.0)
        self.metrics.window_loop_lag.record(int(lag * 1e9))
        self._lag_due = now + LAG_INTERVAL
        self._timers[0] = loop.call_at(self._lag_due, self._probe_lag)

    def _tick(self) -> None:
        sample = self.metrics.tick(time.time(), time.process_time())
        if sample is not None and self.config.shed_lag_ms > 0:
            self.hub.shedding = sample.loop_lag.percentile(0.99) / 1e6 > self.config.shed_lag_ms
        self._timers[1] = asyncio.get_running_loop().call_later(WINDOW, self._tick)


# The browser client and the dashboard, served beside the hub's own routes.
HUB_WEB_FILES = ("earlgate.js", "earlgate.d.ts", "dashboard/", "vendor/")


def _refuse(status: int, reason: str) -> WSUpgradeResponseWithListener:
    return refuse_upgrade(status, orjson.dumps({"error": reason}) + b"\n", "application/json")


def _subject_of(body: bytes) -> str | None:
    try:
        message = orjson.loads(body)
    except orjson.JSONDecodeError:
        return None
    subject = message.get("subject") if isinstance(message, dict) else None
    return subject if isinstance(subject, str) else None


async def run_hub(config: HubConfig, broker: Broker | None = None) -> None:
    server = HubServer(config, broker)
    await server.start()
    logger.info("hub listening on %s:%d", config.host, server.port)
    await server.serve_forever()
