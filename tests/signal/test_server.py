"""The real ``earlgate signal`` process: limits, failures, TLS, metrics, the CLI."""

from __future__ import annotations

import asyncio
import json
import ssl
import subprocess
import sys
import urllib.request
from collections.abc import Callable
from pathlib import Path

import pytest
import trustme
from signalpeers import RawPeer, opened

from earlgate.cli import main
from earlgate.testing.signalprocs import ServerProcess, SignalSettings

Factory = Callable[..., ServerProcess]


def metrics(server: ServerProcess) -> dict[str, float]:
    with urllib.request.urlopen(server.http_url + "/metrics", timeout=5) as answer:
        text = answer.read().decode()
    values: dict[str, float] = {}
    for line in text.splitlines():
        if line.startswith("earlgate_signal_"):
            name, value = line.rsplit(" ", 1)
            values[name] = float(value)
    return values


async def test_huge_frame_closes_only_its_sender(signal_factory: Factory) -> None:
    server = signal_factory(SignalSettings(), "--max-frame", "4096")
    a = await opened(server.ws_url("a", "t"))
    b = await opened(server.ws_url("b", "t"))
    big = await opened(server.ws_url("big", "t"))
    await big.send({"type": "OFFER", "dst": "b", "payload": "x" * 5000})
    assert await big.next() == ("closed", 1009)
    await a.send({"type": "OFFER", "dst": "b", "payload": "y" * 3000})
    assert (await b.next())["src"] == "a"
    seen = await asyncio.to_thread(metrics, server)
    assert seen['earlgate_signal_messages_dropped_total{reason="too_big"}'] == 1
    assert seen["earlgate_signal_peers_connected"] == 2
    await a.close()
    await b.close()


async def test_leave_when_the_recipient_stops_reading(signal_factory: Factory) -> None:
    server = signal_factory(SignalSettings(), "--send-buffer", "65536")
    a = await opened(server.ws_url("a", "t"))
    # b's client reads nothing more once its small queue is full
    stuck = await RawPeer.open(server.ws_url("b", "t"), max_queue=1)
    chunk = "z" * 16_000
    leave = None
    for _ in range(2000):
        await a.send({"type": "CANDIDATE", "dst": "b", "payload": chunk})
        try:
            leave = await asyncio.wait_for(a.ws.recv(), 0.001)
            break
        except TimeoutError:
            continue
    assert leave is not None, "no LEAVE after 32 MB to a peer that does not read"
    assert json.loads(leave) == {"type": "LEAVE", "src": "b", "dst": "a"}
    seen = await asyncio.to_thread(metrics, server)
    assert seen['earlgate_signal_peers_removed_total{reason="send_failed"}'] == 1
    assert seen["earlgate_signal_peers_connected"] == 1
    stuck.abort()
    await a.close()


async def test_metrics_count_relayed_queued_expired(signal_factory: Factory) -> None:
    server = signal_factory(SignalSettings(expire_timeout=0.2))
    a = await opened(server.ws_url("a", "t"))
    b = await opened(server.ws_url("b", "t"))
    for n in range(3):
        await a.send({"type": "OFFER", "dst": "b", "payload": n})
    await b.frames(3)
    await a.send({"type": "OFFER", "dst": "gone", "payload": 0})
    assert await a.next() == {"type": "EXPIRE", "src": "gone", "dst": "a"}
    seen = await asyncio.to_thread(metrics, server)
    assert seen["earlgate_signal_messages_relayed_total"] == 4  # 3 offers and the EXPIRE
    assert seen["earlgate_signal_messages_queued_total"] == 1
    assert seen["earlgate_signal_messages_expired_total"] == 1
    assert seen["earlgate_signal_peers_connected"] == 2
    await a.close()
    await b.close()


async def test_custom_path_and_key(signal_factory: Factory) -> None:
    settings = SignalSettings(path="/signal", key="sesame")
    server = signal_factory(settings)
    with urllib.request.urlopen(server.http_url + "/signal/sesame/id", timeout=5) as answer:
        assert len(answer.read()) == 36
    peer = await opened(server.ws_url("p", "t", key="sesame"))
    await peer.close()


async def test_shutdown_says_going_away(signal_factory: Factory) -> None:
    server = signal_factory()
    peer = await opened(server.ws_url("p", "t"))
    code = await asyncio.to_thread(server.stop)
    assert await peer.next() == ("closed", 1001)
    assert code == 0


async def test_tls(signal_factory: Factory, tmp_path: Path) -> None:
    authority = trustme.CA()
    cert = authority.issue_cert("127.0.0.1")
    cert_file, key_file = tmp_path / "cert.pem", tmp_path / "key.pem"
    cert.cert_chain_pems[0].write_to_path(cert_file)
    cert.private_key_pem.write_to_path(key_file)
    server = signal_factory(
        SignalSettings(), "--tls-cert", str(cert_file), "--tls-key", str(key_file)
    )
    context = ssl.create_default_context()
    authority.configure_trust(context)
    url = server.ws_url("p", "t").replace("ws://", "wss://")
    peer = await RawPeer.open(url, ssl=context)
    assert await peer.next() == {"type": "OPEN"}
    await peer.close()


def run_cli(*args: str) -> subprocess.CompletedProcess[str]:
    command = [sys.executable, "-m", "earlgate", "signal", "--host", "127.0.0.1", *args]
    return subprocess.run(command, capture_output=True, text=True, timeout=20)


def test_port_in_use_is_a_usage_error(signal_factory: Factory) -> None:
    server = signal_factory()
    result = run_cli("--port", str(server.port))
    assert result.returncode == 2
    assert f"cannot listen on 127.0.0.1:{server.port}" in result.stderr


def test_bad_tls_files_are_usage_errors(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    garbage = tmp_path / "garbage.pem"
    garbage.write_text("not a certificate\n")
    cases = [
        (["--tls-cert", str(garbage)], "TLS needs both"),
        (["--tls-cert", str(tmp_path / "no.pem"), "--tls-key", str(garbage)], "not readable"),
        (["--tls-cert", str(garbage), "--tls-key", str(garbage)], "not a usable"),
    ]
    for args, words in cases:
        with pytest.raises(SystemExit) as exited:
            main(["signal", "--port", "0", *args])
        assert exited.value.code == 2
        assert words in capsys.readouterr().err


@pytest.mark.parametrize(
    ("args", "words"),
    [
        (["--concurrent-limit", "0"], "concurrent limit"),
        (["--expire-timeout", "0"], "expire timeout"),
        (["--path", "signal"], "path must start"),
        (["--port", "99999"], "port"),
    ],
)
def test_bad_settings_are_usage_errors(
    args: list[str], words: str, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as exited:
        main(["signal", *args])
    assert exited.value.code == 2
    assert words in capsys.readouterr().err
