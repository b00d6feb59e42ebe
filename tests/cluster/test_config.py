"""``earlgate cluster config``: the generated haproxy.cfg is one HAProxy accepts."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest
import trustme

from earlgate.cli import main
from earlgate.cluster.haproxy import HaproxySettings, haproxy_duration, parse_server, render
from redisproc import need


def test_config_is_valid_for_haproxy(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert (
        main(["cluster", "config", "--workers", "3", "--port", "9000", "--balance", "roundrobin"])
        == 0
    )
    text = capsys.readouterr().out
    path = tmp_path / "haproxy.cfg"
    path.write_text(text)
    check = subprocess.run([need("haproxy"), "-c", "-f", str(path)], capture_output=True, text=True)
    assert check.returncode == 0, check.stderr
    assert "bind 127.0.0.1:9000" in text and "balance roundrobin" in text
    assert "use_backend bk_ws if hdr_connection_upgrade hdr_upgrade_websocket" in text
    assert "timeout tunnel 3600s" in text and "option httpchk GET /healthz" in text
    servers = [line.split()[2] for line in text.splitlines() if line.strip().startswith("server")]
    assert servers == ["127.0.0.1:9001", "127.0.0.1:9002", "127.0.0.1:9003"] * 2


def test_config_with_servers_on_other_machines(capsys: pytest.CaptureFixture[str]) -> None:
    args = ["cluster", "config", "--host", "0.0.0.0", "--server", "10.0.0.5:8080"]
    assert main([*args, "--server", "10.0.0.6:8080"]) == 0
    text = capsys.readouterr().out
    assert "server hub1 10.0.0.5:8080 check" in text and "server hub2 10.0.0.6:8080 check" in text
    assert "bind 0.0.0.0:8080" in text and "balance leastconn" in text


def test_bad_values_are_refused(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exited:
        main(["cluster", "config", "--server", "nohost"])
    assert exited.value.code == 2 and "HOST:PORT" in capsys.readouterr().err
    with pytest.raises(ValueError, match="at least one"):
        render(HaproxySettings(servers=[]))
    with pytest.raises(ValueError, match="balance"):
        render(HaproxySettings(servers=[("h", 1)], balance="random"))
    assert parse_server("hub-3.example:8080") == ("hub-3.example", 8080)


def test_config_with_mqtt_passes_it_through_in_tcp_mode(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    args = ["cluster", "config", "--workers", "2", "--mqtt-port", "1883"]
    assert main([*args, "--worker-mqtt-port", "9101"]) == 0
    text = capsys.readouterr().out
    path = tmp_path / "haproxy.cfg"
    path.write_text(text)
    check = subprocess.run([need("haproxy"), "-c", "-f", str(path)], capture_output=True, text=True)
    assert check.returncode == 0 and "WARNING" not in check.stderr, check.stderr
    mqtt = text[text.index("frontend ft_mqtt") : text.index("listen stats")]
    assert "mode tcp" in mqtt and "bind 127.0.0.1:1883 name mqtt" in mqtt
    assert "server hub1 127.0.0.1:9101 check port 9001" in mqtt
    assert "server hub2 127.0.0.1:9102 check port 9002" in mqtt
    assert "option httpchk GET /healthz" in mqtt and "timeout client 3600s" in mqtt


def test_mqtt_settings_that_do_not_fit_are_refused(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exited:
        main(["cluster", "config", "--mqtt-port", "1883"])
    assert exited.value.code == 2 and "--worker-mqtt-port" in capsys.readouterr().err
    hubs = [("h", 1), ("h", 2)]
    with pytest.raises(ValueError, match="2 hubs but 1 MQTT ports"):
        render(HaproxySettings(servers=hubs, mqtt_port=1883, mqtt_ports=[9101]))
    with pytest.raises(ValueError, match="needs the hubs' MQTT ports"):
        render(HaproxySettings(servers=hubs, mqtt_ports=[9101, 9102]))
    with pytest.raises(ValueError, match="1-65535"):
        render(HaproxySettings(servers=hubs, mqtt_port=70000, mqtt_ports=[9101, 9102]))
    assert "ft_mqtt" not in render(HaproxySettings(servers=hubs))


MQTTS_SECTION = """\
frontend ft_mqtts
    mode tcp
    no option http-server-close
    # The certificate, its chain and its key in one PEM file.
    bind 127.0.0.1:8883 name mqtts ssl crt /run/earlgate/haproxy.pem
    maxconn 50000
    # A TLS handshake must be done within this; once the connection is passed
    # through to a hub, timeout tunnel applies instead (an idle client waits up to it).
    timeout client 2500ms
    default_backend bk_mqtt

