"""MQTT over TLS through ``earlgate cluster up --mqtts-port``: real haproxy ends TLS and passes
plain MQTT on to two hubs' MQTT ports; mosquitto with ``--cafile``, and clients that fail the
handshake (not trusting the certificate, plain MQTT, silence); the usage errors."""

from __future__ import annotations

import os
import socket
import ssl
import stat
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from clusterproc import ClusterProcess, mqtt_states, start_cluster
from earlgate.cli import main
from earlgate.mqtt import packets as p
from earlgate.mqtt.codec import encode
from mqtt.clients import MOSQUITTO_PUB, LiveSub, needs_mosquitto, pub
from polling import wait_for
from redisproc import free_port
from tlscerts import Tls, make_tls


@pytest.fixture(scope="module")
def tls(tmp_path_factory: pytest.TempPathFactory) -> Tls:
    return make_tls(tmp_path_factory.mktemp("cluster-mqtts"))


@pytest.fixture(scope="module")
def cluster(tls: Tls) -> Iterator[ClusterProcess]:
    running = start_cluster("--workers", "2", "--balance", "roundrobin",
                            "--mqtt-port", str(free_port()), "--mqtts-port", str(free_port()),
                            "--tls-cert", tls.cert, "--tls-key", tls.key,
                            "--tls-handshake-timeout", "1")  # fmt: skip
    yield running
    assert running.stop() == 0


@pytest.fixture(autouse=True)
def _stop_subscribers() -> Iterator[None]:
    yield
    while LiveSub.opened:
        LiveSub.opened.pop().stop()


def _port(cluster: ClusterProcess, name: str) -> int:
    return int(cluster.endpoints[name].rpartition(":")[2])


def _both_up(cluster: ClusterProcess) -> None:
    wait_for("both MQTT servers up", lambda: mqtt_states(cluster) == {"hub1": "UP", "hub2": "UP"}
             or None)  # fmt: skip


def _pem(cluster: ClusterProcess) -> Path:
    return Path(cluster.endpoints["haproxy.cfg"]).with_name("haproxy.pem")


def _read_until_closed(sock: socket.socket) -> bytes:
    got = b""
    while chunk := sock.recv(65536):
        got += chunk
    return got


def _connack_over_tls(port: int, context: ssl.SSLContext, client_id: str) -> bytes:
    with socket.create_connection(("127.0.0.1", port), timeout=5) as raw:
        with context.wrap_socket(raw, server_hostname="127.0.0.1") as secure:
            secure.sendall(encode(p.Connect(p.V5, client_id, True, 0), p.V5))
            return secure.recv(64)


def test_the_endpoints_and_the_private_pem(cluster: ClusterProcess) -> None:
    assert cluster.endpoints["mqtts"] == f"mqtts://127.0.0.1:{_port(cluster, 'mqtts')}"
    assert cluster.endpoints["mqtt"] == f"mqtt://127.0.0.1:{_port(cluster, 'mqtt')}"
    assert len(cluster.endpoints["mqtt-workers"].split()) == 2
    pem = _pem(cluster)
    assert stat.S_IMODE(os.stat(pem).st_mode) == 0o600
    assert pem.read_bytes().count(b"-----BEGIN CERTIFICATE-----") == 1
    config = Path(cluster.endpoints["haproxy.cfg"]).read_text()
    assert f"name mqtts ssl crt {pem}" in config and "timeout client 1s" in config
    _both_up(cluster)


@needs_mosquitto
def test_mosquitto_over_tls_through_haproxy_gets_tls_and_plain_publishes(
    cluster: ClusterProcess, tls: Tls
) -> None:
    mqtts, mqtt = _port(cluster, "mqtts"), _port(cluster, "mqtt")
    _both_up(cluster)
    cafile = ("--cafile", tls.ca)
    # Round robin over one backend: the two subscribers are on the two hubs.
    subscribers = [LiveSub(mqtts, "cs/#", qos=1, extra=cafile).subscribed() for _ in range(2)]
    time.sleep(1.5)  # idle past the handshake timeout: passed through, timeout tunnel holds
    pub(mqtts, "cs/tls", "over tls", qos=1, extra=cafile)
    pub(mqtt, "cs/tcp", "over tcp", qos=1)
    for subscriber in subscribers:
        assert sorted(subscriber.wait_messages(2)) == ["0 1 cs/tcp over tcp", "0 1 cs/tls over tls"]
        connacks = [line for line in subscriber.lines() if "received CONNACK" in line]
        assert len(connacks) == 1, subscriber.lines()  # the same connection all along


