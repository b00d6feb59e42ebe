"""``earlgate ble`` and ``earlgate device``, through parsers built from their ``register``."""

from __future__ import annotations

import argparse
import json
import re
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator

import pytest
from prometheus_client.parser import text_string_to_metric_families
from tests.hubproc import HubProcess, start_hub

from earlgate.cli import UsageError
from earlgate.cli import ble as ble_cli
from earlgate.cli import device as device_cli


def parser() -> argparse.ArgumentParser:
    top = argparse.ArgumentParser(prog="earlgate")
    commands = top.add_subparsers(dest="command")
    ble_cli.register(commands)
    device_cli.register(commands)
    return top


def run(*argv: str) -> int:
    args = parser().parse_args(argv)
    status: int = args.func(args)
    return status


@pytest.fixture(scope="module")
def hub() -> Iterator[HubProcess]:
    process = start_hub()
    yield process
    process.stop()


def test_device_on_the_simulated_link_prints_its_readings(
    capsys: pytest.CaptureFixture[str],
) -> None:
    assert run("device", "--virtual", "temp", "--period", "0.05", "--duration", "0.6") == 0
    lines = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert lines[0]["connected"] == "earl-temp-1" and lines[0]["units"] == "degC"
    assert any("seq" in line for line in lines[1:-1])
    assert lines[-1]["kind"] == "temp" and lines[-1]["readings"] >= 5


def test_ble_simulate_through_a_hub(hub: HubProcess, capsys: pytest.CaptureFixture[str]) -> None:
    argv = ["ble", "--hub", hub.ws_url, "--simulate", "accel:2,ball", "--interval-ms", "7.5"]
    assert run(*argv, "--duration", "2", "--log-level", "WARNING") == 0
    stats = json.loads(capsys.readouterr().out.splitlines()[-1])
    assert set(stats["devices"]) == {"earl-accel-1", "earl-accel-2", "earl-ball-1"}
    assert stats["readings"] > 0 and stats["lost"] == 0
    assert stats["devices"]["earl-accel-1"]["reading_delay_ms"]["count"] > 0


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["ble", "--hub", "ws://x/ws", "--simulate", "gyro"], "unknown kind 'gyro'"),
        (["ble", "--hub", "ws://x/ws", "--simulate", "temp", "--interval-ms", "5"], "7.5-4000"),
        (["device", "--virtual", "ball", "--name", "x" * 30], "1-26 bytes"),
        (["device", "--virtual", "ball", "--interval-ms", "5000"], "7.5-4000"),
    ],
)
def test_usage_errors(argv: list[str], message: str) -> None:
    with pytest.raises(UsageError, match=message):
        run(*argv)


def test_hub_unreachable_keeps_trying_then_stops(capsys: pytest.CaptureFixture[str]) -> None:
    argv = ["ble", "--hub", "ws://127.0.0.1:9/ws", "--simulate", "temp", "--duration", "1"]
    assert run(*argv, "--interval-ms", "7.5") == 0
    stats = json.loads(capsys.readouterr().out.splitlines()[-1])
    assert stats["devices"]["earl-temp-1"]["connects"] == 1  # BLE served all the same


def _scrape(url: str) -> dict[str, float]:
    with urllib.request.urlopen(url, timeout=5) as reply:
        assert reply.headers["Content-Type"].startswith("text/plain")
        text = reply.read().decode()
    return {
        s.name + str(sorted(s.labels.items())): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
    }


def test_ble_metrics_count_readings_and_say_the_rssi(hub: HubProcess) -> None:
    argv = [sys.executable, "-m", "earlgate", "ble", "--hub", hub.ws_url]
    argv += ["--simulate", "temp,ball", "--interval-ms", "7.5", "--metrics-port", "0"]
    argv += ["--duration", "4", "--log-level", "WARNING"]
    key = "[('device', 'earl-temp-1')]"
    with subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) as proc:
        assert proc.stderr is not None
        line = proc.stderr.readline()
        match = re.search(r"metrics (http://\S+/metrics)", line)
        assert match, line
        deadline = time.monotonic() + 3
        samples = _scrape(match.group(1))
        while samples.get("earlgate_ble_readings_total" + key, 0) == 0:
            assert time.monotonic() < deadline, samples
            time.sleep(0.2)
            samples = _scrape(match.group(1))
        assert samples["earlgate_ble_connected" + key] == 1.0
        assert samples["earlgate_ble_readings_lost_total" + key] == 0
        assert samples["earlgate_ble_reading_delay_seconds_count" + key] > 0
        assert "earlgate_ble_rssi_dbm" + key in samples
        assert "earlgate_ble_commands_pending[('device', 'earl-ball-1')]" in samples
        proc.communicate(timeout=20)
    assert proc.returncode == 0


def test_a_bad_metrics_port_is_named() -> None:
    with pytest.raises(UsageError, match="--metrics-port: 70000 is not a port"):
        run("ble", "--hub", "ws://x/ws", "--simulate", "temp", "--metrics-port", "70000")
