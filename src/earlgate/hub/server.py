"""The hub process: sockets, WebSocket upgrades, timers, signals.

A thin asyncio layer around :class:`earlgate.hub.core.Hub`: picows parses
WebSocket frames (chosen by measurement, see docs/dependencies.md) and each
connection's listener (:mod:`~earlgate.hub.connection`) hands complete frames
to the core, whose actions :mod:`~earlgate.hub.effects` carries out; HTTP
requests go to :mod:`~earlgate.hub.http_routes`. The server also runs the
once-a-second metrics window, the event-loop lag probe and graceful shutdown
(close 1001 to every client, flush, exit).
"""

from __future__ import annotations

import asyncio
import logging
import time
import urllib.parse
from typing import Any

import orjson
from picows import WSListener, WSUpgradeRequest, WSUpgradeResponseWithListener

from earlgate.broker.base import Broker
from earlgate.broker.memory import MemoryBroker
from earlgate.hub.auth import AuthError, TokenVerifier
from earlgate.hub.config import HubConfig
from earlgate.hub.connection import HubListener
from earlgate.hub.core import Hub
from earlgate.hub.effects import Effects
from earlgate.hub.exposition import make_registry
from earlgate.hub.http_routes import HubRoutes
from earlgate.hub.keepalive import Keepalive
from earlgate.mqtt.overview import LISTED_SESSIONS
from earlgate.mqtt.server import MQTT_PATH, MqttServer
from earlgate.server import (
    Drain,
    HttpFront,
    Listener,
    hand_to_websocket,
    listen,
    refuse_upgrade,
    serve_until_signalled,
    server_tls_context,
)
from earlgate.server.batching import BatchFlusher, wants_batches
from earlgate.server.coalescing import TurnCoalescer
from earlgate.server.static import StaticFiles

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


def _query(request: WSUpgradeRequest) -> dict[str, list[str]]:
    return urllib.parse.parse_qs(urllib.parse.urlsplit(request.path.decode("latin-1")).query)


