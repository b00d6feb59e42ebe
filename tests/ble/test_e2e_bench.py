"""``earlgate bench e2e``: a short run over the simulated link, through the command line."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from earlgate.cli import main
from earlgate.testing.chromium import chromium_problem


def test_the_e2e_bench_times_readings_and_led_commands(tmp_path: Path) -> None:
    argv = ["bench", "e2e", "--intervals", "30", "--devices", "1", "--duration", "2"]
    argv += ["--servo-steps", "0", "--gateway", "python"]
    status = main([*argv, "--out", str(tmp_path)])
    raw = json.loads((tmp_path / "raw.json").read_text())
    (run,) = raw["runs"]
    assert status == (0 if run["goal_met"] else 1)
    assert raw["delays_ms"]["30"], "no reading arrived"
    # A reading waits for the next connection event: never less than the radio's own hop.
    assert min(raw["delays_ms"]["30"]) > 0
    assert raw["led_ms"]["30"], "no LED command came back as state"
    assert "simulated" in (tmp_path / "report.md").read_text()
    assert (tmp_path / "e2e.png").stat().st_size > 0


def test_the_servo_loop_is_closed_through_the_radio(tmp_path: Path) -> None:
    argv = ["bench", "e2e", "--intervals", "30", "--devices", "1", "--duration", "1"]
    main([*argv, "--servo-steps", "4", "--gateway", "python", "--out", str(tmp_path)])
    raw = json.loads((tmp_path / "raw.json").read_text())
    (servo,) = raw["servo"]
    summary = servo["summary"]
    assert summary["steps"] == 4
    assert summary["missed"] == 0, "the sensor never saw a step's level"
    # Each step crosses the hub twice and the radio at least once: never instantaneous.
    assert summary["latency_ms"]["median"] > 0
    assert servo["device"]["applied"] == 4
    # The sensor tracks the LED once a step has settled (noise 0.01 full scale).
    assert summary["settled_rms_error"] < 0.05
    assert "LED servo loop closed through BLE" in (tmp_path / "report.md").read_text()
    assert (tmp_path / "e2e-servo-30ms.png").stat().st_size > 0


def test_the_browser_gateway_series_runs_the_devices_page(tmp_path: Path) -> None:
    problem = chromium_problem()
    if problem is not None:
        pytest.fail(problem)
    argv = ["bench", "e2e", "--gateway", "browser", "--devices", "1", "--duration", "2"]
    assert main([*argv, "--servo-steps", "0", "--out", str(tmp_path)]) == 0
    raw = json.loads((tmp_path / "raw.json").read_text())
    (run,) = raw["runs"]
    assert run["gateway"] == "browser" and run["goal_met"] is None
    assert run["lost"] == 0 and run["console_errors"] == 0
    delays = raw["delays_ms"]["browser"]
    assert len(delays) >= 4, "the page published too few readings"
    # From the emulated read's answer to the subscriber: after it, and not seconds late.
    assert 0 < min(delays) and max(delays) < 1000
    assert raw["led_ms"]["browser"], "no LED command came back as state through the page"
    assert "emulated" in (tmp_path / "report.md").read_text()


@pytest.mark.parametrize(
    ("argv", "named"),
    [
        (["--intervals", "5"], "--intervals"),
        (["--intervals", "fast"], "--intervals"),
        (["--devices", "0"], "--devices"),
        (["--servo-steps", "-1"], "--servo-steps"),
        (["--gateway", "phone"], "--gateway"),
    ],
)
def test_bad_e2e_options_are_usage_errors(
    argv: list[str], named: str, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as exit_:
        main(["bench", "e2e", *argv])
    assert exit_.value.code == 2
    assert named in capsys.readouterr().err
