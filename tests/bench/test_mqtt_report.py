"""The MQTT bench's plan, step figures and report, from made-up samples (pure)."""

from __future__ import annotations

import csv
import io
from typing import Any

import pytest

from earlgate.bench.driver import Provenance
from earlgate.bench.mqtt_report import (
    Case,
    case_table,
    cpu_ratio_median,
    critical_point,
    csv_text,
    is_past_knee,
    markdown,
    plan_cases,
    plan_steps,
    step_summary,
)
from earlgate.bench.results import update_benchmarks

CASE = Case("mqtt", 1)


def test_cases_are_every_combination_in_order() -> None:
    assert [c.label for c in plan_cases(["mqtt", "ws"], [0, 1])] == [
        "mqtt→mqtt QoS 0", "mqtt→mqtt QoS 1", "mqtt→ws QoS 0", "mqtt→ws QoS 1",
    ]  # fmt: skip
    assert plan_cases(["ws", "ws"], [1]) == [Case("ws", 1)]


@pytest.mark.parametrize(
    ("subscribers", "qos", "named"),
    [(["tcp"], [0], "tcp"), (["mqtt"], [2], "2"), ([], [0], "(none given)"), (["mqtt"], [], "")],
)
def test_bad_cases_are_named(subscribers: list[str], qos: list[int], named: str) -> None:
    with pytest.raises(ValueError, match="subscribers are mqtt or ws") as caught:
        plan_cases(subscribers, qos)
    assert named in str(caught.value)


def test_steps_end_at_the_last_count() -> None:
    assert plan_steps(1000, 9000, 2000) == [1000, 3000, 5000, 7000, 9000]
    assert plan_steps(1000, 9500, 2000) == [1000, 3000, 5000, 7000, 9000, 9500]
    assert plan_steps(10, 10, 1) == [10]
    with pytest.raises(ValueError, match="--from"):
        plan_steps(0, 10, 1)
    with pytest.raises(ValueError, match="--step"):
        plan_steps(1, 10, 0)


def seconds(received: list[int], cpu_per_second: float = 0.1) -> list[dict[str, Any]]:
    """Per-second rows: sending seconds with ``received`` each, then a drain second."""
    rows = []
    for index, count in enumerate([*received, 0], start=1):
        rows.append(
            {
                "second": index,
                "sent": 400 if index <= len(received) else 0,
                "received": count,
                "expected": 400.0,
                "server_cpu_s": 1.0 + cpu_per_second * index,
            }
        )
    return rows


def result(sent: int, received: int, p99: float = 2.0) -> dict[str, Any]:
    latency = {"count": received, "mean": 1.0, "p50": 0.8, "p99": p99, "max": 9.0}
    return {"sent": sent, "received": received, "acked": sent, "errors": 0,
            "latency_ms": latency, "loadgen_cpu_percent": 20.0}  # fmt: skip


def test_step_summary_counts_loss_and_cpu_over_the_steady_seconds() -> None:
    rows = seconds([390, 400, 400, 400])
    summary = step_summary(CASE, "earlgate", 100, 0.25, rows, result(1600, 1590))
    assert summary["case"] == "mqtt→mqtt QoS 1" and summary["target"] == "earlgate"
    assert summary["seconds"] == 3  # seconds 2-4: after the first, while sending
    assert summary["events_mean"] == 400.0 and summary["expected_events"] == 400.0
    assert summary["lost"] == 10 and summary["loss_ratio"] == pytest.approx(10 / 1600, abs=1e-6)
    # 0.3 CPU-s from second 1 to second 4, over the 1200 messages delivered in seconds 2-4.
    assert summary["server_cpu_s"] == pytest.approx(0.3)
    assert summary["cpu_us_per_delivered"] == pytest.approx(250.0)
    assert summary["server_cpu_percent"] == pytest.approx(10.0)
    assert not is_past_knee(summary)


def test_duplicates_are_not_negative_loss() -> None:
    summary = step_summary(CASE, "mosquitto", 100, 0.25, seconds([400, 400]), result(800, 801))
    assert summary["lost"] == 0 and summary["loss_ratio"] == 0.0


@pytest.mark.parametrize(
    ("received", "totals", "why"),
    [
        ([400, 390, 390], result(1200, 1200), "events under 99 %"),
        ([400, 400, 400], result(1200, 1200, p99=251.0), "p99 over 250 ms"),
        ([400, 400, 400], result(1200, 1180), "over 1 % lost"),
    ],
)
def test_the_knee(received: list[int], totals: dict[str, Any], why: str) -> None:
    summary = step_summary(CASE, "earlgate", 100, 0.25, seconds(received), totals)
    assert is_past_knee(summary), why


