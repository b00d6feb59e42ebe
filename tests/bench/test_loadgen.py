"""The load generator and the fan-out bench work end to end (a functional check, not a timing)."""

from __future__ import annotations

import json

from earlgate.bench.fanout import markdown
from earlgate.bench.loadgen import frame_prefix, run_load, subject_name
from earlgate.bench.results import update_benchmarks


def test_thesis_frame_is_about_70_bytes() -> None:
    head, tail = frame_prefix(subject_name(1), 70)
    frame = head + b"1764000000000.123" + tail
    assert json.loads(frame)["subject"] == "subject00001"
    assert 70 <= len(frame) <= 76


async def test_load_against_a_real_hub(shared_hub) -> None:
    seconds: list[dict] = []
    result = await run_load(shared_hub.ws_url, 10, 0.1, 2.0, on_second=seconds.append)
    assert result.sent >= 150
    assert result.received == result.sent
    assert result.latency_ms["p99"] < 1000
    assert seconds and seconds[0]["expected"] == 100


def test_benchmarks_section_is_replaced_in_place(tmp_path) -> None:
    path = tmp_path / "BENCHMARKS.md"
    path.write_text("# Benchmarks\n\nintro\n")
    update_benchmarks("fanout", "first\n", path)
    update_benchmarks("fanout", "second\n", path)
    text = path.read_text()
    assert "second" in text and "first" not in text and text.count("## fanout") == 1
    assert "intro" in text
    assert "| target |" in markdown([], "cmd", "machine", "today")


def test_load_from_two_processes_merges_counts_and_latency(shared_hub) -> None:
    from earlgate.bench.loadprocs import run_load_processes

    seconds: list[dict] = []
    result = run_load_processes(
        shared_hub.ws_url,
        20,
        0.25,
        2.0,
        2,
        on_second=seconds.append,
        source_ips=["127.0.0.2", "127.0.0.3"],
        fmt="activity",
        arrival="spread",
    )
    assert result.publishers == 20 and result.subscribers == 20
    assert result.sent >= 140 and result.received == result.sent
    assert result.latency.total == result.received
    assert 0 < result.loadgen_cpu_percent < 200
    assert seconds and seconds[0]["expected"] == 80
    # Both processes' own timing is merged: every send has a lateness.
    assert result.arrival == "spread" and result.lateness.total == result.sent
    assert result.sent_late == sum(s["late"] for s in seconds)


async def test_slots_and_poisson_arrivals_against_a_real_hub(shared_hub) -> None:
    for first, arrival in ((201, "slots"), (301, "poisson")):
        result = await run_load(
            shared_hub.ws_url, 8, 0.1, 1.5, first_index=first, arrival=arrival, seed=2
        )
        assert result.arrival == arrival and result.seed == 2
        assert result.received == result.sent > 0
        assert result.lateness_ms["count"] == result.sent


def test_the_fanout_report_says_how_traffic_arrived() -> None:
    from earlgate.bench.fanout import FanoutRow

    row = FanoutRow(
        target="earlgate",
        publishers=10,
        period=0.25,
        duration=5.0,
        sent=200,
        received=200,
        server_cpu_s=0.1,
        server_cpu_percent=2.0,
        cpu_us_per_delivered=25.0,
        latency_ms={"mean": 0.3, "sd": 0.1, "p50": 0.3, "p99": 0.7, "max": 1.0},
        loadgen_cpu_percent=5.0,
        server_rss_mib=30.0,
        arrival="spread",
        sent_late=1,
        lateness_ms={"p99": 0.12},
    )
    text = markdown([row], "cmd", "machine", "today")
    assert "Traffic arrival: spread (each publisher at its own phase" in text
    assert "| loadgen sent late | loadgen lateness p99 ms |" in text
    assert "| 5.0 | 1 of 200 | 0.12 | 1.00× |" in text


def test_connection_costs_are_measured() -> None:
    from earlgate.bench.connections import markdown, measure_connections

    # Enough connections that opening them takes several of psutil's 10 ms CPU ticks.
    costs = measure_connections("earlgate", 300, idle_seconds=0.5)
    assert costs.connections == 300 and costs.open_seconds > 0
    assert costs.open_cpu_ms_per_connection > 0
    assert "| earlgate | 300 |" in markdown([costs], "cmd", "machine", "today")


async def test_echo_back_measures_round_trips(shared_hub) -> None:
    seconds: list[dict] = []
    result = await run_load(
        shared_hub.ws_url, 5, 0.1, 2.0, first_index=101, echo_back=True, on_second=seconds.append
    )
    assert result.received == result.sent > 0
    # Every delivered message comes back to its publisher; a round trip outlasts one way.
    assert result.echoed == result.received
    assert result.echo_ms["p50"] >= result.latency_ms["p50"]
    assert sum(s["echoed"] for s in seconds) == result.echoed


async def test_load_over_tls(hub_factory, tmp_path) -> None:
    from earlgate.bench.deploy import _self_signed

    cert, key = _self_signed(str(tmp_path))
    hub = hub_factory("--tls-cert", cert, "--tls-key", key)
    assert hub.ws_url.startswith("wss://")
    result = await run_load(hub.ws_url, 5, 0.1, 1.5)
    assert result.received == result.sent > 0
