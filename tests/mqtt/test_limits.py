"""The MQTT limits: settings checked, flags parsed, the outbox bounded for slow readers."""

from __future__ import annotations

import socket
import subprocess
import sys
from pathlib import Path

import pytest
import trustme

from earlgate.cli import main
from earlgate.hub.config import HubConfig, SlowConsumerPolicy
from earlgate.mqtt.outbox import Outbox


@pytest.mark.parametrize(
    ("field", "value", "words"),
    [
        ("mqtt_port", 70000, "mqtt port"),
        ("mqtts_port", 70000, "mqtts port must be 0-65535"),
        ("mqtts_port", 8883, "mqtts port needs --tls-cert and --tls-key"),
        ("mqtt_port", 8080, "port, mqtt port and mqtts port must differ"),  # --port's default
        ("mqtt_max_packet_size", 64, "packet size"),
        ("mqtt_max_inflight", 0, "inflight"),
        ("mqtt_max_queued", -1, "queued"),
        ("mqtt_session_expiry_max", -1.0, "session expiry"),
        ("mqtt_topic_alias_max", 70000, "topic alias"),
    ],
)
def test_settings_out_of_range(field: str, value: float, words: str) -> None:
    with pytest.raises(ValueError, match=words):
        HubConfig(**{field: value}).validate()  # type: ignore[arg-type]


def test_cli_refuses_a_bad_limit(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exited:
        main(["hub", "--mqtt-port", "0", "--mqtt-max-inflight", "0"])
    assert exited.value.code == 2
    assert "mqtt max inflight" in capsys.readouterr().err


def test_outbox_drops_only_qos0_past_its_limit() -> None:
    written: list[bytes] = []
    box = Outbox(written.append, 10, SlowConsumerPolicy.DROP_OLDEST)
    box.send(b"a", False)
    box.pause()
    box.send(b"ack-1", False)  # an acknowledgement: kept
    for i in range(4):
        box.send(b"q0-%d" % i, True)  # QoS 0 publishes, 4 bytes each: the oldest go
    assert box.dropped == 3 and box.queued_bytes == 9
    box.send(b"qos1-packet", False)  # QoS 1: kept, even over the limit
    assert box.dropped == 4 and box.over_limit
    box.resume()
    assert written == [b"a", b"ack-1", b"qos1-packet"] and not box.over_limit


def test_outbox_disconnect_policy_keeps_everything_for_the_close() -> None:
    box = Outbox([].append, 8, SlowConsumerPolicy.DISCONNECT)
    box.pause()
    for _ in range(4):
        box.send(b"xxxx", True)
    assert box.dropped == 0 and box.over_limit


@pytest.mark.parametrize("flag", ["--mqtt-port", "--mqtts-port"])
def test_an_mqtt_port_in_use_is_a_usage_error_naming_it(flag: str, tmp_path: Path) -> None:
    cert, key = tmp_path / "cert.pem", tmp_path / "key.pem"
    issued = trustme.CA().issue_cert("127.0.0.1")
    issued.private_key_and_cert_chain_pem.write_to_path(str(cert))
    issued.private_key_pem.write_to_path(str(key))
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = str(taken.getsockname()[1])
        args = [sys.executable, "-m", "earlgate", "hub", "--port", "0", flag, port]
        args += ["--tls-cert", str(cert), "--tls-key", str(key)]
        result = subprocess.run(args, capture_output=True, text=True, timeout=30)
    assert result.returncode == 2
    assert f"cannot listen on 127.0.0.1:{port} ({flag})" in result.stderr
    assert "Traceback" not in result.stderr
