"""MQTT over TLS (``--mqtts-port``) against a real hub: mosquitto with ``--cafile``, and clients
that fail the handshake (not trusting the certificate, plain MQTT, silence)."""

from __future__ import annotations

import re
import socket
import subprocess
import time
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass

import pytest

from earlgate.cli import main
from earlgate.mqtt import packets as p
from earlgate.mqtt.codec import encode
from hubproc import HubProcess, start_hub
from polling import wait_for
from tlscerts import Tls, make_tls

from .clients import MOSQUITTO_PUB, LiveSub, needs_mosquitto, pub

MQTTS_LINE = re.compile(rb"earlgate hub mqtts on mqtts://127\.0\.0\.1:(\d+)")


@dataclass
class TlsHub:
    hub: HubProcess
    tls: Tls
    port: int  # mqtts

    @property
    def plain(self) -> int:
        assert self.hub.mqtt_port is not None
        return self.hub.mqtt_port

    def metric(self, name: str) -> float:
        url = f"{self.hub.http_url}/metrics"
        with urllib.request.urlopen(url, context=self.tls.context, timeout=5) as answer:
            for line in answer.read().decode().splitlines():
                if line.startswith(name + " "):
                    return float(line.split()[1])
        raise AssertionError(f"{name} not on /metrics")


@pytest.fixture(scope="module")
def tls(tmp_path_factory: pytest.TempPathFactory) -> Tls:
    return make_tls(tmp_path_factory.mktemp("mqtts"))


@pytest.fixture(scope="module")
def tls_hub(tls: Tls) -> Iterator[TlsHub]:
    hub = start_hub("--tls-cert", tls.cert, "--tls-key", tls.key, "--mqtts-port", "0",
                    "--handshake-timeout", "1", mqtt=True)  # fmt: skip
    found = wait_for("the mqtts line", lambda: MQTTS_LINE.search(b"".join(hub.output)))
    yield TlsHub(hub, tls, int(found[1]))
    hub.stop_clean()


@pytest.fixture(autouse=True)
def _stop_subscribers() -> Iterator[None]:
    yield
    while LiveSub.opened:
        LiveSub.opened.pop().stop()


def _tls_args(server: TlsHub) -> tuple[str, ...]:
    return ("--cafile", server.tls.ca)


@needs_mosquitto
@pytest.mark.parametrize("version", [p.V311, p.V5])
def test_mosquitto_over_tls_and_plain_are_one_system(tls_hub: TlsHub, version: int) -> None:
    topic = f"tls/{version}"
    secure = LiveSub(tls_hub.port, topic, version=version, qos=1, extra=_tls_args(tls_hub))
    plain = LiveSub(tls_hub.plain, topic, version=version, qos=1)
    secure.subscribed(), plain.subscribed()
    pub(tls_hub.port, topic, "over tls", version=version, qos=1, extra=_tls_args(tls_hub))
    pub(tls_hub.plain, topic, "over tcp", version=version, qos=2)
    expected = [f"0 1 {topic} over tls", f"0 1 {topic} over tcp"]
    assert secure.wait_messages(2) == expected
    assert plain.wait_messages(2) == expected


@needs_mosquitto
def test_a_client_that_does_not_trust_the_certificate_is_counted(tls_hub: TlsHub) -> None:
    before = tls_hub.metric("earlgate_mqtt_tls_handshake_failures_total")
    assert MOSQUITTO_PUB is not None
    untrusting = [MOSQUITTO_PUB, "-h", "127.0.0.1", "-p", str(tls_hub.port), "-t", "tls/x"]
    untrusting += ["-m", "never", "--capath", "/etc/ssl/certs"]  # the system's CAs only
    done = subprocess.run(untrusting, capture_output=True, timeout=10, text=True)
    assert done.returncode != 0, done
    wait_for(
        "the failure counted",
        lambda: tls_hub.metric("earlgate_mqtt_tls_handshake_failures_total") > before or None,
    )


def _read_until_closed(sock: socket.socket) -> bytes:
    got = b""
    while chunk := sock.recv(65536):
        got += chunk
    return got


def test_plain_mqtt_on_the_tls_port_is_refused_and_the_hub_goes_on(tls_hub: TlsHub) -> None:
    before = tls_hub.metric("earlgate_mqtt_tls_handshake_failures_total")
    with socket.create_connection(("127.0.0.1", tls_hub.port), timeout=5) as sock:
        sock.sendall(encode(p.Connect(p.V5, "plain-on-tls", True, 0), p.V5))
        answer = _read_until_closed(sock)
    assert not answer.startswith(b"\x20")  # no CONNACK: at most a TLS alert record
    assert answer == b"" or answer[0] == 0x15, answer
    wait_for(
        "the refusal counted",
        lambda: tls_hub.metric("earlgate_mqtt_tls_handshake_failures_total") > before or None,
    )
    with socket.create_connection(("127.0.0.1", tls_hub.port), timeout=5) as raw:
        with tls_hub.tls.context.wrap_socket(raw, server_hostname="127.0.0.1") as secure:
            secure.sendall(encode(p.Connect(p.V5, "after", True, 0), p.V5))
            assert secure.recv(64).startswith(b"\x20")  # a CONNACK: still serving


def test_a_silent_client_is_closed_after_the_handshake_timeout(tls_hub: TlsHub) -> None:
    before = tls_hub.metric("earlgate_mqtt_tls_handshake_failures_total")
    with socket.create_connection(("127.0.0.1", tls_hub.port), timeout=5) as sock:
        started = time.monotonic()
        assert _read_until_closed(sock) == b""  # no ClientHello: nothing to answer
        took = time.monotonic() - started
    assert 0.8 < took < 4, took  # --handshake-timeout 1
    assert tls_hub.metric("earlgate_mqtt_tls_handshake_failures_total") > before


def test_mqtts_needs_the_certificate(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exited:
        main(["hub", "--mqtts-port", "8883"])
    assert exited.value.code == 2
    assert "mqtts port needs --tls-cert and --tls-key" in capsys.readouterr().err
