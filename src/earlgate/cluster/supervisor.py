"""When to start, restart, kill and stop supervised children: the policy, without processes.

Theory of operation. Each child (a hub worker, a redis-server, an haproxy) is
in one :class:`State`. The process layer feeds in what happened, with the time
from its own clock: :meth:`Supervisor.on_started`, :meth:`~Supervisor.on_heartbeat`,
:meth:`~Supervisor.on_exit`, :meth:`~Supervisor.stop`; and asks
:meth:`~Supervisor.tick` what to do now (a list of :data:`Action`), sleeping
until :meth:`~Supervisor.next_deadline` or the next event.

    backoff ──Start──> starting ──first heartbeat──> running
       ^                  │  (no heartbeat kept: running at once)
       │                  │ exits / no heartbeat in time ──Kill──> killing
       └──────────────────┴──────── exits ──────────────────────────┘

A child that exits on its own, or that missed its heartbeat and was killed,
is started again after a delay that doubles with each quick failure, from
``backoff_min`` up to ``backoff_max``: a child that dies at once, again and
again, costs a start every ``backoff_max`` seconds, not a spinning CPU. One
that ran for at least ``backoff_max`` seconds before it died counts as
healthy again and is restarted after ``backoff_min``.

On :meth:`~Supervisor.stop` the children are stopped group by group
(``stop_order``, lowest first: HAProxy before the hubs before Redis): each is
told to exit (:class:`Terminate`), killed (:class:`Kill`) if it is still
running ``grace`` seconds later, and never restarted. A second ``stop``
kills those still running at once.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

__all__ = [
    "HEARTBEAT_INTERVAL",
    "MIN_HEARTBEAT_TIMEOUT",
    "Action",
    "ChildSpec",
    "Kill",
    "Policy",
    "Reason",
    "Start",
    "State",
    "Supervisor",
    "Terminate",
]


# A worker beats every HEARTBEAT_INTERVAL seconds; a timeout must allow several to be late.
HEARTBEAT_INTERVAL = 0.25
MIN_HEARTBEAT_TIMEOUT = 1.0


class State(StrEnum):
    STARTING = "starting"  # started; its first heartbeat has not come yet
    RUNNING = "running"
    BACKOFF = "backoff"  # not running; started again when its delay is over
    KILLING = "killing"  # missed its heartbeat: killed, its exit not seen yet
    STOPPING = "stopping"  # told to exit; killed after the grace period
    STOPPED = "stopped"


class Reason(StrEnum):
    """Why a child was restarted (``earlgate_supervisor_restarts_total{reason=...}``)."""

    EXITED = "exited"  # it ended on its own: a crash, a kill from outside
    HEARTBEAT = "heartbeat"  # no heartbeat within the timeout: it was killed


@dataclass(frozen=True)
class Policy:
    """The supervisor's limits, in seconds (defaults as documented in docs/deploy.md)."""

    heartbeat_timeout: float = 10.0  # a running child silent this long is killed
    start_timeout: float = 30.0  # ... and a started one without a first heartbeat
    backoff_min: float = 0.1  # delay before the first restart
    backoff_max: float = 10.0  # the cap of the doubling delay
    grace: float = 10.0  # from Terminate to Kill when stopping

    def validate(self) -> None:
        """Raise ValueError naming the first limit out of range."""
        if not self.heartbeat_timeout >= MIN_HEARTBEAT_TIMEOUT:
            raise ValueError(f"heartbeat timeout must be at least {MIN_HEARTBEAT_TIMEOUT:g} s")
        if not self.start_timeout > 0:
            raise ValueError("start timeout must be positive")
        if not 0 < self.backoff_min <= self.backoff_max:
            raise ValueError("restart backoff needs 0 < min <= max")
        if not self.grace >= 0:
            raise ValueError("grace must not be negative")

    def delay(self, failures: int) -> float:
        """Seconds before restarting a child after its ``failures``-th quick failure in a row."""
        return min(self.backoff_min * 2.0 ** max(failures - 1, 0), self.backoff_max)


@dataclass(frozen=True)
class ChildSpec:
    name: str
    heartbeat: bool = False  # liveness by heartbeat, or by process exit only
    stop_order: int = 0  # stopped after every child with a lower one


@dataclass(frozen=True)
class Start:
    name: str


@dataclass(frozen=True)
class Terminate:
    """Ask the child to exit (SIGTERM): it drains its clients first."""

    name: str


@dataclass(frozen=True)
class Kill:
    """End the child now (SIGKILL); ``why`` is for the log."""

    name: str
    why: str


Action = Start | Terminate | Kill


@dataclass
class _Child:
    spec: ChildSpec
    state: State = State.BACKOFF
    due: float | None = None  # when this state's timer fires
    pid: int | None = None
    started_at: float = 0.0
    last_beat: float | None = None
    failures: int = 0  # quick failures in a row
    restarts: int = 0
    last_exit: int | None = None  # exit status: negative = killed by that signal
    reason: Reason | None = None  # why the next start is a restart
    ever_started: bool = False


