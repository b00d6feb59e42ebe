"""``earlgate hub --workers N``: N hub processes on one port, kept running by a supervisor.

Every worker listens on the same ``host:port`` with ``SO_REUSEPORT``, and on
the same MQTT ports (``--mqtt-port``, ``--mqtts-port``) where they are given:
the kernel spreads incoming connections over the workers' listening sockets,
so one machine needs no proxy in front, and the workers meet through the
broker (Redis or Redis Cluster) as hubs on several machines do. The
supervisor holds each port bound (not listening, so it is given no
connections) for as long as it runs, so that no other program takes it while
a worker restarts, so that a port 0 is resolved once for every worker, and
so that a port in use is a usage error before any worker starts.

Workers are forked from the supervisor, which runs no event loop and no
thread: each starts from the parsed configuration, makes its own broker and
runs the hub's usual start and graceful shutdown. Liveness, restarts and
status are :mod:`earlgate.cluster.supervise`'s.
"""

from __future__ import annotations

import contextlib
import dataclasses
import os
import signal
import socket
import ssl
import sys
import tempfile
import traceback
from collections.abc import Callable
from pathlib import Path
from typing import NoReturn

from earlgate.children import die_with_parent
from earlgate.cli import UsageError, unusable_tls
from earlgate.cluster.status import HEARTBEAT_ENV
from earlgate.cluster.supervise import Child, ForkedChild, ProcessSupervisor
from earlgate.cluster.supervisor import ChildSpec, Policy
from earlgate.hub.config import HubConfig
from earlgate.mqtt.server import listening_lines
from earlgate.server import server_tls_context

__all__ = ["DRAIN_MARGIN", "listening", "reserve_port", "run_workers"]

DRAIN_MARGIN = 2.0  # seconds past the hub's shutdown grace before a worker is killed


def reserve_port(host: str, port: int) -> socket.socket:
    """Bind ``host:port`` (0: any free port) with SO_REUSEPORT, without listening.

    Raises:
        OSError: the port is taken by a socket without SO_REUSEPORT (or another user's).
    """
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
        sock.bind((host, port))
    except OSError:
        sock.close()
        raise
    return sock


def listening(host: str, port: int) -> bool:
    """Something accepts connections on ``host:port`` already (0: any port, so no)."""
    if port == 0:
        return False
    wildcard = {"0.0.0.0": "127.0.0.1", "": "127.0.0.1", "::": "::1"}
    try:
        with socket.create_connection((wildcard.get(host, host), port), timeout=1.0):
            return True
    except OSError:
        return False


def supervisor_policy(config: HubConfig) -> Policy:
    return Policy(
        heartbeat_timeout=config.heartbeat_timeout,
        backoff_min=config.restart_backoff_min,
        backoff_max=config.restart_backoff_max,
        grace=config.shutdown_grace + DRAIN_MARGIN,
    )


def run_workers(config: HubConfig, serve: Callable[[HubConfig], int]) -> int:
    """Run ``config.workers`` copies of ``serve`` on one port until SIGTERM/SIGINT; 0 then."""
    try:  # what every worker would fail on is an error here, once
        server_tls_context(config.tls_cert, config.tls_key)
    except ssl.SSLError as exc:
        raise unusable_tls(config.tls_cert, config.tls_key, exc) from None
    except OSError as exc:
        raise UsageError(f"--tls-cert/--tls-key: {exc}") from None
    with contextlib.ExitStack() as held:
        ports = {
            name: held.enter_context(_reserve(config.host, wanted, flag))
            for name, wanted, flag in _ports(config)
        }
        folder = held.enter_context(tempfile.TemporaryDirectory(prefix="earlgate-hub-"))
        bound: dict[str, int] = {name: sock.getsockname()[1] for name, sock in ports.items()}
        status = Path(folder) / "status.json"
        worker = dataclasses.replace(
            config,
            port=bound["port"],
            mqtt_port=bound.get("mqtt_port"),
            mqtts_port=bound.get("mqtts_port"),
            workers=1,
            reuse_port=True,
            supervisor_status=str(status),
        )
        scheme = "wss" if config.tls_cert else "ws"

        def ready() -> None:
            print(
                f"earlgate hub listening on {scheme}://{config.host}:{worker.port}/ws "
                f"({config.workers} workers, supervisor pid {os.getpid()})",
                flush=True,
            )
            for line in listening_lines(config.host, worker.mqtt_port, worker.mqtts_port):
                print(line, flush=True)

        def launch(name: str, heartbeat: int | None) -> Child:
            assert heartbeat is not None
            closing = [*supervisor.own_fds(), *(sock.fileno() for sock in ports.values())]
            parent = os.getpid()
            pid = os.fork()
            if pid == 0:  # pragma: no cover - the worker
                _worker(serve, worker, heartbeat, closing, parent)
            return ForkedChild(pid)

        specs = [ChildSpec(f"worker{i}", heartbeat=True) for i in range(1, config.workers + 1)]
        supervisor = ProcessSupervisor(
            specs,
            supervisor_policy(config),
            launch,
            status_path=status,
            notice=lambda text: print(f"earlgate hub: {text}", file=sys.stderr, flush=True),
            on_ready=ready,
        )
        return supervisor.run()


def _ports(config: HubConfig) -> list[tuple[str, int, str]]:
    """The ports every worker shares: (HubConfig field, port, the flag that set it)."""
    ports = [("port", config.port, "--port")]
    if config.mqtt_port is not None:
        ports.append(("mqtt_port", config.mqtt_port, "--mqtt-port"))
    if config.mqtts_port is not None:
        ports.append(("mqtts_port", config.mqtts_port, "--mqtts-port"))
    return ports


def _reserve(host: str, port: int, flag: str) -> socket.socket:
    """:func:`reserve_port`, or a usage error naming the port (and its flag but for --port)."""
    where = f"{host}:{port}" + ("" if flag == "--port" else f" ({flag})")
    if listening(host, port):  # SO_REUSEPORT would share it without a word
        raise UsageError(f"cannot listen on {where}: another server listens there")
    try:
        return reserve_port(host, port)
    except OSError as exc:
        raise UsageError(f"cannot listen on {where}: {exc}") from None


def _worker(  # pragma: no cover - runs in the forked worker
    serve: Callable[[HubConfig], int],
    config: HubConfig,
    heartbeat: int,
    closing: list[int],
    parent: int,
) -> NoReturn:
    """The forked worker: undo the supervisor's set-up, serve, and never return into it."""
    code = 1
    try:
        die_with_parent()
        if os.getppid() != parent:  # the supervisor died before PR_SET_PDEATHSIG was set
            os._exit(1)
        signal.set_wakeup_fd(-1)
        signal.signal(signal.SIGCHLD, signal.SIG_DFL)
        signal.signal(signal.SIGTERM, signal.SIG_DFL)
        signal.signal(signal.SIGINT, signal.default_int_handler)
        for fd in closing:
            with contextlib.suppress(OSError):
                os.close(fd)
        os.environ[HEARTBEAT_ENV] = str(heartbeat)
        code = serve(config)
    except UsageError as exc:
        print(f"earlgate hub worker {os.getpid()}: error: {exc}", file=sys.stderr)
        code = 2
    except KeyboardInterrupt:
        code = 130
    except BaseException:
        traceback.print_exc()
    finally:
        with contextlib.suppress(Exception):
            sys.stdout.flush()
            sys.stderr.flush()
        os._exit(code)
