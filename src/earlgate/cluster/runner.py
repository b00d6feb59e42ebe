"""``earlgate cluster up``: redis-server, N hub workers and HAProxy, kept running as one.

The thesis's case 2 (sections 2.4.4-2.4.5) on one machine: HAProxy in front,
hub workers behind it, joined through Redis. Every child is supervised
(:mod:`earlgate.cluster.supervise`, with the policy of
:mod:`earlgate.cluster.supervisor`): one that exits, or a hub whose event
loop stops beating, is started again with the same command after a backoff:
a hub on its port, redis-server on its port and data directory (so an
append-only file is read back), HAProxy with the same configuration on the
same port. Every child runs in its own process group (a Ctrl-C in the
terminal reaches only this supervisor, which stops them in order: HAProxy,
then the hubs, which close their clients with 1001, then Redis) and is asked
by the kernel to exit should the supervisor die without stopping them
(``PR_SET_PDEATHSIG``), so none is left behind.
"""

from __future__ import annotations

import logging
import os
import resource
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from earlgate.children import die_with_parent, free_port, wait_listening
from earlgate.cluster.haproxy import HaproxySettings, haproxy_duration, render
from earlgate.cluster.status import HEARTBEAT_ENV, STATUS_ENV
from earlgate.cluster.supervise import Child, ProcessSupervisor
from earlgate.cluster.supervisor import ChildSpec, Policy
from earlgate.cluster.tlspem import combined_pem, write_private

logger = logging.getLogger(__name__)

# Stop order: no new clients first, then the hubs drain, then their broker goes.
STOP_HAPROXY, STOP_HUBS, STOP_REDIS = 0, 1, 2


class ClusterError(Exception):
    """A program is missing or a process did not start; the message says which."""


def wait_port(host: str, port: int, process: Child, what: str) -> None:
    failure = wait_listening(port, process.poll, what, host=host)
    if failure is not None:
        raise ClusterError(failure)


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
    uvloop: bool = True
    check_interval_ms: int = 1000
    maxconn: int = 50_000
    mqtt_port: int | None = None  # HAProxy's MQTT port, to each hub's own; None = no MQTT
    # HAProxy's MQTT-over-TLS port: TLS ends there (tls_cert, tls_key), plain MQTT to the hubs
    mqtts_port: int | None = None
    tls_cert: str | None = None
    tls_key: str | None = None
    tls_handshake_timeout: float = 10.0  # a TLS handshake on mqtts_port, in HAProxy
    policy: Policy = field(default_factory=Policy)  # restarts, heartbeats, stop grace

    @property
    def mqtt(self) -> bool:
        """Whether the hubs get MQTT ports (HAProxy passes MQTT, or MQTT out of TLS, to them)."""
        return self.mqtt_port is not None or self.mqtts_port is not None


