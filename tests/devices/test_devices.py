"""Simulated devices, the monitor, and the demo command end to end."""

from __future__ import annotations

import math
import os
import re
import subprocess
import sys

from earlgate.devices import Accelerometer, Thermometer, activity
from earlgate.devices.monitor import Monitor, SubjectStats
from earlgate.metrics.percentile import percentile


def test_accelerometer_is_reproducible_and_near_gravity() -> None:
    a, b = Accelerometer(seed=3), Accelerometer(seed=3)
    for t in (0.0, 0.25, 0.5, 10.0):
        reading = a.reading(t)
        assert reading == b.reading(t)
        magnitude = math.sqrt(sum(v * v for v in reading.values()))
        assert 9.0 < magnitude < 10.6


def test_thermometer_and_activity_streams_shape() -> None:
    value = Thermometer(seed=1).reading(0.0)
    assert 18 < value < 24
    post = activity("temp-01", "Temperature Sensor", value, "C", 1376118068325)
    assert post["verb"] == "post" and post["actor"]["objectType"] == "sensor"
    assert post["object"] == {"value": value, "unit": "C"}


def test_monitor_statistics() -> None:
    stats = SubjectStats()
    for i in range(9):
        stats.add({"data": i, "published": 1000.0 * i}, received=i + 0.002)
    assert stats.latest == 8 and stats.count == 9
    assert 1.9 < percentile(list(stats.latencies_ms), 0.5) < 2.1
    assert 0.9 < stats.rate(now=8.0) < 1.3
    monitor = Monitor()
    monitor.add({"subject": "a", "data": 1, "published": 0}, received=0.001)
    assert monitor.table(now=1.0).row_count == 1


def test_demo_runs_and_stops_by_itself() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "earlgate", "demo", "--port", "0", "--duration", "2", "--plain"]
        + ["--mqtt-port", "0"],
        capture_output=True,
        text=True,
        timeout=60,
        env=dict(os.environ, COLUMNS="200"),
    )
    assert result.returncode == 0, result.stderr
    assert "earl/arm-01/accel" in result.stdout
    assert "earl/temp-01/temper" in result.stdout
    assert "devices published" in result.stdout
    # The hub's MQTT port, and a thermometer publishing over it that the viewer hears.
    assert re.search(r"mqtt: mqtt://127\.0\.0\.1:\d+", result.stdout)
    row = next(line for line in result.stdout.splitlines() if "earl/mqtt-temp-01/" in line)
    count = int(row.split("│")[2])
    assert count >= 4, row


def test_demo_reports_a_port_in_use() -> None:
    import socket

    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        result = subprocess.run(
            [sys.executable, "-m", "earlgate", "demo", "--port", str(port), "--duration", "1"],
            capture_output=True,
            text=True,
            timeout=60,
        )
    assert result.returncode == 2
    assert f"cannot listen on 127.0.0.1:{port}" in result.stderr


def test_demo_names_an_mqtt_port_in_use() -> None:
    import socket

    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        argv = ["demo", "--port", "0", "--mqtt-port", str(port), "--duration", "1"]
        result = subprocess.run(
            [sys.executable, "-m", "earlgate", *argv], capture_output=True, text=True, timeout=60
        )
    assert result.returncode == 2
    assert f"127.0.0.1:{port} (--mqtt-port)" in result.stderr
    assert "--mqtt-port 0 takes a free port" in result.stderr
    assert "Traceback" not in result.stderr


def test_a_subject_without_published_times_shows_no_latency() -> None:
    monitor = Monitor()
    monitor.add({"subject": "earl/mqtt-temp-01/temperature", "data": 21.0}, received=1.0)
    table = monitor.table(now=1.0)
    row = [column._cells[0] for column in table.columns]
    assert row[:5] == ["earl/mqtt-temp-01/temperature", "1", "0.0", "-", "-"]
