"""``earlgate ble`` and ``earlgate device``, through parsers built from their ``register``."""

from __future__ import annotations

import argparse
import json
from collections.abc import Iterator

import pytest
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
