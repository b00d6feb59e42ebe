"""The network bench's pure parts: interface counters, rates, the report."""

from __future__ import annotations

import json

from earlgate.bench.gateway.network import (
    LayerStep,
    NetworkRun,
    interface_bytes,
    markdown,
    per_second,
)
from earlgate.bench.gateway.options import BenchOptions, StepResult
from earlgate.gateway.peering import PeerOptions


def test_interface_bytes_from_ip_json() -> None:
    text = json.dumps(
        [
            {"ifname": "lo", "stats64": {"rx": {"bytes": 5}, "tx": {"bytes": 6}}},
            {"ifname": "eg-gs", "stats64": {"rx": {"bytes": 1000}, "tx": {"bytes": 20}}},
            {"ifname": "old", "stats": {"rx": {"bytes": 1}, "tx": {"bytes": 2}}},
        ]
    )
    assert interface_bytes(text) == {"lo": (5, 6), "eg-gs": (1000, 20), "old": (1, 2)}


def test_per_second_rates() -> None:
    assert per_second([(0.0, 0), (1.0, 200), (3.0, 600), (3.0, 700)]) == [200.0, 200.0]
    assert per_second([(0.0, 0)]) == []


def _step(layer: str, peers: int, mean: float, p99: float) -> LayerStep:
    result = StepResult(peers, 60.0, sent=peers * 240, received=peers * 240)
    result.delay_ms = {"count": peers * 240, "mean": mean, "sd": 1.0, "median": mean, "p99": p99}
    result.cpu_percent = 12.5 if layer == "application" else 0.0
    return LayerStep(layer, result, [100.0, 300.0], [100.0, 300.0])


def test_report_has_the_thesis_tables_and_the_ratios() -> None:
    run = NetworkRun([_step("network", 5, 2.0, 4.0), _step("application", 5, 3.0, 10.0)])
    text = markdown(run, BenchOptions("forward", PeerOptions("http://127.0.0.1:9/")))
    assert "Table 3.3" in text and "Table 3.4" in text and "Table 3.6" in text
    assert "| 5 | 1.50× | 1.50× | 2.50× | 12.5 |" in text
    assert "| 5 | 200.00 ± 100.00 | 200.00 ± 100.00 |" in text
    assert "Stopped" not in text
    run.failure = "the application-layer step at 10 peers could not run: timeout"
    assert "Stopped: the application-layer step at 10 peers" in markdown(
        run, BenchOptions("forward", PeerOptions("http://127.0.0.1:9/"))
    )
