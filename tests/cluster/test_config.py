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
