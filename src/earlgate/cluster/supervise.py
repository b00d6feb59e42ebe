"""The process side of supervision: start children, read heartbeats, reap, signal, publish.

A plain loop on :mod:`selectors`, not asyncio, so that the supervisor may
``fork()`` hub workers from a process with no event loop and no threads.
It waits on the heartbeat pipes and on a wake-up pipe that SIGCHLD, SIGTERM
and SIGINT write to (``signal.set_wakeup_fd``), for at most as long as the
policy's next deadline; it feeds what happened to
:class:`earlgate.cluster.supervisor.Supervisor` and carries out the actions
it returns. Every change of state is published to the status file.
"""

from __future__ import annotations

import contextlib
import logging
import os
import selectors
import signal
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from types import FrameType
from typing import Protocol

from earlgate.cluster.status import write_status
from earlgate.cluster.supervisor import (
    ChildSpec,
    Kill,
    Policy,
    Start,
    State,
    Supervisor,
    Terminate,
)

__all__ = ["Child", "ForkedChild", "Launch", "ProcessSupervisor"]

logger = logging.getLogger(__name__)

PUBLISH_INTERVAL = 1.0  # seconds between status rewrites when nothing changed


class Child(Protocol):
    """What the loop needs of a started process (``subprocess.Popen`` is one)."""

    @property
    def pid(self) -> int: ...

    def poll(self) -> int | None: ...

    def send_signal(self, sig: int) -> None: ...


class ForkedChild:
    """A child made with ``os.fork()``: the :class:`Child` calls, on its pid."""

    def __init__(self, pid: int) -> None:
        self.pid = pid
        self.returncode: int | None = None

    def poll(self) -> int | None:
        if self.returncode is None:
            try:
                pid, status = os.waitpid(self.pid, os.WNOHANG)
            except ChildProcessError:  # reaped elsewhere: gone all the same, status unknown
                self.returncode = -1
                return self.returncode
            if pid == self.pid:
                self.returncode = os.waitstatus_to_exitcode(status)
        return self.returncode

    def send_signal(self, sig: int) -> None:
        if self.poll() is None:  # never signal a pid that may be someone else's by now
            with contextlib.suppress(ProcessLookupError):
                os.kill(self.pid, sig)


# Start the named child; the int is the write end of its heartbeat pipe (None: no heartbeat).
Launch = Callable[[str, int | None], Child]


