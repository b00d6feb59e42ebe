"""``earlgate bench rtc --gateway browser``: the /gateway page in Chromium as the gateway.

The parts that need no page first (arguments, the page's URL, the launcher
that pins Chromium, the CPU of a process tree on real processes, the report
with two gateways); then the bench end to end against the real page.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
import urllib.parse
from pathlib import Path

import psutil
import pytest
from gwprocs import Process
from rtcprocs import TURN_PASS, TURN_USER, Turn

from earlgate.bench.gateway.browsergw import gateway_url, processing_from_stats
from earlgate.bench.gateway.browsermesh import arm_url, page_window
from earlgate.bench.gateway.chromiumproc import MARKER, launcher
from earlgate.bench.gateway.options import BenchOptions, StepResult, delay_stats
from earlgate.bench.gateway.proctree import (
    TreeNotFound,
    find_marked_root,
    marked_pids,
    tree_cpu_s,
)
from earlgate.bench.gateway.report import markdown, write_report
from earlgate.cli import main
from earlgate.gateway.peering import PeerOptions
from earlgate.testing.chromium import CHROMIUM, chromium_problem


@pytest.mark.parametrize(
    ("argv", "named"),
    [
        (["--gateway", "firefox"], "--gateway 'firefox': expected python, browser"),
        (["--gateway", "browser,browser"], "each gateway once"),
        (["--gateway", "python,"], "unknown: ''"),
        (["--browser-peers", "2"], "--browser-peers is for mesh with --gateway browser"),
        (["--gateway-cpu", "4096"], "--gateway-cpu 4096: not usable here"),
    ],
)
def test_bad_series_arguments_are_named(
    argv: list[str], named: str, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as exit_:
        main(["bench", "rtc", "forward", "--quick", *argv])
    assert exit_.value.code == 2
    assert named in capsys.readouterr().err


def test_browser_peers_fit_the_mesh(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        main(["bench", "rtc", "mesh", "--gateway", "browser", "--browser-peers", "6"])
    assert "between 1 and --peers-from" in capsys.readouterr().err


def test_network_keeps_the_python_gateway(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        main(["bench", "rtc", "network", "--gateway", "browser", "--quick"])
    assert "network compares the kernel with earlgate gateway" in capsys.readouterr().err


def test_the_page_url_carries_id_routes_ice_and_no_dialing() -> None:
    peering = PeerOptions(
        "http://127.0.0.1:9123/",
        key="k1",
        ice_servers=("turn:127.0.0.1:3478?transport=udp",),
        ice_username="u",
        ice_credential="p",
        relay_only=True,
    )
    url = urllib.parse.urlsplit(gateway_url(peering, peering.signal))
    assert (url.scheme, url.netloc, url.path) == ("http", "127.0.0.1:9123", "/gateway")
    query = dict(urllib.parse.parse_qsl(url.query))
    assert query["id"] == "bench-gw" and query["dial"] == "0" and query["key"] == "k1"
    assert query["routes"] == "http://127.0.0.1:9123/bench-routes.toml"
    assert query["relay-only"] == "1"
    assert json.loads(query["ice"]) == [
        {"urls": "turn:127.0.0.1:3478?transport=udp", "username": "u", "credential": "p"}
    ]
    plain = dict(
        urllib.parse.parse_qsl(
            urllib.parse.urlsplit(gateway_url(PeerOptions("http://h:1/"), "http://h:1/")).query
        )
    )
    assert "ice" not in plain and "relay-only" not in plain


def test_launcher_execs_chromium_under_the_prefix(tmp_path: Path) -> None:
    assert launcher((), tmp_path) == CHROMIUM
    script = Path(launcher(("taskset", "-c", "0"), tmp_path))
    assert script.read_text().splitlines()[1] == f'exec taskset -c 0 {CHROMIUM} "$@"'
    # The script runs what it names with the arguments it is given, pinned.
    fake = tmp_path / "bin"
    fake.mkdir()
    (fake / "taskset").write_text('#!/bin/sh\necho pinned "$@"\n')
    (fake / "taskset").chmod(0o755)
    out = subprocess.run(
        [str(script), "--flag", "a b"],
        capture_output=True,
        text=True,
        check=True,
        env={"PATH": f"{fake}:/usr/bin:/bin"},
    ).stdout
    assert out == f"pinned -c 0 {CHROMIUM} --flag a b\n"


BURN = "import time\nend = time.process_time() + {s}\nwhile time.process_time() < end: pass\n"
TREE = """
import subprocess, sys, time
grandchild = subprocess.Popen([sys.executable, "-c", {burn!r}])
grandchild.wait()  # reaped: its CPU is now this process's children_user
live = subprocess.Popen([sys.executable, "-c", {burn!r} + "time.sleep(30)"])
print("ready", flush=True)
time.sleep(30)
"""


def test_tree_cpu_counts_live_and_reaped_descendants() -> None:
    """A parent that burns nothing, a reaped child and a live one of 0.3 s CPU each."""
    burn = BURN.format(s=0.3)
    code = TREE.format(burn=burn)
    proc = subprocess.Popen([sys.executable, "-c", code, MARKER], stdout=subprocess.PIPE, text=True)
    try:
        assert proc.stdout is not None and proc.stdout.readline() == "ready\n"
        root = find_marked_root(MARKER)
        assert root.pid == proc.pid
        deadline = time.monotonic() + 20
        while tree_cpu_s(root) < 0.6 and time.monotonic() < deadline:
            time.sleep(0.1)
        total = tree_cpu_s(root)
        own = psutil.Process(proc.pid).cpu_times()
        assert 0.6 <= total < 0.6 + own.user + own.system + 0.5
        assert own.children_user + own.children_system >= 0.25  # the reaped one
    finally:
        for child in psutil.Process(proc.pid).children(recursive=True):
            child.kill()
        proc.kill()
        proc.wait()
        assert proc.stdout is not None
        proc.stdout.close()


def test_no_marked_process_is_named() -> None:
    with pytest.raises(TreeNotFound, match="--no-such-marker"):
        find_marked_root("--no-such-marker")


def test_processing_delay_from_the_pages_stats() -> None:
    stats = {
        "routes": {
            "forward#1": {"messages": 5, "processing_ms": {"p50": 9.0, "p99": 9.0}},
            "mux#1": {"messages": 40, "processing_ms": {"p50": 0.2, "p99": 0.9}},
            "mux#2": {"messages": 4, "processing_ms": {"p50": 0.1, "p99": 0.4, "count": 4}},
        }
    }
    assert processing_from_stats(stats) == {
        "count": 40.0,
        "mean": 0.2,
        "median": 0.2,
        "p99": 0.9,
    }
    assert processing_from_stats({"routes": {"mux#1": {"messages": 3}}}) == {}


def gateway_step(peers: int, gateway: str, p99: float, cpu_us: float) -> StepResult:
    result = StepResult(peers, 20.0, sent=80 * peers, received=80 * peers, gateway=gateway)
    result.delay_ms = delay_stats([p99 / 3] * 98 + [p99] * 2)
    result.cpu_s_per_message = cpu_us * 1e-6
    result.cpu_percent = cpu_us * 1e-6 * 4 * peers * 100
    result.forwarded = result.sent
    return result


def test_report_and_plot_put_the_two_gateways_side_by_side(tmp_path: Path) -> None:
    options = BenchOptions(
        "forward", PeerOptions("http://127.0.0.1:9/"), gateways=("python", "browser")
    )
    results = [
        gateway_step(10, "python", 4.0, 280.0),
        gateway_step(10, "browser", 6.0, 900.0),
        gateway_step(30, "python", 5.0, 280.0),
        gateway_step(30, "browser", 120.0, 950.0),
    ]
    text = markdown("forward", results, options)
    assert "browser: the /gateway page in Chromium" in text and "whole process tree" in text
    assert "| 10 | python |" in text and "| 10 | browser |" in text
    rows = [line for line in text.splitlines() if line.startswith("| 30 |")]
    assert rows[0].startswith("| 30 | python |") and rows[1].startswith("| 30 | browser |")
    # The browser's p99 of 120 ms at 30 peers: it holds to 10, the Python gateway to 30.
    assert "| python | one-way | 30 | 30 | 280 |" in text
    assert "| browser | one-way | 10 | 30 | 950 |" in text
    assert "| 30 | browser | 11.4 | 950 |" in text  # CPU % of a core, CPU-µs per message
    raw, _, figure = write_report("forward", results, options, tmp_path)
    data = json.loads(raw.read_text())
    assert data["options"]["gateways"] == ["python", "browser"]
    assert [s["gateway"] for s in data["steps"]] == ["python", "browser"] * 2
    assert figure.stat().st_size > 1000


def test_a_failed_series_is_named_and_the_other_kept() -> None:
    options = BenchOptions(
        "forward", PeerOptions("http://127.0.0.1:9/"), gateways=("python", "browser")
    )
    options.failures["browser one-way"] = "the step at 30 peers could not run: boom"
    text = markdown("forward", [gateway_step(10, "python", 4.0, 280.0)], options)
    assert "Stopped (browser one-way): the step at 30 peers could not run: boom." in text


def test_arm_pages_are_named_like_the_python_mesh_peers() -> None:
    options = BenchOptions("mesh", PeerOptions("http://127.0.0.1:9123/"), rate=4.0, size=100)
    url = urllib.parse.urlsplit(arm_url(options, "bm10", 10, 7))
    assert (url.netloc, url.path) == ("127.0.0.1:9123", "/arm")
    query = dict(urllib.parse.parse_qsl(url.query))
    assert (query["mesh"], query["n"], query["i"], query["rate"], query["size"]) == (
        "bm10",
        "10",
        "7",
        "4",
        "100",
    )


def test_a_pages_window_is_what_it_counted_in_it() -> None:
    stats = {
        "id": "bm4-3",
        "sent": 52,
        "window": {"start_ms": 1.0, "end_ms": 2.0, "sent": 12, "received": 9},
    }
    stats["window"]["delays_ms"] = [1.0] * 9
    assert page_window(stats) == (12, 9, [1.0] * 9)
    with pytest.raises(RuntimeError, match="bm4-3 has no counting window"):
        page_window({"id": "bm4-3", "sent": 52, "window": None})


def test_a_mixed_mesh_step_counts_every_message_on_both_sides(
    signal_server: Process, relay: Turn, tmp_path: Path
) -> None:
    """Two pages and two Python peers: what everyone sent in the window, everyone got."""
    if (problem := chromium_problem()) is not None:
        pytest.fail(problem)
    args = ["bench", "rtc", "mesh", "--gateway", "browser", "--browser-peers", "2"]
    args += ["--peers-from", "4", "--peers-to", "4", "--step-duration", "2"]
    args += ["--signal", signal_server.url, "--ice-server", relay.url, "--relay-only"]
    args += ["--ice-username", TURN_USER, "--ice-credential", TURN_PASS, "--out", str(tmp_path)]
    assert main(args) == 0
    (step,) = json.loads((tmp_path / "results.json").read_text())["steps"]
    # 4 peers to 3 others at 4 Hz for 2 s: about 8 ticks each (the pages' phases are their own).
    assert 4 * 3 * 7 <= step["sent"] <= 4 * 3 * 9
    assert step["received"] == step["sent"] and step["delay_ms"]["count"] == step["sent"]


def test_an_earlier_marked_process_is_not_taken() -> None:
    proc = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(30)", MARKER])
    try:
        deadline = time.monotonic() + 10
        while proc.pid not in (pids := marked_pids(MARKER)) and time.monotonic() < deadline:
            time.sleep(0.05)
        assert find_marked_root(MARKER).pid == proc.pid
        with pytest.raises(TreeNotFound):
            find_marked_root(MARKER, exclude=pids)
    finally:
        proc.kill()
        proc.wait()
