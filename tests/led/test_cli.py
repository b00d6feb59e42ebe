"""``earlgate led …`` with ``--simulate``: state kept in a file between commands."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from earlgate.cli import main
from earlgate.led.simstate import default_state_path, load_simulator


@pytest.fixture
def state(tmp_path: Path) -> Path:
    return tmp_path / "sim.json"


def led(state: Path, *args: str) -> int:
    return main(["led", *args, "--simulate", "--state-file", str(state)])


def test_set_blink_show_off_across_invocations(
    state: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert led(state, "set", "lower", "15", "8", "0") == 0
    assert led(state, "blink", "upper", "15", "0", "0", "--on", "512", "--off", "1024") == 0
    assert "upper: (15, 0, 0) blinking on 512/off 1024/fade 0 ms" in capsys.readouterr().out
    sim = load_simulator(state)
    assert sim.registers.ports[1:7] == (4, 5, 0, 6, 0, 0)
    assert led(state, "show", "--json") == 0
    shown = json.loads(capsys.readouterr().out)
    assert shown["leds"]["lower"] == {"color": [15, 8, 0], "blink": None}
    assert shown["leds"]["upper"]["blink"]["on_ms"] == 512
    assert shown["leds"]["upper"]["blink"]["period_ms"] == 3072
    assert led(state, "show") == 0
    out = capsys.readouterr().out
    assert "FULLY_ON_TIME" in out and "lower: (15, 8, 0)" in out
    assert led(state, "off", "upper") == 0
    assert led(state, "off") == 0
    assert load_simulator(state).registers.ports == (0,) * 7


def test_blink_pattern_keeps_running_between_commands(state: Path) -> None:
    led(state, "blink", "upper", "15", "0", "0", "--on", "512", "--off", "1024")
    start = load_simulator(state).pattern_start(4)
    led(state, "set", "lower", "0", "15", "0")
    assert load_simulator(state).pattern_start(4) == start


def test_refusal_exits_3_and_changes_nothing(
    state: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    led(state, "set", "lower", "1", "2", "3")
    before = state.read_text()
    assert led(state, "set", "upper", "4", "0", "0") == 3
    assert "refused, nothing changed: too many distinct partial levels" in capsys.readouterr().err
    assert json.loads(state.read_text())["registers"] == json.loads(before)["registers"]
    assert led(state, "set", "upper", "4", "0", "0", "--approximate") == 0
    assert "upper: (3, 0, 0)" in capsys.readouterr().out


def test_unreachable_time_is_refused(state: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert led(state, "blink", "lower", "15", "0", "0", "--on", "300", "--off", "1024") == 3
    assert "14.7%" in capsys.readouterr().err


def test_brightness_and_self_tests(state: Path, capsys: pytest.CaptureFixture[str]) -> None:
    led(state, "set", "lower", "10", "0", "0")
    assert led(state, "up", "lower") == 0
    assert led(state, "down", "lower") == 0
    assert led(state, "down", "lower") == 0
    out = capsys.readouterr().out.splitlines()
    assert out[-3:] == ["lower: (11, 0, 0)", "lower: (10, 0, 0)", "lower: (9, 0, 0)"]
    assert led(state, "test-ports") == 0
    assert capsys.readouterr().out.count("on, off") == 7
    assert led(state, "test-count", "--delay", "0") == 0
    assert "master level: 0 1 2" in capsys.readouterr().out
    assert led(state, "show", "--json") == 0  # both self-tests restore the registers
    assert json.loads(capsys.readouterr().out)["leds"]["lower"]["color"] == [9, 0, 0]


def test_plot_writes_a_png(state: Path, tmp_path: Path) -> None:
    led(state, "blink", "upper", "15", "0", "0", "--on", "512", "--off", "1024", "--fade", "128")
    out = tmp_path / "led.png"
    assert led(state, "plot", "--out", str(out), "--duration", "3.1") == 0
    assert out.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


@pytest.mark.parametrize(
    "args",
    [
        ["set", "lower", "16", "0", "0"],
        ["set", "middle", "1", "0", "0"],
        ["blink", "lower", "1", "0", "0", "--on", "-1", "--off", "5"],
        ["blink", "lower", "1", "0", "0", "--on", "0", "--off", "0"],
    ],
)
def test_bad_arguments_are_usage_errors(state: Path, args: list[str]) -> None:
    with pytest.raises(SystemExit) as info:
        led(state, *args)
    assert info.value.code == 2


def test_a_corrupt_state_file_is_a_usage_error(state: Path) -> None:
    state.write_text("{not json")
    with pytest.raises(SystemExit) as info:
        led(state, "show")
    assert info.value.code == 2


def test_a_missing_bus_is_reported(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["led", "show", "--bus", "/dev/i2c-no-such"]) == 1
    err = capsys.readouterr().err
    assert "/dev/i2c-no-such" in err and "raspi-config" in err


def test_default_state_path(tmp_path: Path) -> None:
    runtime = tmp_path / "run"
    runtime.mkdir()
    env = {"XDG_RUNTIME_DIR": str(runtime), "HOME": str(tmp_path)}
    assert default_state_path(env) == runtime / "earlgate" / "led-sim.json"
    env = {"XDG_RUNTIME_DIR": str(tmp_path / "missing"), "HOME": str(tmp_path)}
    assert default_state_path(env) == tmp_path / ".cache" / "earlgate" / "led-sim.json"


def test_serve_refuses_a_wildcard_subject(state: Path, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exited:
        led(state, "serve", "--subject", "earl/+/led", "--hub", "ws://127.0.0.1:1/ws")
    assert exited.value.code == 2
    assert "--subject" in capsys.readouterr().err


def test_serve_without_a_hub_says_so(state: Path, capsys: pytest.CaptureFixture[str]) -> None:
    # Nothing listens on port 1: the server keeps trying until --duration ends.
    assert led(state, "serve", "--hub", "ws://127.0.0.1:1/ws", "--duration", "0.2") == 1
    assert "stopped before ws://127.0.0.1:1/ws answered" in capsys.readouterr().err
