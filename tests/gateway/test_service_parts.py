"""The gateway's small parts without a network: signal URLs, outboxes, the command line."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from earlgate.cli import main
from earlgate.gateway.metrics import RouteStats
from earlgate.gateway.outbox import Item, Outbox
from earlgate.gateway.peering import SignalURLError, parse_signal_url
from earlgate.rtc import DataConnectionError
from earlgate.rtc.errors import ConnectionErrorType


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("http://127.0.0.1:9000/", ("127.0.0.1", 9000, "/", False)),
        ("https://signal.example/app", ("signal.example", 443, "/app/", True)),
        ("ws://10.0.0.2:9000/peerjs", ("10.0.0.2", 9000, "/", False)),
        ("wss://h:8443/app/peerjs", ("h", 8443, "/app/", True)),
    ],
)
def test_signal_urls(url: str, expected: tuple[str, int, str, bool]) -> None:
    server = parse_signal_url(url)
    assert (server.host, server.port, server.path, server.secure) == expected


@pytest.mark.parametrize("url", ["ftp://h/", "http://", "http://h:port/"])
def test_bad_signal_urls(url: str) -> None:
    with pytest.raises(SignalURLError):
        parse_signal_url(url)


class FakeConnection:
    """What an Outbox uses of a DataConnection: open, buffered_amount, send."""

    def __init__(self, per_message: int = 100) -> None:
        self.open = True
        self.channel = None
        self.buffered_amount = 0
        self.per_message = per_message
        self.sent: list[Any] = []

    def send(self, value: Any) -> None:
        if value == "too big":
            raise DataConnectionError(ConnectionErrorType.MESSAGE_TOO_BIG, "too big")
        self.sent.append(value)
        self.buffered_amount += self.per_message


def test_outbox_holds_back_past_high_water_and_drops_oldest() -> None:
    route = RouteStats("forward#1", "forward")
    ticks = iter(range(0, 10**9, 1000))
    box = Outbox("arm-2", limit=3, high_water=250, clock_ns=lambda: next(ticks))
    conn = FakeConnection()
    box.attach(conn)  # type: ignore[arg-type]
    for n in range(8):
        box.put(Item(n, route, 0))
    # 0, 1, 2 fill the channel to 300 bytes >= 250; then 3..7 queue, 3 and 4 dropped.
    assert conn.sent == [0, 1, 2]
    assert [item.value for item in box.queue] == [5, 6, 7]
    assert box.dropped == 2 and route.dropped["queue_full"] == 2
    conn.buffered_amount = 0  # the channel drained ("bufferedamountlow")
    box.drain()
    assert conn.sent == [0, 1, 2, 5, 6, 7] and not box.queue
    assert route.messages_out == 6 and route.latency.total == 6
    conn.buffered_amount = 240  # room for one more, then held back again
    for n in range(8, 11):
        box.put(Item(n, route, 0))
    assert conn.sent[-1] == 8 and [item.value for item in box.queue] == [9, 10]


def test_outbox_waits_for_a_connection_and_counts_refusals() -> None:
    route = RouteStats("demux#1", "demux")
    box = Outbox("cloud", limit=10, high_water=10_000)
    box.put(Item("early", route, 0))
    box.put(Item("too big", route, 0))
    assert len(box.queue) == 2 and not box.writable
    conn = FakeConnection()
    box.attach(conn)  # type: ignore[arg-type]
    assert conn.sent == ["early"] and route.dropped["send_failed"] == 1
    box.detach(conn)
    box.put(Item("later", route, 0))
    assert conn.sent == ["early"] and len(box.queue) == 1


def run_gateway_command(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str]:
    with pytest.raises(SystemExit) as info:
        main(["gateway", "--id", "gw", *args])
    code = info.value.code
    assert isinstance(code, int)
    return code, capsys.readouterr().err


def test_a_bad_routes_file_exits_2_naming_the_fault(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    routes = tmp_path / "routes.toml"
    routes.write_text('[[forward]]\nfrom = "a"\nto = []\n')
    code, err = run_gateway_command(capsys, "--routes", str(routes))
    assert code == 2 and "[[forward]] #1.to: name at least one destination" in err
    routes.write_text('[[mux]]\nfrom = "a"\nto = "b"\nwindow = -1\n')
    code, err = run_gateway_command(capsys, "--routes", str(routes))
    assert code == 2 and "[[mux]] #1.window" in err
    routes.write_text('[[bridge]]\npeer = "a"\npublish = "s/{peer}"\n')
    code, err = run_gateway_command(capsys, "--routes", str(routes))
    assert code == 2 and "--hub" in err


@pytest.mark.parametrize(
    ("args", "says"),
    [
        (["--signal", "ftp://x/"], "--signal"),
        (["--relay-only"], "--relay-only needs a TURN server"),
        (["--mux-window", "0"], "--mux-window"),
        (["--queue-limit", "0"], "--queue-limit"),
        (["--hub", "http://h/ws"], "--hub"),
    ],
)
def test_bad_options_exit_2(args: list[str], says: str, capsys: pytest.CaptureFixture[str]) -> None:
    code, err = run_gateway_command(capsys, *args)
    assert code == 2 and says in err


def test_an_unreachable_signaling_server_exits_2(capsys: pytest.CaptureFixture[str]) -> None:
    code, err = run_gateway_command(capsys, "--signal", "http://127.0.0.1:9/")
    assert code == 2 and "cannot join http://127.0.0.1:9/ as gw" in err
