"""``earlgate bench mqtt`` for real: a short ramp against the hub, and Mosquitto when installed.

A functional check (every message sent arrives, at QoS 1 every publish is
acknowledged, the files are written), not a timing.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from pathlib import Path

import pytest
from rich.console import Console

from earlgate.bench.mqtt_bench import MqttBenchOptions, run_mqtt_bench
from earlgate.bench.mqtt_report import Case
from earlgate.bench.mqtt_servers import find_mosquitto
from earlgate.cli import main

TARGETS = ["earlgate"] + (["mosquitto"] if find_mosquitto() else [])


@pytest.fixture(autouse=True)
def keep_affinity() -> Iterator[None]:
    """The bench moves its own process to the load generator's core; give the tests theirs back."""
    cores = os.sched_getaffinity(0)
    yield
    os.sched_setaffinity(0, cores)


def run(tmp_path: Path, cases: list[Case], steps: list[int]) -> list[dict]:
    options = MqttBenchOptions(
        targets=TARGETS,
        cases=cases,
        steps=steps,
        out=tmp_path,
        command="earlgate bench mqtt (test)",
        step_duration=2.0,
        pause=0.0,
        drain=2.0,
    )
    return run_mqtt_bench(options, Console(quiet=True))


def check_delivered(summary: dict) -> None:
    assert not summary.get("failed"), summary
    assert summary["sent"] == summary["publishers"] * 8  # 2 s at 4 Hz
    assert summary["received"] == summary["sent"] and summary["lost"] == 0
    assert summary["errors"] == 0
    assert 0 < summary["response_ms"]["p99"] < 1000
    # CPU over the steady seconds per message delivered in them (a few ms here: CPU
    # time is counted in 10 ms ticks, so a small server step may read 0).
    assert summary["seconds"] >= 1 and summary["server_cpu_s"] >= 0
    steady = summary["events_mean"] * summary["seconds"]
    expected_us = 1e6 * summary["server_cpu_s"] / steady
    assert summary["cpu_us_per_delivered"] == pytest.approx(expected_us, rel=0.01, abs=0.01)


def test_mqtt_subscribers_at_qos_1_over_two_steps(tmp_path: Path) -> None:
    summaries = run(tmp_path, [Case("mqtt", 1)], [5, 10])
    assert [(s["target"], s["publishers"]) for s in summaries] == [
        (target, step) for step in (5, 10) for target in TARGETS
    ]
    for summary in summaries:
        check_delivered(summary)
        assert summary["acked"] == summary["sent"]
    for name in ("samples.jsonl", "steps.json", "steps.csv", "raw.json", "report.md", "mqtt.png"):
        assert (tmp_path / name).stat().st_size > 0, name
    assert json.loads((tmp_path / "steps.json").read_text()) == summaries
    report = (tmp_path / "report.md").read_text()
    assert "### mqtt→mqtt QoS 1" in report
    # Which step is past the knee depends on this machine's load (one steady second here).
    assert "earlgate: critical point " in report and "| 10 | 80 | 80 | 0 |" in report


def test_websocket_subscribers_at_qos_0(tmp_path: Path) -> None:
    """The hub's own protocol on /ws; MQTT over WebSocket on Mosquitto."""
    (summary, *others) = run(tmp_path, [Case("ws", 0)], [10])
    for one in (summary, *others):
        check_delivered(one)
        assert one["acked"] == 0


@pytest.mark.parametrize(
    ("argv", "says"),
    [
        (["--qos", "2"], "QoS 0 or 1"),
        (["--qos", "one"], "--qos: 'one' is not a list of 0 and 1"),
        (["--subscribers", "amqp"], "unknown amqp"),
        (["--targets", "emqx"], "--targets: unknown emqx"),
        (["--from", "10", "--to", "5"], "--from (10)"),
        (["--size", "10"], "--size between 23 and 65536"),
        (["--source-ips", "10.0.0.1"], "not a loopback address"),
    ],
)
def test_bad_options_are_usage_errors(
    argv: list[str], says: str, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as exited:
        main(["bench", "mqtt", *argv])
    assert exited.value.code == 2
    assert says in capsys.readouterr().err


def test_a_target_that_cannot_start_is_reported_and_not_tried_again(tmp_path: Path) -> None:
    options = MqttBenchOptions(
        targets=["nonesuch"],
        cases=[Case("mqtt", 0)],
        steps=[5, 10],
        out=tmp_path,
        command="earlgate bench mqtt (test)",
        pause=0.0,
    )
    summaries = run_mqtt_bench(options, Console(quiet=True))
    reason = "unknown target 'nonesuch'; choose from earlgate, mosquitto"
    assert summaries == [
        {"case": "mqtt→mqtt QoS 0", "target": "nonesuch", "publishers": 5, "failed": True,
         "reason": reason}
    ]  # fmt: skip
    report = (tmp_path / "report.md").read_text()
    assert f"nonesuch could not run 5: {reason}." in report
    assert "nonesuch: critical point at 5 publishers." in report
