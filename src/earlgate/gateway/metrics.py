"""The gateway's Prometheus exposition of what it counts (:mod:`~earlgate.gateway.stats`).

The message path updates plain integers and :class:`~earlgate.metrics.histogram.Histogram`
buckets; prometheus-client only reads them when ``/metrics`` is scraped (the
hub's design, :mod:`earlgate.metrics.exposition`).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator

from prometheus_client import CollectorRegistry
from prometheus_client.core import (
    CounterMetricFamily,
    GaugeMetricFamily,
    HistogramMetricFamily,
    Metric,
)
from prometheus_client.registry import Collector

from earlgate.gateway.stats import GatewayMetrics, RouteStats
from earlgate.metrics.exposition import (
    histogram_buckets,
    labelled_counter,
    new_registry,
)
from earlgate.metrics.histogram import Histogram

__all__ = ["GatewayMetrics", "RouteStats", "make_registry"]


def _histogram(name: str, doc: str, labels: list[str]) -> HistogramMetricFamily:
    return HistogramMetricFamily(name, doc, labels=labels)


def _add(family: HistogramMetricFamily, labels: list[str], hist: Histogram) -> None:
    buckets, total = histogram_buckets(hist)
    family.add_metric(labels, buckets, sum_value=total)


class GatewayCollector(Collector):
    """Yields the gateway's metrics at scrape time."""

    def __init__(
        self,
        metrics: GatewayMetrics,
        gauges: Callable[[], dict[str, float]],
        queues: Callable[[], dict[str, tuple[int, int]]],
    ) -> None:
        self._metrics = metrics
        self._gauges = gauges
        self._queues = queues

    def collect(self) -> Iterator[Metric]:
        m = self._metrics
        for name, doc, value in (
            ("earlgate_gateway_messages_received", "Messages received from peers", m.received),
            ("earlgate_gateway_unrouted_messages", "Messages no route took", m.unrouted),
            (
                "earlgate_gateway_connections_opened",
                "Data connections opened",
                m.connections_opened,
            ),
            (
                "earlgate_gateway_connections_closed",
                "Data connections closed",
                m.connections_closed,
            ),
        ):
            yield CounterMetricFamily(name, doc, value=value)
        yield labelled_counter(
            "earlgate_gateway_dials", "Connections the gateway opened, by result", "result", m.dials
        )
        labels = ["route", "kind"]
        inbound = CounterMetricFamily(
            "earlgate_gateway_route_messages_in", "Messages taken by a route", labels=labels
        )
        outbound = CounterMetricFamily(
            "earlgate_gateway_route_messages_out",
            "Messages a route handed to a DataChannel or the hub",
            labels=labels,
        )
        parts = CounterMetricFamily(
            "earlgate_gateway_route_parts_out", "Parts carried by mux aggregates", labels=labels
        )
        lost = CounterMetricFamily(
            "earlgate_gateway_route_lost_parts",
            "Demux: parts missing from the sources' sequence numbers",
            labels=labels,
        )
        dup = CounterMetricFamily(
            "earlgate_gateway_route_duplicate_parts", "Demux: repeated parts dropped", labels=labels
        )
        dropped = CounterMetricFamily(
            "earlgate_gateway_route_dropped",
            "Messages a route dropped, by reason",
            labels=[*labels, "reason"],
        )
        latency = _histogram(
            "earlgate_gateway_route_latency_seconds",
            "From arrival at the gateway to hand-over to the destination's channel",
            labels,
        )
        processing = _histogram(
            "earlgate_gateway_route_processing_seconds",
            "Time to build (mux) or split (demux) one aggregate",
            labels,
        )
        refused = CounterMetricFamily(
            "earlgate_gateway_route_refused_peers",
            "Bridge: peers whose id would change the rule's subjects, refused",
            labels=labels,
        )
        for stats in m.routes.values():
            key = [stats.name, stats.kind]
            inbound.add_metric(key, stats.messages_in)
            outbound.add_metric(key, stats.messages_out)
            if stats.kind == "mux":
                parts.add_metric(key, stats.parts_out)
            if stats.kind == "demux":
                lost.add_metric(key, stats.lost)
                dup.add_metric(key, stats.duplicates)
            if stats.kind == "bridge":
                refused.add_metric(key, stats.refused)
            for reason, count in sorted(stats.dropped.items()):
                dropped.add_metric([*key, reason], count)
            _add(latency, key, stats.latency)
            if stats.kind in ("mux", "demux"):
                _add(processing, key, stats.processing)
        yield from (inbound, outbound, parts, lost, dup, refused, dropped, latency, processing)
        for gauge, level in sorted(self._gauges().items()):
            yield GaugeMetricFamily(
                f"earlgate_gateway_{gauge}", gauge.replace("_", " "), value=level
            )
        queued = GaugeMetricFamily(
            "earlgate_gateway_queued_messages",
            "Messages waiting for a destination",
            labels=["peer"],
        )
        queue_dropped = CounterMetricFamily(
            "earlgate_gateway_queue_dropped",
            "Oldest messages dropped from a destination's full queue",
            labels=["peer"],
        )
        for peer, (depth, drops) in sorted(self._queues().items()):
            queued.add_metric([peer], depth)
            queue_dropped.add_metric([peer], drops)
        yield queued
        yield queue_dropped


def make_registry(
    metrics: GatewayMetrics,
    gauges: Callable[[], dict[str, float]],
    queues: Callable[[], dict[str, tuple[int, int]]],
) -> CollectorRegistry:
    return new_registry(GatewayCollector(metrics, gauges, queues), process=False)
