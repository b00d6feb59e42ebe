"""The one handle on a server the tests and the benches start as a child process.

A :class:`Child` is started by :func:`spawn` in a session of its own (a
Ctrl-C reaches only its parent, which stops it), pinned to the cores it is
given, its output either discarded or on a pipe that a thread keeps reading
once the caller has seen its ready line (a full pipe would block it). Its CPU
seconds and RSS are read from ``/proc`` (psutil); :meth:`Child.stop` sends
SIGTERM, then SIGKILL if it does not exit in time.
"""

from __future__ import annotations

import os
import subprocess
import threading

import psutil

from earlgate.children import cpu_seconds, drain_in_background, pin, stop_processes

__all__ = ["Child", "spawn"]


class Child:
    """A started server process; ``label`` names its role in reports (``hub``, ``redis-server``)."""

    def __init__(self, label: str, process: subprocess.Popen[bytes]) -> None:
        self.label = label
        self.process = process
        self.output: list[bytes] = []
        self._drain: threading.Thread | None = None
        self._ps: psutil.Process | None = None

    @property
    def ps(self) -> psutil.Process:
        if self._ps is None:
            self._ps = psutil.Process(self.process.pid)
        return self._ps

    def cpu_seconds(self) -> float:
        """User plus system CPU-seconds so far (raises ``psutil.Error`` once it is gone)."""
        return cpu_seconds(self.ps)

    def rss(self) -> int:
        return int(self.ps.memory_info().rss)

    def keep_reading(self) -> None:
        """Read the rest of its piped output into :attr:`output`, in a thread."""
        if self.process.stdout is not None and self._drain is None:
            self._drain = drain_in_background(self.process, self.output)

    def log(self) -> str:
        """The output read so far, as text."""
        return b"".join(self.output).decode(errors="replace")

    def stop(self, timeout: float = 10.0) -> int:
        """SIGTERM, SIGKILL after ``timeout`` seconds; its exit status."""
        stop_processes([self.process], timeout=timeout)
        if self._drain is not None:
            self._drain.join(5)
        if self.process.stdout is not None:
            self.process.stdout.close()
        return self.process.returncode


def spawn(
    label: str,
    command: list[str],
    cpus: list[int] | None = None,
    *,
    piped: bool = False,
    new_session: bool = True,
    unbuffered: bool = False,
) -> Child:
    """Start ``command`` pinned to ``cpus`` (None: anywhere).

    ``piped``: stdout and stderr together on a pipe (read it, e.g. with
    :func:`~earlgate.children.wait_for_line`, then :meth:`Child.keep_reading`);
    otherwise discarded. ``unbuffered``: a Python child writes each line at once.
    """
    out = subprocess.PIPE if piped else subprocess.DEVNULL
    err = subprocess.STDOUT if piped else subprocess.DEVNULL
    env = dict(os.environ, PYTHONUNBUFFERED="1") if unbuffered else None
    process = subprocess.Popen(
        command, stdout=out, stderr=err, env=env, start_new_session=new_session
    )
    pin(process.pid, cpus)
    return Child(label, process)
