"""``earlgate load``: its summary (pure) and one short run through the command line."""

from __future__ import annotations

import json

import pytest

from earlgate.bench.loadcommand import seconds_table, summary_lines
from earlgate.bench.loadgen import LoadResult
from earlgate.cli import main


def _result() -> LoadResult:
    return LoadResult(
        publishers=10,
        subscribers=20,
        period=0.25,
        duration=10.0,
        sent=400,
        received=700,
        expected_per_s=40.0,
        connect_seconds=0.5,
        loadgen_cpu_percent=12.0,
        latency_ms={"mean": 1.5, "sd": 0.5, "p50": 1.2, "p99": 4.0, "max": 9.0},
        per_second=[],
        echoed=350,
        echo_ms={"mean": 3.0, "p50": 2.5, "p99": 8.0},
        arrival="poisson",
        seed=9,
        sent_late=3,
        wakeups=160,
        lateness_ms={"count": 400, "mean": 0.1, "p50": 0.05, "p99": 0.8, "max": 2.5},
    )


def test_the_summary_counts_deliveries_against_every_subscriber() -> None:
    lines = summary_lines(_result(), 2, cores=2, echo_back=False)
    assert lines == [
        "sent 400, received 700 (87.50%); response time mean 1.50 ± 0.50 ms, p50 1.20, "
        "p99 4.00, max 9.00 ms; load generator CPU 12% of one core (2 available)",
        "arrival: poisson (each publisher's gaps exponential with mean = period (seed 9)); "
        "3 of 400 sends more than 2 ms late, lateness p99 0.80 ms, max 2.50 ms; "
        "2.5 sends per wake-up",
    ]


def test_an_echo_run_also_reports_round_trips() -> None:
    lines = summary_lines(_result(), 2, cores=2, echo_back=True)
    assert lines[1] == "echoed 350 (43.75%); round trip mean 3.00 ms, p50 2.50, p99 8.00 ms"
    assert lines[2].startswith("arrival: poisson")


def test_the_live_table_shows_the_last_ten_seconds() -> None:
    seconds = [
        {
            "second": n,
            "expected": 40.0,
            "sent": 40,
            "received": 40,
            "latency_ms": {"p50": 1.0, "p99": 2.0},
        }
        for n in range(1, 16)
    ]
    table = seconds_table("load", seconds)
    assert table.row_count == 10
    assert list(table.columns[0].cells) == [str(n) for n in range(6, 16)]


def test_load_from_the_command_line_writes_its_result(shared_hub, tmp_path) -> None:
    out = tmp_path / "load.json"
    argv = ["load", "--url", shared_hub.ws_url, "-n", "3", "-t", "0.25", "--duration", "1.5"]
    assert main([*argv, "--json", str(out)]) == 0
    written = json.loads(out.read_text())
    assert written["publishers"] == 3
    assert written["received"] == written["sent"] > 0
    assert written["arrival"] == "spread" and written["lateness_ms"]["count"] == written["sent"]


@pytest.mark.parametrize("arrival", ["slots", "poisson"])
def test_load_takes_its_arrival_from_the_command_line(shared_hub, tmp_path, arrival) -> None:
    out = tmp_path / "load.json"
    argv = ["load", "--url", shared_hub.ws_url, "-n", "4", "-t", "0.1", "--duration", "1"]
    assert main([*argv, "--arrival", arrival, "--seed", "3", "--json", str(out)]) == 0
    written = json.loads(out.read_text())
    assert (written["arrival"], written["seed"]) == (arrival, 3)
    assert written["received"] == written["sent"] > 0
    assert sum(s["late"] for s in written["per_second"]) == written["sent_late"]


def test_load_refuses_an_unknown_arrival(capsys) -> None:
    with pytest.raises(SystemExit) as exit_:
        main(["load", "--arrival", "bursty"])
    assert exit_.value.code == 2
    assert "--arrival: invalid choice: 'bursty'" in capsys.readouterr().err


def test_load_refuses_a_host_that_is_not_loopback(capsys) -> None:
    with pytest.raises(SystemExit) as exit_:
        main(["load", "--url", "ws://192.0.2.1:8080/ws", "--duration", "1"])
    assert exit_.value.code == 2
    assert "only sent to loopback addresses" in capsys.readouterr().err
