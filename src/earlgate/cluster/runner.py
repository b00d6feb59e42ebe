"""``earlgate cluster up``: redis-server, N hub workers and HAProxy, started and stopped as one.

The thesis's case 2 (sections 2.4.4-2.4.5) on one machine: HAProxy in front,
hub workers behind it, joined through Redis. Every child runs in its own
process group (a Ctrl-C in the terminal reaches only this supervisor, which
stops them in order: HAProxy, then the hubs, which close their clients with
1001, then Redis) and is asked by the kernel to exit should the supervisor
die without stopping them (``PR_SET_PDEATHSIG``), so none is left behind.
"""

from __future__ import annotations

import ctypes
import logging
import os
import resource
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from earlgate.children import stop_processes
from earlgate.cluster.haproxy import HaproxySettings, render

logger = logging.getLogger(__name__)

_PR_SET_PDEATHSIG = 1


class ClusterError(Exception):
    """A program is missing or a process did not start; the message says which."""


def free_port(host: str = "127.0.0.1") -> int:
    with socket.socket() as sock:
        sock.bind((host, 0))
        port: int = sock.getsockname()[1]
        return port


def _die_with_parent() -> None:  # pragma: no cover - runs in the child
    os.setsid()
    try:
        libc = ctypes.CDLL("libc.so.6", use_errno=True)
        libc.prctl(_PR_SET_PDEATHSIG, signal.SIGTERM)
    except OSError:
        pass


def wait_port(host: str, port: int, process: subprocess.Popen[bytes], what: str) -> None:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise ClusterError(f"{what} exited with status {process.returncode}")
        try:
            with socket.create_connection((host, port), timeout=0.5):
                return
        except OSError:
            time.sleep(0.02)
    raise ClusterError(f"{what} did not listen on {host}:{port} within 30 s")


@dataclass
class ClusterSpec:
    workers: int = 2
    port: int = 8080
    host: str = "127.0.0.1"
    balance: str = "leastconn"
    redis_url: str | None = None  # an existing Redis; otherwise one is started
    redis_aof: bool = False
    data_dir: str | None = None  # where the started Redis keeps its AOF
    stats_port: int = 0  # 0 = any free port
    durable: Sequence[str] = ()
    retention: int = 1000
    uvloop: bool = False
    check_interval_ms: int = 1000
    maxconn: int = 50_000


