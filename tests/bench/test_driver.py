"""The benches' shared driver: tables, provenance, the measured loop, role labels."""

from __future__ import annotations

from earlgate.bench.driver import (
    Provenance,
    markdown_table,
    mean_sd,
    measure_each,
    role_labels,
    role_of,
)
from earlgate.bench.gateway.options import delay_stats
from earlgate.bench.ramp_report import case_table
from earlgate.bench.targets import TargetError


def test_a_table_has_a_head_a_rule_and_one_line_per_row() -> None:
    lines = markdown_table(["target", "µs/msg"], [["earlgate", "31.2"], ["node", "88.0"]])
    assert lines == [
        "| target | µs/msg |",
        "|---|---|",
        "| earlgate | 31.2 |",
        "| node | 88.0 |",
    ]


def test_a_right_aligned_table_and_an_empty_cell() -> None:
    lines = markdown_table(["", "seconds"], [["last", "60"]], right=True)
    assert lines == ["| | seconds |", "|---:|---:|", "| last | 60 |"]


def test_no_rows_still_make_a_table_head() -> None:
    assert markdown_table(["a", "b", "c"], []) == ["| a | b | c |", "|---|---|---|"]


def test_every_report_starts_with_the_same_provenance_line() -> None:
    provenance = Provenance("2 cores", "2026-12-03 21:00 UTC", "earlgate bench fanout -n 10")
    assert provenance.line() == (
        "Machine: 2 cores. Date: 2026-12-03 21:00 UTC. Command: `earlgate bench fanout -n 10`."
    )
    assert provenance.raw() == {"machine": "2 cores", "date": "2026-12-03 21:00 UTC"}


def test_a_target_that_cannot_start_is_skipped_with_a_note() -> None:
    notes: list[str] = []
    seen: list[int] = []

    def measure(name: str) -> int:
        if name == "thesis-node":
            raise TargetError("node is not installed")
        return len(name)

    rows = measure_each(
        ["earlgate", "thesis-node", "picows-naive"],
        measure,
        what="target ",
        say=notes.append,
        done=seen.append,
    )
    assert rows == [8, 12]
    assert seen == [8, 12]
    assert notes == ["skipped target thesis-node: node is not installed"]


def test_other_errors_are_not_swallowed_by_the_loop() -> None:
    def measure(name: str) -> int:
        raise RuntimeError(f"{name} broke")

    try:
        measure_each(["earlgate"], measure, say=lambda note: None)
    except RuntimeError as exc:
        assert str(exc) == "earlgate broke"
    else:
        raise AssertionError("the RuntimeError was swallowed")


def test_roles_from_process_names_and_command_lines() -> None:
    python = ["/usr/bin/python3", "-m", "earlgate"]
    assert role_of("python3", [*python, "hub", "--port", "9000"]) == "hub"
    assert role_of("redis-server", ["redis-server", "--port", "6390"]) == "redis-server"
    assert role_of("haproxy", ["haproxy", "-db", "-f", "haproxy.cfg"]) == "haproxy"
    assert role_of("node", ["node", "app.js"]) == "node"
    assert role_of("python3", [*python, "cluster", "up"]) == "supervisor"


def test_labels_name_roles_and_number_hubs_never_pids() -> None:
    roles = ["redis-server", "hub", "hub", "haproxy"]
    assert role_labels(roles) == ["redis-server", "hub-1", "hub-2", "haproxy"]
    assert role_labels(["haproxy", "haproxy"]) == ["haproxy", "haproxy-2"]
    assert role_labels(["hub"]) == ["hub-1"]


def _step(publishers: int, cpu: dict[str, float]) -> dict[str, object]:
    return {
        "case": "2",
        "publishers": publishers,
        "expected_events": publishers * 4.0,
        "events_mean": publishers * 4.0,
        "events_sd": 0.0,
        "response_ms": {"mean": 1.0, "sd": 0.1, "p50": 0.9, "p99": 3.0},
        "loadgen_cpu_percent": 20.0,
        "littles_l": 0.8,
        "cpu_percent": cpu,
    }


def test_a_ramp_table_has_one_column_per_role_across_steps() -> None:
    # Each step's deployment is new (new PIDs); the labels are the same.
    labels = role_labels(["redis-server", "hub", "hub", "haproxy"])
    first = dict(zip(labels, [5.0, 40.0, 41.0, 10.0], strict=True))
    second = dict(zip(labels, [9.0, 80.0, 79.0, 20.0], strict=True))
    table = case_table([_step(200, first), _step(400, second)])
    head = table.splitlines()[0]
    assert head.count("| CPU % ") == 4
    assert "CPU % hub-1 | CPU % hub-2" in head
    assert "python" not in head
    cells = table.splitlines()[3].strip("|").split("|")
    by_column = dict(zip(head.strip("|").split("|"), cells, strict=True))
    assert by_column[" CPU % hub-1 "].strip() == "80"
    assert by_column[" CPU % haproxy "].strip() == "20"
    assert by_column[" CPU % redis-server "].strip() == "9"


def test_delays_use_the_shared_nearest_rank_percentile() -> None:
    stats = delay_stats([float(v) for v in range(1, 101)])
    assert stats["p99"] == 99.0  # nearest rank: the 99th of 100 values
    assert stats["median"] == 50.5  # statistics.median, as reports have always said
    assert stats["max"] == 100.0 and stats["count"] == 100


def test_mean_and_population_sd() -> None:
    assert mean_sd([]) == (0.0, 0.0)
    assert mean_sd([4.0]) == (4.0, 0.0)
    assert mean_sd([2.0, 4.0, 4.0, 4.0, 5.0, 5.0, 7.0, 9.0]) == (5.0, 2.0)
