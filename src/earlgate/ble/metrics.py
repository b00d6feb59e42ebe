"""``earlgate ble``'s Prometheus exposition: per device link, readings, commands, RSSI.

Read from the gateway's core at scrape time (nothing is counted twice):
the counters of :meth:`~earlgate.ble.routing.GatewayCore.statistics`, the
delay histograms every reading and answered command feeds, and the RSSI of
each device's last advertisement where the central saw one.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Protocol

from prometheus_client import CollectorRegistry
from prometheus_client.core import (
    CounterMetricFamily,
    GaugeMetricFamily,
    HistogramMetricFamily,
    Metric,
)
from prometheus_client.registry import Collector

from earlgate.ble.routing import GatewayCore
from earlgate.metrics.exposition import histogram_buckets, new_registry

__all__ = ["BleCollector", "make_registry"]

# (statistics key, metric name, help): the per-device counters
COUNTERS = (
    ("readings", "earlgate_ble_readings", "Readings published"),
    ("lost", "earlgate_ble_readings_lost", "Readings missing by sequence number"),
    ("gaps", "earlgate_ble_gaps", "Gaps in the sequence numbers"),
    ("bad_notifications", "earlgate_ble_bad_notifications", "Values the profile refused"),
    ("connects", "earlgate_ble_connects", "Connections made"),
    ("drops", "earlgate_ble_drops", "Connections lost"),
    ("commands", "earlgate_ble_commands", "LED commands from the hub"),
    ("applied", "earlgate_ble_commands_applied", "LED commands the device applied"),
    ("errors", "earlgate_ble_command_errors", "LED commands answered with an error"),
)


class Rssi(Protocol):
    def rssi(self, target: str) -> int | None: ...


class BleCollector(Collector):
    """Yields the BLE gateway's metrics at scrape time."""

    def __init__(self, core: GatewayCore, central: Rssi) -> None:
        self._core = core
        self._central = central

    def collect(self) -> Iterator[Metric]:
        devices = sorted(self._core.devices.items())
        stats = self._core.statistics()["devices"]
        connected = GaugeMetricFamily(
            "earlgate_ble_connected", "1 while the device's link is up", labels=["device"]
        )
        rssi = GaugeMetricFamily(
            "earlgate_ble_rssi_dbm", "RSSI of the device's last advertisement", labels=["device"]
        )
        counters = [
            (key, CounterMetricFamily(name, doc, labels=["device"])) for key, name, doc in COUNTERS
        ]
        delay = HistogramMetricFamily(
            "earlgate_ble_reading_delay_seconds",
            "Reading received minus its device clock mapped to the epoch",
            labels=["device"],
        )
        command = HistogramMetricFamily(
            "earlgate_ble_command_to_status_seconds",
            "Hub command published to the device's status received",
            labels=["device"],
        )
        pending = GaugeMetricFamily(
            "earlgate_ble_commands_pending",
            "Commands written, status not yet come",
            labels=["device"],
        )
        for name, state in devices:
            labels = [name]
            connected.add_metric(labels, 1.0 if state.connected else 0.0)
            level = self._central.rssi(name)
            if level is not None:
                rssi.add_metric(labels, level)
            for key, family in counters:
                family.add_metric(labels, stats[name][key])
            buckets, total = histogram_buckets(state.delay_histogram)
            delay.add_metric(labels, buckets, sum_value=total)
            buckets, total = histogram_buckets(state.command_histogram)
            command.add_metric(labels, buckets, sum_value=total)
            pending.add_metric(labels, len(state.pending))
        yield connected
        yield rssi
        for _, family in counters:
            yield family
        yield delay
        yield command
        yield pending


def make_registry(core: GatewayCore, central: Rssi) -> CollectorRegistry:
    return new_registry(BleCollector(core, central))