class ProcessSupervisor:
    """Keeps ``specs`` running with ``launch`` until SIGTERM or SIGINT, then stops them."""

    def __init__(
        self,
        specs: Sequence[ChildSpec],
        policy: Policy,
        launch: Launch,
        *,
        status_path: Path | None = None,
        notice: Callable[[str], None] = logger.warning,
        on_ready: Callable[[], None] | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._clock = clock
        self.policy = Supervisor(specs, policy, clock())
        self._specs = {spec.name: spec for spec in specs}
        self._launch = launch
        self._status_path = status_path
        self._notice = notice
        self._on_ready = on_ready
        self.children: dict[str, Child] = {}
        self._beats: dict[int, str] = {}  # heartbeat read end → child name
        self._selector = selectors.DefaultSelector()
        self._wake_r, self._wake_w = os.pipe()
        for fd in (self._wake_r, self._wake_w):
            os.set_blocking(fd, False)
        self._selector.register(self._wake_r, selectors.EVENT_READ)
        self._previous: dict[int, object] = {}  # signal → the handler it had
        self._previous_wakeup: int | None = None
        self._published = (-1, 0.0)  # (policy changes, time) of the last status rewrite

    def own_fds(self) -> list[int]:
        """Descriptors a forked child must close: they are the supervisor's."""
        return [self._selector.fileno(), self._wake_r, self._wake_w, *self._beats]

    def install_signals(self) -> None:
        """Route SIGCHLD, SIGTERM and SIGINT to the loop (call before starting children)."""
        if self._previous:
            return

        def note(signum: int, frame: FrameType | None) -> None:
            pass  # the wake-up descriptor carries the signal number

        for sig in (signal.SIGCHLD, signal.SIGTERM, signal.SIGINT):
            self._previous[sig] = signal.signal(sig, note)
        self._previous_wakeup = signal.set_wakeup_fd(self._wake_w)

    def restore_signals(self) -> None:
        if self._previous_wakeup is not None:
            signal.set_wakeup_fd(self._previous_wakeup)
            self._previous_wakeup = None
        for sig, handler in self._previous.items():
            signal.signal(sig, handler)  # type: ignore[arg-type]
        self._previous.clear()

    # -- starting ---------------------------------------------------------

    def start_child(self, name: str) -> Child | None:
        """Start ``name`` now (the first start, or a restart the policy asked for)."""
        read_end: int | None = None
        write_end: int | None = None
        if self._specs[name].heartbeat:
            read_end, write_end = os.pipe()
            os.set_blocking(read_end, False)
            self._beats[read_end] = name  # listed in own_fds() for the child to close
        try:
            child = self._launch(name, write_end)
        except OSError as exc:
            self._notice(f"{name} could not be started: {exc}")
            if read_end is not None:
                del self._beats[read_end]
                os.close(read_end)
            now = self._clock()
            self.policy.on_started(name, None, now)
            self.policy.on_exit(name, None, now)
            return None
        finally:
            if write_end is not None:
                os.close(write_end)  # the child has its own copy
        self.children[name] = child
        if read_end is not None:
            self._selector.register(read_end, selectors.EVENT_READ)
        self.policy.on_started(name, child.pid, self._clock())
        return child

    # -- the loop ---------------------------------------------------------

    def run(self) -> int:
        """Supervise until stopped by a signal and every child is gone; 0 when they are."""
        self.install_signals()
        ready = self._on_ready is None
        try:
            while True:
                now = self._clock()
                self._reap(now)
                for action in self.policy.tick(now):
                    self._carry_out(action)
                # Published before "ready" is announced: whoever acts on it finds the
                # status file, showing every child running.
                self._publish(now)
                if not ready and all(
                    self.policy.state(n) is State.RUNNING for n in self.policy.names()
                ):
                    ready = True
                    assert self._on_ready is not None
                    self._on_ready()
                if self.policy.done:
                    return 0
                deadline = self.policy.next_deadline()
                timeout = PUBLISH_INTERVAL if deadline is None else deadline - now
                self._wait(min(max(timeout, 0.0), PUBLISH_INTERVAL))
        finally:
            self.close()

    def _wait(self, timeout: float) -> None:
        for key, _ in self._selector.select(timeout):
            fd = int(key.fd)
            if fd == self._wake_r:
                self._on_signals()
            else:
                self._on_beat(fd)

    def _on_signals(self) -> None:
        with contextlib.suppress(BlockingIOError):
            received = os.read(self._wake_r, 512)
            if signal.SIGTERM in received or signal.SIGINT in received:
                if not self.policy.stopping:
                    self._notice("stopping")
                self.policy.stop(self._clock())
            # SIGCHLD: the next turn reaps.

    def _on_beat(self, fd: int) -> None:
        name = self._beats[fd]
        try:
            data = os.read(fd, 4096)
        except BlockingIOError:
            return
        if data:
            self.policy.on_heartbeat(name, self._clock())
        else:  # its end closed: it is exiting; SIGCHLD follows
            self._forget_pipe(fd)

    def _forget_pipe(self, fd: int) -> None:
        self._selector.unregister(fd)
        os.close(fd)
        del self._beats[fd]

    def _reap(self, now: float) -> None:
        for name, child in list(self.children.items()):
            status = child.poll()
            if status is None:
                continue
            del self.children[name]
            for fd in [fd for fd, owner in self._beats.items() if owner == name]:
                self._forget_pipe(fd)
            before = self.policy.state(name)
            self.policy.on_exit(name, status, now)
            due = self.policy.due(name)
            if before is not State.STOPPING and due is not None:
                self._notice(
                    f"{name} (pid {child.pid}) exited with status {status}; "
                    f"restarting in {max(due - now, 0.0):.2g} s"
                )

    def _carry_out(self, action: Start | Terminate | Kill) -> None:
        if isinstance(action, Start):
            self.start_child(action.name)
            return
        child = self.children.get(action.name)
        if child is None:
            return
        if isinstance(action, Kill):
            self._notice(f"{action.name} (pid {child.pid}): {action.why}; killing it")
            child.send_signal(signal.SIGKILL)
        else:
            child.send_signal(signal.SIGTERM)

    # -- status -----------------------------------------------------------

    def statistics(self) -> dict[str, object]:
        stats = self.policy.statistics(self._clock())
        stats["supervisor_pid"] = os.getpid()
        stats["time"] = round(time.time(), 3)
        return stats

    def publish_status(self) -> None:
        """Write the status file now (a launcher about to announce its children calls it)."""
        self._published = (-1, 0.0)
        self._publish(self._clock())

    def _publish(self, now: float) -> None:
        changes, at = self._published
        if self._status_path is None:
            return
        if changes == self.policy.changes and now - at < PUBLISH_INTERVAL:
            return
        try:
            write_status(self._status_path, self.statistics())
        except OSError as exc:
            logger.warning("cannot write %s: %s", self._status_path, exc)
        self._published = (self.policy.changes, now)

    def close(self) -> None:
        """Give back the signal handlers and the descriptors (the children are not touched)."""
        self.restore_signals()
        if self._wake_r < 0:
            return
        for fd in list(self._beats):
            self._forget_pipe(fd)
        self._selector.close()
        for fd in (self._wake_r, self._wake_w):
            os.close(fd)
        self._wake_r = self._wake_w = -1

    def stop_now(self, grace: float = 10.0) -> None:
        """Stop whatever runs, in stop order, without the loop (when starting failed half-way):
        SIGTERM, then SIGKILL to one still running ``grace`` seconds later."""
        for order in sorted({spec.stop_order for spec in self._specs.values()}):
            names = [n for n, spec in self._specs.items() if spec.stop_order == order]
            group = [self.children.pop(n) for n in names if n in self.children]
            for child in group:
                child.send_signal(signal.SIGTERM)
            deadline = time.monotonic() + grace
            for child in group:
                if not _wait_exit(child, deadline):
                    child.send_signal(signal.SIGKILL)
                    _wait_exit(child, time.monotonic() + 5.0)


def _wait_exit(child: Child, deadline: float) -> bool:
    while child.poll() is None:
        if time.monotonic() >= deadline:
            return False
        time.sleep(0.02)
    return True
