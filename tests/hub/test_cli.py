"""``earlgate hub`` refuses bad command lines with exit 2 and a message naming the fault."""

from __future__ import annotations

import socket
import subprocess
import sys
from pathlib import Path

import pytest


def run_hub(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "earlgate", "hub", "--host", "127.0.0.1", *args],
        capture_output=True,
        text=True,
        timeout=30,
    )


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--broker", "carrier-pigeon"], "unknown broker"),
        (["--broker", "redis-cluster://127.0.0.1:7000?levels=0"], "levels must be at least 1"),
        (["--broker", "redis-cluster://127.0.0.1"], "is not HOST:PORT"),
        (["--durable", "a/#/b"], "'#' is allowed only as the last level"),
        (["--port", "70000"], "port must be 0-65535"),
        (["--max-frame", "-5"], "max frame"),
        (["--tls-cert", "/nonexistent.pem", "--tls-key", "/nonexistent.pem"], "not readable"),
        (["--log-level", "chatty"], "--log-level 'chatty': use one of DEBUG"),
        (["--idle-timeout", "0"], "idle timeout must be positive"),
        (["--ping-interval", "5", "--ping-timeout", "9"], "must not exceed the ping interval"),
        (["--max-retained-bytes", "10"], "max retained bytes"),
        (["--max-resume-subjects", "0"], "max resume subjects"),
        (["--max-connections-per-address", "-1"], "connections per address"),
    ],
)
def test_bad_options_exit_2(args, message):
    result = run_hub("--port", "0", *args)
    assert result.returncode == 2, result.stderr
    assert message in result.stderr
    assert "Traceback" not in result.stderr


def test_garbage_pem_files_exit_2(tmp_path: Path):
    bad = tmp_path / "bad.pem"
    bad.write_text("not a certificate\n")
    result = run_hub("--port", "0", "--tls-cert", str(bad), "--tls-key", str(bad))
    assert result.returncode == 2
    assert "not a usable PEM certificate and key" in result.stderr
    assert "Traceback" not in result.stderr


def test_port_in_use_exit_2():
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        result = run_hub("--port", str(port))
    assert result.returncode == 2
    assert f"cannot listen on 127.0.0.1:{port}" in result.stderr
    assert "Traceback" not in result.stderr
