"""The arm-probe mesh (thesis 3.1.2) on loopback: ten peers, direct and through a gateway."""

from __future__ import annotations

import json
import re
import tomllib
from concurrent.futures import ThreadPoolExecutor

import pytest
from gwpeers import peering
from gwprocs import Process
from rtcprocs import TURN_PASS, TURN_USER, Turn

from earlgate.bench.gateway.meshdelays import MeshDelays
from earlgate.cli import main
from earlgate.gateway.mesh import MeshOptions, message_for, run_mesh
from earlgate.gateway.routes import parse_routes
from earlgate.gateway.service import Gateway, GatewayOptions

# Thesis 3.1.2: "the one-way delay ... must be less than half a second".
THESIS_BOUND_MS = 500.0


def test_vibration_messages_are_about_the_size_asked() -> None:
    import orjson

    for size in (100, 400):
        assert len(orjson.dumps(message_for("arm-12", 12345, size, 1764000000123.456))) == size
    smallest = orjson.dumps(message_for("arm-12", 12345, 10, 1764000000123.456))
    assert smallest.endswith(b'"pad":""}')


async def test_ten_peer_full_mesh(signal_server: Process, relay: Turn) -> None:
    delays = MeshDelays()
    options = MeshOptions(
        peering(signal_server, relay),
        10,
        prefix="m10",
        duration=2.0,
        on_message=delays.on_message,
    )
    result = await run_mesh(options)
    assert result.connections == result.expected_connections == 90
    # Every peer sent to the 9 others at 4 Hz for 2 s: 8 ticks each.
    assert result.sent == 10 * 9 * 8
    assert result.received == result.sent
    assert delays.histogram.percentile(0.99) / 1e6 < THESIS_BOUND_MS


async def test_star_through_a_gateway(signal_server: Process, relay: Turn) -> None:
    routes = parse_routes(tomllib.loads('[[forward]]\nfrom = "s6-*"\nto = "s6-*"\n'))
    options = GatewayOptions("s6-gw", peering(signal_server, relay), routes, dial=False)
    async with Gateway(options) as gateway:
        delays = MeshDelays()
        mesh = MeshOptions(
            peering(signal_server, relay),
            6,
            prefix="s6",
            duration=1.0,
            on_message=delays.on_message,
        )
        mesh.star = "s6-gw"
        result = await run_mesh(mesh)
        assert result.connections == 6
        assert result.sent == 6 * 4 and result.received == result.sent * 5
        assert delays.histogram.percentile(0.99) / 1e6 < THESIS_BOUND_MS
        assert gateway.statistics()["routes"]["forward#1"]["out"] == 6 * 4 * 5


def test_mesh_command_joins_with_run(
    signal_server: Process, relay: Turn, capsys: pytest.CaptureFixture[str]
) -> None:
    """Two invocations, --run 0 and --run 1-2, form one 3-peer mesh."""
    args = ["mesh", "--peers", "3", "--duration", "1.5", "--id", "cli3", "--json"]
    args += ["--signal", signal_server.url, "--ice-server", relay.url, "--relay-only"]
    args += ["--ice-username", TURN_USER, "--ice-credential", TURN_PASS]

    def both() -> list[int]:
        with ThreadPoolExecutor(2) as pool:
            runs = [pool.submit(main, [*args, "--run", spec]) for spec in ("0", "1-2")]
            return [run.result() for run in runs]

    assert both() == [0, 0]
    results = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert sorted(r["connections"] for r in results) == [2, 4]
    # The two stop on their own clocks, so a few of the last messages may miss the other.
    assert all(r["received"] > 0 for r in results)
    assert sum(r["received"] for r in results) >= 0.8 * sum(r["sent"] for r in results)


def test_mesh_command_brings_its_own_signaling_server(
    relay: Turn, capsys: pytest.CaptureFixture[str]
) -> None:
    """Without --signal: a server on a free loopback port, its URL said, the mesh formed."""
    args = ["mesh", "--peers", "3", "--duration", "1.0", "--id", "own3", "--json"]
    args += ["--ice-server", relay.url, "--relay-only"]
    args += ["--ice-username", TURN_USER, "--ice-credential", TURN_PASS]
    assert main(args) == 0
    captured = capsys.readouterr()
    result = json.loads(captured.out)
    assert result["connections"] == 6 and result["received"] > 0
    said = re.search(r"signaling server (http://127\.0\.0\.1:(\d+)/)", captured.err)
    assert said and int(said.group(2)) != 9000, captured.err
    assert f"--signal {said.group(1)} --id own3 --peers 3" in captured.err
    assert "arm?mesh=own3&n=3" in captured.err


def test_mesh_command_usage_errors() -> None:
    for bad in (["--peers", "1"], ["--peers", "3", "--run", "0-5"], ["--peers", "3", "--run", "x"]):
        with pytest.raises(SystemExit) as info:
            main(["mesh", *bad])
        assert info.value.code == 2
