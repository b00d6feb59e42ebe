"""The scale-out bench: per-role CPU per message, the ratios, and a real run of case 1."""

from __future__ import annotations

from rich.console import Console

from earlgate.bench.scaleout import ScaleoutRow, estimates, markdown, measure_case


def row(case: str, costs: dict[str, float]) -> ScaleoutRow:
    return ScaleoutRow(
        case=case,
        publishers=1000,
        period=0.25,
        seconds=29,
        sent=120000,
        received=120000,
        cpu_s={role: us * 0.116 for role, us in costs.items()},
        us_per_delivered=costs,
        latency_ms={"p50": 0.5, "p99": 2.0, "mean": 0.6, "sd": 0.3, "max": 5.0},
        loadgen_cpu_percent=30.0,
    )


def test_ratios_and_worker_estimates() -> None:
    rows = [
        row("1", {"hub": 40.0}),
        row("1r", {"hub": 50.0, "redis-server": 10.0}),
        row("2", {"hub": 110.0, "redis-server": 12.5, "haproxy": 25.0, "supervisor": 0.1}),
    ]
    found = estimates(rows)
    assert found["redis_vs_memory_hub_cpu"] == 1.25
    assert found["workers_per_redis-server"] == 4.0  # 50 µs per hub message / 12.5 µs in Redis
    assert found["workers_per_haproxy"] == 2.0
    text = markdown(rows, "cmd", "machine", "today")
    assert "**1.25×** (meets the ≤ 1.5× goal)" in text
    assert "about **4 hub workers**" in text
    assert "| 2 | 1000×4 Hz | 100.00% |" in text


def test_a_missed_goal_says_by_how_much() -> None:
    text = markdown([row("1", {"hub": 40.0}), row("1r", {"hub": 80.0})], "c", "m", "d")
    assert "**2.00×** (misses by 1.33×" in text


async def test_case_1_is_measured_per_role() -> None:
    measured = await measure_case("1", 10, 0.25, 3.0, Console(quiet=True))
    assert measured.received == measured.sent > 0
    assert set(measured.us_per_delivered) == {"hub"}
    # The hub did work for every delivered message, and its CPU per message is that work.
    assert measured.cpu_s["hub"] > 0
    steady = max(sum(s["received"] for s in measured.per_second[1:]), 1)
    expected_us = round(1e6 * measured.cpu_s["hub"] / steady, 2)
    assert abs(measured.us_per_delivered["hub"] - expected_us) <= 0.01 * expected_us + 0.01
