"""Prometheus exposition shared by the hub, the signaling server and the gateway.

Each server's collector reads its plain counters only when scraped, so the
hot path updates integers and never touches prometheus-client's locks; the
helpers here turn those counters and :class:`~earlgate.metrics.histogram.Histogram`
into metric families, and each server keeps its own registry (several
servers in one process, as in tests, do not mix).
"""

from __future__ import annotations

from collections.abc import Mapping

from prometheus_client import CollectorRegistry, ProcessCollector, generate_latest
from prometheus_client.core import CounterMetricFamily, HistogramMetricFamily, Metric
from prometheus_client.registry import Collector

from earlgate.metrics.histogram import EXPOSED_BOUNDS_NS, Histogram

__all__ = [
    "CONTENT_TYPE",
    "histogram_buckets",
    "histogram_family",
    "labelled_counter",
    "new_registry",
    "render",
]

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"


def histogram_buckets(hist: Histogram) -> tuple[list[tuple[str, int]], float]:
    """``hist`` as Prometheus cumulative buckets in seconds, and its sum in seconds."""
    cumulative = hist.cumulative(EXPOSED_BOUNDS_NS)
    buckets = [
        (f"{bound / 1e9:.9g}", count)
        for bound, count in zip(EXPOSED_BOUNDS_NS, cumulative, strict=True)
    ]
    buckets.append(("+Inf", hist.total))
    return buckets, hist.sum_ns / 1e9


def histogram_family(name: str, doc: str, hist: Histogram) -> HistogramMetricFamily:
    """An unlabelled histogram family holding ``hist``."""
    buckets, total = histogram_buckets(hist)
    return HistogramMetricFamily(name, doc, buckets=buckets, sum_value=total)


def labelled_counter(name: str, doc: str, label: str, values: Mapping[str, int]) -> Metric:
    """A counter family with one sample per key of ``values``, labelled ``label``."""
    family = CounterMetricFamily(name, doc, labels=[label])
    for key, value in sorted(values.items()):
        family.add_metric([key], value)
    return family


def new_registry(*collectors: Collector, process: bool = True) -> CollectorRegistry:
    """A registry of its own holding ``collectors`` (and the process's CPU and memory)."""
    registry = CollectorRegistry(auto_describe=False)
    for collector in collectors:
        registry.register(collector)
    if process:
        registry.register(ProcessCollector(registry=None))
    return registry


def render(registry: CollectorRegistry) -> bytes:
    """The registry in the Prometheus text format (:data:`CONTENT_TYPE`)."""
    return generate_latest(registry)
