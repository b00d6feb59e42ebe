"""MQTT on a hub process: the TCP and TLS listeners, ``/mqtt`` upgrades, shutdown, ``/metrics``.

:class:`MqttServer` belongs to one :class:`~earlgate.hub.server.HubServer`
and shares its hub core, broker, token verifier, certificate and limits:
MQTT clients and WebSocket clients are one system (docs/mqtt.md). The TLS
port (``mqtts_port``) is the plain one behind the listener's TLS handshake,
which is bounded by ``handshake_timeout``; a client that fails it is closed
and counted before it has a connection here.
"""

from __future__ import annotations

import asyncio
import logging
import ssl
import time
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

import orjson
from picows import WSUpgradeRequest, WSUpgradeResponse, WSUpgradeResponseWithListener
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from earlgate.broker.redis_sessions import RedisSessions
from earlgate.metrics.exposition import labelled_counter
from earlgate.mqtt.bridge import MqttBridge
from earlgate.mqtt.connection import MqttConnection
from earlgate.mqtt.metrics import MqttMetrics
from earlgate.mqtt.overview import overview
from earlgate.mqtt.sessions import Sessions
from earlgate.mqtt.sharing import sharing_available
from earlgate.mqtt.transport import MqttTcpProtocol, MqttWebSocketListener
from earlgate.server import Listener, listen, refuse_upgrade

if TYPE_CHECKING:
    from earlgate.hub.server import HubServer

logger = logging.getLogger(__name__)

MQTT_PATH = "/mqtt"
SUBPROTOCOL = "mqtt"  # MQTT 5.0, 6.0: "the Client MUST include mqtt in the list"


class MqttListenError(Exception):
    """An MQTT port cannot be listened on; the message names it and its flag."""


class MqttServer:
    """The MQTT side of one hub process."""

    def __init__(self, hub_server: HubServer) -> None:
        self.config = hub_server.config
        self.metrics = MqttMetrics()
        self.sessions = Sessions(
            self.config,
            self.metrics,
            hub_server.verifier,
            time.monotonic,
            time.time,
            shared_available=sharing_available(hub_server.broker, self.config),
        )
        # Kept sessions go to the broker's store where hub processes share it.
        keep = isinstance(hub_server.broker, RedisSessions)
        self.bridge = MqttBridge(
            hub_server.hub, hub_server.effects, self.sessions, self.metrics, keep=keep
        )
        self.connections: set[MqttConnection] = set()
        self.port: int | None = None
        self.tls_port: int | None = None
        self._listener: Listener | None = None
        self._tls_listener: Listener | None = None
        self.failed_tls_handshakes = 0  # of listeners closed meanwhile (the live one adds its own)
        hub_server.registry.register(MqttCollector(self))

    async def start(self, tls: ssl.SSLContext | None) -> None:
        """Listen on the ports the config names; ``tls`` is the hub's own context."""
        config = self.config
        if self.bridge.keeper is not None:
            self.bridge.keeper.start(self.sessions.by_id.values)
        if config.mqtt_port is not None:
            self._listener, self.port = await self._listen(config.mqtt_port, None, "--mqtt-port")
        if config.mqtts_port is not None:
            if tls is None:
                raise ValueError(
                    "mqtts port needs --tls-cert and --tls-key (the hub's certificate)"
                )
            self._tls_listener, self.tls_port = await self._listen(
                config.mqtts_port, tls, "--mqtts-port"
            )

    async def _listen(
        self, port: int, tls: ssl.SSLContext | None, flag: str
    ) -> tuple[Listener, int]:
        config = self.config
        try:
            return await listen(
                self._protocol,
                config.host,
                port,
                tls,
                max_per_address=config.max_connections_per_address,
                tls_handshake_timeout=config.handshake_timeout,
                reuse_port=config.reuse_port,
            )
        except OSError as exc:
            where = f"{config.host}:{port} ({flag})"
            raise MqttListenError(f"cannot listen on {where}: {exc.strerror or exc}") from exc

    def listening_lines(self) -> list[str]:
        """What ``earlgate hub`` prints once the MQTT ports listen."""
        return listening_lines(self.config.host, self.port, self.tls_port)

    def tls_handshake_failures(self) -> int:
        live = self._tls_listener
        return self.failed_tls_handshakes + (live.failed_tls_handshakes if live else 0)

    def _protocol(self) -> asyncio.Protocol:
        return MqttTcpProtocol(self.bridge, self.connections)

    def websocket_listener(
        self, request: WSUpgradeRequest
    ) -> MqttWebSocketListener | WSUpgradeResponseWithListener:
        """An upgrade to ``/mqtt``: the ``mqtt`` subprotocol or a 400 naming it."""
        offered = request.headers.get("Sec-WebSocket-Protocol", "")
        if SUBPROTOCOL not in (part.strip() for part in offered.split(",")):
            body = orjson.dumps({"error": "MQTT over WebSocket needs the subprotocol 'mqtt'"})
            return refuse_upgrade(400, body + b"\n", "application/json")
        response = WSUpgradeResponse.create_101_response(
            extra_headers={"Sec-WebSocket-Protocol": SUBPROTOCOL}
        )
        return WSUpgradeResponseWithListener(
            response, MqttWebSocketListener(self.bridge, self.connections)
        )

    def stop(self) -> None:
        """Stop accepting and end every session: MQTT 5 clients are told 0x8B."""
        if self._listener is not None:
            self._listener.close()
            self._listener = None
        if self._tls_listener is not None:
            self.failed_tls_handshakes += self._tls_listener.failed_tls_handshakes
            self._tls_listener.close()
            self._tls_listener = None
        self.bridge.shutdown()
        for conn in list(self.connections):
            conn.close()

    def statistics(self) -> dict[str, int]:
        return self.bridge.statistics()

    def overview(
        self, websocket_connections: int, limit: int, now: float
    ) -> tuple[dict[str, int], dict[str, Any]]:
        """``/stats``'s ``connections`` and ``mqtt`` blocks (:mod:`~earlgate.mqtt.overview`)."""
        return overview(self.sessions.by_id.values(), websocket_connections, limit, now)


