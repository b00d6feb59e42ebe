"""``earlgate cluster up`` as a real process for tests: start, read its endpoints, stop."""

from __future__ import annotations

import csv
import io
import os
import signal
import subprocess
import sys
import time
import urllib.request
from dataclasses import dataclass, field

import psutil

from redisproc import free_port, need


@dataclass
class ClusterProcess:
    process: subprocess.Popen[bytes]
    port: int
    endpoints: dict[str, str] = field(default_factory=dict)
    children: list[psutil.Process] = field(default_factory=list)

    @property
    def ws_url(self) -> str:
        return f"ws://127.0.0.1:{self.port}/ws"

    @property
    def worker_urls(self) -> list[str]:
        return self.endpoints["workers"].split()

    def worker_http(self, index: int) -> str:
        return self.worker_urls[index].replace("ws://", "http://").removesuffix("/ws")

    def stop(self, sig: int = signal.SIGTERM) -> int:
        if self.process.poll() is None:
            self.process.send_signal(sig)
            try:
                self.process.wait(30)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        for child in self.children:  # never leave one behind, even when a test failed
            if child.is_running() and child.status() != psutil.STATUS_ZOMBIE:
                child.kill()
        if self.process.stdout is not None:
            self.process.stdout.close()
        return self.process.returncode


def start_cluster(*args: str, timeout: float = 40.0) -> ClusterProcess:
    need("haproxy")
    port = free_port()
    process = subprocess.Popen(
        [sys.executable, "-m", "earlgate", "cluster", "up", "--port", str(port), *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        env=dict(os.environ, PYTHONUNBUFFERED="1"),
    )
    assert process.stdout is not None
    cluster = ClusterProcess(process, port)
    deadline = time.monotonic() + timeout
    seen = b""
    while time.monotonic() < deadline:
        line = process.stdout.readline()
        if not line:
            break
        seen += line
        if line.startswith(b"  "):
            name, _, value = line.decode().strip().partition(" ")
            cluster.endpoints[name] = value.strip()
            if name == "haproxy.cfg":
                cluster.children = psutil.Process(process.pid).children(recursive=True)
                return cluster
    process.kill()
    process.wait()
    raise RuntimeError(f"cluster did not start: {seen.decode(errors='replace')}")


def mqtt_states(cluster: ClusterProcess) -> dict[str, str]:
    """HAProxy's view of the MQTT backend: server name → status."""
    with urllib.request.urlopen(cluster.endpoints["stats"] + ";csv", timeout=5) as answer:
        rows = csv.reader(io.StringIO(answer.read().decode().lstrip("# ")))
        header = next(rows)
        status = header.index("status")
        return {r[1]: r[status] for r in rows if r and r[0] == "bk_mqtt" and r[1] != "BACKEND"}
