"""Prometheus exposition of the hub's metrics, through ``prometheus-client``.

A custom collector reads :class:`HubMetrics` only when scraped, so the hot path
updates plain integers and never touches prometheus-client's locks.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping

from prometheus_client import CollectorRegistry, ProcessCollector, generate_latest
from prometheus_client.core import (
    CounterMetricFamily,
    GaugeMetricFamily,
    HistogramMetricFamily,
    Metric,
)
from prometheus_client.registry import Collector

from earlgate.hub.histogram import EXPOSED_BOUNDS_NS, Histogram
from earlgate.hub.metrics import HubMetrics


def histogram_buckets(hist: Histogram) -> tuple[list[tuple[str, int]], float]:
    """``hist`` as Prometheus cumulative buckets in seconds, and its sum in seconds."""
    cumulative = hist.cumulative(EXPOSED_BOUNDS_NS)
    buckets = [
        (f"{bound / 1e9:.9g}", count)
        for bound, count in zip(EXPOSED_BOUNDS_NS, cumulative, strict=True)
    ]
    buckets.append(("+Inf", hist.total))
    return buckets, hist.sum_ns / 1e9


def labelled_counter(name: str, doc: str, label: str, values: Mapping[str, int]) -> Metric:
    """A counter family with one sample per key of ``values``, labelled ``label``."""
    family = CounterMetricFamily(name, doc, labels=[label])
    for key, value in sorted(values.items()):
        family.add_metric([key], value)
    return family


def _histogram(name: str, doc: str, hist: Histogram) -> HistogramMetricFamily:
    buckets, total = histogram_buckets(hist)
    return HistogramMetricFamily(name, doc, buckets=buckets, sum_value=total)


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
        yield _histogram(
            "earlgate_message_service_seconds",
            "Time from a publish frame's arrival to its write to every local subscriber",
            m.service_time,
        )
        yield _histogram(
            "earlgate_event_loop_lag_seconds",
            "Delay of a periodic timer past its due time (like node-toobusy)",
            m.loop_lag,
        )


def make_registry(
    metrics: HubMetrics,
    extra: Callable[[], dict[str, float]],
    extra_counters: Callable[[], dict[str, float]] | None = None,
) -> CollectorRegistry:
    registry = CollectorRegistry(auto_describe=False)
    registry.register(HubCollector(metrics, extra, extra_counters))
    registry.register(ProcessCollector(registry=None))
    return registry


def render(registry: CollectorRegistry) -> bytes:
    return generate_latest(registry)
