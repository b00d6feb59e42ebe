"""``earlgate peer``: an echoing peer and a connecting peer, as processes."""

from __future__ import annotations

import subprocess
import sys
from typing import Any

import orjson
import pytest
from rtcprocs import TURN_PASS, TURN_USER, Server, Turn

from earlgate.cli import main


def peer_command(server: Server, turn: Turn, *args: str) -> list[str]:
    return [
        sys.executable, "-m", "earlgate", "peer",
        "--signal", f"http://127.0.0.1:{server.port}",
        "--turn", f"turn:127.0.0.1:{turn.port}",
        "--turn-user", TURN_USER, "--turn-pass", TURN_PASS, "--relay-only",
        *args,
    ]  # fmt: skip


def events(text: str) -> list[dict[str, Any]]:
    return [orjson.loads(line) for line in text.splitlines() if line.strip()]


def test_connect_send_to_an_echoing_peer(peer_server: Server, turn: Turn) -> None:
    command = peer_command(peer_server, turn, "--id", "cli-echo", "--echo")
    with subprocess.Popen(command, stdout=subprocess.PIPE, text=True) as echo:
        try:
            assert echo.stdout is not None
            assert orjson.loads(echo.stdout.readline()) == {"event": "open", "id": "cli-echo"}
            sends = ['{"a":[1,"é"]}', '"hello"', "42"]
            args = ["--id", "cli-ask", "--connect", "cli-echo", "--expect", "3", "--timeout", "20"]
            for value in sends:
                args += ["--send", value]
            asker = subprocess.run(
                peer_command(peer_server, turn, *args), capture_output=True, text=True, timeout=40
            )
            assert asker.returncode == 0, asker.stderr
            got = [e["data"] for e in events(asker.stdout) if e["event"] == "data"]
            assert sorted(map(repr, got)) == sorted(repr(orjson.loads(v)) for v in sends)
            line = orjson.loads(echo.stdout.readline())
            assert line["event"] == "connection" and line["peer"] == "cli-ask"
            assert line["serialization"] == "binary"
        finally:
            echo.terminate()


def test_unknown_peer_exits_1(peer_server: Server, turn: Turn) -> None:
    args = ["--connect", "nobody-there", "--send", "1", "--timeout", "20"]
    result = subprocess.run(
        peer_command(peer_server, turn, *args), capture_output=True, text=True, timeout=40
    )
    assert result.returncode == 1
    assert "peer-unavailable" in result.stderr


@pytest.mark.parametrize(
    "args",
    [
        ["--relay-only"],
        ["--send", "1"],
        ["--connect", "x", "--send", "{nope"],
        ["--id", "bad id!"],
        ["--signal", "ftp://host:1"],
        ["--turn", "stun:127.0.0.1:3478"],
    ],
)
def test_usage_errors_exit_2(args: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as info:
        main(["peer", *args])
    assert info.value.code == 2
    assert "earlgate peer: error:" in capsys.readouterr().err
