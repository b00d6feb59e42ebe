"""Prometheus exposition of the signaling server, on its own registry.

A custom collector reads the router's plain counters only when ``/metrics`` is
scraped, so relaying a message never touches prometheus-client. Each server
has its own :class:`~prometheus_client.CollectorRegistry` (several servers in
one process, as in tests, do not mix), holding this collector and the
process's CPU and memory.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping

from prometheus_client import CollectorRegistry
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from earlgate.metrics.exposition import labelled_counter, new_registry
from earlgate.signal.router import SignalingRouter

__all__ = ["SignalCollector", "make_registry"]

PREFIX = "earlgate_signal_"


class SignalCollector(Collector):
    """Yields the router's and the I/O layer's counters at scrape time.

    Args:
        router: the protocol core, for peers, messages and queues.
        io_counters: counters of the I/O layer (``http_requests``,
            ``websocket_connections``, ``too_big``), read at scrape time.
    """

    def __init__(
        self, router: SignalingRouter, io_counters: Callable[[], Mapping[str, int]]
    ) -> None:
        self._router = router
        self._io = io_counters

    def collect(self) -> Iterator[Metric]:
        r = self._router
        io = self._io()
        gauges = [
            ("peers_connected", "Peers registered with an open WebSocket", len(r.peer_ids())),
            ("connections", "WebSocket connections open", r.connections),
            ("queues", "Absent peers with messages waiting", len(r.queues)),
            ("messages_queued_now", "Messages waiting for their peer", r.queues.messages),
            ("queued_bytes", "Bytes of messages waiting for their peer", r.queues.bytes),
        ]
        for name, doc, value in gauges:
            yield GaugeMetricFamily(PREFIX + name, doc, value=value)
        counters = [
            ("messages_received", "Messages received from peers", r.messages_received),
            ("messages_relayed", "Messages written to their destination", r.messages_relayed),
            ("messages_queued", "Messages queued for a peer not connected", r.messages_queued),
            ("messages_expired", "Queued messages expired unread", r.messages_expired),
            ("expire_notices", "EXPIRE notices sent to senders", r.expire_notices),
            ("http_requests", "Plain HTTP requests answered", io.get("http_requests", 0)),
            (
                "websocket_connections",
                "WebSocket connections accepted",
                io.get("websocket_connections", 0),
            ),
        ]
        for name, doc, value in counters:
            yield CounterMetricFamily(PREFIX + name, doc, value=value)
        yield labelled_counter(
            PREFIX + "messages_dropped",
            "Messages dropped, by reason",
            "reason",
            {**r.dropped, "too_big": io.get("too_big", 0)},
        )
        yield labelled_counter(
            PREFIX + "handshakes", "WebSocket handshakes, by outcome", "outcome", r.handshakes
        )
        yield labelled_counter(
            PREFIX + "peers_removed", "Peers unregistered, by reason", "reason", r.removed
        )


def make_registry(
    router: SignalingRouter, io_counters: Callable[[], Mapping[str, int]]
) -> CollectorRegistry:
    return new_registry(SignalCollector(router, io_counters))
