"""The servo loop: tracking statistics (pure), and ``earlgate bench led-loop`` through a hub."""

from __future__ import annotations

import json
import math
from collections.abc import Iterator
from pathlib import Path

import pytest

from earlgate.bench.led.tracking import Reading, Step, analyse
from earlgate.cli import main
from earlgate.metrics.percentile import percentile
from hubproc import HubProcess, start_hub


def test_latency_is_the_first_reading_near_the_step() -> None:
    steps = [Step(1.0, 15), Step(2.0, 0)]
    readings = [
        Reading(0.5, 0.0),  # before any step: no error counted
        Reading(1.01, 0.0),  # still the old level
        Reading(1.02, 0.99),  # seen: 20 ms
        Reading(1.5, 1.0),
        Reading(2.05, 0.02),  # seen: 50 ms
    ]
    report = analyse(steps, readings)
    assert report.missed == 0
    assert [round(x, 6) for x in report.latencies_ms] == [20.0, 50.0]
    errors = [-1.0, -0.01, 0.0, 0.02]
    assert report.rms_error == pytest.approx(math.sqrt(sum(e * e for e in errors) / 4))
    assert report.mean_abs_error == pytest.approx(sum(abs(e) for e in errors) / 4)
    settled = [-0.01, 0.0, 0.02]
    assert report.settled_rms_error == pytest.approx(math.sqrt(sum(e * e for e in settled) / 3))
    summary = report.summary()
    assert summary["latency_ms"] == {"median": 35.0, "p95": 50.0, "max": 50.0, "min": 20.0}


def test_a_step_not_seen_before_the_next_is_missed() -> None:
    steps = [Step(1.0, 15), Step(2.0, 8), Step(3.0, 0)]
    readings = [Reading(1.5, 0.0), Reading(2.5, 8 / 15 + 0.01), Reading(3.5, 0.2)]
    report = analyse(steps, readings)
    assert report.missed == 2 and len(report.latencies_ms) == 1
    assert report.latencies_ms[0] == pytest.approx(500.0)
    loose = analyse(steps, readings, tolerance=0.25)
    assert loose.missed == 1


def test_nothing_to_analyse() -> None:
    report = analyse([], [])
    assert report.summary() == {
        "steps": 0,
        "missed": 0,
        "readings": 0,
        "rms_error": None,
        "mean_abs_error": None,
        "settled_rms_error": None,
    }
    assert analyse([Step(0.0, 3)], []).missed == 1


def test_percentile_is_nearest_rank() -> None:
    assert percentile([5.0, 1.0, 3.0, 2.0, 4.0], 0.5) == 3.0
    assert percentile([5.0, 1.0, 3.0, 2.0, 4.0], 0.95) == 5.0
    assert percentile([7.0], 0.01) == 7.0


@pytest.fixture(scope="module")
def hub() -> Iterator[HubProcess]:
    process = start_hub()
    yield process
    process.stop()


def test_the_loop_bench_through_a_hub(
    hub: HubProcess, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "loop"
    args = ["bench", "led-loop", "--hub", hub.ws_url, "--steps", "4", "--step", "0.2"]
    assert main([*args, "--levels", "15,0,8", "--out", str(out)]) == 0
    assert "emitter→detector latency" in capsys.readouterr().out
    record = json.loads((out / "results.json").read_text())
    assert [level for _, level in record["steps"]] == [15, 0, 8, 15]
    summary = record["summary"]
    assert summary["steps"] == 4 and summary["missed"] == 0
    assert 0 < summary["latency_ms"]["max"] < 200  # seen within its step
    assert summary["settled_rms_error"] < 0.05  # the noise is 0.01
    assert record["server"]["applied"] == 4 and record["server"]["refused"] == 0
    assert (out / "led-loop.png").read_bytes()[:4] == b"\x89PNG"
    assert "| steps seen / sent | 4 / 4 |" in (out / "report.md").read_text()


def test_the_loop_bench_refuses_bad_levels() -> None:
    with pytest.raises(SystemExit) as exited:
        main(["bench", "led-loop", "--levels", "15,16"])
    assert exited.value.code == 2


def test_the_loop_bench_without_a_hub_fails_clearly(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # Nothing listens on port 1: no retrying, a message and status 1.
    args = ["bench", "led-loop", "--hub", "ws://127.0.0.1:1/ws", "--out", str(tmp_path / "x")]
    assert main(args) == 1
    assert "cannot connect to ws://127.0.0.1:1/ws" in capsys.readouterr().err
    assert not (tmp_path / "x").exists()