class Supervisor:
    """The state of every supervised child; see the module docstring."""

    def __init__(self, children: Sequence[ChildSpec], policy: Policy, now: float) -> None:
        policy.validate()
        names = [spec.name for spec in children]
        if len(set(names)) != len(names):
            raise ValueError(f"child names must be unique: {names}")
        self.policy = policy
        # Every child starts in backoff with its delay over: the first tick starts it,
        # unless the process layer started it already (on_started).
        self._children = {spec.name: _Child(spec, due=now) for spec in children}
        self.restarts = {reason: 0 for reason in Reason}
        self.stopping = False
        self.changes = 0  # bumped on every state change, to know when to publish one

    # -- events -----------------------------------------------------------

    def on_started(self, name: str, pid: int | None, now: float) -> None:
        """The process layer started ``name`` (``pid`` None: it could not)."""
        child = self._children[name]
        child.pid = pid
        child.started_at = now
        child.last_beat = None
        child.ever_started = True
        if child.spec.heartbeat:
            self._enter(child, State.STARTING, now + self.policy.start_timeout)
        else:
            self._enter(child, State.RUNNING, None)

    def on_heartbeat(self, name: str, now: float) -> None:
        child = self._children[name]
        if child.state in (State.STARTING, State.RUNNING):
            child.last_beat = now
            if child.state is State.STARTING:
                self._enter(child, State.RUNNING, None)
            child.due = now + self.policy.heartbeat_timeout

    def on_exit(self, name: str, status: int | None, now: float) -> None:
        """``name`` exited with ``status`` (None: unknown, or it never started)."""
        child = self._children[name]
        if child.state in (State.BACKOFF, State.STOPPED):
            return
        child.last_exit = status
        child.pid = None
        if self.stopping or child.state is State.STOPPING:
            self._enter(child, State.STOPPED, None)
            return
        child.reason = Reason.HEARTBEAT if child.state is State.KILLING else Reason.EXITED
        if now - child.started_at >= self.policy.backoff_max:
            child.failures = 0  # it ran long enough to count as healthy
        child.failures += 1
        self._enter(child, State.BACKOFF, now + self.policy.delay(child.failures))

    def stop(self, now: float) -> None:
        """Stop every child, group by group; a second call kills the rest at once."""
        if self.stopping:
            for child in self._children.values():
                if child.state is State.STOPPING and child.due is not None:
                    child.due = now
        self.stopping = True

    # -- decisions --------------------------------------------------------

    def tick(self, now: float) -> list[Action]:
        """What to do at ``now``: call after every event and when a deadline passes."""
        actions: list[Action] = []
        if self.stopping:
            self._advance_stop(now, actions)
        for child in self._children.values():
            if child.due is None or now < child.due:
                continue
            name = child.spec.name
            if child.state is State.BACKOFF and not self.stopping:
                if child.ever_started and child.reason is not None:
                    self.restarts[child.reason] += 1
                    child.restarts += 1
                self._enter(child, State.STARTING, None)  # on_started follows
                actions.append(Start(name))
            elif child.state in (State.STARTING, State.RUNNING):
                waited = now - (child.last_beat or child.started_at)
                actions.append(Kill(name, f"no heartbeat for {waited:.1f} s"))
                self._enter(child, State.KILLING, None)
            elif child.state is State.STOPPING:
                grace = self.policy.grace
                actions.append(Kill(name, f"still running {grace:g} s after it was told to stop"))
                child.due = None
        return actions

    def _advance_stop(self, now: float, actions: list[Action]) -> None:
        while True:
            live = [c for c in self._children.values() if c.state is not State.STOPPED]
            if not live:
                return
            order = min(c.spec.stop_order for c in live)
            group = [c for c in live if c.spec.stop_order == order]
            for child in group:
                if child.state is State.BACKOFF:
                    self._enter(child, State.STOPPED, None)
                elif child.state in (State.STARTING, State.RUNNING):
                    actions.append(Terminate(child.spec.name))
                    self._enter(child, State.STOPPING, now + self.policy.grace)
                elif child.state is State.KILLING:
                    self._enter(child, State.STOPPING, None)  # killed already
            if any(c.state is not State.STOPPED for c in group):
                return

    def next_deadline(self) -> float | None:
        """The earliest time :meth:`tick` has something to do without a new event."""
        dues = [c.due for c in self._children.values() if c.due is not None]
        return min(dues) if dues else None

    @property
    def done(self) -> bool:
        """Stopping, and every child has exited."""
        return self.stopping and all(c.state is State.STOPPED for c in self._children.values())

    def _enter(self, child: _Child, state: State, due: float | None) -> None:
        child.state = state
        child.due = due
        self.changes += 1

    # -- introspection ----------------------------------------------------

    def state(self, name: str) -> State:
        return self._children[name].state

    def pid(self, name: str) -> int | None:
        return self._children[name].pid

    def due(self, name: str) -> float | None:
        """When ``name``'s timer fires: its restart, while in backoff."""
        return self._children[name].due

    def names(self) -> list[str]:
        return list(self._children)

    def statistics(self, now: float) -> dict[str, Any]:
        """Every child's state, and the restarts by reason: what ``/healthz`` shows."""
        workers = []
        for child in self._children.values():
            running = child.state in (State.STARTING, State.RUNNING)
            beat = child.last_beat if running else None
            workers.append(
                {
                    "name": child.spec.name,
                    "state": child.state.value,
                    "pid": child.pid,
                    "restarts": child.restarts,
                    "uptime": round(now - child.started_at, 3) if running else None,
                    "heartbeat_age": None if beat is None else round(now - beat, 3),
                    "last_exit": child.last_exit,
                    "restart_in": (
                        round(max(child.due - now, 0.0), 3)
                        if child.state is State.BACKOFF and child.due is not None
                        else None
                    ),
                }
            )
        states = {state.value: 0 for state in State}
        for child in self._children.values():
            states[child.state.value] += 1
        return {
            "workers": workers,
            "states": states,
            "restarts": {reason.value: n for reason, n in self.restarts.items()},
            "stopping": self.stopping,
        }