def _token_from(request: WSUpgradeRequest) -> str | None:
    auth = request.headers.get("Authorization", "")
    if auth.lower().startswith("bearer "):
        return auth[7:].strip()
    values = _query(request).get("token")
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
        self.hub = Hub(
            self.broker,
            config,
            clock=time.monotonic,
            verifier=self.verifier,
            timer_ns=time.perf_counter_ns,
        )
        self.effects = Effects(self.hub, wall_clock=time.time)
        self.metrics = self.hub.metrics
        self.listeners: set[HubListener] = set()
        self.registry = make_registry(self.metrics, self._gauges, self._counters)
        if config.supervisor_status:  # a supervised worker: show the supervisor's view too
            from earlgate.cluster.status import SupervisorCollector

            self.registry.register(SupervisorCollector(config.supervisor_status))
        self.started = time.time()
        self.web = StaticFiles(HUB_WEB_FILES)
        self.batches = BatchFlusher()
        # --coalesce-ms: HubListener notes each message; None when off (docs/hub.md).
        self.coalescer = (
            TurnCoalescer(config.coalesce_ms / 1000.0) if config.coalesce_ms > 0 else None
        )
        # --ping-interval: one sweep pings idle /ws connections (hub/keepalive.py).
        self.keepalive = (
            Keepalive(config.ping_interval, config.ping_timeout, 0.0)
            if config.ping_interval > 0
            else None
        )
        self._sweeper: asyncio.TimerHandle | None = None
        self.routes = HubRoutes(self)
        self.mqtt = MqttServer(self)  # --mqtt-port, --mqtts-port and /mqtt (docs/mqtt.md)
        self._server: Listener | None = None
        self._timers: list[asyncio.TimerHandle] = []
        self._lag_due = 0.0
        self.stopping = False
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
        await self.mqtt.start(tls)
        self.metrics.tick(time.time(), time.process_time())
        self._lag_due = loop.time() + LAG_INTERVAL
        self._timers.append(loop.call_at(self._lag_due, self._probe_lag))
        self._timers.append(loop.call_later(WINDOW, self._tick))
        if self.keepalive is not None:
            self.keepalive.now = loop.time()
            self._sweeper = loop.call_later(self.keepalive.period, self._sweep)

    async def serve_forever(self) -> None:
        """Run until SIGINT/SIGTERM, then shut down gracefully."""
        await serve_until_signalled(self.stop, self.stopped)

    async def stop(self) -> None:
        """Stop accepting, close every client with 1001, flush, release the broker."""
        if self.stopping:
            await self.stopped.wait()
            return
        self.stopping = True
        if self._server is not None:
            self._server.close()
        self.mqtt.stop()
        for listener in list(self.listeners):
            listener.close_going_away()
        await self._drain.wait_closed(len(self.listeners), self.config.shutdown_grace)
        for timer in self._timers:
            timer.cancel()
        if self._sweeper is not None:
            self._sweeper.cancel()
        await self.broker.close()
        self.stopped.set()

    # -- connections ------------------------------------------------------

    def forget(self, listener: HubListener) -> None:
        self.listeners.discard(listener)
        self._drain.closed(len(self.listeners))

    def _make_front(self) -> asyncio.Protocol:
        return HttpFront(
            self.routes.handle,
            self._upgrade,
            max_body=self.config.max_frame,
            head_timeout=self.config.handshake_timeout,
            idle_timeout=self.config.idle_timeout,
        )

    def _upgrade(self, transport: asyncio.Transport, raw: bytes) -> None:
        config = self.config
        # /ws connections are pinged by the hub's sweep; /mqtt ones by picows.
        target = raw.split(b" ", 2)[1] if raw.count(b" ") >= 2 else b""
        mqtt = target.split(b"?", 1)[0] == MQTT_PATH.encode()
        hand_to_websocket(
            transport,
            raw,
            self._listener_for,
            handshake_timeout=config.handshake_timeout,
            max_frame_size=config.max_frame * config.oversize_factor,
            ping_interval=config.ping_interval if mqtt or self.keepalive is None else 0.0,
            ping_timeout=config.ping_timeout,
        )

    def _listener_for(
        self, request: WSUpgradeRequest
    ) -> WSListener | WSUpgradeResponseWithListener:
        path = urllib.parse.urlsplit(request.path.decode("latin-1")).path
        if path == MQTT_PATH and not self.stopping:
            return self.mqtt.websocket_listener(request)
        if path not in WS_PATHS:
            return _refuse(404, f"no WebSocket endpoint at {path}; use /ws")
        if self.stopping:
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
        batch = self.config.batch_max_bytes > 0 and wants_batches(_query(request))
        return HubListener(self, grants, peer, batch=batch)

    def stats(self, mqtt_sessions: int = LISTED_SESSIONS) -> dict[str, Any]:
        """``/stats``; ``mqtt_sessions``: how many MQTT sessions to list (docs/mqtt.md)."""
        last = self.metrics.last
        now = time.time()
        connections, mqtt = self.mqtt.overview(len(self.listeners), mqtt_sessions, now)
        return {
            "time": round(now, 3),
            "uptime": round(now - self.started, 3),
            "broker": self.broker.name,
            "healthy": self.broker.healthy(),
            "last_second": last.as_dict() if last else None,
            "totals": self.metrics.totals(),
            "hub": self.hub.statistics(),
            "connections": connections,
            "mqtt": mqtt,
            "coalesce": self.coalescer.statistics() if self.coalescer is not None else None,
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

    def _sweep(self) -> None:
        keepalive = self.keepalive
        assert keepalive is not None
        loop = asyncio.get_running_loop()
        now = keepalive.now = loop.time()
        for listener in list(self.listeners):
            listener.keep_alive(keepalive, now)
        self._sweeper = loop.call_later(keepalive.period, self._sweep)

    def _tick(self) -> None:
        sample = self.metrics.tick(time.time(), time.process_time())
        if sample is not None and self.config.shed_lag_ms > 0:
            self.hub.shedding = sample.loop_lag.percentile(0.99) / 1e6 > self.config.shed_lag_ms
        self._timers[1] = asyncio.get_running_loop().call_later(WINDOW, self._tick)


# Served beside the hub's own routes: the browser client, the dashboard, the device
# (Web Bluetooth) page and what they import (the pages' common/ sheet and scripts).
HUB_WEB_FILES = (
    "earlgate.js",
    "earlgate.d.ts",
    "common/",
    "dashboard/",
    "devices/",
    "ble/",
    "vendor/",
)


def _refuse(status: int, reason: str) -> WSUpgradeResponseWithListener:
    return refuse_upgrade(status, orjson.dumps({"error": reason}) + b"\n", "application/json")


async def run_hub(config: HubConfig, broker: Broker | None = None) -> None:
    server = HubServer(config, broker)
    await server.start()
    logger.info("hub listening on %s:%d", config.host, server.port)
    await server.serve_forever()
