"""``earlgate bench rtc`` at a tiny size: the procedure runs end to end and reports."""

from __future__ import annotations

import json
from pathlib import Path

from gwprocs import Process
from rtcprocs import TURN_PASS, TURN_USER, Turn

from earlgate.bench.gateway.options import delay_stats, histogram_stats
from earlgate.cli import main
from earlgate.gateway.mesh import message_for
from earlgate.gateway.metrics import GatewayMetrics, make_registry


def test_delay_stats() -> None:
    stats = delay_stats([float(n) for n in range(1, 101)])
    assert stats["mean"] == 50.5 and stats["median"] == 50.5 and stats["p99"] == 99.0
    assert delay_stats([]) == {"count": 0}


def test_processing_delay_read_back_from_metrics() -> None:
    from prometheus_client import generate_latest

    metrics = GatewayMetrics()
    route = metrics.route("mux#1", "mux")
    for us in [100] * 98 + [5000, 5000]:
        route.processing.record(us * 1000)
    text = generate_latest(make_registry(metrics, dict, dict)).decode()
    stats = histogram_stats(text, "earlgate_gateway_route_processing_seconds")
    assert stats["count"] == 100 and abs(stats["mean"] - 0.198) < 1e-3
    assert 0.08 <= stats["median"] <= 0.13  # bucket precision: within ~25%
    assert 3.0 <= stats["p99"] <= 6.5


def test_bench_rtc_demux_smoke(signal_server: Process, relay: Turn, tmp_path: Path) -> None:
    args = ["bench", "rtc", "demux", "--peers-from", "3", "--peers-to", "3"]
    args += ["--step-duration", "1", "--out", str(tmp_path)]
    args += ["--signal", signal_server.url, "--ice-server", relay.url, "--relay-only"]
    args += ["--ice-username", TURN_USER, "--ice-credential", TURN_PASS]
    assert main(args) == 0
    (step,) = json.loads((tmp_path / "results.json").read_text())["steps"]
    assert step["peers"] == 3 and step["sent"] == 12 and step["received"] == 12
    assert step["processing_ms"]["count"] == 4 and step["delay_ms"]["count"] == 12
    # The gateway got four aggregates of three parts and sent twelve messages.
    part = len(json.dumps(message_for("d-0", 0, 100, 1764000000123.0), separators=(",", ":")))
    assert step["bytes_out_per_s"] == 12 * part
    report = (tmp_path / "report.md").read_text()
    assert "| 3 |" in report and "model" in report
    assert (tmp_path / "demux.png").stat().st_size > 1000


def test_bench_rtc_mesh_over_two_processes(
    signal_server: Process, relay: Turn, tmp_path: Path
) -> None:
    """Peers of one mesh in two processes start together: every message is counted."""
    args = ["bench", "rtc", "mesh", "--peers-from", "4", "--peers-to", "4"]
    args += ["--step-duration", "1.5", "--load-processes", "2", "--out", str(tmp_path)]
    args += ["--signal", signal_server.url, "--ice-server", relay.url, "--relay-only"]
    args += ["--ice-username", TURN_USER, "--ice-credential", TURN_PASS]
    assert main(args) == 0
    (step,) = json.loads((tmp_path / "results.json").read_text())["steps"]
    # 4 peers, each to 3 others at 4 Hz for 1.5 s: 6 ticks each, wherever they run.
    assert step["sent"] == 4 * 3 * 6
    assert step["received"] == step["sent"] and step["delay_ms"]["count"] == step["sent"]
    assert step["cpu_percent"] > 0
