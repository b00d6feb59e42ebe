"""Kept MQTT sessions in the broker's store: the I/O half (saves, takes, drops, a timer).

The bridge (:mod:`~earlgate.mqtt.bridge`) asks; this module talks to the
broker (:mod:`~earlgate.broker.sessionstore`) and never blocks the caller:
each request is a task, chained per client id so that a take, the saves
after it and a drop reach the store in the order they were asked for. A
save builds its record (:meth:`~earlgate.mqtt.session.MqttSession.record`)
when its turn comes, so saves asked for meanwhile fold into one. When the
store refuses a save (another hub owns the session now) or announces that
another hub took a session this process holds, the bridge lets it go.

While a kept session is connected its replay positions are saved every
``mqtt_session_save_interval`` seconds when they moved (and at least every
half expiry, so the record outlives the connection); a hub killed meanwhile
loses at most that much position: the resuming hub replays from the older
one (QoS 1 duplicates, no loss). Nothing here runs per message.
"""

from __future__ import annotations

import asyncio
import logging
import secrets
import time
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass
from typing import Any, TypeVar

from earlgate.broker.base import Broker
from earlgate.hub.config import HubConfig
from earlgate.mqtt.record import encode
from earlgate.mqtt.session import MqttSession

logger = logging.getLogger(__name__)

T = TypeVar("T")

STALE_CHECK = 60.0  # seconds between checks for records to refresh, with no save interval


@dataclass
class StoreMetrics:
    """What ``/metrics`` shows of the store (``earlgate_mqtt_store_*``)."""

    saved: int = 0  # records written
    resumed: int = 0  # sessions taken up from a record another process saved
    taken_over: int = 0  # sessions this process let go: taken up by another hub
    discarded: int = 0  # records ignored: unreadable, another client's or expired
    failed: int = 0  # store requests that failed (broker unreachable)


class SessionKeeper:
    """The store requests of one hub process (see the module docstring).

    Args:
        broker: the broker holding the store.
        config: ``mqtt_session_save_interval`` and ``mqtt_session_expiry_max``.
        let_go: called with the client id of a session another hub owns now
            (and the session, when a save of it was refused).
        owner: this process in the store (a fresh token by default).
    """

    def __init__(
        self,
        broker: Broker,
        config: HubConfig,
        let_go: Callable[[str, MqttSession | None], None],
        owner: str | None = None,
        wall: Callable[[], float] = time.time,
    ) -> None:
        self.broker = broker
        self.owner = owner or secrets.token_hex(8)
        self.interval = config.mqtt_session_save_interval
        self.period = self.interval or STALE_CHECK  # of the timer
        self.longest = config.mqtt_session_expiry_max + self.period + 1.0
        self.metrics = StoreMetrics()
        self.stopping = False
        self.wall = wall
        self._let_go = let_go
        self._chains: dict[str, asyncio.Task[Any]] = {}
        self._saving: set[MqttSession] = set()  # a save asked for, not started yet
        self._then: dict[MqttSession, list[Callable[[], None]]] = {}  # ... and what waits for it
        self._saved_at: dict[MqttSession, float] = {}
        self._timer: asyncio.TimerHandle | None = None
        broker.watch_sessions(self._taken)

    # -- requests ---------------------------------------------------------------

    def take(self, client_id: str) -> asyncio.Task[bytes | None]:
        """Take the record of ``client_id`` (None: none), owning the session from now."""

        async def take() -> bytes | None:
            return await self.broker.take_session(client_id, self.owner, self.longest)

        return self._chain(client_id, take, None)

    def save(self, session: MqttSession, then: Callable[[], None] | None = None) -> None:
        """Save ``session``'s record soon (folded with other saves asked meanwhile);
        ``then`` is called once it is saved (or could not be)."""
        if then is not None:
            self._then.setdefault(session, []).append(then)
        if session in self._saving:
            return
        self._saving.add(session)

        async def save() -> None:
            self._saving.discard(session)
            callbacks = self._then.pop(session, [])
            try:
                if session.ended or session.released or session.expiry <= 0:
                    return
                record = session.record(self.period)
                ttl = min(max(record.ends - self.wall(), 0.001), self.longest)
                self._saved_at[session] = time.monotonic()
                session.keep_due = False
                raw = encode(record)
                if await self.broker.save_session(session.client_id, raw, ttl, self.owner):
                    self.metrics.saved += 1
                elif not session.ended:
                    self._let_go(session.client_id, session)
            finally:
                for callback in callbacks:
                    callback()

        self._chain(session.client_id, save, None)

    def put_back(self, client_id: str, raw: bytes, ttl: float) -> None:
        """A record taken for a client that left before its CONNACK: stored again."""

        async def put_back() -> None:
            await self.broker.save_session(client_id, raw, min(ttl, self.longest), self.owner)

        if ttl > 0:
            self._chain(client_id, put_back, None)

    def drop(self, session: MqttSession) -> None:
        """The session ended: delete its record (not while the hub stops: another
        hub may take the session up from what was saved last)."""
        self._saving.discard(session)
        self._saved_at.pop(session, None)
        if self.stopping or session.released:
            return

        async def drop() -> None:
            await self.broker.drop_session(session.client_id, self.owner)

        self._chain(session.client_id, drop, None)

    def _chain(
        self, client_id: str, work: Callable[[], Awaitable[T]], failed: T
    ) -> asyncio.Task[T]:
        before = self._chains.get(client_id)

        async def run() -> T:
            if before is not None:
                await asyncio.wait([before])
            try:
                return await work()
            except Exception as exc:  # the broker's errors: logged, the hub goes on
                self.metrics.failed += 1
                logger.warning("session store for %r: %s", client_id[:64], exc)
                return failed

        task = asyncio.get_running_loop().create_task(run())
        self._chains[client_id] = task
        task.add_done_callback(lambda done: self._chain_done(client_id, done))
        return task

    def _chain_done(self, client_id: str, task: asyncio.Task[Any]) -> None:
        if self._chains.get(client_id) is task:
            del self._chains[client_id]

    async def wait_idle(self) -> None:
        """Until every request asked for so far is done (tests, shutdown)."""
        while self._chains:
            await asyncio.wait(list(self._chains.values()))

    # -- notices and the timer ----------------------------------------------------

    def _taken(self, owner: str, client_id: str) -> None:
        if owner != self.owner and not self.stopping:
            self._let_go(client_id, None)

    def start(self, sessions: Callable[[], Iterable[MqttSession]]) -> None:
        """Save connected kept sessions' positions every ``interval`` when they
        moved (0: not), and every record at least every half expiry."""
        loop = asyncio.get_running_loop()

        def tick() -> None:
            now = time.monotonic()
            for session in sessions():
                if not session.connected or session.expiry <= 0 or session.released:
                    continue
                marks = session.marks
                stale = now - self._saved_at.get(session, now) >= session.expiry / 2
                moved = self.interval > 0 and marks is not None and marks.changed
                if moved or stale:
                    self.save(session)
            self._timer = loop.call_later(self.period, tick)

        self._timer = loop.call_later(self.period, tick)

    def stop(self) -> None:
        self.stopping = True
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