@needs_mosquitto
def test_a_client_that_does_not_trust_the_certificate_fails_the_handshake(
    cluster: ClusterProcess,
) -> None:
    assert MOSQUITTO_PUB is not None
    untrusting = [MOSQUITTO_PUB, "-h", "127.0.0.1", "-p", str(_port(cluster, "mqtts"))]
    untrusting += ["-t", "cs/x", "-m", "never", "--capath", "/etc/ssl/certs"]  # system CAs only
    done = subprocess.run(untrusting, capture_output=True, timeout=10, text=True)
    assert done.returncode != 0, done


def test_plain_mqtt_on_the_tls_port_is_refused(cluster: ClusterProcess, tls: Tls) -> None:
    port = _port(cluster, "mqtts")
    with socket.create_connection(("127.0.0.1", port), timeout=5) as sock:
        sock.sendall(encode(p.Connect(p.V5, "plain-on-tls", True, 0), p.V5))
        try:
            answer = _read_until_closed(sock)
        except ConnectionResetError:
            answer = b""
    assert answer == b"" or answer[0] == 0x15, answer  # no CONNACK: a TLS alert at most
    assert _connack_over_tls(port, tls.context, "after").startswith(b"\x20")  # still serving


def test_a_silent_client_is_closed_after_the_handshake_timeout(cluster: ClusterProcess) -> None:
    with socket.create_connection(("127.0.0.1", _port(cluster, "mqtts")), timeout=5) as sock:
        started = time.monotonic()
        assert _read_until_closed(sock) == b""  # no ClientHello: nothing to answer
        took = time.monotonic() - started
    assert 0.8 < took < 4, took  # --tls-handshake-timeout 1


def test_mqtts_alone_and_its_pem_removed_at_stop(tls: Tls) -> None:
    running = start_cluster("--workers", "1", "--mqtts-port", str(free_port()),
                            "--tls-cert", tls.cert, "--tls-key", tls.key)  # fmt: skip
    try:
        assert "mqtt" not in running.endpoints
        assert len(running.endpoints["mqtt-workers"].split()) == 1
        pem = _pem(running)
        assert pem.exists()
        port = _port(running, "mqtts")
        wait_for("hub1 up", lambda: mqtt_states(running) == {"hub1": "UP"} or None)
        assert _connack_over_tls(port, tls.context, "alone").startswith(b"\x20")
    finally:
        assert running.stop() == 0
    assert not pem.exists() and not pem.parent.exists()


def _usage_error(capsys: pytest.CaptureFixture[str], *args: str) -> str:
    with pytest.raises(SystemExit) as exited:
        main(["cluster", "up", *args])
    assert exited.value.code == 2
    return capsys.readouterr().err


def test_usage_errors(tls: Tls, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    err = _usage_error(capsys, "--mqtts-port", "8883")
    assert "--mqtts-port needs --tls-cert and --tls-key (missing: --tls-cert and --tls-key)" in err
    err = _usage_error(capsys, "--mqtts-port", "8883", "--tls-cert", tls.cert)
    assert "(missing: --tls-key)" in err
    assert "without --mqtts-port" in _usage_error(capsys, "--tls-cert", tls.cert)
    missing = str(tmp_path / "none.pem")
    err = _usage_error(capsys, "--mqtts-port", "8883", "--tls-cert", tls.cert, "--tls-key", missing)
    assert f"--tls-key {missing}: file not readable" in err
    err = _usage_error(capsys, "--mqtts-port", "8883", "--tls-cert", tls.key, "--tls-key", tls.key)
    assert "--tls-cert" in err and "no PEM certificate" in err
    err = _usage_error(capsys, "--mqtts-port", "8883", "--tls-cert", tls.cert,
                       "--tls-key", tls.other_key)  # fmt: skip
    assert f"--tls-key {tls.other_key}: not the private key of the certificate" in err
    both = ["--tls-cert", tls.cert, "--tls-key", tls.key]
    err = _usage_error(capsys, "--mqtt-port", "1883", "--mqtts-port", "1883", *both)
    assert "already HAProxy's --port or --mqtt-port" in err
    err = _usage_error(capsys, "--mqtts-port", "8883", *both, "--tls-handshake-timeout", "0")
    assert "--tls-handshake-timeout 0: not > 0" in err
