"""The bridge's side of the session store: a CONNECT's take, saves, positions, letting go.

Part of :class:`~earlgate.mqtt.bridge.MqttBridge` (a base class of it): what
the bridge does with :mod:`~earlgate.mqtt.keeper` where the broker keeps
sessions for several hub processes (docs/mqtt.md, "Sessions"). A CONNECT
with clean start 0 for a client id this process does not hold waits for the
store's answer (the packets its client sends meanwhile wait too); a record
found and not expired is taken up (:meth:`MqttSession.restore`). A session
whose record changed is saved, its SUBACKs held until then; a new
subscription's positions are read once, then saved again.
"""

from __future__ import annotations

import asyncio
import functools
import logging
import time
from typing import TYPE_CHECKING

from earlgate.broker.base import Position
from earlgate.hub.core import Hub
from earlgate.mqtt import packets as p
from earlgate.mqtt.actions import Actions
from earlgate.mqtt.keeper import SessionKeeper
from earlgate.mqtt.marks import epoch_of
from earlgate.mqtt.record import BAD, EXPIRED, HIT, SessionRecord, resume_decision
from earlgate.mqtt.session import MqttSession
from earlgate.mqtt.sessions import Accepted, Sessions

if TYPE_CHECKING:
    from earlgate.mqtt.bridge import Link

logger = logging.getLogger("earlgate.mqtt.bridge")


class StoreBridge:
    """See the module docstring."""

    hub: Hub
    sessions: Sessions
    keeper: SessionKeeper | None
    links: dict[MqttSession, Link]
    _waiting: dict[MqttSession, list[p.Packet]]
    _epoch: tuple[bytes, str | None]

    # provided by MqttBridge
    def perform(self, session: MqttSession, actions: Actions) -> None:
        raise NotImplementedError

    def received(self, session: MqttSession, packet: p.Packet) -> None:
        raise NotImplementedError

    def _attach(
        self,
        link: Link,
        session: MqttSession,
        outcome: Accepted,
        packet: p.Connect,
        record: SessionRecord | None,
    ) -> None:
        raise NotImplementedError

    def _took(
        self,
        session: MqttSession,
        outcome: Accepted,
        packet: p.Connect,
        task: asyncio.Task[bytes | None],
    ) -> None:
        """The store answered a CONNECT's take: attach, from the record if one was kept."""
        raw = None if task.cancelled() else task.result()
        waiting = self._waiting.pop(session, None)
        link = self.links.pop(session, None)
        keeper = self.keeper
        assert keeper is not None
        decision = resume_decision(raw, session.client_id, self.sessions.wall())
        if waiting is None or link is None:  # the client left before its CONNACK
            if decision.record is not None and raw is not None:
                keeper.put_back(session.client_id, raw, decision.record.ends - time.time())
            return
        if decision.outcome in (BAD, EXPIRED):
            keeper.metrics.discarded += 1
            logger.warning(
                "stored session of %r ignored: %s", session.client_id[:64], decision.reason
            )
        record = decision.record if decision.outcome == HIT else None
        if record is not None:
            keeper.metrics.resumed += 1
            outcome.present = True
        self._attach(link, session, outcome, packet, record)
        for early in waiting:
            self.received(session, early)

    def _keep(self, session: MqttSession) -> None:
        """The session's record changed: save it now, and again once its new
        subscriptions' positions are read."""
        session.keep_due = False
        keeper = self.keeper
        wanted, session.positions_wanted = session.positions_wanted, []
        if keeper is None or session.ended or session.released or session.expiry <= 0:
            if session.held:
                self.perform(session, session.release_held())
            return
        then = None
        if session.held:
            then = functools.partial(self._release_held, session)
        keeper.save(session, then)
        for topic_filter in wanted:
            task = asyncio.get_running_loop().create_task(self._read_positions(topic_filter))
            task.add_done_callback(functools.partial(self._positions_read, session, topic_filter))

    def _release_held(self, session: MqttSession) -> None:
        self.perform(session, session.release_held())

    async def _read_positions(self, topic_filter: str) -> dict[str, Position]:
        limit = self.hub.config.max_resume_subjects
        return await self.hub.broker.positions(topic_filter, limit)

    def _positions_read(
        self, session: MqttSession, topic_filter: str, task: asyncio.Task[dict[str, Position]]
    ) -> None:
        positions = None
        if task.cancelled() or task.exception() is not None:
            logger.warning("positions for %r unavailable: %s", topic_filter[:64], task)
        else:
            positions = task.result()
        session.positions_read(topic_filter, positions)
        self._keep(session)

    def _let_go(self, client_id: str, session: MqttSession | None = None) -> None:
        """Another hub took the session of ``client_id`` up (``session``, where
        its save was refused): it ends here, quietly."""
        if session is None:
            session = self.sessions.by_id.get(client_id)
        if session is None or session.ended or session.released:
            return
        assert self.keeper is not None
        self.keeper.metrics.taken_over += 1
        self._waiting.pop(session, None)
        self.perform(session, session.let_go())

    def epoch_of(self, raw: bytes) -> str | None:
        """The epoch of a durable frame (once per frame, however many sessions get it)."""
        cached = self._epoch
        if cached[0] is raw:
            return cached[1]
        epoch = epoch_of(raw)
        self._epoch = (raw, epoch)
        return epoch