def fitting_maxconn(wanted: int) -> int:
    """HAProxy needs two descriptors per proxied connection: stay within the hard limit."""
    _, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard == resource.RLIM_INFINITY:
        return wanted
    return max(min(wanted, (hard - 1000) // 2), 100)


@dataclass
class Cluster:
    """The running processes; :meth:`stop` ends them all."""

    spec: ClusterSpec
    redis_url: str = ""
    worker_ports: list[int] = field(default_factory=list)
    stats_port: int = 0
    redis: subprocess.Popen[bytes] | None = None
    workers: list[subprocess.Popen[bytes]] = field(default_factory=list)
    haproxy: subprocess.Popen[bytes] | None = None
    folder: tempfile.TemporaryDirectory[str] = field(
        default_factory=lambda: tempfile.TemporaryDirectory(prefix="earlgate-cluster-")
    )

    @property
    def config_path(self) -> Path:
        return Path(self.folder.name) / "haproxy.cfg"

    def endpoints(self) -> dict[str, str]:
        host = self.spec.host if self.spec.host not in ("0.0.0.0", "*", "") else "127.0.0.1"
        return {
            "websocket": f"ws://{host}:{self.spec.port}/ws",
            "http": f"http://{host}:{self.spec.port}/",
            "stats": f"http://127.0.0.1:{self.stats_port}/",
            "redis": self.redis_url,
            "workers": " ".join(f"ws://127.0.0.1:{p}/ws" for p in self.worker_ports),
            "haproxy.cfg": str(self.config_path),
        }

    def start(self) -> None:
        try:
            self._start_redis()
            self._start_workers()
            self._start_haproxy()
        except BaseException:
            self.stop()
            raise

    def _spawn(self, command: list[str], log_name: str) -> subprocess.Popen[bytes]:
        log = open(Path(self.folder.name) / log_name, "wb")  # noqa: SIM115 - child owns it
        try:
            return subprocess.Popen(
                command, stdout=log, stderr=subprocess.STDOUT, preexec_fn=_die_with_parent
            )
        finally:
            log.close()

    def _start_redis(self) -> None:
        spec = self.spec
        if spec.redis_url:
            self.redis_url = spec.redis_url
            return
        program = shutil.which("redis-server")
        if program is None:
            raise ClusterError(
                "redis-server is not installed: apt-get install redis-server "
                "(or pass --redis URL of an existing one)"
            )
        port = free_port()
        data = spec.data_dir or self.folder.name
        Path(data).mkdir(parents=True, exist_ok=True)
        # The thesis ran Redis without persistence (section 2.4.5); --redis-aof keeps
        # durable subjects across a Redis restart.
        persistence = ["--appendonly", "yes", "--appendfsync", "everysec"]
        if not spec.redis_aof:
            persistence = ["--appendonly", "no"]
        command = [program, "--port", str(port), "--bind", "127.0.0.1", "--save", ""]
        command += [*persistence, "--dir", data]
        self.redis = self._spawn(command, "redis.log")
        wait_port("127.0.0.1", port, self.redis, "redis-server")
        self.redis_url = f"redis://127.0.0.1:{port}/0"

    def _start_workers(self) -> None:
        spec = self.spec
        for i in range(spec.workers):
            port = free_port()
            command = [sys.executable, "-m", "earlgate", "hub", "--host", "127.0.0.1"]
            command += ["--port", str(port), "--broker", self.redis_url, "--log-level", "WARNING"]
            command += ["--retention", str(spec.retention)]
            for pattern in spec.durable:
                command += ["--durable", pattern]
            if spec.uvloop:
                command.append("--uvloop")
            self.workers.append(self._spawn(command, f"hub{i + 1}.log"))
            self.worker_ports.append(port)
        for i, (process, port) in enumerate(zip(self.workers, self.worker_ports, strict=True)):
            wait_port("127.0.0.1", port, process, f"hub worker {i + 1}")

    def _start_haproxy(self) -> None:
        spec = self.spec
        program = shutil.which("haproxy")
        if program is None:
            raise ClusterError("haproxy is not installed: apt-get install haproxy")
        self.stats_port = spec.stats_port or free_port()
        settings = HaproxySettings(
            servers=[("127.0.0.1", port) for port in self.worker_ports],
            port=spec.port,
            bind=spec.host,
            balance=spec.balance,
            stats_port=self.stats_port,
            check_interval_ms=spec.check_interval_ms,
            maxconn=fitting_maxconn(spec.maxconn),
        )
        self.config_path.write_text(render(settings))
        check = subprocess.run(
            [program, "-c", "-q", "-f", str(self.config_path)], capture_output=True, text=True
        )
        if check.returncode != 0:
            raise ClusterError(f"haproxy refused the generated config: {check.stderr.strip()}")
        # -db: stay in the foreground, so that this process is HAProxy itself.
        self.haproxy = self._spawn([program, "-db", "-f", str(self.config_path)], "haproxy.log")
        connect_host = "127.0.0.1" if spec.host in ("0.0.0.0", "*", "") else spec.host
        try:
            wait_port(connect_host, spec.port, self.haproxy, "haproxy")
        except ClusterError as exc:
            log = (Path(self.folder.name) / "haproxy.log").read_text(errors="replace")
            raise ClusterError(f"{exc}: {log.strip()[-500:]}") from None

    def children(self) -> list[subprocess.Popen[bytes]]:
        found = [self.haproxy, *self.workers, self.redis]
        return [p for p in found if p is not None]

    def dead(self) -> list[str]:
        """Names of the children that exited on their own."""
        names = {id(self.haproxy): "haproxy", id(self.redis): "redis-server"}
        for i, worker in enumerate(self.workers):
            names[id(worker)] = f"hub worker {i + 1}"
        return [names[id(p)] for p in self.children() if p.poll() is not None]

    def stop(self, grace: float = 10.0) -> None:
        """HAProxy first (no new clients), then the hubs (1001 to clients), then Redis."""
        for group in ([self.haproxy], self.workers, [self.redis]):
            stop_processes([p for p in group if p is not None], timeout=grace)
        self.folder.cleanup()
