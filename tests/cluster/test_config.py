"""``earlgate cluster config``: the generated haproxy.cfg is one HAProxy accepts."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from earlgate.cli import main
from earlgate.cluster.haproxy import HaproxySettings, parse_server, render
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
