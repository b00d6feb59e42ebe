"""Prometheus exposition of the hub's metrics, through ``prometheus-client``.

A custom collector reads :class:`HubMetrics` only when scraped, so the hot path
updates plain integers and never touches prometheus-client's locks; the shared
helpers are in :mod:`earlgate.metrics.exposition`.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator

from prometheus_client import CollectorRegistry
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from earlgate.hub.metrics import HubMetrics
from earlgate.metrics.exposition import histogram_family, labelled_counter, new_registry


class HubCollector(Collector):
    """Yields the hub's metrics at scrape time."""

    def __init__(
        self,
        metrics: HubMetrics,
        extra: Callable[[], dict[str, float]],
        extra_counters: Callable[[], dict[str, float]] | None = None,
    ) -> None:
        self._metrics = metrics
        self._extra = extra
        self._extra_counters = extra_counters

    def collect(self) -> Iterator[Metric]:
        m = self._metrics
        counters = [
            ("earlgate_messages_in", "Message frames received from clients", m.messages_in),
            ("earlgate_messages_out", "Message frames written to subscribers", m.messages_out),
            ("earlgate_bytes_in", "Payload bytes of frames received", m.bytes_in),
            ("earlgate_bytes_out", "Payload bytes of frames delivered", m.bytes_out),
            ("earlgate_connections_opened", "WebSocket connections accepted", m.connections_opened),
            ("earlgate_connections_closed", "WebSocket connections closed", m.connections_closed),
            ("earlgate_http_requests", "Plain HTTP requests served", m.http_requests),
            (
                "earlgate_retained_deleted",
                "Retained publishes without data, which deleted the value",
                m.retained_deleted,
            ),
        ]
        for name, doc, value in counters:
            yield CounterMetricFamily(name, doc, value=value)
        yield labelled_counter(
            "earlgate_dropped_messages", "Messages dropped, by reason", "reason", m.dropped
        )
        yield labelled_counter(
            "earlgate_errors", "Error frames sent to clients, by code", "code", m.errors
        )
        yield GaugeMetricFamily(
            "earlgate_connections_open", "WebSocket connections open", value=m.connections_open
        )
        yield GaugeMetricFamily(
            "earlgate_subscriptions", "Subscriptions held by connections", value=m.subscriptions
        )
        if self._extra_counters is not None:
            for counter, total in self._extra_counters().items():
                yield CounterMetricFamily(
                    f"earlgate_{counter}", counter.replace("_", " "), value=total
                )
        for gauge, level in self._extra().items():
            yield GaugeMetricFamily(f"earlgate_{gauge}", gauge.replace("_", " "), value=level)
        yield histogram_family(
            "earlgate_message_service_seconds",
            "Time from a publish frame's arrival to its write to every local subscriber",
            m.service_time,
        )
        yield histogram_family(
            "earlgate_event_loop_lag_seconds",
            "Delay of a periodic timer past its due time (like node-toobusy)",
            m.loop_lag,
        )


def make_registry(
    metrics: HubMetrics,
    extra: Callable[[], dict[str, float]],
    extra_counters: Callable[[], dict[str, float]] | None = None,
) -> CollectorRegistry:
    return new_registry(HubCollector(metrics, extra, extra_counters))
