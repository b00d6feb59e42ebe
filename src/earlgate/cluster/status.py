"""What a supervised worker shares with its supervisor: heartbeats up, a status file down.

Liveness: a supervised worker's event loop writes one byte to a pipe every
:data:`HEARTBEAT_INTERVAL` seconds (the pipe's write end is descriptor
``$EARLGATE_HEARTBEAT_FD``). A worker whose loop is stuck, or stopped, sends
nothing, and the supervisor kills and replaces it: exiting is not the only
way to fail.

Visibility: any worker may answer ``/healthz`` or ``/metrics`` (the kernel
picks one per connection), so the supervisor rewrites its view of every
worker into a small JSON file (atomically: a reader sees the old or the new
file, never half of one), whose path the workers get as
``$EARLGATE_SUPERVISOR_STATUS``, and a worker reads it on each such request.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import orjson
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from earlgate.cluster.supervisor import HEARTBEAT_INTERVAL, Reason, State
from earlgate.metrics.exposition import labelled_counter

__all__ = [
    "HEARTBEAT_ENV",
    "HEARTBEAT_INTERVAL",
    "STATUS_ENV",
    "Heartbeat",
    "SupervisorCollector",
    "read_status",
    "start_heartbeat",
    "supervision",
    "write_status",
]

HEARTBEAT_ENV = "EARLGATE_HEARTBEAT_FD"
STATUS_ENV = "EARLGATE_SUPERVISOR_STATUS"


def write_status(path: Path, status: Mapping[str, Any]) -> None:
    """Replace ``path`` with ``status`` as JSON in one step (write aside, then rename)."""
    aside = path.with_name(path.name + ".new")
    aside.write_bytes(orjson.dumps(status))
    os.replace(aside, path)


def read_status(path: str) -> dict[str, Any]:
    """The supervisor's last published view, or ``{"error": ...}`` saying why there is none."""
    try:
        value = orjson.loads(Path(path).read_bytes())
    except OSError as exc:
        return {"error": f"supervisor status {path}: {exc.strerror or exc}"}
    except orjson.JSONDecodeError:
        return {"error": f"supervisor status {path}: not JSON"}
    if not isinstance(value, dict):
        return {"error": f"supervisor status {path}: not a JSON object"}
    return value


def supervision(path: str) -> dict[str, Any]:
    """The ``/healthz`` fields of a supervised worker: who answers, and every worker's state."""
    return {"pid": os.getpid(), "supervisor": read_status(path)}


class SupervisorCollector(Collector):
    """``earlgate_supervisor_*`` on ``/metrics``, read from the status file at scrape time."""

    def __init__(self, path: str) -> None:
        self._path = path

    def collect(self) -> Iterator[Metric]:
        status = read_status(self._path)
        restarts = status.get("restarts", {})
        yield labelled_counter(
            "earlgate_supervisor_restarts",
            "Supervised processes started again, by why they ended",
            "reason",
            {reason.value: _count(restarts, reason.value) for reason in Reason},
        )
        states = status.get("states", {})
        family = GaugeMetricFamily(
            "earlgate_supervisor_workers", "Supervised processes, by state", labels=["state"]
        )
        for state in State:
            family.add_metric([state.value], _count(states, state.value))
        yield family
        yield GaugeMetricFamily(
            "earlgate_supervisor_status_readable",
            "1 when the supervisor's status file could be read",
            value=0.0 if "error" in status else 1.0,
        )


def _count(values: object, key: str) -> int:
    value = values.get(key, 0) if isinstance(values, dict) else 0
    return value if isinstance(value, int) else 0


class Heartbeat:
    """Writes a byte to ``fd`` every :data:`HEARTBEAT_INTERVAL` seconds from the running loop."""

    def __init__(self, fd: int, interval: float = HEARTBEAT_INTERVAL) -> None:
        os.set_blocking(fd, False)
        self._fd = fd
        self._interval = interval
        self._loop = asyncio.get_running_loop()
        self._timer: asyncio.TimerHandle | None = None
        self.sent = 0
        self._beat()

    def _beat(self) -> None:
        try:
            os.write(self._fd, b".")
            self.sent += 1
        except BlockingIOError:
            pass  # the supervisor is behind; the beats already queued say enough
        except OSError:
            self.close()  # the supervisor is gone; the kernel ends us (PR_SET_PDEATHSIG)
            return
        self._timer = self._loop.call_later(self._interval, self._beat)

    def close(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        if self._fd >= 0:
            with contextlib.suppress(OSError):
                os.close(self._fd)
            self._fd = -1


def start_heartbeat(environ: Mapping[str, str] = os.environ) -> Heartbeat | None:
    """Start beating on ``$EARLGATE_HEARTBEAT_FD`` when there is a supervisor to beat for.

    Raises:
        ValueError: the variable is set but names no open descriptor.
    """
    text = environ.get(HEARTBEAT_ENV)
    if not text:
        return None
    if not text.isdigit():
        raise ValueError(f"{HEARTBEAT_ENV}={text!r}: not a file descriptor number")
    try:
        return Heartbeat(int(text))
    except OSError as exc:
        raise ValueError(f"{HEARTBEAT_ENV}={text}: {exc.strerror or exc}") from None
