"""CPU of a whole process tree: a browser is many processes, the gateway is all of them.

Chromium forwards a DataChannel message through its renderer (the page's
JavaScript), its network service and its browser process; the GPU and
utility processes run beside them. The gateway's CPU is their sum, as
:func:`tree_cpu_s` counts it from ``/proc`` (through psutil): every live
process of the tree, and what each has reaped of its children (a renderer
that exited is counted by the zygote that waited for it).
"""

from __future__ import annotations

import contextlib
import os

import psutil

__all__ = ["TreeNotFound", "find_marked_root", "marked_pids", "tree_cpu_s"]


class TreeNotFound(Exception):
    """No process under the given parent carries the marker; the message says where."""


def _own_and_reaped(process: psutil.Process) -> float:
    times = process.cpu_times()
    return float(times.user + times.system + times.children_user + times.children_system)


def tree_cpu_s(root: psutil.Process) -> float:
    """User plus system CPU-seconds of ``root`` and every descendant, live or reaped.

    Processes that exit between listing and reading are skipped (their parent
    counts them once it has reaped them).

    Raises:
        psutil.Error: ``root`` itself is gone, or not ours to look at.
    """
    total = _own_and_reaped(root)
    for child in root.children(recursive=True):
        with contextlib.suppress(psutil.NoSuchProcess, psutil.ZombieProcess):
            total += _own_and_reaped(child)
    return total


def marked_pids(marker: str, parent: int | None = None) -> frozenset[int]:
    """Pids of the descendants of ``parent`` (default: this process) marked ``marker``."""
    top = psutil.Process(os.getpid() if parent is None else parent)
    pids = set()
    for process in top.children(recursive=True):
        with contextlib.suppress(psutil.Error):
            if marker in process.cmdline():
                pids.add(process.pid)
    return frozenset(pids)


def find_marked_root(
    marker: str, parent: int | None = None, *, exclude: frozenset[int] = frozenset()
) -> psutil.Process:
    """The topmost descendant of ``parent`` (default: this process) with ``marker`` in
    its command line: e.g. the Chromium browser process launched with a flag of ours.
    ``exclude``: pids not to take (those of an earlier browser still going away).

    Raises:
        TreeNotFound: none carries it.
    """
    top = psutil.Process(os.getpid() if parent is None else parent)
    marked: list[psutil.Process] = []
    for process in top.children(recursive=True):
        with contextlib.suppress(psutil.Error):
            if process.pid not in exclude and marker in process.cmdline():
                marked.append(process)
    pids = {process.pid for process in marked}
    for process in marked:
        with contextlib.suppress(psutil.Error):
            if process.ppid() not in pids:
                return process
    raise TreeNotFound(f"no process under pid {top.pid} was started with {marker!r}")
