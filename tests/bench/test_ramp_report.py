"""The ramp report on recorded samples: tables, knee detection, Little's law."""

from __future__ import annotations

import json

import pytest

from earlgate.bench.loadprocs import expand_ips
from earlgate.bench.ramp import plan_steps
from earlgate.bench.ramp_report import (
    arrival_line,
    case_table,
    compare_table,
    critical_point,
    is_past_knee,
    load_run,
    step_summary,
    write_report,
)


def seconds(publishers: int, received: list[int], p99: float = 2.0) -> list[dict]:
    rows = []
    for second, count in enumerate(received, start=1):
        rows.append(
            {
                "second": second,
                "sent": publishers * 4 if second <= len(received) - 1 else 0,
                "received": count,
                "expected": publishers * 4,
                "time": float(second),
                "latency_ms": {"p50": 1.0, "p99": p99},
                "cpu": {"hub": 40.0 + second, "redis-server": 10.0},
                "hub": {
                    "messages_in_per_s": count,
                    "messages_out_per_s": count,
                    "service_time_ms": {"mean": 0.05, "p50": 0.04, "p99": 0.2},
                    "loop_lag_ms": {"mean": 0.5, "p50": 0.4, "p99": 1.0},
                },
            }
        )
    return rows


def summary(
    publishers: int, received: list[int], mean_ms: float, p99: float, **loadgen: object
) -> dict:
    result = {
        "sent": publishers * 4 * len(received),
        "received": sum(received),
        "latency_ms": {"mean": mean_ms, "sd": 0.1, "p50": mean_ms, "p99": p99, "max": p99},
        "loadgen_cpu_percent": 30.0,
        **loadgen,
    }
    return step_summary("1", publishers, 0.25, seconds(publishers, received, p99), result)


def test_step_summary_uses_steady_seconds_and_littles_law() -> None:
    # Second 1 (ramp-up) and the drain second are left out.
    s = summary(200, [100, 800, 800, 790, 0], mean_ms=2.0, p99=5.0)
    assert s["seconds"] == 3
    assert s["events_mean"] == pytest.approx(796.7, abs=0.1)
    assert s["littles_l"] == pytest.approx(796.7 * 0.002, abs=0.01)
    assert s["service_time_ms"]["median"] == 0.04
    assert s["cpu_percent"]["hub"] == pytest.approx(43.0)


def test_knee_by_events_or_by_p99() -> None:
    fine = summary(200, [0, 800, 800, 800, 0], 1.0, 5.0)
    short = summary(400, [0, 1500, 1550, 1560, 0], 1.0, 5.0)
    slow = summary(600, [0, 2400, 2400, 2400, 0], 100.0, 300.0)
    assert not is_past_knee(fine)
    assert is_past_knee(short) and is_past_knee(slow)
    assert critical_point([fine, short, slow]) == 400
    assert critical_point([fine]) is None


def test_tables_and_comparison() -> None:
    a = [summary(200, [0, 800, 800, 0], 1.0, 3.0), summary(400, [0, 1600, 1600, 0], 1.0, 4.0)]
    b = [summary(200, [0, 800, 800, 0], 2.0, 6.0), summary(400, [0, 1500, 1500, 0], 9.0, 40.0)]
    table = case_table(a)
    assert table.count("\n") == 4 and "CPU % hub" in table and "L (Little)" in table
    comparison = compare_table(a, b, ("earlgate", "node"))
    assert "0.50×" in comparison  # p99 3 ms vs 6 ms at 200 publishers
    assert "node 400" in comparison


def test_report_from_a_results_folder(tmp_path) -> None:
    rows = seconds(200, [0, 800, 800, 0])
    step = summary(200, [0, 800, 800, 0], 1.0, 3.0)
    lines = [json.dumps(r) for r in rows] + [json.dumps({"type": "step", **step})]
    (tmp_path / "samples.jsonl").write_text("\n".join(lines) + "\n")
    rows_back, steps_back = load_run(tmp_path)
    assert len(rows_back) == 4 and steps_back[0]["publishers"] == 200
    text = write_report(tmp_path, "earlgate bench ramp --case 1", "test machine", "today")
    assert "critical point not reached up to 200" in text
    # A step recorded before arrivals were recorded was paced in slots.
    assert "Traffic arrival: slots (publishers dealt into 50 groups" in text
    assert (tmp_path / "events.png").stat().st_size > 1000
    assert (tmp_path / "steps.png").stat().st_size > 1000


def test_steps_say_how_traffic_arrived_and_whether_the_generator_kept_up() -> None:
    lateness = {"count": 3200, "mean": 0.02, "p50": 0.01, "p99": 0.31, "max": 4.0}
    loadgen = {"arrival": "poisson", "seed": 4, "sent_late": 2, "lateness_ms": lateness}
    step = summary(200, [0, 800, 800, 800, 0], 1.0, 3.0, **loadgen)
    assert (step["arrival"], step["seed"], step["sent_late"]) == ("poisson", 4, 2)
    table = case_table([step])
    assert "| loadgen sent late | loadgen lateness p99 ms |" in table
    assert table.splitlines()[-1].endswith("| 2 of 4000 | 0.31 |")
    assert arrival_line([step]) == (
        "Traffic arrival: poisson (each publisher's gaps exponential with mean = period "
        "(seed 4)). Loadgen sent late: sends more than 2 ms behind their due time."
    )
    spread = summary(200, [0, 800, 800, 0], 1.0, 3.0, arrival="spread")
    assert "Arrival: a poisson, b spread." in compare_table([step], [spread], ("a", "b"))


def test_plans_and_address_ranges() -> None:
    assert plan_steps(200, 1000, 200) == [200, 400, 600, 800, 1000]
    with pytest.raises(ValueError):
        plan_steps(0, 10, 1)
    assert expand_ips("127.0.0.2-127.0.0.4,127.0.0.9") == [
        "127.0.0.2",
        "127.0.0.3",
        "127.0.0.4",
        "127.0.0.9",
    ]
    with pytest.raises(ValueError, match="loopback"):
        expand_ips("10.0.0.1")


def test_a_step_that_could_not_run_is_reported(tmp_path) -> None:
    rows = seconds(200, [0, 800, 800, 0])
    step = summary(200, [0, 800, 800, 0], 1.0, 3.0)
    failed = {"type": "failed", "case": "2", "publishers": 400, "reason": "handshake timeout"}
    lines = [json.dumps(r) for r in rows] + [
        json.dumps({"type": "step", **step}),
        json.dumps(failed),
    ]
    (tmp_path / "samples.jsonl").write_text("\n".join(lines) + "\n")
    rows_back, steps_back = load_run(tmp_path)
    assert len(rows_back) == 4 and len(steps_back) == 1  # the failure is neither
    text = write_report(tmp_path, "earlgate bench ramp --case 2", "test machine", "today")
    assert "The step at 400 publishers could not run: handshake timeout." in text