def listening_lines(host: str, port: int | None, tls_port: int | None) -> list[str]:
    """``earlgate hub mqtt on mqtt://HOST:PORT`` and its ``mqtts`` twin, for the ports open."""
    lines = []
    if port is not None:
        lines.append(f"earlgate hub mqtt on mqtt://{host}:{port}")
    if tls_port is not None:
        lines.append(f"earlgate hub mqtts on mqtts://{host}:{tls_port}")
    return lines


class MqttCollector(Collector):
    """The MQTT counters and gauges, read at scrape time."""

    def __init__(self, server: MqttServer) -> None:
        self._server = server

    def collect(self) -> Iterator[Metric]:
        m = self._server.metrics
        stats = self._server.statistics()
        gauges = [
            ("earlgate_mqtt_connections", "MQTT connections with a session", "connections"),
            ("earlgate_mqtt_sessions", "MQTT sessions, connected or kept", "sessions"),
            (
                "earlgate_mqtt_inflight_out",
                "QoS 1 and 2 messages sent, unacknowledged",
                "inflight_out",
            ),
            (
                "earlgate_mqtt_inflight_in",
                "QoS 1 and 2 publishes received, not completed",
                "inflight_in",
            ),
            ("earlgate_mqtt_queued", "QoS 1 and 2 messages waiting in session queues", "queued"),
            ("earlgate_mqtt_shared_groups", "Shared subscriptions with members", "shared_groups"),
        ]
        for name, doc, key in gauges:
            yield GaugeMetricFamily(name, doc, value=stats[key])
        yield labelled_counter(
            "earlgate_mqtt_packets_in", "MQTT packets received, by type", "type", m.packets_in
        )
        yield labelled_counter(
            "earlgate_mqtt_packets_out", "MQTT packets sent, by type", "type", m.packets_out
        )
        published = [
            ("earlgate_mqtt_published_in", "PUBLISH received, by QoS", m.published_in),
            ("earlgate_mqtt_published_out", "PUBLISH sent, by QoS", m.published_out),
        ]
        for name, doc, by_qos in published:
            yield labelled_counter(name, doc, "qos", {str(k): v for k, v in by_qos.items()})
        yield labelled_counter(
            "earlgate_mqtt_connects_refused",
            "CONNECT refused, by reason code",
            "reason",
            m.connects_refused,
        )
        counters = [
            ("connections_opened", "MQTT connections accepted", m.connections_opened),
            ("refused_publishes", "Publishes refused (ACL, subject, rate)", m.refused_publishes),
            ("refused_subscriptions", "Topic filters refused", m.refused_subscriptions),
            ("queue_dropped", "QoS 1 and 2 messages dropped from full queues", m.queue_dropped),
            ("outbox_dropped", "QoS 0 messages dropped for slow readers", m.outbox_dropped),
            ("expired", "Messages past their expiry, not sent", m.expired),
            (
                "too_large_for_client",
                "Messages over a client's maximum packet size",
                m.too_large_for_client,
            ),
            ("redelivered", "PUBLISH sent again with DUP on a resumed session", m.redelivered),
            ("wills", "Will messages published", m.wills),
            (
                "keep_alive_timeouts",
                "Connections closed after 1.5 x keep alive",
                m.keep_alive_timeouts,
            ),
            ("protocol_errors", "Connections closed for a malformed packet", m.protocol_errors),
            (
                "shared_delivered",
                "Messages of shared subscriptions, each to one member",
                m.shared_delivered,
            ),
            (
                "shared_handed_over",
                "Shared messages moved to another member when a session ended",
                m.shared_handed_over,
            ),
            (
                "shared_dropped",
                "Shared messages no member could take",
                m.shared_dropped,
            ),
            (
                "tls_handshake_failures",
                "Connections to the mqtts port closed in or for want of a TLS handshake",
                self._server.tls_handshake_failures(),
            ),
        ]
        keeper = self._server.bridge.keeper
        if keeper is not None:
            store = keeper.metrics
            counters += [
                ("store_saved", "Kept session records saved to the broker", store.saved),
                (
                    "store_resumed",
                    "Sessions taken up from a record another hub process saved",
                    store.resumed,
                ),
                (
                    "store_taken_over",
                    "Sessions let go here: another hub process took them up",
                    store.taken_over,
                ),
                (
                    "store_discarded",
                    "Stored records ignored (unreadable, expired)",
                    store.discarded,
                ),
                ("store_failed", "Session store requests that failed", store.failed),
            ]
        for name, doc, value in counters:
            yield CounterMetricFamily(f"earlgate_mqtt_{name}", doc, value=value)