def fitting_maxconn(wanted: int) -> int:
    """HAProxy needs two descriptors per proxied connection: stay within the hard limit."""
    _, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard == resource.RLIM_INFINITY:
        return wanted
    return max(min(wanted, (hard - 1000) // 2), 100)


@dataclass
class Cluster:
    """The running processes: :meth:`start` them, :meth:`run` until a signal, or :meth:`stop`."""

    spec: ClusterSpec
    notice: Callable[[str], None] = logger.warning
    redis_url: str = ""
    worker_ports: list[int] = field(default_factory=list)
    worker_mqtt_ports: list[int] = field(default_factory=list)  # with spec.mqtt
    stats_port: int = 0
    commands: dict[str, list[str]] = field(default_factory=dict)  # a restart runs the same
    folder: tempfile.TemporaryDirectory[str] = field(
        default_factory=lambda: tempfile.TemporaryDirectory(prefix="earlgate-cluster-")
    )
    supervisor: ProcessSupervisor | None = None

    @property
    def config_path(self) -> Path:
        return Path(self.folder.name) / "haproxy.cfg"

    @property
    def pem_path(self) -> Path:
        """With an MQTTS port: HAProxy's certificate and key in one file (mode 0600)."""
        return Path(self.folder.name) / "haproxy.pem"

    @property
    def status_path(self) -> Path:
        return Path(self.folder.name) / "status.json"

    def log_path(self, name: str) -> Path:
        return Path(self.folder.name) / f"{name}.log"

    def endpoints(self) -> dict[str, str]:
        host = self.spec.host if self.spec.host not in ("0.0.0.0", "*", "") else "127.0.0.1"
        endpoints = {
            "websocket": f"ws://{host}:{self.spec.port}/ws",
            "http": f"http://{host}:{self.spec.port}/",
            "stats": f"http://127.0.0.1:{self.stats_port}/",
            "redis": self.redis_url,
            "workers": " ".join(f"ws://127.0.0.1:{p}/ws" for p in self.worker_ports),
        }
        if self.spec.mqtt_port is not None:
            endpoints["mqtt"] = f"mqtt://{host}:{self.spec.mqtt_port}"
        if self.spec.mqtts_port is not None:
            endpoints["mqtts"] = f"mqtts://{host}:{self.spec.mqtts_port}"
        if self.spec.mqtt:
            endpoints["mqtt-workers"] = " ".join(
                f"mqtt://127.0.0.1:{p}" for p in self.worker_mqtt_ports
            )
        endpoints["haproxy.cfg"] = str(self.config_path)  # the last line: all is up
        return endpoints

    def specs(self) -> list[ChildSpec]:
        specs = [] if self.spec.redis_url else [ChildSpec("redis-server", stop_order=STOP_REDIS)]
        for i in range(self.spec.workers):
            specs.append(ChildSpec(f"hub{i + 1}", heartbeat=True, stop_order=STOP_HUBS))
        return [*specs, ChildSpec("haproxy", stop_order=STOP_HAPROXY)]

    def start(self) -> ProcessSupervisor:
        """Start every child in order, each once the one before listens."""
        self.supervisor = ProcessSupervisor(
            self.specs(),
            self.spec.policy,
            self._launch,
            status_path=self.status_path,
            notice=self.notice,
        )
        # A SIGTERM or Ctrl-C from here on is the supervisor's: it stops everything in order
        # (once all is started).
        self.supervisor.install_signals()
        try:
            self._start_redis()
            self._start_workers()
            self._start_haproxy()
        except BaseException:
            self.stop()
            raise
        # Before the endpoints are announced: whoever reads them finds the status file.
        self.supervisor.publish_status()
        return self.supervisor

    def run(self) -> int:
        """Keep the children running until SIGTERM or SIGINT, then stop them in order."""
        assert self.supervisor is not None, "start() first"
        try:
            return self.supervisor.run()
        finally:
            self.folder.cleanup()

    def _launch(self, name: str, heartbeat: int | None) -> Child:
        env = dict(os.environ, **{STATUS_ENV: str(self.status_path)})
        if heartbeat is not None:
            env[HEARTBEAT_ENV] = str(heartbeat)
        # Appended to: the output of a child that died is still there after its restart.
        with open(self.log_path(name), "ab") as log:
            return subprocess.Popen(
                self.commands[name],
                stdout=log,
                stderr=subprocess.STDOUT,
                preexec_fn=die_with_parent,
                pass_fds=() if heartbeat is None else (heartbeat,),
                env=env,
            )

    def _spawn(self, name: str, command: list[str]) -> Child:
        assert self.supervisor is not None
        self.commands[name] = command
        child = self.supervisor.start_child(name)
        if child is None:
            raise ClusterError(f"{name} could not be started: {command[0]}")
        return child

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
        redis = self._spawn("redis-server", command)
        wait_port("127.0.0.1", port, redis, "redis-server")
        self.redis_url = f"redis://127.0.0.1:{port}/0"

    def _start_workers(self) -> None:
        spec = self.spec
        started = []
        for i in range(spec.workers):
            port = free_port()
            command = [sys.executable, "-m", "earlgate", "hub", "--host", "127.0.0.1"]
            command += ["--port", str(port), "--broker", self.redis_url, "--log-level", "WARNING"]
            command += ["--retention", str(spec.retention)]
            for pattern in spec.durable:
                command += ["--durable", pattern]
            command.append("--uvloop" if spec.uvloop else "--no-uvloop")
            if spec.mqtt:
                self.worker_mqtt_ports.append(free_port())
                command += ["--mqtt-port", str(self.worker_mqtt_ports[-1])]
            started.append(self._spawn(f"hub{i + 1}", command))
            self.worker_ports.append(port)
        for i, (process, port) in enumerate(zip(started, self.worker_ports, strict=True)):
            wait_port("127.0.0.1", port, process, f"hub worker {i + 1}")
        for i, port in enumerate(self.worker_mqtt_ports):
            wait_port("127.0.0.1", port, started[i], f"hub worker {i + 1}'s MQTT port")

    def _start_haproxy(self) -> None:
        spec = self.spec
        program = shutil.which("haproxy")
        if program is None:
            raise ClusterError("haproxy is not installed: apt-get install haproxy")
        self.stats_port = spec.stats_port or free_port()
        pem = None
        if spec.mqtts_port is not None:
            if spec.tls_cert is None or spec.tls_key is None:
                raise ClusterError("an MQTTS port needs a certificate and its key")
            try:
                write_private(self.pem_path, combined_pem(spec.tls_cert, spec.tls_key))
            except ValueError as exc:
                raise ClusterError(str(exc)) from None
            pem = str(self.pem_path)
        settings = HaproxySettings(
            servers=[("127.0.0.1", port) for port in self.worker_ports],
            port=spec.port,
            bind=spec.host,
            balance=spec.balance,
            stats_port=self.stats_port,
            check_interval_ms=spec.check_interval_ms,
            maxconn=fitting_maxconn(spec.maxconn),
            mqtt_port=spec.mqtt_port,
            mqtt_ports=self.worker_mqtt_ports,
            mqtts_port=spec.mqtts_port,
            mqtts_pem=pem,
            tls_handshake=haproxy_duration(spec.tls_handshake_timeout),
        )
        self.config_path.write_text(render(settings))
        check = subprocess.run(
            [program, "-c", "-q", "-f", str(self.config_path)], capture_output=True, text=True
        )
        if check.returncode != 0:
            raise ClusterError(f"haproxy refused the generated config: {check.stderr.strip()}")
        # -db: stay in the foreground, so that this process is HAProxy itself.
        haproxy = self._spawn("haproxy", [program, "-db", "-f", str(self.config_path)])
        connect_host = "127.0.0.1" if spec.host in ("0.0.0.0", "*", "") else spec.host
        try:
            wait_port(connect_host, spec.port, haproxy, "haproxy")
            if spec.mqtt_port is not None:
                wait_port(connect_host, spec.mqtt_port, haproxy, "haproxy's MQTT port")
            if spec.mqtts_port is not None:
                wait_port(connect_host, spec.mqtts_port, haproxy, "haproxy's MQTTS port")
        except ClusterError as exc:
            log = self.log_path("haproxy").read_text(errors="replace")
            raise ClusterError(f"{exc}: {log.strip()[-500:]}") from None

    def stop(self, grace: float = 10.0) -> None:
        """Without the loop: HAProxy first (no new clients), then the hubs (1001 to
        clients), then Redis."""
        if self.supervisor is not None:
            self.supervisor.stop_now(grace)
            self.supervisor.close()
        self.folder.cleanup()