def steps_of(target: str, p99s: list[float], cost: float) -> list[dict[str, Any]]:
    out = []
    for publishers, p99 in zip([100, 200, 300], p99s, strict=True):
        summary = step_summary(
            CASE, target, publishers, 0.25, seconds([4 * publishers] * 3), result(1200, 1200, p99)
        )
        summary["cpu_us_per_delivered"] = cost
        out.append(summary)
    return out


def test_critical_point_and_side_by_side_table() -> None:
    ours = steps_of("earlgate", [1.0, 2.0, 3.0], 30.0)
    theirs = steps_of("mosquitto", [1.0, 300.0, 400.0], 15.0)
    assert critical_point(ours) is None
    assert critical_point(theirs) == 200
    failed = {"case": CASE.label, "target": "mosquitto", "publishers": 400, "failed": True,
              "reason": "MqttLoadError: 3 of 800 connections failed"}  # fmt: skip
    summaries = [*ours, *theirs, failed]
    table = case_table(CASE.label, summaries, ["earlgate", "mosquitto"])
    lines = table.splitlines()
    assert lines[0].startswith("| publishers | earlgate sent | earlgate received | earlgate lost |")
    assert "µs/msg earlgate ÷ mosquitto" in lines[0]
    assert lines[2].startswith("| 100 | 1200 | 1200 | 0 | 0.80 | 1.00 | 30.0 |")
    assert "| 2.00× |" in lines[2]
    assert "| 300.00 |" in lines[3]
    assert "| 400 | – | – |" in lines[5] and "| failed |" in lines[5]
    assert cpu_ratio_median(summaries, "earlgate", "mosquitto") == 2.0

    text = markdown(
        summaries, [CASE.label, "mqtt→ws QoS 0"], ["earlgate", "mosquitto"],
        Provenance("2 cores", "2026-12-07 15:00 UTC", "earlgate bench mqtt --quick"),
        ["mosquitto skipped: it is not installed (apt-get install mosquitto)."],
    )  # fmt: skip
    assert text.startswith("Machine: 2 cores. Date: 2026-12-07 15:00 UTC. Command: `earlgate")
    assert "each at 4 Hz at its own phase of the period" in text
    assert "### mqtt→mqtt QoS 1" in text and "mqtt→ws QoS 0" not in text  # no steps: no table
    assert "earlgate: critical point not reached up to 300 publishers" in text
    assert "mosquitto: critical point at 200 publishers (800 messages/s)" in text
    assert "sent late" not in text
    assert "mosquitto could not run 400: MqttLoadError: 3 of 800 connections failed." in text
    assert "median over every step both ran: **2.00×**" in text
    assert "mosquitto skipped" in text


def test_steps_the_load_generator_sent_late_are_named() -> None:
    ours = steps_of("earlgate", [1.0, 2.0, 3.0], 30.0)
    ours[1]["sent_late"] = 12  # 1 % of 1200: not named
    ours[2]["sent_late"] = 120
    provenance = Provenance("2 cores", "today", "earlgate bench mqtt")
    text = markdown(ours, [CASE.label], ["earlgate"], provenance)
    assert (
        "The load generator sent late (over 10 ms behind) at: earlgate 300 (10 %); "
        "those steps measure it as much as the server." in text
    )
    ours[2]["sent_late"] = 0
    assert "sent late" not in markdown(ours, [CASE.label], ["earlgate"], provenance)


def test_csv_has_a_row_per_step_and_target() -> None:
    summaries = [*steps_of("earlgate", [1.0, 2.0, 3.0], 30.0)]
    rows = list(csv.DictReader(io.StringIO(csv_text(summaries))))
    assert [r["publishers"] for r in rows] == ["100", "200", "300"]
    assert rows[2]["p99_ms"] == "3.0" and rows[0]["lost"] == "0" and rows[0]["failed"] == ""


def test_the_benchmarks_section_is_replaced(tmp_path) -> None:
    path = tmp_path / "BENCHMARKS.md"
    path.write_text("# Benchmarks\n")
    update_benchmarks("mqtt", "first run\n", path)
    update_benchmarks("mqtt", "second run\n", path)
    text = path.read_text()
    assert text.count("## mqtt") == 1 and "second run" in text and "first run" not in text
