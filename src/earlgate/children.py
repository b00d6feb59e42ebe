"""Child processes the benches, the cluster runner and the tests start and stop.

Each server is started with its output on a pipe, is ready when it prints a
known line, must have that pipe read for as long as it runs (a full pipe
blocks it), may be pinned to CPUs, and is stopped politely (SIGTERM), then
firmly (SIGKILL) if it does not exit in time. The same steps everywhere, here.
"""

from __future__ import annotations

import ctypes
import os
import re
import signal
import socket
import subprocess
import threading
import time
from collections.abc import Callable, Iterable

import psutil

__all__ = [
    "cpu_seconds",
    "die_with_parent",
    "drain_in_background",
    "pin",
    "stop_processes",
    "wait_for_line",
]

_PR_SET_PDEATHSIG = 1


def die_with_parent() -> None:  # pragma: no cover - runs in the child
    """In a child: a session of its own (a Ctrl-C in the terminal reaches only the
    parent, which stops its children in order), and SIGTERM from the kernel should
    the parent die without stopping it (``PR_SET_PDEATHSIG``, Linux)."""
    os.setsid()
    try:
        libc = ctypes.CDLL("libc.so.6", use_errno=True)
        libc.prctl(_PR_SET_PDEATHSIG, signal.SIGTERM)
    except OSError:
        pass


def stop_processes(
    processes: Iterable[subprocess.Popen[bytes]],
    *,
    sig: int = signal.SIGTERM,
    timeout: float = 10.0,
) -> None:
    """Send ``sig`` to every one still running, then wait for each; SIGKILL stragglers."""
    running = [p for p in processes if p.poll() is None]
    for process in running:
        process.send_signal(sig)
    for process in running:
        try:
            process.wait(timeout)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def pin(pid: int, cpus: list[int] | None) -> None:
    """Pin process ``pid`` to ``cpus`` where the platform allows; None or []: leave it."""
    if cpus:
        try:
            psutil.Process(pid).cpu_affinity(cpus)
        except (psutil.Error, AttributeError, ValueError):
            pass


def cpu_seconds(process: psutil.Process | int) -> float:
    """User plus system CPU-seconds of ``process`` (a pid or a psutil handle).

    Raises:
        psutil.Error: it is gone, or not ours to look at.
    """
    handle = process if isinstance(process, psutil.Process) else psutil.Process(process)
    times = handle.cpu_times()
    return float(times.user + times.system)


def wait_for_line(
    process: subprocess.Popen[bytes], pattern: re.Pattern[bytes], timeout: float
) -> tuple[re.Match[bytes] | None, bytes]:
    """Read ``process``'s output until a line matches ``pattern``: the match and the
    output so far. No match (it exited or the time is up): the process is killed."""
    assert process.stdout is not None
    deadline = time.monotonic() + timeout
    seen = b""
    while time.monotonic() < deadline:
        line = process.stdout.readline()
        if not line:
            break
        seen += line
        match = pattern.search(line)
        if match:
            return match, seen
    if process.poll() is None:
        process.kill()
    process.wait()
    return None, seen


def drain_in_background(process: subprocess.Popen[bytes], sink: list[bytes]) -> threading.Thread:
    """Keep reading ``process``'s output into ``sink`` so that it never blocks on it."""

    def drain() -> None:
        assert process.stdout is not None
        for line in process.stdout:
            sink.append(line)

    thread = threading.Thread(target=drain, daemon=True)
    thread.start()
    return thread


def free_port(host: str = "127.0.0.1") -> int:
    """A TCP port the kernel just gave out on ``host``, for a child to listen on."""
    with socket.socket() as sock:
        sock.bind((host, 0))
        port: int = sock.getsockname()[1]
        return port


def wait_listening(
    port: int,
    exit_status: Callable[[], int | None],
    what: str,
    *,
    host: str = "127.0.0.1",
    timeout: float = 30.0,
) -> str | None:
    """Until something accepts TCP connections on ``host``:``port``.

    Returns None once it does; otherwise why not, in words: the child
    (``exit_status`` is its ``poll``) exited first, or ``timeout`` ran out.
    """
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        status = exit_status()
        if status is not None:
            return f"{what} exited with status {status}"
        try:
            with socket.create_connection((host, port), timeout=0.5):
                return None
        except OSError:
            time.sleep(0.02)
    return f"{what} did not listen on {host}:{port} within {timeout:g} s"