backend bk_mqtt
"""


def test_the_mqtts_frontend_ends_tls_and_shares_the_mqtt_backend() -> None:
    hubs = [("127.0.0.1", 9001), ("127.0.0.1", 9002)]
    pem = "/run/earlgate/haproxy.pem"
    settings = HaproxySettings(servers=hubs, bind="127.0.0.1", mqtt_port=1883,
                               mqtt_ports=[9101, 9102], mqtts_port=8883, mqtts_pem=pem,
                               tls_handshake="2500ms")  # fmt: skip
    text = render(settings)
    assert MQTTS_SECTION in text
    sections = ["\nfrontend ft_mqtt\n", "\nfrontend ft_mqtts\n", "\nbackend bk_mqtt\n"]
    assert [text.index(name) for name in sections] == sorted(text.index(n) for n in sections)
    assert text.count("\nbackend bk_mqtt\n") == 1 and text.count("default_backend bk_mqtt") == 2
    assert "server hub2 127.0.0.1:9102 check port 9002" in text
    # Alone, without the plain MQTT port; a path HAProxy would split is quoted.
    alone = render(HaproxySettings(servers=hubs, mqtt_ports=[9101, 9102], mqtts_port=8883,
                                   mqtts_pem="/my certs/h.pem"))  # fmt: skip
    assert "ft_mqtt\n" not in alone and "bind *:8883 name mqtts ssl crt '/my certs/h.pem'" in alone
    assert "timeout client 10s" in alone and "\nbackend bk_mqtt\n" in alone


def test_mqtts_settings_that_do_not_fit_are_refused() -> None:
    hubs = [("h", 1)]
    with pytest.raises(ValueError, match="needs the PEM file"):
        render(HaproxySettings(servers=hubs, mqtts_port=8883, mqtt_ports=[9101]))
    with pytest.raises(ValueError, match="needs the hubs' MQTT ports"):
        render(HaproxySettings(servers=hubs, mqtts_port=8883, mqtts_pem="/x.pem"))
    with pytest.raises(ValueError, match="must differ"):
        render(HaproxySettings(servers=hubs, mqtt_port=1883, mqtts_port=1883,
                               mqtts_pem="/x.pem", mqtt_ports=[9101]))  # fmt: skip
    with pytest.raises(ValueError, match="quote"):
        render(HaproxySettings(servers=hubs, mqtts_port=8883, mqtts_pem="/it's.pem",
                               mqtt_ports=[9101]))  # fmt: skip
    durations = [haproxy_duration(s) for s in (10, 0.25, 1.5, 0.0001)]
    assert durations == ["10s", "250ms", "1500ms", "1ms"]
    with pytest.raises(ValueError, match="more than 0"):
        haproxy_duration(0)


def test_config_with_mqtts_is_valid_for_haproxy(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    issued = trustme.CA().issue_cert("127.0.0.1")
    pem = tmp_path / "haproxy.pem"
    pem.write_bytes(issued.private_key_and_cert_chain_pem.bytes())
    args = ["cluster", "config", "--workers", "2", "--mqtts-port", "8883", "--tls-pem", str(pem)]
    assert main([*args, "--worker-mqtt-port", "9101", "--tls-handshake-timeout", "5"]) == 0
    text = capsys.readouterr().out
    path = tmp_path / "haproxy.cfg"
    path.write_text(text)
    check = subprocess.run([need("haproxy"), "-c", "-f", str(path)], capture_output=True, text=True)
    assert check.returncode == 0 and "WARNING" not in check.stderr, check.stderr
    assert f"bind 127.0.0.1:8883 name mqtts ssl crt {pem}" in text and "timeout client 5s" in text
    with pytest.raises(SystemExit) as exited:
        main(["cluster", "config", "--mqtts-port", "8883", "--worker-mqtt-port", "9101"])
    assert exited.value.code == 2 and "--tls-pem" in capsys.readouterr().err
