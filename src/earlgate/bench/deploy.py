"""The server set-ups the ramp benchmark compares (thesis section 2.6: "case 1", "case 2").

- ``1``: one earlgate hub with its in-memory broker;
- ``1tls``: the same hub serving ``wss://`` (the thesis's future work: TLS's cost);
- ``1r``: one hub and a Redis server (the thesis's single server, which used Redis);
- ``2``: two hub workers behind HAProxy, joined through Redis (``earlgate cluster up``);
- ``2rp``: two hub workers on one port (``earlgate hub --workers 2``, SO_REUSEPORT:
  no proxy), joined through Redis;
- ``thesis-node`` / ``thesis-node-redis``: the thesis's Node.js server, without and with Redis.

Every process of a case is pinned to the server cores, so the load generator
has its own; each case lists its processes so their CPU is sampled separately.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import tempfile
import time
import urllib.request
from dataclasses import dataclass, field

import psutil

from earlgate.bench.driver import role_labels, role_of
from earlgate.bench.targets import TargetError, ensure_thesis_node, wait_port
from earlgate.children import free_port, stop_processes
from earlgate.testing.processes import Child, spawn

CASES = ("1", "1tls", "1r", "2", "2rp", "thesis-node", "thesis-node-redis")


@dataclass
class Deployment:
    """A running case: where to connect, which processes to watch, how to stop."""

    case: str
    ws_url: str
    processes: dict[str, psutil.Process] = field(default_factory=dict)
    stats_urls: list[str] = field(default_factory=list)
    _popen: list[subprocess.Popen[bytes]] = field(default_factory=list)
    _tmp: tempfile.TemporaryDirectory[str] | None = None

    def stop(self) -> None:
        stop_processes(reversed(self._popen), timeout=15)
        if self._tmp is not None:
            self._tmp.cleanup()


def _wait_running(port: int, workers: int, timeout: float = 60) -> None:
    """Until a worker's /healthz says that all ``workers`` of ``hub --workers`` run."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=2) as answer:
                if json.loads(answer.read())["supervisor"]["states"]["running"] == workers:
                    return
        except (OSError, ValueError, KeyError):
            pass
        time.sleep(0.05)
    raise TargetError(f"{workers} hub workers were not running on port {port} within {timeout} s")


def _spawn(deployment: Deployment, label: str, command: list[str], cpus: list[int] | None) -> Child:
    child = spawn(label, command, cpus)
    deployment._popen.append(child.process)
    deployment.processes[label] = child.ps
    return child


def _redis(deployment: Deployment, cpus: list[int] | None) -> int:
    if shutil.which("redis-server") is None:
        raise TargetError("redis-server is not installed: apt-get install redis-server")
    port = free_port()
    assert deployment._tmp is not None
    process = _spawn(
        deployment,
        "redis-server",
        [
            "redis-server",
            "--port",
            str(port),
            "--bind",
            "127.0.0.1",
            "--save",
            "",
            "--appendonly",
            "no",
            "--dir",
            deployment._tmp.name,
        ],
        cpus,
    )
    wait_port(process, port, "redis-server")
    return port


def _self_signed(folder: str) -> tuple[str, str]:
    """A throw-away loopback certificate and key made by ``openssl``."""
    if shutil.which("openssl") is None:
        raise TargetError("openssl is not installed: apt-get install openssl")
    cert, key = f"{folder}/hub.crt", f"{folder}/hub.key"
    subprocess.run(
        [
            "openssl",
            "req",
            "-x509",
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:prime256v1",
            "-nodes",
            "-days",
            "1",
            "-subj",
            "/CN=127.0.0.1",
            "-addext",
            "subjectAltName=IP:127.0.0.1",
            "-keyout",
            key,
            "-out",
            cert,
        ],
        check=True,
        capture_output=True,
    )
    return cert, key


def start_case(case: str, cpus: list[int] | None) -> Deployment:
    """Start every process of ``case`` on free loopback ports, pinned to ``cpus``."""
    if case not in CASES:
        raise TargetError(f"unknown case {case!r}; choose from {', '.join(CASES)}")
    deployment = Deployment(case, "", _tmp=tempfile.TemporaryDirectory(prefix="earlgate-bench-"))
    try:
        python = sys.executable
        if case in ("1", "1tls", "1r"):
            port = free_port()
            command = [
                python,
                "-m",
                "earlgate",
                "hub",
                "--port",
                str(port),
                "--log-level",
                "WARNING",
            ]
            scheme = "ws"
            if case == "1tls":
                assert deployment._tmp is not None
                cert, key = _self_signed(deployment._tmp.name)
                command += ["--tls-cert", cert, "--tls-key", key]
                scheme = "wss"
            if case == "1r":
                redis_port = _redis(deployment, cpus)
                command += ["--broker", f"redis://127.0.0.1:{redis_port}/0"]
            process = _spawn(deployment, "hub", command, cpus)
            wait_port(process, port, "earlgate hub")
            deployment.ws_url = f"{scheme}://127.0.0.1:{port}/ws"
            deployment.stats_urls = [
                f"{'https' if scheme == 'wss' else 'http'}://127.0.0.1:{port}/stats"
            ]
        elif case == "2":
            port = free_port()
            process = _spawn(
                deployment,
                "cluster",
                [python, "-m", "earlgate", "cluster", "up", "--workers", "2", "--port", str(port)],
                cpus,
            )
            wait_port(process, port, "earlgate cluster", timeout=60)
            time.sleep(1.0)  # let HAProxy's first health checks pass
            deployment.ws_url = f"ws://127.0.0.1:{port}/ws"
            # Watch the cluster's children (hubs, redis-server, haproxy) one by one,
            # labelled by role, the same in every step, so report columns line up.
            children = process.ps.children(recursive=True)
            roles = [role_of(child.name(), child.cmdline()) for child in children]
            for label, child in zip(role_labels(roles), children, strict=True):
                deployment.processes[label] = child
        elif case == "2rp":
            redis_port = _redis(deployment, cpus)
            port = free_port()
            command = [python, "-m", "earlgate", "hub", "--workers", "2", "--port", str(port)]
            command += ["--broker", f"redis://127.0.0.1:{redis_port}/0", "--log-level", "WARNING"]
            process = _spawn(deployment, "supervisor", command, cpus)
            _wait_running(port, 2)
            deployment.ws_url = f"ws://127.0.0.1:{port}/ws"
            # The forked workers inherit the supervisor's pinning; watch each one.
            workers = process.ps.children()
            for label, worker in zip(role_labels(["hub"] * len(workers)), workers, strict=True):
                deployment.processes[label] = worker
        else:
            folder = ensure_thesis_node()
            port = free_port()
            command = ["node", str(folder / "app.js"), "--port", str(port)]
            if case == "thesis-node-redis":
                redis_port = _redis(deployment, cpus)
                command += ["--redis", f"redis://127.0.0.1:{redis_port}"]
            process = _spawn(deployment, "node", command, cpus)
            wait_port(process, port, "thesis-node")
            deployment.ws_url = f"ws://127.0.0.1:{port}/"
    except BaseException:
        deployment.stop()
        raise
    return deployment
