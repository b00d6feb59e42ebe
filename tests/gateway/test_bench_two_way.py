"""``earlgate bench rtc forward --two-way``: receivers answer through the gateway.

The pure parts (routes, answers, the recorder, capacity, the report) on
their own; the bench end to end with the Python gateway, the signaling
server and a TURN relay, at a tiny size.
"""

from __future__ import annotations

import json
from pathlib import Path

import orjson
import pytest
from gwprocs import Process
from rtcprocs import TURN_PASS, TURN_USER, Turn

from earlgate.bench.gateway.gatewayproc import routes_for
from earlgate.bench.gateway.loadside import Recorder, answer_for
from earlgate.bench.gateway.options import BenchOptions, StepResult, capacity, delay_stats
from earlgate.bench.gateway.report import markdown, write_report
from earlgate.cli import main
from earlgate.gateway.mesh import message_for
from earlgate.gateway.peering import PeerOptions
from earlgate.gateway.routes import loads_routes


def test_two_way_routes_add_the_way_back() -> None:
    routes = loads_routes(routes_for("forward", 3, two_way=True))
    pairs = {(rule.sources[0], rule.to[0]) for rule in routes.forwards}
    assert pairs == {(f"s-{i}", f"r-{i}") for i in range(3)} | {
        (f"r-{i}", f"s-{i}") for i in range(3)
    }
    assert len(loads_routes(routes_for("forward", 3)).forwards) == 3


def test_an_answer_is_as_long_as_the_message_and_keeps_its_clock() -> None:
    message = message_for("s-4", 17, 100, 1764000000123.5)
    answer = answer_for("r-4", message, 100, 1764000000130.25)
    assert len(orjson.dumps(answer)) == len(orjson.dumps(message)) == 100
    assert answer["ts"] == message["ts"] and answer["ats"] == 1764000000130.25
    assert answer["re"] == "s-4" and answer["seq"] == 17


def test_the_recorder_keeps_answers_apart_from_messages() -> None:
    recorder = Recorder()
    recorder.counting = True
    now = 1764000000000.0
    recorder.on_value(message_for("s-0", 0, 100, now))
    recorder.on_value(answer_for("r-0", message_for("s-0", 1, 100, now), 100, now + 5))
    assert len(recorder.delays) == 1
    assert len(recorder.round_trips) == len(recorder.backs) == 1
    # The round trip started 5 ms before the way back did.
    assert recorder.round_trips[0] - recorder.backs[0] == pytest.approx(5.0, abs=1.0)
    assert len(recorder.answer_pairs()) == 16


def step(peers: int, *, two_way: bool, p99: float, lost: int = 0, cpu: float = 10.0) -> StepResult:
    result = StepResult(peers, 10.0, sent=40 * peers, received=40 * peers - lost)
    result.two_way = two_way
    result.delay_ms = delay_stats([p99 / 2] * 98 + [p99] * 2)
    result.cpu_percent = cpu * (2 if two_way else 1)
    result.cpu_s_per_message = 2.8e-4
    if two_way:
        result.answered = result.answers = result.received
        result.round_trip_ms = delay_stats([2 * p99] * 10)
        result.back_delay_ms = delay_stats([p99] * 10)
    return result


def test_capacity_is_the_last_step_that_held_in_a_row() -> None:
    steps = [step(10, two_way=False, p99=5), step(20, two_way=False, p99=50)]
    assert capacity(steps, 100.0) == 20
    steps.append(step(30, two_way=False, p99=150))
    steps.append(step(40, two_way=False, p99=5))  # past a step that failed: not counted
    assert capacity(steps, 100.0) == 20
    assert capacity([step(10, two_way=False, p99=5, lost=1)], 100.0) == 0
    short = step(10, two_way=True, p99=5)
    short.answers -= 1
    assert capacity([short], 100.0) == 0


def test_report_puts_one_way_and_two_way_side_by_side(tmp_path: Path) -> None:
    options = BenchOptions("forward", PeerOptions("http://127.0.0.1:9/"), two_way=True)
    results = [
        step(10, two_way=False, p99=5),
        step(10, two_way=True, p99=8),
        step(20, two_way=False, p99=9),
        step(20, two_way=True, p99=140),
    ]
    text = markdown("forward", results, options)
    assert "| 10 | one-way |" in text and "| 10 | two-way |" in text
    assert "Answers (two-way steps)" in text and "| 20 | two-way | 800 | 800 |" in text
    # One-way held at 20 peers, two-way only at 10: a 50 % drop, twice the CPU at 20.
    assert "| python | one-way | 20 |" in text
    assert "| python | two-way | 10 | 20 | 280 | 50 % (CPU x2.00) |" in text
    raw, report, figure = write_report("forward", results, options, tmp_path)
    assert json.loads(raw.read_text())["steps"][1]["two_way"] is True
    assert report.read_text() == text and figure.stat().st_size > 1000


def test_two_way_is_for_forward(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_:
        main(["bench", "rtc", "mux", "--two-way", "--quick"])
    assert exit_.value.code == 2
    assert "--two-way is for the forward bench" in capsys.readouterr().err


def test_bench_rtc_forward_two_way(signal_server: Process, relay: Turn, tmp_path: Path) -> None:
    """Each step one-way, then two-way: every message answered, every answer back."""
    args = ["bench", "rtc", "forward", "--two-way", "--peers-from", "2", "--peers-to", "2"]
    args += ["--step-duration", "1.5", "--out", str(tmp_path)]
    args += ["--signal", signal_server.url, "--ice-server", relay.url, "--relay-only"]
    args += ["--ice-username", TURN_USER, "--ice-credential", TURN_PASS]
    assert main(args) == 0
    one, two = json.loads((tmp_path / "results.json").read_text())["steps"]
    # 2 senders at 4 Hz for 1.5 s: 6 ticks each.
    assert (one["two_way"], two["two_way"]) == (False, True)
    assert one["sent"] == one["received"] == 12 and one["answered"] == one["answers"] == 0
    assert two["sent"] == two["received"] == two["answered"] == two["answers"] == 12
    assert two["round_trip_ms"]["count"] == two["back_delay_ms"]["count"] == 12
    assert two["round_trip_ms"]["p99"] >= two["back_delay_ms"]["p99"] > 0
    assert two["round_trip_ms"]["median"] >= two["delay_ms"]["median"]
    # The gateway handed on the messages and the answers, and both count in its CPU.
    assert one["forwarded"] == 12 and two["forwarded"] == 24
    assert two["bytes_in_per_s"] == pytest.approx(2 * one["bytes_in_per_s"], rel=0.05)
    report = (tmp_path / "report.md").read_text()
    assert "| 2 | two-way | 12 | 12 |" in report and "Capacity drop vs one-way" in report
